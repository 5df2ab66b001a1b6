"""The protocol-neutral language carrier links speak to the rest of the gateway.

Subscriptions, dispatch and reports see only these types, never a PDU field:
a new wire protocol is a new link that produces and consumes them.
"""

from __future__ import annotations

import dataclasses
import enum
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

_Message = TypeVar("_Message")


def _quick_pickle(cls: type[_Message]) -> type[_Message]:
    """Pickle ``cls`` (a frozen, slotted dataclass) as the tuple of its field values, read in
    C, and restore it from a name list made once: half the cost of the per-call field scan
    dataclasses use. These messages cross a pipe by the thousand per second (a link in its
    own process, ``gateway.link_process``)."""
    names = tuple(field.name for field in dataclasses.fields(cls))  # type: ignore[arg-type]
    values_of: Callable[[Any], tuple[Any, ...]] = operator.attrgetter(*names)
    put = object.__setattr__

    def __getstate__(self: Any) -> tuple[Any, ...]:
        return values_of(self)

    def __setstate__(self: Any, state: tuple[Any, ...]) -> None:
        for name, value in zip(names, state, strict=True):
            put(self, name, value)

    cls.__getstate__ = __getstate__  # type: ignore[attr-defined]
    cls.__setstate__ = __setstate__  # type: ignore[attr-defined]
    return cls


class Lane(enum.IntEnum):
    """Which queue an outbound message waits in; interactive goes first."""

    INTERACTIVE = 0
    BULK = 1


class TextCoding(enum.StrEnum):
    """How a part's payload is encoded, by name: each protocol maps it to its own number
    (SMPP ``data_coding``, CMPP ``Msg_Fmt``, ...; see :mod:`carriers.codings`)."""

    GSM7 = "gsm7"
    """GSM 03.38 default alphabet, one unpacked septet per octet."""
    UCS2 = "ucs2"
    """UTF-16BE."""
    ASCII = "ascii"
    LATIN1 = "latin1"
    BINARY = "binary"
    """8-bit data, not text (e.g. WAP Push)."""
    GBK = "gbk"
    """Chinese GBK, decoded as its superset GB18030."""


@_quick_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class MessagePart:
    """One SM on the wire: payload octets, how they are coded, and whether a UDH leads."""

    payload: bytes
    coding: TextCoding
    has_udh: bool = False


@_quick_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundMessage:
    """An MT to one subscriber: one or more parts sent from a short code."""

    source: str
    destination: str
    parts: tuple[MessagePart, ...]
    want_receipt: bool = True
    lane: Lane = Lane.BULK
    link_id: str = ""
    """The carrier's id of the on-demand session an MO opened (CMPP 3.0 LinkID), echoed on
    the reply to that MO; empty otherwise. Links whose protocol has no such field ignore it."""
    references: tuple[int, ...] | None = None
    """One 16-bit reference (0..65535) per part, chosen by the sender before the submit
    leaves. Links that can carry it put it on the wire (SMPP: ``user_message_reference``);
    SMSCs that echo it in receipts let a part whose submit result was lost be reconciled."""

    def __post_init__(self) -> None:
        references = self.references
        if references is None:
            return
        fits = len(references) == len(self.parts)
        for reference in references:  # a loop: all() of a generator costs more per message
            fits = fits and 0 <= reference <= 0xFFFF
        if not fits:
            raise ValueError(
                f"references {references!r}: need one 0..65535 per part "
                f"({len(self.parts)} parts)"
            )


class SubmitOutcome(enum.Enum):
    """A submit's fate, classified by the link that sent it (dispatch never sees a
    protocol's status numbers)."""

    ACCEPTED = "accepted"
    TRANSIENT = "transient"
    """The carrier refused it for now (throttling, congestion, a system error): retry later."""
    PERMANENT = "permanent"
    """The carrier refused it for good (bad number, bad content, not allowed)."""
    UNANSWERED = "unanswered"
    """Sent, but no response: the carrier may or may not have it."""
    NOT_SENT = "not_sent"
    """Never left the gateway (link shut down while queued)."""


@_quick_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitResult:
    """What happened to one part of an outbound message.

    ``status`` is the protocol's own result code and ``reason`` its name (for logs and the
    console), e.g. ``ESME_RINVDSTADR (0x0B)`` or ``CMPP result 8 (flow control)``."""

    outcome: SubmitOutcome
    message_id: str | None = None
    status: int | None = None
    reason: str = ""


@_quick_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class InboundMessage:
    """An MO from a subscriber, as received on a carrier link."""

    carrier: str
    source: str
    destination: str
    text: str
    received_at: datetime
    carrier_message_id: str | None = None
    link_id: str = ""
    """The carrier's on-demand session id (CMPP 3.0 LinkID), to echo on the reply."""


class ReceiptState(enum.Enum):
    DELIVERED = "delivered"
    UNDELIVERABLE = "undeliverable"
    EXPIRED = "expired"
    REJECTED = "rejected"
    DELETED = "deleted"
    UNKNOWN = "unknown"
    ENROUTE = "enroute"
    ACCEPTED = "accepted"


@_quick_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryReceipt:
    """The SMSC's final word on a submitted part, matched by ``message_id``."""

    carrier: str
    message_id: str
    state: ReceiptState
    stat: str
    error: str = ""
    submitted_at: datetime | None = None
    done_at: datetime | None = None
    received_at: datetime
    subscriber: str | None = None
    """The handset number the receipt is about, as the carrier wrote it."""
    reference: int | None = None
    """The part reference the sender chose (``OutboundMessage.references``), when the carrier
    echoed one. With ``subscriber`` it reconciles parts whose submit result was lost; SMPP
    fills both from the deliver_sm, SGIP/CMPP/SMGP will fill them their own way."""
