"""Translation between SGIP PDUs and the protocol-neutral carrier messages. Pure.

* :func:`submits_for`: one SUBMIT per part of an :class:`~carriers.messages.OutboundMessage`:
  SPNumber is the message's source (short code plus extension), one UserNumber, the
  destination in SGIP's form (:func:`user_number_of`: "86" leads, no "+"), TP_udhi 1 when the
  part starts with a UDH, MessageCoding the part's coding in SGIP's numbers
  (``carriers.codings``: GSM 7-bit cannot go on SGIP and is a ``ValueError``), ReportFlag 1
  (always) when a receipt is wanted and 2 (never) otherwise, MorelatetoMTFlag 0 for a reply to
  an MO (the message carries the MO's link id) and 2 otherwise; CorpId, ServiceType and the
  fee fields come from the link's settings.
* :func:`inbound_from`: a DELIVER is an MO (its text decoded by MessageCoding, a leading UDH
  dropped: each part of a concatenated MO is its own message, as on SMPP and CMPP), its
  carrier message id the DELIVER's Sequence Number; a REPORT about a SUBMIT (ReportType 0) is a
  receipt whose message id is ``sequence_text`` of its SubmitSequenceNumber, the id the
  submit connection reported (``carriers.sgip.client``).  A REPORT about a forwarded DELIVER
  (ReportType 1) is not the gateway's business: :class:`UnreadableMessage`.
* Report State → receipt: 0 delivered (stat ``DELIVRD``), 1 waiting (``ENROUTE``), 2 failed
  (``UNDELIV``, ``error`` naming the ErrorCode, protocols.md §3.4); another State is UNKNOWN.
  SGIP reports carry no times.
* :class:`SgipTranslator` is the :class:`~carriers.link.api.MessageTranslator` of an SGIP
  link: it encodes each distinct message content once (a ``SubmitTemplate`` per part, the
  UserNumber spliced in per recipient) and classifies SUBMIT_RESP Results: 9 (illegal sequence
  number: a resend gets a new one), 11 (node busy), 32 (system failure) and 33 (SMSC queue
  full) are TRANSIENT; every other Result is PERMANENT.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from carriers.codings import coding_from_wire, wire_number
from carriers.link.api import UnreadableMessage
from carriers.link.templates import TemplateCache
from carriers.messages import (
    DeliveryReceipt,
    InboundMessage,
    OutboundMessage,
    ReceiptState,
    SubmitOutcome,
)
from carriers.sgip.client import SgipClientSettings
from carriers.sgip.codec import SubmitTemplate
from carriers.sgip.pdus import (
    SEQUENCE_OFFSET,
    Deliver,
    Report,
    ReportState,
    ReportType,
    Result,
    Submit,
    result_name,
)
from carriers.sgip.sequence import (
    REFERENCE_FLAG,
    SEQUENCE_LENGTH,
    ZERO,
    reference_of,
    sequence_text,
)
from carriers.text_coding import decode_text

__all__ = [
    "TRANSIENT_RESULTS", "SgipTranslator", "UnreadableMessage", "inbound_from",
    "receipt_from", "submits_for", "user_number_of",
]

TRANSIENT_RESULTS = frozenset({
    Result.ILLEGAL_SEQUENCE_NUMBER, Result.NODE_BUSY, Result.SYSTEM_FAILURE,
    Result.SMSC_QUEUE_FULL,
})
"""SUBMIT_RESP Results worth a later retry (module docstring)."""

_REPORT_ALWAYS = 1
_REPORT_NEVER = 2
_MT_ANSWERING_AN_MO = 0
_MT_NOT_FROM_AN_MO = 2
_STATES: dict[int, tuple[ReceiptState, str]] = {
    ReportState.DELIVERED: (ReceiptState.DELIVERED, "DELIVRD"),
    ReportState.WAITING: (ReceiptState.ENROUTE, "ENROUTE"),
    ReportState.FAILED: (ReceiptState.UNDELIVERABLE, "UNDELIV"),
}
_COUNTER_AT = SEQUENCE_OFFSET + SEQUENCE_LENGTH - 4
"""Where a SUBMIT's counter word sits in its header."""


def user_number_of(destination: str) -> str:
    """SGIP's UserNumber: "86" leads (§3.5; Result 6 otherwise), no "+".
    ``"+8613800138000"`` and ``"13800138000"`` → ``"8613800138000"``."""
    number = destination.removeprefix("+")
    return number if number.startswith("86") else "86" + number


