"""The console's summary tables, counted from real MOs and deliveries (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.console.queries import dispatch_figures
from gateway.console.rollup import RollupSettings, classify_transition, refresh
from gateway.db.console_models import DailySubscriptionStats, DispatchStats, SubscriberCount
from gateway.db.dispatch_models import Delivery, DeliveryPart, Dispatch
from gateway.db.models import InboundMessage, OutboundMessage, Subscriber, SubscriptionEvent
from gateway.dispatch.store import create_dispatch, materialise, recovery_counts
from tests.service.dispatch_fixtures import seed_edition, seed_subscribers
from tests.service.test_subscription_engine import Engine_

SHANGHAI = ZoneInfo("Asia/Shanghai")
CARRIERS = ("china_mobile", "china_unicom", "china_telecom")
ROLLUP = RollupSettings(zone=SHANGHAI, carriers=CARRIERS)
FIGURES = ("requests", "confirmations", "unsubscriptions", "lapsed")

MOBILE_A = "13800000001"
MOBILE_E = "13900000005"
UNICOM_B = "13000000002"
TELECOM_C = "13300000003"
TELECOM_D = "18900000004"
CARRIER_OF = {MOBILE_A: "china_mobile", MOBILE_E: "china_mobile", UNICOM_B: "china_unicom",
              TELECOM_C: "china_telecom", TELECOM_D: "china_telecom"}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# Shanghai is UTC+8: local midnight is 16:00 UTC the day before.
DIALOGUE = [
    (utc(2026, 11, 29, 2, 0), TELECOM_C, "SD"),       # local 11-29 10:00
    (utc(2026, 11, 29, 10, 0), UNICOM_B, "SD"),       # local 11-29 18:00
    (utc(2026, 11, 29, 12, 0), UNICOM_B, "SD"),       # restarts the window: not a request
    (utc(2026, 11, 29, 15, 59), MOBILE_A, "SD"),      # local 11-29 23:59
    (utc(2026, 11, 29, 15, 59, 59), UNICOM_B, "Y"),   # local 11-29 23:59:59
    (utc(2026, 11, 29, 16, 0), MOBILE_A, "Y"),        # local 11-30 00:00
    (utc(2026, 11, 30, 1, 0), MOBILE_E, "SD"),
    (utc(2026, 11, 30, 1, 5), MOBILE_E, "Y"),
    (utc(2026, 11, 30, 2, 0), MOBILE_E, "TD"),
    (utc(2026, 11, 30, 3, 0), TELECOM_C, "Y"),        # 25 h after SD: the window expired
    (utc(2026, 11, 30, 3, 0), MOBILE_E, "SD"),        # subscribes again
    (utc(2026, 11, 30, 5, 0), MOBILE_A, "0000"),      # a query changes nothing
    (utc(2026, 11, 30, 15, 59), TELECOM_D, "SD"),     # local 11-30 23:59
    (utc(2026, 11, 30, 16, 0), UNICOM_B, "TD"),       # local 12-01 00:00
    (utc(2026, 11, 30, 16, 1), TELECOM_D, "TD"),      # withdraws the pending request
]

EXPECTED_DAYS = {
    ("2026-11-29", "china_mobile"): (1, 0, 0, 0),
    ("2026-11-29", "china_unicom"): (1, 1, 0, 0),
    ("2026-11-29", "china_telecom"): (1, 0, 0, 0),
    ("2026-11-30", "china_mobile"): (2, 2, 1, 0),
    ("2026-11-30", "china_telecom"): (1, 0, 0, 1),
    ("2026-12-01", "china_unicom"): (0, 0, 1, 0),
    ("2026-12-01", "china_telecom"): (0, 0, 0, 1),
}
EXPECTED_SUBSCRIBERS = {
    ("china_mobile", "active"): 1,
    ("china_mobile", "pending"): 1,
    ("china_unicom", "cancelled"): 1,
    ("china_telecom", "none"): 2,
}


def send(gw: Engine_, when: datetime, number: str, text: str) -> str:
    gw.now = when
    return gw.mo(text, source=number, carrier=CARRIER_OF[number], advance=timedelta(0)).outcome


def run_refresh(sessions: sessionmaker[Session], now: datetime) -> None:
    with sessions.begin() as session:
        refresh(session, now, ROLLUP)


def daily_rows(sessions: sessionmaker[Session]) -> dict[tuple[str, str], tuple[int, ...]]:
    with sessions() as session:
        return {(row.day, row.carrier): tuple(getattr(row, f) for f in FIGURES)
                for row in session.scalars(select(DailySubscriptionStats))}


def nonzero(rows: dict[tuple[str, str], tuple[int, ...]]) -> dict[tuple[str, str], tuple[int, ...]]:
    return {key: value for key, value in rows.items() if any(value)}


def subscriber_counts(sessions: sessionmaker[Session]) -> dict[tuple[str, str], int]:
    with sessions() as session:
        return {(row.carrier, row.status): row.count
                for row in session.scalars(select(SubscriberCount))}


def all_rows(sessions: sessionmaker[Session]) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """Every stored summary row, computed_at included."""
    with sessions() as session:
        days = sorted((r.day, r.carrier, r.requests, r.confirmations, r.unsubscriptions,
                       r.lapsed, as_utc(r.computed_at))
                      for r in session.scalars(select(DailySubscriptionStats)))
        counts = sorted((r.carrier, r.status, r.count, as_utc(r.computed_at))
                        for r in session.scalars(select(SubscriberCount)))
        dispatches = sorted((r.dispatch_id, r.total, r.pending, r.submitted, r.delivered,
                             r.failed, r.expired, r.other, r.uncertain, r.reconciled, r.resent,
                             r.skipped, r.final, as_utc(r.computed_at))
                            for r in session.scalars(select(DispatchStats)))
    return days, counts, dispatches


def as_utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def add_event(sessions: sessionmaker[Session], number: str, old: str, new: str,
              at: datetime) -> None:
    """An event written straight into the log (bypassing the engine), to see who reads it."""
    with sessions.begin() as session:
        subscriber = session.scalars(select(Subscriber).where(Subscriber.msisdn == number)).one()
        session.add(SubscriptionEvent(
            subscriber_id=subscriber.id, msisdn=number, carrier=CARRIER_OF[number],
            short_code=subscriber.short_code, extension="", mo_text="SD", old_status=old,
            new_status=new, outcome="confirm_prompt", at=at))


@pytest.fixture
def gw(engine: Engine) -> Engine_:
    return Engine_(engine)


# -- subscribers and daily figures ------------------------------------------------------------

def test_dialogue_across_local_midnights_is_counted_per_day_and_carrier(gw: Engine_) -> None:
    outcomes = [send(gw, when, number, text) for when, number, text in DIALOGUE]
    assert outcomes == [
        "confirm_prompt", "confirm_prompt", "confirm_prompt", "confirm_prompt", "welcome",
        "welcome", "confirm_prompt", "welcome", "unsubscribed", "confirm_expired",
        "confirm_prompt", "subscription_list", "confirm_prompt", "unsubscribed",
        "pending_cancelled"]

    now = utc(2026, 12, 1, 4, 0)  # local 12-01 12:00
    run_refresh(gw.sessions, now)

    assert subscriber_counts(gw.sessions) == EXPECTED_SUBSCRIBERS
    rows = daily_rows(gw.sessions)
    assert nonzero(rows) == EXPECTED_DAYS
    # Every day of the window has a row per carrier, zeros included.
    assert len(rows) == ROLLUP.days * len(CARRIERS)
    days = sorted({day for day, _ in rows})
    assert days[0] == "2026-09-03" and days[-1] == "2026-12-01"


def test_a_day_counted_after_it_settled_is_final(gw: Engine_) -> None:
    send(gw, utc(2026, 11, 29, 10, 0), UNICOM_B, "SD")
    end_of_day = utc(2026, 11, 29, 16, 0)  # local 11-30 00:00
    run_refresh(gw.sessions, end_of_day + ROLLUP.settle)
    assert nonzero(daily_rows(gw.sessions)) == {("2026-11-29", "china_unicom"): (1, 0, 0, 0)}

    # An event of that day that was never read: the settled day is not read again.
    add_event(gw.sessions, UNICOM_B, "none", "pending", utc(2026, 11, 29, 11, 0))
    # Today (local 11-30) is recounted by every refresh.
    send(gw, utc(2026, 11, 29, 17, 0), UNICOM_B, "Y")
    run_refresh(gw.sessions, utc(2026, 11, 29, 18, 0))
    assert nonzero(daily_rows(gw.sessions)) == {
        ("2026-11-29", "china_unicom"): (1, 0, 0, 0),
        ("2026-11-30", "china_unicom"): (0, 1, 0, 0),
    }
    send(gw, utc(2026, 11, 29, 19, 0), UNICOM_B, "TD")
    run_refresh(gw.sessions, utc(2026, 11, 29, 20, 0))
    assert nonzero(daily_rows(gw.sessions)) == {
        ("2026-11-29", "china_unicom"): (1, 0, 0, 0),
        ("2026-11-30", "china_unicom"): (0, 1, 1, 0),
    }


def test_a_day_counted_before_it_settled_is_recounted(gw: Engine_) -> None:
    send(gw, utc(2026, 11, 29, 10, 0), UNICOM_B, "SD")
    end_of_day = utc(2026, 11, 29, 16, 0)
    run_refresh(gw.sessions, end_of_day + ROLLUP.settle - timedelta(seconds=1))
    assert nonzero(daily_rows(gw.sessions)) == {("2026-11-29", "china_unicom"): (1, 0, 0, 0)}

    add_event(gw.sessions, UNICOM_B, "none", "pending", utc(2026, 11, 29, 15, 59, 59))
    run_refresh(gw.sessions, end_of_day + ROLLUP.settle)
    assert nonzero(daily_rows(gw.sessions)) == {("2026-11-29", "china_unicom"): (2, 0, 0, 0)}

    add_event(gw.sessions, UNICOM_B, "none", "pending", utc(2026, 11, 29, 15, 0))
    run_refresh(gw.sessions, end_of_day + timedelta(hours=1))
    assert nonzero(daily_rows(gw.sessions)) == {("2026-11-29", "china_unicom"): (2, 0, 0, 0)}


def test_refresh_is_idempotent(gw: Engine_) -> None:
    for when, number, text in DIALOGUE:
        send(gw, when, number, text)
    now = utc(2026, 12, 1, 4, 0)
    run_refresh(gw.sessions, now)
    first = all_rows(gw.sessions)
    run_refresh(gw.sessions, now)
    assert all_rows(gw.sessions) == first

    # Later, with nothing new: the same figures (only today's rows are counted again).
    run_refresh(gw.sessions, now + timedelta(hours=2))
    assert nonzero(daily_rows(gw.sessions)) == EXPECTED_DAYS
    assert subscriber_counts(gw.sessions) == EXPECTED_SUBSCRIBERS


_NUMBERS = ("13800000011", "13000000012", "13300000013", "13900000014")
_TEXTS = ("SD", "Y", "TD", "是", "退订", "0000", "hi")
_BASE = utc(2026, 11, 29, 0, 0)


def _wipe(session: Session) -> None:
    for table in (DailySubscriptionStats, SubscriberCount, SubscriptionEvent, OutboundMessage,
                  Subscriber, InboundMessage):
        session.execute(delete(table))


def test_random_dialogues_roll_up_to_the_classified_event_log(engine: Engine) -> None:
    """Whatever the MOs and whenever the refreshes, the daily rows hold exactly the
    classified events of each local day, and the counts exactly the subscribers' statuses."""

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        steps=st.lists(st.tuples(st.integers(0, len(_NUMBERS) - 1),
                                 st.sampled_from(CARRIERS), st.sampled_from(_TEXTS),
                                 st.integers(0, 30 * 3600), st.booleans()),
                       min_size=1, max_size=14),
        tail=st.integers(0, 3 * 24 * 3600),
    )
    def check(steps: list[tuple[int, str, str, int, bool]], tail: int) -> None:
        gw = Engine_(engine)
        with gw.sessions.begin() as session:
            _wipe(session)
        gw.now = _BASE
        for index, carrier, text, seconds, refresh_now in steps:
            gw.mo(text, source=_NUMBERS[index], carrier=carrier,
                  advance=timedelta(seconds=seconds))
            if refresh_now:
                run_refresh(gw.sessions, gw.now)
        run_refresh(gw.sessions, gw.now + timedelta(seconds=tail))

        expected: Counter[tuple[str, str, str]] = Counter()
        with gw.sessions() as session:
            for event in session.scalars(select(SubscriptionEvent)):
                figure = classify_transition(event.old_status, event.new_status)
                if figure is not None:
                    day = as_utc(event.at).astimezone(SHANGHAI).date().isoformat()
                    expected[(day, event.carrier, figure)] += 1
            statuses = Counter((s.carrier, s.status) for s in session.scalars(select(Subscriber)))
        stored: Counter[tuple[str, str, str]] = Counter()
        for (day, carrier), values in daily_rows(gw.sessions).items():
            for figure, value in zip(FIGURES, values, strict=True):
                if value:
                    stored[(day, carrier, figure)] += value
        assert stored == expected
        totals = {f: sum(n for (_, _, g), n in stored.items() if g == f) for f in FIGURES}
        assert totals == {f: sum(n for (_, _, g), n in expected.items() if g == f)
                          for f in FIGURES}
        assert subscriber_counts(gw.sessions) == dict(statuses)

    check()


