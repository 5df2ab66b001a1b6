"""Dispatch against a real database (SQLite, and PostgreSQL in CI) with scripted links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_twisted
from sqlalchemy import Engine, func, select
from twisted.internet import defer, reactor, task

from carriers.messages import DeliveryReceipt, ReceiptState, SubmitOutcome, SubmitResult
from gateway.db.dispatch_models import Delivery, DeliveryPart, Dispatch
from gateway.db.edition_models import Edition
from gateway.db.engine import make_session_factory
from gateway.db.models import Subscriber
from gateway.db.threads import DatabaseThreads
from gateway.dispatch import leases, store
from gateway.dispatch.quiet_hours import QuietHours, parse_clock
from gateway.dispatch.runner import DispatchRunner, DispatchSettings
from tests.service.dispatch_fixtures import (
    T0,
    FakeLink,
    SettlingDatabase,
    run_on_clock,
    seed_edition,
    seed_subscribers,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")



def runner_for(database: DatabaseThreads, links: dict[str, Any], node: str = "node-a",
               **options: Any) -> DispatchRunner:
    settings = DispatchSettings(node=node, batch_size=50, chunk=16, max_ahead=32,
                                flush_interval=0.01, retry_initial=0.05, retry_max=0.2,
                                **options)
    return DispatchRunner(database=database, links=links, settings=settings, clock=reactor)


def counts(engine: Engine) -> dict[str, int]:
    with make_session_factory(engine)() as session:
        return dict(session.execute(select(Delivery.status, func.count())
                                    .group_by(Delivery.status)).all())


@pytest_twisted.ensureDeferred
async def test_every_active_subscriber_gets_exactly_one_copy(engine: Engine, database: Any
                                                             ) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        edition_id = seed_edition(session)
        numbers = seed_subscribers(session, 300)
        seed_subscribers(session, 20, status="cancelled", start=1000)
        seed_subscribers(session, 20, status="pending", start=2000)
    link = FakeLink()
    runner = runner_for(database, {"china_mobile": link})
    await runner.dispatch(edition_id)
    assert link.copies() == dict.fromkeys(numbers, 1)
    assert all(len(m.parts) == 2 and m.parts[0].has_udh for m in link.sent)
    assert counts(engine) == {"submitted": 300}
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(DeliveryPart)) == 600
        assert session.scalar(select(Edition.status)) == "frozen"
        assert session.scalar(select(Dispatch.status)) == "done"
    # Dispatching again (or resuming) sends nothing more.
    await runner.dispatch(edition_id)
    assert len(link.sent) == 300


@pytest_twisted.ensureDeferred
async def test_cutoff_excludes_later_subscribers(engine: Engine, database: Any) -> None:
    sessions = make_session_factory(engine)
    cutoff = datetime(2026, 11, 29, tzinfo=UTC)
    with sessions.begin() as session:
        edition_id = seed_edition(session)
        early = seed_subscribers(session, 5, activated_at=cutoff - timedelta(hours=1))
        seed_subscribers(session, 5, start=100, activated_at=cutoff + timedelta(hours=1))
    link = FakeLink()
    await runner_for(database, {"china_mobile": link}).dispatch(edition_id, cutoff=cutoff)
    assert set(link.copies()) == set(early)


@pytest_twisted.ensureDeferred
async def test_multi_segment_receipts_decide_the_delivery(engine: Engine, database: Any) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        edition_id = seed_edition(session, segments=3)
        seed_subscribers(session, 3)
    link = FakeLink()
    runner = runner_for(database, {"china_mobile": link}, flag_after=1)
    await runner.dispatch(edition_id)
    ids = [f"m{n}" for n in range(1, 10)]  # 3 subscribers x 3 parts, in order

    def receipt(message_id: str, state: ReceiptState) -> DeliveryReceipt:
        return DeliveryReceipt(carrier="china_mobile", message_id=message_id, state=state,
                               stat=state.name, received_at=datetime.now(UTC))

    states = [ReceiptState.DELIVERED] * 3 + [ReceiptState.DELIVERED, ReceiptState.UNDELIVERABLE,
                                             ReceiptState.DELIVERED] + [ReceiptState.DELIVERED] * 2
    for message_id, state in zip(ids[:8], states, strict=True):
        await runner.store_receipt(receipt(message_id, state))
    with sessions() as session:
        rows = session.execute(select(Delivery.msisdn, Delivery.status, Delivery.parts_delivered)
                               .order_by(Delivery.id)).all()
        assert [(r.status, r.parts_delivered) for r in rows] == [
            ("delivered", 3), ("undeliverable", 2), ("submitted", 2)]
        flagged = session.scalars(select(Subscriber.msisdn).where(
            Subscriber.flagged_at.is_not(None))).all()
        assert flagged == [rows[1].msisdn]
    await runner.store_receipt(receipt(ids[8], ReceiptState.EXPIRED))
    assert counts(engine) == {"delivered": 1, "undeliverable": 1, "expired": 1}


@pytest_twisted.ensureDeferred
async def test_receipt_before_its_result_is_kept_and_applied(engine: Engine, database: Any
                                                            ) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        edition_id = seed_edition(session, segments=1)
        seed_subscribers(session, 1)
    runner = runner_for(database, {"china_mobile": FakeLink()})
    await runner.store_receipt(DeliveryReceipt(
        carrier="china_mobile", message_id="m1", state=ReceiptState.DELIVERED, stat="DELIVRD",
        received_at=datetime.now(UTC)))
    await runner.dispatch(edition_id)
    assert counts(engine) == {"delivered": 1}


@pytest_twisted.ensureDeferred
async def test_transient_errors_are_retried_permanent_ones_recorded(engine: Engine,
                                                                    database: Any) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        edition_id = seed_edition(session, segments=1)
        numbers = seed_subscribers(session, 4)

    def behaviour(message: Any, attempt: int) -> list[SubmitResult] | None:
        if message.destination == numbers[0] and attempt < 3:  # throttled twice, then OK
            return [SubmitResult(outcome=SubmitOutcome.TRANSIENT, status=0x58)]
        if message.destination == numbers[1] and attempt == 1:  # link down once
            return [SubmitResult(outcome=SubmitOutcome.NOT_SENT, reason="link shut down")]
        if message.destination == numbers[2]:  # invalid destination: permanent
            return [SubmitResult(outcome=SubmitOutcome.PERMANENT, status=0x0B)]
        if message.destination == numbers[3] and attempt == 1:  # response lost: uncertain
            return [SubmitResult(outcome=SubmitOutcome.UNANSWERED, reason="timeout")]
        return None

    link = FakeLink(behaviour)
    runner = runner_for(database, {"china_mobile": link}, uncertain_wait=0.2)
    await runner.dispatch(edition_id)
    assert link.attempts[numbers[0]] == 3 and link.attempts[numbers[1]] == 2
    # No receipt proved the unanswered submit arrived: after the wait it is sent again.
    assert link.attempts[numbers[2]] == 1 and link.attempts[numbers[3]] == 2
    assert counts(engine) == {"submitted": 3, "rejected": 1}
    with sessions() as session:
        recovery = session.execute(select(Delivery.msisdn, Delivery.recovery).where(
            Delivery.uncertain_at.is_not(None))).all()
    assert recovery == [(numbers[3], "resent")]


@pytest_twisted.ensureDeferred
async def test_unanswered_submit_is_skipped_under_the_skip_policy(engine: Engine,
                                                                  database: Any) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        edition_id = seed_edition(session, segments=1)
        numbers = seed_subscribers(session, 3)
    link = FakeLink(lambda m, a: [SubmitResult(outcome=SubmitOutcome.UNANSWERED)]
                    if m.destination == numbers[0] else None)
    runner = runner_for(database, {"china_mobile": link}, uncertain_wait=0.2,
                        uncertain_policy="skip")
    await runner.dispatch(edition_id)
    assert link.attempts[numbers[0]] == 1
    assert counts(engine) == {"submitted": 2, "skipped": 1}


@pytest_twisted.ensureDeferred
async def test_transient_errors_stop_at_the_deadline(engine: Engine, database: Any) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        edition_id = seed_edition(session, segments=1)
        seed_subscribers(session, 2)
    link = FakeLink(lambda m, a: [SubmitResult(outcome=SubmitOutcome.TRANSIENT, status=0x14)])
    # Retries come 0.05-0.2 s apart: a 2 s deadline leaves room for several even on a busy
    # machine (0.3 s was sometimes used up before the first retry).
    runner = runner_for(database, {"china_mobile": link}, deadline=timedelta(seconds=2))
    await runner.dispatch(edition_id)
    assert counts(engine) == {"failed": 2}
    assert max(link.attempts.values()) >= 2


@pytest_twisted.ensureDeferred
async def test_unsubscribe_during_dispatch_cancels_unsent(engine: Engine, database: Any) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        edition_id = seed_edition(session, segments=1)
        numbers = seed_subscribers(session, 200)
    link = FakeLink()
    runner = runner_for(database, {"china_mobile": link})
    leaver = numbers[-1]

    def unsubscribe_early(message: Any, attempt: int) -> None:
        if len(link.sent) == 10:
            with sessions.begin() as session:
                subscriber_id = session.scalar(select(Subscriber.id).where(
                    Subscriber.msisdn == leaver))
                assert store.cancel_for_subscriber(session, subscriber_id) == 1
        return None

    link.behaviour = unsubscribe_early
    await runner.dispatch(edition_id)
    assert leaver not in link.copies()
    assert counts(engine) == {"submitted": 199, "cancelled": 1}


@pytest_twisted.ensureDeferred
async def test_two_nodes_share_a_dispatch_without_duplicates(engine: Engine, database: Any
                                                             ) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        edition_id = seed_edition(session, segments=1)
        numbers = seed_subscribers(session, 400)
    link_a, link_b = FakeLink(delay=0.02), FakeLink(delay=0.02)
    runner_a = runner_for(database, {"china_mobile": link_a}, node="a")
    runner_b = runner_for(database, {"china_mobile": link_b}, node="b")
    first = defer.ensureDeferred(runner_a.dispatch(edition_id))
    second = defer.ensureDeferred(runner_b.dispatch(edition_id))
    await first
    await second
    together = link_a.copies() + link_b.copies()
    assert together == dict.fromkeys(numbers, 1)
    assert link_a.sent and link_b.sent


def test_recovery_after_a_crash(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        edition_id = seed_edition(session, segments=1)
        seed_subscribers(session, 10)
        dispatch_id = store.create_dispatch(session, edition_id=edition_id,
                                            carrier="china_mobile", cutoff=datetime.now(UTC),
                                            deadline=datetime.now(UTC), now=datetime.now(UTC))
        store.materialise(session, dispatch_id)
        alive = leases.acquire(session, leases.LeaseRequest(
            node="alive", host="elsewhere", pid=1, command="run"), now=900.0,
            policy=leases.LeasePolicy(ttl=30.0))
        claimed = store.claim(session, dispatch_id=dispatch_id, node="dead", limit=6, now=100.0)
        store.mark_sending(session, [c.id for c in claimed[:4]], node="dead", now=100.0)
        other = store.claim(session, dispatch_id=dispatch_id, node=alive, limit=2, now=900.0)
        assert len(other) == 2
    with sessions.begin() as session:
        assert leases.recover_orphans(session, now=901.0) == {"released": 2, "uncertain": 4}
    with sessions() as session:
        statuses = dict(session.execute(select(Delivery.status, func.count())
                                        .group_by(Delivery.status)).all())
        since = set(session.scalars(select(Delivery.uncertain_at).where(
            Delivery.status == "uncertain")))
    assert statuses == {"pending": 4, "uncertain": 4, "claimed": 2}  # "alive" keeps its claims
    assert since == {901.0}


def test_quiet_hours_window() -> None:
    quiet = QuietHours(parse_clock("21:00"), parse_clock("08:00"), SHANGHAI)
    at = lambda h, m=0: datetime(2026, 11, 29, h, m, tzinfo=SHANGHAI)  # noqa: E731
    assert quiet.is_quiet(at(21)) and quiet.is_quiet(at(23, 59)) and quiet.is_quiet(at(7, 59))
    assert not quiet.is_quiet(at(8)) and not quiet.is_quiet(at(20, 59))
    assert quiet.ends_after(at(22)) == at(8) + timedelta(days=1)
    assert quiet.ends_after(at(3)) == at(8)
    assert quiet.ends_after(at(12)) == at(12)
    with pytest.raises(ValueError, match="HH:MM"):
        parse_clock("9pm")


@pytest_twisted.ensureDeferred
async def test_dispatch_pauses_in_quiet_hours_and_resumes_after(engine: Engine, database: Any
                                                                ) -> None:
    """On a fake clock: a dispatch that reaches 21:00 holds until 08:00, then finishes."""
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        edition_id = seed_edition(session, segments=1)
        numbers = seed_subscribers(session, 100)
    clock = task.Clock()
    clock.advance(datetime(2026, 11, 29, 20, 59, 59, tzinfo=SHANGHAI).timestamp())
    link = FakeLink()

    def slow_down(message: Any, attempt: int) -> None:
        if len(link.sent) == 40:
            clock.advance(2)  # 21:00:01: quiet hours begin
        return None

    link.behaviour = slow_down
    settings = DispatchSettings(node="n", batch_size=50, chunk=16, max_ahead=8,
                                flush_interval=0.01,
                                quiet={"china_mobile": QuietHours(parse_clock("21:00"),
                                                                  parse_clock("08:00"),
                                                                  SHANGHAI)})
    db = SettlingDatabase(database)
    runner = DispatchRunner(database=db, links={"china_mobile": link}, settings=settings,
                            clock=clock)
    running = defer.ensureDeferred(runner.dispatch(edition_id))
    await run_on_clock(clock, db, lambda: len(link.sent) >= 40)
    held_at = len(link.sent)
    assert held_at == 40
    for _ in range(60):  # an hour inside quiet hours: nothing more is sent
        clock.advance(60)
        await db.settle()
    assert len(link.sent) == held_at and not running.called
    morning = datetime(2026, 11, 30, 8, 0, 1, tzinfo=SHANGHAI).timestamp()
    clock.advance(morning - clock.seconds())
    await run_on_clock(clock, db, lambda: running.called, step=0.05)
    await running
    assert link.copies() == dict.fromkeys(numbers, 1)


def test_deliveries_without_receipts_become_unknown(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        edition_id = seed_edition(session, segments=1)
        seed_subscribers(session, 3)
        now = datetime.now(UTC)
        dispatch_id = store.create_dispatch(session, edition_id=edition_id,
                                            carrier="china_mobile", cutoff=now, deadline=now,
                                            now=now)
        store.materialise(session, dispatch_id)
        claimed = store.claim(session, dispatch_id=dispatch_id, node="n", limit=3, now=1.0)
        store.mark_sending(session, [c.id for c in claimed], node="n", now=1.0)
        results = [store.SendResult(c.id, (SubmitResult(outcome=SubmitOutcome.ACCEPTED,
                                                        message_id=f"x{c.id}"),), 0)
                   for c in claimed]
        store.record_results(session, results, carrier="china_mobile",
                             now=now - timedelta(hours=50), retry_at=0.0, deadline=1.0)
        store.record_results(session, [], carrier="china_mobile", now=now, retry_at=0.0,
                             deadline=1.0)
    with sessions.begin() as session:
        assert store.expire_receipts(session,
                                     submitted_before=now - timedelta(hours=48)) == 3
    assert counts(engine) == {"unknown": 3}


@pytest_twisted.ensureDeferred
async def test_pause_holds_a_dispatch_and_resume_finishes_it(
        engine: Engine, database: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Paused by an operator mid-dispatch: nothing more is sent while the loop comes round
    its hold again and again on a fake clock; resumed: everyone gets one copy."""
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        edition_id = seed_edition(session, segments=1)
        numbers = seed_subscribers(session, 60)
    link = FakeLink()
    clock = task.Clock()
    clock.advance(T0.timestamp())
    db = SettlingDatabase(database)
    runner = DispatchRunner(database=db, links={"china_mobile": link},
                            settings=DispatchSettings(node="n", batch_size=20, chunk=8,
                                                      max_ahead=4, flush_interval=0.01),
                            clock=clock)
    paused: list[defer.Deferred[None]] = []

    def pause_at_twenty(message: Any, attempt: int) -> None:
        if len(link.sent) == 20 and not paused:
            paused.append(runner.set_paused(1, True))
        return None

    link.behaviour = pause_at_twenty
    running = defer.ensureDeferred(runner.dispatch(edition_id))
    await run_on_clock(clock, db, lambda: bool(paused) and paused[0].called)
    await db.settle()
    held_at = len(link.sent)
    assert 20 <= held_at <= 25
    caplog.clear()
    with caplog.at_level("INFO", logger="gateway.dispatch.runner"):
        for _ in range(30):  # 30 s on the clock: the loop looks again each second
            clock.advance(1.0)
            await db.settle()
    holds = [r for r in caplog.records if r.getMessage().endswith("paused; holding")]
    assert len(holds) >= 30
    assert len(link.sent) == held_at and not running.called
    with sessions.begin() as session:
        assert session.get(Dispatch, 1).status == "paused"
    resumed = runner.set_paused(1, False)
    await run_on_clock(clock, db, lambda: running.called)
    await resumed
    await running
    assert link.copies() == dict.fromkeys(numbers, 1)