def submits_for(message: OutboundMessage, settings: SgipClientSettings) -> list[Submit]:
    """One SUBMIT per part, each to the message's destination (Sequence Number left zero)."""
    template = Submit(
        sequence=ZERO,
        sp_number=message.source,
        charge_number=settings.charge_number,
        user_numbers=(user_number_of(message.destination),),
        corp_id=settings.corp_id,
        service_type=settings.service_type,
        fee_type=settings.fee_type,
        fee_value=settings.fee_value,
        given_value=settings.given_value,
        agent_flag=settings.agent_flag,
        morelateto_mt_flag=_MT_ANSWERING_AN_MO if message.link_id else _MT_NOT_FROM_AN_MO,
        priority=settings.priority,
        report_flag=_REPORT_ALWAYS if message.want_receipt else _REPORT_NEVER,
    )
    return [
        replace(template, tp_udhi=1 if part.has_udh else 0,
                message_coding=wire_number("sgip", part.coding), message_content=part.payload)
        for part in message.parts
    ]


def inbound_from(
    pdu: Deliver | Report, *, carrier: str, received_at: datetime
) -> InboundMessage | DeliveryReceipt:
    """Read an MO out of a DELIVER or a receipt out of a REPORT."""
    if isinstance(pdu, Report):
        return receipt_from(pdu, carrier=carrier, received_at=received_at)
    payload = pdu.message_content
    if pdu.tp_udhi and payload:
        header_length = payload[0] + 1
        if header_length > len(payload):
            raise UnreadableMessage("UDH length runs past the message")
        payload = payload[header_length:]
    try:
        text = decode_text(payload, coding_from_wire("sgip", pdu.message_coding))
    except ValueError as exc:
        raise UnreadableMessage(str(exc)) from None
    return InboundMessage(
        carrier=carrier,
        source=pdu.user_number,
        destination=pdu.sp_number,
        text=text,
        received_at=received_at,
        carrier_message_id=sequence_text(pdu.sequence),
    )


def receipt_from(pdu: Report, *, carrier: str, received_at: datetime) -> DeliveryReceipt:
    if pdu.report_type != ReportType.SUBMIT:
        raise UnreadableMessage(
            f"REPORT type {pdu.report_type} is not about a SUBMIT (0); the gateway sent none")
    state, stat = _STATES.get(pdu.state, (ReceiptState.UNKNOWN, ""))
    failed = pdu.state == ReportState.FAILED
    return DeliveryReceipt(
        carrier=carrier,
        message_id=sequence_text(pdu.submit_sequence),
        state=state,
        stat=stat,
        error=result_name(pdu.error_code) if failed else "",
        received_at=received_at,
        subscriber=pdu.user_number or None,
        reference=reference_of(pdu.submit_sequence.counter),
    )


class SgipTranslator:
    """SGIP 1.2's words for the neutral messages, for one link's settings."""

    protocol = "sgip"

    def __init__(self, settings: SgipClientSettings) -> None:
        self.settings = settings
        self._templates: TemplateCache[SubmitTemplate] = TemplateCache()

    def frames_for(self, message: OutboundMessage) -> list[bytes]:
        """One SUBMIT per part; a part's reference (``message.references``) goes in the low
        bits of its counter word, which the session keeps when it numbers the SUBMIT."""
        number = user_number_of(message.destination)
        frames = [template.frame(number) for template in self._templates_for(message)]
        references = message.references
        if references is None:
            return frames
        return [frame[:_COUNTER_AT]
                + (REFERENCE_FLAG | reference).to_bytes(4, "big")
                + frame[_COUNTER_AT + 4:]
                for frame, reference in zip(frames, references, strict=True)]

    def _templates_for(self, message: OutboundMessage) -> list[SubmitTemplate]:
        """Encoded submits per distinct message content, reused for every recipient."""
        key = (message.source, message.parts, message.want_receipt, bool(message.link_id))
        return self._templates.get(key, lambda: [
            SubmitTemplate(submit) for submit in submits_for(message, self.settings)])

    def read(
        self, pdu: Deliver | Report, *, carrier: str, received_at: datetime
    ) -> InboundMessage | DeliveryReceipt:
        return inbound_from(pdu, carrier=carrier, received_at=received_at)

    def sender_of(self, pdu: Deliver | Report) -> str:
        return pdu.user_number

    def classify(self, status: int) -> SubmitOutcome:
        return SubmitOutcome.TRANSIENT if status in TRANSIENT_RESULTS else SubmitOutcome.PERMANENT

    def status_name(self, status: int) -> str:
        return result_name(status)

    def login_status_name(self, status: int) -> str:
        return result_name(status)
