"""From article files on disk to :class:`ParsedArticle` values.

:func:`parse_path` reads one file, decodes it (UTF-8, else GB18030, which covers GBK and
GB2312), recognises its format and hands it to the matching parser.
:func:`iter_article_files` expands folders into the article files inside them.
"""

from __future__ import annotations

import enum
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePath

from gateway.articles.errors import ArticleError
from gateway.articles.feeds import parse_feed
from gateway.articles.html_page import parse_html_page
from gateway.articles.json_articles import parse_json_articles
from gateway.articles.model import ParsedArticle
from gateway.articles.scraped_text import parse_scraped_text


class ArticleFormat(enum.Enum):
    SCRAPED_TEXT = "scraped text"
    HTML = "HTML page"
    FEED = "RSS/Atom feed"
    JSON = "JSON"


#: The format a file name suggests when the content does not say.  Folders are searched
#: for these extensions only, so a saved page's images and scripts are left alone.
EXTENSION_FORMATS: dict[str, ArticleFormat] = {
    ".txt": ArticleFormat.SCRAPED_TEXT,
    ".text": ArticleFormat.SCRAPED_TEXT,
    ".html": ArticleFormat.HTML,
    ".htm": ArticleFormat.HTML,
    ".shtml": ArticleFormat.HTML,
    ".xhtml": ArticleFormat.HTML,
    ".rss": ArticleFormat.FEED,
    ".atom": ArticleFormat.FEED,
    ".xml": ArticleFormat.FEED,
    ".json": ArticleFormat.JSON,
}

_PARSERS: dict[ArticleFormat, Callable[..., list[ParsedArticle]]] = {
    ArticleFormat.SCRAPED_TEXT: lambda text, *, origin: [parse_scraped_text(text, origin=origin)],
    ArticleFormat.HTML: lambda text, *, origin: [parse_html_page(text, origin=origin)],
    ArticleFormat.FEED: parse_feed,
    ArticleFormat.JSON: parse_json_articles,
}

_SNIFF_LENGTH = 2048
_JSON_START = re.compile(r'\{\s*"|\[\s*[{\]]')
_FEED_ROOT = re.compile(r"<(?:rss|feed|rdf:rdf)[\s>]")
_HTML_START = re.compile(r"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]")
_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
#: Share of characters that may be controls or unassigned before a file counts as binary.
MAX_NON_TEXT_SHARE = 0.05
_TEXT_CONTROLS = frozenset("\t\n\r\f\v")


def parse_path(path: Path, *, max_bytes: int | None = None) -> list[ParsedArticle]:
    """Parse the article file at ``path``: one article, or several for feeds and JSON lists.

    Raises :class:`ArticleError` whose ``path`` is ``path`` as given, for an unreadable,
    empty, binary or undecodable file, a file larger than ``max_bytes`` (refused before it is
    read, so memory stays in proportion to the limit), and for any article without a title, a
    usable date or body text.  Articles take the file name as their origin (feed items and
    JSON objects with an id take that).
    """
    try:
        with path.open("rb") as handle:
            data = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    except OSError as error:
        raise ArticleError(path, f"cannot read the file ({error.strerror or error})") from None
    if max_bytes is not None and len(data) > max_bytes:
        size = path.stat().st_size if path.exists() else len(data)
        raise ArticleError(path, f"{size:,} bytes, more than ingest.max_bytes ({max_bytes:,}); "
                                 "not read")
    return parse_bytes(data, name=str(path))


def parse_bytes(data: bytes, *, name: str) -> list[ParsedArticle]:
    """:func:`parse_path` without the disk: ``name`` is the file's path or name."""
    text = decode_article_bytes(data, name=name)
    parser = _PARSERS[detect_format(name, text)]
    try:
        return parser(text, origin=PurePath(name).name)
    except ArticleError as error:
        raise ArticleError(name, error.reason) from None


def decode_article_bytes(data: bytes, *, name: str) -> str:
    """Decode an article file: a BOM wins, then UTF-8, then GB18030 (a superset of GBK)."""
    if not data.strip():
        raise ArticleError(name, "empty file")
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            text = _decode_or_fail(data, encoding, name)
            break
    else:
        if b"\x00" in data:
            raise ArticleError(name, "binary content (NUL bytes), not a text file")
        text = _decode_utf8_or_gb18030(data, name)
    if not text.strip():
        raise ArticleError(name, "empty file")
    if _non_text_share(text) > MAX_NON_TEXT_SHARE:
        raise ArticleError(name, "binary content (mostly control characters), not a text file")
    return text


def detect_format(name: str, text: str) -> ArticleFormat:
    """The format of a file, from what its content starts with, else from its extension."""
    head = text.lstrip("\ufeff \t\r\n")[:_SNIFF_LENGTH]
    lowered = head.lower()
    if _JSON_START.match(head):
        return ArticleFormat.JSON
    if lowered.startswith("<"):
        if _FEED_ROOT.search(lowered):
            return ArticleFormat.FEED
        if _HTML_START.search(lowered):
            return ArticleFormat.HTML
    return EXTENSION_FORMATS.get(PurePath(name).suffix.lower(), ArticleFormat.SCRAPED_TEXT)


def iter_article_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Yield article files: a file as given, a folder as the article files inside it.

    Folders are searched recursively and yield, sorted by path, the files whose extension
    is in :data:`EXTENSION_FORMATS`, skipping hidden files and folders (names starting
    with a dot).  A path that does not exist is yielded as is, for :func:`parse_path` to
    report.
    """
    for path in paths:
        if path.is_dir():
            yield from _article_files_under(path)
        else:
            yield path


def _article_files_under(folder: Path) -> list[Path]:
    found: list[Path] = []
    for directory, subdirectories, files in os.walk(folder):
        subdirectories[:] = [d for d in subdirectories if not d.startswith(".")]
        found.extend(
            Path(directory, name)
            for name in files
            if not name.startswith(".") and PurePath(name).suffix.lower() in EXTENSION_FORMATS
        )
    return sorted(found, key=lambda path: path.relative_to(folder).parts)


def _decode_or_fail(data: bytes, encoding: str, name: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        raise ArticleError(
            name, f"undecodable text (invalid {encoding} at byte {error.start})"
        ) from None


def _decode_utf8_or_gb18030(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        utf8_error = error
    if _is_damaged_utf8(data):
        # GB18030 would "succeed" and turn a UTF-8 file with one bad byte into nonsense.
        raise ArticleError(
            name, f"undecodable text (invalid UTF-8 at byte {utf8_error.start})"
        ) from None
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise ArticleError(name, "undecodable text (neither UTF-8 nor GB18030/GBK)") from None


def _is_damaged_utf8(data: bytes) -> bool:
    """Mostly valid UTF-8 with a few bad bytes (GBK text fails on nearly every character)."""
    decoded = data.decode("utf-8", errors="replace")
    bad = decoded.count("\ufffd")
    good = sum(1 for char in decoded if ord(char) > 0x7F and char != "\ufffd")
    return good >= 10 * bad


def _non_text_share(text: str) -> float:
    odd = sum(
        1
        for char in text
        if char not in _TEXT_CONTROLS
        and (char == "\ufffd" or unicodedata.category(char) in ("Cc", "Cs", "Co", "Cn"))
    )
    return odd / len(text)
