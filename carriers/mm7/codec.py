"""MM7 requests and responses as typed values ⇄ SOAP envelopes (pure; lxml builds every
element, no XML is written by hand).

VASP → MMSC: :class:`SubmitRequest` (``SubmitReq``), answered by :class:`SubmitResponse`
(``SubmitRsp``) or a SOAP Fault. MMSC → VASP: :class:`DeliveryReportRequest`
(``DeliveryReportReq``, answered ``DeliveryReportRsp``) and :class:`DeliverRequest`
(``DeliverReq``, an MO MMS, answered ``DeliverRsp``). Both sides are here, as the simulated
MMSC speaks the other one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from carriers.mm7 import statuses
from carriers.mm7.soap import (
    RELEASES,
    Envelope,
    Fault,
    Mm7Error,
    build_envelope,
    child,
    namespace_of,
    parse_envelope,
    parse_fault,
    text_of,
)


class MmStatus(enum.StrEnum):
    """``MMStatus`` of a delivery report (TS 23.140 §8.4.2)."""

    EXPIRED = "Expired"
    RETRIEVED = "Retrieved"
    REJECTED = "Rejected"
    INDETERMINATE = "Indeterminate"
    FORWARDED = "Forwarded"
    DEFERRED = "Deferred"
    UNRECOGNISED = "Unrecognised"
    UNREACHABLE = "Unreachable"


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitRequest:
    transaction_id: str
    release: str
    vasp_id: str
    vas_id: str
    sender_address: str
    """The short code the message is from (``SenderAddress/ShortCode``)."""
    recipients: tuple[str, ...]
    service_code: str = ""
    content_id: str = "mms-content"
    """The Content-ID of the MIME part holding the MMS (``Content href="cid:…"``)."""
    subject: str = ""
    message_class: str = "Informational"
    delivery_report: bool = True
    expiry: datetime | None = None
    timestamp: datetime | None = None
    allow_adaptations: bool = True

    def __post_init__(self) -> None:
        if not self.recipients:
            raise ValueError("a SubmitReq needs at least one recipient")
        namespace_of(self.release)  # raises for an unknown release


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitResponse:
    transaction_id: str
    status_code: int
    status_text: str = ""
    message_id: str | None = None

    @property
    def status_class(self) -> statuses.StatusClass:
        return statuses.classify(self.status_code)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryReportRequest:
    transaction_id: str
    release: str
    message_id: str
    recipient: str
    sender: str | None
    status: MmStatus
    status_text: str = ""
    date: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverRequest:
    transaction_id: str
    release: str
    sender: str
    recipients: tuple[str, ...]
    subject: str = ""
    content_href: str | None = None
    linked_id: str | None = None
    relay_server_id: str | None = None


def _el(parent: etree._Element, namespace: str, name: str, text: str | None = None
        ) -> etree._Element:
    element = etree.SubElement(parent, etree.QName(namespace, name))
    if text is not None:
        element.text = text
    return element


def _time(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


# -- VASP → MMSC ------------------------------------------------------------------------------


def build_submit_request(request: SubmitRequest) -> bytes:
    """The ``SubmitReq`` envelope, its elements in the schema's order."""
    ns = namespace_of(request.release)
    body = etree.Element(etree.QName(ns, "SubmitReq"), nsmap={"mm7": ns})
    _el(body, ns, "MM7Version", RELEASES[request.release])
    sender = _el(body, ns, "SenderIdentification")
    if request.vasp_id:
        _el(sender, ns, "VASPID", request.vasp_id)
    if request.vas_id:
        _el(sender, ns, "VASID", request.vas_id)
    _el(_el(sender, ns, "SenderAddress"), ns, "ShortCode", request.sender_address)
    recipients = _el(body, ns, "Recipients")
    to = _el(recipients, ns, "To")
    for number in request.recipients:
        _el(to, ns, "Number", number)
    if request.service_code:
        _el(body, ns, "ServiceCode", request.service_code)
    _el(body, ns, "MessageClass", request.message_class)
    if request.timestamp is not None:
        _el(body, ns, "TimeStamp", _time(request.timestamp))
    if request.expiry is not None:
        _el(body, ns, "ExpiryDate", _time(request.expiry))
    _el(body, ns, "DeliveryReport", "true" if request.delivery_report else "false")
    if request.subject:
        _el(body, ns, "Subject", request.subject)
    content = _el(body, ns, "Content")
    content.set("href", f"cid:{request.content_id}")
    content.set("allowAdaptations", "true" if request.allow_adaptations else "false")
    return build_envelope(ns, request.transaction_id, body)


