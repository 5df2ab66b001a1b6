"""Repository functions for the MO/MT message log. They take a session and never commit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from carriers.messages import (
    DeliveryReceipt,
    InboundMessage,
    ReceiptState,
    SubmitOutcome,
    SubmitResult,
)
from gateway.db import driver_sql
from gateway.db.models import InboundMessage as InboundRow
from gateway.db.models import UnmatchedReceipt
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
    if receipt.state not in FINAL_SEGMENT_STATES:  # ENROUTE / ACCEPTED: nothing to record
        return True
    return not apply_reply_receipts(session, [receipt])


def apply_reply_receipts(
    session: Session, receipts: Sequence[DeliveryReceipt]
) -> list[DeliveryReceipt]:
    """Apply final receipts to the stored segments they are for, and finish the messages whose
    segments are all final; return the receipts that are for no stored segment
    (intermediate ones included: they may still be evidence for a digest part).

    A few multi-row statements whatever the count: one indexed look-up per 500 message ids,
    one executemany for the segments, one read of the touched messages' segments and one
    executemany for the messages that are done."""
    final = {(r.carrier, r.message_id): r for r in receipts if r.state in FINAL_SEGMENT_STATES}
    found: dict[tuple[str, str], tuple[int, int]] = {}
    for carrier in sorted({carrier for carrier, _ in final}):
        ids = sorted({mid for c, mid in final if c == carrier})
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start:start + _IN_CHUNK]
            for segment_id, outbound_id, message_id in driver_sql.fetch_all(
                    session, "SELECT id, outbound_id, smsc_message_id FROM outbound_segments "
                    f"WHERE carrier = ? AND smsc_message_id IN ({driver_sql.in_marks(len(chunk))}) "
                    "ORDER BY id DESC", (carrier, *chunk)):
                found.setdefault((carrier, message_id), (segment_id, outbound_id))
    if found:
        time = driver_sql.time_writer(session)
        driver_sql.execute_many(
            session, "UPDATE outbound_segments SET status = ?, error = ?, done_at = ? "
            "WHERE id = ?",
            [(FINAL_SEGMENT_STATES[final[key].state], final[key].error or None,
              time(final[key].done_at or final[key].received_at), segment_id)
             for key, (segment_id, _) in found.items()])
        received = {}
        for key, (_, outbound_id) in found.items():
            at = final[key].received_at
            received[outbound_id] = max(at, received.get(outbound_id, at))
        _finish_messages(session, received)
    return [receipt for receipt in receipts
            if (receipt.carrier, receipt.message_id) not in found
            or receipt.state not in FINAL_SEGMENT_STATES]


_IN_CHUNK = 500
"""Values per IN (…) list: well under SQLite's bound-parameter limit."""


def _finish_messages(session: Session, received: Mapping[int, datetime]) -> None:
    """Messages (id → when their latest receipt came) whose segments are now all final get
    their final status: delivered when every segment was, else the first segment's that
    was not."""
    statuses: dict[int, list[str]] = {}
    ids = sorted(received)
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start:start + _IN_CHUNK]
        for outbound_id, status in driver_sql.fetch_all(
                session, "SELECT outbound_id, status FROM outbound_segments WHERE outbound_id "
                f"IN ({driver_sql.in_marks(len(chunk))}) ORDER BY outbound_id, seqnum", chunk):
            statuses.setdefault(outbound_id, []).append(status)
    time = driver_sql.time_writer(session)
    driver_sql.execute_many(
        session, "UPDATE outbound_messages SET status = ?, done_at = ? WHERE id = ?",
        [(final, time(received[outbound_id]), outbound_id)
         for outbound_id, parts in statuses.items()
         if (final := message_final_status(parts)) is not None])


def message_final_status(segment_statuses: Sequence[str]) -> str | None:
    """A message's status once every segment is final (None before): delivered when every
    segment was, else the first segment's status that was not."""
    finals = FINAL_SEGMENT_STATES.values()
    if not segment_statuses or not all(s in finals for s in segment_statuses):
        return None
    delivered = MessageStatus.DELIVERED
    return next((s for s in segment_statuses if s != delivered), delivered)


_SEGMENT_STATUS = {
    SubmitOutcome.ACCEPTED: MessageStatus.SUBMITTED,
    SubmitOutcome.TRANSIENT: MessageStatus.REJECTED,
    SubmitOutcome.PERMANENT: MessageStatus.REJECTED,
    SubmitOutcome.UNANSWERED: MessageStatus.UNKNOWN,
    SubmitOutcome.NOT_SENT: MessageStatus.FAILED,
}


@dataclass(frozen=True, slots=True)
class SubmittedMessage:
    """A message's submit results, one per part, on their way to the database."""

    outbound_id: int
    carrier: str
    results: tuple[SubmitResult, ...]


