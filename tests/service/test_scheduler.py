"""Editions on a schedule: the job store survives restarts; one process takes each run."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest_twisted
from sqlalchemy import Engine, func, select
from twisted.internet import defer, reactor, task

from gateway.db.dispatch_models import ScheduledRun
from gateway.db.engine import make_session_factory
from gateway.dispatch.scheduler import EditionScheduler

UTC_ZONE = ZoneInfo("UTC")



class Actions:
    def __init__(self) -> None:
        self.calls: list[tuple[str, date]] = []

    def __call__(self, slot: str, day: date) -> defer.Deferred[str]:
        self.calls.append((slot, day))
        return defer.succeed("done")


def scheduler(engine: Engine, database: Any, action: Actions, at: datetime, *,
              grace: float = 60, scheduler_id: str = "t") -> EditionScheduler:
    return EditionScheduler(
        engine=engine, database=database, slots={"morning": at.time()}, zone=UTC_ZONE,
        misfire_grace=timedelta(seconds=grace), action=action, node=scheduler_id,
        reactor=reactor, scheduler_id=scheduler_id)


async def sleep(seconds: float) -> None:
    await task.deferLater(reactor, seconds, lambda: None)


async def settle(service: EditionScheduler) -> None:
    for fired in list(service.fired):
        await fired


def runs(engine: Engine) -> int:
    with make_session_factory(engine)() as session:
        return session.scalar(select(func.count()).select_from(ScheduledRun)) or 0


@pytest_twisted.ensureDeferred
async def test_a_run_missed_while_down_is_taken_up_within_grace(engine: Engine, database: Any
                                                                ) -> None:
    action = Actions()
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    first = scheduler(engine, database, action, at)
    first.startService()
    first.stopService()  # the gateway goes down before the run time
    await sleep(3.5)
    assert action.calls == []
    second = scheduler(engine, database, action, at, grace=60)
    second.startService()  # back up, 1.5 s late: within grace, so it runs now
    await sleep(1.0)
    await settle(second)
    second.stopService()
    assert action.calls == [("morning", at.date())]
    third = scheduler(engine, database, action, at)
    third.startService()  # restarting again does not repeat the run
    await sleep(1.0)
    third.stopService()
    assert len(action.calls) == 1
    assert runs(engine) == 1


@pytest_twisted.ensureDeferred
async def test_a_run_missed_beyond_grace_is_skipped(engine: Engine, database: Any) -> None:
    action = Actions()
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    first = scheduler(engine, database, action, at)
    first.startService()
    first.stopService()
    await sleep(4.5)
    second = scheduler(engine, database, action, at, grace=1)
    second.startService()
    await sleep(1.0)
    next_run = second.next_runs()["edition:morning"]
    second.stopService()
    assert action.calls == []
    assert next_run is not None and next_run.date() > at.date()


@pytest_twisted.ensureDeferred
async def test_only_one_process_takes_each_run(engine: Engine, database: Any) -> None:
    actions = [Actions(), Actions()]
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    schedulers = [scheduler(engine, database, actions[i], at, scheduler_id=f"p{i}")
                  for i in range(2)]
    for service in schedulers:
        service.startService()
    await sleep(3.5)
    for service in schedulers:
        await settle(service)
        service.stopService()
    assert sum(len(a.calls) for a in actions) == 1
    assert runs(engine) == 1


