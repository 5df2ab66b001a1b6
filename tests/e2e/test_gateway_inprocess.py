"""The whole gateway built by the composition root, in-process, against its simulators."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest_twisted
from sqlalchemy import func, select
from twisted.internet import reactor

from gateway.app import build_gateway
from gateway.config import load_config
from gateway.db.engine import make_engine, make_session_factory, upgrade
from gateway.db.models import InboundMessage, OutboundMessage, Subscriber, SubscriptionEvent
from tests.e2e.test_cli_run import write_config
from tests.e2e.test_link_against_simulator import wait_for


async def _started(tmp_path: Path) -> Any:
    config = load_config(write_config(tmp_path))
    engine = make_engine(config.database_url)
    upgrade(engine)
    gateway = build_gateway(config, engine, reactor=reactor)
    gateway.root.startService()
    for link in gateway.links.values():
        await link.when_bound()
    return gateway, make_session_factory(engine)


@pytest_twisted.ensureDeferred
async def test_failed_commit_is_redelivered_and_applied_once(
    tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("TEST_SDGW_PASSWORD", "pw-1234")
    gateway, sessions = await _started(tmp_path)
    try:
        database = gateway.database
        real = database.transaction
        failures = {"left": 1}

        def flaky(work: Any, *, urgent: bool = False) -> Any:
            if failures["left"]:
                failures["left"] -= 1

                def crash(session: Any) -> Any:
                    work(session)  # everything is written ...
                    raise RuntimeError("killed before commit")  # ... and rolled back
                return real(crash, urgent=urgent)
            return real(work, urgent=urgent)

        monkeypatch.setattr(database, "transaction", flaky)
        simulator = gateway.simulators["china_unicom"]
        simulator.inject_mo("13012345678", "106558000678", "SD")
        await wait_for(lambda: any(r.destination == "13012345678" for r in simulator.received),
                       timeout=8)
        with sessions() as session:
            assert session.scalar(select(func.count()).select_from(InboundMessage)) == 1
            assert session.scalar(select(func.count()).select_from(SubscriptionEvent)) == 1
            assert session.scalar(select(Subscriber.status)) == "pending"
        assert simulator.counters["redeliveries"] == 1
        replies = [r for r in simulator.received if r.destination == "13012345678"]
        assert len(replies) == 1 and "回复Y确认订购" in replies[0].text
        # The reply's receipt comes back and is matched to the reply.
        await wait_for(lambda: _reply_status(sessions) in {"delivered", "undeliverable",
                                                           "expired"}, timeout=8)
    finally:
        await gateway.root.stopService()


def _reply_status(sessions: Any) -> str | None:
    with sessions() as session:
        return session.scalar(select(OutboundMessage.status))
