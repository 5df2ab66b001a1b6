"""Split a text into short messages (concatenated SMS with a User Data Header).

The coding is the first of these the carrier's protocol can carry (``codings``, see
:data:`carriers.codings.PROTOCOL_CODINGS`) and the text allows: GSM 7-bit, ASCII, else UCS2.
A single message carries 160 GSM septets, 140 ASCII characters or 70 UTF-16 code units and has
no UDH. A longer text is cut into parts that each start with a concatenation UDH:

* 8-bit reference:  ``05 00 03 RR TT SS``    → 153 septets / 134 ASCII / 67 code units per part
* 16-bit reference: ``06 08 04 RH RL TT SS`` → 152 septets / 133 ASCII / 66 code units per part

(140 ASCII octets is conservative: CMPP would take 159 in a single message, SGIP and SMGP 140.)
A part never ends inside a GSM escape pair nor between the two halves of a UTF-16 surrogate
pair. Payloads are what the link puts after the UDH: unpacked septets, ASCII octets or UTF-16BE.
Setting the UDHI bit of esm_class (or the protocol's equivalent) and the protocol's coding number
is the link's job; :attr:`SegmentedMessage.has_udh` tells it whether to set UDHI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from carriers.gsm7 import ESCAPE, encode_gsm7_unpacked, is_gsm7
from carriers.messages import TextCoding

MAX_SEGMENTS = 255

ReferenceBits = Literal[8, 16]

DEFAULT_CODINGS: frozenset[TextCoding] = frozenset({TextCoding.GSM7, TextCoding.UCS2})
"""GSM 7-bit when the text allows, else UCS2: what SMPP carriers have always been sent."""

# Capacity of one part in payload octets: (single message, part with 8-bit ref, with 16-bit ref).
# GSM payload octets are unpacked septets, ASCII one per character, UCS2 two per code unit.
_CAPACITY: dict[TextCoding, dict[int, int]] = {
    TextCoding.GSM7: {0: 160, 8: 153, 16: 152},
    TextCoding.ASCII: {0: 140, 8: 134, 16: 133},
    TextCoding.UCS2: {0: 140, 8: 134, 16: 132},
}
_PLAIN_ASCII = re.compile(r"[\x20-\x7e\r\n]*")
"""Printable ASCII, line breaks allowed: what is sent as ASCII when GSM 7-bit is not carried."""


class MessageTooLongError(ValueError):
    """The text needs more than 255 parts, which the one-octet part count cannot express."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Segment:
    """One short message: its UDH (empty for a single message), payload and the text it holds."""

    udh: bytes
    payload: bytes
    text: str

    @property
    def short_message(self) -> bytes:
        return self.udh + self.payload


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentedMessage:
    coding: TextCoding
    segments: tuple[Segment, ...]

    @property
    def has_udh(self) -> bool:
        """True when the parts carry a UDH, so the link must set UDHI (esm_class 0x40)."""
        return len(self.segments) > 1


def choose_coding(
    text: str, codings: frozenset[TextCoding] = DEFAULT_CODINGS, *, force_ucs2: bool = False
) -> TextCoding:
    """The first of GSM 7-bit, ASCII and UCS2 that ``codings`` holds and ``text`` fits in
    (UCS2 alone when forced); ValueError when none of ``codings`` can carry the text."""
    if not force_ucs2:
        if TextCoding.GSM7 in codings and is_gsm7(text):
            return TextCoding.GSM7
        if TextCoding.ASCII in codings and _PLAIN_ASCII.fullmatch(text):
            return TextCoding.ASCII
    if TextCoding.UCS2 in codings:
        return TextCoding.UCS2
    allowed = ", ".join(sorted(codings)) or "none"
    raise ValueError(f"no coding for this text among those the carrier takes ({allowed})")


def segment_text(
    text: str,
    *,
    reference: int,
    reference_bits: ReferenceBits = 8,
    codings: frozenset[TextCoding] = DEFAULT_CODINGS,
    force_ucs2: bool = False,
) -> SegmentedMessage:
    """Encode ``text`` in a coding from ``codings`` (see :func:`choose_coding`) and cut it
    into short messages.

    ``reference`` identifies the concatenated message at the handset; it must fit in
    ``reference_bits`` and the caller should vary it per recipient and message (it wraps).
    """
    _check_reference(reference, reference_bits)
    coding, payload = _encode(text, codings, force_ucs2)
    bounds = _cut(payload, coding, reference_bits)
    total = len(bounds)
    if total == 1:
        only = Segment(udh=b"", payload=payload, text=text)
        return SegmentedMessage(coding=coding, segments=(only,))
    texts = _segment_texts(text, payload, bounds, coding)
    segments = tuple(
        Segment(
            udh=concatenation_udh(reference, total, number, reference_bits),
            payload=payload[start:end],
            text=part_text,
        )
        for number, ((start, end), part_text) in enumerate(zip(bounds, texts, strict=True), 1)
    )
    return SegmentedMessage(coding=coding, segments=segments)