def parse_submit_response(data: bytes) -> SubmitResponse:
    """A ``SubmitRsp``, or the MM7 status of a Fault as a response without a message id.
    Raise :class:`Mm7Error` for an answer that is neither."""
    fault = parse_fault(data)
    if fault is not None:
        return _fault_response(fault)
    envelope = parse_envelope(data)
    if envelope.operation != "SubmitRsp":
        raise Mm7Error(f"expected a SubmitRsp, got {envelope.operation}",
                       status=statuses.UNSUPPORTED_OPERATION)
    code, text = _status(envelope)
    message_id = text_of(envelope.body, envelope.namespace, "MessageID")
    if statuses.classify(code) is statuses.StatusClass.ACCEPTED and not message_id:
        raise Mm7Error("a successful SubmitRsp without a MessageID",
                       transaction_id=envelope.transaction_id)
    return SubmitResponse(transaction_id=envelope.transaction_id, status_code=code,
                          status_text=text, message_id=message_id)


def _fault_response(fault: Fault) -> SubmitResponse:
    if fault.status_code is None:
        # No MM7 status: a server-side fault is worth trying again, a client one is not.
        code = (statuses.SERVER_ERROR if "server" in fault.fault_code.lower()
                else statuses.CLIENT_ERROR)
        return SubmitResponse(transaction_id="", status_code=code,
                              status_text=fault.fault_string)
    return SubmitResponse(transaction_id="", status_code=fault.status_code,
                          status_text=fault.status_text or fault.fault_string)


def _status(envelope: Envelope) -> tuple[int, str]:
    ns, tid = envelope.namespace, envelope.transaction_id
    status = child(envelope.body, ns, "Status")
    if status is None:
        raise Mm7Error(f"{envelope.operation} has no Status", transaction_id=tid)
    code_text = text_of(status, ns, "StatusCode", required=True, transaction_id=tid) or ""
    if not (code_text.isascii() and code_text.isdigit() and len(code_text) == 4):
        raise Mm7Error(f"StatusCode {code_text[:20]!r} is not a 4-digit code",
                       transaction_id=tid)
    return int(code_text), text_of(status, ns, "StatusText") or ""


# -- MMSC → VASP ------------------------------------------------------------------------------


def parse_mmsc_request(data: bytes) -> DeliveryReportRequest | DeliverRequest:
    """A request the MMSC sends the VASP; anything else is an :class:`Mm7Error`."""
    envelope = parse_envelope(data)
    if envelope.operation == "DeliveryReportReq":
        return _delivery_report(envelope)
    if envelope.operation == "DeliverReq":
        return _deliver(envelope)
    raise Mm7Error(f"{envelope.operation} is not an operation this endpoint takes",
                   status=statuses.UNSUPPORTED_OPERATION, transaction_id=envelope.transaction_id)


def _address(parent: etree._Element | None, ns: str) -> str | None:
    """The first Number, ShortCode or RFC2822Address inside ``parent``."""
    if parent is None:
        return None
    for name in ("Number", "ShortCode", "RFC2822Address"):
        for element in parent.iter(f"{{{ns}}}{name}"):
            value = (element.text or "").strip()
            if value:
                return value
    return None


def _delivery_report(envelope: Envelope) -> DeliveryReportRequest:
    body, ns, tid = envelope.body, envelope.namespace, envelope.transaction_id
    message_id = text_of(body, ns, "MessageID", required=True, transaction_id=tid) or ""
    recipient = _address(child(body, ns, "Recipient"), ns)
    if recipient is None:
        raise Mm7Error("DeliveryReportReq has no Recipient", transaction_id=tid)
    raw_status = text_of(body, ns, "MMStatus", required=True, transaction_id=tid) or ""
    try:
        status = MmStatus(raw_status)
    except ValueError:
        raise Mm7Error(f"unknown MMStatus {raw_status[:40]!r}", transaction_id=tid) from None
    return DeliveryReportRequest(
        transaction_id=tid, release=envelope.release, message_id=message_id,
        recipient=recipient, sender=_address(child(body, ns, "Sender"), ns), status=status,
        status_text=text_of(body, ns, "StatusText") or "",
        date=text_of(body, ns, "Date") or "")


def _deliver(envelope: Envelope) -> DeliverRequest:
    body, ns, tid = envelope.body, envelope.namespace, envelope.transaction_id
    sender = _address(child(body, ns, "Sender"), ns)
    if sender is None:
        raise Mm7Error("DeliverReq has no Sender", transaction_id=tid)
    recipients_element = child(body, ns, "Recipients")
    recipients: list[str] = []
    if recipients_element is not None:
        for name in ("Number", "ShortCode", "RFC2822Address"):
            recipients += [(e.text or "").strip()
                           for e in recipients_element.iter(f"{{{ns}}}{name}")
                           if (e.text or "").strip()]
    if not recipients:
        raise Mm7Error("DeliverReq has no Recipients", transaction_id=tid)
    content = child(body, ns, "Content")
    return DeliverRequest(
        transaction_id=tid, release=envelope.release, sender=sender,
        recipients=tuple(recipients), subject=text_of(body, ns, "Subject") or "",
        content_href=content.get("href") if content is not None else None,
        linked_id=text_of(body, ns, "LinkedID"),
        relay_server_id=text_of(body, ns, "MMSRelayServerID"))


