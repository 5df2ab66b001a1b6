"""The SMGP status report carried in a Deliver's MsgContent when IsReport = 1. Pure.

122 octets, ASCII labels around fixed-width values (docs/protocols.md §4.6):

    id:<MsgID 10 binary> sub:<3> dlvrd:<3> submit date:<10> done date:<10> stat:<7> err:<3>
    text:<20>

Peers disagree on the labels' case ("Submit date" / "Text" against "submit date" / "text",
§7 trap 4), so ``decode_report`` reads every value **by its offset** and never looks at a
label; ``encode_report`` writes the lower-case labels (or the capitalised ones, for tests).
The MsgID is binary: never decode it as text. The times are YYMMDDHHMM in the SMGW's local
time (``carriers.cmpp.reports.parse_report_time`` reads them).
"""

from __future__ import annotations

from dataclasses import dataclass

from carriers.smgp.pdus import MSG_ID_LENGTH

__all__ = ["REPORT_LENGTH", "SmgpReport", "decode_report", "encode_report"]

# (label in lower case, value width) in wire order; the MsgID comes first.
_FIELDS = (
    ("id:", MSG_ID_LENGTH),
    (" sub:", 3),
    (" dlvrd:", 3),
    (" submit date:", 10),
    (" done date:", 10),
    (" stat:", 7),
    (" err:", 3),
    (" text:", 20),
)
_CAPITALISED = {" submit date:": " Submit date:", " text:": " Text:"}


def _offsets() -> list[tuple[int, int]]:
    spans, offset = [], 0
    for label, width in _FIELDS:
        offset += len(label)
        spans.append((offset, offset + width))
        offset += width
    return spans


_SPANS = _offsets()
REPORT_LENGTH = _SPANS[-1][1]
"""Octets of a report: 122."""


@dataclass(frozen=True, slots=True)
class SmgpReport:
    """One status report: ``msg_id`` is the MsgID the Submit_Resp gave (the correlation key)."""

    msg_id: bytes
    stat: str
    submit_date: str = ""
    done_date: str = ""
    err: str = "000"
    sub: str = "001"
    dlvrd: str = "001"
    text: str = ""


def _value(name: str, value: object, width: int) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"SmgpReport.{name} must be str, not {type(value).__name__}")
    try:
        raw = value.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError(f"SmgpReport.{name} {value!r} has non-ASCII characters") from None
    if len(raw) > width or b"\0" in raw:
        raise ValueError(f"SmgpReport.{name} {value!r}: at most {width} characters, no NUL")
    return raw.ljust(width, b"\0")


def encode_report(report: SmgpReport, *, capitalised: bool = False) -> bytes:
    """The 122-octet MsgContent of ``report``; ``capitalised`` writes "Submit date" and
    "Text" as some peers do. ``ValueError`` naming a field that does not fit."""
    msg_id = report.msg_id
    if not isinstance(msg_id, bytes) or len(msg_id) != MSG_ID_LENGTH:
        raise ValueError(f"SmgpReport.msg_id must be {MSG_ID_LENGTH} octets")
    values = [msg_id]
    for name, (_, width) in zip(("sub", "dlvrd", "submit_date", "done_date", "stat", "err",
                                 "text"), _FIELDS[1:], strict=True):
        values.append(_value(name, getattr(report, name), width))
    out = bytearray()
    for (label, _), value in zip(_FIELDS, values, strict=True):
        if capitalised:
            label = _CAPITALISED.get(label, label)
        out += label.encode("ascii") + value
    return bytes(out)


def _text(raw: bytes, name: str) -> str:
    nul = raw.find(b"\0")
    if nul >= 0:
        raw = raw[:nul]
    try:
        return raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise ValueError(f"report {name} holds non-ASCII octets {raw!r}") from None


def decode_report(content: bytes | bytearray | memoryview) -> SmgpReport:
    """Read a report by offsets from a Deliver's MsgContent (122 octets, or more: trailing
    octets are ignored). ``ValueError`` for a shorter content or a non-ASCII field; the
    ``text`` field alone is kept even when it is not ASCII (it is the message's start)."""
    content = bytes(content)
    if len(content) < REPORT_LENGTH:
        raise ValueError(f"an SMGP status report is {REPORT_LENGTH} octets, not {len(content)}")
    values = [content[start:end] for start, end in _SPANS]
    names = ("sub", "dlvrd", "submit date", "done date", "stat", "err")
    sub, dlvrd, submit_date, done_date, stat, err = (
        _text(raw, name) for raw, name in zip(values[1:7], names, strict=True))
    text = values[7].split(b"\0", 1)[0].decode("ascii", "replace")
    return SmgpReport(msg_id=values[0], stat=stat, submit_date=submit_date,
                      done_date=done_date, err=err, sub=sub, dlvrd=dlvrd, text=text)
