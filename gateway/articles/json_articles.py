"""Parser for articles delivered as JSON: one object, or a list of objects.

Keys of an article object (anything else is rejected, to catch typos):

``title`` (string, required)
``date`` or ``published`` (string, required): ``2020-11-18``, ``2020-11-18T09:30:00+08:00``,
    ``2020年11月18日`` …
``body`` (required): a string whose paragraphs are separated by blank lines, or a list of
    paragraph strings
``source``, ``author``, ``editor``, ``url``, ``id`` (string or null)
``channel``: a list of strings, or one string like ``"教育新闻 > 教育热点"``
``images``: a list whose items are an address string or ``{"src": ..., "caption": ...}``
    (``alt`` is accepted in place of ``caption``)

The body is taken as written: JSON is the clean way in, so no page furniture is filtered.
``id`` becomes the article's origin; without it the origin is the file name (with ``#N``
for the N-th object of a list).
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

from gateway.articles.body_text import split_plain_paragraphs
from gateway.articles.dates import parse_date
from gateway.articles.errors import ArticleError
from gateway.articles.model import ImageRef, ParsedArticle, canonical_url
from gateway.articles.normalisation import tidy

ARTICLE_KEYS = frozenset(
    {"id", "title", "date", "published", "source", "author", "editor", "channel", "url",
     "images", "body"}
)  # fmt: skip
IMAGE_KEYS = frozenset({"src", "caption", "alt"})
_CHANNEL_SEPARATOR = re.compile(r"\s*[>›»/]\s*")


def parse_json_articles(text: str, *, origin: str) -> list[ParsedArticle]:
    """Parse a JSON article file.  Raises :class:`ArticleError` naming the bad key."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ArticleError(
            origin, f"not valid JSON (line {error.lineno} column {error.colno}: {error.msg})"
        ) from None
    if isinstance(document, dict):
        return [_ArticleObject(document, file=origin, origin=origin, where="").parse()]
    if not isinstance(document, list):
        raise ArticleError(origin, "expected a JSON object or a list of objects")
    if not document:
        raise ArticleError(origin, "the list holds no articles")
    articles = []
    for number, item in enumerate(document, start=1):
        where = f"item {number}: "
        if not isinstance(item, dict):
            raise ArticleError(origin, f"{where}expected an object, not {_kind(item)}")
        article = _ArticleObject(item, file=origin, origin=f"{origin}#{number}", where=where)
        articles.append(article.parse())
    return articles


class _ArticleObject:
    """Reads and checks one article object; errors name the item and the key."""

    def __init__(self, fields: dict[str, Any], *, file: str, origin: str, where: str) -> None:
        self.fields = fields
        self.file = file
        self.default_origin = origin
        self.where = where

    def parse(self) -> ParsedArticle:
        unknown = sorted(set(self.fields) - ARTICLE_KEYS)
        if unknown:
            raise self.error(unknown[0], "is not a known article key")
        title = self.text("title", required=True)
        assert title is not None
        paragraphs = self.paragraphs()
        if not paragraphs:
            raise self.error("body", "holds no text")
        return ParsedArticle(
            title=title,
            published=self.published(),
            source=self.text("source"),
            author=self.text("author"),
            editor=self.text("editor"),
            channel=self.channel(),
            url=self.url(),
            images=self.images(),
            paragraphs=paragraphs,
            origin=self.text("id") or self.default_origin,
        )

    def error(self, key: str, problem: str) -> ArticleError:
        return ArticleError(self.file, f"{self.where}key {key!r} {problem}")

    def text(self, key: str, *, required: bool = False) -> str | None:
        value = self.fields.get(key)
        if value is None:
            if required:
                raise self.error(key, "is missing")
            return None
        if not isinstance(value, str):
            raise self.error(key, f"must be a string, not {_kind(value)}")
        cleaned = tidy(value)
        if required and not cleaned:
            raise self.error(key, "is empty")
        return cleaned or None

    def published(self) -> date:
        present = [key for key in ("date", "published") if self.fields.get(key) is not None]
        if not present:
            raise self.error("date", "is missing (no publication date found)")
        if len(present) > 1:
            raise self.error("published", "repeats 'date': give only one of them")
        key = present[0]
        raw = self.text(key, required=True)
        assert raw is not None
        try:
            day = parse_date(raw)
        except ValueError as error:
            raise self.error(key, f"is an unparseable publication date: {error}") from None
        if day is None:
            raise self.error(key, f"is an unparseable publication date: {raw!r}")
        return day

    def paragraphs(self) -> tuple[str, ...]:
        body = self.fields.get("body")
        if body is None:
            raise self.error("body", "is missing")
        if isinstance(body, str):
            return tuple(split_plain_paragraphs(body))
        if isinstance(body, list):
            for index, item in enumerate(body):
                if not isinstance(item, str):
                    raise self.error("body", f"item {index} must be a string, not {_kind(item)}")
            return tuple(p for p in map(tidy, body) if p)
        raise self.error("body", f"must be a string or a list of strings, not {_kind(body)}")

    def channel(self) -> tuple[str, ...]:
        channel = self.fields.get("channel")
        if channel is None:
            return ()
        if isinstance(channel, str):
            return tuple(p for p in _CHANNEL_SEPARATOR.split(tidy(channel)) if p)
        if isinstance(channel, list) and all(isinstance(part, str) for part in channel):
            return tuple(p for p in map(tidy, channel) if p)
        raise self.error("channel", "must be a string or a list of strings")

    def url(self) -> str | None:
        raw = self.text("url")
        if raw is None:
            return None
        try:
            url = canonical_url(raw)
        except ValueError as error:
            raise self.error("url", f"is not a usable URL ({error})") from None
        if not url.startswith(("http://", "https://")) or url.startswith(("http:///", "https:///")):
            raise self.error("url", f"is not an absolute http(s) URL: {raw!r}")
        return url

    def images(self) -> tuple[ImageRef, ...]:
        images = self.fields.get("images")
        if images is None:
            return ()
        if not isinstance(images, list):
            raise self.error("images", f"must be a list, not {_kind(images)}")
        return tuple(self._image(index, item) for index, item in enumerate(images))

    def _image(self, index: int, item: object) -> ImageRef:
        if isinstance(item, str) and item.strip():
            return ImageRef(src=item.strip())
        if not isinstance(item, dict):
            raise self.error("images", f"item {index} must be a string or an object")
        unknown = sorted(set(item) - IMAGE_KEYS)
        if unknown:
            raise self.error("images", f"item {index} has unknown key {unknown[0]!r}")
        src = item.get("src")
        if not isinstance(src, str) or not src.strip():
            raise self.error("images", f"item {index} needs a string 'src'")
        caption = item.get("caption", item.get("alt"))
        if caption is not None and not isinstance(caption, str):
            raise self.error("images", f"item {index} caption must be a string")
        return ImageRef(src=src.strip(), caption=tidy(caption) if caption else None)


def _kind(value: object) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "true/false",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)