@pytest_twisted.ensureDeferred
async def test_resuming_a_dispatch_paused_before_a_restart_starts_its_loop(
        engine: Engine, database: Any) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        edition_id = seed_edition(session, segments=1)
        numbers = seed_subscribers(session, 30)
        dispatch_id = store.create_dispatch(session, edition_id=edition_id,
                                            carrier="china_mobile", cutoff=T0,
                                            deadline=T0 + timedelta(hours=1), now=T0)
        store.materialise(session, dispatch_id, now=T0)
        session.get(Dispatch, dispatch_id).status = "paused"
    link = FakeLink()
    clock = task.Clock()
    clock.advance(T0.timestamp())
    db = SettlingDatabase(database)
    runner = DispatchRunner(database=db, links={"china_mobile": link},
                            settings=DispatchSettings(node="n", flush_interval=0.01),
                            clock=clock)
    assert await runner.resume_all() == []  # paused stays paused across the restart
    await runner.set_paused(dispatch_id, False)

    def status() -> str:
        with sessions.begin() as session:
            return session.get(Dispatch, dispatch_id).status

    await run_on_clock(clock, db, lambda: status() == "done")
    assert link.copies() == dict.fromkeys(numbers, 1)


class HoldingLink:
    """A link that answers its submits only when told (every part accepted)."""

    def __init__(self) -> None:
        self.waiting: list[tuple[Any, defer.Deferred[list[SubmitResult]]]] = []
        self.sent: list[Any] = []

    def submit(self, message: Any) -> defer.Deferred[list[SubmitResult]]:
        self.sent.append(message)
        answer: defer.Deferred[list[SubmitResult]] = defer.Deferred()
        self.waiting.append((message, answer))
        return answer

    def answer(self, count: int) -> None:
        answering, self.waiting = self.waiting[:count], self.waiting[count:]
        for message, answer in answering:
            answer.callback([SubmitResult(outcome=SubmitOutcome.ACCEPTED,
                                          message_id=f"x{message.destination}")])


