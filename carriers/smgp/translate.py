"""Translation between SMGP PDUs and the protocol-neutral carrier messages. Pure.

* :func:`submits_for`: one Submit per part of an :class:`~carriers.messages.OutboundMessage`
  (docs/protocols.md §4.4, §5.1): MsgType 6 (MT); NeedReport 1 when a report is wanted;
  MsgFormat the part's coding in SMGP's numbers (``carriers.codings``); SrcTermID the
  message's source (service code plus extension); DestTermID the destination with a leading
  "+" stripped. A part that starts with a UDH carries the TLV TP_udhi = 1, and a message of
  several parts PkTotal / PkNumber; LinkID (an on-demand reply) and MsgSrc go as TLVs when
  set. ServiceID, the fee fields, Priority and ChargeTermID come from the link's settings.
* :func:`inbound_from`: a Deliver with IsReport 0 is an MO (its text decoded by MsgFormat, a
  leading UDH dropped when TP_udhi says there is one), with 1 a status report
  (:func:`receipt_from`, read by offsets: ``carriers.smgp.reports``).
* Report stat words map to receipt states like CMPP's; any other stat is UNDELIVERABLE with it
  kept; the report's ``err`` is the receipt's error when it is not "000" (else an unknown stat
  word); an empty stat is UNKNOWN. Report times (YYMMDDHHMM) are read in the SMGW's time zone.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, tzinfo

from carriers.cmpp.reports import parse_report_time
from carriers.cmpp.translate import receipt_state
from carriers.codings import coding_from_wire, wire_number
from carriers.messages import DeliveryReceipt, InboundMessage, OutboundMessage, ReceiptState
from carriers.smgp.client import SmgpClientSettings
from carriers.smgp.msg_id import msg_id_text
from carriers.smgp.pdus import Deliver, MsgType, Submit
from carriers.smgp.reports import decode_report
from carriers.text_coding import decode_text

__all__ = ["UnreadableMessage", "destination_of", "inbound_from", "receipt_from",
           "submits_for"]

_MO = 0
_REPORT = 1
_NO_ERROR = ("", "000", "0")


class UnreadableMessage(ValueError):
    """A Deliver the gateway cannot turn into an MO or a receipt."""


def submits_for(message: OutboundMessage, settings: SmgpClientSettings) -> list[Submit]:
    """One Submit per part, each to the message's destination (SequenceID left 0)."""
    total = len(message.parts)
    template = Submit(
        sequence_id=0,
        msg_type=MsgType.MT,
        need_report=1 if message.want_receipt else 0,
        priority=settings.priority,
        service_id=settings.service_id,
        fee_type=settings.fee_type,
        fee_code=settings.fee_code,
        fixed_fee=settings.fixed_fee,
        src_term_id=message.source,
        charge_term_id=settings.charge_term_id,
        dest_term_ids=(destination_of(message),),
        pk_total=total if total > 1 else None,
        link_id=message.link_id or None,
        msg_src=settings.msg_src or None,
    )
    return [
        replace(template, pk_number=number if total > 1 else None,
                tp_udhi=1 if part.has_udh else None,
                msg_format=wire_number("smgp", part.coding), msg_content=part.payload)
        for number, part in enumerate(message.parts, start=1)
    ]


def destination_of(message: OutboundMessage) -> str:
    """DestTermID: the number without a leading "+" ("86" stays if it was there)."""
    return message.destination.removeprefix("+")


def inbound_from(
    pdu: Deliver, *, carrier: str, received_at: datetime, zone: tzinfo
) -> InboundMessage | DeliveryReceipt:
    """Read an MO or a status report out of a Deliver; ``zone`` is the SMGW's time zone."""
    if pdu.is_report == _REPORT:
        return receipt_from(pdu, carrier=carrier, received_at=received_at, zone=zone)
    if pdu.is_report != _MO:
        raise UnreadableMessage(f"Deliver IsReport {pdu.is_report} is neither MO (0) nor "
                                "status report (1)")
    payload = pdu.msg_content
    if pdu.tp_udhi and payload:
        header_length = payload[0] + 1
        if header_length > len(payload):
            raise UnreadableMessage("UDH length runs past the message")
        payload = payload[header_length:]
    try:
        text = decode_text(payload, coding_from_wire("smgp", pdu.msg_format))
    except ValueError as exc:
        raise UnreadableMessage(str(exc)) from None
    return InboundMessage(
        carrier=carrier,
        source=pdu.src_term_id,
        destination=pdu.dest_term_id,
        text=text,
        received_at=received_at,
        carrier_message_id=msg_id_text(pdu.msg_id),
        link_id=pdu.link_id or "",
    )


def receipt_from(
    pdu: Deliver, *, carrier: str, received_at: datetime, zone: tzinfo
) -> DeliveryReceipt:
    """The status report in a Deliver's MsgContent, read by offsets."""
    try:
        report = decode_report(pdu.msg_content)
    except ValueError as exc:
        raise UnreadableMessage(str(exc)) from None
    stat = report.stat
    state = receipt_state(stat)
    if report.err not in _NO_ERROR:
        error = report.err
    else:
        known = state is not ReceiptState.UNDELIVERABLE or stat.upper() == "UNDELIV"
        error = "" if known else stat
    return DeliveryReceipt(
        carrier=carrier,
        message_id=msg_id_text(report.msg_id),
        state=state,
        stat=stat,
        error=error,
        submitted_at=_report_time(report.submit_date, zone),
        done_at=_report_time(report.done_date, zone),
        received_at=received_at,
        subscriber=pdu.src_term_id or None,
        reference=None,
    )


def _report_time(text: str, zone: tzinfo) -> datetime | None:
    naive = parse_report_time(text)
    return None if naive is None else naive.replace(tzinfo=zone)
