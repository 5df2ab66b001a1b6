"""Migration 0009 (the MMS edition as a choice, per-subscriber notifications) up and down, on
SQLite and (when configured) PostgreSQL, with rows in the tables it changes."""

from __future__ import annotations

from datetime import UTC, date, datetime

from alembic import command
from sqlalchemy import Engine, inspect, text

from gateway.db.engine import _alembic_config, current_revision, make_engine, upgrade

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def _columns(engine: Engine, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def _indexes(engine: Engine, table: str) -> set[str]:
    return {i["name"] for i in inspect(engine).get_indexes(table)}


def _seed_0008(engine: Engine) -> None:
    """A subscriber with an event and a counted summary row, as schema 0008 holds them."""
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO subscribers (id, msisdn, carrier, short_code, extension, status,"
            " activated_at, message_format, undeliverable_streak, created_at, updated_at)"
            " VALUES (1, '13800138000', 'china_mobile', '10658000', '', 'active', :now, 'sms',"
            " 0, :now, :now)"), {"now": NOW})
        connection.execute(text(
            "INSERT INTO subscription_events (subscriber_id, msisdn, carrier, short_code,"
            " extension, mo_text, old_status, new_status, outcome, at) VALUES (1,"
            " '13800138000', 'china_mobile', '10658000', '', 'Y', 'pending', 'active',"
            " 'welcome', :now)"), {"now": NOW})
        connection.execute(text(
            "INSERT INTO subscriber_counts (carrier, status, count, computed_at)"
            " VALUES ('china_mobile', 'active', 1, :now)"), {"now": NOW})


def test_0009_up_and_down(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine, "0008")
    _seed_0008(engine)

    upgrade(engine, "0009")
    assert current_revision(engine) == "0009"
    assert "message_format" in _columns(engine, "subscription_events")
    assert "mms" in _columns(engine, "subscriber_counts")
    assert "ix_subscribers_carrier_status_format" in _indexes(engine, "subscribers")
    assert "ix_subscribers_carrier_status" not in _indexes(engine, "subscribers")
    tables = set(inspect(engine).get_table_names())
    assert {"mms_notifications", "mms_dispatch_stats"} <= tables
    uniques = {u["name"] for u in inspect(engine).get_unique_constraints("mms_notifications")}
    assert {"uq_mms_notifications_delivery", "uq_mms_notifications_token",
            "uq_mms_notifications_transaction"} <= uniques
    with engine.begin() as connection:
        # Existing rows: the event's format is unknown (not a choice), the count has no MMS.
        assert connection.execute(text(
            "SELECT message_format FROM subscription_events")).scalar_one() is None
        assert connection.execute(text("SELECT mms FROM subscriber_counts")).scalar_one() == 0
        edition = connection.execute(text(
            "INSERT INTO editions (newspaper_date, slot, status, created_at)"
            " VALUES (:day, 'morning', 'frozen', :now) RETURNING id"),
            {"day": date(2026, 12, 3), "now": NOW}).scalar_one()
        dispatch = connection.execute(text(
            "INSERT INTO dispatches (edition_id, carrier, status, cutoff_at, deadline_at,"
            " created_at, total) VALUES (:e, 'china_mobile', 'running', :now, :now, :now, 1)"
            " RETURNING id"), {"e": edition, "now": NOW}).scalar_one()
        delivery = connection.execute(text(
            "INSERT INTO deliveries (dispatch_id, edition_id, subscriber_id, carrier, msisdn,"
            " source_addr, message_format, status, claimed_at, attempts, next_attempt_at,"
            " parts_total, parts_delivered, parts_failed) VALUES (:d, :e, 1, 'china_mobile',"
            " '13800138000', '10658000', 'mms', 'sending', 0, 0, 0, 1, 0, 0) RETURNING id"),
            {"d": dispatch, "e": edition}).scalar_one()
        connection.execute(text(
            "INSERT INTO mms_notifications (delivery_id, dispatch_id, token, transaction_id,"
            " created_at, expires_at) VALUES (:delivery, :d, :token, 'tx1', :now, :now)"),
            {"delivery": delivery, "d": dispatch, "token": "A" * 24, "now": NOW})
        assert connection.execute(text(
            "SELECT retrievals FROM mms_notifications")).scalar_one() == 0

    command.downgrade(_alembic_config(engine), "0008")
    assert current_revision(engine) == "0008"
    assert "message_format" not in _columns(engine, "subscription_events")
    assert "mms" not in _columns(engine, "subscriber_counts")
    assert "ix_subscribers_carrier_status" in _indexes(engine, "subscribers")
    assert not {"mms_notifications", "mms_dispatch_stats"} & set(inspect(engine).get_table_names())
    with engine.begin() as connection:
        assert connection.execute(text("SELECT count(*) FROM subscription_events")).scalar() == 1

    upgrade(engine)
    assert "mms_notifications" in set(inspect(engine).get_table_names())
    engine.dispose()
