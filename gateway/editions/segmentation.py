"""Split a text into short messages (concatenated SMS with a User Data Header).

A single message carries 160 GSM septets or 70 UTF-16 code units and has no UDH. A longer text
is cut into parts that each start with a concatenation UDH:

* 8-bit reference:  ``05 00 03 RR TT SS``    → 153 septets / 67 code units per part
* 16-bit reference: ``06 08 04 RH RL TT SS`` → 152 septets / 66 code units per part

A part never ends inside a GSM escape pair nor between the two halves of a UTF-16 surrogate
pair. Payloads are what SMPP puts after the UDH: unpacked septets (data_coding 0x00) or UTF-16BE
(data_coding 0x08). Setting the UDHI bit of esm_class (or the protocol's equivalent) is the
link's job; :attr:`SegmentedMessage.has_udh` tells it whether to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from carriers.gsm7 import ESCAPE, encode_gsm7_unpacked, is_gsm7

DATA_CODING_GSM7 = 0x00
DATA_CODING_UCS2 = 0x08
MAX_SEGMENTS = 255

Encoding = Literal["gsm7", "ucs2"]
ReferenceBits = Literal[8, 16]

# Capacity of one part in payload octets: (single message, part with 8-bit ref, with 16-bit ref).
# GSM payload octets are unpacked septets; UCS2 payload octets are two per code unit.
_GSM7_CAPACITY = {0: 160, 8: 153, 16: 152}
_UCS2_CAPACITY = {0: 140, 8: 134, 16: 132}


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
    data_coding: int
    segments: tuple[Segment, ...]
    encoding: Encoding

    @property
    def has_udh(self) -> bool:
        """True when the parts carry a UDH, so the link must set UDHI (esm_class 0x40)."""
        return len(self.segments) > 1


def choose_encoding(text: str, *, force_ucs2: bool = False) -> Encoding:
    """GSM 7-bit when every character is in the GSM alphabet (and UCS2 is not forced)."""
    return "gsm7" if not force_ucs2 and is_gsm7(text) else "ucs2"


def segment_text(
    text: str,
    *,
    reference: int,
    reference_bits: ReferenceBits = 8,
    force_ucs2: bool = False,
) -> SegmentedMessage:
    """Encode ``text`` and cut it into short messages.

    ``reference`` identifies the concatenated message at the handset; it must fit in
    ``reference_bits`` and the caller should vary it per recipient and message (it wraps).
    """
    _check_reference(reference, reference_bits)
    encoding, payload = _encode(text, force_ucs2)
    bounds = _cut(payload, encoding, reference_bits)
    total = len(bounds)
    if total == 1:
        only = Segment(udh=b"", payload=payload, text=text)
        return SegmentedMessage(
            data_coding=_data_coding(encoding), segments=(only,), encoding=encoding
        )
    texts = _segment_texts(text, payload, bounds, encoding)
    segments = tuple(
        Segment(
            udh=concatenation_udh(reference, total, number, reference_bits),
            payload=payload[start:end],
            text=part_text,
        )
        for number, ((start, end), part_text) in enumerate(zip(bounds, texts, strict=True), 1)
    )
    return SegmentedMessage(
        data_coding=_data_coding(encoding), segments=segments, encoding=encoding
    )


def count_segments(
    text: str, *, reference_bits: ReferenceBits = 8, force_ucs2: bool = False
) -> int:
    """How many short messages :func:`segment_text` would produce, without building them.

    Raises :class:`MessageTooLongError` beyond 255 parts.
    """
    _check_reference(0, reference_bits)
    encoding, payload = _encode(text, force_ucs2)
    return len(_cut(payload, encoding, reference_bits))


def fits(
    text: str,
    max_segments: int,
    *,
    reference_bits: ReferenceBits = 8,
    force_ucs2: bool = False,
) -> bool:
    """True when ``text`` needs at most ``max_segments`` short messages."""
    try:
        count = count_segments(text, reference_bits=reference_bits, force_ucs2=force_ucs2)
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
    payload: bytes, encoding: Encoding, reference_bits: ReferenceBits
) -> list[tuple[int, int]]:
    capacity = _GSM7_CAPACITY if encoding == "gsm7" else _UCS2_CAPACITY
    if len(payload) <= capacity[0]:
        return [(0, len(payload))]
    size = capacity[reference_bits]
    bounds: list[tuple[int, int]] = []
    start = 0
    while start < len(payload):
        end = min(start + size, len(payload))
        if end < len(payload) and _splits_unit(payload, end, encoding):
            end -= 1 if encoding == "gsm7" else 2
        bounds.append((start, end))
        start = end
    if len(bounds) > MAX_SEGMENTS:
        raise MessageTooLongError(
            f"the text needs {len(bounds)} short messages; at most {MAX_SEGMENTS} can be joined"
        )
    return bounds


def _splits_unit(payload: bytes, end: int, encoding: Encoding) -> bool:
    """Would cutting before ``payload[end]`` separate an escape pair or a surrogate pair?"""
    if encoding == "gsm7":
        # An extension code is never 0x1B, so a trailing 0x1B is always the start of a pair.
        return payload[end - 1] == ESCAPE
    return 0xD8 <= payload[end - 2] <= 0xDB  # high (leading) surrogate ends the part


def _encode(text: str, force_ucs2: bool) -> tuple[Encoding, bytes]:
    if choose_encoding(text, force_ucs2=force_ucs2) == "gsm7":
        return "gsm7", encode_gsm7_unpacked(text)
    # Strict: a lone surrogate in ``text`` is not valid Unicode and raises UnicodeEncodeError.
    return "ucs2", text.encode("utf-16-be")


def _segment_texts(
    text: str, payload: bytes, bounds: list[tuple[int, int]], encoding: Encoding
) -> list[str]:
    if encoding == "ucs2":
        return [payload[start:end].decode("utf-16-be") for start, end in bounds]
    # GSM: every character is one septet, plus one escape septet for extension characters.
    texts = []
    offset = 0
    for start, end in bounds:
        length = end - start - payload.count(ESCAPE, start, end)
        texts.append(text[offset : offset + length])
        offset += length
    return texts


def _data_coding(encoding: Encoding) -> int:
    return DATA_CODING_GSM7 if encoding == "gsm7" else DATA_CODING_UCS2


def _check_reference(reference: int, reference_bits: int) -> None:
    if reference_bits not in (8, 16):
        raise ValueError(f"reference_bits must be 8 or 16, not {reference_bits}")
    if not 0 <= reference < 1 << reference_bits:
        raise ValueError(f"reference {reference} does not fit in {reference_bits} bits")
