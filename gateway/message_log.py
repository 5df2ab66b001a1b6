"""Repository functions for the MO/MT message log. They take a session and never commit."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from carriers.messages import DeliveryReceipt, InboundMessage, ReceiptState
from gateway.db.models import InboundMessage as InboundRow
from gateway.db.models import OutboundMessage as OutboundRow
from gateway.db.models import OutboundSegment

FINAL_SEGMENT_STATES = {
    ReceiptState.DELIVERED: "delivered",
    ReceiptState.UNDELIVERABLE: "undeliverable",
    ReceiptState.EXPIRED: "expired",
    ReceiptState.REJECTED: "rejected",
    ReceiptState.DELETED: "undeliverable",
    ReceiptState.UNKNOWN: "unknown",
}


def record_inbound(session: Session, message: InboundMessage, outcome: str | None = None) -> int:
    row = InboundRow(
        carrier=message.carrier,
        source_addr=message.source,
        destination_addr=message.destination,
        text=message.text,
        carrier_message_id=message.carrier_message_id,
        received_at=message.received_at,
        outcome=outcome,
    )
    session.add(row)
    session.flush()
    return row.id


def apply_receipt(session: Session, receipt: DeliveryReceipt) -> bool:
    """Update the segment the receipt is for, and its message once every segment is final.

    Returns False when no segment has that message id (a receipt for a message this
    gateway does not know, or one that arrived before its submit response was stored).
    """
    state = FINAL_SEGMENT_STATES.get(receipt.state)
    if state is None:  # ENROUTE / ACCEPTED: not final, nothing to record
        return True
    segment = session.scalars(
        select(OutboundSegment).where(
            OutboundSegment.carrier == receipt.carrier,
            OutboundSegment.smsc_message_id == receipt.message_id,
        )
    ).first()
    if segment is None:
        return False
    segment.status = state
    segment.error = receipt.error or None
    segment.done_at = receipt.done_at or receipt.received_at
    session.flush()
    statuses = session.scalars(
        select(OutboundSegment.status).where(OutboundSegment.outbound_id == segment.outbound_id)
    ).all()
    if all(s in FINAL_SEGMENT_STATES.values() for s in statuses):
        final = "delivered" if all(s == "delivered" for s in statuses) else next(
            s for s in statuses if s != "delivered"
        )
        session.execute(
            update(OutboundRow)
            .where(OutboundRow.id == segment.outbound_id)
            .values(status=final, done_at=receipt.received_at)
        )
    return True

