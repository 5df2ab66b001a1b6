"""``sdgw events purge`` underneath: the events of ended subscriptions and the stale
unmatched receipts, deleted in batches (each its own transaction), counted first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session

from gateway.db.engine import make_session_factory
from gateway.db.models import Subscriber, SubscriptionEvent, UnmatchedReceipt
from gateway.dispatch.store import purge_unmatched_batch, purgeable_unmatched
from gateway.subscriptions.records import purge_events_batch, purgeable_events

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def seed_ended_subscriptions(session: Session, *, subscribers: int, events_each: int,
                             ended: datetime, status: str = "cancelled", start: int = 0
                             ) -> list[int]:
    """Subscribers in ``status`` since ``ended``, each with ``events_each`` events."""
    ids = []
    for n in range(start, start + subscribers):
        ids.append(session.scalar(insert(Subscriber).returning(Subscriber.id).values(
            msisdn=f"139{n:08d}", carrier="china_mobile", prefix_carrier=None,
            short_code="10658000", extension="", status=status,
            activated_at=ended - timedelta(days=30),
            cancelled_at=ended if status == "cancelled" else None,
            message_format="sms", undeliverable_streak=0, created_at=ended - timedelta(days=31),
            updated_at=ended)))
    session.execute(insert(SubscriptionEvent), [{
        "subscriber_id": subscriber_id, "msisdn": f"139{i:08d}", "carrier": "china_mobile",
        "short_code": "10658000", "extension": "", "mo_text": "TD", "carrier_message_id": None,
        "inbound_id": None, "old_status": "active", "new_status": status, "outcome": "x",
        "at": ended - timedelta(days=k)}
        for i, subscriber_id in enumerate(ids, start) for k in range(events_each)])
    return ids


def test_events_go_in_batches_and_only_those_of_ended_subscriptions(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        seed_ended_subscriptions(session, subscribers=7, events_each=3, ended=NOW - timedelta(
            days=200))
        seed_ended_subscriptions(session, subscribers=2, events_each=3, status="none",
                                 ended=NOW - timedelta(days=200), start=100)
        kept = seed_ended_subscriptions(session, subscribers=2, events_each=3,
                                        ended=NOW - timedelta(days=10), start=200)
        kept += seed_ended_subscriptions(session, subscribers=1, events_each=3,
                                         status="active", ended=NOW - timedelta(days=400),
                                         start=300)
    cutoff = NOW - timedelta(days=183)
    with sessions() as session:
        assert purgeable_events(session, ended_before=cutoff) == 27
    batches = []
    while True:
        with sessions.begin() as session:
            deleted = purge_events_batch(session, ended_before=cutoff, limit=10)
        if not deleted:
            break
        batches.append(deleted)
    assert batches == [10, 10, 7]
    with sessions() as session:
        left = set(session.scalars(select(SubscriptionEvent.subscriber_id)))
        assert left == set(kept)
        assert session.scalar(select(func.count()).select_from(SubscriptionEvent)) == 9
        assert purgeable_events(session, ended_before=cutoff) == 0


def test_unmatched_receipts_go_in_batches_oldest_first(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        session.execute(insert(UnmatchedReceipt), [{
            "carrier": "china_mobile", "message_id": f"m{n}", "state": "delivered",
            "stat": "DELIVRD", "error": "", "done_at": None, "subscriber": "",
            "reference": None, "received_at": NOW - timedelta(days=n)}
            for n in range(1, 13)])
    before = NOW - timedelta(days=7)  # days 8..12 are older
    with sessions() as session:
        assert purgeable_unmatched(session, received_before=before) == 5
    with sessions.begin() as session:
        assert purge_unmatched_batch(session, received_before=before, limit=3) == 3
    with sessions.begin() as session:
        assert purge_unmatched_batch(session, received_before=before, limit=3) == 2
    with sessions.begin() as session:
        assert purge_unmatched_batch(session, received_before=before, limit=3) == 0
    with sessions() as session:
        assert sorted(session.scalars(select(UnmatchedReceipt.message_id))) == [
            f"m{n}" for n in range(1, 8)]
