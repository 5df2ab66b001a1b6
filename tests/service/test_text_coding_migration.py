"""Migration 0007: stored segment codings from SMPP numbers to names and back, on SQLite and
(when configured) PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

from alembic import command
from sqlalchemy import Engine, inspect, text

from gateway.db.engine import _alembic_config, current_revision, make_engine, upgrade

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def _stored_segments(engine: Engine, data_codings: list[int]) -> None:
    """An edition with one render whose segments carry ``data_codings`` (schema 0006)."""
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO editions (id, newspaper_date, slot, status, created_at)"
            " VALUES (1, :day, 'morning', 'built', :now)"
        ), {"day": date(2026, 12, 2), "now": NOW})
        connection.execute(text(
            "INSERT INTO edition_renders (id, edition_id, carrier, format, fitting, rendered_at)"
            " VALUES (1, 1, 'china_mobile', 'sms', '{}', :now)"
        ), {"now": NOW})
        for number, data_coding in enumerate(data_codings, start=1):
            connection.execute(text(
                "INSERT INTO edition_render_segments"
                " (render_id, number, short_message, data_coding, udhi)"
                " VALUES (1, :number, :payload, :data_coding, :udhi)"
            ), {"number": number, "payload": bytes([number]), "data_coding": data_coding,
                "udhi": False})


def _column(engine: Engine, name: str) -> list[object]:
    with engine.connect() as connection:
        return list(connection.execute(text(
            f"SELECT {name} FROM edition_render_segments ORDER BY number"
        )).scalars())


def _segment_columns(engine: Engine) -> dict[str, bool]:
    """Column name → nullable."""
    return {c["name"]: c["nullable"]
            for c in inspect(engine).get_columns("edition_render_segments")}


def test_0007_names_the_codings_and_the_downgrade_numbers_them_again(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine, "0006")
    _stored_segments(engine, [0x00, 0x08, 0x04, 0x03])

    upgrade(engine, "0007")
    assert current_revision(engine) == "0007"
    columns = _segment_columns(engine)
    assert "data_coding" not in columns and columns["coding"] is False
    assert _column(engine, "coding") == ["gsm7", "ucs2", "binary", "binary"]
    assert _column(engine, "short_message") == [b"\x01", b"\x02", b"\x03", b"\x04"]
    schema = inspect(engine)
    assert "ix_edition_render_segments_render_id" in {
        i["name"] for i in schema.get_indexes("edition_render_segments")}
    assert [c["name"] for c in schema.get_unique_constraints("edition_render_segments")] == [
        "uq_edition_render_segments_number"]
    assert [f["referred_table"] for f in schema.get_foreign_keys("edition_render_segments")] == [
        "edition_renders"]

    with engine.begin() as connection:  # what newer protocols store
        connection.execute(text(
            "UPDATE edition_render_segments SET coding = 'ascii' WHERE number = 4"
        ))
    command.downgrade(_alembic_config(engine), "0006")
    assert current_revision(engine) == "0006"
    columns = _segment_columns(engine)
    assert "coding" not in columns and columns["data_coding"] is False
    assert _column(engine, "data_coding") == [0x00, 0x08, 0x04, 0x01]

    upgrade(engine)
    assert _column(engine, "coding") == ["gsm7", "ucs2", "binary", "binary"]
    engine.dispose()