def count_segments(
    text: str,
    *,
    reference_bits: ReferenceBits = 8,
    codings: frozenset[TextCoding] = DEFAULT_CODINGS,
    force_ucs2: bool = False,
) -> int:
    """How many short messages :func:`segment_text` would produce, without building them.

    Raises :class:`MessageTooLongError` beyond 255 parts.
    """
    _check_reference(0, reference_bits)
    coding, payload = _encode(text, codings, force_ucs2)
    return len(_cut(payload, coding, reference_bits))


def fits(
    text: str,
    max_segments: int,
    *,
    reference_bits: ReferenceBits = 8,
    codings: frozenset[TextCoding] = DEFAULT_CODINGS,
    force_ucs2: bool = False,
) -> bool:
    """True when ``text`` needs at most ``max_segments`` short messages."""
    try:
        count = count_segments(text, reference_bits=reference_bits, codings=codings,
                               force_ucs2=force_ucs2)
    except MessageTooLongError:
        return False
    return count <= max_segments


def concatenation_udh(
    reference: int, total: int, number: int, reference_bits: ReferenceBits = 8
) -> bytes:
    """The whole UDH (UDHL included) for part ``number`` of ``total``."""
    _check_reference(reference, reference_bits)
    if not 1 <= number <= total <= MAX_SEGMENTS:
        raise ValueError(f"part {number} of {total} is not a valid concatenation position")
    if reference_bits == 8:
        return bytes((0x05, 0x00, 0x03, reference, total, number))
    return bytes((0x06, 0x08, 0x04, reference >> 8, reference & 0xFF, total, number))


def _cut(
    payload: bytes, coding: TextCoding, reference_bits: ReferenceBits
) -> list[tuple[int, int]]:
    capacity = _CAPACITY[coding]
    if len(payload) <= capacity[0]:
        return [(0, len(payload))]
    size = capacity[reference_bits]
    bounds: list[tuple[int, int]] = []
    start = 0
    while start < len(payload):
        end = min(start + size, len(payload))
        if end < len(payload) and _splits_unit(payload, end, coding):
            end -= 1 if coding == TextCoding.GSM7 else 2
        bounds.append((start, end))
        start = end
    if len(bounds) > MAX_SEGMENTS:
        raise MessageTooLongError(
            f"the text needs {len(bounds)} short messages; at most {MAX_SEGMENTS} can be joined"
        )
    return bounds


def _splits_unit(payload: bytes, end: int, coding: TextCoding) -> bool:
    """Would cutting before ``payload[end]`` separate an escape pair or a surrogate pair?"""
    if coding == TextCoding.GSM7:
        # An extension code is never 0x1B, so a trailing 0x1B is always the start of a pair.
        return payload[end - 1] == ESCAPE
    if coding == TextCoding.UCS2:
        return 0xD8 <= payload[end - 2] <= 0xDB  # high (leading) surrogate ends the part
    return False  # ASCII: one octet per character


def _encode(
    text: str, codings: frozenset[TextCoding], force_ucs2: bool
) -> tuple[TextCoding, bytes]:
    coding = choose_coding(text, codings, force_ucs2=force_ucs2)
    if coding == TextCoding.GSM7:
        return coding, encode_gsm7_unpacked(text)
    if coding == TextCoding.ASCII:
        return coding, text.encode("ascii")
    # Strict: a lone surrogate in ``text`` is not valid Unicode and raises UnicodeEncodeError.
    return coding, text.encode("utf-16-be")


def _segment_texts(
    text: str, payload: bytes, bounds: list[tuple[int, int]], coding: TextCoding
) -> list[str]:
    if coding == TextCoding.UCS2:
        return [payload[start:end].decode("utf-16-be") for start, end in bounds]
    if coding == TextCoding.ASCII:
        return [payload[start:end].decode("ascii") for start, end in bounds]
    # GSM: every character is one septet, plus one escape septet for extension characters.
    texts = []
    offset = 0
    for start, end in bounds:
        length = end - start - payload.count(ESCAPE, start, end)
        texts.append(text[offset : offset + length])
        offset += length
    return texts


def _check_reference(reference: int, reference_bits: int) -> None:
    if reference_bits not in (8, 16):
        raise ValueError(f"reference_bits must be 8 or 16, not {reference_bits}")
    if not 0 <= reference < 1 << reference_bits:
        raise ValueError(f"reference {reference} does not fit in {reference_bits} bits")
