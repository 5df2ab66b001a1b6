"""Statements straight to the driver give what SQLAlchemy would (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, select

from gateway.db import driver_sql
from gateway.db.engine import make_session_factory
from gateway.db.models import InboundMessage as InboundRow

INSERT = ("INSERT INTO inbound_messages (carrier, source_addr, destination_addr, text, "
          "carrier_message_id, received_at, outcome) VALUES (?, ?, ?, ?, ?, ?, ?)")
T0 = datetime(2026, 12, 3, 8, 30, 15, 123456, tzinfo=UTC)


def test_inserted_ids_come_back_in_the_rows_order(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        when = driver_sql.time_value(session, T0)
        rows = [("china_mobile", f"1380000{n:04d}", "10658000", f"text {n}", None, when, "x")
                for n in range(300)]
        ids = driver_sql.insert_ids(session, INSERT, rows)
        assert driver_sql.insert_ids(session, INSERT, []) == []
    assert len(ids) == len(set(ids)) == 300
    with sessions.begin() as session:
        stored = dict(session.execute(select(InboundRow.id, InboundRow.text)).all())
    assert [stored[i] for i in ids] == [f"text {n}" for n in range(300)]


def test_timestamps_written_and_read_as_sqlalchemy_does(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    shanghai = T0.astimezone(timezone(timedelta(hours=8)))
    with sessions.begin() as session:
        [raw_id] = driver_sql.insert_ids(session, INSERT, [
            ("china_mobile", "13800000001", "10658000", "SD", "m1",
             driver_sql.time_writer(session)(shanghai), None)])
        session.add(InboundRow(carrier="china_mobile", source_addr="13800000002",
                               destination_addr="10658000", text="SD", received_at=shanghai))
    with sessions.begin() as session:
        orm_id = session.scalar(select(InboundRow.id).where(
            InboundRow.source_addr == "13800000002"))
        read = driver_sql.time_reader(session)
        rows = {row_id: read(value) for row_id, value in driver_sql.fetch_all(
            session, "SELECT id, received_at FROM inbound_messages ORDER BY id")}
        by_orm = dict(session.execute(select(InboundRow.id, InboundRow.received_at)).all())
        # The same comparison in SQL finds both rows, written either way.
        later = driver_sql.fetch_all(session, "SELECT id FROM inbound_messages WHERE "
                                     "received_at >= ?",
                                     (driver_sql.time_value(session, T0 - timedelta(seconds=1)),))
    assert rows == by_orm
    assert rows[raw_id] == rows[orm_id]
    assert {row[0] for row in later} == {raw_id, orm_id}
    assert driver_sql.time_writer(session)(None) is None


def test_changed_rows_are_counted(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        when = driver_sql.time_value(session, T0)
        driver_sql.execute_many(session, INSERT, [
            ("china_mobile", f"1380000000{n}", "10658000", "TD", None, when, None)
            for n in range(3)])
        changed = driver_sql.execute(
            session, "UPDATE inbound_messages SET outcome = 'seen' WHERE source_addr IN "
            f"({driver_sql.in_marks(2)})", ("13800000000", "13800000002"))
    assert changed == 2


def test_sql_for_a_format_paramstyle_driver() -> None:
    assert driver_sql._for_driver("SELECT ? WHERE a = ?", "format") == "SELECT %s WHERE a = %s"
    assert driver_sql._for_driver("SELECT ?", "qmark") == "SELECT ?"
    with pytest.raises(ValueError, match="must not contain"):
        driver_sql._for_driver("SELECT '%' || ?", "format")
