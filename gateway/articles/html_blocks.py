"""Reading-order blocks (paragraph texts and images) from an lxml tree.

Works on real HTML and on the XML trafilatura returns (``<p>``, ``<head>``, ``<graphic>``,
``<lb/>`` …).  Images get a caption from ``<figcaption>``, else from a short centred line
right below them (the usual Chinese news layout), else from a meaningful ``alt``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urljoin

from lxml import etree

from gateway.articles.body_text import Block
from gateway.articles.model import ImageRef
from gateway.articles.normalisation import comparable, tidy

_BLOCK_TAGS = frozenset(
    {
        "p", "div", "section", "article", "main", "center", "pre", "address",
        "h1", "h2", "h3", "h4", "h5", "h6",
        "ul", "ol", "li", "dl", "dt", "dd", "blockquote", "table", "tbody", "thead",
        "tr", "figcaption",
        # trafilatura's output vocabulary
        "head", "list", "item", "quote", "row", "code",
    }
)  # fmt: skip
_CELL_TAGS = frozenset({"td", "th", "cell"})
_BREAK_TAGS = frozenset({"br", "lb", "hr"})
_IMAGE_TAGS = frozenset({"img", "graphic"})
_SKIPPED_TAGS = frozenset(
    {
        "script", "style", "noscript", "iframe", "form", "button", "select", "textarea",
        "input", "svg", "template", "object", "embed", "video", "audio", "canvas", "map",
        "nav", "aside", "footer",
    }
)  # fmt: skip
#: Image addresses that show site chrome (QR codes, logos, share buttons), not the news.
DECORATIVE_IMAGE_HINTS: tuple[str, ...] = (
    "qrcode", "qr_code", "erweima", "ewm", "logo", "icon", "share", "spacer", "blank.gif",
)  # fmt: skip
_IMAGE_SOURCE_ATTRIBUTES = ("data-original", "data-src", "src")
_CAPTION_CLASS = re.compile(r"caption|pictext|img_?desc|photo_?desc|imgtitle", re.IGNORECASE)
_CENTRED_STYLE = re.compile(r"text-align\s*:\s*center", re.IGNORECASE)
_SENTENCE_PUNCTUATION = re.compile(r"[。!?;…]")
_MEANINGLESS_ALT = re.compile(
    r"(?:图片?|照片|image|img|photo|pic)?\s*\d*|.*\.(?:jpe?g|png|gif|webp)", re.IGNORECASE
)
CAPTION_MAX_LENGTH = 60


@dataclass(slots=True)
class _Piece:
    block: Block
    centred: bool = False
    alt: str = ""


def extract_blocks(
    root: etree._Element, *, base_url: str | None = None, newlines_break: bool = False
) -> list[Block]:
    """The text blocks and images under ``root``, in reading order, captions attached.

    ``newlines_break`` makes a newline inside text end a block, for trees whose text
    keeps its line structure (trafilatura's output); in real HTML a newline is a space.
    """
    walker = _Walker(base_url, newlines_break=newlines_break)
    walker.visit(root)
    walker.flush()
    return _attach_captions(walker.pieces)


def find_article_container(root: etree._Element) -> etree._Element | None:
    """The element whose own ``<p>`` children hold the most text: the article body.

    A classic readability heuristic; good enough to locate images and to fall back on
    when the extraction library finds nothing.
    """
    best: etree._Element | None = None
    best_length = 0
    for element in root.iter("div", "article", "section", "td", "main"):
        length = sum(len(tidy(_text(child))) for child in element if child.tag == "p")
        if length > best_length:
            best, best_length = element, length
    return best


class _Walker:
    def __init__(self, base_url: str | None, *, newlines_break: bool) -> None:
        self.base_url = base_url
        self.newlines_break = newlines_break
        self.pieces: list[_Piece] = []
        self._buffer: list[str] = []
        self._centred = False

    def visit(self, element: etree._Element) -> None:
        tag = _local_tag(element)
        if tag is None or tag in _SKIPPED_TAGS:
            return
        if tag in _IMAGE_TAGS:
            self.flush()
            self._add_image(element, caption=None)
        elif tag == "figure" and _images_in(element):
            self.flush()
            self._add_figure(element)
        elif tag in _BREAK_TAGS:
            self.flush()
        elif tag in _BLOCK_TAGS:
            self.flush()
            outer = self._centred
            self._centred = outer or _is_centred(element)
            self._visit_content(element)
            self.flush()
            self._centred = outer
        else:
            self._visit_content(element)
            if tag in _CELL_TAGS:
                self._buffer.append(" ")

    def flush(self) -> None:
        text = "".join(self._buffer)
        self._buffer.clear()
        lines = text.splitlines() if self.newlines_break else [text]
        for line in map(tidy, lines):
            if line:
                self.pieces.append(_Piece(line, centred=self._centred))

    def _visit_content(self, element: etree._Element) -> None:
        if element.text:
            self._buffer.append(element.text)
        for child in element:
            self.visit(child)
            if child.tail:
                self._buffer.append(child.tail)

    def _add_figure(self, figure: etree._Element) -> None:
        captions = [tidy(_text(c)) for c in figure.iter() if _local_tag(c) == "figcaption"]
        caption = next((c for c in captions if c), None)
        for image in _images_in(figure):
            self._add_image(image, caption=caption)

    def _add_image(self, element: etree._Element, *, caption: str | None) -> None:
        src = _image_source(element)
        if not src or src.startswith("data:") or _is_decorative(element, src):
            return
        if self.base_url:
            src = urljoin(self.base_url, src)
        alt = tidy(element.get("alt") or element.get("title") or "")
        self.pieces.append(_Piece(ImageRef(src=src, caption=caption), self._centred, alt))


def _attach_captions(pieces: Iterable[_Piece]) -> list[Block]:
    items = list(pieces)
    blocks: list[Block] = []
    index = 0
    while index < len(items):
        piece = items[index]
        index += 1
        if not isinstance(piece.block, ImageRef) or piece.block.caption:
            blocks.append(piece.block)
            continue
        caption: str | None = None
        below = items[index] if index < len(items) else None
        if below is not None and isinstance(below.block, str) and _is_caption_line(below):
            caption = below.block
            index += 1
        elif piece.alt and not _MEANINGLESS_ALT.fullmatch(piece.alt):
            caption = piece.alt
        blocks.append(ImageRef(src=piece.block.src, caption=caption))
    return blocks


def _is_caption_line(piece: _Piece) -> bool:
    assert isinstance(piece.block, str)
    line = comparable(piece.block)
    return (
        piece.centred and len(line) <= CAPTION_MAX_LENGTH and not _SENTENCE_PUNCTUATION.search(line)
    )


def _is_centred(element: etree._Element) -> bool:
    return (
        _local_tag(element) == "center"
        or (element.get("align") or "").lower() == "center"
        or bool(_CENTRED_STYLE.search(element.get("style") or ""))
        or bool(_CAPTION_CLASS.search(element.get("class") or ""))
    )


def _image_source(element: etree._Element) -> str:
    for attribute in _IMAGE_SOURCE_ATTRIBUTES:
        value = (element.get(attribute) or "").strip()
        if value:
            return value
    return ""


def _is_decorative(element: etree._Element, src: str) -> bool:
    if element.get("width") == "1" or element.get("height") == "1":
        return True
    name = src.lower()
    return any(hint in name for hint in DECORATIVE_IMAGE_HINTS)


def _images_in(element: etree._Element) -> list[etree._Element]:
    return [e for e in element.iter() if _local_tag(e) in _IMAGE_TAGS]


def _local_tag(element: etree._Element) -> str | None:
    tag = element.tag
    if not isinstance(tag, str):  # comments and processing instructions
        return None
    return str(etree.QName(tag).localname).lower()


def _text(element: etree._Element) -> str:
    return "".join(element.itertext())
