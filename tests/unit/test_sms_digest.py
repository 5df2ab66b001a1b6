"""Fitting an SMS digest: shorten summaries, then drop the least important items."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.editions.segmentation import count_segments
from gateway.editions.sms_digest import DigestError, DigestItem, fit_digest, shorten_text

HEADER = "【某某手机报】"
FOOTER = "回复TD退订"


@pytest.fixture(scope="module")
def render() -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    return environment.get_template("sms_digest.txt.j2")


def items(count: int, summary_length: int = 60) -> list[DigestItem]:
    return [
        DigestItem(
            title=f"要闻{n}",
            summary=("今天发生了一件重要的事情，" * 10)[:summary_length],
            priority=count - n,  # the first item is the most important
        )
        for n in range(count)
    ]


def test_a_digest_that_fits_is_left_alone(render: jinja2.Template) -> None:
    fitted = fit_digest(
        header=HEADER, items=items(2, 20), footer=FOOTER, render=render.render, max_segments=8
    )
    assert fitted.shortened == () and fitted.dropped == ()
    assert fitted.text == render.render(header=HEADER, items=items(2, 20), footer=FOOTER)
    assert fitted.segment_count == count_segments(fitted.text)


def test_summaries_are_shortened_to_the_longest_length_that_fits(
    render: jinja2.Template,
) -> None:
    original = items(5, 60)
    fitted = fit_digest(
        header=HEADER, items=original, footer=FOOTER, render=render.render, max_segments=3
    )
    assert fitted.dropped == ()
    assert fitted.segment_count <= 3 == count_segments(fitted.text)
    assert set(fitted.shortened) == set(original)
    limit = max(len(item.summary) for item in fitted.items)
    for before, after in zip(original, fitted.items, strict=True):
        assert after.title == before.title
        assert after.summary.endswith("…")
        assert before.summary.startswith(after.summary[:-1])
    # One character more for everyone would not fit.
    longer = [
        DigestItem(title=i.title, summary=shorten_text(i.summary, limit + 1), priority=i.priority)
        for i in original
    ]
    assert count_segments(render.render(header=HEADER, items=longer, footer=FOOTER)) > 3


def test_items_are_dropped_lowest_priority_first_ties_from_the_end(
    render: jinja2.Template,
) -> None:
    original = [
        DigestItem(title="甲", summary="长" * 60, priority=2),
        DigestItem(title="乙", summary="长" * 60, priority=1),
        DigestItem(title="丙", summary="长" * 60, priority=3),
        DigestItem(title="丁", summary="长" * 60, priority=1),
    ]
    fitted = fit_digest(
        header=HEADER,
        items=original,
        footer=FOOTER,
        render=render.render,
        max_segments=1,
        min_summary_chars=20,
    )
    assert [item.title for item in fitted.dropped] == ["丁", "乙"]
    assert [item.title for item in fitted.items] == ["甲", "丙"]
    assert fitted.segment_count == 1
    assert fitted.text.startswith(HEADER) and fitted.text.endswith(FOOTER)


def test_impossible_digest_raises_a_clear_error(render: jinja2.Template) -> None:
    with pytest.raises(DigestError, match="does not fit in 1 short messages"):
        fit_digest(
            header="【" + "长" * 80 + "】",
            items=items(1),
            footer=FOOTER,
            render=render.render,
            max_segments=1,
        )


def test_a_template_that_loses_the_footer_is_refused() -> None:
    def forgetful(*, header: str, items: Sequence[DigestItem], footer: str) -> str:
        return header + "".join(item.title for item in items)

    with pytest.raises(DigestError, match="footer"):
        fit_digest(header=HEADER, items=items(1), footer=FOOTER, render=forgetful, max_segments=8)


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("短文本", 10, "短文本"),
        ("今天天气很好，适合出门", 8, "今天天气很好…"),  # the comma before the ellipsis goes
        ("abcdef", 4, "abc…"),
        ("cafe\u0301s", 5, "caf…"),  # never separate e from its combining accent
        ("ab👨\u200d👩\u200d👧cd", 5, "ab…"),  # never break a ZWJ sequence
        ("ab👍🏽cd", 4, "ab…"),  # nor an emoji from its skin tone
        ("a🇨🇳🇯🇵b", 4, "a🇨🇳…"),  # flags are pairs of regional indicators
        ("x😀yz", 3, "x😀…"),  # astral characters are one character in Python
    ],
)
def test_shorten_text(text: str, limit: int, expected: str) -> None:
    assert shorten_text(text, limit) == expected
    assert len(shorten_text(text, limit)) <= limit


ITEM = st.builds(
    DigestItem,
    title=st.text(st.sampled_from("要闻体育财经天气ABC"), min_size=1, max_size=8),
    summary=st.text(
        st.one_of(
            st.sampled_from("今天发生了事情，。abc 😀"), st.characters(exclude_categories=("Cs",))
        ),
        max_size=120,
    ),
    priority=st.integers(0, 3),
)


@settings(max_examples=80, deadline=None)
@given(digest=st.lists(ITEM, max_size=10), max_segments=st.integers(1, 4))
def test_any_digest_fits_or_is_empty(
    render: jinja2.Template, digest: list[DigestItem], max_segments: int
) -> None:
    fitted = fit_digest(
        header=HEADER,
        items=digest,
        footer=FOOTER,
        render=render.render,
        max_segments=max_segments,
        min_items=0,
    )
    assert count_segments(fitted.text) == fitted.segment_count <= max_segments
    assert fitted.text.startswith(HEADER) and fitted.text.endswith(FOOTER)
    assert len(fitted.items) + len(fitted.dropped) == len(digest)
    kept_priorities = [item.priority for item in fitted.items]
    assert all(
        dropped.priority <= min(kept_priorities, default=dropped.priority)
        for dropped in fitted.dropped
    )


def test_a_digest_far_beyond_255_parts_is_fitted_not_refused(render: jinja2.Template) -> None:
    many = [DigestItem(title=f"第{n}条", summary="长" * 3000, priority=n % 5) for n in range(20)]
    fitted = fit_digest(
        header=HEADER, items=many, footer=FOOTER, render=render.render, max_segments=8
    )
    assert fitted.segment_count <= 8
    assert {item.priority for item in fitted.items} >= {4}
