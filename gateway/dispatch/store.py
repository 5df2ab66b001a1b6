"""Database work of a dispatch: set-based and batched. Functions take a session, never commit.

Exactly once per (edition, subscriber) rests on three things here:
- a delivery row is created for every subscriber (one INSERT … SELECT, unique per edition
  and subscriber) before anything is sent;
- a row is marked ``sending`` in a committed transaction before its submit, and only rows
  still ``claimed`` are marked (an unsubscribe cancels claimed rows first);
- after a crash, ``claimed`` rows go back to ``pending`` (never sent), while ``sending``
  rows become ``uncertain``: they may have reached the SMSC, and SMPP cannot tell, so they
  are not sent again (at most once) and are counted in the report.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Row, and_, bindparam, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from carriers.messages import DeliveryReceipt, ReceiptState, SubmitOutcome, SubmitResult
from gateway.db.dispatch_models import Delivery, DeliveryPart, Dispatch
from gateway.db.models import Subscriber, UnmatchedReceipt
from gateway.message_log import FINAL_SEGMENT_STATES

DELIVERIES = Delivery.__table__

PART_FINAL = FINAL_SEGMENT_STATES
"""A receipt's state → the final status of the part it is for (the same as for replies)."""
OPEN_STATUSES = ("pending", "claimed", "sending")
TRANSIENT_STATUSES = frozenset({0x08, 0x14, 0x45, 0x58, 0x64})
"""ESME_RSYSERR, ESME_RMSGQFUL, ESME_RSUBMITFAIL, ESME_RTHROTTLED, ESME_RX_T_APPN."""


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    msisdn: str
    source_addr: str
    message_format: str
    attempts: int


def create_dispatch(
    session: Session, *, edition_id: int, carrier: str, cutoff: datetime, deadline: datetime,
    now: datetime,
) -> int:
    """The dispatch of ``edition_id`` over ``carrier``; created once, found afterwards."""
    existing = session.scalar(select(Dispatch.id).where(
        Dispatch.edition_id == edition_id, Dispatch.carrier == carrier))
    if existing is not None:
        return existing
    dispatch = Dispatch(edition_id=edition_id, carrier=carrier, status="preparing",
                        cutoff_at=cutoff, deadline_at=deadline, created_at=now, total=0)
    session.add(dispatch)
    session.flush()
    return dispatch.id


def materialise(session: Session, dispatch_id: int) -> int:
    """Create the delivery rows: one per subscriber active at the cut-off, in one statement.

    Idempotent (unique per edition and subscriber), so a dispatch interrupted while
    preparing prepares again safely. Returns the dispatch's number of deliveries.
    """
    dispatch = session.get(Dispatch, dispatch_id)
    assert dispatch is not None
    if dispatch.status == "preparing":
        chosen = select(
            literal(dispatch.id), literal(dispatch.edition_id), Subscriber.id,
            Subscriber.carrier, Subscriber.msisdn,
            Subscriber.short_code + Subscriber.extension, Subscriber.message_format,
            literal("pending"), literal(0), literal(0.0), literal(0.0), literal(0), literal(0),
            literal(0),
        ).where(
            Subscriber.carrier == dispatch.carrier,
            Subscriber.status == "active",
            Subscriber.activated_at <= dispatch.cutoff_at,
        )
        columns = ["dispatch_id", "edition_id", "subscriber_id", "carrier", "msisdn",
                   "source_addr", "message_format", "status", "attempts", "next_attempt_at",
                   "claimed_at", "parts_total", "parts_delivered", "parts_failed"]
        statement = _insert(session, Delivery).from_select(columns, chosen)
        session.execute(statement.on_conflict_do_nothing())
        dispatch.total = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.dispatch_id == dispatch.id)
        ) or 0
        dispatch.status = "running"
        dispatch.started_at = datetime.now(dispatch.created_at.tzinfo)
    return dispatch.total


def _insert(session: Session, table: type) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table))


