"""Unsubscribing a number on the subscriber's request made to the newspaper (the hotline),
not by SMS: the same transition as ``TD``, recorded as an operator's action with a reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from gateway.db.models import OutboundMessage, SubscriptionEvent
from gateway.dispatch.store import cancel_for_subscriber
from gateway.subscriptions.keywords import CommandKind
from gateway.subscriptions.machine import Status, apply
from gateway.subscriptions.service import (
    QueuedReply,
    ReplyRenderer,
    SubscriptionSettings,
    load_subscriber,
    state_of,
    store_state,
)

OPERATOR_OUTCOME = "operator_unsubscribed"


@dataclass(frozen=True, slots=True)
class OperatorUnsubscribe:
    changed: bool
    """False when the number had nothing to cancel (the state is unchanged)."""
    old_status: str
    new_status: str
    cancelled_deliveries: int
    reply: QueuedReply | None
    """The notice to the subscriber, stored queued; the caller sends it."""


def unsubscribe_on_request(
    session: Session, msisdn: str, *, operator: str, reason: str,
    settings: SubscriptionSettings, render: ReplyRenderer, now: datetime,
) -> OperatorUnsubscribe | None:
    """Cancel ``msisdn``'s subscription (or its pending request); None if it is unknown."""
    subscriber = load_subscriber(session, msisdn)
    if subscriber is None:
        return None
    decision = apply(state_of(subscriber), CommandKind.UNSUBSCRIBE, now,
                     confirm_window=settings.confirm_window)
    old = subscriber.status
    if decision.transition is None:
        return OperatorUnsubscribe(changed=False, old_status=old, new_status=old,
                                   cancelled_deliveries=0, reply=None)
    state = decision.state
    store_state(subscriber, state, now)
    session.add(SubscriptionEvent(
        subscriber_id=subscriber.id, msisdn=msisdn, carrier=subscriber.carrier,
        short_code=subscriber.short_code, extension=subscriber.extension,
        mo_text=f"[operator {operator}] {reason}"[:2000], carrier_message_id=None,
        inbound_id=None, old_status=decision.transition.old.value,
        new_status=decision.transition.new.value, outcome=OPERATOR_OUTCOME, at=now,
    ))
    cancelled = 0
    if state.status is Status.CANCELLED:
        cancelled = cancel_for_subscriber(session, subscriber.id)
    reply = None
    if old == Status.ACTIVE.value:
        source = subscriber.short_code + subscriber.extension
        text = render(f"sms/{decision.outcome.value}.txt.j2", {
            "newspaper": dict(settings.newspaper), "short_code": subscriber.short_code,
        })
        row = OutboundMessage(carrier=subscriber.carrier, kind="reply", source_addr=source,
                              destination_addr=msisdn, text=text, segment_count=0,
                              status="queued", created_at=now)
        session.add(row)
        session.flush()
        reply = QueuedReply(outbound_id=row.id, carrier=subscriber.carrier, source=source,
                            destination=msisdn, text=text)
    return OperatorUnsubscribe(changed=True, old_status=old, new_status=state.status.value,
                               cancelled_deliveries=cancelled, reply=reply)