async def settle(until: Any) -> None:
    """Wait on the reactor (bounded) until ``until()`` holds."""
    for _ in range(500):
        if until():
            return
        await task.deferLater(reactor, 0.01, lambda: None)
    raise AssertionError("not reached")


@pytest_twisted.ensureDeferred
async def test_at_most_max_ahead_messages_between_submit_and_stored_result(
        engine: Engine, database: Any) -> None:
    """A link that answers only when told: the loop hands it max_ahead messages, and one
    more for each result stored, never more; as results are stored in bursts the loop
    submits runs of messages."""
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        edition_id = seed_edition(session, segments=1)
        numbers = seed_subscribers(session, 40)

    link = HoldingLink()
    runner = DispatchRunner(database=database, links={"china_mobile": link}, clock=reactor,
                            settings=DispatchSettings(node="node-a", batch_size=50, chunk=16,
                                                      max_ahead=6, flush_interval=0.01))
    running = defer.ensureDeferred(runner.dispatch(edition_id))
    await settle(lambda: len(link.sent) == 6)
    await task.deferLater(reactor, 0.2, lambda: None)
    assert len(link.sent) == 6  # max_ahead out, none stored: nothing more
    link.answer(4)
    await settle(lambda: len(link.sent) == 10)
    await task.deferLater(reactor, 0.2, lambda: None)
    assert len(link.sent) == 10 and len(link.waiting) == 6
    while not running.called:
        link.answer(len(link.waiting))
        assert len(link.waiting) <= 6
        await task.deferLater(reactor, 0.01, lambda: None)
    await running
    assert sorted(m.destination for m in link.sent) == sorted(numbers)


