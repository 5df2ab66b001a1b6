"""Database work of a dispatch: set-based and batched. Functions take a session, never commit.

Exactly once per (edition, subscriber) rests on four things here:
- a delivery row is created for every subscriber (one INSERT … SELECT, unique per edition
  and subscriber) before anything is sent;
- a row is marked ``sending`` in a committed transaction before its submit, and only rows
  still ``claimed`` are marked (an unsubscribe cancels claimed rows first);
- every part goes out with a reference chosen before the submit (:func:`part_reference`),
  which carriers echo in their receipts;
- after a crash (see ``leases.py``), ``claimed`` rows go back to ``pending`` (never sent),
  while ``sending`` rows become ``uncertain``: their submit may have left. A receipt naming
  an uncertain part's reference proves it was sent (:func:`reconcile`); parts still without
  evidence after ``dispatch.uncertain_wait`` are sent again, only those parts, or skipped,
  as ``dispatch.uncertain`` says (:func:`resolve_uncertain`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Row,
    and_,
    bindparam,
    delete,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from carriers.messages import DeliveryReceipt, ReceiptState, SubmitOutcome, SubmitResult
from carriers.numbers import InvalidNumber, normalise_msisdn
from gateway.db import driver_sql
from gateway.db.dispatch_models import Delivery, DeliveryPart, Dispatch
from gateway.db.driver_sql import execute as _once
from gateway.db.driver_sql import execute_many as _many
from gateway.db.driver_sql import time_value as _time_param
from gateway.db.models import Subscriber, UnmatchedReceipt
from gateway.message_log import FINAL_SEGMENT_STATES
from gateway.states import OPEN_STATUSES, DeliveryStatus, DispatchStatus, SubscriptionStatus

DELIVERIES = Delivery.__table__

PART_FINAL = FINAL_SEGMENT_STATES
"""A receipt's state → the final status of the part it is for (the same as for replies)."""
RECOVERIES = ("reconciled", "resent", "skipped")
"""How an uncertain delivery was resolved (``deliveries.recovery``)."""
UNCERTAIN_POLICIES = ("resend", "skip")
_REFERENCE_PARTS = 16
"""Parts a reference can name (4 bits); the digest has at most 8."""


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    msisdn: str
    source_addr: str
    message_format: str
    attempts: int
    resend_parts: int | None = None
    """Bit mask of the parts to send (bit 0 = part 1); None = every part."""

    def part_numbers(self, count: int) -> tuple[int, ...]:
        """The 1-based numbers of the parts this attempt sends, of ``count`` in all."""
        if self.resend_parts is None:
            return tuple(range(1, count + 1))
        return tuple(n for n in range(1, count + 1) if self.resend_parts & (1 << (n - 1)))


def part_reference(delivery_id: int, part: int) -> int | None:
    """The 16-bit reference part ``part`` (1-based) of a delivery is submitted with.

    Chosen before the submit leaves, so a receipt echoing it identifies the part even when
    the submit's response (and so its message id) was lost in a crash: the low 12 bits of the
    delivery id and the part number. Receipts are matched by subscriber first, so the 12 bits
    only have to tell apart the uncertain deliveries of one number. None past 16 parts.
    """
    if not 1 <= part <= _REFERENCE_PARTS:
        return None
    return ((delivery_id & 0x0FFF) << 4) | (part - 1)


def reference_matches(reference: int, delivery_id: int) -> int | None:
    """The part number ``reference`` names if it belongs to ``delivery_id``, else None."""
    if reference >> 4 != delivery_id & 0x0FFF:
        return None
    return (reference & 0x0F) + 1


def create_dispatch(
    session: Session, *, edition_id: int, carrier: str, cutoff: datetime, deadline: datetime,
    now: datetime,
) -> int:
    """The dispatch of ``edition_id`` over ``carrier``; created once, found afterwards."""
    existing = session.scalar(select(Dispatch.id).where(
        Dispatch.edition_id == edition_id, Dispatch.carrier == carrier))
    if existing is not None:
        return existing
    dispatch = Dispatch(edition_id=edition_id, carrier=carrier, status=DispatchStatus.PREPARING,
                        cutoff_at=cutoff, deadline_at=deadline, created_at=now, total=0)
    session.add(dispatch)
    session.flush()
    return dispatch.id


