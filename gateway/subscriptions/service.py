"""Applying one MO to the database: the subscription engine's unit of work.

:func:`handle_mo` runs inside one transaction that the caller owns: it records
the MO, drops re-deliveries, parses the keyword, runs the pure state machine,
appends the event log, and queues the reply as an outbound record.  The caller
commits, and only then is the MO acknowledged to the SMSC; the reply is sent
after the commit.  Nothing here talks to the network or reads a clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from carriers.messages import InboundMessage
from carriers.numbers import InvalidNumber, normalise_msisdn, prefix_carrier
from carriers.service_codes import Route, ServiceCodeRouter
from gateway.db.models import InboundMessage as InboundRow
from gateway.db.models import OutboundMessage, Subscriber, SubscriptionEvent
from gateway.db.times import as_utc
from gateway.dispatch.store import cancel_for_subscriber
from gateway.message_log import record_inbound
from gateway.subscriptions.help_limit import help_allowed
from gateway.subscriptions.keywords import CommandKind, parse_command
from gateway.subscriptions.machine import (
    Outcome,
    Status,
    SubscriptionState,
    apply,
)

log = logging.getLogger(__name__)

ReplyRenderer = Callable[[str, Mapping[str, Any]], str]
"""(template name, context) → reply text."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionSettings:
    short_codes: Mapping[str, str]
    """carrier → its service short code."""
    routers: Mapping[str, ServiceCodeRouter]
    """carrier → the router of its service code and extensions (see :func:`make_settings`)."""
    newspaper: Mapping[str, str]
    """name, price, signature — passed to every reply template."""
    confirm_window: timedelta = timedelta(hours=24)
    help_period: timedelta = timedelta(hours=1)
    duplicate_window: timedelta = timedelta(minutes=2)

    @property
    def all_codes(self) -> tuple[str, ...]:
        return tuple(self.short_codes.values())


