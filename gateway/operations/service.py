"""The operations services ``sdgw run`` starts: the figures' refresher (with a read pool of
its own) and the HTTP listener of ``/metrics``, ``/health`` and ``/ready``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import ProcessCollector
from prometheus_client.registry import CollectorRegistry
from twisted.application import service, strports

from gateway.db.engine import head_revision
from gateway.db.threads import DatabaseThreads
from gateway.dispatch.scheduler import EditionScheduler
from gateway.operations.collectors import (
    DatabaseCollector,
    DispatchCollector,
    InboundCollector,
    LinkCollector,
    SchedulerCollector,
)
from gateway.operations.inbound_figures import InboundFigures
from gateway.operations.link_board import LinkBoard
from gateway.operations.readiness import DatabaseCheck, LinkCheck, Readiness, assess
from gateway.operations.refresher import FiguresRefresher
from gateway.operations.resources import operations_site

log = logging.getLogger(__name__)


class Operations:
    """What the metrics and probes read, put together."""

    def __init__(self, *, board: LinkBoard, inbound: InboundFigures, writer: DatabaseThreads,
                 reader: DatabaseThreads, clock: Any, refresh_seconds: float,
                 link_grace_seconds: float, scheduler: EditionScheduler | None,
                 keep_finished: timedelta = timedelta(days=2),
                 head: str | None = None) -> None:
        self.board = board
        self.clock = clock
        self.grace = link_grace_seconds
        self.stale_after = 3 * refresh_seconds + 5.0
        self.scheduler = scheduler
        self.head = head if head is not None else head_revision()
        self.refresher = FiguresRefresher(reader=reader, interval=refresh_seconds, clock=clock,
                                          keep_finished=keep_finished, on_tick=board.sample)
        self.registry = CollectorRegistry(auto_describe=False)
        now: Callable[[], float] = clock.seconds
        self.registry.register(LinkCollector(board, now))
        self.registry.register(InboundCollector(inbound, tuple(board.links)))
        self.registry.register(DatabaseCollector(writer, self.refresher))
        self.registry.register(DispatchCollector(self.refresher))
        self.registry.register(SchedulerCollector(self._next_runs))
        ProcessCollector(registry=self.registry)

    def _next_runs(self) -> Mapping[str, datetime]:
        if self.scheduler is None or not self.scheduler.healthy:
            return {}
        return self.scheduler.next_fire_times(datetime.fromtimestamp(self.clock.seconds(), UTC))

    def readiness(self) -> Readiness:
        now = self.clock.seconds()
        refresher = self.refresher
        figures = refresher.figures
        return assess(
            now=now,
            links=[LinkCheck(carrier, phase, since)
                   for carrier, phase, since in self.board.phases(now)],
            grace=self.grace,
            database=DatabaseCheck(
                last_ok=refresher.last_ok, error=refresher.error,
                schema_revision=figures.schema_revision if figures else None,
                head_revision=self.head),
            stale_after=self.stale_after,
            scheduler_expected=self.scheduler is not None,
            scheduler_running=self.scheduler is not None and self.scheduler.healthy,
        )


def operations_service(operations: Operations, *, reader: DatabaseThreads, host: str,
                       port: int, reactor: Any) -> service.MultiService:
    """The refresher, its read pool and the HTTP listener under one parent."""
    parent = service.MultiService()
    parent.setName("operations")
    reader.setServiceParent(parent)
    operations.refresher.setServiceParent(parent)
    listener = strports.service(
        f"tcp:{port}:interface={host}",
        operations_site(operations.registry, operations.readiness), reactor=reactor)
    listener.setName("operations-http")
    listener.setServiceParent(parent)
    _Announcement(f"metrics at http://{host}:{port}/metrics (probes /health, /ready)"
                  ).setServiceParent(parent)
    return parent


class _Announcement(service.Service):
    def __init__(self, text: str) -> None:
        self.setName("operations-announcement")
        self._text = text

    def startService(self) -> None:
        super().startService()
        log.info("%s", self._text)
