"""Fit an SMS digest (header, items, footer) into a number of short messages.

The wording and layout belong to a template: the caller passes ``render``, called as
``render(header=..., items=..., footer=...)`` (a Jinja2 ``Template.render`` fits as is). This
module only decides *what* goes in: first it shortens summaries to a common length, and when
even the shortest allowed summaries do not fit it drops items, least important first, and tries
the longest summaries again with what remains.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from carriers.messages import TextCoding
from gateway.editions.segmentation import (
    DEFAULT_CODINGS,
    MAX_SEGMENTS,
    MessageTooLongError,
    ReferenceBits,
    count_segments,
)

ELLIPSIS = "…"
_ZWJ = "\u200d"


class DigestError(ValueError):
    """The digest cannot be fitted, or the template lost the header or the footer."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestItem:
    """One article line of a digest. A larger ``priority`` means more important; ``key`` is the
    caller's identifier (an article id, say), carried through untouched."""

    title: str
    summary: str
    priority: int = 0
    key: str | None = None


class DigestRenderer(Protocol):
    def __call__(self, *, header: str, items: Sequence[DigestItem], footer: str) -> str: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class FittedDigest:
    text: str
    segment_count: int
    items: tuple[DigestItem, ...]
    """The items as rendered, in their original order, summaries possibly shortened."""
    shortened: tuple[DigestItem, ...]
    """The original items whose summary was shortened."""
    dropped: tuple[DigestItem, ...]
    """The original items left out, in the order they were dropped."""


def fit_digest(
    *,
    header: str,
    items: Sequence[DigestItem],
    footer: str,
    render: DigestRenderer,
    max_segments: int,
    min_summary_chars: int = 12,
    min_items: int = 1,
    reference_bits: ReferenceBits = 8,
    codings: frozenset[TextCoding] = DEFAULT_CODINGS,
    force_ucs2: bool = False,
    ellipsis: str = ELLIPSIS,
) -> FittedDigest:
    """Render the digest so that it fits in ``max_segments`` short messages.

    Summaries are cut to the longest common length (never below ``min_summary_chars``,
    ellipsis included) that fits. If none fits, the item with the lowest priority is dropped
    (the later one on a tie) and the search starts again. Raises :class:`DigestError` when fewer
    than ``min_items`` items would remain, or when the rendered text omits the header or footer.
    Segments are counted in the coding :func:`~gateway.editions.segmentation.segment_text`
    would choose from ``codings`` (what the carrier's protocol can carry).
    """
    if max_segments < 1:
        raise ValueError(f"max_segments must be at least 1, not {max_segments}")
    if min_summary_chars < len(ellipsis):
        raise ValueError(f"min_summary_chars must leave room for {ellipsis!r}")

    def segments_of(text: str) -> int:
        try:
            return count_segments(text, reference_bits=reference_bits, codings=codings,
                                  force_ucs2=force_ucs2)
        except MessageTooLongError:
            return MAX_SEGMENTS + 1

    def attempt(kept: Sequence[DigestItem], limit: int | None) -> tuple[str, int]:
        shown = [_with_summary_limit(item, limit, ellipsis) for item in kept]
        text = render(header=header, items=shown, footer=footer)
        _check_frame(text, header, footer)
        return text, segments_of(text)

    dropped: list[DigestItem] = []
    kept = list(items)
    while len(kept) >= min_items:
        text, count = attempt(kept, None)
        if count <= max_segments:
            return _result(text, count, kept, None, dropped, ellipsis)
        longest = max((len(item.summary) for item in kept), default=0)
        limit = _largest_fitting_limit(
            lambda n: attempt(kept, n)[1] <= max_segments,
            low=min(min_summary_chars, longest),
            high=longest,
        )
        if limit is not None:
            text, count = attempt(kept, limit)
            return _result(text, count, kept, limit, dropped, ellipsis)
        if not kept:
            break
        dropped.append(kept.pop(_least_important(kept)))
    raise DigestError(
        f"the digest does not fit in {max_segments} short messages even with {min_items} item(s) "
        f"and summaries cut to {min_summary_chars} characters; shorten the header or footer, "
        "or allow more segments"
    )


