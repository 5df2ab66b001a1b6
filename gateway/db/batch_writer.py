"""Group commit: items gathered while one transaction runs are written together in the next."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from gateway.db.threads import DatabaseThreads

log = logging.getLogger(__name__)


class BatchWriter:
    """Collects items and writes them in one transaction per batch, one batch at a time.

    When no batch is being written, what has arrived is written at once (in the next reactor
    turn); while one is, new items gather and go together right after it (or after
    ``interval`` at the latest). So a trickle is written without delay and a flood in few,
    large transactions. ``add`` returns a Deferred that fires once the item's batch has
    committed: with the item's own result when ``write`` returns one result per item (a list
    as long as the batch), else with None. ``urgent`` batches go ahead of the database
    threads' ordinary work (see :class:`DatabaseThreads`). With ``alone_on_failure``, when a
    batch of several fails each of its items is written again in a transaction of its own,
    so one bad item fails only its own caller.
    """

    def __init__(
        self, database: DatabaseThreads, clock: IReactorTime,
        write: Callable[[Session, list[Any]], Sequence[Any] | None], *, interval: float,
        size: int, urgent: bool = False, alone_on_failure: bool = False,
    ) -> None:
        self._database = database
        self._clock = clock
        self._write = write
        self._interval = interval
        self._size = size
        self._urgent = urgent
        self._alone_on_failure = alone_on_failure
        self._items: list[Any] = []
        self._waiters: list[defer.Deferred[Any] | None] = []
        """One per item, None for an item nobody waits for."""
        self._timer: Any = None
        self._lock = defer.DeferredLock()

    def add(self, item: Any) -> defer.Deferred[Any]:
        waiter = defer.Deferred[Any]()
        self._add(item, waiter)
        return waiter

    def add_nowait(self, item: Any) -> None:
        """Like :meth:`add` for a caller that does not wait for the commit."""
        self._add(item, None)

    def _add(self, item: Any, waiter: defer.Deferred[Any] | None) -> None:
        self._items.append(item)
        self._waiters.append(waiter)
        if len(self._items) >= self._size:
            self.flush()
        elif self._timer is None:
            delay = self._interval if self._lock.locked else 0.0
            self._timer = self._clock.callLater(delay, self.flush)

    def flush(self) -> defer.Deferred[None]:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        items, self._items = self._items, []
        waiters, self._waiters = self._waiters, []
        if not items:
            return self._lock.run(lambda: defer.succeed(None))

        def write() -> defer.Deferred[Any]:
            return self._database.transaction(lambda session: self._write(session, items),
                                              urgent=self._urgent)

        def done(result: object) -> None:
            if isinstance(result, Failure):
                log.error("a batch of %d could not be written: %s", len(items),
                          result.getErrorMessage())
            per_item = isinstance(result, list) and len(result) == len(items)
            again = isinstance(result, Failure) and self._alone_on_failure and len(items) > 1
            for index, waiter in enumerate(waiters):
                if again:
                    self._write_alone(items[index]).chainDeferred(waiter or defer.Deferred())
                elif waiter is None:
                    continue
                elif isinstance(result, Failure):
                    waiter.errback(result)
                else:
                    waiter.callback(result[index] if per_item else None)  # type: ignore[index]
            if self._items:  # gathered while this batch was written: write them next
                if self._timer is not None and self._timer.active():
                    self._timer.cancel()
                self._timer = self._clock.callLater(0, self.flush)

        return self._lock.run(write).addBoth(done)

    def _write_alone(self, item: Any) -> defer.Deferred[Any]:
        def write(session: Session) -> Any:
            result = self._write(session, [item])
            return result[0] if isinstance(result, list) and len(result) == 1 else None

        return self._database.transaction(write, urgent=self._urgent)
