"""The progress of an edition's dispatch, per carrier, for ``sdgw dispatch`` and ``sdgw demo``:
deliveries handled (no longer pending) of the total, with rate and ETA.

The counts are read in a database thread pool (never on the reactor), every ``period``
seconds, one read at a time: a read still running when the next is due is not doubled. On
SQLite the pool should be a read-only one (the console's kind), so counting never waits
for, nor holds up, the dispatch's writer.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from twisted.internet import defer, task
from twisted.internet.interfaces import IReactorTime

from gateway.cli.progress import CommandProgress, ProgressTask
from gateway.db.engine import make_engine, make_session_factory
from gateway.db.threads import DatabaseThreads
from gateway.dispatch.store import open_counts

LIVE_PERIOD = 2.0
"""Seconds between reads of the counts when the display is live (a terminal)."""


class CountingThreads(DatabaseThreads):
    """One database thread of its own for the counts, on a read-only engine (on SQLite its
    transactions read a WAL snapshot beside the writer), disposed when the service stops."""

    def __init__(self, url: str, *, reactor: Any) -> None:
        self._engine = make_engine(url, pool_size=1, read_only=True)
        super().__init__(make_session_factory(self._engine), reactor=reactor, threads=1)
        self.setName("progress-counts")

    def stopService(self) -> None:
        super().stopService()
        self._engine.dispose()


class DispatchProgress:
    """Bars ``dispatch <carrier>`` for the edition's dispatches, updated from the database."""

    def __init__(self, display: CommandProgress, reader: DatabaseThreads, edition_id: int, *,
                 clock: IReactorTime, period: float | None = None) -> None:
        self._display = display
        self._reader = reader
        self._edition_id = edition_id
        self._clock = clock
        self.period = period if period is not None else (
            LIVE_PERIOD if display.live else max(display.period, LIVE_PERIOD))
        self.bars: dict[str, ProgressTask] = {}
        self.reads = 0
        self._reading: defer.Deferred[Any] | None = None
        self._loop: task.LoopingCall | None = None

    def start(self) -> None:
        """Read now, then every ``period`` seconds until :meth:`stop`."""
        if self.period <= 0:
            return
        self._loop = task.LoopingCall(self.read)
        self._loop.clock = self._clock
        self._loop.start(self.period, now=True).addErrback(lambda _: None)

    def read(self) -> defer.Deferred[Any]:
        if self._reading is not None:
            return self._reading
        edition_id = self._edition_id

        def counts(session: Session) -> dict[str, tuple[int, int]]:
            return open_counts(session, edition_id)

        reading = self._reader.transaction(counts)
        self._reading = reading
        reading.addCallback(self._show)
        reading.addErrback(lambda _: None)  # a failed read only skips one update

        def done(result: object) -> object:
            self._reading = None
            return result

        return reading.addBoth(done)

    def _show(self, counts: dict[str, tuple[int, int]]) -> None:
        self.reads += 1
        for carrier in sorted(counts):
            total, still_open = counts[carrier]
            bar = self.bars.get(carrier)
            if bar is None:  # what was done before it appeared is not in its rate
                self.bars[carrier] = self._display.add(
                    f"dispatch {carrier}", total=total, unit="deliveries",
                    completed=total - still_open)
            else:
                bar.update(completed=total - still_open, total=total)

    def pause(self) -> None:
        """Stop reading (the process is stopping: the pool may be gone before a read)."""
        if self._loop is not None and self._loop.running:
            self._loop.stop()

    def stop(self) -> defer.Deferred[None]:
        """Stop reading; one last read shows where every carrier ended."""
        self.pause()
        last = self.read()

        def finish(_: object) -> None:
            for bar in self.bars.values():
                bar.finish()

        return last.addBoth(finish)
