"""Refreshing the console's summary tables on a timer, off the reactor thread (and, with
the same timer, any housekeeping such as purging expired sessions).

Counting runs in the read-only pool (on SQLite a WAL snapshot: it never waits for or blocks
the writer); only the resulting handful of rows goes through the writer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session
from twisted.application import internet
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime

from gateway.console.rollup import Counted, RollupSettings, count_all, store_counted
from gateway.db.threads import DatabaseThreads

log = logging.getLogger(__name__)


class StatsRefresher(internet.TimerService):
    """Runs :func:`refresh` every ``interval`` seconds (and at start); never two at once."""

    def __init__(
        self, *, reader: DatabaseThreads, writer: DatabaseThreads, settings: RollupSettings,
        interval: float, clock: IReactorTime, now: Callable[[], datetime],
        housekeeping: Callable[[Session, datetime], object] | None = None,
    ) -> None:
        super().__init__(interval, self.refresh_logged)
        self.setName("console-stats")
        self.clock = clock
        self._reader = reader
        self._writer = writer
        self._settings = settings
        self._now = now
        self._housekeeping = housekeeping
        self._running: defer.Deferred[Counted] | None = None
        self._waiters: list[defer.Deferred[Counted]] = []
        self.last_refresh: datetime | None = None

    def refresh(self) -> defer.Deferred[Counted]:
        """Count and store now; if a refresh is running, wait for that one instead (and get
        its result: the counted figures, or its failure)."""
        if self._running is not None:
            waiting: defer.Deferred[Counted] = defer.Deferred()
            self._waiters.append(waiting)
            return waiting
        now = self._now()

        async def run() -> Counted:
            counted = await self._reader.transaction(
                lambda session: count_all(session, now, self._settings))
            await self._writer.transaction(lambda session: store_counted(session, counted, now))
            if self._housekeeping is not None:
                housekeeping = self._housekeeping
                await self._writer.transaction(lambda session: housekeeping(session, now))
            self.last_refresh = now
            return counted

        def done(result: object) -> object:
            self._running = None
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                waiter.callback(result)  # a Failure goes to the waiter's errbacks
            return result

        running = defer.ensureDeferred(run())
        self._running = running
        running.addBoth(done)  # (at once if it already finished)
        return running

    def refresh_logged(self) -> defer.Deferred[None]:
        def failed(failure: object) -> None:
            log.error("console figures not refreshed: %s",
                      getattr(failure, "getErrorMessage", lambda: failure)())

        d = self.refresh()
        d.addCallbacks(lambda _: None, failed)
        return d  # type: ignore[return-value]
