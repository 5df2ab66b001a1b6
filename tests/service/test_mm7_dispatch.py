"""Dispatch of a small MMS edition to a carrier in MM7 mode (SQLite and PostgreSQL): the MMS
subscribers' deliveries go to the simulated MMSC as SubmitReqs (the SMS ones over the link),
the MessageIDs are stored with the deliveries, the MMSC's delivery reports come back to the
gateway's MM7 endpoint and give each delivery its final state; throttled submits (4006)
are retried."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest_twisted
from sqlalchemy import Engine, func, select, text, update
from twisted.internet import defer, reactor, task

from carriers.mm7.client import Mm7Client, Mm7ClientSettings
from carriers.mm7.codec import MmStatus
from carriers.mm7.endpoint import endpoint_site
from carriers.mm7.http_guard import RequestGuard
from carriers.simulator.mmsc import MmscSettings, SimulatedMmsc
from gateway.db.dispatch_models import Delivery, DeliveryPart
from gateway.db.edition_models import EditionRender, EditionRenderSegment
from gateway.db.engine import make_session_factory
from gateway.db.models import Subscriber
from gateway.dispatch.mm7_sender import Mm7Sender, Mm7SenderSettings
from gateway.dispatch.runner import DispatchRunner, DispatchSettings
from gateway.editions.mms import MmsHeaders, MmsImage, MmsPage, encode_retrieve_conf
from gateway.mm7_service import endpoint_handlers
from tests.service.dispatch_fixtures import T0, FakeLink, seed_edition, seed_subscribers

MMS_NUMBERS = 8
EXPECTED = {MmStatus.RETRIEVED: "delivered", MmStatus.EXPIRED: "expired",
            MmStatus.REJECTED: "rejected", MmStatus.INDETERMINATE: "unknown"}
"""What each report must leave the delivery as (README: MMS over MM7)."""
SMS_NUMBERS = 3
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9"
PAGES = [MmsPage(text="山东手机报 早报"),
         MmsPage(text="教育热点：新学期", image=MmsImage(data=JPEG, content_type="image/jpeg"))]


def seed(engine: Engine) -> tuple[int, list[str], list[str]]:
    with make_session_factory(engine).begin() as session:
        edition_id = seed_edition(session, segments=2)
        pdu = encode_retrieve_conf(MmsHeaders(transaction_id="T1", date=T0, subject="早报"),
                                   PAGES)
        render = EditionRender(edition_id=edition_id, carrier="china_mobile", format="mms",
                               mms_pdu=pdu, mms_size=len(pdu), mms_pages=[],
                               content_location="http://x/mms/1/china_mobile", fitting={},
                               rendered_at=T0)
        session.add(render)
        session.flush()
        session.add(EditionRenderSegment(render_id=render.id, number=1,
                                         short_message=b"\x06\x05\x04\x0b\x84\x23\xf0push",
                                         coding="binary", udhi=True))
        mms = seed_subscribers(session, MMS_NUMBERS)
        sms = seed_subscribers(session, SMS_NUMBERS, start=100)
        session.execute(update(Subscriber).where(Subscriber.msisdn.in_(mms))
                        .values(message_format="mms"))
    return edition_id, mms, sms


@dataclass
class Mm7Rig:
    mmsc: SimulatedMmsc
    runner: DispatchRunner
    link: FakeLink


@pytest_twisted.async_yield_fixture
async def rig(database: Any) -> AsyncIterator[Mm7Rig]:
    link = FakeLink()
    settings = DispatchSettings(node="node-a", batch_size=50, chunk=8, max_ahead=8,
                                flush_interval=0.01, retry_initial=0.2, retry_max=0.5)
    senders: dict[str, Mm7Sender] = {}
    runner = DispatchRunner(database=database, links={"china_mobile": link},
                            settings=settings, clock=reactor, mms_senders=senders)
    guard = RequestGuard(name="MM7 endpoint", max_body_bytes=1_000_000,
                         accounts={"cm_mmsc": "mmsc-pass"},
                         allowed_addresses=frozenset({"127.0.0.1"}))
    handlers = endpoint_handlers(store_receipt=runner.store_receipt,
                                 handle_mo=lambda m: defer.succeed(None), clock=reactor)
    endpoint = reactor.listenTCP(0, endpoint_site("/mm7", {"china_mobile": None}, handlers,
                                                  guard), interface="127.0.0.1")
    mmsc = SimulatedMmsc(MmscSettings(
        carrier="china_mobile", accounts={"sdgw_cm": "vasp-pass"},
        gateway_url=f"http://127.0.0.1:{endpoint.getHost().port}/mm7/china_mobile",
        gateway_username="cm_mmsc", gateway_password="mmsc-pass", report_delay=0.05,
        report_mix={"Retrieved": 1, "Expired": 1, "Rejected": 1, "Indeterminate": 1}),
        reactor=reactor, host="127.0.0.1", port=0, rng=random.Random(7))
    mmsc.startService()
    client = Mm7Client(Mm7ClientSettings(
        url=f"http://127.0.0.1:{mmsc.port}/mm7", username="sdgw_cm", password="vasp-pass",
        timeout=5, rate=0, window=4), reactor=reactor)
    senders["china_mobile"] = Mm7Sender(Mm7SenderSettings(
        carrier="china_mobile", release="REL-6-MM7-1-4", vasp_id="901234", vas_id="SDSJB",
        service_code="SDSJB", sender_address="10658000", expiry=timedelta(hours=72)),
        client=client, database=database, clock=reactor)
    yield Mm7Rig(mmsc, runner, link)
    await client.close()
    await mmsc.stopService()
    await endpoint.stopListening()


async def until(condition: Any, timeout: float = 15.0, note: object = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"condition not reached in time ({note})"
        await task.deferLater(reactor, 0.05, lambda: None)


def deliveries(engine: Engine) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """msisdn → (delivery status, [(part message id, part status)])."""
    with make_session_factory(engine)() as session:
        rows = session.execute(select(Delivery.id, Delivery.msisdn, Delivery.status)).all()
        parts = session.execute(select(DeliveryPart.delivery_id, DeliveryPart.message_id,
                                       DeliveryPart.status)).all()
    by_delivery: dict[int, list[tuple[str, str]]] = {}
    for delivery_id, message_id, status in parts:
        by_delivery.setdefault(delivery_id, []).append((message_id, status))
    return {msisdn: (status, by_delivery.get(id_, [])) for id_, msisdn, status in rows}


@pytest_twisted.ensureDeferred
async def test_mms_edition_over_mm7_with_reports(engine: Engine, rig: Mm7Rig) -> None:
    edition_id, mms, sms = seed(engine)
    await rig.runner.dispatch(edition_id)
    # The SMS subscribers went over the link; the MMS ones only to the MMSC.
    assert sorted(m.destination for m in rig.link.sent) == sorted(sms)
    received = list(rig.mmsc.received)
    assert sorted(r.recipients[0] for r in received) == sorted(mms)
    assert {(r.sender, r.vasp_id, r.parts) for r in received} == {("10658000", "901234", 4)}
    await until(lambda: len(rig.mmsc.reported) == MMS_NUMBERS, note=rig.mmsc.counters)
    await until(lambda: all(deliveries(engine)[n][0] != "submitted" for n in mms))
    stored = deliveries(engine)
    reported = {recipient: (message_id, status)
                for message_id, recipient, status in rig.mmsc.reported}
    for number in mms:
        message_id, status = reported[number]
        expected = EXPECTED[status]
        assert stored[number] == (expected, [(f"mm7:{message_id}", expected)]), number
    assert len({status for _, status in reported.values()}) >= 3  # the mix was exercised
    for number in sms:
        assert stored[number][0] == "submitted"  # the fake link sends no receipts
    with engine.connect() as connection:  # an MM7 carrier makes no WAP Push notifications
        assert connection.scalar(
            select(func.count()).select_from(text("mms_notifications"))) == 0


@pytest_twisted.ensureDeferred
async def test_throttled_submits_are_retried(engine: Engine, rig: Mm7Rig) -> None:
    rig.mmsc.settings.tps = 3
    rig.mmsc.settings.report_mix = {"Retrieved": 1}
    edition_id, mms, _ = seed(engine)
    started = datetime.now(UTC)
    await rig.runner.dispatch(edition_id)
    assert rig.mmsc.counters["throttled"] > 0
    assert sorted(r.recipients[0] for r in rig.mmsc.received) == sorted(mms)
    await until(lambda: all(deliveries(engine)[n][0] == "delivered" for n in mms))
    assert datetime.now(UTC) - started < timedelta(seconds=30)
