"""Translation between CMPP PDUs and the protocol-neutral carrier messages. Pure.

* :func:`submits_for`: one SUBMIT per part of an :class:`~carriers.messages.OutboundMessage`.
  Pk_total / Pk_number are the part count and index, TP_udhi is 1 when the part starts with a
  UDH, Msg_Fmt is the part's coding in CMPP's numbers (``carriers.codings``: GSM 7-bit cannot
  go on CMPP and is a ``ValueError``), Registered_Delivery is 1 when a report is wanted,
  Src_Id is the message's source (short code plus extension), Dest_terminal_Id the
  destination with a leading "+" stripped (CMPP numbers carry "86" or nothing), Msg_src the
  SP code; Service_Id, the fee fields and Msg_level come from the link's settings.
* :func:`inbound_from`: a DELIVER with Registered_Delivery 0 is an MO (its text decoded by
  Msg_Fmt, a leading UDH dropped: each part of a concatenated MO is its own message, as on
  SMPP), with 1 a status report (:func:`receipt_from`).
* Report Stat words map to receipt states; any other Stat (a network code such as
  ``MA:0001``, ``DB:0008``: docs/wire-formats.md §2.6, each a failure at some network element)
  is UNDELIVERABLE with the code kept in ``stat`` and ``error``; an empty Stat is UNKNOWN.
  Report times (YYMMDDHHMM) are read in the ISMG's time zone; an odd one gives None.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, tzinfo

from carriers.cmpp.client import CmppClientSettings
from carriers.cmpp.msg_id import msg_id_text
from carriers.cmpp.pdus import Deliver, Submit
from carriers.cmpp.reports import decode_report, parse_report_time
from carriers.codings import coding_from_wire, wire_number
from carriers.messages import DeliveryReceipt, InboundMessage, OutboundMessage, ReceiptState
from carriers.text_coding import decode_text

__all__ = [
    "UnreadableMessage", "destination_of", "inbound_from", "receipt_from", "receipt_state",
    "submits_for",
]

_STATE_BY_STAT: dict[str, ReceiptState] = {
    "DELIVRD": ReceiptState.DELIVERED,
    "EXPIRED": ReceiptState.EXPIRED,
    "DELETED": ReceiptState.DELETED,
    "UNDELIV": ReceiptState.UNDELIVERABLE,
    "ACCEPTD": ReceiptState.ACCEPTED,
    "UNKNOWN": ReceiptState.UNKNOWN,
    "REJECTD": ReceiptState.REJECTED,
    "ENROUTE": ReceiptState.ENROUTE,
}

_MO = 0
_REPORT = 1


class UnreadableMessage(ValueError):
    """A DELIVER the gateway cannot turn into an MO or a receipt."""


def submits_for(message: OutboundMessage, settings: CmppClientSettings) -> list[Submit]:
    """One SUBMIT per part, each to the message's destination (Sequence_Id left 0)."""
    total = len(message.parts)
    template = Submit(
        sequence_id=0,
        pk_total=total,
        registered_delivery=1 if message.want_receipt else 0,
        msg_level=settings.msg_level,
        service_id=settings.service_id,
        fee_user_type=settings.fee_user_type,
        msg_src=settings.source_addr,
        fee_type=settings.fee_type,
        fee_code=settings.fee_code,
        src_id=message.source,
        dest_terminal_ids=(destination_of(message),),
        link_id=message.link_id,
    )
    return [
        replace(template, pk_number=number, tp_udhi=1 if part.has_udh else 0,
                msg_fmt=wire_number("cmpp", part.coding), msg_content=part.payload)
        for number, part in enumerate(message.parts, start=1)
    ]


def destination_of(message: OutboundMessage) -> str:
    """Dest_terminal_Id: the number without a leading "+" ("86" stays if it was there)."""
    return message.destination.removeprefix("+")


def inbound_from(
    pdu: Deliver, *, carrier: str, received_at: datetime, zone: tzinfo
) -> InboundMessage | DeliveryReceipt:
    """Read an MO or a status report out of a DELIVER; ``zone`` is the ISMG's time zone."""
    if pdu.registered_delivery == _REPORT:
        return receipt_from(pdu, carrier=carrier, received_at=received_at, zone=zone)
    if pdu.registered_delivery != _MO:
        raise UnreadableMessage(
            f"DELIVER Registered_Delivery {pdu.registered_delivery} is neither MO (0) nor "
            "status report (1)")
    payload = pdu.msg_content
    if pdu.tp_udhi and payload:
        header_length = payload[0] + 1
        if header_length > len(payload):
            raise UnreadableMessage("UDH length runs past the message")
        payload = payload[header_length:]
    try:
        text = decode_text(payload, coding_from_wire("cmpp", pdu.msg_fmt))
    except ValueError as exc:
        raise UnreadableMessage(str(exc)) from None
    return InboundMessage(
        carrier=carrier,
        source=pdu.src_terminal_id,
        destination=pdu.dest_id,
        text=text,
        received_at=received_at,
        carrier_message_id=msg_id_text(pdu.msg_id),
        link_id=pdu.link_id,
    )


def receipt_from(
    pdu: Deliver, *, carrier: str, received_at: datetime, zone: tzinfo
) -> DeliveryReceipt:
    """The status report in a DELIVER's Msg_Content (60 or 71 octets, whatever the version)."""
    try:
        report = decode_report(pdu.msg_content)
    except ValueError as exc:
        raise UnreadableMessage(str(exc)) from None
    stat = report.stat.strip()
    state = receipt_state(stat)
    return DeliveryReceipt(
        carrier=carrier,
        message_id=msg_id_text(report.msg_id),
        state=state,
        stat=stat,
        error="" if stat.upper() in _STATE_BY_STAT else stat,
        submitted_at=_report_time(report.submit_time, zone),
        done_at=_report_time(report.done_time, zone),
        received_at=received_at,
        subscriber=report.dest_terminal_id or None,
        reference=None,
    )


def receipt_state(stat: str) -> ReceiptState:
    """The receipt state a report's Stat means (see the module docstring)."""
    if not stat:
        return ReceiptState.UNKNOWN
    return _STATE_BY_STAT.get(stat.upper(), ReceiptState.UNDELIVERABLE)


def _report_time(text: str, zone: tzinfo) -> datetime | None:
    naive = parse_report_time(text)
    return None if naive is None else naive.replace(tzinfo=zone)
