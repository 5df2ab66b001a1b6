"""The whole gateway on config/native.toml (China Mobile's MMS over MM7), in-process on free
ports: a subscriber texts SD and Y as MMS through the simulated MMSC (the replies come back
by SMS over CMPP), chooses MMS, and the edition reaches the MMSC as a SubmitReq whose
delivery report comes back to the gateway's MM7 endpoint and is stored."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest_twisted
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from twisted.internet import reactor, task

from carriers.mm7.codec import MmStatus
from gateway.app import build_gateway
from gateway.articles import iter_article_files
from gateway.articles.ingest import ingest_file
from gateway.cli.demo import SAMPLE_ARTICLES, SAMPLE_DATE, demo_config
from gateway.config import load_config
from gateway.db.dispatch_models import Delivery, DeliveryPart
from gateway.db.engine import make_engine, upgrade
from gateway.db.models import InboundMessage, Subscriber
from gateway.editions.build import build_edition, edition_settings
from tests.conftest import REPO_ROOT

NUMBER = "13912345678"
EXPECTED = {MmStatus.RETRIEVED: "delivered", MmStatus.EXPIRED: "expired",
            MmStatus.REJECTED: "rejected", MmStatus.INDETERMINATE: "unknown"}


async def until(database: Any, predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await database.transaction(predicate):
        assert time.monotonic() < deadline, "not reached in time"
        await task.deferLater(reactor, 0.1, lambda: None)


@pytest_twisted.ensureDeferred
async def test_sd_as_mms_then_the_edition_over_mm7(tmp_path: Path) -> None:
    config = demo_config(load_config(REPO_ROOT / "config/native.toml"))
    config = dataclasses.replace(config, database=dataclasses.replace(
        config.database, url=f"sqlite:///{tmp_path / 'gw.db'}"))
    engine = make_engine(config.database_url)
    upgrade(engine)
    gateway = build_gateway(config, engine, reactor=reactor, schedule=False, quiet_hours=False,
                            with_console=False, environ={"SDGW_NODE": "mm7-test"})
    gateway.root.startService()
    try:
        for link in gateway.links.values():
            await link.when_bound()
        mmsc = gateway.mmscs["china_mobile"]
        ismg = gateway.simulators["china_mobile"]
        database = gateway.database
        for keyword, status in (("SD", "pending"), ("Y", "active")):
            answer = await mmsc.inject_mo(sender=NUMBER, recipient="10658000", text=keyword)
            assert answer == (200, 1000)
            await until(database, lambda s, status=status: s.scalar(
                select(Subscriber.status).where(Subscriber.msisdn == NUMBER)) == status)
        # The MOs were stored as MOs of China Mobile, and each got its SMS reply.
        def mos(session: Session) -> list[tuple[str, str]]:
            return [(m.carrier, m.text) for m in session.scalars(select(InboundMessage))]
        assert await database.transaction(mos) == [("china_mobile", "SD"),
                                                   ("china_mobile", "Y")]
        await task.deferLater(reactor, 0.5, lambda: None)
        assert len({r.message_id for r in ismg.received if r.destination == NUMBER}) >= 2

        await database.transaction(lambda s: s.execute(update(Subscriber).where(
            Subscriber.msisdn == NUMBER).values(message_format="mms")))

        def ingest(session: Session) -> None:
            for path in iter_article_files([SAMPLE_ARTICLES]):
                with session.begin_nested():
                    ingest_file(session, path, now=datetime.now(UTC))

        await database.transaction(ingest)
        built = await database.run(lambda: build_edition(
            database.sessions, edition_settings(config), newspaper_date=SAMPLE_DATE,
            slot="morning", now=datetime.now(UTC)))
        assert gateway.dispatch is not None
        await gateway.dispatch.runner.dispatch(built.edition_id)
        (received,) = list(mmsc.received)
        assert received.recipients == (NUMBER,) and received.parts >= 3
        await until(database, lambda s: s.scalar(select(Delivery.status)) != "submitted")
        (message_id, _, status), = list(mmsc.reported)

        def stored(session: Session) -> tuple[str, str | None]:
            return (session.scalar(select(Delivery.status)),
                    session.scalar(select(DeliveryPart.message_id)))

        assert await database.transaction(stored) == (EXPECTED[status],
                                                      f"mm7:{message_id}")
    finally:
        await gateway.root.stopService()
