"""The 10-octet SMGP MsgID: its BCD fields, its stored text form, and a generator.

Layout (docs/protocols.md §4.6), 20 BCD digits:

    SMGW code 6 digits (area code 3 + "06" + index 1) | MMDDHHMM 8 digits | sequence 6 digits

Example: ``01 00 61 01 16 17 00 01 23 45`` = gateway 010061, 16 January 17:00, sequence 012345.

**Text form.** Wherever the gateway stores, logs or matches a MsgID (the Submit_Resp MsgID
against the report's ``id:``) it uses ``msg_id_text``: exactly 20 upper-case hexadecimal
digits of the 10 octets, e.g. ``"01006101161700012345"``. For a well-formed (BCD) id these
are its decimal digits as people read them; an id from a peer that does not write BCD still
round-trips, as hex. ``parse_msg_id_text`` accepts exactly 20 hex digits, either case.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import NamedTuple

from carriers.smgp.pdus import MSG_ID_LENGTH

__all__ = [
    "MAX_SEQUENCE",
    "MsgIdGenerator",
    "MsgIdParts",
    "msg_id_text",
    "pack_msg_id",
    "parse_msg_id_text",
    "unpack_msg_id",
]

MAX_SEQUENCE = 999_999
_TEXT = re.compile(r"[0-9A-Fa-f]{20}")


class MsgIdParts(NamedTuple):
    """The fields of a BCD MsgID, as digit strings."""

    gateway: str
    """6 digits."""
    time: str
    """MMDDHHMM."""
    sequence: str
    """6 digits."""


def _check(value: bytes) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != MSG_ID_LENGTH:
        raise ValueError(f"MsgID {value!r} is not {MSG_ID_LENGTH} octets")
    return bytes(value)


def msg_id_text(value: bytes) -> str:
    """The stored text form: 20 upper-case hex digits."""
    return _check(value).hex().upper()


def parse_msg_id_text(text: str) -> bytes:
    """The MsgID written by ``msg_id_text``; ``ValueError`` unless ``text`` is 20 hex digits."""
    if not isinstance(text, str) or _TEXT.fullmatch(text) is None:
        raise ValueError(f"{text!r} is not a MsgID: expected exactly 20 hexadecimal digits")
    return bytes.fromhex(text)


def pack_msg_id(gateway: str, time: str, sequence: int) -> bytes:
    """The BCD MsgID of a 6-digit gateway code, an MMDDHHMM time and a sequence 0..999999."""
    if len(gateway) != 6 or not gateway.isascii() or not gateway.isdigit():
        raise ValueError(f"MsgID gateway code {gateway!r} must be 6 digits")
    if len(time) != 8 or not time.isascii() or not time.isdigit():
        raise ValueError(f"MsgID time {time!r} must be 8 digits (MMDDHHMM)")
    if type(sequence) is not int or not 0 <= sequence <= MAX_SEQUENCE:
        raise ValueError(f"MsgID sequence {sequence!r} must be within 0..{MAX_SEQUENCE}")
    return bytes.fromhex(f"{gateway}{time}{sequence:06d}")


def unpack_msg_id(value: bytes) -> MsgIdParts:
    """The fields of ``value`` as digit text (hex digits where a peer did not write BCD)."""
    text = msg_id_text(value)
    return MsgIdParts(gateway=text[:6], time=text[6:14], sequence=text[14:])


class MsgIdGenerator:
    """MsgIDs for one SMGW (the simulator): its code, the time of ``now`` to the minute and a
    wrapping 6-digit counter. The counter runs on across minutes, so ids are unique while
    fewer than a million are issued with the same minute label (within a year). Pure: the
    caller passes ``now``."""

    __slots__ = ("_next_sequence", "gateway")

    def __init__(self, gateway: str, start: int = 0) -> None:
        pack_msg_id(gateway, "01010000", 0)  # ValueError for a bad gateway code
        if type(start) is not int or not 0 <= start <= MAX_SEQUENCE:
            raise ValueError(f"start {start!r} must be within 0..{MAX_SEQUENCE}")
        self.gateway = gateway
        self._next_sequence = start

    def next(self, now: datetime) -> bytes:
        """A fresh MsgID stamped with ``now``."""
        sequence = self._next_sequence
        self._next_sequence = 0 if sequence >= MAX_SEQUENCE else sequence + 1
        # The gateway code was checked once; a datetime's fields are digits of the right width.
        return bytes.fromhex(f"{self.gateway}{now.month:02d}{now.day:02d}{now.hour:02d}"
                             f"{now.minute:02d}{sequence:06d}")
