"""``sdgw dispatch``'s progress: each carrier's counts read in a database thread of its own
(never on the reactor thread), one read at a time, shown per carrier."""

from __future__ import annotations

import io
import threading
from datetime import timedelta
from typing import Any

import pytest
import pytest_twisted
from sqlalchemy import Engine, update
from twisted.internet import reactor

from gateway.cli import dispatch_progress
from gateway.cli.dispatch_progress import CountingThreads, DispatchProgress
from gateway.cli.progress import CommandProgress
from gateway.db.dispatch_models import Delivery
from gateway.db.engine import make_session_factory
from gateway.dispatch import store
from gateway.editions.build import freeze_edition
from tests.service.dispatch_fixtures import T0, seed_edition, seed_subscribers


@pytest_twisted.ensureDeferred
async def test_counts_are_read_off_the_reactor_and_shown_per_carrier(
        engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        edition_id = seed_edition(session, carriers=("china_mobile", "china_unicom"))
        seed_subscribers(session, 40)
        seed_subscribers(session, 10, carrier="china_unicom", start=100)
        freeze_edition(session, edition_id, now=T0)
        ids = [store.create_dispatch(session, edition_id=edition_id, carrier=carrier,
                                     cutoff=T0, deadline=T0 + timedelta(hours=1), now=T0)
               for carrier in ("china_mobile", "china_unicom")]
        for dispatch_id in ids:
            store.materialise(session, dispatch_id)
        session.execute(update(Delivery).where(Delivery.dispatch_id == ids[0],
                                               Delivery.id <= 15).values(status="submitted"))
    threads: list[threading.Thread] = []
    real = dispatch_progress.open_counts

    def recorded(session: Any, edition: int) -> Any:
        threads.append(threading.current_thread())
        return real(session, edition)

    monkeypatch.setattr(dispatch_progress, "open_counts", recorded)
    counting = CountingThreads(database_url, reactor=reactor)
    counting.startService()
    try:
        display = CommandProgress(stream=io.StringIO(), live=False, period=0)
        progress = DispatchProgress(display, counting, edition_id, clock=reactor, period=0.05)
        first, again = progress.read(), progress.read()
        assert again is first  # a read under way is not doubled
        await first
        await progress.stop()
    finally:
        counting.stopService()
    assert threads and all(t is not threading.main_thread() for t in threads)
    bars = {carrier: (bar.completed, bar.total) for carrier, bar in progress.bars.items()}
    assert bars == {"china_mobile": (15, 40), "china_unicom": (0, 10)}
    assert all(bar.finished_at is not None for bar in progress.bars.values())
