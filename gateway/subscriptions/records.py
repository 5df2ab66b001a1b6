"""Read-side queries over subscribers and their history, and the retention purge."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import Select, and_, delete, func, or_, select
from sqlalchemy.orm import Session

from gateway.db.models import (
    Subscriber,
    SubscriptionEvent,
)
from gateway.subscriptions.machine import Status


def iter_subscribers(
    session: Session, *, carrier: str | None = None, status: str | None = None,
    msisdn: str | None = None, limit: int | None = None,
) -> Iterator[Subscriber]:
    """Subscribers matching the filters, streamed in id order (never all in memory)."""
    query = select(Subscriber).order_by(Subscriber.id)
    if carrier:
        query = query.where(Subscriber.carrier == carrier)
    if status:
        query = query.where(Subscriber.status == status)
    if msisdn:
        query = query.where(Subscriber.msisdn == msisdn)
    if limit:
        query = query.limit(limit)
    yield from session.scalars(query.execution_options(yield_per=1000))


def requested_at(session: Session, subscriber_id: int) -> datetime | None:
    """When the subscriber last asked to subscribe: its latest move into ``pending``.

    Read from the event log, not the row: the row's ``pending_since`` is the start of the
    confirmation window, set only while the request waits (the machine clears it when the
    request is confirmed, withdrawn or lapses). ``None`` if it never asked, or if the events
    of its ended subscription were purged (the retention period).
    """
    return session.scalar(
        select(func.max(SubscriptionEvent.at)).where(
            SubscriptionEvent.subscriber_id == subscriber_id,
            SubscriptionEvent.new_status == Status.PENDING.value))


PURGE_BATCH = 5000
"""Rows deleted per transaction by the purges: each batch commits on its own, so a purge of
millions of rows neither holds one huge transaction nor the writer for long."""


def _ended_before(ended_before: datetime) -> Select[tuple[int]]:
    """Subscribers whose subscription ended before then: cancelled (since ``cancelled_at``)
    or never active (status none, since its last change)."""
    return select(Subscriber.id).where(or_(
        and_(Subscriber.status == "cancelled", Subscriber.cancelled_at < ended_before),
        and_(Subscriber.status == "none", Subscriber.updated_at < ended_before),
    ))


def purgeable_events(session: Session, *, ended_before: datetime) -> int:
    """How many events :func:`purge_events_batch` would delete, all batches together."""
    return int(session.scalar(select(func.count()).select_from(SubscriptionEvent).where(
        SubscriptionEvent.subscriber_id.in_(_ended_before(ended_before)))) or 0)


def purge_events_batch(session: Session, *, ended_before: datetime,
                       limit: int = PURGE_BATCH) -> int:
    """Delete at most ``limit`` events of subscriptions that ended before ``ended_before``
    (oldest ids first); how many were deleted (0: nothing is left).

    A subscription has ended when it is cancelled (since ``cancelled_at``) or never became
    active (status none). Active and pending subscriptions keep their whole history.
    """
    batch = (select(SubscriptionEvent.id)
             .where(SubscriptionEvent.subscriber_id.in_(_ended_before(ended_before)))
             .order_by(SubscriptionEvent.id).limit(limit))
    result = session.execute(delete(SubscriptionEvent).where(
        SubscriptionEvent.id.in_(batch.scalar_subquery())))
    return int(result.rowcount or 0)