# -- deliveries per dispatch ------------------------------------------------------------------

_STATUSES = {
    "pending": ["pending", "claimed", "sending", "uncertain"],
    "submitted": ["submitted", "submitted"],
    "delivered": ["delivered"] * 4,
    "failed": ["undeliverable", "rejected", "failed"],
    "expired": ["expired"],
    "other": ["cancelled", "skipped", "unknown"],
}
_ORDER = list(itertools.chain(*_STATUSES.values()))
#: Deliveries (by their index in ``_ORDER``) that were ever uncertain, and how each was
#: resolved: the uncertain one not yet; the skipped one skipped; a submitted and a delivered
#: one reconciled; the pending one and a failed one resent.
_RECOVERY = {3: None, 15: "skipped", 4: "reconciled", 6: "reconciled", 0: "resent",
             12: "resent"}
_FIGURES = ("pending", "submitted", "delivered", "failed", "expired", "other", "total",
            "uncertain", "reconciled", "resent", "skipped", "final")


def test_the_status_table_matches_the_outcome_groups() -> None:
    from gateway.console.queries import DELIVERY_GROUPS
    from gateway.dispatch.store import OPEN_STATUSES

    # ``dispatch_stats`` keeps the expired ones apart from the rest of the failed group.
    columns = {**DELIVERY_GROUPS, "expired": ("expired",),
               "failed": tuple(s for s in DELIVERY_GROUPS["failed"] if s != "expired")}
    assert {group: sorted(set(statuses)) for group, statuses in _STATUSES.items()} == {
        group: sorted(statuses) for group, statuses in columns.items()}
    # Every open status is "pending": a dispatch with any of them is not final.
    assert set(DELIVERY_GROUPS["pending"]) == set(OPEN_STATUSES)
    assert [_ORDER[i] for i in sorted(_RECOVERY)] == [
        "pending", "uncertain", "submitted", "delivered", "failed", "skipped"]


