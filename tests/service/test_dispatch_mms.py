"""MMS subscribers in a dispatch (WAP Push mode): each gets a notification of its own, made
before it is sent and sent again unchanged, on SQLite and (in CI) PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_twisted
from sqlalchemy import Engine, select
from twisted.internet import reactor

from carriers.messages import OutboundMessage, SubmitOutcome, SubmitResult, TextCoding
from gateway.db.dispatch_models import Delivery
from gateway.db.engine import make_session_factory
from gateway.db.mms_models import MmsNotification
from gateway.db.times import as_utc
from gateway.dispatch.mms_notifications import MmsNotificationSettings
from gateway.dispatch.runner import DispatchRunner, DispatchSettings
from gateway.editions.mms_headers import decode_headers, with_transaction_id
from tests.service.dispatch_fixtures import (
    MMS_BASE_URL,
    FakeLink,
    seed_edition,
    seed_mms_render,
    seed_subscribers,
)

wap = pytest.importorskip("messaging.sms.wap", reason="python-messaging WAP push decoder")

EXPIRY = timedelta(hours=72)


def runner_for(database: Any, link: FakeLink) -> DispatchRunner:
    settings = DispatchSettings(node="node-a", batch_size=50, chunk=4, max_ahead=8,
                                flush_interval=0.01, retry_initial=0.05, retry_max=0.2,
                                mms=MmsNotificationSettings(base_url=MMS_BASE_URL,
                                                            expiry=EXPIRY))
    return DispatchRunner(database=database, links={"china_mobile": link}, settings=settings,
                          clock=reactor)


def push_of(message: OutboundMessage) -> bytes:
    """The WSP push the parts carry, joined as the handset does (UDH off each part)."""
    return b"".join(p.payload[1 + p.payload[0]:] for p in message.parts)


@pytest_twisted.ensureDeferred
async def test_every_mms_subscriber_gets_its_own_notification(engine: Engine, database: Any
                                                              ) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        edition_id = seed_edition(session, segments=2)
        pdu = seed_mms_render(session, edition_id)
        sms_numbers = seed_subscribers(session, 3)
        mms_numbers = seed_subscribers(session, 5, start=100, message_format="mms")
    link = FakeLink()
    started = datetime.now(UTC)
    await runner_for(database, link).dispatch(edition_id)
    finished = datetime.now(UTC)
    by_number = {m.destination: m for m in link.sent}
    assert sorted(by_number) == sorted(sms_numbers + mms_numbers)
    for number in sms_numbers:
        assert [p.coding for p in by_number[number].parts] == [TextCoding.UCS2] * 2

    with sessions() as session:
        rows = {row.msisdn: row for row in session.execute(
            select(Delivery.msisdn, Delivery.id, Delivery.status, Delivery.parts_total,
                   MmsNotification.token, MmsNotification.transaction_id,
                   MmsNotification.expires_at, MmsNotification.dispatch_id)
            .join(MmsNotification, MmsNotification.delivery_id == Delivery.id))}
    assert sorted(rows) == sorted(mms_numbers)  # SMS deliveries have no notification
    served_size = len(with_transaction_id(pdu, "x" * 24))
    seen_locations, seen_transactions = set(), set()
    for number in mms_numbers:
        message, row = by_number[number], rows[number]
        assert all(p.coding is TextCoding.BINARY and p.has_udh for p in message.parts)
        assert row.status == "submitted" and row.parts_total == len(message.parts)
        # Decoded by python-messaging, independently of our encoder.
        push = push_of(message)
        assert wap.is_a_wap_push_notification(push)
        headers = wap.extract_push_notification(push).headers
        assert headers["Message-Type"] == "m-notification-ind"
        assert headers["Transaction-Id"] == row.transaction_id
        assert headers["Content-Location"] == f"{MMS_BASE_URL}/mms/{row.token}"
        assert headers["Message-Size"] == served_size
        assert headers["Subject"] == "11月18日早报"
        expires_at = as_utc(row.expires_at)
        assert started + EXPIRY - timedelta(seconds=1) <= expires_at <= finished + EXPIRY
        # The expiry is absolute (a date, read by python-messaging as naive UTC): the moment
        # the content location stops answering.
        assert headers["Expiry"] == expires_at.replace(microsecond=0, tzinfo=None)
        notification = push[push.index(b"\x8c\x82"):]
        assert decode_headers(notification).transaction_id == row.transaction_id
        assert row.transaction_id.startswith(f"{row.id:012x}")
        seen_locations.add(row.token)
        seen_transactions.add(row.transaction_id)
    assert len(seen_locations) == len(seen_transactions) == len(mms_numbers)


@pytest_twisted.ensureDeferred
async def test_a_delivery_sent_again_sends_the_same_notification(engine: Engine,
                                                                 database: Any) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        edition_id = seed_edition(session, segments=1)
        seed_mms_render(session, edition_id)
        first, second = seed_subscribers(session, 2, message_format="mms")
    pushes: dict[str, list[bytes]] = {}

    def behaviour(message: OutboundMessage, attempt: int) -> list[SubmitResult] | None:
        pushes.setdefault(message.destination, []).append(push_of(message))
        if message.destination == first and attempt == 1:  # throttled once
            return [SubmitResult(outcome=SubmitOutcome.TRANSIENT, status=0x58)]
        if message.destination == second and attempt == 1:  # no response: uncertain
            return [SubmitResult(outcome=SubmitOutcome.UNANSWERED, reason="timeout")]
        return None

    runner = runner_for(database, FakeLink(behaviour))
    runner.settings = DispatchSettings(**{**{f: getattr(runner.settings, f) for f in (
        "node", "batch_size", "chunk", "max_ahead", "flush_interval", "retry_initial",
        "retry_max", "mms")}, "uncertain_wait": 0.2})
    await runner.dispatch(edition_id)
    for number in (first, second):
        assert len(pushes[number]) == 2
        assert pushes[number][0] == pushes[number][1]  # same transaction id and location
    with sessions() as session:
        assert len(session.scalars(select(MmsNotification.id)).all()) == 2