def materialise(session: Session, dispatch_id: int, *, now: datetime | None = None) -> int:
    """Create the delivery rows: one per subscriber active at the cut-off, in one statement.

    Idempotent (unique per edition and subscriber), so a dispatch interrupted while
    preparing prepares again safely. Returns the dispatch's number of deliveries. ``now`` is
    when it starts (by default, when it was created).
    """
    dispatch = session.get(Dispatch, dispatch_id)
    assert dispatch is not None
    if dispatch.status == DispatchStatus.PREPARING:
        chosen = select(
            literal(dispatch.id), literal(dispatch.edition_id), Subscriber.id,
            Subscriber.carrier, Subscriber.msisdn,
            Subscriber.short_code + Subscriber.extension, Subscriber.message_format,
            literal(DeliveryStatus.PENDING.value), literal(0), literal(0.0), literal(0.0),
            literal(0), literal(0), literal(0),
        ).where(
            Subscriber.carrier == dispatch.carrier,
            Subscriber.status == SubscriptionStatus.ACTIVE,
            Subscriber.activated_at <= dispatch.cutoff_at,
        )
        columns = ["dispatch_id", "edition_id", "subscriber_id", "carrier", "msisdn",
                   "source_addr", "message_format", "status", "attempts", "next_attempt_at",
                   "claimed_at", "parts_total", "parts_delivered", "parts_failed"]
        statement = insert_table(session, Delivery).from_select(columns, chosen)
        session.execute(statement.on_conflict_do_nothing())
        dispatch.total = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.dispatch_id == dispatch.id)
        ) or 0
        dispatch.status = DispatchStatus.RUNNING
        dispatch.started_at = now if now is not None else dispatch.created_at
    return dispatch.total


def insert_table(session: Session, table: type) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table))


def claim(
    session: Session, *, dispatch_id: int, node: str, limit: int, now: float
) -> list[Claimed]:
    """Take up to ``limit`` pending deliveries for this node. On PostgreSQL other processes'
    locked rows are skipped, so several processes split a dispatch without waiting."""
    skip_locked = (" FOR UPDATE SKIP LOCKED"
                   if session.get_bind().dialect.name == "postgresql" else "")
    rows = driver_sql.fetch_all(
        session, "UPDATE deliveries SET status = 'claimed', claimed_by = ?, claimed_at = ? "
        "WHERE id IN (SELECT id FROM deliveries WHERE dispatch_id = ? AND status = 'pending' "
        f"AND next_attempt_at <= ? ORDER BY id LIMIT ?{skip_locked}) "
        "RETURNING id, msisdn, source_addr, message_format, attempts, resend_parts",
        (node, now, dispatch_id, now, limit))
    return sorted((Claimed(*row) for row in rows), key=lambda c: c.id)


def mark_sending(
    session: Session, ids: Sequence[int], *, node: str, now: float,
    parts_total: Mapping[str, int] | None = None,
) -> set[int]:
    """Commit-before-submit: the rows that are still ours to send (an unsubscribe may have
    cancelled some since they were claimed). ``parts_total`` (message format → parts) is
    recorded so that evidence for each part can be checked against the whole."""
    if not ids:
        return set()
    sending: set[int] = set()
    formats = sorted((parts_total or {}).items())
    # The counts are our own integers, written into the SQL; the formats are bound.
    total = ("" if not formats else ", parts_total = CASE message_format "
             + " ".join(f"WHEN ? THEN {int(count)}" for _, count in formats)
             + " ELSE parts_total END")
    for chunk in _chunks(ids, 500):
        sending.update(row[0] for row in driver_sql.fetch_all(
            session, f"UPDATE deliveries SET status = 'sending', claimed_at = ?{total} "
            f"WHERE id IN ({driver_sql.in_marks(len(chunk))}) AND status = 'claimed' "
            "AND claimed_by = ? RETURNING id",
            (now, *(fmt for fmt, _ in formats), *chunk, node)))
    return sending


def unmark_sending(session: Session, ids: Sequence[int], *, node: str) -> None:
    """Rows marked ``sending`` that this node decided not to submit after all."""
    if ids:
        session.execute(update(Delivery).where(
            Delivery.id.in_(list(ids)), Delivery.status == DeliveryStatus.SENDING,
            Delivery.claimed_by == node,
        ).values(status=DeliveryStatus.PENDING, claimed_by=None))


