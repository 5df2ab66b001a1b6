"""Running blocking database work off the reactor thread."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker
from twisted.application import service
from twisted.internet import defer
from twisted.internet.interfaces import IReactorThreads
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from carriers.link.status import LatencyHistogram

T = TypeVar("T")

URGENT_STREAK = 4
"""Urgent turns in a row before queued ordinary work gets one."""

TRANSACTION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                       5.0, 10.0, 30.0)


class TransactionTimings:
    """How long the pool's transactions took (begin to commit or rollback), as a histogram;
    observed from the pool's threads, read from the reactor's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._histogram = LatencyHistogram(TRANSACTION_BUCKETS)

    def observe(self, seconds: float) -> None:
        with self._lock:
            self._histogram.observe(seconds)

    def snapshot(self) -> tuple[list[tuple[float, int]], float]:
        """(cumulative buckets, sum of seconds), consistent with each other."""
        with self._lock:
            return self._histogram.cumulative(), self._histogram.sum


class DatabaseThreads(service.Service):
    """A dedicated thread pool; each call gets its own session and transaction.

    Work marked ``urgent`` (a subscriber's MO, waiting for its reply) runs before the
    ordinary work queued ahead of it (a dispatch's claims and batches): each call queues its
    work and one turn of the pool, and a turn takes the oldest urgent work if there is any.
    """

    def __init__(
        self, sessions: sessionmaker[Session], *, reactor: IReactorThreads, threads: int = 4
    ) -> None:
        self.setName("database-threads")
        self.sessions = sessions
        self._reactor = reactor
        self._pool = ThreadPool(minthreads=1, maxthreads=threads, name="sdgw-db")
        self._urgent: deque[tuple[Callable[[], Any], defer.Deferred[Any]]] = deque()
        self._ordinary: deque[tuple[Callable[[], Any], defer.Deferred[Any]]] = deque()
        self._urgent_streak = 0
        self._choosing = threading.Lock()
        self.timings = TransactionTimings()

    @property
    def waiting(self) -> int:
        """Work queued and not yet taken by a thread of the pool."""
        return len(self._urgent) + len(self._ordinary)

    def startService(self) -> None:
        super().startService()
        self._pool.start()

    def stopService(self) -> None:
        super().stopService()
        self._pool.stop()

    def run(self, work: Callable[..., T], *args: Any, urgent: bool = False) -> defer.Deferred[T]:
        """Run ``work(*args)`` in the pool; fires with its result on the reactor thread."""
        done = defer.Deferred[T]()
        (self._urgent if urgent else self._ordinary).append((lambda: work(*args), done))
        self._pool.callInThread(self._next)
        return done

    def _next(self) -> None:
        """One turn of the pool: the oldest urgent work, else the oldest ordinary work (there
        is always one, as each call queues exactly one work and one turn). After
        ``URGENT_STREAK`` urgent turns in a row, ordinary work gets one: a flood of MOs slows
        a dispatch (or a shutdown's own writes) down but never stops it."""
        with self._choosing:  # several threads on PostgreSQL
            if self._urgent and (self._urgent_streak < URGENT_STREAK or not self._ordinary):
                self._urgent_streak += 1
                work, done = self._urgent.popleft()
            else:
                self._urgent_streak = 0
                work, done = self._ordinary.popleft()
        try:
            result = work()
        except BaseException:
            self._reactor.callFromThread(done.errback, Failure())  # type: ignore[attr-defined]
        else:
            self._reactor.callFromThread(done.callback, result)  # type: ignore[attr-defined]

    def transaction(self, work: Callable[[Session], T], *, urgent: bool = False
                    ) -> defer.Deferred[T]:
        """Run ``work(session)`` inside one committed transaction, in the pool."""

        def unit() -> T:
            started = time.perf_counter()
            try:
                with self.sessions.begin() as session:
                    return work(session)
            finally:
                self.timings.observe(time.perf_counter() - started)

        return self.run(unit, urgent=urgent)
