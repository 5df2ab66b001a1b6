"""Unsubscribing a number at the subscriber's request to the newspaper (an operator's action),
on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from gateway.console.rollup import RollupSettings, refresh
from gateway.db.console_models import DailySubscriptionStats
from gateway.db.dispatch_models import Delivery
from gateway.db.edition_models import Edition
from gateway.db.models import InboundMessage, OutboundMessage, Subscriber, SubscriptionEvent
from gateway.dispatch.store import create_dispatch, materialise
from gateway.subscriptions.machine import Status, replay
from gateway.subscriptions.operator_requests import (
    OPERATOR_OUTCOME,
    OperatorUnsubscribe,
    unsubscribe_on_request,
)
from gateway.templating import render_text
from tests.service.dispatch_fixtures import seed_edition, seed_subscribers
from tests.service.test_subscription_engine import ENVIRONMENT, SETTINGS, Engine_, render

NUMBER = "13800138000"
REASON = "caller on the hotline, 2026-11-29 16:20"


@pytest.fixture
def gw(engine: Engine) -> Engine_:
    return Engine_(engine)


def unsubscribe(gw: Engine_, number: str = NUMBER, *, advance: timedelta = timedelta(minutes=5)
                ) -> OperatorUnsubscribe | None:
    gw.now += advance
    with gw.sessions.begin() as session:
        return unsubscribe_on_request(session, number, operator="alice", reason=REASON,
                                      settings=SETTINGS, render=render, now=gw.now)


def written(gw: Engine_) -> tuple[int, int, int, list[tuple]]:
    """Row counts and the subscribers as stored: what a no-op must leave alone."""
    with gw.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(SubscriptionEvent)),
            session.scalar(select(func.count()).select_from(OutboundMessage)),
            session.scalar(select(func.count()).select_from(InboundMessage)),
            [(s.msisdn, s.status, s.pending_since, s.activated_at, s.cancelled_at, s.updated_at)
             for s in session.scalars(select(Subscriber).order_by(Subscriber.id))],
        )


def aware(value: datetime | None) -> datetime | None:
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


def _two_editions(session: Session, cutoff: datetime) -> list[int]:
    """Two editions dispatched to every active china_mobile subscriber; returns dispatch ids."""
    first = seed_edition(session)
    second = Edition(newspaper_date=date(2020, 11, 18), slot="evening", status="built",
                     article_order=None, created_at=cutoff, built_at=cutoff)
    session.add(second)
    session.flush()
    dispatches = []
    for edition_id in (first, second.id):
        dispatch_id = create_dispatch(session, edition_id=edition_id, carrier="china_mobile",
                                      cutoff=cutoff, deadline=cutoff + timedelta(hours=6),
                                      now=cutoff)
        materialise(session, dispatch_id)
        dispatches.append(dispatch_id)
    return dispatches


def test_an_active_subscriber_is_cancelled_and_told(gw: Engine_) -> None:
    gw.mo("SD", to="10658000123")
    gw.mo("Y", to="10658000123")
    activated = gw.now
    with gw.sessions.begin() as session:
        [other] = seed_subscribers(session, 1, start=5, activated_at=activated)
        first, _ = _two_editions(session, gw.now)
        # The morning edition already went out to our number; the evening one has not.
        session.execute(update(Delivery).where(Delivery.dispatch_id == first,
                                               Delivery.msisdn == NUMBER)
                        .values(status="submitted"))

    result = unsubscribe(gw)

    assert result is not None
    assert (result.changed, result.old_status, result.new_status) == (True, "active",
                                                                      "cancelled")
    assert result.cancelled_deliveries == 1
    expected_text = render_text(ENVIRONMENT, "sms/unsubscribed.txt.j2",
                                newspaper=dict(SETTINGS.newspaper), short_code="10658000")
    assert expected_text.startswith("【山东手机报】") and "退订" in expected_text
    assert result.reply is not None
    assert (result.reply.carrier, result.reply.source, result.reply.destination,
            result.reply.text) == ("china_mobile", "10658000123", NUMBER, expected_text)

    subscriber = gw.subscriber()
    assert subscriber.status == "cancelled"
    assert aware(subscriber.cancelled_at) == gw.now and aware(subscriber.updated_at) == gw.now
    assert aware(subscriber.activated_at) == activated

    event = gw.events()[-1]
    assert (event.old_status, event.new_status, event.outcome) == (
        "active", "cancelled", OPERATOR_OUTCOME)
    assert "alice" in event.mo_text and REASON in event.mo_text
    assert event.inbound_id is None and event.carrier_message_id is None
    assert (event.carrier, event.short_code, event.extension) == (
        "china_mobile", "10658000", "123")
    assert aware(event.at) == gw.now
    replayed = replay([(Status(e.old_status), Status(e.new_status), aware(e.at))
                       for e in gw.events()])
    assert replayed.status is Status.CANCELLED

    with gw.sessions() as session:
        reply = session.get(OutboundMessage, result.reply.outbound_id)
        assert (reply.kind, reply.status, reply.source_addr, reply.destination_addr,
                reply.text, aware(reply.created_at)) == (
            "reply", "queued", "10658000123", NUMBER, expected_text, gw.now)
        deliveries = dict(session.execute(
            select(Delivery.dispatch_id, Delivery.status).where(Delivery.msisdn == NUMBER)).all())
        others = list(session.scalars(select(Delivery.status).where(Delivery.msisdn == other)))
        error = session.scalar(select(Delivery.error).where(Delivery.msisdn == NUMBER,
                                                            Delivery.status == "cancelled"))
    assert sorted(deliveries.values()) == ["cancelled", "submitted"]
    assert deliveries[first] == "submitted"
    assert error == "unsubscribed during dispatch"
    assert others == ["pending", "pending"]

    # The number is now an ordinary cancelled subscriber: TD by SMS has nothing to do.
    assert gw.mo("TD").outcome == "not_subscribed"

    # The roll-up counts the operator's cancellation as an unsubscription.
    with gw.sessions.begin() as session:
        refresh(session, gw.now, RollupSettings(zone=ZoneInfo("Asia/Shanghai"),
                                                carriers=("china_mobile",)))
    with gw.sessions() as session:
        assert session.scalar(select(func.sum(DailySubscriptionStats.unsubscriptions))) == 1


@pytest.mark.parametrize(("texts", "reverted_to"), [
    (["SD"], "none"),
    (["SD", "Y", "TD", "SD"], "cancelled"),  # subscribed before: back to cancelled
])
def test_a_pending_request_is_withdrawn_without_a_reply(
        gw: Engine_, texts: list[str], reverted_to: str) -> None:
    for text in texts:
        gw.mo(text)
    before = gw.subscriber()
    _, outbound_before, _, _ = written(gw)

    result = unsubscribe(gw)

    assert result == OperatorUnsubscribe(changed=True, old_status="pending",
                                         new_status=reverted_to, cancelled_deliveries=0,
                                         reply=None)
    subscriber = gw.subscriber()
    assert subscriber.status == reverted_to and subscriber.pending_since is None
    assert aware(subscriber.cancelled_at) == aware(before.cancelled_at)
    event = gw.events()[-1]
    assert (event.old_status, event.new_status, event.outcome) == (
        "pending", reverted_to, OPERATOR_OUTCOME)
    assert REASON in event.mo_text
    assert written(gw)[1] == outbound_before
    # Nothing pending any more: a late Y confirms nothing.
    assert gw.mo("Y").outcome == "nothing_pending"


def test_an_expired_pending_request_is_withdrawn_too(gw: Engine_) -> None:
    gw.mo("SD")
    result = unsubscribe(gw, advance=timedelta(hours=30))
    assert result is not None
    assert (result.changed, result.new_status, result.reply) == (True, "none", None)
    assert gw.subscriber().status == "none"


@pytest.mark.parametrize("texts", [
    ["SD", "Y", "TD"],  # cancelled
    ["hi"],             # known only from a help request: status none
])
def test_nothing_to_cancel_changes_nothing(gw: Engine_, texts: list[str]) -> None:
    for text in texts:
        gw.mo(text)
    status = gw.subscriber().status
    before = written(gw)

    result = unsubscribe(gw)

    assert result == OperatorUnsubscribe(changed=False, old_status=status, new_status=status,
                                         cancelled_deliveries=0, reply=None)
    assert written(gw) == before


def test_an_unknown_number_is_none(gw: Engine_) -> None:
    gw.mo("SD", source="13900139000")
    before = written(gw)
    assert unsubscribe(gw) is None
    assert written(gw) == before