def make_settings(
    *,
    short_codes: Mapping[str, str],
    newspaper: Mapping[str, str],
    confirm_window: timedelta,
    help_period: timedelta,
    duplicate_window: timedelta,
) -> SubscriptionSettings:
    return SubscriptionSettings(
        short_codes=dict(short_codes),
        routers={c: ServiceCodeRouter({code: "newspaper"}) for c, code in short_codes.items()},
        newspaper=dict(newspaper),
        confirm_window=confirm_window,
        help_period=help_period,
        duplicate_window=duplicate_window,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuedReply:
    outbound_id: int
    carrier: str
    source: str
    destination: str
    text: str
    link_id: str = ""
    """The MO's carrier session id (CMPP 3.0 LinkID), echoed on the reply; not stored, so a
    reply re-sent after a crash goes without it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MoResult:
    inbound_id: int
    outcome: str
    """What happened: an Outcome value, or duplicate / invalid_number / unknown_service /
    help_suppressed."""
    reply: QueuedReply | None = None


def handle_mo(
    session: Session,
    message: InboundMessage,
    *,
    settings: SubscriptionSettings,
    render: ReplyRenderer,
    now: datetime,
) -> MoResult:
    """Apply one MO; the caller's transaction makes it all-or-nothing."""
    if _is_redelivery(session, message, now, settings.duplicate_window):
        inbound_id = record_inbound(session, message, "duplicate")
        log.info("MO %s from %s is a re-delivery; ignored", message.text, message.source)
        return MoResult(inbound_id=inbound_id, outcome="duplicate")
    try:
        msisdn = normalise_msisdn(message.source)
    except InvalidNumber as exc:
        inbound_id = record_inbound(session, message, "invalid_number")
        log.warning("MO on %s from %r refused: %s", message.carrier, message.source, exc.reason)
        return MoResult(inbound_id=inbound_id, outcome="invalid_number")
    router = settings.routers.get(message.carrier)
    route = router.route(message.destination) if router is not None else None
    if route is None:
        inbound_id = record_inbound(session, message, "unknown_service")
        log.warning("MO on %s to %s: not one of our service codes; no reply",
                    message.carrier, message.destination)
        return MoResult(inbound_id=inbound_id, outcome="unknown_service")

    inbound_id = record_inbound(session, message)
    command = parse_command(message.text, settings.all_codes)
    subscriber = load_subscriber(session, msisdn)
    state = state_of(subscriber)

    if command.kind is CommandKind.HELP:
        last_help = subscriber.last_help_at if subscriber is not None else None
        if not help_allowed(as_utc(last_help), now, settings.help_period):
            _set_outcome(session, inbound_id, "help_suppressed")
            return MoResult(inbound_id=inbound_id, outcome="help_suppressed")
        subscriber = subscriber or _new_subscriber(session, msisdn, message, route, now)
        subscriber.last_help_at = now
        outcome = Outcome.HELP
    else:
        decision = apply(state, command, now, confirm_window=settings.confirm_window)
        outcome = decision.outcome
        if decision.transition is not None:
            subscriber = subscriber or _new_subscriber(session, msisdn, message, route, now)
            _store_state(subscriber, decision.state, message, route, now)
            if decision.transition.new is Status.CANCELLED:
                cancelled = cancel_for_subscriber(session, subscriber.id)
                if cancelled:
                    log.info("%s unsubscribed: %d digest message(s) not yet sent are cancelled",
                             msisdn, cancelled)
            if outcome is Outcome.WELCOME:
                subscriber.consent_inbound_id = inbound_id
                subscriber.consent_text = message.text
                subscriber.consent_at = now
            session.execute(insert(SubscriptionEvent.__table__).values(
                subscriber_id=subscriber.id,
                msisdn=msisdn,
                carrier=message.carrier,
                short_code=route.short_code,
                extension=route.extension,
                mo_text=message.text,
                carrier_message_id=message.carrier_message_id,
                inbound_id=inbound_id,
                old_status=decision.transition.old.value,
                new_status=decision.transition.new.value,
                outcome=outcome.value,
                at=now,
            ))
            state = decision.state

    _set_outcome(session, inbound_id, outcome.value)
    reply_from = route.short_code + route.extension
    context = {
        "newspaper": dict(settings.newspaper),
        "short_code": route.short_code,
        "confirm_hours": _hours(settings.confirm_window),
        "subscriptions": _subscription_list(state, settings, route, render),
    }
    text = render(f"sms/{outcome.value}.txt.j2", context)
    outbound_id = int(session.execute(insert(OutboundMessage.__table__).values(
        carrier=message.carrier,
        kind="reply",
        source_addr=reply_from,
        destination_addr=message.source,
        text=text,
        segment_count=0,
        status="queued",
        in_reply_to=inbound_id,
        created_at=now,
    ).returning(OutboundMessage.__table__.c.id)).scalar_one())
    return MoResult(
        inbound_id=inbound_id,
        outcome=outcome.value,
        reply=QueuedReply(outbound_id=outbound_id, carrier=message.carrier, source=reply_from,
                          destination=message.source, text=text, link_id=message.link_id),
    )


_SAME_MESSAGE_ID = select(InboundRow.id).where(
    InboundRow.carrier == bindparam("carrier"),
    InboundRow.carrier_message_id == bindparam("message_id"),
).limit(1)
_SAME_TEXT_LATELY = select(InboundRow.id).where(
    InboundRow.source_addr == bindparam("source"),
    InboundRow.carrier == bindparam("carrier"),
    InboundRow.destination_addr == bindparam("destination"),
    InboundRow.text == bindparam("text"),
    InboundRow.received_at >= bindparam("since", type_=InboundRow.received_at.type),
).limit(1)
"""Built once: every MO asks one of them (the statement and its cache key are reused)."""


def _is_redelivery(
    session: Session, message: InboundMessage, now: datetime, window: timedelta
) -> bool:
    """Same carrier message id, or the same text from the same number to the same code
    within the window: the SMSC delivering again after a lost response."""
    if message.carrier_message_id:
        found = session.scalar(_SAME_MESSAGE_ID, {
            "carrier": message.carrier, "message_id": message.carrier_message_id})
    else:
        found = session.scalar(_SAME_TEXT_LATELY, {
            "source": message.source, "carrier": message.carrier,
            "destination": message.destination, "text": message.text,
            "since": now - window})
    return found is not None


def load_subscriber(session: Session, msisdn: str) -> Subscriber | None:
    """The number's subscriber row, locked for this transaction on PostgreSQL."""
    query = select(Subscriber).where(Subscriber.msisdn == msisdn)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()  # SQLite transactions are serialised (BEGIN IMMEDIATE)
    return session.scalars(query).first()


def state_of(subscriber: Subscriber | None) -> SubscriptionState:
    if subscriber is None:
        return SubscriptionState()
    return SubscriptionState(
        status=Status(subscriber.status),
        pending_since=as_utc(subscriber.pending_since),
        activated_at=as_utc(subscriber.activated_at),
        cancelled_at=as_utc(subscriber.cancelled_at),
    )


def _new_subscriber(
    session: Session, msisdn: str, message: InboundMessage, route: Route, now: datetime
) -> Subscriber:
    subscriber = Subscriber(
        msisdn=msisdn,
        carrier=message.carrier,
        prefix_carrier=_mismatch(msisdn, message.carrier),
        short_code=route.short_code,
        extension=route.extension,
        status=Status.NONE.value,
        message_format="sms",
        created_at=now,
        updated_at=now,
    )
    session.add(subscriber)
    session.flush()
    return subscriber


def _mismatch(msisdn: str, carrier: str) -> str | None:
    by_prefix = prefix_carrier(msisdn)
    return by_prefix if by_prefix != carrier else None


def store_state(subscriber: Subscriber, state: SubscriptionState, now: datetime) -> None:
    """Write a state machine decision's state onto the subscriber row."""
    subscriber.status = state.status.value
    subscriber.pending_since = state.pending_since
    subscriber.activated_at = state.activated_at
    subscriber.cancelled_at = state.cancelled_at
    subscriber.updated_at = now


def _store_state(
    subscriber: Subscriber, state: SubscriptionState, message: InboundMessage, route: Route,
    now: datetime,
) -> None:
    store_state(subscriber, state, now)
    # The carrier that delivered the MO serves the number now (number portability).
    subscriber.carrier = message.carrier
    subscriber.prefix_carrier = _mismatch(subscriber.msisdn, message.carrier)
    if state.status is Status.PENDING:
        subscriber.short_code = route.short_code
        subscriber.extension = route.extension


def _set_outcome(session: Session, inbound_id: int, outcome: str) -> None:
    table = InboundRow.__table__
    session.execute(update(table).where(table.c.id == inbound_id).values(outcome=outcome))


def _hours(window: timedelta) -> str:
    hours = window.total_seconds() / 3600
    return f"{hours:g}"


def _subscription_list(
    state: SubscriptionState, settings: SubscriptionSettings, route: Route,
    render: ReplyRenderer,
) -> list[dict[str, str]]:
    if state.status not in (Status.ACTIVE, Status.PENDING):
        return []
    return [{
        "name": settings.newspaper.get("name", ""),
        "price": settings.newspaper.get("price", ""),
        "state": render(f"sms/state_{state.status.value}.txt.j2", {}),
        "short_code": route.short_code,
    }]
