"""Applying one MO to the database: the subscription engine's unit of work.

:func:`handle_mo` runs inside one transaction that the caller owns: it records
the MO, drops re-deliveries, parses the keyword, runs the pure state machine,
appends the event log, and queues the reply as an outbound record.  The caller
commits, and only then is the MO acknowledged to the SMSC; the reply is sent
after the commit.  Nothing here talks to the network or reads a clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carriers.messages import InboundMessage
from carriers.numbers import InvalidNumber, mask_msisdn, normalise_msisdn, prefix_carrier
from carriers.service_codes import Route, ServiceCodeRouter
from gateway.db import driver_sql
from gateway.db.models import Subscriber
from gateway.db.times import as_utc
from gateway.dispatch.store import cancel_for_subscribers
from gateway.states import MessageFormat
from gateway.subscriptions.help_limit import help_allowed
from gateway.subscriptions.keywords import CommandKind, parse_command
from gateway.subscriptions.machine import (
    Outcome,
    Status,
    SubscriptionState,
    Transition,
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
    sms_only_carriers: frozenset[str] = frozenset()
    """Carriers whose subscribers cannot choose the MMS edition (``carriers.<c>.mms.enabled``
    false)."""
    sms_only_prefixes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """carrier → number prefixes set up for SMS only (``carriers.<c>.mms.sms_only_prefixes``)."""

    @property
    def all_codes(self) -> tuple[str, ...]:
        return tuple(self.short_codes.values())

    def mms_available(self, carrier: str, msisdn: str) -> bool:
        """Whether a subscriber on ``carrier`` with this (national) number may have MMS."""
        if carrier in self.sms_only_carriers:
            return False
        return not any(msisdn.startswith(p) for p in self.sms_only_prefixes.get(carrier, ()))


def make_settings(
    *,
    short_codes: Mapping[str, str],
    newspaper: Mapping[str, str],
    confirm_window: timedelta,
    help_period: timedelta,
    duplicate_window: timedelta,
    sms_only_carriers: Iterable[str] = (),
    sms_only_prefixes: Mapping[str, Iterable[str]] | None = None,
) -> SubscriptionSettings:
    return SubscriptionSettings(
        short_codes=dict(short_codes),
        routers={c: ServiceCodeRouter({code: "newspaper"}) for c, code in short_codes.items()},
        newspaper=dict(newspaper),
        confirm_window=confirm_window,
        help_period=help_period,
        duplicate_window=duplicate_window,
        sms_only_carriers=frozenset(sms_only_carriers),
        sms_only_prefixes={c: tuple(p) for c, p in (sms_only_prefixes or {}).items() if p},
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
    subscriber_id: int | None = None
    in_reply_to: int | None = None
    """The MO's inbound message id."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MoResult:
    inbound_id: int
    outcome: str
    """What happened: an Outcome value, or duplicate / invalid_number / unknown_service /
    help_suppressed."""
    reply: QueuedReply | None = None
    carrier: str = ""
    number: str = ""
    """The MO's source as the carrier sent it (not normalised: it may be invalid)."""
    subscriber_id: int | None = None
    carrier_message_id: str = ""
    detail: str = ""
    """Why an MO reached no subscriber: the re-delivery, the invalid number's reason, the
    code that is not ours."""


def handle_mo(
    session: Session,
    message: InboundMessage,
    *,
    settings: SubscriptionSettings,
    render: ReplyRenderer,
    now: datetime,
) -> MoResult:
    """Apply one MO; the caller's transaction makes it all-or-nothing."""
    return handle_mos(session, [message], settings=settings, render=render, now=now)[0]


