"""Shared fixtures: databases (SQLite always, PostgreSQL when configured) and free ports."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from gateway.db.engine import make_engine, upgrade
from gateway.free_ports import free_port as free_port  # the tests take it from here

POSTGRES_ENV = "SDGW_TEST_POSTGRES_URL"
REPO_ROOT = Path(__file__).resolve().parent.parent


def _backends() -> list[str]:
    backends = ["sqlite"]
    if os.environ.get(POSTGRES_ENV):
        backends.append("postgresql")
    return backends


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str | None]:
    """A database of our own on the test PostgreSQL server, dropped at the end."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        yield None
        return
    name = f"sdgw_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as connection:
        connection.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"
        ), {"name": name})
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))  # we created it
    admin.dispose()


@pytest.fixture(params=_backends())
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_server_url: str | None
) -> Iterator[str]:
    """An empty database: a fresh SQLite file, or a fresh schema-less PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    assert postgres_server_url is not None
    engine = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    yield postgres_server_url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a database upgraded to the newest schema."""
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def database(engine: Engine) -> Iterator[Any]:
    """A running database thread pool (the gateway's DatabaseThreads) on ``engine``."""
    from twisted.internet import reactor

    from gateway.db.engine import make_session_factory
    from gateway.db.threads import DatabaseThreads

    threads = DatabaseThreads(make_session_factory(engine), reactor=reactor, threads=2)
    threads.startService()
    yield threads
    threads.stopService()
