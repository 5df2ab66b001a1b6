"""Turning SM payload octets into text, by their :class:`~carriers.messages.TextCoding`. Pure.

Shared by every link type: each link first maps its protocol's number to a coding
(:func:`carriers.codings.coding_from_wire`), then decodes here.
"""

from __future__ import annotations

from carriers.gsm7 import Gsm7Error, decode_gsm7_unpacked
from carriers.messages import TextCoding

_CODEC_BY_CODING: dict[TextCoding, str] = {
    TextCoding.ASCII: "ascii",
    TextCoding.LATIN1: "latin-1",
    TextCoding.UCS2: "utf-16-be",
    TextCoding.GBK: "gb18030",
}


def decode_text(payload: bytes, coding: TextCoding) -> str:
    """The text of a payload; ValueError naming the coding when it does not decode or is not
    text (:attr:`TextCoding.BINARY`)."""
    if coding == TextCoding.BINARY:
        raise ValueError(f"coding {coding} does not carry text")
    try:
        if coding == TextCoding.GSM7:
            return decode_gsm7_unpacked(payload)
        if coding == TextCoding.UCS2 and len(payload) % 2:
            raise ValueError("UCS2 payload has an odd number of octets")
        return payload.decode(_CODEC_BY_CODING[coding])
    except (UnicodeDecodeError, Gsm7Error) as exc:
        raise ValueError(f"payload is not valid {coding}: {exc}") from None
