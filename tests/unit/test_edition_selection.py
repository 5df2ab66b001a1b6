"""Editorial order: explicit order, then channel weight, then date and id; at most N."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.editions.selection import (
    Candidate,
    SelectionError,
    channel_weight,
    select_articles,
)

DAY = date(2020, 11, 18)
HOT = ("教育新闻", "教育热点")
COLLEGE = ("教育新闻", "高校动态")
SPORT = ("体育",)


def candidates() -> list[Candidate]:
    return [
        Candidate(article_id=1, published=DAY, channel=COLLEGE),
        Candidate(article_id=2, published=DAY, channel=HOT),
        Candidate(article_id=3, published=DAY, channel=SPORT),
        Candidate(article_id=4, published=DAY, channel=HOT),
        Candidate(article_id=5, published=DAY, channel=()),
    ]


WEIGHTS = {"教育新闻/教育热点": 2.0, "教育新闻": 1.0, "体育": -1.0}


def order(placements: list) -> list[int]:  # type: ignore[type-arg]
    return [p.article_id for p in placements]


def test_without_weights_or_order_articles_keep_their_id_order() -> None:
    placements = select_articles(candidates(), max_articles=10)
    assert order(placements) == [1, 2, 3, 4, 5]
    assert [p.position for p in placements] == [1, 2, 3, 4, 5]
    assert [p.priority for p in placements] == [5, 4, 3, 2, 1]


def test_heavier_channels_first_longest_configured_path_wins() -> None:
    placements = select_articles(candidates(), max_articles=10, channel_weights=WEIGHTS)
    # 教育热点 2.0 (2, 4), 教育新闻 1.0 (1), unlisted 0 (5), 体育 -1 (3)
    assert order(placements) == [2, 4, 1, 5, 3]


def test_explicit_order_comes_first_then_the_rest_by_weight() -> None:
    placements = select_articles(candidates(), max_articles=10, channel_weights=WEIGHTS,
                                 explicit_order=[3, 1])
    assert order(placements) == [3, 1, 2, 4, 5]
    assert placements[0].priority == 5


def test_max_articles_keeps_the_first_ones() -> None:
    placements = select_articles(candidates(), max_articles=2, channel_weights=WEIGHTS)
    assert order(placements) == [2, 4]
    assert [p.priority for p in placements] == [2, 1]


@pytest.mark.parametrize(
    ("explicit", "message"),
    [
        ([1, 1], "repeats article 1"),
        ([9, 2, 8], "names article 9, 8, not among this edition's articles"),
        ([1, 2, 3], "names 3 articles; an edition holds at most 2"),
    ],
)
def test_an_explicit_order_that_cannot_be_followed_is_refused(
    explicit: list[int], message: str
) -> None:
    with pytest.raises(SelectionError, match=message):
        select_articles(candidates(), max_articles=2, explicit_order=explicit)


def test_channel_weight_separators() -> None:
    assert channel_weight(HOT, {("教育新闻",): 1.0, ("教育新闻", "教育热点"): 3.0}) == 3.0
    assert channel_weight(("教育新闻",), {("教育新闻", "教育热点"): 3.0}) == 0.0
    for key in ("教育新闻 › 教育热点", "教育新闻>教育热点", " 教育新闻 / 教育热点 "):
        placements = select_articles(candidates(), max_articles=10, channel_weights={key: 5})
        assert order(placements)[:2] == [2, 4]


@given(
    ids=st.lists(st.integers(1, 50), unique=True, min_size=1, max_size=20),
    data=st.data(),
    max_articles=st.integers(1, 25),
)
def test_selection_is_a_prefix_of_a_permutation_honouring_the_explicit_order(
    ids: list[int], data: st.DataObject, max_articles: int
) -> None:
    pool = [Candidate(article_id=i, published=DAY, channel=(HOT, COLLEGE, SPORT)[i % 3])
            for i in ids]
    explicit = data.draw(st.lists(st.sampled_from(ids), unique=True, max_size=max_articles))
    placements = select_articles(pool, max_articles=max_articles, explicit_order=explicit,
                                 channel_weights=WEIGHTS)
    chosen = order(placements)
    assert len(chosen) == min(len(ids), max_articles)
    assert len(set(chosen)) == len(chosen) and set(chosen) <= set(ids)
    assert chosen[: len(explicit)] == explicit
    assert [p.priority for p in placements] == list(range(len(chosen), 0, -1))
