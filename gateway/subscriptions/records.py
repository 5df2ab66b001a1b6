"""Read-side queries over subscribers and their history, and the retention purge."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import and_, delete, func, or_, select
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


def purge_events(session: Session, *, ended_before: datetime) -> int:
    """Delete the event log of subscriptions that ended before ``ended_before``.

    A subscription has ended when it is cancelled (since ``cancelled_at``) or never became
    active (status none). Active and pending subscriptions keep their whole history.
    """
    ended = select(Subscriber.id).where(or_(
        and_(Subscriber.status == "cancelled", Subscriber.cancelled_at < ended_before),
        and_(Subscriber.status == "none", Subscriber.updated_at < ended_before),
    ))
    result = session.execute(
        delete(SubscriptionEvent).where(SubscriptionEvent.subscriber_id.in_(ended))
    )
    return int(result.rowcount or 0)