def release(session: Session, ids: Sequence[int], *, node: str) -> None:
    """Give claimed-but-unsent rows back (pause, quiet hours, shutdown)."""
    if ids:
        session.execute(update(Delivery).where(
            Delivery.id.in_(list(ids)), Delivery.status == DeliveryStatus.CLAIMED,
            Delivery.claimed_by == node,
        ).values(status=DeliveryStatus.PENDING, claimed_by=None))


@dataclass(frozen=True, slots=True)
class SendResult:
    delivery_id: int
    results: tuple[SubmitResult, ...]
    attempts: int
    parts: tuple[int, ...] = ()
    """The part numbers ``results`` are for (1-based); empty = 1, 2, … in order."""

    def numbered(self) -> list[tuple[int, SubmitResult]]:
        numbers = self.parts or tuple(range(1, len(self.results) + 1))
        return list(zip(numbers, self.results, strict=True))

    def unaccepted_mask(self) -> int | None:
        """The parts to try again when some were accepted (bit 0 = part 1); None = all."""
        numbered = self.numbered()
        if not any(r.outcome is SubmitOutcome.ACCEPTED for _, r in numbered):
            return None
        mask = 0
        for number, result in numbered:
            if result.outcome is not SubmitOutcome.ACCEPTED:
                mask |= 1 << (number - 1)
        return mask


def record_results(
    session: Session, outcomes: Sequence[SendResult], *, carrier: str, now: datetime,
    retry_at: float, deadline: float, flag_after: int = 3,
    receipts: dict[tuple[str, str], DeliveryReceipt] | None = None,
) -> dict[str, int]:
    """Write the submit results of many deliveries at once; return counts by new status.

    Every accepted part gets its part row (the message id receipts are matched by), whatever
    happened to its siblings. A delivery with a part whose submit went unanswered becomes
    uncertain, to be reconciled or resent part by part like one a crash left behind.

    ``receipts`` ((carrier, message id) → receipt) are receipts written in the same
    transaction: those for parts of a delivery submitted whole here are applied as its part
    rows are inserted (and removed from the mapping), which saves finding and updating the
    rows again when a fast SMSC sends each receipt right after its response.
    """
    submitted: list[tuple[int, int, int]] = []
    parts: list[tuple[int, int, str, str | None, str]] = []
    others: list[dict[str, object]] = []
    counts: dict[str, int] = {}
    epoch = now.timestamp()
    for outcome in outcomes:
        status, error = _status_of(outcome.results)
        if status == "retry":
            status = DeliveryStatus.PENDING if retry_at < deadline else DeliveryStatus.FAILED
            error = error if status == DeliveryStatus.PENDING else f"deadline passed: {error}"
        counts[status] = counts.get(status, 0) + 1
        if status == DeliveryStatus.SUBMITTED:
            delivered = failed = 0
            for number, result in outcome.numbered():
                part_status: str = DeliveryStatus.SUBMITTED
                receipt = (receipts.pop((carrier, result.message_id), None)
                           if receipts and result.message_id else None)
                if receipt is not None:
                    part_status = PART_FINAL.get(receipt.state, part_status)
                    if part_status == DeliveryStatus.DELIVERED:
                        delivered += 1
                    elif part_status != DeliveryStatus.SUBMITTED:
                        failed += 1
                parts.append((outcome.delivery_id, number, carrier, result.message_id,
                              part_status))
            submitted.append((delivered, failed, outcome.delivery_id))
            continue
        parts.extend(
            (outcome.delivery_id, number, carrier, result.message_id, DeliveryStatus.SUBMITTED)
            for number, result in outcome.numbered()
            if result.outcome is SubmitOutcome.ACCEPTED
        )
        others.append({"b_id": outcome.delivery_id, "b_status": status,
                       "b_error": error[:200] if error else None,
                       "b_attempts": outcome.attempts + 1,
                       "b_next": retry_at if status == DeliveryStatus.PENDING else 0.0,
                       "b_uncertain": epoch if status == DeliveryStatus.UNCERTAIN else None,
                       "b_resend": outcome.unaccepted_mask()
                       if status == DeliveryStatus.PENDING
                       else None})
    if submitted:
        when = _time_param(session, now)
        _many(session, "UPDATE deliveries SET status = 'submitted', submitted_at = ?, "
              "attempts = attempts + 1, resend_parts = NULL, "
              "parts_delivered = parts_delivered + ?, parts_failed = parts_failed + ? "
              "WHERE id = ?", [(when, *row) for row in submitted])
    _many(session, "INSERT INTO delivery_parts (delivery_id, part, carrier, message_id, "
          "status) VALUES (?, ?, ?, ?, ?)", parts)
    finished = [row[2] for row in submitted if row[0] or row[1]]
    if finished:
        _finish_deliveries(session, finished, flag_after=flag_after, now=now)
    if others:
        session.execute(
            update(DELIVERIES).where(DELIVERIES.c.id == bindparam("b_id"))
            .values(status=bindparam("b_status"), error=bindparam("b_error"),
                    attempts=bindparam("b_attempts"), next_attempt_at=bindparam("b_next"),
                    uncertain_at=func.coalesce(bindparam("b_uncertain"),
                                               DELIVERIES.c.uncertain_at),
                    resend_parts=func.coalesce(bindparam("b_resend"),
                                               DELIVERIES.c.resend_parts),
                    claimed_by=None),
            others,
        )
    return counts


