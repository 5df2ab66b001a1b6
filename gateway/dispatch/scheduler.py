"""Editions on a schedule: APScheduler 3's TwistedScheduler with its jobs in our database.

One cron job per configured slot, in the newspaper's time zone. The job store lives
in the gateway's database (table ``apscheduler_jobs``, created by our migrations), so
a restart neither loses nor repeats a run: a run missed while the gateway was down is
taken up if it is at most ``misfire_grace`` late, else it is skipped and logged.

Time: APScheduler itself reads the wall clock (when it computes a job's next run time and
decides which jobs are due, and to time its wake-ups). Everything this module decides is
read from the injected ``clock``: the newspaper date of a run (that of the slot's time
the run belongs to, not the wall clock's "today") and whether a run fired so late, e.g.
after a restart, that it is a misfire. APScheduler's own misfire check is therefore off
(``misfire_grace_time=None``): it hands every due run over and :meth:`EditionScheduler.fire`
decides.
Several processes may run schedulers on one database; a unique row per slot and date
(``scheduled_runs``) lets only the first of them build and dispatch each run.

APScheduler runs jobs in the reactor's thread pool; the job hands the work back to the
reactor with ``callFromThread``. Its job functions must be importable by name, so the
running schedulers are found through a small registry keyed by scheduler id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.twisted import TwistedScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from twisted.application import service
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime

from gateway.db.dispatch_models import ScheduledRun
from gateway.db.threads import DatabaseThreads

log = logging.getLogger(__name__)

SlotAction = Callable[[str, date], "defer.Deferred[str]"]
"""(slot, newspaper date) → what happened, for the run's record."""

_RUNNING: dict[str, EditionScheduler] = {}

_EARLY = timedelta(seconds=1)
"""How early a run may fire and still count as its slot's (timers are not exact)."""


def slot_due(at: time, zone: ZoneInfo, now: datetime) -> datetime:
    """The latest moment, at or before ``now``, that a slot at ``at`` (in ``zone``) was due."""
    local = now.astimezone(zone)
    due = datetime.combine(local.date(), at, tzinfo=zone)
    if due > now + _EARLY:
        due = datetime.combine(local.date() - timedelta(days=1), at, tzinfo=zone)
    return due


def next_fire(at: time, zone: ZoneInfo, now: datetime) -> datetime:
    """The first moment after ``now`` that a slot at ``at`` (in ``zone``) is due."""
    trigger = CronTrigger(hour=at.hour, minute=at.minute, second=at.second, timezone=zone)
    fire = trigger.get_next_fire_time(None, now)
    assert fire is not None  # a daily trigger always fires again
    return fire


def fire_slot(scheduler_id: str, slot: str) -> None:
    """APScheduler's job function (runs in a pool thread): hand over to the reactor."""
    scheduler = _RUNNING.get(scheduler_id)
    if scheduler is None:
        log.error("scheduled slot %s fired but scheduler %s is not running", slot, scheduler_id)
        return
    scheduler.reactor.callFromThread(scheduler.fire, slot)


