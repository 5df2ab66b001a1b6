"""SGIP's three-part sequence number, its stored text form, and a generator. Pure.

Every SGIP header carries a 12-octet Sequence Number (protocols.md §3.1): the node id of the
node that made the request (uint32), the time it was made as the decimal number MMDDHHMMSS
(uint32, e.g. 1202141030 for 2 December 14:10:30) and a running counter (uint32). A response
echoes its request's three words.

SUBMIT_RESP carries no message id (§3.5): a REPORT names the SUBMIT by its Sequence Number
(§3.7). So the gateway stores the SUBMIT's Sequence Number as the message id of an SGIP part.

**Text form** (:func:`sequence_text`): the three words in decimal, each zero-padded to ten
digits, joined by hyphens: ``"3075512345-1202141030-0000000001"`` (32 characters). Fixed width
sorts and compares as text; the node id reads as it is configured (``3AAAAQQQQQ``) and the
time as the wall time it was stamped. :func:`parse_sequence_text` accepts exactly that form.

Inside the link machinery (the shared :class:`~carriers.link.flow.FlowControl` keys what is in
flight by an ``int``) a Sequence Number travels as the 96-bit integer of its 12 octets
(:meth:`SequenceNumber.key`), so a response finds its request by all three words.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "MAX_COUNTER",
    "SEQUENCE_LENGTH",
    "ZERO",
    "SequenceGenerator",
    "SequenceNumber",
    "parse_sequence_text",
    "sequence_text",
    "sp_node_id",
    "timestamp_for",
]

SEQUENCE_LENGTH = 12
MAX_COUNTER = 0xFFFFFFFF
_MAX_WORD = 0xFFFFFFFF
_WORDS = struct.Struct(">III")
_TEXT = re.compile(r"(\d{10})-(\d{10})-(\d{10})")


@dataclass(frozen=True, slots=True)
class SequenceNumber:
    """Node id, MMDDHHMMSS time and counter: the three uint32 words of an SGIP header."""

    node_id: int
    timestamp: int
    counter: int

    def __post_init__(self) -> None:
        for name in ("node_id", "timestamp", "counter"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"SequenceNumber.{name} must be an int, not {type(value).__name__}")
            if not 0 <= value <= _MAX_WORD:
                raise ValueError(f"SequenceNumber.{name} {value} is outside 0..{_MAX_WORD}")

    def packed(self) -> bytes:
        """The 12 octets on the wire."""
        return _WORDS.pack(self.node_id, self.timestamp, self.counter)

    @classmethod
    def unpack(cls, octets: bytes, offset: int = 0) -> SequenceNumber:
        return cls(*_WORDS.unpack_from(octets, offset))

    def key(self) -> int:
        """The 96-bit integer of the 12 octets (how the link machinery numbers requests)."""
        return (self.node_id << 64) | (self.timestamp << 32) | self.counter

    @classmethod
    def from_key(cls, key: int) -> SequenceNumber:
        if not 0 <= key < 1 << 96:
            raise ValueError(f"sequence key {key} does not fit 12 octets")
        return cls(key >> 64, (key >> 32) & _MAX_WORD, key & _MAX_WORD)

    def __str__(self) -> str:
        return sequence_text(self)


ZERO = SequenceNumber(0, 0, 0)


REFERENCE_FLAG = 1 << 16
"""Set in a SUBMIT's counter word when its low 16 bits carry the part's reference."""
_REFERENCE_BITS = REFERENCE_FLAG | 0xFFFF
_RUNNING_LIMIT = 1 << 15


def counter_with_reference(running: int, reference_bits: int) -> int:
    """A SUBMIT's counter word: the running count (15 bits, wrapping) above the reference
    flag and the 16-bit part reference the sender chose (``reference_bits``: the flag and the
    reference, or 0). The REPORT names the SUBMIT's whole Sequence Number, so the reference
    comes back with it even when the SUBMIT_RESP was lost (the evidence that reconciles an
    uncertain part). Unique while fewer than 32,768 submits carry one node's same second."""
    return (running % _RUNNING_LIMIT) << 17 | (reference_bits & _REFERENCE_BITS)


def reference_of(counter: int) -> int | None:
    """The part reference a SUBMIT's counter word carries, if it carries one."""
    return counter & 0xFFFF if counter & REFERENCE_FLAG else None


def sequence_text(sequence: SequenceNumber) -> str:
    """``"3075512345-1202141030-0000000001"``: the stored message id of an SGIP SUBMIT."""
    return f"{sequence.node_id:010d}-{sequence.timestamp:010d}-{sequence.counter:010d}"


def parse_sequence_text(text: str) -> SequenceNumber:
    """The inverse of :func:`sequence_text`; ValueError for anything else."""
    match = _TEXT.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not an SGIP sequence (NNNNNNNNNN-MMDDHHMMSS-NNNNNNNNNN)")
    return SequenceNumber(*(int(part) for part in match.groups()))


def timestamp_for(wall: datetime) -> int:
    """The MMDDHHMMSS word for ``wall`` (the node's local time): 2 Dec 14:10:30 → 1202141030."""
    return (wall.month * 100_000_000 + wall.day * 1_000_000 + wall.hour * 10_000
            + wall.minute * 100 + wall.second)


def sp_node_id(area_code: str, corp_id: int) -> int:
    """An SP's node id ``3AAAAQQQQQ`` (protocols.md §3.1): the long-distance area code without
    its leading 0, left-aligned in four digits and right-padded with zeros, then the 5-digit
    corp id. ``sp_node_id("0755", 12345)`` → 3755012345; ``sp_node_id("010", 1)`` →
    3100000001."""
    digits = area_code.removeprefix("0")
    if not digits.isdigit() or not 1 <= len(digits) <= 4:
        raise ValueError(f"area code {area_code!r}: 1-4 digits after an optional leading 0")
    if not 0 <= corp_id <= 99_999:
        raise ValueError(f"corp id {corp_id}: 0..99999")
    return 3_000_000_000 + int(digits.ljust(4, "0")) * 100_000 + corp_id


class SequenceGenerator:
    """Sequence Numbers for one node: its id, the time given, and a counter that runs from
    ``start`` and wraps from ``MAX_COUNTER`` back to 1.

    One generator should outlive connections (a session keeps it across reconnects), so that
    the counter keeps the numbers of one node distinct whatever the clock does.
    """

    __slots__ = ("_next", "node_id")

    def __init__(self, node_id: int, *, start: int = 1) -> None:
        if not 0 <= node_id <= _MAX_WORD:
            raise ValueError(f"node id {node_id} is outside 0..{_MAX_WORD}")
        if not 1 <= start <= MAX_COUNTER:
            raise ValueError(f"start {start} is outside 1..{MAX_COUNTER}")
        self.node_id = node_id
        self._next = start

    def next(self, timestamp: int) -> SequenceNumber:
        """The next number, stamped with ``timestamp`` (MMDDHHMMSS, see :func:`timestamp_for`)."""
        counter = self._next
        self._next = 1 if counter >= MAX_COUNTER else counter + 1
        return SequenceNumber(self.node_id, timestamp, counter)
