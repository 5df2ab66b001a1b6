"""Building the console's services: the read-only pool, the figures' refresher, the site."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from twisted.application import service, strports
from twisted.web import server

from gateway.config import GatewayConfig
from gateway.console.auth import auth_settings, purge_expired
from gateway.console.rollup import RollupSettings
from gateway.console.stats import StatsRefresher
from gateway.console.web import Console, ConsoleDependencies
from gateway.db.engine import make_engine, make_session_factory
from gateway.db.threads import DatabaseThreads
from gateway.subscriptions.service import ReplyRenderer, SubscriptionSettings
from gateway.templating import make_environment

log = logging.getLogger(__name__)

READ_THREADS = 2


class _ReadPool(DatabaseThreads):
    """The console's own pool of read-only connections (disposed with the service)."""

    def __init__(self, engine: Engine, *, reactor: Any, owns_engine: bool) -> None:
        super().__init__(make_session_factory(engine), reactor=reactor, threads=READ_THREADS)
        self.setName("console-reads")
        self._engine = engine
        self._owns_engine = owns_engine

    def stopService(self) -> None:
        super().stopService()
        if self._owns_engine:
            self._engine.dispose()


def access_line(timestamp: str, request: Any) -> str:
    """The console's access log line: no query string, as lookups carry phone numbers."""
    path = request.path.decode("ascii", "replace")
    method = request.method.decode("ascii", "replace")
    return (f'{request.getClientAddress().host} - [{timestamp}] "{method} {path}" '
            f"{request.code} {request.sentLength or '-'}")


def read_pool(config: GatewayConfig, engine: Engine, reactor: Any) -> DatabaseThreads:
    """SQLite: a second engine whose transactions only read (a WAL snapshot, never waiting
    for the writer); PostgreSQL: the same engine, other threads."""
    if engine.dialect.name == "sqlite":
        reader = make_engine(config.database_url, read_only=True)
        return _ReadPool(reader, reactor=reactor, owns_engine=True)
    return _ReadPool(engine, reactor=reactor, owns_engine=False)


def rollup_settings(config: GatewayConfig) -> RollupSettings:
    return RollupSettings(zone=ZoneInfo(config.newspaper.timezone),
                          carriers=tuple(config.carriers))


def build_console(
    config: GatewayConfig, *, engine: Engine, writer: DatabaseThreads, reactor: Any,
    subscription_settings: SubscriptionSettings, render_reply: ReplyRenderer,
    send_reply: Any = None, set_paused: Any = None, link_board: Any = None,
) -> tuple[service.MultiService, Console]:
    """The console's services (reads, refresher, HTTP listener) under one parent; add it
    after ``writer`` so it stops first."""
    parent = service.MultiService()
    parent.setName("console")
    reader = read_pool(config, engine, reactor)
    auth = auth_settings(config.console)
    reader.setServiceParent(parent)
    stats = StatsRefresher(
        reader=reader, writer=writer, settings=rollup_settings(config),
        interval=config.console.stats_interval_seconds, clock=reactor,
        now=lambda: datetime.fromtimestamp(reactor.seconds(), UTC),
        housekeeping=lambda session, now: purge_expired(session, now, auth),
    )
    stats.setServiceParent(parent)
    console = Console(ConsoleDependencies(
        config=config, zone=ZoneInfo(config.newspaper.timezone), writer=writer, reader=reader,
        clock=reactor, templates=make_environment(config.templates_path), stats=stats,
        subscription_settings=subscription_settings, render_reply=render_reply,
        send_reply=send_reply, set_paused=set_paused, link_board=link_board))
    site = server.Site(console.app.resource(), logFormatter=access_line)
    site.displayTracebacks = False
    listener = strports.service(
        f"tcp:{config.console.port}:interface={config.console.host}", site, reactor=reactor)
    listener.setName("console-http")
    listener.setServiceParent(parent)
    _Announcement(f"operator console at http://{config.console.host}:{config.console.port}/"
                  ).setServiceParent(parent)
    return parent, console


class _Announcement(service.Service):
    """Logs where the console is, once it listens (services start in order)."""

    def __init__(self, text: str) -> None:
        self.setName("console-announcement")
        self._text = text

    def startService(self) -> None:
        super().startService()
        log.info("%s", self._text)
