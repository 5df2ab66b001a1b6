"""Schema migrations and the message log, on SQLite and (in CI) PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, inspect, select

from carriers.messages import (
    DeliveryReceipt,
    InboundMessage,
    ReceiptState,
    SubmitOutcome,
    SubmitResult,
)
from gateway.db.engine import (
    current_revision,
    ensure_schema_current,
    head_revision,
    make_engine,
    make_session_factory,
    upgrade,
)
from gateway.db.models import InboundMessage as InboundRow
from gateway.db.models import OutboundMessage, OutboundSegment, UnmatchedReceipt
from gateway.dispatch.store import keep_unmatched
from gateway.errors import SchemaOutOfDate
from gateway.message_log import (
    SubmittedMessage,
    apply_receipt,
    apply_reply_receipts,
    record_inbound,
    record_submit_results,
    record_submitted,
)

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def test_empty_database_is_refused_with_the_fix(database_url: str) -> None:
    engine = make_engine(database_url)
    with pytest.raises(SchemaOutOfDate, match=r"sdgw --config gw.toml db upgrade"):
        ensure_schema_current(engine, "gw.toml")
    upgrade(engine)
    ensure_schema_current(engine, "gw.toml")
    assert current_revision(engine) == head_revision()
    upgrade(engine)  # idempotent
    tables = set(inspect(engine).get_table_names())
    assert {"inbound_messages", "outbound_messages", "outbound_segments"} <= tables
    engine.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/wal.db")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def _outbound_with_segments(engine: Engine, ids: list[str]) -> int:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        message = OutboundMessage(carrier="china_mobile", kind="reply", source_addr="10658000",
                                  destination_addr="13800138000", text="x",
                                  segment_count=len(ids), status="submitted", created_at=NOW)
        session.add(message)
        session.flush()
        for seq, message_id in enumerate(ids, 1):
            session.add(OutboundSegment(outbound_id=message.id, seqnum=seq,
                                        carrier="china_mobile", smsc_message_id=message_id,
                                        status="submitted"))
        return message.id


def _receipt(message_id: str, state: ReceiptState) -> DeliveryReceipt:
    return DeliveryReceipt(carrier="china_mobile", message_id=message_id, state=state,
                           stat=state.name, received_at=NOW)


def test_multi_segment_message_is_delivered_when_every_segment_is(engine: Engine) -> None:
    outbound_id = _outbound_with_segments(engine, ["a1", "a2"])
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        assert apply_receipt(session, _receipt("a1", ReceiptState.DELIVERED))
    with sessions.begin() as session:
        assert session.get(OutboundMessage, outbound_id).status == "submitted"
        assert apply_receipt(session, _receipt("a2", ReceiptState.DELIVERED))
    with sessions.begin() as session:
        assert session.get(OutboundMessage, outbound_id).status == "delivered"


def test_one_failed_segment_fails_the_message(engine: Engine) -> None:
    outbound_id = _outbound_with_segments(engine, ["b1", "b2"])
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        apply_receipt(session, _receipt("b1", ReceiptState.UNDELIVERABLE))
        apply_receipt(session, _receipt("b2", ReceiptState.DELIVERED))
    with sessions.begin() as session:
        assert session.get(OutboundMessage, outbound_id).status == "undeliverable"


def test_unknown_receipt_is_reported(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        assert not apply_receipt(session, _receipt("nope", ReceiptState.DELIVERED))


def test_inbound_is_recorded(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        row_id = record_inbound(session, InboundMessage(
            carrier="china_telecom", source="8613300000000", destination="106597009",
            text="退订", received_at=NOW), "stored")
    with sessions.begin() as session:
        row = session.scalars(select(InboundRow).where(InboundRow.id == row_id)).one()
        assert (row.text, row.outcome) == ("退订", "stored")


def _reply(engine: Engine, text: str = "x") -> int:
    with make_session_factory(engine).begin() as session:
        message = OutboundMessage(carrier="china_mobile", kind="reply", source_addr="10658000",
                                  destination_addr="13800138000", text=text, segment_count=0,
                                  status="queued", created_at=NOW)
        session.add(message)
        session.flush()
        return message.id


def _accepted(*message_ids: str) -> tuple[SubmitResult, ...]:
    return tuple(SubmitResult(outcome=SubmitOutcome.ACCEPTED, message_id=m) for m in message_ids)


def test_replies_results_and_their_receipts_in_one_batch(engine: Engine) -> None:
    """Receipts written with their parts' results are applied as the parts are stored; the
    others stay in the mapping for the receipt path."""
    first, second, third = _reply(engine), _reply(engine), _reply(engine)
    receipts = {("china_mobile", m): _receipt(m, state) for m, state in [
        ("r1", ReceiptState.DELIVERED), ("r2", ReceiptState.DELIVERED),
        ("s1", ReceiptState.UNDELIVERABLE), ("t1", ReceiptState.ENROUTE),
        ("other", ReceiptState.DELIVERED)]}
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        statuses = record_submitted(session, [
            SubmittedMessage(first, "china_mobile", _accepted("r1", "r2")),
            SubmittedMessage(second, "china_mobile", _accepted("s1", "s2")),
            SubmittedMessage(third, "china_mobile", (*_accepted("t1"), SubmitResult(
                outcome=SubmitOutcome.PERMANENT, reason="0x0000000b"))),
        ], NOW, receipts)
    assert statuses == ["delivered", "submitted", "rejected"]
    assert set(receipts) == {("china_mobile", "t1"), ("china_mobile", "other")}
    with sessions() as session:
        assert session.get(OutboundMessage, first).done_at is not None
        parts = {s.smsc_message_id: (s.status, s.seqnum) for s in session.scalars(
            select(OutboundSegment).where(OutboundSegment.outbound_id.in_([second, third])))}
        assert parts == {"s1": ("undeliverable", 1), "s2": ("submitted", 2),
                         "t1": ("submitted", 1), None: ("rejected", 2)}
        assert session.get(OutboundMessage, second).segment_count == 2
    with sessions.begin() as session:  # the second part's receipt finishes the second reply
        left = apply_reply_receipts(session, [
            _receipt("s2", ReceiptState.DELIVERED), _receipt("zz", ReceiptState.DELIVERED),
            _receipt("r1", ReceiptState.ENROUTE)])
    assert [r.message_id for r in left] == ["zz", "r1"]
    with sessions() as session:
        assert session.get(OutboundMessage, second).status == "undeliverable"


def test_a_receipt_kept_before_its_reply_was_stored_is_applied_with_it(engine: Engine) -> None:
    reply = _reply(engine)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        keep_unmatched(session, [_receipt("early", ReceiptState.DELIVERED)])
    with sessions.begin() as session:
        assert record_submit_results(session, reply, "china_mobile", _accepted("early"),
                                     NOW) == "submitted"
    with sessions() as session:
        assert session.get(OutboundMessage, reply).status == "delivered"
        assert session.scalar(select(func.count()).select_from(UnmatchedReceipt)) == 0
