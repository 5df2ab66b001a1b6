"""The long-run collector policy: the built tree is frozen and young collections are rarer."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from gateway.gc_policy import OLDER_THRESHOLDS, YOUNG_THRESHOLD, tune_for_long_run


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_tuning_freezes_what_exists_and_raises_the_young_threshold() -> None:
    kept = [object() for _ in range(10)]  # objects alive when the tree is built
    gc.unfreeze()
    assert gc.get_freeze_count() == 0

    tune_for_long_run()

    assert gc.get_threshold() == (YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
    assert gc.get_freeze_count() > 0
    assert kept  # still ours: freezing moves objects out of scans, it frees nothing


@pytest.mark.usefixtures("restored_collector")
def test_cyclic_garbage_made_after_tuning_is_still_collected() -> None:
    tune_for_long_run()

    class Node:
        other: object = None

    first, second = Node(), Node()
    first.other, second.other = second, first
    del first, second
    assert gc.collect() >= 2