def _dispatch(sessions: sessionmaker[Session]) -> tuple[int, list[int]]:
    now = utc(2026, 11, 29, 0, 0)
    with sessions.begin() as session:
        edition_id = seed_edition(session)
        seed_subscribers(session, len(_ORDER))
        dispatch_id = create_dispatch(session, edition_id=edition_id, carrier="china_mobile",
                                      cutoff=now, deadline=now + timedelta(hours=6), now=now)
        materialise(session, dispatch_id)
        ids = list(session.scalars(select(Delivery.id).where(Delivery.dispatch_id == dispatch_id)
                                   .order_by(Delivery.id)))
        for index, (delivery_id, status) in enumerate(zip(ids, _ORDER, strict=True)):
            values: dict[str, object] = {"status": status}
            if index in _RECOVERY:
                values.update(uncertain_at=now.timestamp() + index, recovery=_RECOVERY[index])
            session.execute(update(Delivery).where(Delivery.id == delivery_id).values(**values))
    return dispatch_id, ids


def _stats(sessions: sessionmaker[Session], dispatch_id: int) -> dict[str, object]:
    with sessions() as session:
        row = session.get(DispatchStats, dispatch_id)
        assert row is not None
        return {name: getattr(row, name) for name in _FIGURES}


def _figures(**figures: object) -> dict[str, object]:
    return dict(zip(_FIGURES, (figures[name] for name in _FIGURES), strict=True))


