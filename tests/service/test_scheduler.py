"""Editions on a schedule: the job store survives restarts; one process takes each run.

The scheduler's own decisions (which newspaper date a run is for, whether it fired too late)
are read from an injected clock, so they are tested on ``task.Clock`` without waiting.
APScheduler reads the wall clock itself: the restart test gives it a run whose stored time is
already past, so it fires at once, and awaits that firing (an event, not a delay).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest_twisted
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from sqlalchemy import Engine, select
from twisted.internet import defer, reactor, task

from gateway.db.dispatch_models import ScheduledRun
from gateway.db.engine import make_session_factory
from gateway.dispatch.scheduler import EditionScheduler, slot_due

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC_ZONE = ZoneInfo("UTC")


class Actions:
    def __init__(self) -> None:
        self.calls: list[tuple[str, date]] = []
        self.called: defer.Deferred[None] = defer.Deferred()

    def __call__(self, slot: str, day: date) -> defer.Deferred[str]:
        self.calls.append((slot, day))
        if not self.called.called:
            self.called.callback(None)
        return defer.succeed("done")


def scheduler(engine: Engine, database: Any, action: Actions, at: time, *,
              clock: task.Clock, zone: ZoneInfo = SHANGHAI, grace: float = 60,
              scheduler_id: str = "t") -> EditionScheduler:
    return EditionScheduler(
        engine=engine, database=database, slots={"morning": at}, zone=zone,
        misfire_grace=timedelta(seconds=grace), action=action, node=scheduler_id,
        reactor=reactor, clock=clock, scheduler_id=scheduler_id)


def clock_at(moment: datetime) -> task.Clock:
    clock = task.Clock()
    clock.advance(moment.timestamp())
    return clock


def runs(engine: Engine) -> list[tuple[str, str]]:
    with make_session_factory(engine)() as session:
        return [tuple(row) for row in session.execute(
            select(ScheduledRun.slot, ScheduledRun.run_date).order_by(ScheduledRun.id))]


def test_a_slot_is_due_on_its_own_date() -> None:
    seven = time(7, 0)
    at = lambda d, h, m=0, s=0: datetime(2026, 11, d, h, m, s, tzinfo=SHANGHAI)  # noqa: E731
    assert slot_due(seven, SHANGHAI, at(29, 7, 0, 30)) == at(29, 7)
    assert slot_due(seven, SHANGHAI, at(29, 6, 59, 59)) == at(29, 7)  # a timer a bit early
    assert slot_due(seven, SHANGHAI, at(29, 6, 0)) == at(28, 7)
    assert slot_due(time(23, 59), SHANGHAI, at(30, 0, 0, 20)) == at(29, 23, 59)
    # The newspaper's zone, not UTC: 07:00 in Shanghai is 23:00 UTC the day before.
    assert slot_due(seven, SHANGHAI, datetime(2026, 11, 28, 23, 0, 5, tzinfo=UTC)) == at(29, 7)


@pytest_twisted.ensureDeferred
async def test_a_run_is_for_the_newspaper_date_of_its_slot(engine: Engine, database: Any
                                                          ) -> None:
    """Fired 20 s after midnight, the 23:59:40 run is still the previous day's."""
    action = Actions()
    clock = clock_at(datetime(2026, 11, 30, 0, 0, 20, tzinfo=SHANGHAI))
    service = scheduler(engine, database, action, time(23, 59, 40), clock=clock)
    assert await service.fire("morning") == "done"
    assert action.calls == [("morning", date(2026, 11, 29))]
    assert runs(engine) == [("morning", "2026-11-29")]


@pytest_twisted.ensureDeferred
async def test_a_run_within_grace_is_taken_and_not_repeated(engine: Engine, database: Any
                                                           ) -> None:
    action = Actions()
    clock = clock_at(datetime(2026, 11, 29, 7, 0, 50, tzinfo=SHANGHAI))
    first = scheduler(engine, database, action, time(7, 0), clock=clock, grace=60)
    assert await first.fire("morning") == "done"
    clock.advance(5)
    # Restarted and fired again (a coalesced run, a second process): not repeated.
    second = scheduler(engine, database, action, time(7, 0), clock=clock, grace=60)
    assert await second.fire("morning") is None
    assert action.calls == [("morning", date(2026, 11, 29))]
    assert runs(engine) == [("morning", "2026-11-29")]


@pytest_twisted.ensureDeferred
async def test_a_run_beyond_grace_is_skipped(engine: Engine, database: Any) -> None:
    action = Actions()
    clock = clock_at(datetime(2026, 11, 29, 7, 1, 1, tzinfo=SHANGHAI))
    service = scheduler(engine, database, action, time(7, 0), clock=clock, grace=60)
    assert await service.fire("morning") is None
    assert action.calls == [] and runs(engine) == []


@pytest_twisted.ensureDeferred
async def test_only_one_process_takes_each_run(engine: Engine, database: Any) -> None:
    actions = [Actions(), Actions()]
    clock = clock_at(datetime(2026, 11, 29, 7, 0, 0, tzinfo=SHANGHAI))
    schedulers = [scheduler(engine, database, actions[i], time(7, 0), clock=clock,
                            scheduler_id=f"p{i}") for i in range(2)]
    outcomes = await defer.gatherResults([s.fire("morning") for s in schedulers])
    assert sorted(outcomes, key=str) == [None, "done"]
    assert sum(len(a.calls) for a in actions) == 1
    assert runs(engine) == [("morning", "2026-11-29")]


def stored_next_run(engine: Engine, job_id: str, moved_to: datetime | None = None
                    ) -> datetime | None:
    """The job store's next run time of ``job_id`` (moved first, as time passing would)."""
    store = SQLAlchemyJobStore(engine=engine, tablename="apscheduler_jobs")
    store.start(SimpleNamespace(timezone=UTC_ZONE), "default")
    job = store.lookup_job(job_id)
    assert job is not None
    if moved_to is not None:
        job._modify(next_run_time=moved_to)
        store.update_job(job)
    return job.next_run_time


@pytest_twisted.ensureDeferred
async def test_a_run_missed_while_down_is_taken_up_at_start(engine: Engine, database: Any
                                                           ) -> None:
    """The job store keeps the missed run; restarted, APScheduler hands it over at once and
    the scheduler, 30 s after the slot's time on its clock, takes it (within grace)."""
    action = Actions()
    wall = datetime.now(UTC).replace(microsecond=0)
    slot_time = wall + timedelta(hours=1)
    first = scheduler(engine, database, action, slot_time.time(), zone=UTC_ZONE,
                      clock=clock_at(wall), scheduler_id="gw")
    first.startService()
    assert first.next_runs()["edition:morning"] == slot_time
    first.stopService()  # the gateway goes down before the run time
    # While it is down the run time passes: APScheduler (on the wall clock) finds its
    # stored run in the past.
    stored_next_run(engine, "edition:morning", moved_to=wall - timedelta(seconds=30))
    second = scheduler(engine, database, action, slot_time.time(), zone=UTC_ZONE,
                       clock=clock_at(slot_time + timedelta(seconds=30)), scheduler_id="gw")
    second.startService()
    try:
        await action.called.addTimeout(30, reactor)  # a guard, not a wait: fires at once
        for fired in list(second.fired):
            await fired
    finally:
        second.stopService()
    assert action.calls == [("morning", slot_time.date())]
    assert runs(engine) == [("morning", slot_time.date().isoformat())]