def handle_mos(
    session: Session,
    messages: Sequence[InboundMessage],
    *,
    settings: SubscriptionSettings,
    render: ReplyRenderer,
    now: datetime,
) -> list[MoResult]:
    """Apply MOs in their order, as :func:`handle_mo` would one after another, in a fixed
    number of statements whatever their count (the caller's transaction holds them all).

    Read what the MOs need (earlier copies, their numbers' subscriber rows), decide each in
    turn in memory, then write the inbound rows, subscriber rows, events and replies in a
    few multi-row statements."""
    if not messages:
        return []
    known = _Redeliveries.load(session, messages, now - settings.duplicate_window)
    decisions = [_decide_route(message, known, settings) for message in messages]
    subscribers = _load_subscribers(
        session, sorted({d.msisdn for d in decisions if d.route is not None}))
    for decision in decisions:
        if decision.route is not None:
            _decide(decision, subscribers, settings, render, now)

    inbound_ids = _insert_inbound(session, decisions)
    for decision, inbound_id in zip(decisions, inbound_ids, strict=True):
        if decision.consent and decision.subscriber is not None:
            decision.subscriber.consent_inbound_id = inbound_id
    _write_subscribers(session, subscribers.values())
    _cancel_unsent(session, decisions)
    _insert_events(session, decisions, inbound_ids, now)
    return _queue_replies(session, decisions, inbound_ids, now)


@dataclass(slots=True)
class _Decision:
    """What one MO of a batch comes to, filled in as it is decided."""

    message: InboundMessage
    outcome: str = ""
    msisdn: str = ""
    route: Route | None = None
    subscriber: _SubscriberRow | None = None
    transition: Transition | None = None
    cancelled: bool = False
    consent: bool = False
    reply_from: str = ""
    reply_text: str | None = None
    detail: str = ""


@dataclass(slots=True)
class _Redeliveries:
    """The MOs a batch's MOs may be re-deliveries of: stored ones, then the batch's own."""

    message_ids: set[tuple[str, str]]
    texts: set[tuple[str, str, str, str]]
    since: datetime

    @classmethod
    def load(cls, session: Session, messages: Sequence[InboundMessage], since: datetime
             ) -> _Redeliveries:
        message_ids: set[tuple[str, str]] = set()
        with_ids = {(m.carrier, m.carrier_message_id) for m in messages if m.carrier_message_id}
        for carrier in {carrier for carrier, _ in with_ids}:
            wanted = sorted(mid for c, mid in with_ids if c == carrier)
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start:start + _IN_CHUNK]
                message_ids.update((carrier, row[0]) for row in driver_sql.fetch_all(
                    session, "SELECT carrier_message_id FROM inbound_messages WHERE carrier = ? "
                    f"AND carrier_message_id IN ({driver_sql.in_marks(len(chunk))})",
                    (carrier, *chunk)))
        texts: set[tuple[str, str, str, str]] = set()
        sources = sorted({m.source for m in messages if not m.carrier_message_id})
        after = driver_sql.time_value(session, since)
        for start in range(0, len(sources), _IN_CHUNK):
            chunk = sources[start:start + _IN_CHUNK]
            texts.update(driver_sql.fetch_all(
                session, "SELECT source_addr, carrier, destination_addr, text "
                f"FROM inbound_messages WHERE source_addr IN ({driver_sql.in_marks(len(chunk))}) "
                "AND received_at >= ?", (*chunk, after)))
        return cls(message_ids=message_ids, texts=texts, since=since)

    def seen(self, message: InboundMessage) -> bool:
        """Whether ``message`` is a re-delivery; either way it counts for the ones after it."""
        text_key = (message.source, message.carrier, message.destination, message.text)
        if message.carrier_message_id:
            id_key = (message.carrier, message.carrier_message_id)
            found = id_key in self.message_ids
            self.message_ids.add(id_key)
        else:
            found = text_key in self.texts
        if as_utc(message.received_at) >= self.since:
            self.texts.add(text_key)
        return found


_IN_CHUNK = 500
"""Values per IN (…) list: well under SQLite's bound-parameter limit."""


def _decide_route(
    message: InboundMessage, known: _Redeliveries, settings: SubscriptionSettings
) -> _Decision:
    """Re-delivery, the number, the service code: whether the MO reaches the engine."""
    decision = _Decision(message=message)
    if known.seen(message):
        decision.outcome = "duplicate"
        decision.detail = "a re-delivery; ignored"
        return decision
    try:
        decision.msisdn = normalise_msisdn(message.source)
    except InvalidNumber as exc:
        decision.outcome = "invalid_number"
        decision.detail = exc.reason
        return decision
    router = settings.routers.get(message.carrier)
    decision.route = router.route(message.destination) if router is not None else None
    if decision.route is None:
        decision.outcome = "unknown_service"
        decision.detail = f"{message.destination} is not one of our service codes; no reply"
    return decision