class EditionScheduler(service.Service):
    """Fires ``action(slot, date)`` at each slot's time, once per slot and date."""

    def __init__(
        self,
        *,
        engine: Engine,
        database: DatabaseThreads,
        slots: Mapping[str, time],
        zone: ZoneInfo,
        misfire_grace: timedelta,
        action: SlotAction,
        node: str,
        reactor: Any,
        clock: IReactorTime | None = None,
        scheduler_id: str = "sdgw",
    ) -> None:
        self.setName("edition-scheduler")
        self.reactor = reactor
        self._clock: IReactorTime = clock if clock is not None else reactor
        self._engine = engine
        self._database = database
        self._slots = dict(slots)
        self._zone = zone
        self._grace = misfire_grace
        self._action = action
        self._node = node
        self._id = scheduler_id
        self._scheduler: TwistedScheduler | None = None
        self.fired: list[defer.Deferred[str | None]] = []

    def startService(self) -> None:
        super().startService()
        scheduler = TwistedScheduler(
            reactor=self.reactor,
            timezone=self._zone,
            jobstores={"default": SQLAlchemyJobStore(engine=self._engine,
                                                     tablename="apscheduler_jobs")},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        _RUNNING[self._id] = self
        scheduler.start(paused=True)
        wanted = set()
        for slot, at in self._slots.items():
            job_id = f"edition:{slot}"
            wanted.add(job_id)
            trigger = CronTrigger(hour=at.hour, minute=at.minute, second=at.second,
                                  timezone=self._zone)
            existing = scheduler.get_job(job_id)
            if existing is not None and str(existing.trigger) == str(trigger):
                # Keep its stored next run time (a missed run is still due; fire() decides
                # whether it is too late).
                existing.modify(misfire_grace_time=None)
                continue
            scheduler.add_job(fire_slot, trigger, args=[self._id, slot], id=job_id,
                              name=f"edition slot {slot}", replace_existing=True)
        for job in scheduler.get_jobs():
            if job.id not in wanted:
                job.remove()
        scheduler.resume()
        self._scheduler = scheduler
        for job in scheduler.get_jobs():
            log.info("scheduled %s: next run %s", job.name, job.next_run_time)

    def stopService(self) -> None:
        super().stopService()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        _RUNNING.pop(self._id, None)

    @property
    def healthy(self) -> bool:
        """Started and its APScheduler running (it stops only with the service)."""
        return bool(self.running and self._scheduler is not None and self._scheduler.running)

    def next_fire_times(self, now: datetime) -> dict[str, datetime]:
        """Each slot's next scheduled time after ``now`` (from the slots' own triggers, no
        database read): what the metrics show."""
        return {slot: next_fire(at, self._zone, now) for slot, at in self._slots.items()}

    def next_runs(self) -> dict[str, datetime | None]:
        if self._scheduler is None:
            return {}
        return {job.id: job.next_run_time for job in self._scheduler.get_jobs()}

    def fire(self, slot: str) -> defer.Deferred[str | None]:
        """Take the run of ``slot`` that is due now (if no other process has, and it is not
        more than the grace time late) and perform it."""
        fired = datetime.fromtimestamp(self._clock.seconds(), UTC)
        due = slot_due(self._slots[slot], self._zone, fired)
        today = due.astimezone(self._zone).date()
        if fired - due > self._grace:
            log.warning("slot %s of %s fired at %s, more than %s late: skipped", slot, today,
                        fired.isoformat(timespec="seconds"), self._grace)
            skipped: defer.Deferred[str | None] = defer.succeed(None)
            self.fired.append(skipped)
            return skipped

        def take(session: Session) -> bool:
            try:
                with session.begin_nested():
                    session.add(ScheduledRun(slot=slot, run_date=today.isoformat(),
                                             fired_at=fired, node=self._node))
            except IntegrityError:
                return False
            return True

        def perform(taken: bool) -> defer.Deferred[str | None] | None:
            if not taken:
                log.info("slot %s of %s was already taken by another process", slot, today)
                return None
            log.info("slot %s of %s: building and dispatching", slot, today)
            return self._action(slot, today).addBoth(record)

        def record(outcome: object) -> defer.Deferred[str | None]:
            text = (outcome.getErrorMessage() if hasattr(outcome, "getErrorMessage")
                    else str(outcome))
            if hasattr(outcome, "getErrorMessage"):
                log.error("slot %s of %s failed: %s", slot, today, text)

            def write(session: Session) -> str:
                run = session.query(ScheduledRun).filter_by(
                    slot=slot, run_date=today.isoformat()).one()
                run.outcome = text[:1000]
                return text

            return self._database.transaction(write)

        result = self._database.transaction(take).addCallback(perform)
        self.fired.append(result)
        return result