def _status_of(results: Sequence[SubmitResult]) -> tuple[str, str | None]:
    outcomes = [r.outcome for r in results]
    if all(o is SubmitOutcome.ACCEPTED for o in outcomes):
        return DeliveryStatus.SUBMITTED, None
    if any(o is SubmitOutcome.UNANSWERED for o in outcomes):
        return DeliveryStatus.UNCERTAIN, "a submit went unanswered: waiting for evidence of it"
    permanent = [r for r in results if r.outcome is SubmitOutcome.PERMANENT]
    if permanent:
        if any(o is SubmitOutcome.ACCEPTED for o in outcomes):
            return DeliveryStatus.FAILED, "only some parts were accepted: " + (
                permanent[0].reason or f"status {permanent[0].status}")
        return DeliveryStatus.REJECTED, permanent[0].reason or f"status {permanent[0].status}"
    # Transient refusals or parts never sent (link down, shutdown): the accepted parts stay
    # accepted and the others are tried again (see SendResult.unaccepted_mask).
    first = next(r for r in results if r.outcome is not SubmitOutcome.ACCEPTED)
    return "retry", first.reason or f"status {first.status}"


def apply_receipts(
    session: Session, receipts: Sequence[DeliveryReceipt], *, flag_after: int, now: datetime
) -> list[DeliveryReceipt]:
    """Apply receipts to delivery parts in bulk; return those that matched no part."""
    by_key = {(r.carrier, r.message_id): r for r in receipts}
    if not by_key:
        return []
    found: list[tuple[int, int, str, str, str]] = []
    for carrier in {r.carrier for r in receipts}:
        ids = [m for (c, m) in by_key if c == carrier]
        for chunk in _chunks(ids, 500):
            found.extend(driver_sql.fetch_all(
                session, "SELECT id, delivery_id, carrier, message_id, status FROM delivery_parts "
                f"WHERE carrier = ? AND message_id IN ({driver_sql.in_marks(len(chunk))})",
                (carrier, *chunk)))
    matched = {(carrier, message_id) for _, _, carrier, message_id, _ in found}
    part_updates: list[tuple[str, int]] = []
    per_delivery: dict[int, list[str]] = {}
    for part_id, delivery_id, carrier, message_id, status in found:
        if status != DeliveryStatus.SUBMITTED:
            continue  # a receipt delivered again: already applied
        state = PART_FINAL.get(by_key[(carrier, message_id)].state)
        if state is None:
            continue
        part_updates.append((state, part_id))
        per_delivery.setdefault(delivery_id, []).append(state)
    if part_updates:
        _many(session, "UPDATE delivery_parts SET status = ? WHERE id = ?", part_updates)
        _many(session, "UPDATE deliveries SET parts_delivered = parts_delivered + ?, "
              "parts_failed = parts_failed + ? WHERE id = ?",
              [(sum(1 for s in states if s == DeliveryStatus.DELIVERED),
                sum(1 for s in states if s != DeliveryStatus.DELIVERED), delivery_id)
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
            Delivery.id.in_(chunk), Delivery.status == DeliveryStatus.SUBMITTED,
            Delivery.parts_failed > 0,
            Delivery.parts_delivered + Delivery.parts_failed >= Delivery.parts_total)).all()
        if not failed:
            continue
        statuses: dict[int, str] = {}
        for part in session.execute(select(DeliveryPart.delivery_id, DeliveryPart.status)
                                    .where(DeliveryPart.delivery_id.in_([r.id for r in failed]),
                                           DeliveryPart.status != DeliveryStatus.DELIVERED)):
            statuses.setdefault(part.delivery_id, part.status)
        session.execute(
            update(DELIVERIES).where(DELIVERIES.c.id == bindparam("b_id"))
            .values(status=bindparam("b_status"), done_at=now),
            [{"b_id": row.id, "b_status": statuses.get(row.id, DeliveryStatus.UNDELIVERABLE)}
             for row in failed],
        )
        bad = [row.subscriber_id for row in failed
               if statuses.get(row.id) == DeliveryStatus.UNDELIVERABLE]
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
        marks = driver_sql.in_marks(len(chunk))
        found = driver_sql.fetch_all(
            session, "SELECT id FROM unmatched_receipts WHERE carrier = ? "
            f"AND message_id IN ({marks})", (carrier, *chunk))
        if not found:  # the common case: every receipt came after its part was stored
            continue
        ids = [row[0] for row in found]
        rows = session.scalars(select(UnmatchedReceipt).where(UnmatchedReceipt.id.in_(ids))).all()
        for row in rows:
            taken.append(_receipt_of(row))
            session.delete(row)
    return taken