def claim(
    session: Session, *, dispatch_id: int, node: str, limit: int, now: float
) -> list[Claimed]:
    """Take up to ``limit`` pending deliveries for this node. On PostgreSQL other processes'
    locked rows are skipped, so several processes split a dispatch without waiting."""
    candidates = select(Delivery.id).where(
        Delivery.dispatch_id == dispatch_id,
        Delivery.status == "pending",
        Delivery.next_attempt_at <= now,
    ).order_by(Delivery.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    rows = session.execute(
        update(Delivery)
        .where(Delivery.id.in_(candidates.scalar_subquery()))
        .values(status="claimed", claimed_by=node, claimed_at=now)
        .returning(Delivery.id, Delivery.msisdn, Delivery.source_addr, Delivery.message_format,
                   Delivery.attempts)
    ).all()
    return sorted((Claimed(*row) for row in rows), key=lambda c: c.id)


def mark_sending(session: Session, ids: Sequence[int], *, node: str, now: float) -> set[int]:
    """Commit-before-submit: the rows that are still ours to send (an unsubscribe may have
    cancelled some since they were claimed)."""
    if not ids:
        return set()
    rows = session.execute(
        update(Delivery)
        .where(Delivery.id.in_(list(ids)), Delivery.status == "claimed",
               Delivery.claimed_by == node)
        .values(status="sending", claimed_at=now)
        .returning(Delivery.id)
    ).all()
    return {row[0] for row in rows}


def unmark_sending(session: Session, ids: Sequence[int], *, node: str) -> None:
    """Rows marked ``sending`` that this node decided not to submit after all."""
    if ids:
        session.execute(update(Delivery).where(
            Delivery.id.in_(list(ids)), Delivery.status == "sending",
            Delivery.claimed_by == node,
        ).values(status="pending", claimed_by=None))


def release(session: Session, ids: Sequence[int], *, node: str) -> None:
    """Give claimed-but-unsent rows back (pause, quiet hours, shutdown)."""
    if ids:
        session.execute(update(Delivery).where(
            Delivery.id.in_(list(ids)), Delivery.status == "claimed",
            Delivery.claimed_by == node,
        ).values(status="pending", claimed_by=None))


@dataclass(frozen=True, slots=True)
class SendResult:
    delivery_id: int
    results: tuple[SubmitResult, ...]
    attempts: int


def record_results(
    session: Session, outcomes: Sequence[SendResult], *, carrier: str, now: datetime,
    retry_at: float, deadline: float,
) -> dict[str, int]:
    """Write the submit results of many deliveries at once; return counts by new status."""
    submitted: list[tuple[int, int]] = []
    parts: list[tuple[int, int, str, str | None]] = []
    others: list[dict[str, object]] = []
    counts: dict[str, int] = {}
    for outcome in outcomes:
        status, error = _status_of(outcome.results)
        if status == "retry":
            status = "pending" if retry_at < deadline else "failed"
            error = error if status == "pending" else f"deadline passed: {error}"
        counts[status] = counts.get(status, 0) + 1
        if status == "submitted":
            submitted.append((outcome.delivery_id, len(outcome.results)))
            parts.extend(
                (outcome.delivery_id, number, carrier, result.message_id)
                for number, result in enumerate(outcome.results, 1)
            )
        else:
            others.append({"b_id": outcome.delivery_id, "b_status": status,
                           "b_error": error[:200] if error else None,
                           "b_attempts": outcome.attempts + 1,
                           "b_next": retry_at if status == "pending" else 0.0})
    if submitted:
        when = _time_param(session, now)
        _many(session, "UPDATE deliveries SET status = 'submitted', parts_total = ?, "
              "submitted_at = ?, attempts = attempts + 1 WHERE id = ?",
              [(count, when, delivery_id) for delivery_id, count in submitted])
        _many(session, "INSERT INTO delivery_parts (delivery_id, part, carrier, message_id, "
              "status) VALUES (?, ?, ?, ?, 'submitted')", parts)
    if others:
        session.execute(
            update(DELIVERIES).where(DELIVERIES.c.id == bindparam("b_id"))
            .values(status=bindparam("b_status"), error=bindparam("b_error"),
                    attempts=bindparam("b_attempts"), next_attempt_at=bindparam("b_next"),
                    claimed_by=None),
            others,
        )
    return counts


def _many(session: Session, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """executemany straight to the driver: the hot paths of a big dispatch write millions of
    rows, and SQLAlchemy's per-row parameter processing would cost more than the database.
    ``sql`` uses ``?`` placeholders; values must already be in the driver's types."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    connection.exec_driver_sql(sql, list(rows))


def _once(session: Session, sql: str, params: tuple[Any, ...]) -> None:
    """One statement straight to the driver (``?`` placeholders, driver-typed values)."""
    connection = session.connection()
    if connection.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    connection.exec_driver_sql(sql, params)


def _time_param(session: Session, value: datetime) -> Any:
    """``value`` as the driver needs it for a timezone-aware DateTime column."""
    dialect = session.get_bind().dialect
    process = DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)
    return process(value) if process is not None else value


def _status_of(results: Sequence[SubmitResult]) -> tuple[str, str | None]:
    outcomes = [r.outcome for r in results]
    if all(o is SubmitOutcome.ACCEPTED for o in outcomes):
        return "submitted", None
    if any(o is SubmitOutcome.UNANSWERED for o in outcomes):
        return "uncertain", "a submit went unanswered: the SMSC may have it"
    if any(o is SubmitOutcome.ACCEPTED for o in outcomes):
        # Some parts are at the SMSC: sending again would duplicate them.
        return "failed", "only some parts were accepted"
    rejected = [r for r in results if r.outcome is SubmitOutcome.REJECTED]
    if rejected and all(r.status not in TRANSIENT_STATUSES for r in rejected):
        return "rejected", rejected[0].reason or f"status {rejected[0].status}"
    first = results[0]
    return "retry", first.reason or f"status {first.status}"


def apply_receipts(
    session: Session, receipts: Sequence[DeliveryReceipt], *, flag_after: int, now: datetime
) -> list[DeliveryReceipt]:
    """Apply receipts to delivery parts in bulk; return those that matched no part."""
    by_key = {(r.carrier, r.message_id): r for r in receipts}
    if not by_key:
        return []
    found: list[Row[tuple[int, int, str, str, str]]] = []
    for carrier in {r.carrier for r in receipts}:
        ids = [m for (c, m) in by_key if c == carrier]
        for chunk in _chunks(ids, 500):
            found.extend(session.execute(select(
                DeliveryPart.id, DeliveryPart.delivery_id, DeliveryPart.carrier,
                DeliveryPart.message_id, DeliveryPart.status,
            ).where(DeliveryPart.carrier == carrier, DeliveryPart.message_id.in_(chunk))).all())
    matched = {(row.carrier, row.message_id) for row in found}
    part_updates: list[tuple[str, int]] = []
    per_delivery: dict[int, list[str]] = {}
    for row in found:
        if row.status != "submitted":
            continue  # a receipt delivered again: already applied
        state = PART_FINAL.get(by_key[(row.carrier, row.message_id)].state)
        if state is None:
            continue
        part_updates.append((state, row.id))
        per_delivery.setdefault(row.delivery_id, []).append(state)
    if part_updates:
        _many(session, "UPDATE delivery_parts SET status = ? WHERE id = ?", part_updates)
        _many(session, "UPDATE deliveries SET parts_delivered = parts_delivered + ?, "
              "parts_failed = parts_failed + ? WHERE id = ?",
              [(sum(1 for s in states if s == "delivered"),
                sum(1 for s in states if s != "delivered"), delivery_id)
               for delivery_id, states in per_delivery.items()])
        _finish_deliveries(session, list(per_delivery), flag_after=flag_after, now=now)
    return [r for key, r in by_key.items() if key not in matched]


def _finish_deliveries(
    session: Session, delivery_ids: list[int], *, flag_after: int, now: datetime
) -> None:
    """Deliveries whose every part has a final receipt get their final status."""
    when = _time_param(session, now)
    for chunk in _chunks(delivery_ids, 500):
        marks = ", ".join("?" * len(chunk))
        # The common case, all parts delivered, in one statement.
        _once(session, f"UPDATE deliveries SET status = 'delivered', done_at = ? "
              f"WHERE id IN ({marks}) AND status = 'submitted' "
              f"AND parts_delivered >= parts_total", (when, *chunk))
        _once(session, "UPDATE subscribers SET undeliverable_streak = 0 "
              "WHERE undeliverable_streak != 0 AND id IN (SELECT subscriber_id FROM "
              f"deliveries WHERE id IN ({marks}) AND status = 'delivered')", tuple(chunk))
        failed = session.execute(select(Delivery.id, Delivery.subscriber_id).where(
            Delivery.id.in_(chunk), Delivery.status == "submitted", Delivery.parts_failed > 0,
            Delivery.parts_delivered + Delivery.parts_failed >= Delivery.parts_total)).all()
        if not failed:
            continue
        statuses: dict[int, str] = {}
        for part in session.execute(select(DeliveryPart.delivery_id, DeliveryPart.status)
                                    .where(DeliveryPart.delivery_id.in_([r.id for r in failed]),
                                           DeliveryPart.status != "delivered")):
            statuses.setdefault(part.delivery_id, part.status)
        session.execute(
            update(DELIVERIES).where(DELIVERIES.c.id == bindparam("b_id"))
            .values(status=bindparam("b_status"), done_at=now),
            [{"b_id": row.id, "b_status": statuses.get(row.id, "undeliverable")}
             for row in failed],
        )
        bad = [row.subscriber_id for row in failed if statuses.get(row.id) == "undeliverable"]
        if bad:
            session.execute(update(Subscriber).where(Subscriber.id.in_(bad))
                            .values(undeliverable_streak=Subscriber.undeliverable_streak + 1))
            session.execute(update(Subscriber).where(
                Subscriber.id.in_(bad), Subscriber.undeliverable_streak >= flag_after,
                Subscriber.flagged_at.is_(None),
            ).values(flagged_at=now))


def take_unmatched(
    session: Session, carrier: str, message_ids: Sequence[str]
) -> list[DeliveryReceipt]:
    """Receipts that arrived before these message ids were stored; removed as they are taken."""
    taken: list[DeliveryReceipt] = []
    for chunk in _chunks(message_ids, 500):
        rows = session.scalars(select(UnmatchedReceipt).where(
            UnmatchedReceipt.carrier == carrier, UnmatchedReceipt.message_id.in_(chunk))).all()
        for row in rows:
            taken.append(DeliveryReceipt(
                carrier=row.carrier, message_id=row.message_id, state=ReceiptState(row.state),
                stat=row.stat, error=row.error or "", done_at=row.done_at,
                received_at=row.received_at))
            session.delete(row)
    return taken


def cancel_for_subscriber(session: Session, subscriber_id: int) -> int:
    """An unsubscribe during a dispatch: drop what has not been submitted yet."""
    result = session.execute(update(Delivery).where(
        Delivery.subscriber_id == subscriber_id, Delivery.status.in_(("pending", "claimed")),
    ).values(status="cancelled", error="unsubscribed during dispatch"))
    return int(result.rowcount or 0)


def recover(session: Session, *, node: str | None, stale_before: float) -> dict[str, int]:
    """After a crash: a dead node's claimed rows go back to pending, its sending rows
    become uncertain. ``node`` is this process's own (previous run) name; rows of other
    nodes count as dead only when untouched since ``stale_before``."""
    dead = Delivery.claimed_at < stale_before
    if node is not None:
        dead = (Delivery.claimed_by == node) | dead
    back = session.execute(update(Delivery).where(_in_status("claimed"), dead)
                           .values(status="pending", claimed_by=None)).rowcount or 0
    unsure = session.execute(update(Delivery).where(_in_status("sending"), dead).values(
        status="uncertain", error="process died while sending: not resent (at most once)",
    )).rowcount or 0
    return {"released": int(back), "uncertain": int(unsure)}


def expire_receipts(session: Session, *, submitted_before: datetime) -> int:
    """Deliveries whose receipts never came: status unknown."""
    result = session.execute(update(Delivery).where(
        _in_status("submitted"), Delivery.submitted_at < submitted_before,
    ).values(status="unknown", error="no delivery receipt in time"))
    return int(result.rowcount or 0)


def _in_status(status: str) -> Any:
    """Deliveries in ``status``, found per dispatch through ``ix_delivery_claim`` (dispatch,
    status, id) rather than by reading every delivery ever made."""
    return and_(Delivery.dispatch_id.in_(select(Dispatch.id)), Delivery.status == status)


def settle_orphans(session: Session, dispatch_id: int, *, node: str) -> int:
    """Rows this node marked ``sending`` whose result it can no longer write (it has
    nothing in flight): their submit may have happened, so they become uncertain."""
    result = session.execute(update(Delivery).where(
        Delivery.dispatch_id == dispatch_id, Delivery.status == "sending",
        Delivery.claimed_by == node,
    ).values(status="uncertain", error="submit result could not be recorded"))
    return int(result.rowcount or 0)


def remaining(session: Session, dispatch_id: int) -> tuple[int, float | None]:
    """Open deliveries of a dispatch, and the earliest retry time among pending ones."""
    count = session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.dispatch_id == dispatch_id, Delivery.status.in_(OPEN_STATUSES))) or 0
    next_retry = session.scalar(select(func.min(Delivery.next_attempt_at)).where(
        Delivery.dispatch_id == dispatch_id, Delivery.status == "pending"))
    return int(count), next_retry


def progress(session: Session, edition_id: int | None = None) -> list[dict[str, object]]:
    """Counts by status per dispatch (for `sdgw dispatch status`)."""
    query = select(Dispatch).order_by(Dispatch.id)
    if edition_id is not None:
        query = query.where(Dispatch.edition_id == edition_id)
    report = []
    for dispatch in session.scalars(query):
        counts = dict(session.execute(select(Delivery.status, func.count()).where(
            Delivery.dispatch_id == dispatch.id).group_by(Delivery.status)).all())
        report.append({"dispatch": dispatch, "counts": counts})
    return report


def _chunks(items: Sequence[int] | Sequence[str], size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])