@pytest_twisted.ensureDeferred
async def test_a_credit_comes_back_only_once_its_result_has_committed(
        engine: Engine, database: Any) -> None:
    """Results go to the writer without a Deferred each; their credits come back with the
    batch that commits them, not when they are handed over."""
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        edition_id = seed_edition(session, segments=1)
        numbers = seed_subscribers(session, 20)

    class GatedDatabase:
        """The test's database, except that while held, transactions wait to start."""

        def __init__(self) -> None:
            self.gate: defer.Deferred[None] | None = None

        def transaction(self, work: Any, *, urgent: bool = False) -> defer.Deferred[Any]:
            if self.gate is None:
                return database.transaction(work, urgent=urgent)
            done: defer.Deferred[Any] = defer.Deferred()
            self.gate.addCallback(lambda _: database.transaction(
                work, urgent=urgent).chainDeferred(done))
            return done

        def hold(self) -> None:
            self.gate = defer.Deferred()

        def release(self) -> None:
            gate, self.gate = self.gate, None
            assert gate is not None
            gate.callback(None)

    gated, link = GatedDatabase(), HoldingLink()
    runner = DispatchRunner(database=gated, links={"china_mobile": link},  # type: ignore[arg-type]
                            clock=reactor,
                            settings=DispatchSettings(node="node-a", batch_size=50, chunk=16,
                                                      max_ahead=6, flush_interval=0.01))
    running = defer.ensureDeferred(runner.dispatch(edition_id))
    await settle(lambda: len(link.sent) == 6)
    gated.hold()
    link.answer(4)  # answered, handed to the writer, not committed
    await task.deferLater(reactor, 0.2, lambda: None)
    assert len(link.sent) == 6 and len(link.waiting) == 2
    gated.release()
    await settle(lambda: len(link.sent) == 10)
    while not running.called:
        link.answer(len(link.waiting))
        await task.deferLater(reactor, 0.01, lambda: None)
    await running
    assert sorted(m.destination for m in link.sent) == sorted(numbers)
