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
    """Each Deferred's result in its own place, once it fires (``...`` until then)."""
    out: list[Any] = [...] * len(deferreds)
    for index, d in enumerate(deferreds):
        d.addBoth(lambda result, index=index: out.__setitem__(index, result))
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
    assert got == [...] * 3  # written in the next reactor turn, not in the caller's
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


class _HeldDatabase:
    """Holds every transaction until the test lets it run; records the batches queued."""

    def __init__(self) -> None:
        self.pending: list[tuple[list[Any], defer.Deferred[Any]]] = []

    def transaction(self, work: Any, *, urgent: bool = False) -> defer.Deferred[Any]:
        done: defer.Deferred[Any] = defer.Deferred()
        seen: list[Any] = []

        def run(_: object) -> Any:
            return work(seen)

        self.pending.append((seen, done))
        return done.addCallback(run)

    def finish(self, index: int) -> None:
        self.pending[index][1].callback(None)


def _keyed(database: _HeldDatabase, clock: Clock, *, fail: str | None = None) -> tuple[
        BatchWriter, list[list[str]]]:
    written: list[list[str]] = []

    def write(session: list[Any], items: list[str]) -> list[str]:
        if fail is not None and fail in items and len(items) > 1:
            raise ValueError("a bad item in the batch")
        written.append(list(items))
        return [item.upper() for item in items]

    return BatchWriter(database, clock, write, interval=1.0, size=100,  # type: ignore[arg-type]
                       urgent=True, alone_on_failure=True,
                       key=lambda item: item.split(":")[0]), written


def test_keyed_batches_do_not_wait_for_each_other_but_one_key_keeps_its_order() -> None:
    database, clock = _HeldDatabase(), Clock()
    writer, written = _keyed(database, clock)
    first = _results([writer.add("a:1"), writer.add("b:1")])
    clock.advance(0)
    assert len(database.pending) == 1  # a:1 and b:1 are being written
    second = _results([writer.add("c:1"), writer.add("a:2"), writer.add("d:1"),
                       writer.add("a:3")])
    clock.advance(0)
    # c and d go at once, beside the first batch; a's next ones wait for a:1.
    assert len(database.pending) == 2
    database.finish(1)
    assert written == [["c:1", "d:1"]] and second[0] == "C:1" and second[2] == "D:1"
    database.finish(0)
    clock.advance(0)
    assert first == ["A:1", "B:1"] and len(database.pending) == 3
    database.finish(2)
    assert written[-1] == ["a:2", "a:3"] and second[1] == "A:2" and second[3] == "A:3"


def test_keyed_writer_has_two_batches_in_the_database_at_most() -> None:
    database, clock = _HeldDatabase(), Clock()
    writer, written = _keyed(database, clock)
    for turn in range(4):
        writer.add(f"n{turn}:1")
        clock.advance(0)
    assert len(database.pending) == 2  # n2 and n3 gather meanwhile
    database.finish(0)
    clock.advance(0)
    assert len(database.pending) == 3
    database.finish(1)
    database.finish(2)
    assert written == [["n0:1"], ["n1:1"], ["n2:1", "n3:1"]]
    flushed = _results([writer.flush()])
    assert flushed == [None]


def test_a_keyed_batch_that_fails_releases_its_keys_after_the_items_are_written_alone() -> None:
    database, clock = _HeldDatabase(), Clock()
    writer, written = _keyed(database, clock, fail="bad:1")
    got = _results([writer.add("bad:1"), writer.add("ok:1")])
    clock.advance(0)
    later = _results([writer.add("ok:2")])
    database.finish(0)  # the batch fails; each item is written again on its own
    clock.advance(0)
    assert len(database.pending) == 3  # bad:1 alone, ok:1 alone; ok:2 still waits for ok:1
    database.finish(1)
    database.finish(2)
    assert got == ["BAD:1", "OK:1"]
    clock.advance(0)
    database.finish(3)
    assert later == ["OK:2"] and written[-1] == ["ok:2"]
    flushed = _results([writer.flush()])
    assert flushed == [None]


def test_on_written_hears_of_a_batch_once_after_it_committed_and_before_its_waiters() -> None:
    database, clock = _HeldDatabase(), Clock()
    events: list[Any] = []

    def on_written(items: list[str], failure: Failure | None) -> None:
        events.append(("written", list(items), failure))

    writer = BatchWriter(database, clock, lambda _s, items: None, interval=1.0,  # type: ignore[arg-type]
                         size=100, on_written=on_written)
    writer.add_nowait("a")
    writer.add("b").addCallback(lambda result: events.append(("b", result)))
    writer.add_nowait("c")
    clock.advance(0)
    assert len(database.pending) == 1 and events == []  # queued, not committed: nothing yet
    database.finish(0)
    assert events == [("written", ["a", "b", "c"], None), ("b", None)]


def test_on_written_hears_of_a_failed_batch_with_its_failure() -> None:
    database, clock = _Database(), Clock()
    told: list[tuple[list[str], Failure | None]] = []

    def write(_session: Any, items: list[str]) -> None:
        raise ValueError("no")

    writer = BatchWriter(database, clock, write, interval=1.0, size=100,  # type: ignore[arg-type]
                         on_written=lambda items, failure: told.append((list(items), failure)))
    writer.add_nowait("a")
    got = _results([writer.add("b")])
    clock.advance(0)
    assert len(told) == 1 and told[0][0] == ["a", "b"]
    assert told[0][1] is not None and told[0][1].check(ValueError)
    assert isinstance(got[0], Failure)


def test_a_failed_batch_retried_alone_tells_each_item_with_its_own_outcome() -> None:
    database, clock = _HeldDatabase(), Clock()
    told: list[tuple[list[str], bool]] = []

    def write(_session: Any, items: list[str]) -> list[str]:
        if "bad" in items:
            raise ValueError("bad item")
        return [item.upper() for item in items]

    writer = BatchWriter(database, clock, write, interval=1.0, size=100,  # type: ignore[arg-type]
                         alone_on_failure=True,
                         on_written=lambda items, failure: told.append(
                             (list(items), failure is None)))
    writer.add_nowait("a")
    got = _results([writer.add("bad"), writer.add("c")])
    clock.advance(0)
    database.finish(0)  # the batch fails: nobody is told of it as a batch
    assert told == [] and got == [..., ...]
    database.finish(1)  # "a" alone commits; "bad" and "c" are still being written
    assert told == [(["a"], True)] and got == [..., ...]
    database.finish(2)
    database.finish(3)
    assert told == [(["a"], True), (["bad"], False), (["c"], True)]
    assert isinstance(got[0], Failure) and got[1] == "C"  # only the bad item's caller fails
