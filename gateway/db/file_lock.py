"""One writer process per SQLite database file.

SQLite has one writer; two gateways on one file would both dispatch and both schedule. A
process that runs the gateway (``sdgw run``, ``sdgw dispatch``, ``sdgw demo``) takes an
exclusive ``flock`` on ``<database>.lock`` beside the file and keeps it while it lives; the
kernel drops it the moment the process dies, even by SIGKILL, so a restart never waits.
Commands that only read or write a few rows (reports, ingest, operators) do not take it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from sqlalchemy import Engine

from gateway.errors import GatewayError

_HELD: dict[Path, IO[str]] = {}


class DatabaseInUse(GatewayError):
    """Another process runs a gateway on this SQLite file."""

    def __init__(self, message: str, holder: str) -> None:
        super().__init__(message)
        self.holder = holder


def lock_path(engine: Engine) -> Path | None:
    """``<database>.lock`` for a SQLite file database; None for anything else."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).resolve().with_name(Path(database).name + ".lock")


def hold_database(engine: Engine, command: str) -> bool:
    """Take this process's exclusive lock on the SQLite file of ``engine`` (kept until exit).

    Returns True when the database is now ours alone (SQLite), False when there is nothing
    to lock (PostgreSQL: processes share it through leases). Raises :class:`DatabaseInUse`
    naming the holder when another process has it.
    """
    path = lock_path(engine)
    if path is None:
        return False
    if path in _HELD:
        return True
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - kept open while we live
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise DatabaseInUse(
            f"{path.with_suffix('')} is in use by {holder}: a SQLite database has one "
            "writer, so one gateway process at a time; stop it first (or use PostgreSQL to "
            "run several)", holder) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"`sdgw {command}` (pid {os.getpid()})\n")
    handle.flush()
    _HELD[path] = handle
    return True
