"""The subscription state machine: pure, one subscriber × one service at a time.

``apply(state, command, now, confirm_window=…, mms_available=…)`` looks up
``(state.status, command.kind)`` in :data:`TRANSITIONS` and returns a
:class:`Decision`: the new state, the :class:`Outcome` naming which reply to send,
and the :class:`Transition` to append to the event log (``None`` when nothing
changed). Time, and whether the subscriber's carrier and number can have the MMS
edition, are inputs; nothing here reads a clock, a database, configuration or a
template.

States::

    NONE ──SD──▶ PENDING ──Y (in window)──▶ ACTIVE ──TD/QX/退订/00000──▶ CANCELLED
                  │  ▲ SD restarts the window                              │
                  │  └─────────────────────────────SD──────────────────────┘
                  └─ Y too late, or TD ──▶ back to the status before SD

Documented decisions:

- **Confirmation window is inclusive.** ``Y`` at exactly ``pending_since +
  confirm_window`` activates; one microsecond later it is too late. A ``now``
  earlier than ``pending_since`` (clock skew) counts as inside the window.
- **An expired pending request reverts to the status it left**: ``NONE`` for a
  first-time subscriber, ``CANCELLED`` for one who had subscribed before (told
  apart by ``cancelled_at``, which only ever gets set by a cancellation). The
  outcome is ``CONFIRM_EXPIRED``; the user can send ``SD`` again.
- **Unsubscribing while pending withdraws the request**: the state reverts as
  above, with outcome ``PENDING_CANCELLED`` (or ``NOT_SUBSCRIBED`` if the request
  had already expired). Nothing was ever charged, so it is not a cancellation.
- **SD while pending** restarts the window and prompts again; this is recorded as
  a ``PENDING → PENDING`` transition because ``pending_since`` changes.
- **Y while active** answers ``ALREADY_SUBSCRIBED`` (a repeated ``Y`` is the usual
  cause), not ``NOTHING_PENDING``.
- ``UNSUBSCRIBE_ALL`` (``00000``) acts like ``UNSUBSCRIBE`` on each service; the
  caller applies it to every subscription of the number.
- A lingering expired ``PENDING`` is only cleared when the next command arrives
  (or when a caller sweeps with :func:`pending_expired`); ``QUERY``, ``HELP`` and
  the format choices never change the status.
- **The format** (``CX``/``彩信`` → MMS, ``DX``/``短信`` → SMS) is a choice of an
  *active* subscriber: it is recorded as an ``ACTIVE → ACTIVE`` transition carrying
  the new format. Choosing the format one already has answers ``ALREADY_MMS`` /
  ``ALREADY_SMS`` and records nothing. Choosing MMS where the carrier or the number
  is set up for SMS only (``mms_available=False``) answers ``MMS_UNAVAILABLE`` and
  changes nothing (even for a subscriber who has MMS already: the reply explains
  what they will get). A pending subscriber is told to confirm first
  (``FORMAT_CONFIRM_FIRST``; ``FORMAT_NOT_SUBSCRIBED`` once the window has passed),
  anyone else that they are not subscribed.
- **The format survives a cancellation**: it is the subscriber's choice, so one who
  subscribes again gets the edition they last chose. A number that was never
  active has the SMS format.

Timestamps in :class:`SubscriptionState` are the most recent ones: a subscriber
who cancels and subscribes again keeps the old ``cancelled_at`` while active.
Use one datetime convention throughout (timezone-aware UTC is recommended);
mixing naive and aware values raises ``TypeError`` from ``datetime`` itself.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import NamedTuple

from gateway.states import MessageFormat, SubscriptionStatus
from gateway.subscriptions.keywords import Command, CommandKind

__all__ = [
    "DEFAULT_CONFIRM_WINDOW",
    "TRANSITIONS",
    "Decision",
    "Effect",
    "FormatStep",
    "InvalidState",
    "InvalidTransition",
    "Outcome",
    "ReplayMismatch",
    "Status",
    "Step",
    "SubscriptionError",
    "SubscriptionState",
    "Transition",
    "WindowedStep",
    "apply",
    "pending_expired",
    "replay",
]

DEFAULT_CONFIRM_WINDOW = timedelta(hours=24)
"""The default second-confirmation window (docs/carrier-rules.md §3); configurable."""


class SubscriptionError(Exception):
    """Base of the errors raised by the subscription state machine."""


class InvalidState(SubscriptionError, ValueError):
    """A :class:`SubscriptionState` whose fields contradict its status."""


class InvalidTransition(SubscriptionError, LookupError):
    """A (status, command) pair that is not in :data:`TRANSITIONS`."""


class ReplayMismatch(SubscriptionError, ValueError):
    """An event log that does not fit the state it is replayed onto."""


Status = SubscriptionStatus
"""The machine's states are the stored subscription statuses, defined once in
``gateway/states.py``."""


class Outcome(enum.Enum):
    """Which reply to send; templates turn it into words."""

    CONFIRM_PROMPT = "confirm_prompt"
    WELCOME = "welcome"
    ALREADY_SUBSCRIBED = "already_subscribed"
    NOTHING_PENDING = "nothing_pending"
    CONFIRM_EXPIRED = "confirm_expired"
    UNSUBSCRIBED = "unsubscribed"
    PENDING_CANCELLED = "pending_cancelled"
    NOT_SUBSCRIBED = "not_subscribed"
    SUBSCRIPTION_LIST = "subscription_list"
    FORMAT_MMS = "format_mms"
    FORMAT_SMS = "format_sms"
    ALREADY_MMS = "already_mms"
    ALREADY_SMS = "already_sms"
    MMS_UNAVAILABLE = "mms_unavailable"
    FORMAT_CONFIRM_FIRST = "format_confirm_first"
    FORMAT_NOT_SUBSCRIBED = "format_not_subscribed"
    HELP = "help"


class Effect(enum.Enum):
    """What a step does to the state."""

    KEEP = "keep"
    START_PENDING = "start_pending"  # status PENDING, pending_since = now (also restarts)
    ACTIVATE = "activate"  # PENDING → ACTIVE, activated_at = now
    CANCEL = "cancel"  # ACTIVE → CANCELLED, cancelled_at = now
    REVERT = "revert"  # PENDING → the status before it
    SWITCH_TO_MMS = "switch_to_mms"  # ACTIVE, message_format = MMS
    SWITCH_TO_SMS = "switch_to_sms"  # ACTIVE, message_format = SMS


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionState:
    """One subscriber's state for one service.

    Invariants (checked on construction, :class:`InvalidState` otherwise):
    ``pending_since`` is set exactly when the status is ``PENDING``; ``NONE`` has
    no timestamps; ``ACTIVE`` has ``activated_at``; ``CANCELLED`` has both
    ``activated_at`` and ``cancelled_at``; ``cancelled_at`` implies
    ``activated_at``; a ``PENDING`` state was either never active or cancelled; the
    MMS format needs an activation (only an active subscriber chooses it).
    """

    status: Status = Status.NONE
    pending_since: datetime | None = None
    activated_at: datetime | None = None
    cancelled_at: datetime | None = None
    message_format: MessageFormat = MessageFormat.SMS

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem:
            raise InvalidState(f"{self!r}: {problem}")

    def _problem(self) -> str | None:
        if (self.pending_since is not None) != (self.status is Status.PENDING):
            return "pending_since must be set exactly when the status is PENDING"
        if self.cancelled_at is not None and self.activated_at is None:
            return "cancelled_at requires activated_at"
        if self.status is Status.NONE and self.activated_at is not None:
            return "NONE has never been active"
        if self.status is Status.ACTIVE and self.activated_at is None:
            return "ACTIVE requires activated_at"
        if self.status is Status.CANCELLED and self.cancelled_at is None:
            return "CANCELLED requires cancelled_at"
        if (
            self.status is Status.PENDING
            and self.activated_at is not None
            and self.cancelled_at is None
        ):
            return "PENDING can follow an activation only after a cancellation"
        if self.message_format is MessageFormat.MMS and self.activated_at is None:
            return "the MMS format is chosen only by a subscriber who was active"
        return None

    @property
    def status_before_pending(self) -> Status:
        """The status a pending request reverts to: ``CANCELLED`` if ever cancelled."""
        return Status.NONE if self.cancelled_at is None else Status.CANCELLED


class Transition(NamedTuple):
    """One event in a subscription's log: ``old`` → ``new`` at ``at``; ``format`` is the
    message format the event chose (a format choice, ``ACTIVE → ACTIVE``), else None."""

    old: Status
    new: Status
    at: datetime
    format: MessageFormat | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    effect: Effect
    outcome: Outcome


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowedStep:
    """A step that depends on whether the pending request is still in its window."""

    within: Step
    expired: Step


@dataclass(frozen=True, slots=True, kw_only=True)
class FormatStep:
    """A format choice: ``already`` when the subscriber has ``format`` already, ``unavailable``
    when it is MMS and the carrier or number cannot have it (checked first), else ``switch``."""

    format: MessageFormat
    switch: Step
    already: Step
    unavailable: Step | None = None


def _step(effect: Effect, outcome: Outcome) -> Step:
    return Step(effect=effect, outcome=outcome)


_S, _C, _E, _O, _F = Status, CommandKind, Effect, Outcome, MessageFormat

_CHOOSE_MMS = FormatStep(format=_F.MMS, switch=_step(_E.SWITCH_TO_MMS, _O.FORMAT_MMS),
                         already=_step(_E.KEEP, _O.ALREADY_MMS),
                         unavailable=_step(_E.KEEP, _O.MMS_UNAVAILABLE))
_CHOOSE_SMS = FormatStep(format=_F.SMS, switch=_step(_E.SWITCH_TO_SMS, _O.FORMAT_SMS),
                         already=_step(_E.KEEP, _O.ALREADY_SMS))
_FORMAT_WHILE_PENDING = WindowedStep(within=_step(_E.KEEP, _O.FORMAT_CONFIRM_FIRST),
                                     expired=_step(_E.KEEP, _O.FORMAT_NOT_SUBSCRIBED))
_FORMAT_NOT_SUBSCRIBED = _step(_E.KEEP, _O.FORMAT_NOT_SUBSCRIBED)

TRANSITIONS: Mapping[tuple[Status, CommandKind], Step | WindowedStep | FormatStep] = (
    MappingProxyType(
    {
        # Never subscribed.
        (_S.NONE, _C.SUBSCRIBE): _step(_E.START_PENDING, _O.CONFIRM_PROMPT),
        (_S.NONE, _C.CONFIRM): _step(_E.KEEP, _O.NOTHING_PENDING),
        (_S.NONE, _C.UNSUBSCRIBE): _step(_E.KEEP, _O.NOT_SUBSCRIBED),
        (_S.NONE, _C.UNSUBSCRIBE_ALL): _step(_E.KEEP, _O.NOT_SUBSCRIBED),
        (_S.NONE, _C.QUERY): _step(_E.KEEP, _O.SUBSCRIPTION_LIST),
        (_S.NONE, _C.CHOOSE_MMS): _FORMAT_NOT_SUBSCRIBED,
        (_S.NONE, _C.CHOOSE_SMS): _FORMAT_NOT_SUBSCRIBED,
        (_S.NONE, _C.HELP): _step(_E.KEEP, _O.HELP),
        # Waiting for the second confirmation.
        (_S.PENDING, _C.SUBSCRIBE): _step(_E.START_PENDING, _O.CONFIRM_PROMPT),
        (_S.PENDING, _C.CONFIRM): WindowedStep(
            within=_step(_E.ACTIVATE, _O.WELCOME),
            expired=_step(_E.REVERT, _O.CONFIRM_EXPIRED),
        ),
        (_S.PENDING, _C.UNSUBSCRIBE): WindowedStep(
            within=_step(_E.REVERT, _O.PENDING_CANCELLED),
            expired=_step(_E.REVERT, _O.NOT_SUBSCRIBED),
        ),
        (_S.PENDING, _C.UNSUBSCRIBE_ALL): WindowedStep(
            within=_step(_E.REVERT, _O.PENDING_CANCELLED),
            expired=_step(_E.REVERT, _O.NOT_SUBSCRIBED),
        ),
        (_S.PENDING, _C.QUERY): _step(_E.KEEP, _O.SUBSCRIPTION_LIST),
        (_S.PENDING, _C.CHOOSE_MMS): _FORMAT_WHILE_PENDING,
        (_S.PENDING, _C.CHOOSE_SMS): _FORMAT_WHILE_PENDING,
        (_S.PENDING, _C.HELP): _step(_E.KEEP, _O.HELP),
        # Subscribed and confirmed.
        (_S.ACTIVE, _C.SUBSCRIBE): _step(_E.KEEP, _O.ALREADY_SUBSCRIBED),
        (_S.ACTIVE, _C.CONFIRM): _step(_E.KEEP, _O.ALREADY_SUBSCRIBED),
        (_S.ACTIVE, _C.UNSUBSCRIBE): _step(_E.CANCEL, _O.UNSUBSCRIBED),
        (_S.ACTIVE, _C.UNSUBSCRIBE_ALL): _step(_E.CANCEL, _O.UNSUBSCRIBED),
        (_S.ACTIVE, _C.QUERY): _step(_E.KEEP, _O.SUBSCRIPTION_LIST),
        (_S.ACTIVE, _C.CHOOSE_MMS): _CHOOSE_MMS,
        (_S.ACTIVE, _C.CHOOSE_SMS): _CHOOSE_SMS,
        (_S.ACTIVE, _C.HELP): _step(_E.KEEP, _O.HELP),
        # Subscribed once, then cancelled.
        (_S.CANCELLED, _C.SUBSCRIBE): _step(_E.START_PENDING, _O.CONFIRM_PROMPT),
        (_S.CANCELLED, _C.CONFIRM): _step(_E.KEEP, _O.NOTHING_PENDING),
        (_S.CANCELLED, _C.UNSUBSCRIBE): _step(_E.KEEP, _O.NOT_SUBSCRIBED),
        (_S.CANCELLED, _C.UNSUBSCRIBE_ALL): _step(_E.KEEP, _O.NOT_SUBSCRIBED),
        (_S.CANCELLED, _C.QUERY): _step(_E.KEEP, _O.SUBSCRIPTION_LIST),
        (_S.CANCELLED, _C.CHOOSE_MMS): _FORMAT_NOT_SUBSCRIBED,
        (_S.CANCELLED, _C.CHOOSE_SMS): _FORMAT_NOT_SUBSCRIBED,
        (_S.CANCELLED, _C.HELP): _step(_E.KEEP, _O.HELP),
    }))
"""(status, command kind) → what happens. Pairs not listed raise InvalidTransition."""

# Which effect explains a logged status change; used by replay().
_EFFECT_OF_CHANGE: Mapping[tuple[Status, Status], Effect] = MappingProxyType(
    {
        (_S.NONE, _S.PENDING): _E.START_PENDING,
        (_S.CANCELLED, _S.PENDING): _E.START_PENDING,
        (_S.PENDING, _S.PENDING): _E.START_PENDING,
        (_S.PENDING, _S.ACTIVE): _E.ACTIVATE,
        (_S.PENDING, _S.NONE): _E.REVERT,
        (_S.PENDING, _S.CANCELLED): _E.REVERT,
        (_S.ACTIVE, _S.CANCELLED): _E.CANCEL,
    }
)
_SWITCH_TO: Mapping[MessageFormat, Effect] = MappingProxyType(
    {_F.MMS: _E.SWITCH_TO_MMS, _F.SMS: _E.SWITCH_TO_SMS})


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """The result of :func:`apply`.

    ``transition`` is ``None`` when the state is unchanged; otherwise it is the
    event to append to the log (``old`` may equal ``new`` when SD restarts a
    pending window).
    """

    state: SubscriptionState
    outcome: Outcome
    transition: Transition | None

    @property
    def changed(self) -> bool:
        return self.transition is not None


def _check_window(confirm_window: timedelta) -> None:
    if confirm_window <= timedelta(0):
        raise ValueError(f"confirm_window must be positive, got {confirm_window}")


def pending_expired(state: SubscriptionState, now: datetime, *, confirm_window: timedelta) -> bool:
    """Whether ``state`` is a pending request whose window has passed at ``now``."""
    _check_window(confirm_window)
    if state.pending_since is None:
        return False
    return now - state.pending_since > confirm_window


def _perform(state: SubscriptionState, effect: Effect, at: datetime) -> SubscriptionState:
    if effect is Effect.KEEP:
        return state
    if effect is Effect.START_PENDING:
        return replace(state, status=Status.PENDING, pending_since=at)
    if effect is Effect.ACTIVATE:
        return replace(state, status=Status.ACTIVE, pending_since=None, activated_at=at)
    if effect is Effect.CANCEL:
        return replace(state, status=Status.CANCELLED, cancelled_at=at)
    if effect is Effect.REVERT:
        return replace(state, status=state.status_before_pending, pending_since=None)
    if effect is Effect.SWITCH_TO_MMS:
        return replace(state, message_format=MessageFormat.MMS)
    if effect is Effect.SWITCH_TO_SMS:
        return replace(state, message_format=MessageFormat.SMS)
    raise AssertionError(f"unhandled effect {effect}")


def apply(
    state: SubscriptionState,
    command: Command | CommandKind,
    now: datetime,
    *,
    confirm_window: timedelta,
    mms_available: bool = True,
) -> Decision:
    """Decide what ``command`` received at ``now`` does to ``state``. ``mms_available``:
    whether the subscriber's carrier and number can have the MMS edition.

    Raises :class:`InvalidTransition` for a pair missing from :data:`TRANSITIONS`
    and :class:`ValueError` for a non-positive ``confirm_window``.
    """
    _check_window(confirm_window)
    kind = command.kind if isinstance(command, Command) else command
    try:
        rule = TRANSITIONS[(state.status, kind)]
    except KeyError:
        raise InvalidTransition(f"no transition for {kind} in state {state.status}") from None
    if isinstance(rule, WindowedStep):
        expired = pending_expired(state, now, confirm_window=confirm_window)
        step = rule.expired if expired else rule.within
    elif isinstance(rule, FormatStep):
        if rule.unavailable is not None and not mms_available:
            step = rule.unavailable
        elif state.message_format is rule.format:
            step = rule.already
        else:
            step = rule.switch
    else:
        step = rule
    new_state = _perform(state, step.effect, now)
    chosen = new_state.message_format if step.effect in _SWITCH_TO.values() else None
    transition = (
        None if step.effect is Effect.KEEP
        else Transition(state.status, new_state.status, now, chosen)
    )
    return Decision(state=new_state, outcome=step.outcome, transition=transition)


def replay(
    events: Iterable[tuple[Status, Status, datetime] | Transition],
    initial: SubscriptionState | None = None,
) -> SubscriptionState:
    """Fold an event log of ``(old, new, at)`` or ``(old, new, at, format)`` into the state
    it leads to (``format``: the format a format choice set, else None).

    Starts from ``initial`` (default: a fresh ``NONE`` state). Raises
    :class:`ReplayMismatch` when an event's ``old`` is not the current status, when
    a change is not one the machine can make, when a pending request reverts to
    a status other than the one it left, or when a format choice is not made by an
    active subscriber or chooses the format already had.
    """
    state = initial if initial is not None else SubscriptionState()
    for index, event in enumerate(events):
        old, new, at = event[0], event[1], event[2]
        chosen = event[3] if len(event) > 3 else None
        if old is not state.status:
            raise ReplayMismatch(f"event {index} starts from {old} but the state is {state.status}")
        if chosen is not None:
            if old is not Status.ACTIVE or new is not Status.ACTIVE:
                raise ReplayMismatch(f"event {index}: a format choice from {old} to {new}")
            if chosen is state.message_format:
                raise ReplayMismatch(f"event {index}: chooses {chosen}, the format it has")
            state = _perform(state, _SWITCH_TO[chosen], at)
            continue
        effect = _EFFECT_OF_CHANGE.get((old, new))
        if effect is None:
            raise ReplayMismatch(f"event {index}: {old} → {new} is not a possible change")
        state = _perform(state, effect, at)
        if state.status is not new:
            raise ReplayMismatch(
                f"event {index}: {old} → {new} but a pending request reverts to {state.status}"
            )
    return state
