"""Timed figures: what the metrics and readiness read from the database, kept fresh off the
reactor.

:class:`FiguresRefresher` reads :func:`~gateway.operations.database_figures.read_figures` in
a thread of the given pool every ``interval`` seconds (one read at a time: a slow database
delays the next read, it never piles them up) and keeps the latest result, the time the
database last answered and the last error.  A scrape or a readiness probe only reads what it
kept.  Its timer is a ``LoopingCall`` started with the service and stopped with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from twisted.application import service
from twisted.internet import task
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from gateway.db.threads import DatabaseThreads
from gateway.operations.database_figures import DatabaseFigures, read_figures

log = logging.getLogger(__name__)


class FiguresRefresher(service.Service):
    def __init__(self, *, reader: DatabaseThreads, interval: float, clock: IReactorTime,
                 keep_finished: timedelta = timedelta(days=2),
                 on_tick: Callable[[float], None] | None = None) -> None:
        """``on_tick(now)`` runs on the reactor at every tick (the link board samples its
        rates there)."""
        self.setName("operations-refresher")
        self._reader = reader
        self._interval = interval
        self._clock = clock
        self._keep_finished = keep_finished
        self._on_tick = on_tick
        self._loop: task.LoopingCall | None = None
        self._reading = False
        self.figures: DatabaseFigures | None = None
        self.last_ok: float | None = None
        self.error: str | None = None
        self.reads = 0

    def startService(self) -> None:
        super().startService()
        self._loop = task.LoopingCall(self.tick)
        self._loop.clock = self._clock
        self._loop.start(self._interval, now=True).addErrback(self._loop_failed)

    def stopService(self) -> None:
        super().stopService()
        loop, self._loop = self._loop, None
        if loop is not None and loop.running:
            loop.stop()

    @property
    def looping(self) -> bool:
        return self._loop is not None and self._loop.running

    def tick(self) -> None:
        now = self._clock.seconds()
        if self._on_tick is not None:
            self._on_tick(now)
        if self._reading:
            return  # the last read is still running: it serves until it ends
        self._reading = True
        moment = datetime.fromtimestamp(now, UTC)
        reading = self._reader.transaction(lambda session: read_figures(
            session, read_at=now, now=moment, keep_finished=self._keep_finished))
        reading.addCallbacks(self._read, self._failed)

    def _read(self, figures: DatabaseFigures) -> None:
        self._reading = False
        self.figures = figures
        self.last_ok = figures.read_at
        self.reads += 1
        if self.error is not None:
            log.info("operations figures: the database answers again")
        self.error = None

    def _failed(self, failure: Failure) -> None:
        self._reading = False
        message = failure.getErrorMessage().splitlines()[0][:200] if failure.getErrorMessage() \
            else failure.type.__name__
        if self.error is None:
            log.warning("operations figures: reading the database failed: %s", message)
        self.error = message

    def _loop_failed(self, failure: Failure) -> Any:
        log.error("operations figures: the refresher stopped: %s", failure.getTraceback())
