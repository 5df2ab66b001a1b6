"""Uncertain deliveries (a crash, or a submit gone unanswered) against a real database
(SQLite, and PostgreSQL when configured): receipts echoing a part's reference reconcile it;
parts still without evidence are resent, only those, or skipped; partial submit results keep
the accepted parts and send the others again. Store level first, then through the runner."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_twisted
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from twisted.internet import reactor

from carriers.messages import (
    DeliveryReceipt,
    OutboundMessage,
    ReceiptState,
    SubmitOutcome,
    SubmitResult,
)
from gateway.db.dispatch_models import Delivery, DeliveryPart, Dispatch
from gateway.db.edition_models import EditionRenderSegment
from gateway.db.engine import make_session_factory
from gateway.db.models import UnmatchedReceipt
from gateway.db.threads import DatabaseThreads
from gateway.dispatch import leases, store
from gateway.dispatch.runner import DispatchRunner, DispatchSettings
from tests.service.dispatch_fixtures import FakeLink, seed_edition, seed_subscribers

CARRIER = "china_mobile"
DEAD = "feedbeef0000:crashed-node"
"""The claim name of a process that died: no lease carries it."""
MARKED_AT = 100.0
RECOVERED_AT = 200.0


def runner_for(database: DatabaseThreads, link: FakeLink, **options: Any) -> DispatchRunner:
    settings = DispatchSettings(node="live-claim:node", batch_size=50, chunk=16, max_ahead=32,
                                flush_interval=0.01, retry_initial=0.05, retry_max=0.2,
                                **options)
    return DispatchRunner(database=database, links={CARRIER: link}, settings=settings,
                          clock=reactor)


def counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        return dict(session.execute(select(Delivery.status, func.count())
                                    .group_by(Delivery.status)).all())


@dataclass(frozen=True)
class Crashed:
    """A dispatch of 2-part deliveries: A, B, C, D were marked ``sending`` by a process that
    died; E was never claimed."""

    edition_id: int
    dispatch_id: int
    ids: dict[str, int]
    """A..E → delivery id."""
    numbers: dict[str, str]
    """A..E → msisdn."""

    def ref(self, name: str, part: int) -> int:
        reference = store.part_reference(self.ids[name], part)
        assert reference is not None
        return reference


def crash(sessions: sessionmaker[Session], *, recover: bool = True) -> Crashed:
    now = datetime.now(UTC)
    with sessions.begin() as session:
        edition_id = seed_edition(session, segments=2)
        seed_subscribers(session, 5)
        dispatch_id = store.create_dispatch(session, edition_id=edition_id, carrier=CARRIER,
                                            cutoff=now, deadline=now + timedelta(hours=1),
                                            now=now)
        assert store.materialise(session, dispatch_id) == 5
        claimed = store.claim(session, dispatch_id=dispatch_id, node=DEAD, limit=4,
                              now=MARKED_AT)
        assert store.mark_sending(session, [c.id for c in claimed], node=DEAD, now=MARKED_AT,
                                  parts_total={"sms": 2}) == {c.id for c in claimed}
        rows = session.execute(select(Delivery.id, Delivery.msisdn).where(
            Delivery.dispatch_id == dispatch_id).order_by(Delivery.id)).all()
    assert [row.id for row in rows[:4]] == [c.id for c in claimed]
    names = "ABCDE"
    crashed = Crashed(edition_id=edition_id, dispatch_id=dispatch_id,
                      ids={n: row.id for n, row in zip(names, rows, strict=True)},
                      numbers={n: row.msisdn for n, row in zip(names, rows, strict=True)})
    if recover:
        with sessions.begin() as session:
            assert leases.recover_orphans(session, now=RECOVERED_AT) == {
                "released": 0, "uncertain": 4}
    return crashed


def receipt(number: str, reference: int | None, *, message_id: str,
            state: ReceiptState = ReceiptState.DELIVERED,
            received_at: datetime | None = None) -> DeliveryReceipt:
    """A receipt whose message id the gateway never stored (the submit response was lost)."""
    return DeliveryReceipt(carrier=CARRIER, message_id=message_id, state=state,
                           stat="DELIVRD" if state is ReceiptState.DELIVERED else "UNDELIV",
                           received_at=received_at or datetime.now(UTC), subscriber=number,
                           reference=reference)


@dataclass(frozen=True)
class Row:
    status: str
    recovery: str | None
    resend_parts: int | None
    parts_delivered: int
    uncertain_at: float | None
    parts: dict[int, str]
    """part number → part status."""


def rows(sessions: sessionmaker[Session], crashed: Crashed) -> dict[str, Row]:
    with sessions() as session:
        parts: dict[int, dict[int, str]] = {}
        for delivery_id, number, status in session.execute(select(
                DeliveryPart.delivery_id, DeliveryPart.part, DeliveryPart.status)):
            assert number not in parts.setdefault(delivery_id, {}), "a part row twice"
            parts[delivery_id][number] = status
        found = {}
        for name, delivery_id in crashed.ids.items():
            row = session.get(Delivery, delivery_id)
            assert row is not None
            found[name] = Row(row.status, row.recovery, row.resend_parts, row.parts_delivered,
                              row.uncertain_at, parts.get(delivery_id, {}))
    return found


def segments(sessions: sessionmaker[Session]) -> list[bytes]:
    with sessions() as session:
        return list(session.scalars(select(EditionRenderSegment.short_message)
                                    .order_by(EditionRenderSegment.number)))


@pytest.fixture
def sessions(engine: Engine) -> Iterator[sessionmaker[Session]]:
    yield make_session_factory(engine)


def test_part_references() -> None:
    reference = store.part_reference(0x1234, 3)
    assert reference == (0x234 << 4) | 2
    assert store.reference_matches(reference, 0x1234) == 3
    assert store.reference_matches(reference, 0x5234) == 3  # 12 bits: told apart by number
    assert store.reference_matches(reference, 0x1235) is None
    assert store.part_reference(7, 16) == (7 << 4) | 15
    assert store.part_reference(7, 17) is None and store.part_reference(7, 0) is None


# -- store level ------------------------------------------------------------------------------


def test_recovered_deliveries_are_uncertain(sessions: sessionmaker[Session]) -> None:
    crashed = crash(sessions)
    found = rows(sessions, crashed)
    for name in "ABCD":
        assert (found[name].status, found[name].uncertain_at, found[name].parts) == (
            "uncertain", RECOVERED_AT, {})
    assert found["E"].status == "pending" and found["E"].uncertain_at is None
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.status == "uncertain", Delivery.parts_total == 2)) == 4


def test_receipts_reconcile_then_only_parts_without_evidence_are_resent(
        sessions: sessionmaker[Session]) -> None:
    crashed = crash(sessions, recover=False)
    n = crashed.numbers
    # C's part 1 receipt came while C was still "sending" (before anyone knew it was
    # uncertain): it matched nothing and was kept.
    with sessions.begin() as session:
        store.keep_unmatched(session, [receipt(n["C"], crashed.ref("C", 1),
                                               message_id="smsc-c1")])
    with sessions.begin() as session:
        assert leases.recover_orphans(session, now=RECOVERED_AT)["uncertain"] == 4
    now = datetime.now(UTC)
    with sessions.begin() as session:
        left = store.reconcile(session, [
            receipt(n["A"], crashed.ref("A", 1), message_id="smsc-a1"),
            receipt("+86" + n["A"], crashed.ref("A", 2), message_id="smsc-a2"),
            receipt(n["B"], crashed.ref("B", 1), message_id="smsc-b1"),
        ], flag_after=3, now=now)
    assert left == []
    found = rows(sessions, crashed)
    assert (found["A"].status, found["A"].recovery, found["A"].parts_delivered) == (
        "delivered", "reconciled", 2)
    assert found["A"].parts == {1: "delivered", 2: "delivered"}
    assert (found["B"].status, found["B"].parts, found["B"].parts_delivered) == (
        "uncertain", {1: "delivered"}, 1)
    assert found["C"].parts == {} and found["D"].parts == {}
    with sessions() as session:
        a = session.get(Delivery, crashed.ids["A"])
        assert a is not None and a.submitted_at is not None and a.done_at is not None
        assert session.scalars(select(DeliveryPart.message_id).where(
            DeliveryPart.delivery_id == crashed.ids["A"]).order_by(DeliveryPart.part)
        ).all() == ["smsc-a1", "smsc-a2"]

    # The kept receipt is evidence too, once C is known to be uncertain.
    with sessions.begin() as session:
        assert store.reconcile_stored(session, crashed.dispatch_id, flag_after=3,
                                      now=now) == 1
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(UnmatchedReceipt)) == 0
    found = rows(sessions, crashed)
    assert (found["C"].status, found["C"].parts) == ("uncertain", {1: "delivered"})

    # Receipts naming no uncertain part are left over: a reference for another delivery, a
    # number with nothing uncertain, no reference at all.
    nobody = [
        receipt(n["B"], store.part_reference(max(crashed.ids.values()) + 100, 1),
                message_id="smsc-x1"),
        receipt(n["E"], crashed.ref("E", 1), message_id="smsc-x2"),
        receipt(n["D"], None, message_id="smsc-x3"),
        receipt(n["D"], crashed.ref("D", 3), message_id="smsc-x4"),  # D has 2 parts
    ]
    with sessions.begin() as session:
        assert store.reconcile(session, nobody, flag_after=3, now=now) == nobody

    # The same evidence again (a receipt re-delivered) adds nothing.
    before = rows(sessions, crashed)
    with sessions.begin() as session:
        assert store.reconcile(session, [receipt(n["B"], crashed.ref("B", 1),
                                                 message_id="smsc-b1")],
                               flag_after=3, now=now) == []
        store.reconcile(session, [receipt(n["A"], crashed.ref("A", 2), message_id="smsc-a2")],
                        flag_after=3, now=now)
        store.reconcile(session, [receipt(n["C"], crashed.ref("C", 1), message_id="smsc-c1"),
                                  receipt(n["C"], crashed.ref("C", 1), message_id="smsc-c1")],
                        flag_after=3, now=now)
    assert rows(sessions, crashed) == before
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(DeliveryPart)) == 4

    with sessions.begin() as session:  # not due yet: they became uncertain after 199.0
        assert store.resolve_uncertain(session, crashed.dispatch_id, policy="resend",
                                       before=RECOVERED_AT - 1, now=now) == {}
    with sessions.begin() as session:
        assert store.resolve_uncertain(session, crashed.dispatch_id, policy="resend",
                                       before=RECOVERED_AT + 1, now=now) == {"resent": 3}
    found = rows(sessions, crashed)
    assert {name: (r.status, r.recovery, r.resend_parts) for name, r in found.items()} == {
        "A": ("delivered", "reconciled", None),
        "B": ("pending", "resent", 0b10),
        "C": ("pending", "resent", 0b10),
        "D": ("pending", "resent", 0b11),
        "E": ("pending", None, None),
    }
    with sessions() as session:
        assert store.recovery_counts(session, crashed.dispatch_id) == {
            "uncertain": 4, "reconciled": 1, "resent": 3, "skipped": 0}
        assert session.scalar(select(Delivery.next_attempt_at).where(
            Delivery.id == crashed.ids["D"])) == 0.0


@pytest_twisted.ensureDeferred
async def test_resent_parts_go_out_alone_with_their_references(
        sessions: sessionmaker[Session], database: DatabaseThreads) -> None:
    crashed = crash(sessions)
    n = crashed.numbers
    now = datetime.now(UTC)
    with sessions.begin() as session:
        store.reconcile(session, [
            receipt(n["A"], crashed.ref("A", 1), message_id="smsc-a1"),
            receipt(n["A"], crashed.ref("A", 2), message_id="smsc-a2"),
            receipt(n["B"], crashed.ref("B", 1), message_id="smsc-b1"),
            receipt(n["C"], crashed.ref("C", 1), message_id="smsc-c1"),
        ], flag_after=3, now=now)
        assert store.resolve_uncertain(session, crashed.dispatch_id, policy="resend",
                                       before=RECOVERED_AT + 1, now=now) == {"resent": 3}
    link = FakeLink()
    runner = runner_for(database, link)
    await runner.dispatch(crashed.edition_id)

    by_number = {m.destination: m for m in link.sent}
    assert set(by_number) == {n["B"], n["C"], n["D"], n["E"]}
    assert len(link.sent) == 4
    first, second = segments(sessions)
    b = by_number[n["B"]]
    assert [p.payload for p in b.parts] == [second]
    assert b.parts[0].has_udh and b.parts[0].payload[:6] == bytes([5, 0, 3, 7, 2, 2])
    assert b.references == (crashed.ref("B", 2),)
    assert [p.payload for p in by_number[n["C"]].parts] == [second]
    assert by_number[n["C"]].references == (crashed.ref("C", 2),)
    for name in "DE":
        message = by_number[n[name]]
        assert [p.payload for p in message.parts] == [first, second]
        assert message.references == (crashed.ref(name, 1), crashed.ref(name, 2))

    assert counts(sessions) == {"delivered": 1, "submitted": 4}
    found = rows(sessions, crashed)
    assert {name: (r.status, r.recovery, r.resend_parts, sorted(r.parts))
            for name, r in found.items()} == {
        "A": ("delivered", "reconciled", None, [1, 2]),
        "B": ("submitted", "resent", None, [1, 2]),
        "C": ("submitted", "resent", None, [1, 2]),
        "D": ("submitted", "resent", None, [1, 2]),
        "E": ("submitted", None, None, [1, 2]),
    }
    with sessions() as session:
        assert session.get(Dispatch, crashed.dispatch_id).status == "done"  # type: ignore[union-attr]
        assert store.recovery_counts(session, crashed.dispatch_id) == {
            "uncertain": 4, "reconciled": 1, "resent": 3, "skipped": 0}
        b_part2 = session.scalar(select(DeliveryPart.message_id).where(
            DeliveryPart.delivery_id == crashed.ids["B"], DeliveryPart.part == 2))
    # The resent part's own receipt (by message id) completes B.
    await runner.store_receipt(DeliveryReceipt(
        carrier=CARRIER, message_id=b_part2, state=ReceiptState.DELIVERED, stat="DELIVRD",
        received_at=datetime.now(UTC)))
    found = rows(sessions, crashed)
    assert (found["B"].status, found["B"].parts_delivered) == ("delivered", 2)


@pytest_twisted.ensureDeferred
async def test_skip_policy_leaves_unproven_deliveries_skipped(
        sessions: sessionmaker[Session], database: DatabaseThreads) -> None:
    crashed = crash(sessions)
    n = crashed.numbers
    now = datetime.now(UTC)
    with sessions.begin() as session:
        store.reconcile(session, [
            receipt(n["A"], crashed.ref("A", 1), message_id="smsc-a1"),
            receipt(n["A"], crashed.ref("A", 2), message_id="smsc-a2"),
            receipt(n["B"], crashed.ref("B", 1), message_id="smsc-b1"),
        ], flag_after=3, now=now)
        with pytest.raises(ValueError, match=r"dispatch\.uncertain"):
            store.resolve_uncertain(session, crashed.dispatch_id, policy="guess",
                                    before=RECOVERED_AT + 1, now=now)
        assert store.resolve_uncertain(session, crashed.dispatch_id, policy="skip",
                                       before=RECOVERED_AT + 1, now=now) == {"skipped": 3}
    found = rows(sessions, crashed)
    assert {name: (r.status, r.recovery) for name, r in found.items()} == {
        "A": ("delivered", "reconciled"), "B": ("skipped", "skipped"),
        "C": ("skipped", "skipped"), "D": ("skipped", "skipped"), "E": ("pending", None)}
    link = FakeLink()
    await runner_for(database, link, uncertain_policy="skip").dispatch(crashed.edition_id)
    assert [m.destination for m in link.sent] == [n["E"]]
    assert counts(sessions) == {"delivered": 1, "skipped": 3, "submitted": 1}
    with sessions() as session:
        assert store.recovery_counts(session, crashed.dispatch_id) == {
            "uncertain": 4, "reconciled": 1, "resent": 0, "skipped": 3}
        assert session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.status == "skipped", Delivery.done_at.is_(None))) == 0


# -- runner level ---------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_runner_reconciles_from_its_receipts_and_resends_the_rest(
        sessions: sessionmaker[Session], database: DatabaseThreads) -> None:
    crashed = crash(sessions, recover=False)
    n = crashed.numbers
    link = FakeLink()
    runner = runner_for(database, link, uncertain_wait=0.2)
    # Receipts come through the runner's receipt writer: C's before C is found uncertain
    # (kept), the others after.
    await runner.store_receipt(receipt(n["C"], crashed.ref("C", 1), message_id="smsc-c1"))
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(UnmatchedReceipt)) == 1
    with sessions.begin() as session:
        leases.recover_orphans(session, now=RECOVERED_AT)
    for number, reference, message_id in [
            (n["A"], crashed.ref("A", 1), "smsc-a1"), (n["A"], crashed.ref("A", 2), "smsc-a2"),
            (n["B"], crashed.ref("B", 1), "smsc-b1"),
            (n["B"], store.part_reference(max(crashed.ids.values()) + 100, 2), "smsc-x")]:
        await runner.store_receipt(receipt(number, reference, message_id=message_id))
    found = rows(sessions, crashed)
    assert (found["A"].status, found["A"].recovery) == ("delivered", "reconciled")
    assert (found["B"].status, found["B"].parts) == ("uncertain", {1: "delivered"})
    with sessions() as session:  # C's (not yet applied) and the one for nobody are kept
        assert sorted(session.scalars(select(UnmatchedReceipt.message_id))) == [
            "smsc-c1", "smsc-x"]

    await runner.dispatch(crashed.edition_id)
    by_number = {m.destination: m for m in link.sent}
    assert len(link.sent) == 4 and set(by_number) == {n["B"], n["C"], n["D"], n["E"]}
    assert by_number[n["B"]].references == (crashed.ref("B", 2),)
    assert by_number[n["C"]].references == (crashed.ref("C", 2),)
    assert by_number[n["D"]].references == (crashed.ref("D", 1), crashed.ref("D", 2))
    assert counts(sessions) == {"delivered": 1, "submitted": 4}
    with sessions() as session:
        assert store.recovery_counts(session, crashed.dispatch_id) == {
            "uncertain": 4, "reconciled": 1, "resent": 3, "skipped": 0}
        assert list(session.scalars(select(UnmatchedReceipt.message_id))) == ["smsc-x"]


def accept(message_id: str) -> SubmitResult:
    return SubmitResult(outcome=SubmitOutcome.ACCEPTED, message_id=message_id)


def test_partial_results_keep_the_accepted_part(sessions: sessionmaker[Session]) -> None:
    crashed = crash(sessions, recover=False)
    now = datetime.now(UTC)
    ids = crashed.ids
    with sessions.begin() as session:
        tally = store.record_results(session, [
            store.SendResult(ids["A"], (accept("a1"), SubmitResult(
                outcome=SubmitOutcome.NOT_SENT, reason="link shut down")), 0),
            store.SendResult(ids["B"], (accept("b1"), SubmitResult(
                outcome=SubmitOutcome.UNANSWERED, reason="timeout")), 0),
            store.SendResult(ids["C"], (SubmitResult(outcome=SubmitOutcome.TRANSIENT,
                                                     status=0x58), accept("c2")), 0),
            store.SendResult(ids["D"], (accept("d1"), accept("d2")), 0),
        ], carrier=CARRIER, now=now, retry_at=now.timestamp() + 30,
            deadline=now.timestamp() + 3600)
    assert tally == {"pending": 2, "uncertain": 1, "submitted": 1}
    found = rows(sessions, crashed)
    assert {name: (r.status, r.resend_parts, r.parts) for name, r in found.items()} == {
        "A": ("pending", 0b10, {1: "submitted"}),
        "B": ("uncertain", None, {1: "submitted"}),
        "C": ("pending", 0b01, {2: "submitted"}),
        "D": ("submitted", None, {1: "submitted", 2: "submitted"}),
        "E": ("pending", None, {}),
    }
    assert found["B"].uncertain_at == pytest.approx(now.timestamp())
    with sessions() as session:
        a = session.get(Delivery, ids["A"])
        assert a is not None and a.attempts == 1 and a.claimed_by is None
        assert a.next_attempt_at == pytest.approx(now.timestamp() + 30)
    # A second attempt of only part 2 (numbered results) completes A.
    with sessions.begin() as session:
        assert store.record_results(session, [store.SendResult(ids["A"], (accept("a2"),), 1,
                                                               (2,))],
                                    carrier=CARRIER, now=now, retry_at=now.timestamp() + 30,
                                    deadline=now.timestamp() + 3600) == {"submitted": 1}
    found = rows(sessions, crashed)
    assert (found["A"].status, found["A"].resend_parts, found["A"].parts) == (
        "submitted", None, {1: "submitted", 2: "submitted"})


@pytest_twisted.ensureDeferred
async def test_runner_retries_only_the_part_not_sent(
        sessions: sessionmaker[Session], database: DatabaseThreads) -> None:
    with sessions.begin() as session:
        edition_id = seed_edition(session, segments=2)
        numbers = seed_subscribers(session, 3)
    partial = numbers[1]
    link = FakeLink(lambda m, attempt: [accept("p1"), SubmitResult(
        outcome=SubmitOutcome.NOT_SENT, reason="link shut down")]
        if m.destination == partial and attempt == 1 else None)
    await runner_for(database, link).dispatch(edition_id)
    first, second = segments(sessions)
    sent = [m for m in link.sent if m.destination == partial]
    assert [[p.payload for p in m.parts] for m in sent] == [[first, second], [second]]
    with sessions() as session:
        delivery_id = session.scalar(select(Delivery.id).where(Delivery.msisdn == partial))
        assert delivery_id is not None
        assert sent[1].references == (store.part_reference(delivery_id, 2),)
        stored = dict(session.execute(select(DeliveryPart.part, DeliveryPart.message_id)
                                      .where(DeliveryPart.delivery_id == delivery_id)).all())
        assert set(stored) == {1, 2} and stored[1] == "p1"
        row = session.get(Delivery, delivery_id)
        assert row is not None
        assert (row.status, row.attempts, row.resend_parts, row.uncertain_at) == (
            "submitted", 2, None, None)
    assert counts(sessions) == {"submitted": 3}
    assert link.copies() == {numbers[0]: 1, partial: 2, numbers[2]: 1}


def unanswered_second_part(number: str) -> Any:
    def behaviour(message: OutboundMessage, attempt: int) -> list[SubmitResult] | None:
        if message.destination == number and attempt == 1:
            return [accept("u1"), SubmitResult(outcome=SubmitOutcome.UNANSWERED,
                                               reason="response timeout")]
        return None

    return behaviour


@pytest_twisted.ensureDeferred
async def test_unanswered_part_is_resent_alone_after_the_wait(
        sessions: sessionmaker[Session], database: DatabaseThreads) -> None:
    with sessions.begin() as session:
        edition_id = seed_edition(session, segments=2)
        numbers = seed_subscribers(session, 3)
    unsure = numbers[2]
    link = FakeLink(unanswered_second_part(unsure))
    started = reactor.seconds()
    await runner_for(database, link, uncertain_wait=0.2).dispatch(edition_id)
    first, second = segments(sessions)
    sent = [m for m in link.sent if m.destination == unsure]
    assert [[p.payload for p in m.parts] for m in sent] == [[first, second], [second]]
    with sessions() as session:
        row = session.scalar(select(Delivery).where(Delivery.msisdn == unsure))
        assert row is not None
        assert sent[1].references == (store.part_reference(row.id, 2),)
        assert (row.status, row.recovery, row.resend_parts) == ("submitted", "resent", None)
        assert row.uncertain_at is not None and row.uncertain_at >= started
        assert sorted(session.scalars(select(DeliveryPart.part).where(
            DeliveryPart.delivery_id == row.id))) == [1, 2]
        dispatch_id = row.dispatch_id
        assert store.recovery_counts(session, dispatch_id) == {
            "uncertain": 1, "reconciled": 0, "resent": 1, "skipped": 0}
    assert counts(sessions) == {"submitted": 3}


@pytest_twisted.ensureDeferred
async def test_unanswered_part_proven_by_its_receipt_is_not_resent(
        sessions: sessionmaker[Session], database: DatabaseThreads) -> None:
    with sessions.begin() as session:
        edition_id = seed_edition(session, segments=2)
        numbers = seed_subscribers(session, 3)
    unsure = numbers[0]
    behaviour = unanswered_second_part(unsure)
    runner: DispatchRunner

    def echoing(message: OutboundMessage, attempt: int) -> list[SubmitResult] | None:
        results = behaviour(message, attempt)
        if results is not None:
            # The SMSC did take part 2; its receipt echoes the reference, a little later.
            assert message.references is not None
            evidence = receipt(message.destination, message.references[1],
                               message_id="smsc-u2")
            reactor.callLater(0.3, runner.store_receipt, evidence)
        return results

    link = FakeLink(echoing)
    runner = runner_for(database, link, uncertain_wait=1.5)
    await runner.dispatch(edition_id)
    assert link.attempts[unsure] == 1
    with sessions() as session:
        row = session.scalar(select(Delivery).where(Delivery.msisdn == unsure))
        assert row is not None
        assert (row.status, row.recovery) == ("submitted", "reconciled")
        assert dict(session.execute(select(DeliveryPart.part, DeliveryPart.status).where(
            DeliveryPart.delivery_id == row.id)).all()) == {1: "submitted", 2: "delivered"}
        assert row.parts_delivered == 1
    assert counts(sessions) == {"submitted": 3}


def test_purge_unmatched_deletes_only_older_receipts(sessions: sessionmaker[Session]) -> None:
    now = datetime.now(UTC)
    with sessions.begin() as session:
        store.keep_unmatched(session, [
            receipt("13800000001", 17, message_id="old", received_at=now - timedelta(days=8)),
            receipt("13800000002", None, message_id="new", received_at=now - timedelta(days=6)),
        ])
    with sessions() as session:
        kept = {row.message_id: (row.subscriber, row.reference)
                for row in session.scalars(select(UnmatchedReceipt))}
    assert kept == {"old": ("13800000001", 17), "new": ("13800000002", None)}
    with sessions.begin() as session:
        assert store.purge_unmatched(session, received_before=now - timedelta(days=7)) == 1
    with sessions() as session:
        assert list(session.scalars(select(UnmatchedReceipt.message_id))) == ["new"]
    with sessions.begin() as session:
        assert store.purge_unmatched(session, received_before=now - timedelta(days=7)) == 0


def test_an_unsubscribe_cancels_an_uncertain_delivery_so_it_is_not_resent(
        sessions: sessionmaker[Session]) -> None:
    crashed = crash(sessions)
    with sessions.begin() as session:
        subscriber_id = session.scalar(select(Delivery.subscriber_id).where(
            Delivery.id == crashed.ids["D"]))
        assert store.cancel_for_subscriber(session, subscriber_id) == 1
    with sessions.begin() as session:
        done = store.resolve_uncertain(session, crashed.dispatch_id, policy="resend",
                                       before=RECOVERED_AT + 1, now=datetime.now(UTC))
    assert done == {"resent": 3}  # A, B and C; D is cancelled and stays so
    with sessions() as session:
        assert session.scalar(select(Delivery.status).where(
            Delivery.id == crashed.ids["D"])) == "cancelled"


def test_sgip_reports_reconcile_parts_whose_submit_response_was_lost(
        sessions: sessionmaker[Session]) -> None:
    """SGIP: a REPORT names the SUBMIT's own Sequence Number, whose counter word carries the
    part's reference (``carriers.sgip.sequence``). Read by the SGIP translator, such reports
    are evidence like SMPP's echoed references: the uncertain delivery is reconciled."""
    from carriers.sgip.client import SgipClientSettings
    from carriers.sgip.pdus import Report, ReportState, ReportType
    from carriers.sgip.sequence import REFERENCE_FLAG, SequenceNumber, counter_with_reference
    from carriers.sgip.translate import SgipTranslator

    crashed = crash(sessions)
    number = crashed.numbers["A"]
    translator = SgipTranslator(SgipClientSettings(login_name="gw", login_password="pw",
                                                   node_id=3053112345))
    reports = [
        translator.read(Report(
            sequence=SequenceNumber(1, 1202141035, 9 + part),
            submit_sequence=SequenceNumber(3053112345, 1202141030, counter_with_reference(
                40 + part, REFERENCE_FLAG | crashed.ref("A", part))),
            report_type=ReportType.SUBMIT, user_number="86" + number,
            state=ReportState.DELIVERED), carrier=CARRIER, received_at=datetime.now(UTC))
        for part in (1, 2)
    ]
    with sessions.begin() as session:
        left = store.reconcile(session, reports, flag_after=3,  # type: ignore[arg-type]
                               now=datetime.now(UTC))
    assert left == []
    found = rows(sessions, crashed)
    assert (found["A"].status, found["A"].recovery, found["A"].parts) == (
        "delivered", "reconciled", {1: "delivered", 2: "delivered"})
