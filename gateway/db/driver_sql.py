"""Statements straight to the database driver, for the hot paths.

A dispatch writes millions of rows and a flood of MOs thousands of small batches; for those
few statements SQLAlchemy's per-statement work (cache keys, compiled-cache look-ups,
parameter and result processing) costs more than SQLite itself. These helpers hand fixed SQL
text to the driver inside the session's transaction. SQL is written with ``?`` placeholders
(turned into ``%s`` for drivers that want them); values must already be in the driver's types
(:func:`time_value` converts the one type that differs, a timezone-aware datetime), and rows
come back as the driver gives them (:func:`time_reader` reads datetimes back as SQLAlchemy
would). Both SQLite (sqlite3) and PostgreSQL (psycopg 3) are supported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

_TIMESTAMP = DateTime(timezone=True)


@lru_cache(maxsize=256)
def _for_driver(sql: str, paramstyle: str) -> str:
    if paramstyle == "qmark":
        return sql
    if "%" in sql:
        raise ValueError(f"SQL for the driver must not contain '%': {sql!r}")
    return sql.replace("?", "%s")


def _connection(session: Session) -> tuple[Any, Dialect]:
    connection = session.connection()
    return connection, connection.dialect


def execute(session: Session, sql: str, params: Sequence[Any] = ()) -> int:
    """One statement; the number of rows it changed."""
    connection, dialect = _connection(session)
    result = connection.exec_driver_sql(_for_driver(sql, dialect.paramstyle), tuple(params))
    return int(result.rowcount or 0)


def execute_many(session: Session, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """One statement for each row (the driver's executemany); nothing when there are none."""
    if not rows:
        return
    connection, dialect = _connection(session)
    connection.exec_driver_sql(_for_driver(sql, dialect.paramstyle), [tuple(r) for r in rows])


def fetch_all(session: Session, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """The rows a query returns, as the driver gives them."""
    connection, dialect = _connection(session)
    cursor = connection.connection.cursor()
    try:
        cursor.execute(_for_driver(sql, dialect.paramstyle), tuple(params))
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        cursor.close()


def insert_ids(session: Session, sql: str, rows: Sequence[Sequence[Any]]) -> list[int]:
    """Run an ``INSERT INTO t (…) VALUES (?, …)`` once per row; the new rows' ids (the
    ``id`` column) in the rows' order."""
    if not rows:
        return []
    connection, dialect = _connection(session)
    cursor = connection.connection.cursor()
    try:
        if dialect.name == "sqlite":
            ids = []
            for row in rows:
                cursor.execute(sql, tuple(row))
                ids.append(int(cursor.lastrowid))
            return ids
        # psycopg 3: one result set per row, in the rows' order.
        cursor.executemany(_for_driver(sql, dialect.paramstyle) + " RETURNING id",
                           [tuple(r) for r in rows], returning=True)
        ids = []
        while True:
            ids.append(int(cursor.fetchone()[0]))
            if not cursor.nextset():
                break
        if len(ids) != len(rows):
            raise RuntimeError(f"{len(rows)} rows inserted but {len(ids)} ids returned")
        return ids
    finally:
        cursor.close()


def in_marks(count: int) -> str:
    """``?, ?, …`` for an IN list of ``count`` values."""
    return ", ".join("?" * count)


@lru_cache(maxsize=8)
def _time_writer(dialect: Dialect) -> Callable[[Any], Any] | None:
    return _TIMESTAMP.dialect_impl(dialect).bind_processor(dialect)


@lru_cache(maxsize=8)
def _time_reader(dialect: Dialect) -> Callable[[Any], Any] | None:
    return _TIMESTAMP.dialect_impl(dialect).result_processor(dialect, None)


def time_value(session: Session, value: datetime | None) -> Any:
    """``value`` as the driver takes it for a timezone-aware DateTime column."""
    if value is None:
        return None
    process = _time_writer(session.get_bind().dialect)
    return process(value) if process is not None else value


def time_writer(session: Session) -> Callable[[datetime | None], Any]:
    """:func:`time_value` as a function of one value, for many rows."""
    process = _time_writer(session.get_bind().dialect)
    if process is None:
        return lambda value: value
    return lambda value: None if value is None else process(value)


def time_reader(session: Session) -> Callable[[Any], datetime | None]:
    """A stored timestamp as the driver returns it → the datetime SQLAlchemy would give."""
    process = _time_reader(session.get_bind().dialect)
    if process is None:
        return lambda value: value
    return lambda value: None if value is None else process(value)
