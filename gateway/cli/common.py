"""What every ``sdgw`` command shares: exit statuses, loading the configuration, opening the
database, checking a command-line number, logging."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from gateway.config import GatewayConfig, config_path_from, load_config
from gateway.errors import GatewayError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

_LOADED: list[str] = []
"""The database URL of the configuration loaded last, to name in a connection error."""


def load(args: argparse.Namespace) -> GatewayConfig:
    """The configuration named by ``--config``, else ``$SDGW_CONFIG``, else the default."""
    config = load_config(config_path_from(args.config, os.environ))
    _LOADED.append(config.database_url)
    return config


def open_database(args: argparse.Namespace) -> tuple[GatewayConfig, Any]:
    """The configuration and a session factory on its database; refuses an out-of-date schema
    (naming the command that fixes it)."""
    # Imported here, not above: SQLAlchemy and Alembic take a third of a second, and the
    # commands that never open the database (`sdgw --help`, `config check`, `sim mo`, a
    # one-line configuration error) should not wait for them.
    from gateway.db.engine import ensure_schema_current, make_engine, make_session_factory

    config = load(args)
    engine = make_engine(config.database_url)
    ensure_schema_current(engine, config.path)
    return config, make_session_factory(engine)


def database_errors() -> tuple[type[BaseException], ...]:
    """What a database that cannot be reached raises (SQLAlchemy's wrappers of the driver's
    connection errors)."""
    # Imported only when a command failed (see open_database for why not at the top).
    from sqlalchemy.exc import InterfaceError, OperationalError

    return (OperationalError, InterfaceError)


def unreachable_database(exc: BaseException) -> str:
    """The one line for a database that cannot be reached: the server or file of the
    configuration loaded last, and what to check."""
    from gateway.db.engine import database_error  # lazily, as in open_database

    return database_error(_LOADED[-1] if _LOADED else "?", exc)


def check_number(option: str, value: float | None, low: float, high: float | None = None,
                 *, also: str = "") -> None:
    """Refuse a command-line number outside [low, high] in one line (exit status 2)."""
    if value is None or (value >= low and (high is None or value <= high)):
        return
    wanted = f"from {low:g} to {high:g}" if high is not None else f">= {low:g}"
    raise GatewayError(f"{option} {value:g}: expected a number {wanted}{also}")


def setup_logging(level: str, layout: str = "text") -> None:
    """Log to stderr at ``level`` in ``layout`` (``logging.format``: text lines or JSON
    lines), Twisted's log included."""
    from gateway.log_format import formatter_for

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter_for(layout))
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=[handler])
    # Alembic announces its context on every schema check; that is not news to an operator.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # Twisted is imported by the commands that run the reactor, not by every command.
    from twisted.logger import STDLibLogObserver, globalLogBeginner

    globalLogBeginner.beginLoggingTo([STDLibLogObserver()], redirectStandardIO=False)
