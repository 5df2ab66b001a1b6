"""Parser for RSS and Atom feeds (via feedparser): one feed gives many articles.

Each item needs a title and a publication date.  Its body is the full content
(``content:encoded``, Atom ``<content>``) when there is one, else the summary; HTML goes
through the same cleaning as a page body.  来源 is a byline in the content, else the item's
``<source>``; the channel comes from the item's categories.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import Any

import feedparser

from gateway.articles.body_text import CleanBody, clean_body, split_plain_paragraphs
from gateway.articles.dates import parse_date
from gateway.articles.errors import ArticleError
from gateway.articles.html_page import clean_html_fragment
from gateway.articles.metadata_lines import Bylines
from gateway.articles.model import ImageRef, ParsedArticle, canonical_url
from gateway.articles.normalisation import tidy

_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_HTML_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>")
_CATEGORY_SEPARATOR = re.compile(r"\s*[>›»/]\s*")
_DATE_KEYS = ("published", "updated", "created")


def parse_feed(text: str, *, origin: str) -> list[ParsedArticle]:
    """Parse every item of an RSS or Atom feed.  A bad item rejects the whole feed.

    Raises :class:`ArticleError` (path ``origin``); item problems name the item.
    """
    # The text is already decoded: drop the declared encoding and hand feedparser UTF-8.
    # A stream, because feedparser would try to open a bytes or str argument as a path.
    document = _XML_DECLARATION.sub("", text, count=1).encode("utf-8")
    feed = feedparser.parse(io.BytesIO(document), sanitize_html=True, resolve_relative_uris=True)
    if not feed.entries:
        if feed.bozo:
            reason = tidy(str(feed.get("bozo_exception", "malformed XML")))
            raise ArticleError(origin, f"not a valid RSS/Atom feed ({reason})")
        if not feed.version:
            raise ArticleError(origin, "not an RSS/Atom feed (unknown root element)")
        raise ArticleError(origin, "feed has no items")
    return [
        _parse_entry(entry, feed_origin=origin, number=number)
        for number, entry in enumerate(feed.entries, start=1)
    ]


def _parse_entry(entry: Mapping[str, Any], *, feed_origin: str, number: int) -> ParsedArticle:
    entry_id = tidy(entry.get("id", ""))
    origin = entry_id or f"{feed_origin}#{number}"
    item = f"item {number} ({entry_id})" if entry_id else f"item {number}"

    def fail(reason: str) -> ArticleError:
        return ArticleError(feed_origin, f"{item}: {reason}")

    title = _plain(entry.get("title", ""))
    if not title:
        raise fail("no title found")
    raw_date = next((entry[key] for key in _DATE_KEYS if entry.get(key)), None)
    if raw_date is None:
        raise fail("no publication date found")
    try:
        published = parse_date(raw_date)
    except ValueError as error:
        raise fail(f"unparseable publication date: {error}") from None
    if published is None:
        raise fail(f"unparseable publication date {raw_date!r}")
    url = _entry_url(entry)
    body = _entry_body(entry, base_url=url)
    if not body.paragraphs:
        raise fail("no body text found")
    source = entry.get("source", {})
    bylines = body.bylines.or_else(
        Bylines(
            source=_plain(source.get("title", "")) or None,
            author=_plain(entry.get("author", "")) or None,
        )
    )
    return ParsedArticle(
        title=title,
        published=published,
        source=bylines.source,
        author=bylines.author,
        editor=bylines.editor,
        channel=_entry_channel(entry),
        url=url,
        images=_with_enclosures(body.images, entry),
        paragraphs=body.paragraphs,
        origin=origin,
    )


def _entry_url(entry: Mapping[str, Any]) -> str | None:
    link = entry.get("link")
    if not link:
        return None
    try:
        return canonical_url(link)
    except ValueError:
        return None


def _entry_body(entry: Mapping[str, Any], *, base_url: str | None) -> CleanBody:
    contents = entry.get("content") or []
    detail = contents[0] if contents else entry.get("summary_detail")
    if not detail:
        return clean_body([])
    value = detail.get("value", "")
    if "html" in detail.get("type", "") and _HTML_TAG.search(value):
        return clean_html_fragment(value, base_url=base_url)
    return clean_body(split_plain_paragraphs(value))


def _entry_channel(entry: Mapping[str, Any]) -> tuple[str, ...]:
    channel: list[str] = []
    for tag in entry.get("tags") or []:
        term = tidy(tag.get("term") or tag.get("label") or "")
        channel.extend(part for part in _CATEGORY_SEPARATOR.split(term) if part)
    return tuple(dict.fromkeys(channel))


def _with_enclosures(
    images: tuple[ImageRef, ...], entry: Mapping[str, Any]
) -> tuple[ImageRef, ...]:
    known = {image.src for image in images}
    extra: list[ImageRef] = []
    for enclosure in entry.get("enclosures") or []:
        href = enclosure.get("href")
        if href and enclosure.get("type", "").startswith("image/") and href not in known:
            known.add(href)
            extra.append(ImageRef(src=href))
    return (*images, *extra)


def _plain(value: str) -> str:
    """Text of a title or name that may carry markup or entities."""
    return tidy(_HTML_TAG.sub("", value))
