"""Running blocking database work off the reactor thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker
from twisted.application import service
from twisted.internet import defer
from twisted.internet.interfaces import IReactorThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

T = TypeVar("T")


class DatabaseThreads(service.Service):
    """A dedicated thread pool; each call gets its own session and transaction."""

    def __init__(
        self, sessions: sessionmaker[Session], *, reactor: IReactorThreads, threads: int = 4
    ) -> None:
        self.setName("database-threads")
        self.sessions = sessions
        self._reactor = reactor
        self._pool = ThreadPool(minthreads=1, maxthreads=threads, name="sdgw-db")

    def startService(self) -> None:
        super().startService()
        self._pool.start()

    def stopService(self) -> None:
        super().stopService()
        self._pool.stop()

    def run(self, work: Callable[..., T], *args: Any) -> defer.Deferred[T]:
        """Run ``work(*args)`` in the pool; fires with its result on the reactor thread."""
        return deferToThreadPool(self._reactor, self._pool, work, *args)  # type: ignore[arg-type]

    def transaction(self, work: Callable[[Session], T]) -> defer.Deferred[T]:
        """Run ``work(session)`` inside one committed transaction, in the pool."""

        def unit() -> T:
            with self.sessions.begin() as session:
                return work(session)

        return self.run(unit)
