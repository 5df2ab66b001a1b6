"""The console's summary-table refresher: counting in a read pool, storing through the writer,
never two refreshes at once (SQLite and PostgreSQL)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_twisted
from sqlalchemy import Engine, select
from twisted.internet import defer, reactor, task

from gateway.console import stats
from gateway.console.rollup import Counted, RollupSettings, count_all
from gateway.db.console_models import DailySubscriptionStats, SubscriberCount
from gateway.db.engine import make_engine, make_session_factory
from gateway.db.threads import DatabaseThreads
from tests.service.test_subscription_engine import Engine_

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SETTINGS = RollupSettings(zone=ZoneInfo("Asia/Shanghai"),
                          carriers=("china_mobile", "china_unicom", "china_telecom"))
INTERVAL = 60.0


@pytest.fixture
def reader(engine: Engine) -> Iterator[DatabaseThreads]:
    """The console's read pool: on SQLite a read-only engine of its own, as in the gateway."""
    if engine.dialect.name == "sqlite":
        read_engine = make_engine(engine.url.render_as_string(hide_password=False),
                                  read_only=True)
    else:
        read_engine = engine
    threads = DatabaseThreads(make_session_factory(read_engine), reactor=reactor, threads=2)
    threads.startService()
    yield threads
    threads.stopService()
    if read_engine is not engine:
        read_engine.dispose()


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The refresher's count_all, recording each time it runs."""
    calls: list[datetime] = []

    def counted(session: Any, now: datetime, settings: RollupSettings) -> Counted:
        calls.append(now)
        return count_all(session, now, settings)

    monkeypatch.setattr(stats, "count_all", counted)
    return calls


class RecordingRefresher(stats.StatsRefresher):
    """Keeps the Deferred of each timed refresh, so a test can wait for it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runs: list[defer.Deferred[None]] = []

    def refresh_logged(self) -> defer.Deferred[None]:
        d = super().refresh_logged()
        self.runs.append(d)
        return d


def refresher_for(reader: DatabaseThreads, database: DatabaseThreads,
                  clock: Any = reactor) -> RecordingRefresher:
    return RecordingRefresher(reader=reader, writer=database, settings=SETTINGS,
                              interval=INTERVAL, clock=clock, now=lambda: NOW)


def seed(engine: Engine) -> None:
    gw = Engine_(engine)
    gw.mo("SD")
    gw.mo("Y")
    gw.mo("SD", source="13012345678", carrier="china_unicom")


def stored(engine: Engine) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    with make_session_factory(engine)() as session:
        counts = {(r.carrier, r.status): r.count for r in session.scalars(select(SubscriberCount))}
        requests: dict[str, int] = {}
        for row in session.scalars(select(DailySubscriptionStats)
                                   .where(DailySubscriptionStats.day == "2026-11-29")):
            requests[row.carrier] = row.requests
    return counts, requests


EXPECTED = ({("china_mobile", "active"): 1, ("china_unicom", "pending"): 1},
            {"china_mobile": 1, "china_unicom": 1, "china_telecom": 0})


@pytest_twisted.ensureDeferred
async def test_refresh_counts_and_stores(engine: Engine, database: DatabaseThreads,
                                         reader: DatabaseThreads) -> None:
    seed(engine)
    refresher = refresher_for(reader, database)
    assert refresher.last_refresh is None
    counted = await refresher.refresh()
    assert counted.subscribers == EXPECTED[0]
    assert stored(engine) == EXPECTED
    assert refresher.last_refresh == NOW


@pytest_twisted.ensureDeferred
async def test_concurrent_refreshes_count_once(engine: Engine, database: DatabaseThreads,
                                               reader: DatabaseThreads,
                                               counting: list[datetime]) -> None:
    seed(engine)
    refresher = refresher_for(reader, database)
    first = refresher.refresh()
    second = refresher.refresh()
    assert not first.called and not second.called
    results = await defer.gatherResults([first, second], consumeErrors=True)
    assert counting == [NOW]
    assert results[0] is results[1]
    assert results[0].subscribers == EXPECTED[0]
    assert stored(engine) == EXPECTED
    # Once it is over, the next refresh counts again.
    await refresher.refresh()
    assert counting == [NOW, NOW]


@pytest_twisted.ensureDeferred
async def test_a_refresh_during_a_timed_refresh_gets_its_figures(
        engine: Engine, database: DatabaseThreads, reader: DatabaseThreads,
        counting: list[datetime]) -> None:
    seed(engine)
    refresher = refresher_for(reader, database)
    timed = refresher.refresh_logged()
    waiting = refresher.refresh()
    await timed
    counted = await waiting
    assert counting == [NOW]
    assert isinstance(counted, Counted)


@pytest_twisted.ensureDeferred
async def test_a_refresh_during_a_failing_timed_refresh_fails(
        engine: Engine, database: DatabaseThreads, reader: DatabaseThreads,
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(session: Any, now: datetime, settings: RollupSettings) -> Counted:
        raise RuntimeError("database went away")

    monkeypatch.setattr(stats, "count_all", broken)
    refresher = refresher_for(reader, database)
    timed = refresher.refresh_logged()
    waiting = refresher.refresh()
    await timed
    with pytest.raises(RuntimeError):
        await waiting


@pytest_twisted.ensureDeferred
async def test_a_waiter_sees_the_failure_of_the_refresh_it_waited_for(
        database: DatabaseThreads, reader: DatabaseThreads,
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(session: Any, now: datetime, settings: RollupSettings) -> Counted:
        raise RuntimeError("database went away")

    monkeypatch.setattr(stats, "count_all", broken)
    refresher = refresher_for(reader, database)
    first = refresher.refresh()
    second = refresher.refresh()
    for d in (first, second):
        with pytest.raises(RuntimeError, match="database went away"):
            await d
    assert refresher.last_refresh is None


@pytest_twisted.ensureDeferred
async def test_a_failing_refresh_is_logged_and_the_timer_goes_on(
        engine: Engine, database: DatabaseThreads, reader: DatabaseThreads,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    seed(engine)
    calls: list[datetime] = []

    def fails_once(session: Any, now: datetime, settings: RollupSettings) -> Counted:
        calls.append(now)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return count_all(session, now, settings)

    monkeypatch.setattr(stats, "count_all", fails_once)
    clock = task.Clock()
    refresher = refresher_for(reader, database, clock=clock)
    caplog.set_level(logging.ERROR, logger="gateway.console.stats")

    refresher.startService()  # refreshes at once, then every INTERVAL on the clock
    try:
        assert len(refresher.runs) == 1
        await refresher.runs[0]
        assert [r.getMessage() for r in caplog.records] == [
            "console figures not refreshed: database went away"]
        assert refresher.last_refresh is None
        assert stored(engine) == ({}, {})

        clock.advance(INTERVAL)
        assert len(refresher.runs) == 2
        await refresher.runs[1]
        assert len(calls) == 2
        assert refresher.last_refresh == NOW
        assert stored(engine) == EXPECTED
        assert len(caplog.records) == 1
    finally:
        await refresher.stopService()
