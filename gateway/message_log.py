"""Repository functions for the MO/MT message log. They take a session and never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from carriers.messages import (
    DeliveryReceipt,
    InboundMessage,
    ReceiptState,
    SubmitOutcome,
    SubmitResult,
)
from gateway.db.models import InboundMessage as InboundRow
from gateway.db.models import OutboundMessage as OutboundRow
from gateway.db.models import OutboundSegment, UnmatchedReceipt
from gateway.states import MessageStatus

FINAL_SEGMENT_STATES: dict[ReceiptState, MessageStatus] = {
    ReceiptState.DELIVERED: MessageStatus.DELIVERED,
    ReceiptState.UNDELIVERABLE: MessageStatus.UNDELIVERABLE,
    ReceiptState.EXPIRED: MessageStatus.EXPIRED,
    ReceiptState.REJECTED: MessageStatus.REJECTED,
    ReceiptState.DELETED: MessageStatus.UNDELIVERABLE,
    ReceiptState.UNKNOWN: MessageStatus.UNKNOWN,
}
"""A final receipt's state → the status of the segment (or digest part) it is for; the
values are also ``DeliveryStatus`` values (the same strings)."""


def record_inbound(session: Session, message: InboundMessage, outcome: str | None = None) -> int:
    # One INSERT … RETURNING, without the ORM's unit of work: every MO passes here.
    return int(session.execute(insert(InboundRow.__table__).values(
        carrier=message.carrier,
        source_addr=message.source,
        destination_addr=message.destination,
        text=message.text,
        carrier_message_id=message.carrier_message_id,
        received_at=message.received_at,
        outcome=outcome,
    ).returning(InboundRow.__table__.c.id)).scalar_one())


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
    _finish_segment(session, segment, state, receipt.error or None,
                    receipt.done_at or receipt.received_at, receipt.received_at)
    return True


def apply_reply_receipts(
    session: Session, receipts: Sequence[DeliveryReceipt]
) -> list[DeliveryReceipt]:
    """:func:`apply_receipt` for many receipts at once; returns those that are for no stored
    reply segment (intermediate ones included: they may still be evidence for a digest part).

    One indexed look-up per 500 receipts finds which message ids are replies' segments, so a
    flood of receipts for digest parts (or for nothing) costs no query per receipt."""
    final = [r for r in receipts if r.state in FINAL_SEGMENT_STATES]
    known: set[tuple[str, str]] = set()
    for carrier in {r.carrier for r in final}:
        ids = sorted({r.message_id for r in final if r.carrier == carrier})
        for start in range(0, len(ids), 500):
            known.update((carrier, found) for found in session.scalars(
                select(OutboundSegment.smsc_message_id).where(
                    OutboundSegment.carrier == carrier,
                    OutboundSegment.smsc_message_id.in_(ids[start:start + 500]))))
    return [receipt for receipt in receipts
            if receipt.state not in FINAL_SEGMENT_STATES
            or (receipt.carrier, receipt.message_id) not in known
            or not apply_receipt(session, receipt)]


_SEGMENT_STATUS = {
    SubmitOutcome.ACCEPTED: MessageStatus.SUBMITTED,
    SubmitOutcome.TRANSIENT: MessageStatus.REJECTED,
    SubmitOutcome.PERMANENT: MessageStatus.REJECTED,
    SubmitOutcome.UNANSWERED: MessageStatus.UNKNOWN,
    SubmitOutcome.NOT_SENT: MessageStatus.FAILED,
}


def record_submit_results(
    session: Session, outbound_id: int, carrier: str, results: Sequence[SubmitResult],
    now: datetime,
) -> str:
    """Store one segment row per submitted part and the message's status; return it.

    Receipts that raced ahead of this (kept as unmatched) are applied here.
    """
    segments = []
    for seqnum, result in enumerate(results, 1):
        segment = OutboundSegment(
            outbound_id=outbound_id, seqnum=seqnum, carrier=carrier,
            smsc_message_id=result.message_id, status=_SEGMENT_STATUS[result.outcome],
            error=(result.reason or None) if result.outcome is not SubmitOutcome.ACCEPTED
            else None,
        )
        session.add(segment)
        segments.append(segment)
    outcomes = {r.outcome for r in results}
    if outcomes == {SubmitOutcome.ACCEPTED}:
        status = MessageStatus.SUBMITTED
    elif outcomes & {SubmitOutcome.PERMANENT, SubmitOutcome.TRANSIENT}:
        status = MessageStatus.REJECTED
    elif SubmitOutcome.UNANSWERED in outcomes:
        status = MessageStatus.UNKNOWN
    else:
        status = MessageStatus.FAILED
    session.execute(
        update(OutboundRow).where(OutboundRow.id == outbound_id).values(
            status=status, segment_count=len(results), submitted_at=now,
        )
    )
    session.flush()
    ids = [s.smsc_message_id for s in segments if s.smsc_message_id]
    if ids:
        early = session.scalars(select(UnmatchedReceipt).where(
            UnmatchedReceipt.carrier == carrier, UnmatchedReceipt.message_id.in_(ids)
        )).all()
        for receipt in early:
            segment = next(s for s in segments if s.smsc_message_id == receipt.message_id)
            _finish_segment(session, segment, FINAL_SEGMENT_STATES[ReceiptState(receipt.state)],
                            receipt.error, receipt.done_at or receipt.received_at,
                            receipt.received_at)
        if early:
            session.execute(delete(UnmatchedReceipt).where(
                UnmatchedReceipt.id.in_([r.id for r in early])))
    return status


def _finish_segment(
    session: Session, segment: OutboundSegment, state: str, error: str | None,
    done_at: datetime, received_at: datetime,
) -> None:
    segment.status = state
    segment.error = error
    segment.done_at = done_at
    session.flush()
    statuses = session.scalars(
        select(OutboundSegment.status).where(OutboundSegment.outbound_id == segment.outbound_id)
    ).all()
    if all(s in FINAL_SEGMENT_STATES.values() for s in statuses):
        delivered = MessageStatus.DELIVERED
        final = delivered if all(s == delivered for s in statuses) else next(
            s for s in statuses if s != delivered
        )
        session.execute(
            update(OutboundRow)
            .where(OutboundRow.id == segment.outbound_id)
            .values(status=final, done_at=received_at)
        )

