"""Turn the raw blocks of an article body into clean paragraphs, images and bylines.

Every parser ends here: the scraped-text parser with its lines, the HTML parsers with the
blocks they pulled out of the markup.  Furniture is dropped (see
:mod:`gateway.articles.furniture`), byline lines are read and removed, and the body ends at
the first "related articles" heading.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gateway.articles.dates import DATE_FRAGMENT
from gateway.articles.furniture import FurnitureAction, match_furniture
from gateway.articles.metadata_lines import (
    Bylines,
    looks_like_byline_value,
    parse_byline_line,
)
from gateway.articles.model import ImageRef
from gateway.articles.normalisation import comparable, tidy

#: One piece of a body in reading order: a paragraph's text or an image.
Block = str | ImageRef

#: Captions are short; a caption-like line longer than this is taken for text.
CAPTION_MAX_LENGTH = 40

_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")
# CJK ideographs and full-width punctuation: no space belongs between two of them.
_WIDE = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef“”‘’]")
_SENTENCE_PUNCTUATION = re.compile(r"[。!?;…]")
# "一、", "(一)", "第一", "1." open section headings, which are never captions.
_HEADING_NUMBER = re.compile(
    r"(?:[一二三四五六七八九十]+[、.]|\([一二三四五六七八九十\d]+\)|第[一二三四五六七八九十\d]+|\d+[、.])"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class CleanBody:
    paragraphs: tuple[str, ...]
    images: tuple[ImageRef, ...]
    bylines: Bylines


def clean_body(blocks: Iterable[Block], *, infer_captions: bool = False) -> CleanBody:
    """Clean the body ``blocks``.

    With ``infer_captions`` (for sources that lost their images, like scraped text),
    caption-like lines become :class:`ImageRef` entries without a ``src``; see
    :func:`split_captions`.
    """
    items = list(blocks)
    paragraphs: list[str] = []
    images: list[ImageRef] = []
    bylines = Bylines()
    index = 0
    while index < len(items):
        item = items[index]
        index += 1
        if isinstance(item, ImageRef):
            images.append(item)
            continue
        text = tidy(item)
        if not text:
            continue
        rule = match_furniture(text)
        if rule is not None:
            if rule.action is FurnitureAction.STOP:
                break
            continue
        if DATE_FRAGMENT.fullmatch(comparable(text)):
            continue  # a bare date or time is metadata, not news text
        byline = parse_byline_line(text)
        if byline is None:
            paragraphs.append(text)
            continue
        bylines = byline.apply_to(bylines)
        label = byline.dangling_label
        following = _next_text(items, index)
        if label is not None and following is not None and is_byline_value(following[1]):
            bylines = bylines.with_label(label, tidy(following[1]))
            index = following[0] + 1
    if infer_captions:
        paragraphs, captions = split_captions(paragraphs)
        images.extend(captions)
    return CleanBody(paragraphs=tuple(paragraphs), images=tuple(images), bylines=bylines)


def split_plain_paragraphs(text: str) -> list[str]:
    """Paragraphs of plain text: blank lines separate them, single line breaks do not.

    Lines of one paragraph are joined with a space, except between two Chinese
    characters, where a wrapped line never meant a space.
    """
    unified = text.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = (_join_wrapped_lines(chunk.split("\n")) for chunk in _BLANK_LINE.split(unified))
    return [p for p in paragraphs if p]


def _join_wrapped_lines(lines: Sequence[str]) -> str:
    joined = ""
    for line in filter(None, map(tidy, lines)):
        wide = joined and _WIDE.match(joined[-1]) and _WIDE.match(line[0])
        joined = f"{joined}{line}" if wide or not joined else f"{joined} {line}"
    return joined


def is_byline_value(text: str) -> bool:
    """Whether ``text``, on the line after an empty label, is that label's value."""
    if not looks_like_byline_value(text) or DATE_FRAGMENT.fullmatch(comparable(text)):
        return False
    if parse_byline_line(text) is not None:
        return False
    rule = match_furniture(text)
    return rule is None or rule.names_outlet


def split_captions(paragraphs: Sequence[str]) -> tuple[list[str], list[ImageRef]]:
    """Separate image captions from text in a body that lost its images.

    A scraped page keeps the line printed under each photo but not the photo, and such a
    line looks like a subheading: short, no sentence punctuation.  It is taken for a
    caption when it also either stands next to another such line (photos come in runs,
    subheadings do not) or repeats words of the paragraph beside it (captions restate the
    text; subheadings announce what comes next).  Numbered headings ("一、") never count.
    """
    candidates = [_looks_like_caption(paragraph) for paragraph in paragraphs]
    kept: list[str] = []
    captions: list[ImageRef] = []
    for index, paragraph in enumerate(paragraphs):
        if candidates[index] and _confirms_caption(paragraphs, candidates, index):
            captions.append(ImageRef(src=None, caption=paragraph))
        else:
            kept.append(paragraph)
    return kept, captions


def _looks_like_caption(text: str) -> bool:
    line = comparable(text)
    return (
        len(line) <= CAPTION_MAX_LENGTH
        and not _SENTENCE_PUNCTUATION.search(line)
        and not _HEADING_NUMBER.match(line)
    )


def _confirms_caption(paragraphs: Sequence[str], candidates: Sequence[bool], index: int) -> bool:
    neighbours = [i for i in (index - 1, index + 1) if 0 <= i < len(paragraphs)]
    if any(candidates[i] for i in neighbours):
        return True
    line = comparable(paragraphs[index])
    return any(line in comparable(paragraphs[i]) for i in neighbours)


def _next_text(items: Sequence[Block], start: int) -> tuple[int, str] | None:
    """The next non-blank text block, unless an image comes first."""
    for index in range(start, len(items)):
        item = items[index]
        if isinstance(item, ImageRef):
            return None
        if tidy(item):
            return index, item
    return None
