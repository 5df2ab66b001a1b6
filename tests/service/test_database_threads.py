"""The database pool runs urgent work (a subscriber's MO) before ordinary work queued earlier."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from gateway.db.threads import DatabaseThreads


def _occupy(pool: DatabaseThreads, release: threading.Event) -> defer.Deferred[Any]:
    """Take the pool's one thread until ``release`` is set; return once it is taken."""
    taken = threading.Event()

    def hold() -> None:
        taken.set()
        release.wait(10)

    busy = pool.run(hold)
    assert taken.wait(10)
    return busy


def _pool(threads: int = 1) -> DatabaseThreads:
    pool = DatabaseThreads(None, reactor=reactor, threads=threads)  # type: ignore[arg-type]
    pool.startService()
    return pool


@pytest_twisted.ensureDeferred
async def test_urgent_work_overtakes_queued_ordinary_work() -> None:
    pool = _pool()
    release = threading.Event()
    order: list[str] = []
    try:
        busy = _occupy(pool, release)  # the one thread is taken
        ordinary = [pool.run(order.append, f"batch {n}") for n in range(3)]
        urgent = pool.run(order.append, "MO", urgent=True)
        release.set()
        await defer.gatherResults([busy, *ordinary, urgent])
    finally:
        pool.stopService()
    assert order == ["MO", "batch 0", "batch 1", "batch 2"]


@pytest_twisted.ensureDeferred
async def test_each_call_gets_its_own_result_and_errors_reach_their_caller() -> None:
    pool = _pool(threads=2)

    def fail() -> Any:
        raise ValueError("no such table")

    try:
        first = pool.run(lambda: 1)
        broken = pool.run(fail, urgent=True)
        second = pool.run(lambda: 2)
        assert await first == 1
        assert await second == 2
        with pytest.raises(ValueError, match="no such table"):
            await broken
    finally:
        pool.stopService()


@pytest_twisted.ensureDeferred
async def test_a_flood_of_urgent_work_leaves_ordinary_work_a_turn() -> None:
    from gateway.db.threads import URGENT_STREAK

    pool = _pool()
    release = threading.Event()
    order: list[str] = []
    try:
        busy = _occupy(pool, release)
        ordinary = pool.run(order.append, "batch")
        urgent = [pool.run(order.append, f"MO {n}", urgent=True)
                  for n in range(2 * URGENT_STREAK)]
        release.set()
        await defer.gatherResults([busy, ordinary, *urgent])
    finally:
        pool.stopService()
    assert order.index("batch") == URGENT_STREAK
