"""Which articles go into an edition, in which order. Pure: data in, data out.

Editorial order is: the explicit order first (article ids, from ``sdgw edition build --order``
or ``editions.order`` in the configuration), then the remaining articles by channel weight
(heavier first), then by publication date and article id (the order they were stored in).
At most ``max_articles`` are kept. Each kept article gets a priority for fitting the SMS digest:
the first article the highest, the last one 1, so fitting drops from the end.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from gateway.errors import GatewayError

#: Separators accepted between the levels of a channel path in ``editions.channel_weights``.
_CHANNEL_SEPARATORS = re.compile(r"\s*[/›>]\s*")


class SelectionError(GatewayError):
    """The explicit order cannot be followed (unknown or repeated ids, too many)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    article_id: int
    published: date
    channel: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Placement:
    article_id: int
    position: int
    """1-based."""
    priority: int
    """Larger is more important; the last placed article has 1."""


def select_articles(
    candidates: Sequence[Candidate],
    *,
    max_articles: int,
    explicit_order: Sequence[int] = (),
    channel_weights: Mapping[str, float] | None = None,
) -> list[Placement]:
    """Order ``candidates`` editorially and keep the first ``max_articles``.

    Raises :class:`SelectionError` when ``explicit_order`` repeats an id, names an article that
    is not a candidate, or names more than ``max_articles`` articles.
    """
    if max_articles < 1:
        raise ValueError(f"max_articles must be at least 1, not {max_articles}")
    by_id = {candidate.article_id: candidate for candidate in candidates}
    repeated = sorted({i for i in explicit_order if list(explicit_order).count(i) > 1})
    if repeated:
        raise SelectionError(f"the explicit order repeats article {_few(repeated, 10)}")
    unknown = [i for i in explicit_order if i not in by_id]
    if unknown:
        raise SelectionError(
            f"the explicit order names article {_few(unknown, 10)}, not among this edition's "
            f"articles ({_valid(sorted(by_id))})"
        )
    if len(explicit_order) > max_articles:
        raise SelectionError(
            f"the explicit order names {len(explicit_order)} articles; an edition holds at most "
            f"{max_articles} (editions.max_articles)"
        )
    weights = _parse_weights(channel_weights or {})
    pinned = set(explicit_order)
    rest = sorted(
        (c for c in candidates if c.article_id not in pinned),
        key=lambda c: (-channel_weight(c.channel, weights), c.published, c.article_id),
    )
    ordered = [*explicit_order, *(c.article_id for c in rest)][:max_articles]
    count = len(ordered)
    return [
        Placement(article_id=article_id, position=index, priority=count - index + 1)
        for index, article_id in enumerate(ordered, start=1)
    ]


def channel_weight(
    channel: Sequence[str], weights: Mapping[tuple[str, ...], float]
) -> float:
    """The weight of the longest configured path that ``channel`` starts with; else 0."""
    best: tuple[int, float] = (0, 0.0)
    for path, weight in weights.items():
        if len(path) > best[0] and tuple(channel[: len(path)]) == path:
            best = (len(path), weight)
    return best[1]


def _parse_weights(weights: Mapping[str, float]) -> dict[tuple[str, ...], float]:
    parsed = {}
    for key, weight in weights.items():
        path = tuple(part for part in _CHANNEL_SEPARATORS.split(key.strip()) if part)
        if path:
            parsed[path] = weight
    return parsed


def _ids(ids: Sequence[int]) -> str:
    return ", ".join(str(i) for i in ids)


def _few(ids: Sequence[int], most: int) -> str:
    """At most ``most`` ids, and how many there are when some are left out."""
    if len(ids) <= most:
        return _ids(ids)
    return f"{_ids(ids[:most])} … ({len(ids)} in all)"


def _valid(ids: Sequence[int]) -> str:
    if not ids:
        return "it has none"
    if len(ids) <= 5:
        return f"valid: {_ids(ids)}"
    return f"e.g. valid: {_ids(ids[:3])} … ({len(ids)} in all)"
