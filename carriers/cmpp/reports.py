"""The CMPP status report carried in a DELIVER's Msg_Content when Registered_Delivery = 1.

    Msg_Id 8 | Stat 7 | Submit_time 10 | Done_time 10 | Dest_terminal_Id 21 or 32 | SMSC_sequence 4

60 octets in CMPP 2.0 (21-octet Dest_terminal_Id), 71 in 3.0 (32). Some ISMGs send the 60-octet
form on 3.0 links (docs/wire-formats.md §2.6), so ``decode_report`` decides by the length of
the content, never by the negotiated version. The fields are ASCII / binary whatever the
DELIVER's Msg_Fmt says.

``stat`` is a 7-character word such as ``DELIVRD`` or a network code such as ``MA:0001``; the
times are ``YYMMDDHHMM`` in the ISMG's local time. ``decode_report`` checks only what it must
to read the fields (length, ASCII): a report with an odd time still yields its Msg_Id and stat,
which is what matters; ``parse_report_time`` reads a time and gives ``None`` when it is odd.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "REPORT_LENGTHS",
    "CmppReport",
    "decode_report",
    "encode_report",
    "parse_report_time",
]

_REPORT_20 = struct.Struct(">Q7s10s10s21sI")
_REPORT_30 = struct.Struct(">Q7s10s10s32sI")

REPORT_LENGTHS: dict[int, int] = {0x20: _REPORT_20.size, 0x30: _REPORT_30.size}
"""Octets of a report by version: 60 for 2.0, 71 for 3.0."""


@dataclass(frozen=True, slots=True)
class CmppReport:
    """One status report: ``msg_id`` is the Msg_Id the SUBMIT_RESP gave (the correlation key)."""

    msg_id: int
    stat: str
    submit_time: str
    done_time: str
    dest_terminal_id: str
    smsc_sequence: int = 0


def _ascii(name: str, value: object, width: int, *, exact_digits: bool = False) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"CmppReport.{name} must be str, not {type(value).__name__}")
    try:
        raw = value.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError(f"CmppReport.{name} {value!r} has non-ASCII characters") from None
    if exact_digits:
        if len(raw) != width or not raw.isdigit():
            raise ValueError(f"CmppReport.{name} {value!r} must be {width} digits (YYMMDDHHMM)")
    elif len(raw) > width or b"\0" in raw:
        raise ValueError(f"CmppReport.{name} {value!r}: at most {width} characters, no NUL")
    return raw


def encode_report(report: CmppReport, version: int) -> bytes:
    """The Msg_Content bytes of ``report``: 60 octets for 2.0 (0x2N), 71 for 3.0 (0x3N).

    ``ValueError`` naming the field for a value that does not fit: ``stat`` over 7 characters,
    times that are not 10 digits, a number too long for the version, integers out of range.
    """
    major = version >> 4
    if major not in (2, 3):
        raise ValueError(f"CMPP version 0x{version:02X} is not supported; use 0x20 or 0x30")
    layout = _REPORT_30 if major == 3 else _REPORT_20
    width = 32 if major == 3 else 21
    for name, value, limit in (
        ("msg_id", report.msg_id, (1 << 64) - 1),
        ("smsc_sequence", report.smsc_sequence, 0xFFFFFFFF),
    ):
        if type(value) is not int or not 0 <= value <= limit:
            raise ValueError(f"CmppReport.{name} is {value!r}; it must be within 0..{limit}")
    return layout.pack(
        report.msg_id,
        _ascii("stat", report.stat, 7),
        _ascii("submit_time", report.submit_time, 10, exact_digits=True),
        _ascii("done_time", report.done_time, 10, exact_digits=True),
        _ascii("dest_terminal_id", report.dest_terminal_id, width),
        report.smsc_sequence,
    )


def _text(raw: bytes, name: str) -> str:
    nul = raw.find(b"\0")
    if nul >= 0:
        raw = raw[:nul]
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError(f"report {name} holds non-ASCII octets {raw!r}") from None


def decode_report(content: bytes | bytearray | memoryview) -> CmppReport:
    """Read a report from a DELIVER's Msg_Content, 60 or 71 octets by its length.

    ``ValueError`` (naming the length, or the field) for any other length or a non-ASCII field.
    """
    size = len(content)
    if size == _REPORT_30.size:
        layout = _REPORT_30
    elif size == _REPORT_20.size:
        layout = _REPORT_20
    else:
        raise ValueError(
            f"a CMPP status report is {_REPORT_20.size} (2.0) or {_REPORT_30.size} (3.0) "
            f"octets, not {size}"
        )
    msg_id, stat, submit_time, done_time, dest_terminal_id, smsc_sequence = layout.unpack(
        bytes(content)
    )
    return CmppReport(
        msg_id=msg_id,
        stat=_text(stat, "Stat"),
        submit_time=_text(submit_time, "Submit_time"),
        done_time=_text(done_time, "Done_time"),
        dest_terminal_id=_text(dest_terminal_id, "Dest_terminal_Id"),
        smsc_sequence=smsc_sequence,
    )


def parse_report_time(text: str) -> datetime | None:
    """A naive datetime from ``YYMMDDHHMM`` (20YY), or ``None`` when it is not a valid time."""
    if len(text) != 10 or not text.isascii() or not text.isdigit():
        return None
    try:
        return datetime(
            2000 + int(text[0:2]),
            int(text[2:4]),
            int(text[4:6]),
            int(text[6:8]),
            int(text[8:10]),
        )
    except ValueError:
        return None