def cancel_for_subscriber(session: Session, subscriber_id: int) -> int:
    """An unsubscribe during a dispatch: drop what has not been submitted yet, and uncertain
    deliveries too (they would otherwise be sent again after the wait)."""
    return cancel_for_subscribers(session, [subscriber_id])


def cancel_for_subscribers(session: Session, subscriber_ids: Sequence[int]) -> int:
    """:func:`cancel_for_subscriber` for several subscribers in one statement per 500."""
    cancelled = 0
    for chunk in _chunks(subscriber_ids, 500):
        cancelled += driver_sql.execute(
            session, "UPDATE deliveries SET status = 'cancelled', "
            "error = 'unsubscribed during dispatch' "
            f"WHERE subscriber_id IN ({driver_sql.in_marks(len(chunk))}) "
            "AND status IN ('pending', 'claimed', 'uncertain')", chunk)
    return cancelled


def expire_receipts(session: Session, *, submitted_before: datetime) -> int:
    """Deliveries whose receipts never came: status unknown."""
    result = session.execute(update(Delivery).where(
        in_status(DeliveryStatus.SUBMITTED), Delivery.submitted_at < submitted_before,
    ).values(status=DeliveryStatus.UNKNOWN, error="no delivery receipt in time"))
    return int(result.rowcount or 0)


def in_status(status: str) -> Any:
    """Deliveries in ``status``, found per dispatch through ``ix_delivery_claim`` (dispatch,
    status, id) rather than by reading every delivery ever made."""
    return and_(Delivery.dispatch_id.in_(select(Dispatch.id)), Delivery.status == status)


def settle_orphans(session: Session, dispatch_id: int, *, node: str, now: float) -> int:
    """Rows this node marked ``sending`` whose result it can no longer write (it has
    nothing in flight): their submit may have happened, so they become uncertain."""
    result = session.execute(update(Delivery).where(
        Delivery.dispatch_id == dispatch_id, Delivery.status == DeliveryStatus.SENDING,
        Delivery.claimed_by == node,
    ).values(status=DeliveryStatus.UNCERTAIN, uncertain_at=now, claimed_by=None,
             error="submit result could not be recorded: waiting for evidence"))
    return int(result.rowcount or 0)


