"""The de-facto SMPP delivery receipt text carried in a deliver_sm's short_message.

    id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD
    err:EEE text:...

The format is vendor-specific (docs/wire-formats.md §1.11): field names appear in any case,
some fields are left out, dates have 10 or 12 digits. ``parse_receipt_text`` reads it field by
field and tolerates all of that; only a missing ``id`` is an error, because without it the
receipt cannot be matched to a message. When the deliver_sm carries the receipted_message_id
and message_state TLVs, prefer those over the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from carriers.smpp.pdus import MessageState

__all__ = [
    "ReceiptText",
    "format_receipt_text",
    "message_state_to_stat",
    "parse_receipt_text",
    "stat_to_message_state",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiptText:
    """The fields of a receipt text; ``None`` where the SMSC left a field out or garbled it.

    ``stat`` is upper-cased (``DELIVRD``); ``err`` is kept as text because vendors put more
    than digits there. Dates are naive: the SMSC's local time, usually China Standard Time.
    """

    id: str
    sub: int | None = None
    dlvrd: int | None = None
    submit_date: datetime | None = None
    done_date: datetime | None = None
    stat: str | None = None
    err: str | None = None
    text: str | None = None


# A field label: one of the known names, at the start or after whitespace, then a colon.
_LABEL = re.compile(
    r"(?:^|(?<=\s))(id|sub|dlvrd|submit[ _]date|done[ _]date|stat|err|text)\s*:",
    re.IGNORECASE,
)


def parse_receipt_text(text: str) -> ReceiptText:
    """Parse receipt text; raise ``ValueError`` if it has no non-empty ``id:`` field.

    Each value is the first word after its label (anything else before the next label, such
    as a vendor's extra field, is ignored); ``text:`` runs to the end of the string. A field
    that appears twice keeps its first value.
    """
    values: dict[str, str] = {}
    labels = list(_LABEL.finditer(text))
    for index, label in enumerate(labels):
        name = label.group(1).lower().replace("_", " ")
        if name == "text":
            values.setdefault(name, text[label.end() :])
            break
        end = labels[index + 1].start() if index + 1 < len(labels) else len(text)
        tokens = text[label.end() : end].split(None, 1)
        values.setdefault(name, tokens[0] if tokens else "")
    message_id = values.get("id", "")
    if not message_id:
        raise ValueError(f"delivery receipt text has no id field: {text[:80]!r}")
    stat = values.get("stat")
    return ReceiptText(
        id=message_id,
        sub=_count(values.get("sub")),
        dlvrd=_count(values.get("dlvrd")),
        submit_date=_receipt_date(values.get("submit date")),
        done_date=_receipt_date(values.get("done date")),
        stat=stat.upper() if stat else None,
        err=values.get("err") or None,
        text=values.get("text"),
    )


def format_receipt_text(receipt: ReceiptText, *, seconds: bool = False) -> str:
    """Render ``receipt`` in the usual layout; fields that are ``None`` are left out.

    ``sub`` and ``dlvrd`` are zero-padded to three digits and ``text`` is cut to 20
    characters, as SMSCs do. Dates get 10 digits, or 12 with ``seconds=True``.
    """
    date_format = "%y%m%d%H%M%S" if seconds else "%y%m%d%H%M"
    parts = [f"id:{receipt.id}"]
    if receipt.sub is not None:
        parts.append(f"sub:{receipt.sub:03d}")
    if receipt.dlvrd is not None:
        parts.append(f"dlvrd:{receipt.dlvrd:03d}")
    if receipt.submit_date is not None:
        parts.append(f"submit date:{receipt.submit_date.strftime(date_format)}")
    if receipt.done_date is not None:
        parts.append(f"done date:{receipt.done_date.strftime(date_format)}")
    if receipt.stat is not None:
        parts.append(f"stat:{receipt.stat}")
    if receipt.err is not None:
        parts.append(f"err:{receipt.err}")
    if receipt.text is not None:
        parts.append(f"text:{receipt.text[:20]}")
    return " ".join(parts)


_STAT_TO_STATE: dict[str, MessageState] = {
    "ENROUTE": MessageState.ENROUTE,
    "DELIVRD": MessageState.DELIVERED,
    "DELIVERED": MessageState.DELIVERED,
    "EXPIRED": MessageState.EXPIRED,
    "DELETED": MessageState.DELETED,
    "UNDELIV": MessageState.UNDELIVERABLE,
    "UNDELIVERABLE": MessageState.UNDELIVERABLE,
    "ACCEPTD": MessageState.ACCEPTED,
    "ACCEPTED": MessageState.ACCEPTED,
    "UNKNOWN": MessageState.UNKNOWN,
    "REJECTD": MessageState.REJECTED,
    "REJECTED": MessageState.REJECTED,
}

_STATE_TO_STAT: dict[MessageState, str] = {
    MessageState.ENROUTE: "ENROUTE",
    MessageState.DELIVERED: "DELIVRD",
    MessageState.EXPIRED: "EXPIRED",
    MessageState.DELETED: "DELETED",
    MessageState.UNDELIVERABLE: "UNDELIV",
    MessageState.ACCEPTED: "ACCEPTD",
    MessageState.UNKNOWN: "UNKNOWN",
    MessageState.REJECTED: "REJECTD",
}


def stat_to_message_state(stat: str) -> MessageState:
    """Map a ``stat:`` word (any case; the 7-letter or the spelled-out form) to a state.

    Words no table knows, such as carrier-specific codes, map to ``MessageState.UNKNOWN``.
    """
    return _STAT_TO_STATE.get(stat.strip().upper(), MessageState.UNKNOWN)


def message_state_to_stat(state: int) -> str:
    """The 7-letter ``stat:`` word for a message_state value (``UNKNOWN`` if out of range)."""
    try:
        return _STATE_TO_STAT[MessageState(state)]
    except ValueError:
        return "UNKNOWN"


def _is_ascii_number(value: str | None) -> bool:
    return value is not None and value.isascii() and value.isdigit()


def _count(value: str | None) -> int | None:
    return int(value) if value is not None and _is_ascii_number(value) else None


def _receipt_date(value: str | None) -> datetime | None:
    """YYMMDDhhmm or YYMMDDhhmmss, year taken as 20YY; ``None`` if it is anything else."""
    if value is None or len(value) not in (10, 12) or not _is_ascii_number(value):
        return None
    second = int(value[10:12]) if len(value) == 12 else 0
    try:
        return datetime(
            2000 + int(value[0:2]),
            int(value[2:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(value[8:10]),
            second,
        )
    except ValueError:  # month 13, hour 25 and the like
        return None