def _set_status(sessions: sessionmaker[Session], model: type, ids: list[int], status: str,
                **values: object) -> None:
    with sessions.begin() as session:
        session.execute(update(model).where(model.id.in_(ids)).values(status=status, **values))


def test_dispatch_figures_until_every_delivery_is_final(engine: Engine) -> None:
    sessions = Engine_(engine).sessions
    dispatch_id, ids = _dispatch(sessions)
    now = utc(2026, 11, 29, 1, 0)
    recovery = {"uncertain": 6, "reconciled": 2, "resent": 2, "skipped": 1}

    run_refresh(sessions, now)
    assert _stats(sessions, dispatch_id) == _figures(
        pending=4, submitted=2, delivered=4, failed=3, expired=1, other=3, total=17,
        **recovery, final=False)
    with sessions() as session:
        assert recovery_counts(session, dispatch_id) == recovery  # as `dispatch status` says

    # Done, but two still wait for their receipts and one for evidence: not final.
    _set_status(sessions, Dispatch, [dispatch_id], "done")
    _set_status(sessions, Delivery, ids[:3], "delivered")
    run_refresh(sessions, now + timedelta(minutes=1))
    assert _stats(sessions, dispatch_id) == _figures(
        pending=1, submitted=2, delivered=7, failed=3, expired=1, other=3, total=17,
        **recovery, final=False)

    # Every receipt came, but the uncertain one is still open: not final.
    _set_status(sessions, Delivery, ids[4:6], "delivered")
    run_refresh(sessions, now + timedelta(minutes=2))
    assert _stats(sessions, dispatch_id) == _figures(
        pending=1, submitted=0, delivered=9, failed=3, expired=1, other=3, total=17,
        **recovery, final=False)

    # Every delivery ended (the uncertain one reconciled and delivered, two expired), but the
    # dispatch is not done (paused): not final either.
    _set_status(sessions, Dispatch, [dispatch_id], "paused")
    _set_status(sessions, Delivery, ids[3:4], "delivered", recovery="reconciled")
    _set_status(sessions, Delivery, ids[4:6], "expired")
    recovery = {**recovery, "reconciled": 3}
    run_refresh(sessions, now + timedelta(minutes=3))
    assert _stats(sessions, dispatch_id) == _figures(
        pending=0, submitted=0, delivered=8, failed=3, expired=3, other=3, total=17,
        **recovery, final=False)

    # An unknown status counts as other.
    _set_status(sessions, Delivery, ids[-1:], "mystery")
    _set_status(sessions, Dispatch, [dispatch_id], "done")
    run_refresh(sessions, now + timedelta(minutes=4))
    final = _figures(pending=0, submitted=0, delivered=8, failed=3, expired=3, other=3,
                     total=17, **recovery, final=True)
    assert _stats(sessions, dispatch_id) == final

    # Final: never counted again.
    _set_status(sessions, Delivery, ids, "delivered")
    run_refresh(sessions, now + timedelta(minutes=5))
    assert _stats(sessions, dispatch_id) == final
    with sessions() as session:
        computed = session.get(DispatchStats, dispatch_id).computed_at
    assert as_utc(computed) == now + timedelta(minutes=4)