def _decide(
    decision: _Decision, subscribers: dict[str, _SubscriberRow], settings: SubscriptionSettings,
    render: ReplyRenderer, now: datetime,
) -> None:
    """The engine's answer to one routed MO, applied to the in-memory subscriber row (which
    the MOs after it in the batch see)."""
    message, route = decision.message, decision.route
    assert route is not None
    command = parse_command(message.text, settings.all_codes)
    subscriber = subscribers.get(decision.msisdn)
    state = state_of(subscriber)

    if command.kind is CommandKind.HELP:
        last_help = subscriber.last_help_at if subscriber is not None else None
        if not help_allowed(as_utc(last_help), now, settings.help_period):
            decision.outcome = "help_suppressed"
            return
        subscriber = subscriber or _new_subscriber(decision.msisdn, message, route, now)
        subscriber.last_help_at = now
        subscriber.changed = True
        outcome = Outcome.HELP
    else:
        result = apply(state, command, now, confirm_window=settings.confirm_window,
                       mms_available=settings.mms_available(message.carrier, decision.msisdn))
        outcome = result.outcome
        if result.transition is not None:
            subscriber = subscriber or _new_subscriber(decision.msisdn, message, route, now)
            _store_state(subscriber, result.state, message, route, now)
            subscriber.changed = True
            decision.transition = result.transition
            decision.cancelled = result.transition.new is Status.CANCELLED
            if outcome is Outcome.WELCOME:
                decision.consent = True
                subscriber.consent_text = message.text
                subscriber.consent_at = now
            state = result.state
    if subscriber is not None:
        subscribers[decision.msisdn] = subscriber
        decision.subscriber = subscriber
    decision.outcome = outcome.value
    decision.reply_from = route.short_code + route.extension
    context = {
        "newspaper": dict(settings.newspaper),
        "short_code": route.short_code,
        "confirm_hours": _hours(settings.confirm_window),
        "subscriptions": _subscription_list(state, settings, route, render),
        "message_format": state.message_format.value,
    }
    decision.reply_text = render(f"sms/{outcome.value}.txt.j2", context)


@dataclass(slots=True, kw_only=True)
class _SubscriberRow:
    """A number's subscriber row as the engine reads and changes it during a batch (plain
    data: written back with the batch's other rows in multi-row statements)."""

    id: int | None = None
    msisdn: str
    carrier: str
    prefix_carrier: str | None
    short_code: str
    extension: str
    status: str
    pending_since: datetime | None = None
    activated_at: datetime | None = None
    cancelled_at: datetime | None = None
    consent_inbound_id: int | None = None
    consent_text: str | None = None
    consent_at: datetime | None = None
    last_help_at: datetime | None = None
    message_format: str = MessageFormat.SMS.value
    updated_at: datetime
    created_at: datetime | None = None
    """Set on a row this batch creates (written by INSERT, not UPDATE)."""
    changed: bool = False


_CHANGING = ("carrier", "prefix_carrier", "short_code", "extension", "status", "pending_since",
             "activated_at", "cancelled_at", "consent_inbound_id", "consent_text", "consent_at",
             "last_help_at", "message_format", "updated_at")
"""The columns the engine may change on an existing subscriber row."""
_TIMES = frozenset(("pending_since", "activated_at", "cancelled_at", "consent_at",
                    "last_help_at", "updated_at", "created_at"))
"""The subscriber columns that hold timestamps."""
_SELECT_SUBSCRIBERS = f"SELECT id, msisdn, {', '.join(_CHANGING)} FROM subscribers"
_INSERT_SUBSCRIBER = (
    "INSERT INTO subscribers (msisdn, undeliverable_streak, created_at, "
    f"{', '.join(_CHANGING)}) VALUES (?, 0, ?, {driver_sql.in_marks(len(_CHANGING))})")
