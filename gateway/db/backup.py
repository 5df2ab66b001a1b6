"""A copy of the SQLite database taken while the gateway runs (``sdgw db backup PATH``).

SQLite's online backup API (``sqlite3.Connection.backup``) copies the pages of one
consistent snapshot: the copy is done in one step, inside one read transaction, which in WAL
mode neither waits for the gateway's writer nor holds it up (a backup taken in several steps
would start again each time the gateway commits, and might never finish). The copy is
written beside the target under a temporary name, checked (``PRAGMA quick_check``), switched
from WAL to a rollback journal so that it is one self-contained file, and only then renamed
to the target: a failed or interrupted backup never leaves a file that looks like a backup.

PostgreSQL is backed up with its own tools (``pg_dump``), not by this module.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from gateway.errors import GatewayError


class BackupError(GatewayError):
    """The backup could not be made; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Backup:
    source: Path
    target: Path
    size: int
    """Bytes of the copy."""
    revision: str | None
    """The schema revision the copy holds (``alembic_version``), None if it has none."""
    seconds: float


def sqlite_file(url: str) -> Path:
    """The file of a SQLite database URL; :class:`BackupError` for any other database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise BackupError(
            f"database.url is {parsed.get_backend_name()}: `sdgw db backup` copies a SQLite "
            "file; back PostgreSQL up with pg_dump (README: Running in production)")
    database = parsed.database or ""
    if not database or database == ":memory:":
        raise BackupError("database.url names no SQLite file to back up")
    return Path(database)


def backup_sqlite(source: Path, target: Path, *, replace: bool = False,
                  busy_timeout: float = 30.0) -> Backup:
    """Copy the database ``source`` to ``target`` (see the module's docstring)."""
    started = time.monotonic()
    if not source.is_file():
        raise BackupError(f"there is no database file {source}")
    if target.exists() and not replace:
        raise BackupError(f"{target} exists; choose another name, or give --force to replace it")
    if target.resolve() == source.resolve():
        raise BackupError(f"{target} is the database itself")
    if not target.parent.is_dir():
        raise BackupError(f"the folder {target.parent} does not exist")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        reader = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True,
                                 timeout=busy_timeout)
        try:
            copy = sqlite3.connect(partial)
            try:
                reader.backup(copy)  # one step: one consistent snapshot
                problems = [row[0] for row in copy.execute("PRAGMA quick_check")]
                if problems != ["ok"]:
                    raise BackupError(f"the copy of {source} failed its check: "
                                      f"{'; '.join(problems[:3])}")
                copy.execute("PRAGMA journal_mode=DELETE")
                revision = _revision(copy)
            finally:
                copy.close()
        finally:
            reader.close()
        os.replace(partial, target)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot back up {source} to {target}: {exc}") from None
    except OSError as exc:
        raise BackupError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return Backup(source=source, target=target, size=target.stat().st_size,
                  revision=revision, seconds=time.monotonic() - started)


def _revision(connection: sqlite3.Connection) -> str | None:
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:  # no such table: not an sdgw database (yet)
        return None
    return str(row[0]) if row else None