def test_recovery_figures_are_read_while_a_delivery_may_still_change_them(
        engine: Engine) -> None:
    """Becoming uncertain, or being resolved, happens only to open deliveries, and none opens
    again once none is: so after a refresh found a done dispatch with nothing open, its
    recovery figures are kept as they were counted, while its outcomes are still counted
    (receipts keep coming)."""
    sessions = Engine_(engine).sessions
    dispatch_id, ids = _dispatch(sessions)
    now = utc(2026, 11, 29, 1, 0)
    _set_status(sessions, Dispatch, [dispatch_id], "done")
    _set_status(sessions, Delivery, ids[:4], "submitted")
    _set_status(sessions, Delivery, ids[3:4], "submitted", recovery="reconciled")
    counted = {"uncertain": 6, "reconciled": 3, "resent": 2, "skipped": 1}
    run_refresh(sessions, now)  # nothing open: read once more, as the stored row was not
    stats = _stats(sessions, dispatch_id)
    assert (stats["pending"], stats["submitted"], stats["final"]) == (0, 6, False)
    assert {name: stats[name] for name in counted} == counted

    # What cannot happen to a done dispatch is not seen: the stored figures are kept...
    with sessions.begin() as session:
        session.execute(update(Delivery).where(Delivery.id.in_(ids[7:9])).values(
            uncertain_at=now.timestamp(), recovery="resent"))
    _set_status(sessions, Delivery, ids[:2], "delivered")
    run_refresh(sessions, now + timedelta(minutes=1))
    stats = _stats(sessions, dispatch_id)
    assert (stats["submitted"], stats["delivered"]) == (4, 6)
    assert {name: stats[name] for name in counted} == counted

    # ...unless a delivery is open again (or the dispatch is not done): then read again.
    _set_status(sessions, Delivery, ids[:1], "uncertain")
    run_refresh(sessions, now + timedelta(minutes=2))
    stats = _stats(sessions, dispatch_id)
    assert stats["pending"] == 1
    assert {name: stats[name] for name in counted} == {**counted, "uncertain": 8, "resent": 4}
    _set_status(sessions, Delivery, ids[:1], "delivered")
    run_refresh(sessions, now + timedelta(minutes=3))
    with sessions.begin() as session:
        session.execute(update(Delivery).where(Delivery.id == ids[9]).values(
            uncertain_at=now.timestamp(), recovery="skipped"))
    _set_status(sessions, Dispatch, [dispatch_id], "paused")
    run_refresh(sessions, now + timedelta(minutes=4))
    stats = _stats(sessions, dispatch_id)
    assert {name: stats[name] for name in counted} == {
        **counted, "uncertain": 9, "resent": 4, "skipped": 2}


