"""Reading MMS encapsulation headers (OMA MMS 1.2, values in WAP-230 WSP encodings). Pure.

The content server reads what handsets post back — m-notifyresp-ind (the handset's answer
to a notification: retrieved, deferred, rejected, …) and m-acknowledge-ind (after it
retrieved) — and the dispatch reads the stored m-retrieve-conf of an edition to announce
it to each subscriber with the subscriber's own transaction id.

:func:`decode_headers` walks the header fields up to the Content-Type (the body follows it)
or the end. Every value's extent is read from its first octet, as WSP defines it (a
Short-integer is one octet ≥ 0x80; 0–30 is a Short-length then that many octets; 31 a
uintvar length; 32–127 a NUL-terminated text), so fields this module does not interpret are
skipped, never guessed. Anything truncated or inconsistent raises :class:`MmsDecodeError`
naming the offset.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.editions.mms import (
    FIELD_CONTENT_TYPE,
    FIELD_DATE,
    FIELD_FROM,
    FIELD_MESSAGE_CLASS,
    FIELD_MESSAGE_TYPE,
    FIELD_MMS_VERSION,
    FIELD_SUBJECT,
    FIELD_TRANSACTION_ID,
    MESSAGE_CLASS_TOKENS,
    MessageClass,
)
from gateway.editions.wsp import (
    CHARSET_UTF8,
    LENGTH_QUOTE,
    QUOTE,
    decode_uintvar,
    encode_text_string,
)

FIELD_REPORT_ALLOWED = 0x91
FIELD_STATUS = 0x95

MESSAGE_TYPES: dict[int, str] = {
    0x80: "m-send-req", 0x81: "m-send-conf", 0x82: "m-notification-ind",
    0x83: "m-notifyresp-ind", 0x84: "m-retrieve-conf", 0x85: "m-acknowledge-ind",
    0x86: "m-delivery-ind",
}
MESSAGE_TYPE_NOTIFYRESP_IND = 0x83
MESSAGE_TYPE_ACKNOWLEDGE_IND = 0x85
STATUSES: dict[int, str] = {
    0x80: "expired", 0x81: "retrieved", 0x82: "rejected", 0x83: "deferred",
    0x84: "unrecognised", 0x85: "indeterminate", 0x86: "forwarded", 0x87: "unreachable",
}
"""X-Mms-Status values (OMA MMS 1.2 §7.2.27)."""
_CLASS_NAMES: dict[int, MessageClass] = {token: name for name, token in  # type: ignore[misc]
                                         MESSAGE_CLASS_TOKENS.items()}
MAX_FIELDS = 64
"""More header fields than any MMS PDU has: a longer list is refused."""


class MmsDecodeError(ValueError):
    """The octets are not MMS headers this gateway can read; the text says where and why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MmsHeaderFields:
    """What :func:`decode_headers` found. Absent fields are None."""

    message_type: int
    transaction_id: str | None = None
    transaction_id_span: tuple[int, int] | None = None
    """Where the Transaction-Id value (its Text-string, NUL included) lies in the octets."""
    mms_version: int | None = None
    status: str | None = None
    """X-Mms-Status as a name (``retrieved``, ``deferred``, …), or ``0x..`` if unknown."""
    report_allowed: bool | None = None
    subject: str | None = None
    from_: str | None = None
    """The sender's address; None when absent or the insert-address token."""
    message_class: MessageClass | str | None = None
    date: int | None = None
    """Seconds since 1970 (the Date field)."""
    body_offset: int | None = None
    """Where the body starts (just after the Content-Type value); None without one."""

    @property
    def message_type_name(self) -> str:
        return MESSAGE_TYPES.get(self.message_type, f"0x{self.message_type:02X}")


def _value_end(data: bytes, start: int) -> tuple[int, int]:
    """(the first octet of a value's own content, the offset just after the value)."""
    if start >= len(data):
        raise MmsDecodeError(f"a header value is missing at offset {start}")
    octet = data[start]
    if octet >= 0x80:
        return start, start + 1
    if octet < LENGTH_QUOTE:
        end = start + 1 + octet
    elif octet == LENGTH_QUOTE:
        try:
            length, content = decode_uintvar(data, start + 1)
        except ValueError as exc:
            raise MmsDecodeError(f"a bad value length at offset {start}: {exc}") from None
        start, end = content - 1, content + length
    else:
        nul = data.find(b"\x00", start)
        if nul < 0:
            raise MmsDecodeError(f"a text value at offset {start} has no NUL terminator")
        return start, nul + 1
    if end > len(data):
        raise MmsDecodeError(f"a value at offset {start} runs past the end ({end} > {len(data)})")
    return start + 1, end


