"""The subscription state machine: pure, one subscriber × one service at a time.

``apply(state, command, now, confirm_window=…)`` looks up ``(state.status,
command.kind)`` in :data:`TRANSITIONS` and returns a :class:`Decision`: the new
state, the :class:`Outcome` naming which reply to send, and the
:class:`Transition` to append to the event log (``None`` when nothing changed).
Time is an input; nothing here reads a clock, a database or a template.

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
  (or when a caller sweeps with :func:`pending_expired`); ``QUERY`` and ``HELP``
  never change state.

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

from gateway.states import SubscriptionStatus
from gateway.subscriptions.keywords import Command, CommandKind

__all__ = [
    "DEFAULT_CONFIRM_WINDOW",
    "TRANSITIONS",
    "Decision",
    "Effect",
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
    HELP = "help"


class Effect(enum.Enum):
    """What a step does to the state."""

    KEEP = "keep"
    START_PENDING = "start_pending"  # status PENDING, pending_since = now (also restarts)
    ACTIVATE = "activate"  # PENDING → ACTIVE, activated_at = now
    CANCEL = "cancel"  # ACTIVE → CANCELLED, cancelled_at = now
    REVERT = "revert"  # PENDING → the status before it


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionState:
    """One subscriber's state for one service.

    Invariants (checked on construction, :class:`InvalidState` otherwise):
    ``pending_since`` is set exactly when the status is ``PENDING``; ``NONE`` has
    no timestamps; ``ACTIVE`` has ``activated_at``; ``CANCELLED`` has both
    ``activated_at`` and ``cancelled_at``; ``cancelled_at`` implies
    ``activated_at``; a ``PENDING`` state was either never active or cancelled.
    """

    status: Status = Status.NONE
    pending_since: datetime | None = None
    activated_at: datetime | None = None
    cancelled_at: datetime | None = None

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
        return None

    @property
    def status_before_pending(self) -> Status:
        """The status a pending request reverts to: ``CANCELLED`` if ever cancelled."""
        return Status.NONE if self.cancelled_at is None else Status.CANCELLED


class Transition(NamedTuple):
    """One event in a subscription's log: ``old`` → ``new`` at ``at``."""

    old: Status
    new: Status
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    effect: Effect
    outcome: Outcome


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowedStep:
    """A step that depends on whether the pending request is still in its window."""

    within: Step
    expired: Step


def _step(effect: Effect, outcome: Outcome) -> Step:
    return Step(effect=effect, outcome=outcome)


_S, _C, _E, _O = Status, CommandKind, Effect, Outcome

TRANSITIONS: Mapping[tuple[Status, CommandKind], Step | WindowedStep] = MappingProxyType(
    {
        # Never subscribed.
        (_S.NONE, _C.SUBSCRIBE): _step(_E.START_PENDING, _O.CONFIRM_PROMPT),
        (_S.NONE, _C.CONFIRM): _step(_E.KEEP, _O.NOTHING_PENDING),
        (_S.NONE, _C.UNSUBSCRIBE): _step(_E.KEEP, _O.NOT_SUBSCRIBED),
        (_S.NONE, _C.UNSUBSCRIBE_ALL): _step(_E.KEEP, _O.NOT_SUBSCRIBED),
        (_S.NONE, _C.QUERY): _step(_E.KEEP, _O.SUBSCRIPTION_LIST),
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
        (_S.PENDING, _C.HELP): _step(_E.KEEP, _O.HELP),
        # Subscribed and confirmed.
        (_S.ACTIVE, _C.SUBSCRIBE): _step(_E.KEEP, _O.ALREADY_SUBSCRIBED),
        (_S.ACTIVE, _C.CONFIRM): _step(_E.KEEP, _O.ALREADY_SUBSCRIBED),
        (_S.ACTIVE, _C.UNSUBSCRIBE): _step(_E.CANCEL, _O.UNSUBSCRIBED),
        (_S.ACTIVE, _C.UNSUBSCRIBE_ALL): _step(_E.CANCEL, _O.UNSUBSCRIBED),
        (_S.ACTIVE, _C.QUERY): _step(_E.KEEP, _O.SUBSCRIPTION_LIST),
        (_S.ACTIVE, _C.HELP): _step(_E.KEEP, _O.HELP),
        # Subscribed once, then cancelled.
        (_S.CANCELLED, _C.SUBSCRIBE): _step(_E.START_PENDING, _O.CONFIRM_PROMPT),
        (_S.CANCELLED, _C.CONFIRM): _step(_E.KEEP, _O.NOTHING_PENDING),
        (_S.CANCELLED, _C.UNSUBSCRIBE): _step(_E.KEEP, _O.NOT_SUBSCRIBED),
        (_S.CANCELLED, _C.UNSUBSCRIBE_ALL): _step(_E.KEEP, _O.NOT_SUBSCRIBED),
        (_S.CANCELLED, _C.QUERY): _step(_E.KEEP, _O.SUBSCRIPTION_LIST),
        (_S.CANCELLED, _C.HELP): _step(_E.KEEP, _O.HELP),
    }
)
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
    raise AssertionError(f"unhandled effect {effect}")


def apply(
    state: SubscriptionState,
    command: Command | CommandKind,
    now: datetime,
    *,
    confirm_window: timedelta,
) -> Decision:
    """Decide what ``command`` received at ``now`` does to ``state``.

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
    else:
        step = rule
    new_state = _perform(state, step.effect, now)
    transition = (
        None if step.effect is Effect.KEEP else Transition(state.status, new_state.status, now)
    )
    return Decision(state=new_state, outcome=step.outcome, transition=transition)


def replay(
    events: Iterable[tuple[Status, Status, datetime]],
    initial: SubscriptionState | None = None,
) -> SubscriptionState:
    """Fold an event log of ``(old, new, at)`` into the state it leads to.

    Starts from ``initial`` (default: a fresh ``NONE`` state). Raises
    :class:`ReplayMismatch` when an event's ``old`` is not the current status, when
    a change is not one the machine can make, or when a pending request reverts to
    a status other than the one it left.
    """
    state = initial if initial is not None else SubscriptionState()
    for index, (old, new, at) in enumerate(events):
        if old is not state.status:
            raise ReplayMismatch(f"event {index} starts from {old} but the state is {state.status}")
        effect = _EFFECT_OF_CHANGE.get((old, new))
        if effect is None:
            raise ReplayMismatch(f"event {index}: {old} → {new} is not a possible change")
        state = _perform(state, effect, at)
        if state.status is not new:
            raise ReplayMismatch(
                f"event {index}: {old} → {new} but a pending request reverts to {state.status}"
            )
    return state
