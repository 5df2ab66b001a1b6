"""Group commit: per-item results, and a failed batch retried item by item when asked."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from gateway.db.batch_writer import BatchWriter


class _Database:
    """Runs each transaction at once on a stand-in session; counts them and their lanes."""

    def __init__(self) -> None:
        self.transactions: list[bool] = []

    def transaction(self, work: Any, *, urgent: bool = False) -> defer.Deferred[Any]:
        self.transactions.append(urgent)
        try:
            return defer.succeed(work(object()))
        except Exception:  # the failure goes to the caller, as the pool does
            return defer.fail(Failure())


def _results(deferreds: list[defer.Deferred[Any]]) -> list[Any]:
    out: list[Any] = []
    for d in deferreds:
        d.addBoth(out.append)
    return out


def test_each_caller_gets_its_own_items_result_from_one_transaction() -> None:
    database, clock = _Database(), Clock()
    batches: list[list[int]] = []

    def write(_session: Any, items: list[int]) -> list[int]:
        batches.append(list(items))
        return [item * 10 for item in items]

    writer = BatchWriter(database, clock, write, interval=1.0, size=100,  # type: ignore[arg-type]
                         urgent=True)
    got = _results([writer.add(1), writer.add(2), writer.add(3)])
    assert got == []  # written in the next reactor turn, not in the caller's
    clock.advance(0)
    assert batches == [[1, 2, 3]] and got == [10, 20, 30]
    assert database.transactions == [True]


def test_a_write_without_per_item_results_fires_with_none() -> None:
    database, clock = _Database(), Clock()
    writer = BatchWriter(database, clock, lambda _s, items: None, interval=1.0,  # type: ignore[arg-type]
                         size=100)
    got = _results([writer.add("a"), writer.add("b")])
    clock.advance(0)
    assert got == [None, None] and database.transactions == [False]


def test_a_failed_batch_is_retried_alone_so_only_the_bad_item_fails() -> None:
    database, clock = _Database(), Clock()

    def write(_session: Any, items: list[str]) -> list[str]:
        if "bad" in items:
            raise ValueError("bad item")
        return [item.upper() for item in items]

    writer = BatchWriter(database, clock, write, interval=1.0, size=100,  # type: ignore[arg-type]
                         alone_on_failure=True)
    got = _results([writer.add("a"), writer.add("bad"), writer.add("c")])
    clock.advance(0)
    assert got[0] == "A" and got[2] == "C"
    assert isinstance(got[1], Failure) and got[1].check(ValueError)
    assert len(database.transactions) == 4  # the batch, then each item on its own


def test_without_retry_a_failed_batch_fails_every_caller() -> None:
    database, clock = _Database(), Clock()

    def write(_session: Any, items: list[str]) -> None:
        raise ValueError("no")

    writer = BatchWriter(database, clock, write, interval=1.0, size=100)  # type: ignore[arg-type]
    got = _results([writer.add("a"), writer.add("b")])
    clock.advance(0)
    assert all(isinstance(r, Failure) for r in got) and len(database.transactions) == 1


def test_items_arriving_during_a_write_go_together_right_after_it() -> None:
    clock = Clock()
    pending: list[defer.Deferred[Any]] = []
    batches: list[list[int]] = []

    class SlowDatabase:
        def transaction(self, work: Any, *, urgent: bool = False) -> defer.Deferred[Any]:
            done: defer.Deferred[Any] = defer.Deferred()
            pending.append(done)
            done.addCallback(lambda _: work(object()))
            return done

    def write(_session: Any, items: list[int]) -> None:
        batches.append(list(items))

    writer = BatchWriter(SlowDatabase(), clock, write, interval=5.0, size=100)  # type: ignore[arg-type]
    writer.add(1)
    clock.advance(0)
    assert len(pending) == 1  # the first batch is being written
    for item in (2, 3, 4):
        writer.add(item)
    clock.advance(0)
    assert len(pending) == 1  # they wait for it, not for the interval
    pending[0].callback(None)
    clock.advance(0)
    pending[1].callback(None)
    assert batches == [[1], [2, 3, 4]]
