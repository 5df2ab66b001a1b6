"""Schema migrations and the message log, on SQLite and (in CI) PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, inspect, select

from carriers.messages import DeliveryReceipt, InboundMessage, ReceiptState
from gateway.db.engine import (
    current_revision,
    ensure_schema_current,
    head_revision,
    make_engine,
    make_session_factory,
    upgrade,
)
from gateway.db.models import InboundMessage as InboundRow
from gateway.db.models import OutboundMessage, OutboundSegment
from gateway.errors import SchemaOutOfDate
from gateway.message_log import apply_receipt, record_inbound

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
