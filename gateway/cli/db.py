"""``sdgw db upgrade`` and ``sdgw db current`` (the database schema), ``sdgw db backup``."""

from __future__ import annotations

import argparse
from pathlib import Path

from gateway.cli.common import EXIT_OK, load
from gateway.db.engine import current_revision, head_revision, make_engine, upgrade


def upgrade_command(args: argparse.Namespace) -> int:
    config = load(args)
    engine = make_engine(config.database_url)
    before = current_revision(engine)
    upgrade(engine)
    after = current_revision(engine)
    if before == after:
        print(f"database already at {after}")
    else:
        print(f"database upgraded from {before or 'empty'} to {after}")
    return EXIT_OK


def current_command(args: argparse.Namespace) -> int:
    config = load(args)
    engine = make_engine(config.database_url)
    print(f"database: {current_revision(engine) or 'empty'}; code: {head_revision()}")
    return EXIT_OK


def backup_command(args: argparse.Namespace) -> int:
    from gateway.db.backup import backup_sqlite, sqlite_file

    config = load(args)
    made = backup_sqlite(sqlite_file(config.database_url), Path(args.path),
                         replace=args.force)
    print(f"backed up {made.source} to {made.target}: {made.size / 2**20:.1f} MiB, schema "
          f"{made.revision or 'none'}, checked, in {made.seconds:.1f}s")
    return EXIT_OK