def remaining(session: Session, dispatch_id: int, *, uncertain_wait: float = 0.0
              ) -> tuple[int, float | None]:
    """Open deliveries of a dispatch, and the earliest time one of them needs this process:
    a pending retry's time, or when an uncertain one's wait for evidence ends."""
    count = session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.dispatch_id == dispatch_id, Delivery.status.in_(OPEN_STATUSES))) or 0
    next_retry = session.scalar(select(func.min(Delivery.next_attempt_at)).where(
        Delivery.dispatch_id == dispatch_id, Delivery.status == DeliveryStatus.PENDING))
    uncertain_since = session.scalar(select(func.min(Delivery.uncertain_at)).where(
        Delivery.dispatch_id == dispatch_id, Delivery.status == DeliveryStatus.UNCERTAIN))
    if uncertain_since is not None:
        wake = uncertain_since + uncertain_wait
        next_retry = wake if next_retry is None else min(next_retry, wake)
    return int(count), next_retry


# -- uncertain deliveries: evidence, then resend or skip ------------------------------------


def subscriber_of(receipt: DeliveryReceipt) -> str | None:
    """The national number a receipt is about, or None when it names none we could read."""
    if not receipt.subscriber:
        return None
    try:
        return normalise_msisdn(receipt.subscriber)
    except InvalidNumber:
        return None


def reconcile(session: Session, receipts: Sequence[DeliveryReceipt], *, flag_after: int,
              now: datetime) -> list[DeliveryReceipt]:
    """Receipts whose message id was never stored, matched to uncertain parts by the
    subscriber and the part reference they echo: each is evidence its part was sent (and its
    final state, when it has one). An uncertain delivery whose every part has evidence is
    reconciled: submitted, and delivered or failed as its receipts say. Returns the receipts
    that matched no uncertain part."""
    evidence = [(r, subscriber_of(r)) for r in receipts if r.reference is not None]
    evidence = [(r, number) for r, number in evidence if number is not None]
    if not evidence:
        return list(receipts)
    numbers = sorted({number for _, number in evidence})
    candidates: dict[tuple[str, str], list[Row[Any]]] = {}
    for chunk in _chunks(numbers, 500):
        for row in session.execute(select(
                Delivery.id, Delivery.carrier, Delivery.msisdn, Delivery.parts_total)
                .where(in_status(DeliveryStatus.UNCERTAIN), Delivery.msisdn.in_(chunk))):
            candidates.setdefault((row.carrier, row.msisdn), []).append(row)
    if not candidates:
        return list(receipts)
    have: set[tuple[int, int]] = set()
    ids = [row.id for rows in candidates.values() for row in rows]
    for chunk in _chunks(ids, 500):
        have.update((row[0], row[1]) for row in session.execute(
            select(DeliveryPart.delivery_id, DeliveryPart.part)
            .where(DeliveryPart.delivery_id.in_(chunk))))
    used: set[int] = set()
    new_parts: list[tuple[int, int, str, str, str]] = []
    counted: dict[int, list[int]] = {}
    for receipt, number in evidence:
        assert receipt.reference is not None
        for row in candidates.get((receipt.carrier, number), ()):
            part = reference_matches(receipt.reference, row.id)
            if part is None or (row.parts_total and part > row.parts_total):
                continue
            used.add(id(receipt))
            if (row.id, part) in have:
                break  # the same evidence again (a receipt re-delivered)
            have.add((row.id, part))
            state = PART_FINAL.get(receipt.state, DeliveryStatus.SUBMITTED)
            new_parts.append((row.id, part, receipt.carrier, receipt.message_id, state))
            tally = counted.setdefault(row.id, [0, 0])
            if state == DeliveryStatus.DELIVERED:
                tally[0] += 1
            elif state != DeliveryStatus.SUBMITTED:
                tally[1] += 1
            break
    _many(session, "INSERT INTO delivery_parts (delivery_id, part, carrier, message_id, "
          "status) VALUES (?, ?, ?, ?, ?)", new_parts)
    _many(session, "UPDATE deliveries SET parts_delivered = parts_delivered + ?, "
          "parts_failed = parts_failed + ? WHERE id = ?",
          [(good, bad, delivery_id) for delivery_id, (good, bad) in counted.items()
           if good or bad])
    complete = [row.id for rows in candidates.values() for row in rows
                if row.parts_total and all((row.id, n) in have
                                           for n in range(1, row.parts_total + 1))]
    if complete:
        when = _time_param(session, now)
        for chunk in _chunks(complete, 500):
            marks = ", ".join("?" * len(chunk))
            _once(session, f"UPDATE deliveries SET status = 'submitted', "
                  f"recovery = 'reconciled', submitted_at = ?, resend_parts = NULL, "
                  f"error = NULL WHERE id IN ({marks}) AND status = 'uncertain'",
                  (when, *chunk))
        _finish_deliveries(session, complete, flag_after=flag_after, now=now)
    return [r for r in receipts if id(r) not in used]


