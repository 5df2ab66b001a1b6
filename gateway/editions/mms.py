"""The MMS edition: SMIL presentation and the m-retrieve-conf PDU (OMA MMS encapsulation 1.2).

An edition is a list of pages, the cover first, then one page per article. Each page may have a
text and an image; the SMIL shows the image region above the text region, one ``<par>`` per
page. Part names are derived from the page number (``text1``, ``image1``, ...), so callers only
supply content.

:func:`encode_retrieve_conf` gives the octets a handset downloads from the MMSC; their length is
the Message-Size to announce in the m-notification-ind. :func:`fit_mms` degrades an edition until
that length is within a carrier's limit.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal
from xml.sax.saxutils import quoteattr

from gateway.editions.sms_digest import ELLIPSIS, largest_fitting, shorten_text
from gateway.editions.wsp import (
    CHARSET_UTF8,
    encode_long_integer,
    encode_quoted_string,
    encode_short_integer,
    encode_text_string,
    encode_uintvar,
    encode_utf8_string_value,
    with_value_length,
)

# MMS header field names (code | 0x80 on the wire).
FIELD_CONTENT_LOCATION = 0x83
FIELD_CONTENT_TYPE = 0x84
FIELD_DATE = 0x85
FIELD_EXPIRY = 0x88
FIELD_FROM = 0x89
FIELD_MESSAGE_CLASS = 0x8A
FIELD_MESSAGE_ID = 0x8B
FIELD_MESSAGE_TYPE = 0x8C
FIELD_MMS_VERSION = 0x8D
FIELD_MESSAGE_SIZE = 0x8E
FIELD_SUBJECT = 0x96
FIELD_TO = 0x97
FIELD_TRANSACTION_ID = 0x98

MESSAGE_TYPE_NOTIFICATION_IND = 0x82
MESSAGE_TYPE_RETRIEVE_CONF = 0x84
MMS_VERSION_1_2 = 0x92
ADDRESS_PRESENT_TOKEN = 0x80
INSERT_ADDRESS_TOKEN = 0x81

MessageClass = Literal["personal", "advertisement", "informational", "auto"]
MESSAGE_CLASS_TOKENS: dict[str, int] = {
    "personal": 0x80,
    "advertisement": 0x81,
    "informational": 0x82,
    "auto": 0x83,
}

# WSP well-known content types (Short-integer form) and parameters.
CONTENT_TYPE_MULTIPART_RELATED = 0xB3
_IMAGE_TYPES: dict[str, tuple[int, str]] = {  # content type -> (WSP code, file extension)
    "image/gif": (0x9D, "gif"),
    "image/jpeg": (0x9E, "jpg"),
    "image/png": (0xA0, "png"),
}
_TEXT_PLAIN = 0x83
_PARAM_CHARSET = 0x81
_PARAM_TYPE = 0x89
_PARAM_START = 0x8A
_PART_CONTENT_LOCATION = 0x8E
_PART_CONTENT_ID = 0xC0
SMIL_CONTENT_TYPE = "application/smil"
SMIL_CONTENT_ID = "smil"


class MmsTooLargeError(ValueError):
    """Even the most degraded edition (short texts, no images) exceeds the size limit."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MmsImage:
    data: bytes
    content_type: str  # image/jpeg, image/png or image/gif

    def __post_init__(self) -> None:
        if self.content_type not in _IMAGE_TYPES:
            raise ValueError(
                f"unsupported image type {self.content_type!r}; use one of {sorted(_IMAGE_TYPES)}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class MmsPage:
    text: str = ""
    image: MmsImage | None = None
    duration_ms: int = 8000

    def __post_init__(self) -> None:
        if not self.text and self.image is None:
            raise ValueError("an MMS page needs a text, an image, or both")
        if self.duration_ms <= 0:
            raise ValueError(f"a page must last a positive time, not {self.duration_ms} ms")


@dataclass(frozen=True, slots=True, kw_only=True)
class SmilLayout:
    """Root layout in pixels; the image region takes the top ``image_height`` pixels."""

    width: int = 240
    height: int = 320
    image_height: int = 160


@dataclass(frozen=True, slots=True, kw_only=True)
class MmsHeaders:
    """Headers of an m-retrieve-conf. ``date`` must be timezone-aware (it becomes Unix time).

    ``from_`` is an MMS address such as ``"10658000/TYPE=PLMN"``; None asks the MMSC to insert
    the sender (insert-address token).
    """

    transaction_id: str
    date: datetime
    subject: str
    from_: str | None = None
    to: tuple[str, ...] = ()
    message_class: MessageClass = "personal"
    message_id: str | None = None

    def __post_init__(self) -> None:
        if self.date.tzinfo is None or self.date.utcoffset() is None:
            raise ValueError("MmsHeaders.date must be timezone-aware")
        if self.message_class not in MESSAGE_CLASS_TOKENS:
            raise ValueError(f"unknown message class {self.message_class!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Part:
    content_type: bytes  # encoded Content-type-value
    content_id: str
    location: str
    data: bytes


def text_content_id(page_number: int) -> str:
    return f"text{page_number}"


def image_content_id(page_number: int) -> str:
    return f"image{page_number}"


def build_smil(pages: Sequence[MmsPage], layout: SmilLayout = SmilLayout()) -> str:
    """The SMIL presentation: one ``<par>`` per page, ``<img>`` only where a page has an image."""
    if not pages:
        raise ValueError("an MMS edition needs at least one page")
    text_height = layout.height - layout.image_height
    lines = [
        "<smil>",
        "<head>",
        "<layout>",
        f'<root-layout width="{layout.width}" height="{layout.height}"/>',
        f'<region id="Image" left="0" top="0" width="{layout.width}" '
        f'height="{layout.image_height}" fit="meet"/>',
        f'<region id="Text" left="0" top="{layout.image_height}" width="{layout.width}" '
        f'height="{text_height}" fit="scroll"/>',
        "</layout>",
        "</head>",
        "<body>",
    ]
    for number, page in enumerate(pages, start=1):
        lines.append(f'<par dur="{page.duration_ms}ms">')
        if page.image is not None:
            src = quoteattr(f"cid:{image_content_id(number)}")
            lines.append(f'<img src={src} region="Image"/>')
        if page.text:
            src = quoteattr(f"cid:{text_content_id(number)}")
            lines.append(f'<text src={src} region="Text"/>')
        lines.append("</par>")
    lines += ["</body>", "</smil>"]
    return "\n".join(lines)


def encode_retrieve_conf(
    headers: MmsHeaders, pages: Sequence[MmsPage], *, layout: SmilLayout = SmilLayout()
) -> bytes:
    """The m-retrieve-conf PDU: headers, then a multipart/related body whose start is the SMIL."""
    out = bytearray((FIELD_MESSAGE_TYPE, MESSAGE_TYPE_RETRIEVE_CONF))
    out += bytes((FIELD_TRANSACTION_ID,)) + encode_text_string(headers.transaction_id)
    out += bytes((FIELD_MMS_VERSION, MMS_VERSION_1_2))
    if headers.message_id is not None:
        out += bytes((FIELD_MESSAGE_ID,)) + encode_text_string(headers.message_id)
    out += bytes((FIELD_DATE,)) + encode_long_integer(int(headers.date.timestamp()))
    out += bytes((FIELD_FROM,)) + encode_from(headers.from_)
    for address in headers.to:
        out += bytes((FIELD_TO,)) + encode_text_string(address)
    out += bytes((FIELD_SUBJECT,)) + encode_utf8_string_value(headers.subject)
    out += bytes((FIELD_MESSAGE_CLASS, MESSAGE_CLASS_TOKENS[headers.message_class]))
    out += bytes((FIELD_CONTENT_TYPE,)) + with_value_length(
        bytes((CONTENT_TYPE_MULTIPART_RELATED,))
        + bytes((_PARAM_TYPE,))
        + encode_text_string(SMIL_CONTENT_TYPE)
        + bytes((_PARAM_START,))
        + encode_text_string(f"<{SMIL_CONTENT_ID}>")
    )
    out += encode_multipart(_parts(pages, layout))
    return bytes(out)


def encode_from(address: str | None) -> bytes:
    """From-value: Value-length, then the address-present token and the address, or the
    insert-address token."""
    if address is None:
        return with_value_length(bytes((INSERT_ADDRESS_TOKEN,)))
    return with_value_length(bytes((ADDRESS_PRESENT_TOKEN,)) + encode_text_string(address))


def encode_multipart(parts: Sequence[_Part]) -> bytes:
    """WSP multipart body: entry count, then per entry headers length, data length, the
    content type and headers, and the data."""
    out = bytearray(encode_uintvar(len(parts)))
    for part in parts:
        part_headers = (
            part.content_type
            + bytes((_PART_CONTENT_ID,))
            + encode_quoted_string(f"<{part.content_id}>")
            + bytes((_PART_CONTENT_LOCATION,))
            + encode_text_string(part.location)
        )
        out += encode_uintvar(len(part_headers)) + encode_uintvar(len(part.data))
        out += part_headers + part.data
    return bytes(out)


def _parts(pages: Sequence[MmsPage], layout: SmilLayout) -> list[_Part]:
    smil = build_smil(pages, layout)
    parts = [
        _Part(
            content_type=encode_text_string(SMIL_CONTENT_TYPE),
            content_id=SMIL_CONTENT_ID,
            location="smil.xml",
            data=smil.encode("utf-8"),
        )
    ]
    text_type = with_value_length(
        bytes((_TEXT_PLAIN, _PARAM_CHARSET)) + encode_short_integer(CHARSET_UTF8)
    )
    for number, page in enumerate(pages, start=1):
        if page.image is not None:
            code, extension = _IMAGE_TYPES[page.image.content_type]
            parts.append(
                _Part(
                    content_type=bytes((code,)),
                    content_id=image_content_id(number),
                    location=f"{image_content_id(number)}.{extension}",
                    data=page.image.data,
                )
            )
        if page.text:
            parts.append(
                _Part(
                    content_type=text_type,
                    content_id=text_content_id(number),
                    location=f"{text_content_id(number)}.txt",
                    data=page.text.encode("utf-8"),
                )
            )
    return parts


# ---------------------------------------------------------------------------------------------
# Fitting to a size limit

# (scale of the original width and height, JPEG quality), from mild to harsh.
IMAGE_LADDER: tuple[tuple[float, int], ...] = (
    (1.0, 75),
    (0.8, 65),
    (0.6, 55),
    (0.45, 45),
    (0.3, 40),
    (0.2, 35),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class FittedMms:
    """The fitted edition. Page numbers below are 0-based indices into the pages given."""

    pdu: bytes
    pages: tuple[MmsPage, ...]
    text_limit: int | None = None
    """Characters each page text was cut to (ellipsis included); None if no text was cut."""
    shortened_pages: tuple[int, ...] = ()
    image_step: tuple[float, int] | None = None
    """(scale, JPEG quality) the remaining images were re-encoded with (each one only if that
    made it smaller); None if images are untouched."""
    dropped_images: tuple[int, ...] = ()
    """Pages whose image was left out (a page with no text is then left out entirely)."""


def fit_mms(
    headers: MmsHeaders,
    pages: Sequence[MmsPage],
    *,
    max_bytes: int,
    min_text_chars: int = 60,
    layout: SmilLayout = SmilLayout(),
    ellipsis: str = ELLIPSIS,
) -> FittedMms:
    """Return the least degraded edition whose m-retrieve-conf is at most ``max_bytes`` long.

    Degradation goes in this order, each step only as far as needed:

    1. cut every page text to a common length (not below ``min_text_chars``);
    2. re-encode all images as smaller JPEGs, step by step along :data:`IMAGE_LADDER`
       (Pillow is imported only here);
    3. drop images, last page first (the cover keeps its image longest), trying the remaining
       images again from their original size down the ladder.

    At every step texts get back as many characters as the limit allows. Raises
    :class:`MmsTooLargeError` if texts at the floor without any image still do not fit.
    """
    if min_text_chars < len(ellipsis):
        raise ValueError(f"min_text_chars must leave room for {ellipsis!r}")
    originals = tuple(pages)
    if not originals:
        raise ValueError("an MMS edition needs at least one page")
    scaled: dict[tuple[int, tuple[float, int]], MmsImage] = {}

    def size_of(candidate: Sequence[MmsPage]) -> int:
        return len(encode_retrieve_conf(headers, candidate, layout=layout))

    def compose(
        step: tuple[float, int] | None, dropped: Sequence[int], limit: int | None
    ) -> tuple[MmsPage, ...]:
        composed = []
        for index, page in enumerate(originals):
            if limit is not None and len(page.text) > limit:
                page = replace(page, text=shorten_text(page.text, limit, ellipsis=ellipsis))
            if page.image is None or (step is None and index not in dropped):
                composed.append(page)
            elif index in dropped:
                if page.text:
                    composed.append(replace(page, image=None))
            else:
                assert step is not None
                if (index, step) not in scaled:
                    smaller = scale_image(page.image, scale=step[0], quality=step[1])
                    # A small, already well-compressed picture may grow when re-encoded.
                    keep = len(smaller.data) < len(page.image.data)
                    scaled[index, step] = smaller if keep else page.image
                composed.append(replace(page, image=scaled[index, step]))
        return tuple(composed)

    longest = max(len(page.text) for page in originals)
    floor = min(min_text_chars, longest)

    def attempt(step: tuple[float, int] | None, dropped: tuple[int, ...]) -> FittedMms | None:
        if not compose(step, dropped, None) or size_of(compose(step, dropped, floor)) > max_bytes:
            return None
        limit: int | None = None
        if size_of(compose(step, dropped, None)) > max_bytes:
            limit = largest_fitting(
                lambda n: size_of(compose(step, dropped, n)) <= max_bytes, floor, longest
            )
        final = compose(step, dropped, limit)
        return FittedMms(
            pdu=encode_retrieve_conf(headers, final, layout=layout),
            pages=final,
            text_limit=limit,
            shortened_pages=tuple(
                i
                for i, page in enumerate(originals)
                if limit is not None and len(page.text) > limit
            ),
            image_step=step,
            dropped_images=dropped,
        )

    image_pages = [i for i, page in enumerate(originals) if page.image is not None]
    for kept_count in range(len(image_pages), -1, -1):
        dropped = tuple(reversed(image_pages[kept_count:]))
        steps = (None, *IMAGE_LADDER) if kept_count else (None,)
        for step in steps:
            fitted = attempt(step, dropped)
            if fitted is not None:
                return fitted

    text_only = compose(None, image_pages, floor)
    if not text_only:
        raise MmsTooLargeError(
            f"the MMS edition has only images and they do not fit in {max_bytes} bytes even "
            "scaled down; add text or raise the carrier's MMS size limit"
        )
    raise MmsTooLargeError(
        f"the MMS edition needs {size_of(text_only)} bytes even without images and with texts "
        f"cut to {min_text_chars} characters, over the limit of {max_bytes}; use fewer pages or "
        "raise the carrier's MMS size limit"
    )


def scale_image(image: MmsImage, *, scale: float, quality: int) -> MmsImage:
    """Re-encode ``image`` as a JPEG scaled by ``scale`` (never enlarged) at ``quality``.

    Transparency is flattened onto white; an animated GIF keeps its first frame only.
    """
    from PIL import Image

    with Image.open(io.BytesIO(image.data)) as source:
        source.seek(0)
        picture = source.convert("RGBA")
    background = Image.new("RGBA", picture.size, (255, 255, 255, 255))
    flattened = Image.alpha_composite(background, picture).convert("RGB")
    scale = min(scale, 1.0)
    size = (max(1, round(flattened.width * scale)), max(1, round(flattened.height * scale)))
    if size != flattened.size:
        flattened = flattened.resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    flattened.save(buffer, format="JPEG", quality=quality, optimize=True)
    return MmsImage(data=buffer.getvalue(), content_type="image/jpeg")