def _text(data: bytes, start: int, end: int) -> str:
    """A Text-string (its NUL included in ``start:end``), quote removed, as UTF-8."""
    raw = data[start:end]
    if not raw.endswith(b"\x00") or b"\x00" in raw[:-1]:
        raise MmsDecodeError(f"expected a NUL-terminated text at offset {start}")
    raw = raw[:-1]
    if raw[:1] == bytes((QUOTE,)):
        raw = raw[1:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MmsDecodeError(f"the text at offset {start} is not UTF-8") from None


def _short(data: bytes, start: int, name: str) -> int:
    octet = data[start]
    if octet < 0x80:
        raise MmsDecodeError(f"{name} at offset {start} is not a short integer")
    return octet


def _encoded_string(data: bytes, start: int, end: int) -> str:
    """Encoded-string-value: a Text-string, or Value-length + charset + Text-string (only
    UTF-8 and US-ASCII are read)."""
    octet = data[start]
    if octet >= 0x20:
        return _text(data, start, end)
    content, _ = _value_end(data, start)
    if content >= end:
        raise MmsDecodeError(f"an empty encoded string at offset {start}")
    charset = data[content]
    if charset >= 0x80:
        charset &= 0x7F
        text_start = content + 1
    else:  # a Long-integer charset
        text_start = content + 1 + charset
        charset = int.from_bytes(data[content + 1:text_start], "big")
    if charset not in (CHARSET_UTF8, 3):  # 3: US-ASCII
        raise MmsDecodeError(f"charset {charset} at offset {start} is not read here")
    return _text(data, text_start, end)


def decode_headers(data: bytes) -> MmsHeaderFields:
    """Read the header fields of an MMS PDU (see the module docstring); raise
    :class:`MmsDecodeError` if they are not well formed. X-Mms-Message-Type must come first,
    as the encapsulation requires."""
    if len(data) < 2 or data[0] != FIELD_MESSAGE_TYPE:
        raise MmsDecodeError("an MMS PDU starts with X-Mms-Message-Type (0x8C)")
    values: dict[str, object] = {"message_type": _short(data, 1, "X-Mms-Message-Type")}
    offset, count = 2, 0
    while offset < len(data):
        count += 1
        if count > MAX_FIELDS:
            raise MmsDecodeError(f"more than {MAX_FIELDS} header fields")
        field = data[offset]
        if field < 0x80:  # an application header: a token text, then its value
            _, offset = _value_end(data, offset)
            if offset >= len(data) or data[offset] >= 0x80 or data[offset] < 0x20:
                raise MmsDecodeError(f"an application header at offset {offset} has no text value")
            _, offset = _value_end(data, offset)
            continue
        content, end = _value_end(data, offset + 1)
        if field == FIELD_TRANSACTION_ID:
            values["transaction_id"] = _text(data, offset + 1, end)
            values["transaction_id_span"] = (offset + 1, end)
        elif field == FIELD_MMS_VERSION:
            values["mms_version"] = _short(data, offset + 1, "X-Mms-MMS-Version")
        elif field == FIELD_STATUS:
            code = _short(data, offset + 1, "X-Mms-Status")
            values["status"] = STATUSES.get(code, f"0x{code:02X}")
        elif field == FIELD_REPORT_ALLOWED:
            values["report_allowed"] = _short(data, offset + 1, "X-Mms-Report-Allowed") == 0x80
        elif field == FIELD_SUBJECT:
            values["subject"] = _encoded_string(data, offset + 1, end)
        elif field == FIELD_FROM:
            if content >= end or data[offset + 1] >= 0x20:
                raise MmsDecodeError(f"From at offset {offset} is not a Value-length form")
            token = data[content]
            if token == 0x80:
                values["from_"] = _encoded_string(data, content + 1, end)
            elif token != 0x81:
                raise MmsDecodeError(f"From at offset {offset} has the unknown token {token}")
        elif field == FIELD_MESSAGE_CLASS:
            octet = data[offset + 1]
            values["message_class"] = (_CLASS_NAMES.get(octet, f"0x{octet:02X}") if octet >= 0x80
                                       else _text(data, offset + 1, end))
        elif field == FIELD_DATE:
            if data[offset + 1] > 8 or content == end:
                raise MmsDecodeError(f"Date at offset {offset} is not a Long-integer")
            values["date"] = int.from_bytes(data[content:end], "big")
        elif field == FIELD_CONTENT_TYPE:
            values["body_offset"] = end
            break
        offset = end
    return MmsHeaderFields(**values)  # type: ignore[arg-type]


def with_transaction_id(pdu: bytes, transaction_id: str) -> bytes:
    """``pdu`` with its X-Mms-Transaction-Id replaced (a stored m-retrieve-conf served to one
    subscriber with the transaction id of that subscriber's notification)."""
    fields = decode_headers(pdu)
    if fields.transaction_id_span is None:
        raise MmsDecodeError("the PDU has no X-Mms-Transaction-Id to replace")
    start, end = fields.transaction_id_span
    return pdu[:start] + encode_text_string(transaction_id) + pdu[end:]


@dataclass(frozen=True, slots=True, kw_only=True)
class HandsetReport:
    """A handset's m-notifyresp-ind or m-acknowledge-ind: which transaction, and what it says."""

    kind: str
    """``notifyresp`` or ``acknowledge``."""
    transaction_id: str
    status: str | None = None
    """The m-notifyresp-ind's X-Mms-Status; None for an m-acknowledge-ind."""


def decode_handset_report(data: bytes) -> HandsetReport:
    """An m-notifyresp-ind (with its mandatory Transaction-Id, MMS-Version and Status) or an
    m-acknowledge-ind (Transaction-Id, MMS-Version); :class:`MmsDecodeError` otherwise."""
    fields = decode_headers(data)
    if fields.message_type not in (MESSAGE_TYPE_NOTIFYRESP_IND, MESSAGE_TYPE_ACKNOWLEDGE_IND):
        raise MmsDecodeError(
            f"expected m-notifyresp-ind or m-acknowledge-ind, got {fields.message_type_name}")
    if not fields.transaction_id:
        raise MmsDecodeError(f"{fields.message_type_name} without X-Mms-Transaction-Id")
    if fields.mms_version is None:
        raise MmsDecodeError(f"{fields.message_type_name} without X-Mms-MMS-Version")
    if fields.message_type == MESSAGE_TYPE_NOTIFYRESP_IND:
        if fields.status is None:
            raise MmsDecodeError("m-notifyresp-ind without X-Mms-Status")
        return HandsetReport(kind="notifyresp", transaction_id=fields.transaction_id,
                             status=fields.status)
    return HandsetReport(kind="acknowledge", transaction_id=fields.transaction_id)
