"""Parser for news articles saved as HTML pages.

The body text comes from trafilatura, run on the string we hold (it never fetches
anything).  What trafilatura does not know about Chinese news pages is read from the markup
directly: the breadcrumb (channel), the 来源/作者/责任编辑 bylines, the visible publication
time, and the images with their captions (trafilatura drops ``<figure>`` images).  When
trafilatura finds no body, the densest block of ``<p>`` elements is used instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

import lxml.html
import trafilatura
from lxml import etree
from trafilatura.settings import Document

from gateway.articles.body_text import CleanBody, clean_body
from gateway.articles.dates import parse_date
from gateway.articles.errors import ArticleError
from gateway.articles.furniture import match_furniture
from gateway.articles.html_blocks import extract_blocks, find_article_container
from gateway.articles.metadata_lines import (
    BYLINE_LABELS,
    MAX_BYLINE_LENGTH,
    Bylines,
    parse_breadcrumb,
    parse_byline_line,
)
from gateway.articles.model import ParsedArticle, canonical_url
from gateway.articles.normalisation import comparable, tidy

#: ``<meta>`` names and properties that carry the publication time, in order of trust.
DATE_META_NAMES: tuple[str, ...] = (
    "article:published_time",
    "publishdate",
    "pubdate",
    "publish_date",
    "og:release_date",
    "dc.date.issued",
    "dc.date",
    "date",
)
_DATE_CLASS = re.compile(r"time|date|pub", re.IGNORECASE)
_TITLE_CLASS = re.compile(r"title|headline|biaoti", re.IGNORECASE)
# "标题_频道_大众网", "标题 | 站名", "标题 - 站名"; a hyphen inside "2020-2021" is no separator.
_TITLE_SUFFIX = re.compile(r"\s*[_|]\s*|\s+(?:-{1,2}|—{1,2})\s+")
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_TITLE_LENGTH = range(2, 121)


def parse_html_page(html: str, *, origin: str) -> ParsedArticle:
    """Parse one article page.  Raises :class:`ArticleError` (path ``origin``)."""
    tree = _parse_document(html, origin)
    extracted = _extract_with_library(html, _canonical_link(tree))
    url = _canonical_link(tree) or _library_url(extracted)
    title = _page_title(tree, extracted)
    if title is None:
        raise ArticleError(origin, "no title found")
    page_bylines, byline_dates = _page_bylines(tree)
    published = _page_date(tree, extracted, byline_dates, origin)
    body = _page_body(tree, extracted, base_url=url, title=title)
    if not body.paragraphs:
        raise ArticleError(origin, "no body text found")
    bylines = page_bylines.or_else(body.bylines).or_else(_library_bylines(extracted))
    return ParsedArticle(
        title=title,
        published=published,
        source=bylines.source,
        author=bylines.author,
        editor=bylines.editor,
        channel=_page_channel(tree),
        url=url,
        images=body.images,
        paragraphs=body.paragraphs,
        origin=origin,
    )


def clean_html_fragment(html: str, *, base_url: str | None = None) -> CleanBody:
    """Clean an HTML fragment that is all article body (a feed item's content)."""
    if not html.strip():
        return clean_body([])
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    return clean_body(extract_blocks(root, base_url=base_url))


def _parse_document(html: str, origin: str) -> lxml.html.HtmlElement:
    try:
        return lxml.html.document_fromstring(_XML_DECLARATION.sub("", html))
    except (etree.ParserError, ValueError) as error:
        raise ArticleError(origin, f"not an HTML page ({error})") from None


def _extract_with_library(html: str, url: str | None) -> Document | None:
    try:
        result = trafilatura.bare_extraction(
            html,
            url=url,
            with_metadata=True,
            include_images=True,
            include_comments=False,
            include_tables=True,
            date_extraction_params={"extensive_search": True, "original_date": True},
        )
    except Exception:  # the library is a helper: whatever breaks it, we still have our own
        return None
    return result if isinstance(result, Document) else None


def _canonical_link(tree: lxml.html.HtmlElement) -> str | None:
    candidates = [
        *tree.xpath("//link[@rel='canonical']/@href"),
        *tree.xpath("//meta[@property='og:url']/@content"),
    ]
    return _first_url(candidates)


def _library_url(extracted: Document | None) -> str | None:
    return _first_url([extracted.url] if extracted is not None and extracted.url else [])


def _first_url(candidates: list[str]) -> str | None:
    for candidate in candidates:
        try:
            url = canonical_url(candidate)
        except ValueError:
            continue
        if url.startswith(("http://", "https://")):
            return url
    return None


def _page_title(tree: lxml.html.HtmlElement, extracted: Document | None) -> str | None:
    """The headline: the longest heading that the ``<title>`` also names, else the first.

    Site logos in ``<h1>`` and channel names in ``class="title"`` boxes are why the
    ``<title>`` gets a say; it is usually "headline_channel_site".
    """
    raw: list[str] = [_text(h1) for h1 in tree.iter("h1")]
    raw += [
        _text(element)
        for element in tree.iter("h2", "h3", "div", "p", "span")
        if _TITLE_CLASS.search(element.get("class") or "")
    ]
    raw += tree.xpath("//meta[@property='og:title']/@content")
    head_titles = [_text(title) for title in tree.iter("title")]
    if extracted is not None and extracted.title and tidy(extracted.title) not in head_titles:
        raw.append(extracted.title)
    raw += [_TITLE_SUFFIX.split(title)[0] for title in head_titles]
    candidates = [
        text
        for text in map(tidy, raw)
        if len(text) in _TITLE_LENGTH and match_furniture(text) is None
    ]
    named = [c for c in candidates if any(comparable(c) in comparable(h) for h in head_titles)]
    if named:
        return max(named, key=len)  # max() keeps the first of equally long ones
    return candidates[0] if candidates else None


def _page_date(
    tree: lxml.html.HtmlElement,
    extracted: Document | None,
    byline_dates: tuple[str, ...],
    origin: str,
) -> date:
    meta = {
        (element.get("name") or element.get("property") or "").lower(): element.get("content")
        for element in tree.iter("meta")
    }
    candidates = [meta[name] or "" for name in DATE_META_NAMES if name in meta]
    candidates += [
        _text(element)
        for element in tree.iter()
        if isinstance(element.tag, str)
        and _DATE_CLASS.search(f"{element.get('class') or ''} {element.get('id') or ''}")
        and len(_text(element)) <= MAX_BYLINE_LENGTH
    ]
    candidates += byline_dates
    problem: str | None = None
    for candidate in candidates:
        try:
            day = parse_date(candidate)
        except ValueError as error:
            problem = problem or str(error)
            continue
        if day is not None:
            return day
    if problem is not None:  # the page states a date, wrongly: do not let a guess cover it
        raise ArticleError(origin, f"unparseable publication date: {problem}")
    guessed = _library_date(extracted)
    if guessed is None:
        raise ArticleError(origin, "no publication date found")
    return guessed


def _library_date(extracted: Document | None) -> date | None:
    if extracted is None or not extracted.date:
        return None
    try:
        return parse_date(extracted.date)
    except ValueError:
        return None


def _page_bylines(tree: lxml.html.HtmlElement) -> tuple[Bylines, tuple[str, ...]]:
    """Bylines from the most specific elements that print them, and dates found beside."""
    chosen: dict[str, tuple[lxml.html.HtmlElement, str]] = {}
    dates: list[str] = []
    for element, text in _short_texts(tree):
        line = parse_byline_line(text)
        if line is None:
            continue
        dates.extend(line.date_texts)
        for label, value in line.values:
            earlier = chosen.get(label)
            if value and (earlier is None or _is_ancestor(earlier[0], element)):
                chosen[label] = (element, value)
    bylines = Bylines()
    for label in BYLINE_LABELS:  # table order: 责任编辑 before 编辑
        if label in chosen:
            bylines = bylines.with_label(label, chosen[label][1])
    return bylines, tuple(dates)


def _page_channel(tree: lxml.html.HtmlElement) -> tuple[str, ...]:
    found: tuple[lxml.html.HtmlElement, tuple[str, ...]] | None = None
    for element, text in _short_texts(tree):
        channel = parse_breadcrumb(text)
        if channel is not None and (found is None or _is_ancestor(found[0], element)):
            found = (element, channel)
        elif found is not None and not _is_ancestor(found[0], element):
            break
    return found[1] if found is not None else ()


def _page_body(
    tree: lxml.html.HtmlElement, extracted: Document | None, *, base_url: str | None, title: str
) -> CleanBody:
    library = (
        clean_body(extract_blocks(extracted.body, base_url=base_url, newlines_break=True))
        if extracted is not None and extracted.body is not None
        else clean_body([])
    )
    container = find_article_container(tree)
    own = (
        clean_body(extract_blocks(container, base_url=base_url))
        if container is not None
        else clean_body([])
    )
    text = library if library.paragraphs else own
    images = own.images or library.images
    # Neither the title nor a caption is body text, though extractors often keep them.
    not_body = {comparable(title)} | {comparable(i.caption) for i in images if i.caption}
    return CleanBody(
        paragraphs=tuple(p for p in text.paragraphs if comparable(p) not in not_body),
        images=images,
        bylines=text.bylines.or_else(own.bylines),
    )


def _library_bylines(extracted: Document | None) -> Bylines:
    if extracted is None or not extracted.author:
        return Bylines()
    author = re.sub(r"^(?:作者|记者)\s*:?\s*", "", tidy(extracted.author))
    return Bylines(author=author or None)


def _short_texts(tree: lxml.html.HtmlElement) -> Iterator[tuple[lxml.html.HtmlElement, str]]:
    """Elements in document order whose whole text is short enough to be a metadata line."""
    body = tree.find("body")
    for element in (body if body is not None else tree).iter():
        if not isinstance(element.tag, str) or element.tag in ("script", "style"):
            continue
        text = _text(element)
        if text and len(text) <= MAX_BYLINE_LENGTH:
            yield element, text


def _is_ancestor(ancestor: lxml.html.HtmlElement, element: lxml.html.HtmlElement) -> bool:
    return any(parent is ancestor for parent in element.iterancestors())


def _text(element: etree._Element) -> str:
    return tidy("".join(element.itertext()))
