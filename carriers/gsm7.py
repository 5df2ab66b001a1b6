"""GSM 03.38 default alphabet and its extension table.

SMPP carries the default alphabet *unpacked*: one septet per octet (data_coding 0x00); the SMSC
packs it for the air interface. Characters of the extension table cost two septets: the escape
0x1B followed by the extension code.

The mapping is exact and reversible: :func:`decode_gsm7_unpacked` of
:func:`encode_gsm7_unpacked` gives back the text. Look-alike substitutions (``ç`` → ``Ç``, curly
quotes → straight ones) are deliberately not made; text needing them is sent as UCS2.
"""

from __future__ import annotations

import codecs

ESCAPE = 0x1B

# Code points 0x00-0x7F of the default alphabet, in order. 0x1B is the escape and has no character
# of its own; it is written here as a placeholder and excluded from the lookup tables below.
_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
assert len(_BASIC) == 128

# Extension table: character -> code that follows the escape.
_EXTENSION: dict[str, int] = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}

_BASIC_CODES: dict[str, int] = {ch: code for code, ch in enumerate(_BASIC) if code != ESCAPE}
EXTENSION_CHARS: frozenset[str] = frozenset(_EXTENSION)
GSM7_CHARS: frozenset[str] = frozenset(_BASIC_CODES) | EXTENSION_CHARS

# Codec tables for the C charmap codec: character -> septet (or escape pair), and septet ->
# character for the basic table ("\ufffe" marks the escape, which has no character).
_ENCODE_MAP: dict[int, int | bytes] = {ord(ch): code for ch, code in _BASIC_CODES.items()}
_ENCODE_MAP.update({ord(ch): bytes((ESCAPE, code)) for ch, code in _EXTENSION.items()})
_DECODE_BASIC = _BASIC.replace("\x1b", "\ufffe")
_DECODE_EXTENSION: dict[int, str] = {code: ch for ch, code in _EXTENSION.items()}


def _ascii_tables() -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """Fast path for ASCII text, which is most GSM text: one bytes.translate maps ASCII octets to
    septets and extension characters to placeholder octets (0x80 + n); each placeholder is then
    replaced by its escape pair."""
    table = bytearray(range(256))
    for char, code in _BASIC_CODES.items():
        if char.isascii():
            table[ord(char)] = code
    placeholders = []
    for number, char in enumerate(sorted(c for c in _EXTENSION if c.isascii())):
        table[ord(char)] = 0x80 + number
        placeholders.append((bytes((0x80 + number,)), bytes((ESCAPE, _EXTENSION[char]))))
    return bytes(table), placeholders


_ASCII_TABLE, _PLACEHOLDERS = _ascii_tables()
_ASCII_GSM = bytes(ord(ch) for ch in GSM7_CHARS if ch.isascii())  # ASCII octets GSM can carry


class Gsm7Error(ValueError):
    """Text that the GSM default alphabet cannot carry, or octets that are not unpacked GSM."""


def is_gsm7(text: str) -> bool:
    """True when every character of ``text`` is in the default alphabet or its extension."""
    if text.isascii():
        return not text.encode("ascii").translate(None, _ASCII_GSM)
    return GSM7_CHARS.issuperset(text)


def septet_length(text: str) -> int:
    """Septets needed for ``text``: one per character, two per extension-table character.

    Raises :class:`Gsm7Error` if the text is not representable.
    """
    return len(encode_gsm7_unpacked(text))


def encode_gsm7_unpacked(text: str) -> bytes:
    """Encode ``text`` as unpacked septets (one per octet, escapes included).

    Raises :class:`Gsm7Error` naming the first character the alphabet cannot carry.
    """
    if not is_gsm7(text):
        bad = next(ch for ch in text if ch not in GSM7_CHARS)
        raise Gsm7Error(f"character {bad!r} (U+{ord(bad):04X}) is not in the GSM 7-bit alphabet")
    if not text.isascii():
        return codecs.charmap_encode(text, "strict", _ENCODE_MAP)[0]
    septets = text.encode("ascii").translate(_ASCII_TABLE)
    for placeholder, pair in _PLACEHOLDERS:
        if placeholder in septets:
            septets = septets.replace(placeholder, pair)
    return septets


def decode_gsm7_unpacked(data: bytes) -> str:
    """Decode unpacked septets back to text.

    An escape followed by a code that the extension table does not define decodes as the basic
    character of that code, which is what 3GPP TS 23.038 asks receivers to do.
    """
    if not data.isascii():  # an octet above 0x7F
        raise Gsm7Error("unpacked GSM 7-bit data must not contain octets above 0x7F")
    chunks = data.split(bytes([ESCAPE]))
    parts = [_decode_basic(chunks[0])]
    for chunk in chunks[1:]:
        if not chunk:
            raise Gsm7Error("an escape (0x1B) must be followed by an extension code")
        code = chunk[0]
        parts.append(_DECODE_EXTENSION.get(code) or _BASIC[code])
        parts.append(_decode_basic(chunk[1:]))
    return "".join(parts)


def _decode_basic(chunk: bytes) -> str:
    return codecs.charmap_decode(chunk, "strict", _DECODE_BASIC)[0]