def build_response(release: str, transaction_id: str, operation: str, status_code: int,
                   status_text: str = "", *, message_id: str | None = None,
                   service_code: str | None = None) -> bytes:
    """A response envelope (``SubmitRsp``, ``DeliveryReportRsp``, ``DeliverRsp``)."""
    ns = namespace_of(release)
    body = etree.Element(etree.QName(ns, operation), nsmap={"mm7": ns})
    _el(body, ns, "MM7Version", RELEASES[release])
    status = _el(body, ns, "Status")
    _el(status, ns, "StatusCode", str(status_code))
    _el(status, ns, "StatusText", status_text or statuses.NAMES.get(status_code, ""))
    if service_code:
        _el(body, ns, "ServiceCode", service_code)
    if message_id is not None:
        _el(body, ns, "MessageID", message_id)
    return build_envelope(ns, transaction_id, body)


def parse_response_status(data: bytes, operation: str) -> tuple[int, str]:
    """The status of a ``DeliveryReportRsp``/``DeliverRsp`` (what the simulated MMSC reads)."""
    fault = parse_fault(data)
    if fault is not None:
        return fault.status_code or statuses.CLIENT_ERROR, fault.fault_string
    envelope = parse_envelope(data)
    if envelope.operation != operation:
        raise Mm7Error(f"expected {operation}, got {envelope.operation}")
    return _status(envelope)


# -- the MMSC's side (the simulator) ----------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedSubmit:
    transaction_id: str
    release: str
    vasp_id: str | None
    vas_id: str | None
    sender_address: str | None
    recipients: tuple[str, ...]
    delivery_report: bool
    content_href: str | None


def parse_submit_request(data: bytes) -> ReceivedSubmit:
    envelope = parse_envelope(data)
    body, ns, tid = envelope.body, envelope.namespace, envelope.transaction_id
    if envelope.operation != "SubmitReq":
        raise Mm7Error(f"{envelope.operation} is not an operation the MMSC takes",
                       status=statuses.UNSUPPORTED_OPERATION, transaction_id=tid)
    sender = child(body, ns, "SenderIdentification")
    recipients_element = child(body, ns, "Recipients")
    recipients = tuple((e.text or "").strip()
                       for e in (recipients_element.iter(f"{{{ns}}}Number")
                                 if recipients_element is not None else ())
                       if (e.text or "").strip())
    if not recipients:
        raise Mm7Error("SubmitReq has no recipient Number", transaction_id=tid)
    content = child(body, ns, "Content")
    return ReceivedSubmit(
        transaction_id=tid, release=envelope.release,
        vasp_id=text_of(sender, ns, "VASPID") if sender is not None else None,
        vas_id=text_of(sender, ns, "VASID") if sender is not None else None,
        sender_address=_address(child(sender, ns, "SenderAddress")
                                if sender is not None else None, ns),
        recipients=recipients,
        delivery_report=(text_of(body, ns, "DeliveryReport") or "").lower() in ("true", "1"),
        content_href=content.get("href") if content is not None else None)


def build_delivery_report_request(
    *, release: str, transaction_id: str, message_id: str, recipient: str, sender: str,
    status: MmStatus, date: datetime, status_text: str = "",
) -> bytes:
    ns = namespace_of(release)
    body = etree.Element(etree.QName(ns, "DeliveryReportReq"), nsmap={"mm7": ns})
    _el(body, ns, "MM7Version", RELEASES[release])
    _el(body, ns, "MessageID", message_id)
    _el(_el(body, ns, "Recipient"), ns, "Number", recipient)
    _el(_el(body, ns, "Sender"), ns, "ShortCode", sender)
    _el(body, ns, "Date", _time(date))
    _el(body, ns, "MMStatus", status.value)
    if status_text:
        _el(body, ns, "StatusText", status_text)
    return build_envelope(ns, transaction_id, body)


def build_deliver_request(
    *, release: str, transaction_id: str, sender: str, recipient: str, subject: str,
    content_id: str, relay_server_id: str = "", timestamp: datetime | None = None,
) -> bytes:
    ns = namespace_of(release)
    body = etree.Element(etree.QName(ns, "DeliverReq"), nsmap={"mm7": ns})
    _el(body, ns, "MM7Version", RELEASES[release])
    if relay_server_id:
        _el(body, ns, "MMSRelayServerID", relay_server_id)
    _el(_el(body, ns, "Sender"), ns, "Number", sender)
    _el(_el(_el(body, ns, "Recipients"), ns, "To"), ns, "ShortCode", recipient)
    if timestamp is not None:
        _el(body, ns, "TimeStamp", _time(timestamp))
    if subject:
        _el(body, ns, "Subject", subject)
    _el(body, ns, "Content").set("href", f"cid:{content_id}")
    return build_envelope(ns, transaction_id, body)