def record_submit_results(
    session: Session, outbound_id: int, carrier: str, results: Sequence[SubmitResult],
    now: datetime,
) -> str:
    """Store one segment row per submitted part and the message's status; return it.

    Receipts that raced ahead of this (kept as unmatched) are applied here.
    """
    return record_submitted(session, [SubmittedMessage(outbound_id, carrier, tuple(results))],
                            now)[0]


def record_submitted(
    session: Session, submitted: Sequence[SubmittedMessage], now: datetime,
    receipts: dict[tuple[str, str], DeliveryReceipt] | None = None,
) -> list[str]:
    """:func:`record_submit_results` for many messages in a few multi-row statements; their
    statuses in order.

    ``receipts`` ((carrier, message id) → receipt) written in the same transaction: a final
    one for a part stored here is applied as the part is inserted, and taken out of it."""
    receipts = receipts if receipts is not None else {}
    time = driver_sql.time_writer(session)
    submitted_at = time(now)
    segments: list[tuple[Any, ...]] = []
    messages: list[tuple[Any, ...]] = []
    statuses: list[str] = []
    for item in submitted:
        parts: list[str] = []
        latest: datetime | None = None
        for seqnum, result in enumerate(item.results, 1):
            status: str = _SEGMENT_STATUS[result.outcome]
            error = (result.reason or None) if result.outcome is not SubmitOutcome.ACCEPTED \
                else None
            done_at = None
            receipt = receipts.get((item.carrier, result.message_id)) \
                if result.message_id and result.outcome is SubmitOutcome.ACCEPTED else None
            if receipt is not None and receipt.state in FINAL_SEGMENT_STATES:
                del receipts[(item.carrier, result.message_id)]
                status = FINAL_SEGMENT_STATES[receipt.state]
                error = receipt.error or None
                done_at = receipt.done_at or receipt.received_at
                latest = max(receipt.received_at, latest or receipt.received_at)
            parts.append(status)
            segments.append((item.outbound_id, seqnum, item.carrier, result.message_id, status,
                             error, time(done_at)))
        final = message_final_status(parts) if latest is not None else None
        statuses.append(final or _message_status(item.results))
        messages.append((statuses[-1], len(item.results), submitted_at,
                         time(latest) if final else None, item.outbound_id))
    driver_sql.execute_many(
        session, "INSERT INTO outbound_segments (outbound_id, seqnum, carrier, smsc_message_id, "
        "status, error, done_at) VALUES (?, ?, ?, ?, ?, ?, ?)", segments)
    driver_sql.execute_many(
        session, "UPDATE outbound_messages SET status = ?, segment_count = ?, submitted_at = ?, "
        "done_at = ? WHERE id = ?", messages)
    _apply_early_receipts(session, submitted)
    return statuses


def _message_status(results: Sequence[SubmitResult]) -> str:
    outcomes = {r.outcome for r in results}
    if outcomes == {SubmitOutcome.ACCEPTED}:
        return MessageStatus.SUBMITTED
    if outcomes & {SubmitOutcome.PERMANENT, SubmitOutcome.TRANSIENT}:
        return MessageStatus.REJECTED
    if SubmitOutcome.UNANSWERED in outcomes:
        return MessageStatus.UNKNOWN
    return MessageStatus.FAILED


def _apply_early_receipts(session: Session, submitted: Sequence[SubmittedMessage]) -> None:
    """Receipts that came before these submits' results were stored (kept as unmatched)."""
    early: list[DeliveryReceipt] = []
    for carrier in sorted({item.carrier for item in submitted}):
        ids = sorted({r.message_id for item in submitted if item.carrier == carrier
                      for r in item.results if r.message_id})
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start:start + _IN_CHUNK]
            kept = [row[0] for row in driver_sql.fetch_all(
                session, "SELECT id FROM unmatched_receipts WHERE carrier = ? AND message_id "
                f"IN ({driver_sql.in_marks(len(chunk))})", (carrier, *chunk))]
            if not kept:  # the common case: every receipt came after its result was stored
                continue
            rows = session.scalars(select(UnmatchedReceipt).where(
                UnmatchedReceipt.id.in_(kept))).all()
            early.extend(DeliveryReceipt(
                carrier=row.carrier, message_id=row.message_id, state=ReceiptState(row.state),
                stat=row.stat,
                error=row.error or "", done_at=row.done_at, received_at=row.received_at,
            ) for row in rows if row.state in {s.value for s in FINAL_SEGMENT_STATES})
            session.execute(delete(UnmatchedReceipt).where(UnmatchedReceipt.id.in_(kept)))
    if early:
        apply_reply_receipts(session, early)