_UPDATE_SUBSCRIBER = (f"UPDATE subscribers SET {', '.join(f'{name} = ?' for name in _CHANGING)} "
                      "WHERE id = ?")


def _load_subscribers(session: Session, msisdns: list[str]) -> dict[str, _SubscriberRow]:
    """The numbers' subscriber rows, locked for this transaction on PostgreSQL (in number
    order, so two processes' batches take their locks in the same order)."""
    found: dict[str, _SubscriberRow] = {}
    # SQLite transactions are serialised (BEGIN IMMEDIATE): no row locks to take.
    locking = " FOR UPDATE" if session.get_bind().dialect.name == "postgresql" else ""
    read_time = driver_sql.time_reader(session)
    names = ("id", "msisdn", *_CHANGING)
    for start in range(0, len(msisdns), _IN_CHUNK):
        chunk = msisdns[start:start + _IN_CHUNK]
        for row in driver_sql.fetch_all(
                session, f"{_SELECT_SUBSCRIBERS} WHERE msisdn IN "
                f"({driver_sql.in_marks(len(chunk))}) ORDER BY msisdn{locking}", chunk):
            values = {name: read_time(value) if name in _TIMES else value
                      for name, value in zip(names, row, strict=True)}
            found[values["msisdn"]] = _SubscriberRow(**values)
    return found


def _write_subscribers(session: Session, rows: Iterable[_SubscriberRow]) -> None:
    """New rows inserted (their ids set), changed ones updated: two statements at most."""
    new = [row for row in rows if row.id is None]
    changed = [row for row in rows if row.id is not None and row.changed]
    time = driver_sql.time_writer(session)

    def changing(row: _SubscriberRow) -> list[Any]:
        return [time(getattr(row, name)) if name in _TIMES else getattr(row, name)
                for name in _CHANGING]

    ids = driver_sql.insert_ids(session, _INSERT_SUBSCRIBER, [
        (row.msisdn, time(row.created_at), *changing(row)) for row in new])
    for row, row_id in zip(new, ids, strict=True):
        row.id = row_id
    driver_sql.execute_many(session, _UPDATE_SUBSCRIBER,
                            [(*changing(row), row.id) for row in changed])


def load_subscriber(session: Session, msisdn: str) -> Subscriber | None:
    """The number's subscriber row, locked for this transaction on PostgreSQL."""
    query = select(Subscriber).where(Subscriber.msisdn == msisdn)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()  # SQLite transactions are serialised (BEGIN IMMEDIATE)
    return session.scalars(query).first()


def _insert_inbound(session: Session, decisions: list[_Decision]) -> list[int]:
    """One row per MO with its outcome, in the MOs' order; their ids in that order."""
    time = driver_sql.time_writer(session)
    return driver_sql.insert_ids(
        session, "INSERT INTO inbound_messages (carrier, source_addr, destination_addr, text, "
        "carrier_message_id, received_at, outcome) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(d.message.carrier, d.message.source, d.message.destination, d.message.text,
          d.message.carrier_message_id, time(d.message.received_at), d.outcome)
         for d in decisions])


def _cancel_unsent(session: Session, decisions: list[_Decision]) -> None:
    """Digest messages not yet sent to the numbers that unsubscribed are cancelled."""
    gone = {d.subscriber.id: d.msisdn for d in decisions
            if d.cancelled and d.subscriber is not None}
    if not gone:
        return
    cancelled = cancel_for_subscribers(session, sorted(gone))
    if cancelled:
        log.info("%s unsubscribed: %d digest message(s) not yet sent are cancelled",
                 ", ".join(sorted(mask_msisdn(number) for number in gone.values())), cancelled)


