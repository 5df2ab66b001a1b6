"""Group commit: items gathered while one transaction runs are written together in the next."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from sqlalchemy.orm import Session
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from gateway.db.threads import DatabaseThreads

log = logging.getLogger(__name__)

KEYED_BATCHES_AT_ONCE = 2
"""Batches a keyed writer has in the database at once: the next one is queued while one is
written, and a flood still gathers into batches rather than one transaction per arrival."""


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

    ``on_written`` (items, failure or None) is told of every transaction once it has committed
    or failed, before the Deferreds of its items fire: a caller with many items (submit
    results) adds them with ``add_nowait`` and learns of a whole batch in one call rather than
    of each item through a Deferred of its own. A batch written again item by item is told
    item by item, as each item's own transaction ends, not as the batch.

    With ``key`` (item → what it must stay in order with: an MO's number), a batch does not
    wait for the one before it (up to ``KEYED_BATCHES_AT_ONCE`` at a time): what has arrived
    goes to the database at once, except the items whose key a batch still being written has
    (they, and the items of that key after them, wait for it).
    So items of one key are written in their order, and an item does not wait for a whole
    cycle of another's batch (queued, written, answered) before its own is even queued.
    """

    def __init__(
        self, database: DatabaseThreads, clock: IReactorTime,
        write: Callable[[Session, list[Any]], Sequence[Any] | None], *, interval: float,
        size: int, urgent: bool = False, alone_on_failure: bool = False,
        key: Callable[[Any], Hashable] | None = None,
        on_written: Callable[[list[Any], Failure | None], None] | None = None,
    ) -> None:
        self._database = database
        self._clock = clock
        self._write = write
        self._interval = interval
        self._size = size
        self._urgent = urgent
        self._alone_on_failure = alone_on_failure
        self._on_written = on_written
        self._items: list[Any] = []
        self._waiters: list[defer.Deferred[Any] | None] = []
        """One per item, None for an item nobody waits for."""
        self._timer: Any = None
        self._lock = defer.DeferredLock()
        self._key = key
        self._writing: Counter[Hashable] = Counter()
        """Keys of the items in batches being written (with ``key``)."""
        self._batches: set[defer.Deferred[None]] = set()
        """Batches being written (with ``key``)."""

    def add(self, item: Any) -> defer.Deferred[Any]:
        # Not Deferred[Any](): subscripting makes a typing alias on every call, in the hot path.
        waiter: defer.Deferred[Any] = defer.Deferred()
        self._add(item, waiter)
        return waiter

    def add_nowait(self, item: Any) -> None:
        """Like :meth:`add` for a caller that does not wait for the commit, or learns of it
        from ``on_written``."""
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
        """Write what has gathered; fires when it (with ``key``: everything) is written."""
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self._key is not None:
            return self._flush_keyed()
        items, self._items = self._items, []
        waiters, self._waiters = self._waiters, []
        if not items:
            return self._lock.run(lambda: defer.succeed(None))
        return self._lock.run(lambda: self._write_batch(items, waiters))

    def _flush_keyed(self) -> defer.Deferred[None]:
        assert self._key is not None
        if len(self._batches) >= KEYED_BATCHES_AT_ONCE:
            # The next one goes when one of these is written, with what gathered meanwhile.
            return defer.DeferredList(list(self._batches)).addCallback(lambda _: None)
        going: list[int] = []
        held: set[Hashable] = set()
        for index, item in enumerate(self._items):
            key = self._key(item)
            if key in self._writing or key in held:
                held.add(key)  # after an item of its key that is still being written
            else:
                going.append(index)
        if going:
            chosen = set(going)
            items = [self._items[i] for i in going]
            waiters = [self._waiters[i] for i in going]
            keys = [self._key(item) for item in items]
            self._items = [item for i, item in enumerate(self._items) if i not in chosen]
            self._waiters = [w for i, w in enumerate(self._waiters) if i not in chosen]
            self._writing.update(keys)
            batch = self._write_batch(items, waiters)
            self._batches.add(batch)

            def written(_: object) -> None:
                self._batches.discard(batch)
                self._writing.subtract(keys)
                self._writing += Counter()  # drop the keys that reached zero
                if self._items:
                    self._schedule_flush()

            batch.addCallback(written)
        if not self._batches:
            return defer.succeed(None)
        # Everything now being written, then whatever gathers meanwhile.
        return defer.DeferredList(list(self._batches)).addCallback(
            lambda _: self._flush_keyed() if self._items else None)

    def _schedule_flush(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = self._clock.callLater(0, self.flush)

    def _write_batch(self, items: list[Any], waiters: list[defer.Deferred[Any] | None]
                     ) -> defer.Deferred[None]:
        """Write one batch; fires once every caller has its answer (after the items written
        again one by one, when the batch failed and ``alone_on_failure``)."""
        written = self._database.transaction(lambda session: self._write(session, items),
                                             urgent=self._urgent)

        def done(result: object) -> defer.Deferred[Any] | None:
            if isinstance(result, Failure):
                log.error("a batch of %d could not be written: %s", len(items),
                          result.getErrorMessage())
                if self._alone_on_failure and len(items) > 1:
                    alone = [self._write_alone(item, waiter)
                             for item, waiter in zip(items, waiters, strict=True)]
                    if self._key is None and self._items:
                        self._schedule_flush()
                    return defer.DeferredList(alone, consumeErrors=True)
                self._tell_written(items, result)
                for waiter in waiters:
                    if waiter is not None:
                        waiter.errback(result)
            else:
                self._tell_written(items, None)
                if isinstance(result, list) and len(result) == len(items):
                    for waiter, value in zip(waiters, result, strict=True):
                        if waiter is not None:
                            waiter.callback(value)
                else:
                    for waiter in waiters:
                        if waiter is not None:
                            waiter.callback(None)
            if self._key is None and self._items:
                # Gathered while this batch was written: write them next.
                self._schedule_flush()
            return None

        return written.addBoth(done).addCallback(lambda _: None)

    def _tell_written(self, items: list[Any], failure: Failure | None) -> None:
        if self._on_written is None:
            return
        try:
            self._on_written(items, failure)
        except Exception:  # the items' own callers are answered all the same
            log.exception("telling of a written batch of %d failed", len(items))

    def _write_alone(self, item: Any, waiter: defer.Deferred[Any] | None
                     ) -> defer.Deferred[None]:
        """Write one item of a failed batch in a transaction of its own; answer its caller."""

        def write(session: Session) -> Any:
            result = self._write(session, [item])
            return result[0] if isinstance(result, list) and len(result) == 1 else None

        def answer(result: object) -> None:
            failure = result if isinstance(result, Failure) else None
            self._tell_written([item], failure)
            if waiter is not None:
                if failure is not None:
                    waiter.errback(failure)
                else:
                    waiter.callback(result)
            elif failure is not None:
                log.error("an item could not be written on its own either: %s",
                          failure.getErrorMessage())

        return self._database.transaction(write, urgent=self._urgent).addBoth(answer)