def test_a_dispatch_without_deliveries_is_counted_as_empty(engine: Engine) -> None:
    sessions = Engine_(engine).sessions
    now = utc(2026, 11, 29, 0, 0)
    with sessions.begin() as session:
        edition_id = seed_edition(session)
        dispatch_id = create_dispatch(session, edition_id=edition_id, carrier="china_unicom",
                                      cutoff=now, deadline=now + timedelta(hours=6), now=now)
    run_refresh(sessions, now)
    assert _stats(sessions, dispatch_id) == _figures(
        pending=0, submitted=0, delivered=0, failed=0, expired=0, other=0, total=0,
        uncertain=0, reconciled=0, resent=0, skipped=0, final=False)
    _set_status(sessions, Dispatch, [dispatch_id], "done")
    run_refresh(sessions, now + timedelta(minutes=1))
    assert _stats(sessions, dispatch_id)["final"] is True


# -- the MMS edition: subscribers per format, notifications per dispatch -----------------------


def test_active_subscribers_are_counted_per_format(gw: Engine_) -> None:
    for number in ("13800000001", "13800000002", "13800000003"):
        gw.mo("SD", source=number)
        gw.mo("Y", source=number)
    gw.mo("CX", source="13800000001")
    gw.mo("彩信", source="13800000002")
    gw.mo("TD", source="13800000002")  # the choice stays with a cancelled subscriber
    with gw.sessions.begin() as session:
        refresh(session, gw.now, ROLLUP)
    with gw.sessions() as session:
        mms = {(r.carrier, r.status): (r.count, r.mms)
               for r in session.scalars(select(SubscriberCount))}
    assert mms == {("china_mobile", "active"): (2, 1), ("china_mobile", "cancelled"): (1, 1)}


def test_mms_figures_per_dispatch_until_the_last_notification_expired(engine: Engine) -> None:
    from gateway.db.mms_models import MmsDispatchStats, MmsNotification

    sessions = Engine_(engine).sessions
    now = utc(2026, 11, 29, 0, 0)
    with sessions.begin() as session:
        edition_id = seed_edition(session)
        seed_subscribers(session, 3)
        seed_subscribers(session, 4, start=100, message_format="mms")
        dispatch_id = create_dispatch(session, edition_id=edition_id, carrier="china_mobile",
                                      cutoff=now, deadline=now + timedelta(hours=6), now=now)
        materialise(session, dispatch_id)
        mms_ids = list(session.scalars(select(Delivery.id).where(
            Delivery.message_format == "mms").order_by(Delivery.id)))
        for index, delivery_id in enumerate(mms_ids):
            session.add(MmsNotification(
                delivery_id=delivery_id, dispatch_id=dispatch_id, token=f"t{index:023d}",
                transaction_id=f"x{index:023d}", created_at=now,
                expires_at=now + timedelta(hours=72), retrievals=0))
        session.execute(update(Delivery).values(status="submitted"))
    _set_status(sessions, Delivery, mms_ids[:3], "delivered")
    with sessions.begin() as session:
        session.execute(update(MmsNotification).where(
            MmsNotification.delivery_id.in_(mms_ids[:2])).values(
            first_retrieved_at=now, retrievals=1))
        session.execute(update(MmsNotification).where(
            MmsNotification.delivery_id == mms_ids[0]).values(acknowledged_at=now))
        session.execute(update(Dispatch).values(status="done"))

    def figures(at: datetime) -> tuple[int, int, int, int, bool]:
        with sessions.begin() as session:
            refresh(session, at, ROLLUP)
        with sessions() as session:
            row = session.get(MmsDispatchStats, dispatch_id)
            assert row is not None
            return (row.notifications, row.delivered, row.retrieved, row.acknowledged, row.final)

    assert figures(now + timedelta(hours=1)) == (4, 3, 2, 1, False)
    _set_status(sessions, Delivery, mms_ids[3:], "delivered")
    with sessions.begin() as session:  # retrieved later, before the expiry
        session.execute(update(MmsNotification).where(
            MmsNotification.delivery_id == mms_ids[3]).values(first_retrieved_at=now))
    # Every delivery is final, but the content locations still answer: not final yet.
    assert figures(now + timedelta(hours=71)) == (4, 4, 3, 1, False)
    assert figures(now + timedelta(hours=73)) == (4, 4, 3, 1, True)
    with sessions.begin() as session:  # once final, never counted again
        session.execute(update(MmsNotification).values(acknowledged_at=now))
    assert figures(now + timedelta(hours=74)) == (4, 4, 3, 1, True)
    with sessions() as session:
        [shown] = [d for d in dispatch_figures(session, now=now) if d.dispatch_id == dispatch_id]
    assert (shown.mms_notifications, shown.mms_delivered, shown.mms_retrieved,
            shown.mms_acknowledged) == (4, 4, 3, 1)


