"""WAP WSP (WAP-230) value encodings used by WAP Push and the MMS encapsulation.

Only encoders, plus :func:`decode_uintvar` because framing code needs it. Names follow the
grammar of WAP-230 §8.4.2: uintvar, Short-integer, Long-integer, Value-length, Text-string,
Quoted-string.
"""

from __future__ import annotations

QUOTE = 0x7F  # prefixes a Text-string whose first octet is >= 0x80
QUOTED_STRING_START = 0x22  # '"' starts a Quoted-string
LENGTH_QUOTE = 0x1F  # Value-length: a uintvar length follows
CHARSET_UTF8 = 106  # IANA MIBenum of UTF-8; on the wire as the Short-integer 0xEA


def encode_uintvar(value: int) -> bytes:
    """Variable-length unsigned integer: 7 bits per octet, most significant first, with the
    continuation bit (0x80) set on every octet but the last."""
    if value < 0:
        raise ValueError(f"a uintvar cannot hold the negative number {value}")
    if value >= 1 << 32:
        raise ValueError(f"a uintvar holds at most 32 bits, not {value}")
    octets = [value & 0x7F]
    value >>= 7
    while value:
        octets.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(octets))


def decode_uintvar(data: bytes, offset: int = 0) -> tuple[int, int]:
    """Read a uintvar at ``offset``; return the value and the offset just after it."""
    value = 0
    for index in range(offset, min(offset + 5, len(data))):
        octet = data[index]
        value = (value << 7) | (octet & 0x7F)
        if not octet & 0x80:
            return value, index + 1
    raise ValueError(f"no complete uintvar (at most 5 octets) at offset {offset}")


def encode_short_integer(value: int) -> bytes:
    """Short-integer: a value 0-127 with the high bit set."""
    if not 0 <= value <= 0x7F:
        raise ValueError(f"a Short-integer holds 0-127, not {value}")
    return bytes((0x80 | value,))


def encode_long_integer(value: int) -> bytes:
    """Long-integer: a Short-length (1-30) followed by that many big-endian octets."""
    if value < 0:
        raise ValueError(f"a Long-integer cannot hold the negative number {value}")
    length = max(1, (value.bit_length() + 7) // 8)
    if length > 30:
        raise ValueError(f"a Long-integer holds at most 30 octets; {value} needs {length}")
    return bytes((length,)) + value.to_bytes(length, "big")


def encode_integer_value(value: int) -> bytes:
    """Integer-value: a Short-integer when it fits, otherwise a Long-integer."""
    return encode_short_integer(value) if 0 <= value <= 0x7F else encode_long_integer(value)


def encode_value_length(length: int) -> bytes:
    """Value-length: one octet for 0-30, otherwise 0x1F followed by a uintvar."""
    if length < 0:
        raise ValueError(f"a Value-length cannot be negative ({length})")
    if length <= 30:
        return bytes((length,))
    return bytes((LENGTH_QUOTE,)) + encode_uintvar(length)


def with_value_length(value: bytes) -> bytes:
    """Prefix ``value`` with its Value-length (the general form of many WSP/MMS headers)."""
    return encode_value_length(len(value)) + value


def encode_text_string(text: str | bytes, *, encoding: str = "utf-8") -> bytes:
    """Text-string: the octets, NUL-terminated, with a 0x7F quote before a first octet >= 0x80
    (so that it cannot be read as a Short-integer)."""
    raw = text.encode(encoding) if isinstance(text, str) else bytes(text)
    if 0 in raw:
        raise ValueError("a Text-string cannot contain a NUL octet")
    if raw and raw[0] >= 0x80:
        raw = bytes((QUOTE,)) + raw
    return raw + b"\x00"


def encode_quoted_string(text: str) -> bytes:
    """Quoted-string: 0x22, the text, NUL (used for Content-ID values)."""
    raw = text.encode("utf-8")
    if 0 in raw:
        raise ValueError("a Quoted-string cannot contain a NUL octet")
    return bytes((QUOTED_STRING_START,)) + raw + b"\x00"


def encode_utf8_string_value(text: str) -> bytes:
    """Encoded-string-value with an explicit charset: Value-length, Short-integer UTF-8 (0xEA),
    Text-string in UTF-8. Readers then never have to guess the charset of a Subject."""
    return with_value_length(encode_short_integer(CHARSET_UTF8) + encode_text_string(text))