def reconcile_stored(session: Session, dispatch_id: int, *, flag_after: int, now: datetime
                     ) -> int:
    """Evidence that arrived before its deliveries were found uncertain (kept unmatched):
    apply it to this dispatch's uncertain deliveries; return how many receipts matched."""
    uncertain = session.execute(select(Delivery.carrier, Delivery.msisdn).where(
        Delivery.dispatch_id == dispatch_id, Delivery.status == DeliveryStatus.UNCERTAIN)).all()
    if not uncertain:
        return 0
    carrier = uncertain[0].carrier
    numbers = sorted({row.msisdn for row in uncertain})
    rows: list[UnmatchedReceipt] = []
    for chunk in _chunks(numbers, 500):
        rows.extend(session.scalars(select(UnmatchedReceipt).where(
            UnmatchedReceipt.carrier == carrier, UnmatchedReceipt.subscriber.in_(chunk),
            UnmatchedReceipt.reference.is_not(None))))
    if not rows:
        return 0
    receipts = [_receipt_of(row) for row in rows]
    left = {id(r) for r in reconcile(session, receipts, flag_after=flag_after, now=now)}
    matched = [row for row, receipt in zip(rows, receipts, strict=True) if id(receipt) not in left]
    for row in matched:
        session.delete(row)
    return len(matched)


def resolve_uncertain(session: Session, dispatch_id: int, *, policy: str, before: float,
                      now: datetime) -> dict[str, int]:
    """Uncertain deliveries still without full evidence since ``before`` (epoch seconds):
    with ``resend`` their parts without evidence go out again (the same stored segments, so
    the same UDH reference and part numbers: the handset still joins them); with ``skip``
    they end ``skipped``. Returns counts by what was done."""
    if policy not in UNCERTAIN_POLICIES:
        raise ValueError(f"dispatch.uncertain must be one of {UNCERTAIN_POLICIES}, not {policy!r}")
    due = session.execute(select(Delivery.id, Delivery.parts_total).where(
        Delivery.dispatch_id == dispatch_id, Delivery.status == DeliveryStatus.UNCERTAIN,
        Delivery.uncertain_at <= before)).all()
    if not due:
        return {}
    if policy == "skip":
        for chunk in _chunks([row.id for row in due], 500):
            session.execute(update(Delivery).where(
                Delivery.id.in_(chunk), Delivery.status == DeliveryStatus.UNCERTAIN).values(
                status=DeliveryStatus.SKIPPED, recovery="skipped", done_at=now,
                error="no evidence the submit left; not resent (dispatch.uncertain = skip)"))
        return {"skipped": len(due)}
    have: dict[int, set[int]] = {}
    for chunk in _chunks([row.id for row in due], 500):
        for delivery_id, part in session.execute(select(
                DeliveryPart.delivery_id, DeliveryPart.part)
                .where(DeliveryPart.delivery_id.in_(chunk))):
            have.setdefault(delivery_id, set()).add(part)
    changes = []
    for row in due:
        proven = have.get(row.id, set())
        mask = 0
        for number in range(1, row.parts_total + 1):
            if number not in proven:
                mask |= 1 << (number - 1)
        # Unknown part count (0): send every part again.
        changes.append({"b_id": row.id, "b_mask": mask if mask else None})
    session.execute(
        update(DELIVERIES).where(DELIVERIES.c.id == bindparam("b_id"),
                                 DELIVERIES.c.status == DeliveryStatus.UNCERTAIN)
        .values(status=DeliveryStatus.PENDING, recovery="resent", resend_parts=bindparam("b_mask"),
                next_attempt_at=0.0, claimed_by=None,
                error="no evidence the submit left: parts without evidence resent"),
        changes)
    return {"resent": len(changes)}


