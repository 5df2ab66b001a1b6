"""The pure subscription state machine and the help limit (gateway.subscriptions)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from gateway.states import MessageFormat
from gateway.subscriptions import help_allowed
from gateway.subscriptions.keywords import Command, CommandKind
from gateway.subscriptions.machine import (
    TRANSITIONS,
    Decision,
    InvalidState,
    InvalidTransition,
    Outcome,
    ReplayMismatch,
    Status,
    SubscriptionState,
    Transition,
    apply,
    pending_expired,
    replay,
)

K = CommandKind
WINDOW = timedelta(hours=24)
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
MICRO = timedelta(microseconds=1)

NONE = SubscriptionState()


def step(state: SubscriptionState, kind: CommandKind, now: datetime) -> Decision:
    return apply(state, Command(kind=kind), now, confirm_window=WINDOW)


def pending(since: datetime = T0, *, was_cancelled: bool = False) -> SubscriptionState:
    if was_cancelled:
        return SubscriptionState(
            status=Status.PENDING,
            pending_since=since,
            activated_at=since - timedelta(days=30),
            cancelled_at=since - timedelta(days=1),
        )
    return SubscriptionState(status=Status.PENDING, pending_since=since)


def active(at: datetime = T0) -> SubscriptionState:
    return SubscriptionState(status=Status.ACTIVE, activated_at=at)


def cancelled(at: datetime = T0) -> SubscriptionState:
    return SubscriptionState(
        status=Status.CANCELLED, activated_at=at - timedelta(days=30), cancelled_at=at
    )


# --- the happy path -------------------------------------------------------------------


def test_subscribe_then_confirm() -> None:
    first = step(NONE, K.SUBSCRIBE, T0)
    assert first.outcome is Outcome.CONFIRM_PROMPT
    assert first.state == SubscriptionState(status=Status.PENDING, pending_since=T0)
    assert first.transition == Transition(Status.NONE, Status.PENDING, T0)

    later = T0 + timedelta(minutes=3)
    second = step(first.state, K.CONFIRM, later)
    assert second.outcome is Outcome.WELCOME
    assert second.state == SubscriptionState(status=Status.ACTIVE, activated_at=later)
    assert second.transition == Transition(Status.PENDING, Status.ACTIVE, later)
    assert second.changed


def test_apply_accepts_a_bare_command_kind() -> None:
    assert apply(NONE, K.SUBSCRIBE, T0, confirm_window=WINDOW).outcome is Outcome.CONFIRM_PROMPT


def test_unsubscribe_while_active() -> None:
    for kind in (K.UNSUBSCRIBE, K.UNSUBSCRIBE_ALL):
        decision = step(active(), kind, T0 + timedelta(days=3))
        assert decision.outcome is Outcome.UNSUBSCRIBED
        assert decision.state.status is Status.CANCELLED
        assert decision.state.cancelled_at == T0 + timedelta(days=3)
        assert decision.state.activated_at == T0
        assert decision.transition == Transition(
            Status.ACTIVE, Status.CANCELLED, T0 + timedelta(days=3)
        )


def test_resubscribe_after_cancel_keeps_history() -> None:
    state = cancelled()
    prompt = step(state, K.SUBSCRIBE, T0 + timedelta(days=1))
    assert prompt.outcome is Outcome.CONFIRM_PROMPT
    assert prompt.transition == Transition(Status.CANCELLED, Status.PENDING, T0 + timedelta(days=1))
    welcome = step(prompt.state, K.CONFIRM, T0 + timedelta(days=1, hours=1))
    assert welcome.state.status is Status.ACTIVE
    assert welcome.state.activated_at == T0 + timedelta(days=1, hours=1)
    assert welcome.state.cancelled_at == T0  # most recent cancellation, kept


# --- no-change answers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "kind", "outcome"),
    [
        (active(), K.SUBSCRIBE, Outcome.ALREADY_SUBSCRIBED),
        (active(), K.CONFIRM, Outcome.ALREADY_SUBSCRIBED),
        (NONE, K.CONFIRM, Outcome.NOTHING_PENDING),
        (cancelled(), K.CONFIRM, Outcome.NOTHING_PENDING),
        (NONE, K.UNSUBSCRIBE, Outcome.NOT_SUBSCRIBED),
        (NONE, K.UNSUBSCRIBE_ALL, Outcome.NOT_SUBSCRIBED),
        (cancelled(), K.UNSUBSCRIBE, Outcome.NOT_SUBSCRIBED),
        (cancelled(), K.UNSUBSCRIBE_ALL, Outcome.NOT_SUBSCRIBED),
        (NONE, K.QUERY, Outcome.SUBSCRIPTION_LIST),
        (pending(), K.QUERY, Outcome.SUBSCRIPTION_LIST),
        (active(), K.QUERY, Outcome.SUBSCRIPTION_LIST),
        (cancelled(), K.QUERY, Outcome.SUBSCRIPTION_LIST),
        (NONE, K.HELP, Outcome.HELP),
        (pending(), K.HELP, Outcome.HELP),
        (active(), K.HELP, Outcome.HELP),
        (cancelled(), K.HELP, Outcome.HELP),
    ],
)
def test_answers_without_change(
    state: SubscriptionState, kind: CommandKind, outcome: Outcome
) -> None:
    decision = step(state, kind, T0 + timedelta(hours=1))
    assert decision.outcome is outcome
    assert decision.state == state
    assert decision.transition is None
    assert not decision.changed


def test_query_and_help_do_not_clear_an_expired_pending() -> None:
    late = T0 + timedelta(days=3)
    for kind in (K.QUERY, K.HELP):
        assert step(pending(), kind, late).state == pending()


# --- pending: window, restart, withdrawal ---------------------------------------------


def test_subscribe_while_pending_restarts_the_window() -> None:
    later = T0 + timedelta(hours=20)
    decision = step(pending(), K.SUBSCRIBE, later)
    assert decision.outcome is Outcome.CONFIRM_PROMPT
    assert decision.state == pending(later)
    assert decision.transition == Transition(Status.PENDING, Status.PENDING, later)
    # The restarted window counts from the second SD.
    assert step(decision.state, K.CONFIRM, later + WINDOW).outcome is Outcome.WELCOME


def test_confirm_exactly_at_window_end_is_accepted() -> None:
    """The window is inclusive: pending_since + window is still in time."""
    decision = step(pending(), K.CONFIRM, T0 + WINDOW)
    assert decision.outcome is Outcome.WELCOME
    assert decision.state.status is Status.ACTIVE


def test_confirm_one_microsecond_late_is_expired() -> None:
    decision = step(pending(), K.CONFIRM, T0 + WINDOW + MICRO)
    assert decision.outcome is Outcome.CONFIRM_EXPIRED
    assert decision.state == NONE
    assert decision.transition == Transition(Status.PENDING, Status.NONE, T0 + WINDOW + MICRO)


def test_confirm_immediately_and_with_clock_skew_is_in_time() -> None:
    assert step(pending(), K.CONFIRM, T0).outcome is Outcome.WELCOME
    assert step(pending(), K.CONFIRM, T0 - timedelta(seconds=5)).outcome is Outcome.WELCOME


def test_expired_confirm_reverts_a_former_subscriber_to_cancelled() -> None:
    state = pending(was_cancelled=True)
    decision = step(state, K.CONFIRM, T0 + timedelta(days=2))
    assert decision.outcome is Outcome.CONFIRM_EXPIRED
    assert decision.state == SubscriptionState(
        status=Status.CANCELLED, activated_at=state.activated_at, cancelled_at=state.cancelled_at
    )
    assert decision.transition == Transition(
        Status.PENDING, Status.CANCELLED, T0 + timedelta(days=2)
    )


@pytest.mark.parametrize("kind", [K.UNSUBSCRIBE, K.UNSUBSCRIBE_ALL])
def test_unsubscribe_while_pending_withdraws_the_request(kind: CommandKind) -> None:
    decision = step(pending(), kind, T0 + timedelta(hours=1))
    assert decision.outcome is Outcome.PENDING_CANCELLED
    assert decision.state == NONE
    again = step(pending(was_cancelled=True), kind, T0 + timedelta(hours=1))
    assert again.state.status is Status.CANCELLED


def test_unsubscribe_after_the_window_says_not_subscribed() -> None:
    decision = step(pending(), K.UNSUBSCRIBE, T0 + WINDOW + MICRO)
    assert decision.outcome is Outcome.NOT_SUBSCRIBED
    assert decision.state == NONE
    assert step(pending(), K.UNSUBSCRIBE, T0 + WINDOW).outcome is Outcome.PENDING_CANCELLED


def test_pending_expired() -> None:
    assert not pending_expired(pending(), T0 + WINDOW, confirm_window=WINDOW)
    assert pending_expired(pending(), T0 + WINDOW + MICRO, confirm_window=WINDOW)
    assert not pending_expired(active(), T0 + timedelta(days=90), confirm_window=WINDOW)


@pytest.mark.parametrize("window", [timedelta(0), timedelta(seconds=-1)])
def test_window_must_be_positive(window: timedelta) -> None:
    with pytest.raises(ValueError):
        apply(pending(), K.CONFIRM, T0, confirm_window=window)


# --- the table and the state invariants -----------------------------------------------


def test_table_covers_every_status_and_command() -> None:
    assert set(TRANSITIONS) == set(itertools.product(Status, CommandKind))


def test_pair_outside_the_table_is_an_error() -> None:
    with pytest.raises(InvalidTransition):
        apply(NONE, "subscribe", T0, confirm_window=WINDOW)  # type: ignore[arg-type]


def test_only_a_confirmation_activates() -> None:
    states = [NONE, pending(), pending(was_cancelled=True), active(), cancelled()]
    for state, kind in itertools.product(states, CommandKind):
        for now in (T0, T0 + WINDOW + MICRO):
            decision = step(state, kind, now)
            if decision.state.status is Status.ACTIVE and state.status is not Status.ACTIVE:
                assert kind is K.CONFIRM
                assert decision.outcome is Outcome.WELCOME


@pytest.mark.parametrize(
    "fields",
    [
        {"status": Status.PENDING},
        {"status": Status.NONE, "pending_since": T0},
        {"status": Status.NONE, "activated_at": T0},
        {"status": Status.ACTIVE},
        {"status": Status.ACTIVE, "activated_at": T0, "pending_since": T0},
        {"status": Status.CANCELLED, "activated_at": T0},
        {"status": Status.CANCELLED, "cancelled_at": T0},
        {"status": Status.PENDING, "pending_since": T0, "activated_at": T0},
    ],
)
def test_inconsistent_states_are_rejected(fields: dict[str, object]) -> None:
    with pytest.raises(InvalidState):
        SubscriptionState(**fields)  # type: ignore[arg-type]


# --- replay -------------------------------------------------------------------------------


def test_replay_of_a_full_history() -> None:
    t = [T0 + timedelta(hours=h) for h in range(8)]
    events = [
        (Status.NONE, Status.PENDING, t[0]),
        (Status.PENDING, Status.PENDING, t[1]),
        (Status.PENDING, Status.ACTIVE, t[2]),
        (Status.ACTIVE, Status.CANCELLED, t[3]),
        (Status.CANCELLED, Status.PENDING, t[4]),
        (Status.PENDING, Status.CANCELLED, t[5]),
        (Status.CANCELLED, Status.PENDING, t[6]),
    ]
    assert replay([]) == NONE
    assert replay(events) == SubscriptionState(
        status=Status.PENDING, pending_since=t[6], activated_at=t[2], cancelled_at=t[3]
    )


@pytest.mark.parametrize(
    "events",
    [
        [(Status.PENDING, Status.ACTIVE, T0)],  # old does not match NONE
        [(Status.NONE, Status.ACTIVE, T0)],  # skips the confirmation
        [(Status.NONE, Status.CANCELLED, T0)],
        [(Status.NONE, Status.PENDING, T0), (Status.PENDING, Status.CANCELLED, T0)],
        [
            (Status.NONE, Status.PENDING, T0),
            (Status.PENDING, Status.ACTIVE, T0),
            (Status.ACTIVE, Status.NONE, T0),
        ],
        [
            (Status.NONE, Status.PENDING, T0),
            (Status.PENDING, Status.ACTIVE, T0),
            (Status.ACTIVE, Status.ACTIVE, T0),
        ],
    ],
)
def test_replay_rejects_impossible_logs(events: list[tuple[Status, Status, datetime]]) -> None:
    with pytest.raises(ReplayMismatch):
        replay(events)


def test_replay_from_an_initial_state() -> None:
    assert replay([(Status.ACTIVE, Status.CANCELLED, T0)], active(T0 - MICRO)).status is (
        Status.CANCELLED
    )
    with pytest.raises(ReplayMismatch):
        replay([(Status.NONE, Status.PENDING, T0)], active())


# --- property: the stored state always equals the replayed log ---------------------------

# Biased towards SD, Y and TD so that numbers often get as far as ACTIVE, CANCELLED and back.
commands = st.sampled_from(
    [K.SUBSCRIBE, K.SUBSCRIBE, K.CONFIRM, K.CONFIRM, K.UNSUBSCRIBE, *CommandKind]
)
# Steps between MOs: mostly minutes; now and then none, exactly the window, or days.
# One clock is shared by all numbers, so long steps are rare or every request expires.
minutes = st.integers(0, 30 * 60).map(lambda seconds: timedelta(seconds=seconds))
rare_steps = st.sampled_from(
    [timedelta(0), WINDOW - MICRO, WINDOW, WINDOW + MICRO, timedelta(days=3)]
)
advances = st.one_of(rare_steps, *[minutes] * 9)
# Several numbers interleaved; few enough that each one sees many commands.
mo_streams = st.lists(st.tuples(st.integers(0, 7), commands, advances), min_size=30, max_size=150)


def reference(
    status: Status,
    ever_cancelled: bool,
    pending_since: datetime | None,
    kind: CommandKind,
    now: datetime,
    fmt: MessageFormat = MessageFormat.SMS,
    mms_available: bool = True,
) -> tuple[Status, Outcome, MessageFormat]:
    """The rules written out by hand, independently of the transition table."""
    in_time = pending_since is not None and now - pending_since <= WINDOW
    before_pending = Status.CANCELLED if ever_cancelled else Status.NONE
    if kind is K.SUBSCRIBE:
        if status is Status.ACTIVE:
            return status, Outcome.ALREADY_SUBSCRIBED, fmt
        return Status.PENDING, Outcome.CONFIRM_PROMPT, fmt
    if kind is K.CONFIRM:
        if status is Status.ACTIVE:
            return status, Outcome.ALREADY_SUBSCRIBED, fmt
        if status is Status.PENDING:
            if in_time:
                return Status.ACTIVE, Outcome.WELCOME, fmt
            return before_pending, Outcome.CONFIRM_EXPIRED, fmt
        return status, Outcome.NOTHING_PENDING, fmt
    if kind in (K.UNSUBSCRIBE, K.UNSUBSCRIBE_ALL):
        if status is Status.ACTIVE:
            return Status.CANCELLED, Outcome.UNSUBSCRIBED, fmt
        if status is Status.PENDING:
            if in_time:
                return before_pending, Outcome.PENDING_CANCELLED, fmt
            return before_pending, Outcome.NOT_SUBSCRIBED, fmt
        return status, Outcome.NOT_SUBSCRIBED, fmt
    if kind in (K.CHOOSE_MMS, K.CHOOSE_SMS):
        if status is Status.PENDING and in_time:
            return status, Outcome.FORMAT_CONFIRM_FIRST, fmt
        if status is not Status.ACTIVE:
            return status, Outcome.FORMAT_NOT_SUBSCRIBED, fmt
        if kind is K.CHOOSE_MMS:
            if not mms_available:
                return status, Outcome.MMS_UNAVAILABLE, fmt
            if fmt is MessageFormat.MMS:
                return status, Outcome.ALREADY_MMS, fmt
            return status, Outcome.FORMAT_MMS, MessageFormat.MMS
        if fmt is MessageFormat.SMS:
            return status, Outcome.ALREADY_SMS, fmt
        return status, Outcome.FORMAT_SMS, MessageFormat.SMS
    if kind is K.QUERY:
        return status, Outcome.SUBSCRIPTION_LIST, fmt
    return status, Outcome.HELP, fmt


# Numbers 0-5 can have MMS, 6 and 7 are on a carrier (or range) set up for SMS only.
SMS_ONLY_NUMBERS = {6, 7}


@settings(max_examples=200)
@given(mo_streams)
def test_state_always_equals_replay_of_its_log(
    stream: list[tuple[int, CommandKind, timedelta]],
) -> None:
    states: dict[int, SubscriptionState] = {}
    logs: dict[int, list[Transition]] = {}
    consent: dict[int, datetime] = {}
    ever_cancelled: set[int] = set()
    now = T0
    for number, kind, advance in stream:
        now += advance
        before = states.get(number, NONE)
        available = number not in SMS_ONLY_NUMBERS
        decision = apply(before, Command(kind=kind), now, confirm_window=WINDOW,
                         mms_available=available)
        assert (decision.state.status, decision.outcome, decision.state.message_format) == (
            reference(before.status, number in ever_cancelled, before.pending_since, kind,
                      now, before.message_format, available))
        event(f"{before.status.name} + {kind.name} -> {decision.outcome.name}")
        states[number] = decision.state
        if decision.transition is not None:
            assert decision.transition.old is before.status
            assert decision.transition.new is decision.state.status
            assert decision.transition.at == now
            changed_format = decision.state.message_format is not before.message_format
            assert (decision.transition.format is not None) == changed_format
            logs.setdefault(number, []).append(decision.transition)
        else:
            assert decision.state == before
        if decision.outcome is Outcome.WELCOME:
            consent[number] = now
        if decision.outcome is Outcome.UNSUBSCRIBED:
            ever_cancelled.add(number)
        # Becoming active happens only through a confirmation in time.
        if decision.state.status is Status.ACTIVE and before.status is not Status.ACTIVE:
            assert kind is K.CONFIRM
            assert before.pending_since is not None
            assert now - before.pending_since <= WINDOW
        # Only an active subscriber on a carrier and number that can have MMS gets it.
        if (decision.state.message_format is MessageFormat.MMS
                and before.message_format is not MessageFormat.MMS):
            assert kind is K.CHOOSE_MMS and before.status is Status.ACTIVE and available

    for number, state in states.items():
        assert replay(logs.get(number, [])) == state
        if state.status is Status.ACTIVE:
            assert consent[number] == state.activated_at


# --- the message format -------------------------------------------------------------------


def choose(state: SubscriptionState, kind: CommandKind, *, available: bool = True,
           now: datetime = T0) -> Decision:
    return apply(state, Command(kind=kind), now, confirm_window=WINDOW, mms_available=available)


def test_an_active_subscriber_switches_to_mms_and_back() -> None:
    to_mms = choose(active(), K.CHOOSE_MMS)
    assert to_mms.outcome is Outcome.FORMAT_MMS
    assert to_mms.state.message_format is MessageFormat.MMS
    assert to_mms.state.status is Status.ACTIVE
    assert to_mms.transition == Transition(Status.ACTIVE, Status.ACTIVE, T0, MessageFormat.MMS)
    again = choose(to_mms.state, K.CHOOSE_MMS)
    assert again.outcome is Outcome.ALREADY_MMS and again.transition is None
    back = choose(to_mms.state, K.CHOOSE_SMS, now=T0 + MICRO)
    assert back.outcome is Outcome.FORMAT_SMS
    assert back.state.message_format is MessageFormat.SMS
    assert back.transition == Transition(Status.ACTIVE, Status.ACTIVE, T0 + MICRO,
                                         MessageFormat.SMS)
    assert choose(back.state, K.CHOOSE_SMS).outcome is Outcome.ALREADY_SMS


def test_mms_where_only_sms_is_offered_is_explained_and_changes_nothing() -> None:
    refused = choose(active(), K.CHOOSE_MMS, available=False)
    assert refused.outcome is Outcome.MMS_UNAVAILABLE
    assert refused.transition is None and refused.state == active()
    # SMS can always be chosen, also where MMS cannot.
    has_mms = choose(active(), K.CHOOSE_MMS).state
    assert choose(has_mms, K.CHOOSE_MMS, available=False).outcome is Outcome.MMS_UNAVAILABLE
    assert choose(has_mms, K.CHOOSE_SMS, available=False).outcome is Outcome.FORMAT_SMS


@pytest.mark.parametrize("kind", [K.CHOOSE_MMS, K.CHOOSE_SMS])
def test_only_an_active_subscriber_chooses_a_format(kind: CommandKind) -> None:
    assert choose(NONE, kind).outcome is Outcome.FORMAT_NOT_SUBSCRIBED
    assert choose(cancelled(), kind).outcome is Outcome.FORMAT_NOT_SUBSCRIBED
    assert choose(pending(), kind).outcome is Outcome.FORMAT_CONFIRM_FIRST
    late = choose(pending(), kind, now=T0 + WINDOW + MICRO)
    assert late.outcome is Outcome.FORMAT_NOT_SUBSCRIBED
    for state in (NONE, cancelled(), pending()):
        assert choose(state, kind).transition is None
    assert late.state == pending()  # like QUERY, a format choice never clears a request


def test_the_format_survives_a_cancellation_and_a_new_subscription() -> None:
    mms = choose(active(), K.CHOOSE_MMS).state
    gone = step(mms, K.UNSUBSCRIBE, T0 + MICRO).state
    asked = step(gone, K.SUBSCRIBE, T0 + 2 * MICRO).state
    back = step(asked, K.CONFIRM, T0 + 3 * MICRO).state
    assert back.status is Status.ACTIVE and back.message_format is MessageFormat.MMS


def test_mms_needs_an_activation() -> None:
    with pytest.raises(InvalidState):
        SubscriptionState(message_format=MessageFormat.MMS)
    with pytest.raises(InvalidState):
        SubscriptionState(status=Status.PENDING, pending_since=T0,
                          message_format=MessageFormat.MMS)


@pytest.mark.parametrize(
    "events",
    [
        [(Status.NONE, Status.NONE, T0, MessageFormat.MMS)],  # not active
        [(Status.NONE, Status.PENDING, T0), (Status.PENDING, Status.PENDING, T0,
                                             MessageFormat.MMS)],
        [(Status.NONE, Status.PENDING, T0), (Status.PENDING, Status.ACTIVE, T0),
         (Status.ACTIVE, Status.ACTIVE, T0, MessageFormat.SMS)],  # has SMS already
        [(Status.NONE, Status.PENDING, T0), (Status.PENDING, Status.ACTIVE, T0),
         (Status.ACTIVE, Status.CANCELLED, T0, MessageFormat.MMS)],
    ],
)
def test_replay_rejects_impossible_format_choices(events: list[tuple]) -> None:
    with pytest.raises(ReplayMismatch):
        replay(events)


# --- help limit ---------------------------------------------------------------------------


def test_help_allowed() -> None:
    period = timedelta(hours=1)
    assert help_allowed(None, T0, period)
    assert not help_allowed(T0, T0, period)
    assert not help_allowed(T0, T0 + period - MICRO, period)
    assert help_allowed(T0, T0 + period, period)  # inclusive at the period's end
    assert help_allowed(T0, T0 - timedelta(minutes=5), period)  # clock went back
    assert help_allowed(T0, T0, timedelta(0))
    with pytest.raises(ValueError):
        help_allowed(None, T0, timedelta(seconds=-1))
