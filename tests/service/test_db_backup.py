"""``sdgw db backup``: SQLite's online backup while another connection keeps writing, the
copy checked and self-contained, and the refusals."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.db.backup import BackupError, backup_sqlite, sqlite_file
from gateway.db.engine import head_revision, make_engine, make_session_factory, upgrade
from gateway.db.models import Subscriber
from tests.service.dispatch_fixtures import seed_subscribers


@pytest.fixture
def database_file(tmp_path: Path) -> Path:
    path = tmp_path / "sdgw.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with make_session_factory(engine).begin() as session:
        seed_subscribers(session, 2000)
    engine.dispose()
    return path


def test_a_backup_taken_while_another_process_writes_is_a_consistent_copy(
        database_file: Path, tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{database_file}")  # the gateway's kind of writer
    sessions = make_session_factory(engine)
    stop = threading.Event()
    written = [2000]

    def keep_writing() -> None:
        n = 10_000
        while not stop.is_set():
            with sessions.begin() as session:
                seed_subscribers(session, 50, start=n)
            n += 50
            written.append(n - 10_000 + 2000)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        while len(written) < 5:  # the writer is under way
            stop.wait(0.01)
        made = backup_sqlite(database_file, tmp_path / "copy.db")
    finally:
        stop.set()
        writer.join()
    copy = sqlite3.connect(tmp_path / "copy.db")
    try:
        count = copy.execute("SELECT count(*) FROM subscribers").fetchone()[0]
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        copy.close()
    assert count in written  # a snapshot between two of the writer's commits
    assert made.revision == head_revision() and made.size > 0
    assert not list(tmp_path.glob(".copy.db.partial-*"))
    assert not (tmp_path / "copy.db-wal").exists()
    with sessions() as session:  # the writer was never held up for good
        assert session.scalar(select(func.count()).select_from(Subscriber)) == written[-1]
    engine.dispose()


def test_an_existing_target_is_kept_unless_forced(database_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "copy.db"
    target.write_bytes(b"keep me")
    with pytest.raises(BackupError, match="exists; choose another name, or give --force"):
        backup_sqlite(database_file, target)
    assert target.read_bytes() == b"keep me"
    backup_sqlite(database_file, target, replace=True)
    assert target.read_bytes().startswith(b"SQLite format 3\x00")


def test_refusals_say_why(database_file: Path, tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="the database itself"):
        backup_sqlite(database_file, database_file, replace=True)
    with pytest.raises(BackupError, match="no database file"):
        backup_sqlite(tmp_path / "missing.db", tmp_path / "copy.db")
    with pytest.raises(BackupError, match="does not exist"):
        backup_sqlite(database_file, tmp_path / "no" / "copy.db")
    with pytest.raises(BackupError, match="pg_dump"):
        sqlite_file("postgresql+psycopg://sdgw@127.0.0.1/sdgw")
    assert sqlite_file(f"sqlite:///{database_file}") == database_file