def shorten_text(text: str, max_chars: int, *, ellipsis: str = ELLIPSIS) -> str:
    """Cut ``text`` to at most ``max_chars`` characters, ellipsis included.

    The cut never separates a character from its combining marks, variation selectors or
    emoji modifiers, never breaks a ZWJ sequence or a flag, and trailing spaces and
    punctuation before the ellipsis are removed. Text already short enough is returned as is.
    """
    if len(text) <= max_chars:
        return text
    if max_chars < len(ellipsis):
        raise ValueError(f"cannot shorten to {max_chars} characters with {ellipsis!r}")
    cut = _grapheme_safe_cut(text, max_chars - len(ellipsis))
    while cut > 0 and _is_trailing_noise(text[cut - 1]):
        cut -= 1
    return text[:cut] + ellipsis


def _with_summary_limit(item: DigestItem, limit: int | None, ellipsis: str) -> DigestItem:
    if limit is None or len(item.summary) <= limit:
        return item
    return replace(item, summary=shorten_text(item.summary, limit, ellipsis=ellipsis))


def _largest_fitting_limit(fits: Callable[[int], bool], *, low: int, high: int) -> int | None:
    """Binary search for the largest n in [low, high] with fits(n); None if not even low fits.

    Length is monotonic in n, so the segment count almost is (a cut can add a UCS2-only ellipsis
    to GSM text); the caller re-renders the chosen limit, so the answer is always checked.
    """
    if not fits(low):
        return None
    return largest_fitting(fits, low, high)


def largest_fitting(fits: Callable[[int], bool], low: int, high: int) -> int:
    """Largest n in [low, high] with fits(n), given fits(low) (binary search)."""
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _least_important(items: Sequence[DigestItem]) -> int:
    """Index of the item to drop: the lowest priority, the last one on a tie."""
    lowest = min(item.priority for item in items)
    return max(index for index, item in enumerate(items) if item.priority == lowest)


def _result(
    text: str,
    count: int,
    kept: Sequence[DigestItem],
    limit: int | None,
    dropped: Sequence[DigestItem],
    ellipsis: str,
) -> FittedDigest:
    shown = tuple(_with_summary_limit(item, limit, ellipsis) for item in kept)
    shortened = tuple(
        item for item, rendered in zip(kept, shown, strict=True) if rendered is not item
    )
    return FittedDigest(
        text=text, segment_count=count, items=shown, shortened=shortened, dropped=tuple(dropped)
    )


def _check_frame(text: str, header: str, footer: str) -> None:
    for name, part in (("header", header), ("footer", footer)):
        if part not in text:
            raise DigestError(f"the digest template must render the {name} {part!r} verbatim")


def _grapheme_safe_cut(text: str, cut: int) -> int:
    """Move ``cut`` left until text[:cut] ends on a whole user-perceived character."""
    while cut > 0 and (_extends_previous(text[cut]) or text[cut - 1] == _ZWJ):
        cut -= 1
    # Flags are pairs of regional indicators: keep an even number of them before the cut.
    run = 0
    while run < cut and _is_regional_indicator(text[cut - 1 - run]):
        run += 1
    if run % 2 == 1 and cut < len(text) and _is_regional_indicator(text[cut]):
        cut -= 1
    return cut


def _extends_previous(ch: str) -> bool:
    code = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Mc", "Me")
        or ch == _ZWJ
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # emoji skin-tone modifiers
        or 0xE0020 <= code <= 0xE007F  # emoji tag sequences
        or 0xE0100 <= code <= 0xE01EF  # variation selectors supplement
    )


def _is_regional_indicator(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _is_trailing_noise(ch: str) -> bool:
    """Spaces and punctuation that look wrong right before an ellipsis (closers are kept)."""
    return ch.isspace() or unicodedata.category(ch) in ("Po", "Pd", "Ps", "Pi", "Zs")
