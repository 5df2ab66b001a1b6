"""Translation between SMPP PDUs and the protocol-neutral carrier messages. Pure."""

from __future__ import annotations

import re
from datetime import datetime

from carriers.codings import coding_from_wire, wire_number
from carriers.messages import DeliveryReceipt, InboundMessage, OutboundMessage, ReceiptState
from carriers.smpp.pdus import (
    ESM_CLASS_DELIVERY_RECEIPT,
    ESM_CLASS_TYPE_MASK,
    ESM_CLASS_UDHI,
    DataSm,
    DeliverSm,
    MessageState,
    SubmitSm,
)
from carriers.smpp.receipts import parse_receipt_text
from carriers.text_coding import decode_text

_STATE_BY_MESSAGE_STATE: dict[int, ReceiptState] = {
    MessageState.ENROUTE: ReceiptState.ENROUTE,
    MessageState.DELIVERED: ReceiptState.DELIVERED,
    MessageState.EXPIRED: ReceiptState.EXPIRED,
    MessageState.DELETED: ReceiptState.DELETED,
    MessageState.UNDELIVERABLE: ReceiptState.UNDELIVERABLE,
    MessageState.ACCEPTED: ReceiptState.ACCEPTED,
    MessageState.UNKNOWN: ReceiptState.UNKNOWN,
    MessageState.REJECTED: ReceiptState.REJECTED,
}
_STATE_BY_STAT: dict[str, ReceiptState] = {
    "ENROUTE": ReceiptState.ENROUTE,
    "DELIVRD": ReceiptState.DELIVERED,
    "EXPIRED": ReceiptState.EXPIRED,
    "DELETED": ReceiptState.DELETED,
    "UNDELIV": ReceiptState.UNDELIVERABLE,
    "ACCEPTD": ReceiptState.ACCEPTED,
    "UNKNOWN": ReceiptState.UNKNOWN,
    "REJECTD": ReceiptState.REJECTED,
}


_STAT_BY_STATE = {state: stat for stat, state in _STATE_BY_STAT.items()}
_ERR = re.compile(r"\berr:\s*(\S+)", re.IGNORECASE)
_VALUE = re.compile(r"\s*(\S+)")


class UnreadableMessage(ValueError):
    """A deliver_sm the gateway cannot turn into an MO or a receipt."""


def submits_for(message: OutboundMessage) -> list[SubmitSm]:
    """One submit_sm per part; the parts already carry their UDH when they need one.

    A part's reference (``message.references``) goes in its ``user_message_reference``.
    """
    registered = 1 if message.want_receipt else 0
    references: tuple[int | None, ...] = message.references or (None,) * len(message.parts)
    return [
        SubmitSm(
            sequence_number=0,
            source_addr_ton=0,
            source_addr_npi=0,
            source_addr=message.source,
            dest_addr_ton=1 if message.destination.startswith("+") else 0,
            dest_addr_npi=1,
            destination_addr=message.destination.lstrip("+"),
            esm_class=ESM_CLASS_UDHI if part.has_udh else 0,
            registered_delivery=registered,
            data_coding=wire_number("smpp", part.coding),
            short_message=part.payload,
            user_message_reference=reference,
        )
        for part, reference in zip(message.parts, references, strict=True)
    ]


def is_receipt(pdu: DeliverSm | DataSm) -> bool:
    return (pdu.esm_class & ESM_CLASS_TYPE_MASK) == ESM_CLASS_DELIVERY_RECEIPT


def inbound_from(
    pdu: DeliverSm | DataSm, *, carrier: str, received_at: datetime
) -> InboundMessage | DeliveryReceipt:
    """Read an MO or a delivery receipt out of a deliver_sm / data_sm."""
    payload = pdu.message_payload if pdu.message_payload is not None else _short_message(pdu)
    if pdu.esm_class & ESM_CLASS_UDHI and payload:
        header_length = payload[0] + 1
        if header_length > len(payload):
            raise UnreadableMessage("UDH length runs past the message")
        payload = payload[header_length:]
    try:
        text = decode_text(payload, coding_from_wire("smpp", pdu.data_coding))
    except ValueError as exc:
        raise UnreadableMessage(str(exc)) from None
    if is_receipt(pdu):
        return _receipt_from(pdu, text, carrier=carrier, received_at=received_at)
    return InboundMessage(
        carrier=carrier,
        source=pdu.source_addr,
        destination=pdu.destination_addr,
        text=text,
        received_at=received_at,
        carrier_message_id=pdu.receipted_message_id,
    )


def _short_message(pdu: DeliverSm | DataSm) -> bytes:
    return pdu.short_message if isinstance(pdu, DeliverSm) else b""


def _error_code(text: str) -> str:
    """The first word after the receipt text's first ``err:`` label (any case, at a word's
    start), or "": what ``_ERR`` finds, without its slow scan of every position."""
    if not text.isascii():
        found = _ERR.search(text)
        return found.group(1) if found else ""
    lowered = text.lower()  # ASCII: the same length, so positions hold in ``text``
    start = lowered.find("err:")
    while start >= 0:
        if start == 0 or not (lowered[start - 1].isalnum() or lowered[start - 1] == "_"):
            value = _VALUE.match(text, start + 4)
            if value is not None:
                return value.group(1)
        start = lowered.find("err:", start + 1)
    return ""


def _receipt_from(
    pdu: DeliverSm | DataSm, text: str, *, carrier: str, received_at: datetime
) -> DeliveryReceipt:
    if pdu.receipted_message_id and pdu.message_state is not None:
        # The TLVs say it all (the common case, and the hot path of a big dispatch): take
        # only the error code from the text instead of parsing every field.
        state = _STATE_BY_MESSAGE_STATE.get(pdu.message_state, ReceiptState.UNKNOWN)
        return DeliveryReceipt(
            carrier=carrier, message_id=pdu.receipted_message_id, state=state,
            stat=_STAT_BY_STATE.get(state, state.name), error=_error_code(text),
            received_at=received_at, subscriber=pdu.source_addr or None,
            reference=pdu.user_message_reference,
        )
    try:
        fields = parse_receipt_text(text)
    except ValueError:
        fields = None
    message_id = pdu.receipted_message_id or (fields.id if fields else None)
    if not message_id:
        raise UnreadableMessage(f"delivery receipt without a message id: {text[:80]!r}")
    stat = fields.stat.upper() if fields and fields.stat else ""
    if pdu.message_state is not None:
        state = _STATE_BY_MESSAGE_STATE.get(pdu.message_state, ReceiptState.UNKNOWN)
    else:
        state = _STATE_BY_STAT.get(stat, ReceiptState.UNKNOWN)
    return DeliveryReceipt(
        carrier=carrier,
        message_id=message_id,
        state=state,
        stat=stat or state.name,
        error=(fields.err or "") if fields else "",
        submitted_at=fields.submit_date if fields else None,
        done_at=fields.done_date if fields else None,
        received_at=received_at,
        subscriber=pdu.source_addr or None,
        reference=pdu.user_message_reference,
    )
