"""Read-side queries over subscribers and their history, and the retention purge."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from gateway.db.models import (
    InboundMessage,
    OutboundMessage,
    OutboundSegment,
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


@dataclass(frozen=True, slots=True)
class HistoryLine:
    at: datetime
    kind: str
    """event / MO / MT"""
    text: str


def history(session: Session, msisdn: str, raw_numbers: tuple[str, ...]) -> list[HistoryLine]:
    """Everything about one number, oldest first: transitions, MOs, MTs with receipts."""
    lines: list[HistoryLine] = []
    for event in session.scalars(select(SubscriptionEvent).where(
            SubscriptionEvent.msisdn == msisdn).order_by(SubscriptionEvent.id)):
        code = event.short_code + event.extension
        lines.append(HistoryLine(event.at, "event",
                                 f"{event.old_status} → {event.new_status} ({event.outcome}) "
                                 f"by {event.mo_text!r} to {code} on {event.carrier}"))
    for mo in session.scalars(select(InboundMessage).where(
            InboundMessage.source_addr.in_(raw_numbers)).order_by(InboundMessage.id)):
        lines.append(HistoryLine(mo.received_at, "MO",
                                 f"{mo.text!r} to {mo.destination_addr} on {mo.carrier} "
                                 f"[{mo.outcome or 'unprocessed'}]"))
    for mt in session.scalars(select(OutboundMessage).where(
            OutboundMessage.destination_addr.in_(raw_numbers)).order_by(OutboundMessage.id)):
        receipts = ", ".join(
            f"{s.seqnum}:{s.status}" for s in session.scalars(select(OutboundSegment).where(
                OutboundSegment.outbound_id == mt.id).order_by(OutboundSegment.seqnum))
        )
        lines.append(HistoryLine(mt.created_at, "MT",
                                 f"{mt.kind} from {mt.source_addr} [{mt.status}"
                                 f"{'; ' + receipts if receipts else ''}]: {mt.text}"))
    lines.sort(key=lambda line: (_naive(line.at), _KIND_ORDER[line.kind]))
    return lines


_KIND_ORDER = {"MO": 0, "event": 1, "MT": 2}


def _naive(value: datetime) -> datetime:
    return value.replace(tzinfo=None) if value.tzinfo is not None else value


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
