"""Parser for news pages saved as plain text (a browser's "save as text" or a scraper's dump).

Such a page is a column of lines: the site header, a breadcrumb (``首页 >教育新闻 >教育热点``),
the title, a block of metadata (the date, possibly split over lines as ``2020`` /
``/ 11/18``, then ``来源:`` and ``作者:`` with their values on the same or the next line),
the body, the editors, and whatever the site prints after an article.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from gateway.articles.body_text import clean_body, is_byline_value
from gateway.articles.dates import DATE_FRAGMENT, parse_date
from gateway.articles.errors import ArticleError
from gateway.articles.furniture import FurnitureAction, match_furniture
from gateway.articles.metadata_lines import Bylines, parse_breadcrumb, parse_byline_line
from gateway.articles.model import ParsedArticle
from gateway.articles.normalisation import comparable, tidy


@dataclass(frozen=True, slots=True)
class _Head:
    """The metadata block between the title and the body."""

    start: int  # index of its first line
    end: int  # index of the first body line
    date_texts: tuple[str, ...]
    bylines: Bylines


def parse_scraped_text(text: str, *, origin: str) -> ParsedArticle:
    """Parse one article saved as text.  Raises :class:`ArticleError` (path ``origin``)."""
    lines = [line for line in map(tidy, text.splitlines()) if line]
    start, channel = _find_breadcrumb(lines)
    head = _find_head(lines, start)
    if head is None:
        raise ArticleError(origin, "no publication date found")
    title = _find_title(lines, start, head.start)
    if title is None:
        raise ArticleError(origin, "no title found")
    published = _published(head.date_texts, origin)
    body = clean_body(lines[head.end :], infer_captions=True)
    if not body.paragraphs:
        raise ArticleError(origin, "no body text found")
    bylines = head.bylines.or_else(body.bylines)
    return ParsedArticle(
        title=title,
        published=published,
        source=bylines.source,
        author=bylines.author,
        editor=bylines.editor,
        channel=channel,
        url=None,
        images=body.images,
        paragraphs=body.paragraphs,
        origin=origin,
    )


def _find_breadcrumb(lines: Sequence[str]) -> tuple[int, tuple[str, ...]]:
    """Where the article starts (after the breadcrumb) and the channel it names."""
    for index, line in enumerate(lines):
        channel = parse_breadcrumb(line)
        if channel is not None:
            return index + 1, channel
    return 0, ()


def _is_head_line(line: str) -> bool:
    return DATE_FRAGMENT.fullmatch(comparable(line)) is not None or (
        parse_byline_line(line) is not None
    )


def _find_head(lines: Sequence[str], start: int) -> _Head | None:
    first = next((i for i in range(start, len(lines)) if _is_head_line(lines[i])), None)
    if first is None:
        return None
    fragments: list[str] = []
    date_texts: list[str] = []
    bylines = Bylines()
    index = first
    while index < len(lines):
        line = lines[index]
        byline = parse_byline_line(line)
        if DATE_FRAGMENT.fullmatch(comparable(line)):
            fragments.append(line)
        elif byline is not None:
            date_texts.extend(byline.date_texts)
            bylines = byline.apply_to(bylines)
            label = byline.dangling_label
            if label and index + 1 < len(lines) and is_byline_value(lines[index + 1]):
                index += 1
                bylines = bylines.with_label(label, lines[index])
        elif not _is_dropped_furniture(line):
            break
        index += 1
    if fragments:
        date_texts.insert(0, " ".join(fragments))
    return _Head(start=first, end=index, date_texts=tuple(date_texts), bylines=bylines)


def _find_title(lines: Sequence[str], start: int, head_start: int) -> str | None:
    """The title is the last real line before the metadata block."""
    for index in range(head_start - 1, start - 1, -1):
        if match_furniture(lines[index]) is None:
            return lines[index]
    return None


def _is_dropped_furniture(line: str) -> bool:
    rule = match_furniture(line)
    return rule is not None and rule.action is FurnitureAction.DROP


def _published(date_texts: Sequence[str], origin: str) -> date:
    for text in date_texts:
        try:
            day = parse_date(text)
        except ValueError as error:
            raise ArticleError(origin, f"unparseable publication date: {error}") from None
        if day is not None:
            return day
    shown = date_texts[0] if date_texts else ""
    raise ArticleError(origin, f"unparseable publication date {shown!r}")
