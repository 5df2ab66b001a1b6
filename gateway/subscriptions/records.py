"""Read-side queries over subscribers and their history, and the retention purge."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from gateway.db.models import (
    Subscriber,
    SubscriptionEvent,
)


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