def _insert_events(
    session: Session, decisions: list[_Decision], inbound_ids: list[int], now: datetime
) -> None:
    at = driver_sql.time_value(session, now)
    rows = []
    for decision, inbound_id in zip(decisions, inbound_ids, strict=True):
        if decision.transition is None or decision.subscriber is None:
            continue
        message, route, transition = decision.message, decision.route, decision.transition
        assert route is not None
        rows.append((
            decision.subscriber.id, decision.msisdn, message.carrier, route.short_code,
            route.extension, message.text, message.carrier_message_id, inbound_id,
            transition.old.value, transition.new.value, decision.outcome, at,
            transition.format.value if transition.format is not None else None,
        ))
    driver_sql.execute_many(
        session, "INSERT INTO subscription_events (subscriber_id, msisdn, carrier, short_code, "
        "extension, mo_text, carrier_message_id, inbound_id, old_status, new_status, outcome, "
        "at, message_format) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def _queue_replies(
    session: Session, decisions: list[_Decision], inbound_ids: list[int], now: datetime
) -> list[MoResult]:
    answered = [(d, inbound_id) for d, inbound_id in zip(decisions, inbound_ids, strict=True)
                if d.reply_text is not None]
    created = driver_sql.time_value(session, now)
    outbound_ids = driver_sql.insert_ids(
        session, "INSERT INTO outbound_messages (carrier, kind, source_addr, destination_addr, "
        "text, segment_count, status, in_reply_to, created_at) "
        "VALUES (?, 'reply', ?, ?, ?, 0, 'queued', ?, ?)",
        [(d.message.carrier, d.reply_from, d.message.source, d.reply_text, inbound_id, created)
         for d, inbound_id in answered])
    replies = {inbound_id: QueuedReply(
        outbound_id=outbound_id, carrier=d.message.carrier, source=d.reply_from,
        destination=d.message.source, text=d.reply_text or "", link_id=d.message.link_id,
        subscriber_id=d.subscriber.id if d.subscriber is not None else None,
        in_reply_to=inbound_id,
    ) for (d, inbound_id), outbound_id in zip(answered, outbound_ids, strict=True)}
    return [MoResult(inbound_id=inbound_id, outcome=d.outcome, reply=replies.get(inbound_id),
                     carrier=d.message.carrier, number=d.message.source,
                     subscriber_id=d.subscriber.id if d.subscriber is not None else None,
                     carrier_message_id=d.message.carrier_message_id or "", detail=d.detail)
            for d, inbound_id in zip(decisions, inbound_ids, strict=True)]


def state_of(subscriber: Subscriber | _SubscriberRow | None) -> SubscriptionState:
    if subscriber is None:
        return SubscriptionState()
    return SubscriptionState(
        status=Status(subscriber.status),
        pending_since=as_utc(subscriber.pending_since),
        activated_at=as_utc(subscriber.activated_at),
        cancelled_at=as_utc(subscriber.cancelled_at),
        message_format=MessageFormat(subscriber.message_format or MessageFormat.SMS),
    )


def _new_subscriber(msisdn: str, message: InboundMessage, route: Route, now: datetime
                    ) -> _SubscriberRow:
    """A row for a number the engine has not seen; written with the batch's other rows."""
    return _SubscriberRow(
        msisdn=msisdn,
        carrier=message.carrier,
        prefix_carrier=_mismatch(msisdn, message.carrier),
        short_code=route.short_code,
        extension=route.extension,
        status=Status.NONE.value,
        created_at=now,
        updated_at=now,
    )


def _mismatch(msisdn: str, carrier: str) -> str | None:
    by_prefix = prefix_carrier(msisdn)
    return by_prefix if by_prefix != carrier else None


def store_state(subscriber: Subscriber | _SubscriberRow, state: SubscriptionState,
                now: datetime) -> None:
    """Write a state machine decision's state onto the subscriber row."""
    subscriber.status = state.status.value
    subscriber.pending_since = state.pending_since
    subscriber.activated_at = state.activated_at
    subscriber.cancelled_at = state.cancelled_at
    subscriber.message_format = state.message_format.value
    subscriber.updated_at = now


def _store_state(
    subscriber: _SubscriberRow, state: SubscriptionState, message: InboundMessage, route: Route,
    now: datetime,
) -> None:
    store_state(subscriber, state, now)
    # The carrier that delivered the MO serves the number now (number portability).
    subscriber.carrier = message.carrier
    subscriber.prefix_carrier = _mismatch(subscriber.msisdn, message.carrier)
    if state.status is Status.PENDING:
        subscriber.short_code = route.short_code
        subscriber.extension = route.extension


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
        "message_format": state.message_format.value,
    }]
