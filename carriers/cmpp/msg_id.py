"""The 64-bit CMPP Msg_Id: its bit fields, its stored text form, and a generator.

Layout (docs/wire-formats.md §2.9), from the most significant bit:

    month 4 | day 5 | hour 5 | minute 6 | second 6 | ISMG gateway code 22 | sequence 16

On the wire it is 8 octets big-endian (the codec handles that: PDUs hold it as an ``int``).

**Text form.** Wherever the gateway stores, logs or matches a Msg_Id (the SUBMIT_RESP id against
the report's id) it uses ``msg_id_text``: exactly 16 upper-case hexadecimal digits, the
unsigned value zero-padded, e.g. ``0x1234`` -> ``"0000000000001234"``. Fixed width sorts and
compares as text, and the hex digits show the bit fields (the last four digits are the
sequence). ``parse_msg_id_text`` accepts exactly 16 hex digits, either case, nothing else.

``unpack_msg_id`` does not validate the fields: ISMGs of other vendors do not all fill the
layout, and their ids must still round-trip. ``pack_msg_id`` does validate.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import NamedTuple

__all__ = [
    "MAX_GATEWAY_CODE",
    "MAX_SEQUENCE",
    "MsgIdGenerator",
    "MsgIdParts",
    "msg_id_text",
    "pack_msg_id",
    "parse_msg_id_text",
    "unpack_msg_id",
]

_MAX_MSG_ID = (1 << 64) - 1
MAX_GATEWAY_CODE = (1 << 22) - 1
"""Largest ISMG gateway code (22 bits)."""
MAX_SEQUENCE = 0xFFFF
"""Largest sequence (16 bits)."""
_TEXT = re.compile(r"[0-9A-Fa-f]{16}")


class MsgIdParts(NamedTuple):
    """The bit fields of a Msg_Id, in wire order."""

    month: int
    day: int
    hour: int
    minute: int
    second: int
    gateway_code: int
    sequence: int


# (name, lowest, highest) of each argument of pack_msg_id, in order.
_LIMITS = (
    ("month", 1, 12),
    ("day", 1, 31),
    ("hour", 0, 23),
    ("minute", 0, 59),
    ("second", 0, 59),
    ("gateway_code", 0, MAX_GATEWAY_CODE),
    ("sequence", 0, MAX_SEQUENCE),
)


def pack_msg_id(
    month: int, day: int, hour: int, minute: int, second: int, gateway_code: int, sequence: int
) -> int:
    """The Msg_Id with these fields; ``ValueError`` naming any field out of its range."""
    values = (month, day, hour, minute, second, gateway_code, sequence)
    for (name, lowest, highest), value in zip(_LIMITS, values, strict=True):
        if type(value) is not int or not lowest <= value <= highest:
            raise ValueError(f"Msg_Id {name} is {value!r}; it must be within {lowest}..{highest}")
    return (
        month << 60
        | day << 55
        | hour << 50
        | minute << 44
        | second << 38
        | gateway_code << 16
        | sequence
    )


def _check(value: int) -> None:
    if type(value) is not int or not 0 <= value <= _MAX_MSG_ID:
        raise ValueError(f"Msg_Id {value!r} is not an unsigned 64-bit integer")


def unpack_msg_id(value: int) -> MsgIdParts:
    """The bit fields of ``value``, unchecked beyond being an unsigned 64-bit integer."""
    _check(value)
    return MsgIdParts(
        month=value >> 60,
        day=value >> 55 & 0x1F,
        hour=value >> 50 & 0x1F,
        minute=value >> 44 & 0x3F,
        second=value >> 38 & 0x3F,
        gateway_code=value >> 16 & MAX_GATEWAY_CODE,
        sequence=value & MAX_SEQUENCE,
    )


def msg_id_text(value: int) -> str:
    """The stored text form: 16 upper-case hex digits."""
    _check(value)
    return f"{value:016X}"


def parse_msg_id_text(text: str) -> int:
    """The Msg_Id written by ``msg_id_text``; ``ValueError`` unless ``text`` is 16 hex digits."""
    if not isinstance(text, str) or _TEXT.fullmatch(text) is None:
        raise ValueError(f"{text!r} is not a Msg_Id: expected exactly 16 hexadecimal digits")
    return int(text, 16)


class MsgIdGenerator:
    """Msg_Ids for one ISMG (the simulator): the time of ``now`` plus a wrapping 16-bit counter.

    The counter runs on across seconds rather than restarting each second, so ids are unique as
    long as fewer than 65,537 are issued with the same month/day/time label: up to 65,536 ids per
    second, and a clock stepped back does not repeat ids unless the counter has wrapped since.
    The time label repeats every year, so uniqueness holds within a year. Pure: the caller
    passes ``now`` (its time zone is used as is).
    """

    __slots__ = ("_next_sequence", "gateway_code")

    def __init__(self, gateway_code: int, start: int = 0) -> None:
        if type(gateway_code) is not int or not 0 <= gateway_code <= MAX_GATEWAY_CODE:
            raise ValueError(f"gateway_code {gateway_code!r} must be within 0..{MAX_GATEWAY_CODE}")
        if type(start) is not int or not 0 <= start <= MAX_SEQUENCE:
            raise ValueError(f"start {start!r} must be within 0..{MAX_SEQUENCE}")
        self.gateway_code = gateway_code
        self._next_sequence = start

    def next(self, now: datetime) -> int:
        """A fresh Msg_Id stamped with ``now``."""
        sequence = self._next_sequence
        self._next_sequence = (sequence + 1) & MAX_SEQUENCE
        # A datetime's fields are always within the Msg_Id's ranges: no checks needed here.
        return (now.month << 60 | now.day << 55 | now.hour << 50 | now.minute << 44
                | now.second << 38 | self.gateway_code << 16 | sequence)