def test_mm7_figures_per_dispatch_count_submits_reports_and_retrieved(engine: Engine) -> None:
    """A carrier whose MMS goes to its MMSC makes no WAP Push notifications: its figures are
    the SubmitReqs the MMSC accepted (parts stored as ``mm7:<MessageID>``), the reports that
    came back, and those saying Retrieved; final once the dispatch is done and every delivery
    has its report."""
    from gateway.db.mms_models import MmsDispatchStats

    sessions = Engine_(engine).sessions
    now = utc(2026, 11, 29, 0, 0)
    with sessions.begin() as session:
        edition_id = seed_edition(session)
        seed_subscribers(session, 2)  # SMS subscribers: their parts are SMSC ids
        seed_subscribers(session, 5, start=100, message_format="mms")
        dispatch_id = create_dispatch(session, edition_id=edition_id, carrier="china_mobile",
                                      cutoff=now, deadline=now + timedelta(hours=6), now=now)
        materialise(session, dispatch_id)
        deliveries = session.execute(select(Delivery.id, Delivery.message_format)
                                     .order_by(Delivery.id)).all()
        mms_ids = [d for d, fmt in deliveries if fmt == "mms"]
        for delivery_id, fmt in deliveries:
            if fmt == "mms" and delivery_id == mms_ids[-1]:
                continue  # not accepted by the MMSC yet
            session.add(DeliveryPart(
                delivery_id=delivery_id, part=1, carrier="china_mobile", status="submitted",
                message_id=f"mm7:M{delivery_id}" if fmt == "mms" else f"{delivery_id:08X}"))
        session.execute(update(Delivery).values(status="submitted"))
    reported = {mms_ids[0]: "delivered", mms_ids[1]: "delivered", mms_ids[2]: "expired"}
    with sessions.begin() as session:
        for delivery_id, status in reported.items():
            session.execute(update(Delivery).where(Delivery.id == delivery_id)
                            .values(status=status))
            session.execute(update(DeliveryPart).where(DeliveryPart.delivery_id == delivery_id)
                            .values(status=status))
        session.execute(update(Dispatch).values(status="done"))

    def figures() -> tuple[int, int, int, int, int, bool]:
        with sessions.begin() as session:
            refresh(session, now, ROLLUP)
        with sessions() as session:
            row = session.get(MmsDispatchStats, dispatch_id)
            assert row is not None
            return (row.notifications, row.delivered, row.retrieved, row.acknowledged,
                    row.mm7_reports, row.final)

    assert figures() == (4, 2, 2, 0, 3, False)
    _set_status(sessions, Delivery, mms_ids[3:], "rejected")
    with sessions.begin() as session:
        session.execute(update(DeliveryPart).where(DeliveryPart.delivery_id == mms_ids[3])
                        .values(status="rejected"))
    assert figures() == (4, 2, 2, 0, 4, True)
    with sessions() as session:
        [shown] = [d for d in dispatch_figures(session, now=now) if d.dispatch_id == dispatch_id]
    assert (shown.mms_notifications, shown.mms_delivered, shown.mms_mm7_reports) == (4, 2, 4)