def keep_unmatched(session: Session, receipts: Sequence[DeliveryReceipt]) -> None:
    """Keep receipts nothing matched (yet): a part whose result is not stored yet takes its
    receipt when it is, an uncertain part when found; the rest are purged after a while."""
    if not receipts:
        return
    session.execute(insert_table(session, UnmatchedReceipt), [{
        "carrier": r.carrier, "message_id": r.message_id, "state": r.state.value,
        "stat": r.stat, "error": r.error or None, "done_at": r.done_at,
        "received_at": r.received_at, "subscriber": subscriber_of(r),
        "reference": r.reference,
    } for r in receipts])


def purge_unmatched(session: Session, *, received_before: datetime) -> int:
    """Delete receipts that matched nothing and are older than ``received_before``."""
    result = session.execute(delete(UnmatchedReceipt).where(
        UnmatchedReceipt.received_at < received_before))
    return int(result.rowcount or 0)


def purgeable_unmatched(session: Session, *, received_before: datetime) -> int:
    """How many receipts :func:`purge_unmatched` would delete."""
    return int(session.scalar(select(func.count()).select_from(UnmatchedReceipt).where(
        UnmatchedReceipt.received_at < received_before)) or 0)


def purge_unmatched_batch(session: Session, *, received_before: datetime, limit: int) -> int:
    """:func:`purge_unmatched`, at most ``limit`` rows (oldest ids first); 0: none left."""
    batch = (select(UnmatchedReceipt.id).where(UnmatchedReceipt.received_at < received_before)
             .order_by(UnmatchedReceipt.id).limit(limit))
    result = session.execute(delete(UnmatchedReceipt).where(
        UnmatchedReceipt.id.in_(batch.scalar_subquery())))
    return int(result.rowcount or 0)


def _receipt_of(row: UnmatchedReceipt) -> DeliveryReceipt:
    return DeliveryReceipt(
        carrier=row.carrier, message_id=row.message_id, state=ReceiptState(row.state),
        stat=row.stat, error=row.error or "", done_at=row.done_at,
        received_at=row.received_at, subscriber=row.subscriber, reference=row.reference)


def open_counts(session: Session, edition_id: int) -> dict[str, tuple[int, int]]:
    """Per carrier of the edition's dispatches: (total, still open), "open" being the pending
    group (pending, claimed, sending, uncertain). Counts an index range of open rows only."""
    totals = dict(session.execute(select(Dispatch.carrier, Dispatch.total).where(
        Dispatch.edition_id == edition_id)).all())
    still_open = dict(session.execute(
        select(Dispatch.carrier, func.count(Delivery.id))
        .join(Delivery, Delivery.dispatch_id == Dispatch.id)
        .where(Dispatch.edition_id == edition_id, Delivery.status.in_(OPEN_STATUSES))
        .group_by(Dispatch.carrier)).all())
    return {carrier: (int(total or 0), int(still_open.get(carrier, 0)))
            for carrier, total in totals.items()}


def progress(session: Session, edition_id: int | None = None) -> list[dict[str, object]]:
    """Counts by status per dispatch (for `sdgw dispatch status`)."""
    query = select(Dispatch).order_by(Dispatch.id)
    if edition_id is not None:
        query = query.where(Dispatch.edition_id == edition_id)
    report = []
    for dispatch in session.scalars(query):
        counts = dict(session.execute(select(Delivery.status, func.count()).where(
            Delivery.dispatch_id == dispatch.id).group_by(Delivery.status)).all())
        report.append({"dispatch": dispatch, "counts": counts,
                       "recovery": recovery_counts(session, dispatch.id)})
    return report


def recovery_counts(session: Session, dispatch_id: int) -> dict[str, int]:
    """Deliveries ever uncertain, and how those were resolved (reconciled, resent, skipped)."""
    rows = session.execute(select(Delivery.recovery, func.count()).where(
        Delivery.dispatch_id == dispatch_id, Delivery.uncertain_at.is_not(None))
        .group_by(Delivery.recovery)).all()
    counts = {name: 0 for name in ("uncertain", *RECOVERIES)}
    for recovery, count in rows:
        counts["uncertain"] += count
        if recovery in counts:
            counts[recovery] += count
    return counts


def _chunks(items: Sequence[int] | Sequence[str], size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])

