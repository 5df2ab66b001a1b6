"""The composition root: configuration in, a Twisted service tree out.

Nothing else in the gateway builds engines, links or simulators; everything
is created here from :class:`GatewayConfig` and handed what it needs.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import random
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from twisted.application import service, strports
from twisted.internet import defer
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.python.failure import Failure

from carriers.link.api import CarrierLink
from carriers.link.config import MissingSecret
from carriers.messages import DeliveryReceipt, InboundMessage
from carriers.protocols import PROTOCOLS, LinkParts, SimulatorParts
from carriers.simulator.carrier_service import SimulatedCarrier
from carriers.simulator.control import control_site
from carriers.simulator.mmsc import SimulatedMmsc
from carriers.simulator.server_events import ServerSettings
from carriers.simulator.smsc_service import SimulatorSettings
from gateway.config import CarrierConfig, GatewayConfig
from gateway.console.service import build_console, read_pool
from gateway.console.web import Console
from gateway.db.engine import make_session_factory
from gateway.db.threads import DatabaseThreads
from gateway.dispatch import leases
from gateway.dispatch.mms_notifications import MmsNotificationSettings
from gateway.dispatch.quiet_hours import QuietHours, parse_clock
from gateway.dispatch.runner import DispatchRunner, DispatchSettings
from gateway.dispatch.scheduler import EditionScheduler
from gateway.dispatch.service import DispatchService, LeaseSettings
from gateway.editions.build import edition_settings
from gateway.editions.content_server import build_content_service
from gateway.errors import ConfigError
from gateway.inbound import InboundProcessor
from gateway.link_process.proxy import LinkProcess
from gateway.mm7_service import (
    build_endpoint,
    build_mmsc,
    build_senders,
    endpoint_handlers,
    mm7_carriers,
)
from gateway.operations.inbound_figures import InboundFigures
from gateway.operations.link_board import LinkBoard
from gateway.operations.service import Operations, operations_service
from gateway.subscriptions.service import ReplyRenderer, SubscriptionSettings, make_settings
from gateway.templating import make_environment, render_text

log = logging.getLogger(__name__)

InboundHandler = Callable[[InboundMessage | DeliveryReceipt], "defer.Deferred[Any]"]


class OrderedServices(service.MultiService):
    """Starts children in order and stops them one by one in reverse order.

    Links must unbind before the simulators they talk to go away, and both
    before the database threads stop.
    """

    _stopping: defer.Deferred[None] | None = None

    def stopService(self) -> defer.Deferred[None]:
        """Stop the children in reverse order; a second call while (or after) they stop
        waits for the same stop instead of stopping them twice (a signal and the code that
        ran may both ask)."""
        if self._stopping is not None:
            return _follow(self._stopping)
        service.Service.stopService(self)
        children = list(self)[::-1]

        @defer.inlineCallbacks
        def stop_in_turn() -> Any:
            for child in children:
                if child.running:
                    yield defer.maybeDeferred(child.stopService)

        self._stopping = stop_in_turn()
        return _follow(self._stopping)

    def startService(self) -> None:
        self._stopping = None
        super().startService()


def _follow(deferred: defer.Deferred[Any]) -> defer.Deferred[None]:
    """A Deferred that fires when ``deferred`` does (the first follower gets its failure)."""
    waiter = defer.Deferred[None]()

    def done(result: object) -> None:
        if isinstance(result, Failure):
            waiter.errback(result)
        else:
            waiter.callback(None)

    deferred.addBoth(done)
    return waiter


@dataclass(slots=True)
class Gateway:
    """The running gateway's parts, for the CLI and tests to reach into."""

    root: service.MultiService
    database: DatabaseThreads
    links: dict[str, CarrierLink] = field(default_factory=dict)
    inbound: InboundProcessor | None = None
    dispatch: DispatchService | None = None
    scheduler: EditionScheduler | None = None
    console: Console | None = None
    simulators: dict[str, SimulatedCarrier] = field(default_factory=dict)
    board: LinkBoard | None = None
    inbound_figures: InboundFigures | None = None
    operations: Operations | None = None
    mmscs: dict[str, SimulatedMmsc] = field(default_factory=dict)
    """Simulated MMSCs (MM7) by carrier."""


def simulator_settings(carrier: str, config: CarrierConfig) -> SimulatorSettings:
    """The simulator for ``carrier`` accepts the gateway link's own login and secret."""
    sim = config.simulator
    assert sim is not None
    return SimulatorSettings(
        carrier=carrier,
        accounts={config.link.login: config.resolved_secret()},
        smsc=ServerSettings(tps=sim.tps, window=sim.window),
        receipt_delay=sim.receipt_delay,
        receipt_mix=dict(sim.receipt_mix),
        echo_reference=sim.echo_reference,
    )


def build_simulator(
    carrier: str, config: CarrierConfig, *, reactor: Any, parent: service.MultiService,
    port: int | None = None, control_port: int | None = None,
) -> SimulatedCarrier:
    """The simulated carrier speaking the link's protocol, and its control endpoint."""
    sim = config.simulator
    assert sim is not None
    try:
        simulator = PROTOCOLS[config.link.protocol].build_simulator(
            simulator_settings(carrier, config),
            SimulatorParts(reactor=reactor, clock=reactor, host=sim.host,
                           port=sim.port if port is None else port,
                           rng=random.Random(sim.seed), link=config.link),
        )
    except MissingSecret as exc:
        raise ConfigError("environment", exc.variable, str(exc)) from None
    simulator.setServiceParent(parent)
    control = strports.service(
        f"tcp:{sim.control_port if control_port is None else control_port}:interface={sim.host}",
        control_site(simulator, reactor),
    )
    control.setName(f"simulator-control:{carrier}")
    control.setServiceParent(parent)
    return simulator


def build_link(
    carrier: str, config: CarrierConfig, *, reactor: Any, on_inbound: InboundHandler,
    tps_share: float = 1.0,
) -> CarrierLink:
    """The link to ``carrier`` in the protocol its configuration names (not started)."""
    link = config.link
    endpoint = TCP4ClientEndpoint(reactor, link.host, link.port, timeout=link.connect_timeout)
    parts = LinkParts(carrier=carrier, secret=config.resolved_secret(), endpoint=endpoint,
                      clock=reactor, on_inbound=on_inbound, tps_share=tps_share)
    try:
        built = PROTOCOLS[link.protocol].build_link(link, parts)
    except MissingSecret as exc:  # another secret the link reads (SGIP's SMG password)
        raise ConfigError("environment", exc.variable, str(exc)) from None
    if link.own_process:
        # Built above only to refuse here, at start, what the worker could not build.
        return LinkProcess(carrier=carrier, config=link, secret=parts.secret,
                           on_inbound=on_inbound, reactor=reactor, tps_share=tps_share)
    return built


def subscription_settings(config: GatewayConfig) -> SubscriptionSettings:
    subs = config.subscriptions
    return make_settings(
        short_codes={name: c.short_code for name, c in config.carriers.items()},
        newspaper={"name": config.newspaper.name, "price": config.newspaper.price,
                   "signature": config.newspaper.signature},
        confirm_window=timedelta(hours=subs.confirm_window_hours),
        help_period=timedelta(minutes=subs.help_period_minutes),
        duplicate_window=timedelta(seconds=subs.duplicate_window_seconds),
        sms_only_carriers=[name for name, c in config.carriers.items() if not c.mms.enabled],
        sms_only_prefixes={name: c.mms.sms_only_prefixes for name, c in config.carriers.items()},
    )


def reply_renderer(config: GatewayConfig) -> ReplyRenderer:
    """Replies are rendered from the templates as they were when the gateway started (edit
    them, then restart), and each distinct (template, context) once: a reply's text depends
    on nothing else, and an MO flood asks for the same few texts thousands of times."""
    environment = make_environment(config.templates_path, auto_reload=False)

    @functools.lru_cache(maxsize=1024)
    def render(name: str, context_json: str) -> str:
        return render_text(environment, name, **json.loads(context_json))

    return lambda name, context: render(
        name, json.dumps(context, ensure_ascii=False, sort_keys=True))


def node_name(config: GatewayConfig, environ: Mapping[str, str], command: str = "run") -> str:
    """This process's node name among those dispatching from one database: ``SDGW_NODE``,
    else ``dispatch.node``, else host, command and a digest of the config file's path."""
    if environ.get("SDGW_NODE"):
        return environ["SDGW_NODE"][:48]
    if config.dispatch.node:
        return config.dispatch.node
    digest = hashlib.sha1(str(config.path.resolve()).encode()).hexdigest()[:8]
    return f"{socket.gethostname()[:30]}:{command}:{digest}"


def take_lease(config: GatewayConfig, engine: Engine, *, command: str, now: float,
               environ: Mapping[str, str], exclusive: bool = False) -> LeaseSettings:
    """This process's dispatch lease, taken at once (a live holder of the node name is
    refused with :class:`leases.NodeTaken`); run before the reactor starts."""
    request = leases.LeaseRequest(node=node_name(config, environ, command),
                                  host=socket.gethostname(), pid=os.getpid(), command=command)
    policy = leases.LeasePolicy(ttl=config.dispatch.lease_seconds, exclusive=exclusive)
    with make_session_factory(engine).begin() as session:
        claim = leases.acquire(session, request, now=now, policy=policy)
    log.info("dispatch node %r (claims %s)", request.node, claim)
    return LeaseSettings(claim=claim, request=request, policy=policy)


def dispatch_settings(config: GatewayConfig, node: str, *, quiet: bool = True
                      ) -> DispatchSettings:
    d = config.dispatch
    zone = ZoneInfo(config.newspaper.timezone)
    quiet_hours = {}
    if quiet:
        for name, carrier in config.carriers.items():
            quiet_hours[name] = QuietHours(parse_clock(carrier.quiet_start or d.quiet_start),
                                           parse_clock(carrier.quiet_end or d.quiet_end), zone)
    return DispatchSettings(
        node=node, batch_size=d.batch_size, chunk=d.chunk, max_ahead=d.max_ahead or 512,
        max_ahead_by_carrier={name: d.max_ahead or carrier.link.window
                              for name, carrier in config.carriers.items()},
        retry_initial=d.retry_initial_seconds, retry_max=d.retry_max_seconds,
        deadline=timedelta(hours=d.deadline_hours), flag_after=d.flag_after, quiet=quiet_hours,
        uncertain_wait=d.uncertain_wait_seconds, uncertain_policy=d.uncertain,
        mms=MmsNotificationSettings(base_url=config.content.base_url,
                                    expiry=timedelta(hours=config.editions.mms_expiry_hours)),
    )


def build_gateway(
    config: GatewayConfig,
    engine: Engine,
    *,
    reactor: Any,
    with_simulators: bool = True,
    inbound_handler: Callable[[Gateway], InboundHandler] | None = None,
    schedule: bool | None = None,
    environ: Mapping[str, str] | None = None,
    quiet_hours: bool = True,
    with_content: bool = True,
    with_console: bool | None = None,
    command: str = "run",
    exclusive: bool = False,
    on_lease_lost: Callable[[], object] | None = None,
    with_metrics: bool = False,
) -> Gateway:
    """The service tree of a gateway. Takes this process's dispatch lease at once (see
    :func:`take_lease`; ``exclusive`` when the caller holds the SQLite file lock).
    ``with_metrics``: serve ``/metrics``, ``/health`` and ``/ready`` on ``metrics.host:port``
    (``sdgw run`` passes ``metrics.enabled``)."""
    lease = take_lease(config, engine, command=command, now=reactor.seconds(),
                       environ=os.environ if environ is None else environ, exclusive=exclusive)
    root = OrderedServices()
    database = DatabaseThreads(
        make_session_factory(engine), reactor=reactor,
        # SQLite has one writer: a second thread would only wait in its busy handler.
        threads=1 if engine.dialect.name == "sqlite" else config.database.pool_threads,
    )
    database.setServiceParent(root)
    gateway = Gateway(root=root, database=database)
    mm7_senders = build_senders(config, database=database, reactor=reactor)
    runner = DispatchRunner(
        database=database, links=gateway.links, clock=reactor,
        settings=dispatch_settings(config, lease.claim, quiet=quiet_hours),
        mms_senders=mm7_senders,
    )
    processor = InboundProcessor(
        database=database,
        links=gateway.links,
        settings=subscription_settings(config),
        render=reply_renderer(config),
        clock=reactor,
        receipts=runner.store_receipt,
        submitted=runner.store_submitted,
        link_protocols={name: c.link.protocol for name, c in config.carriers.items()},
    )
    gateway.inbound = processor
    gateway.inbound_figures = figures = InboundFigures()
    processor.observe_mo = figures.mo_handled
    processor.observe_reply = figures.reply_sent
    handler = inbound_handler(gateway) if inbound_handler is not None else processor
    started = datetime.fromtimestamp(reactor.seconds(), UTC)
    # Simulators start before links so the first connection attempt finds them.
    if with_simulators:
        for carrier, carrier_config in config.carriers.items():
            if carrier_config.simulator is not None and carrier_config.simulator.enabled:
                gateway.simulators[carrier] = build_simulator(
                    carrier, carrier_config, reactor=reactor, parent=root
                )
        for carrier, carrier_config in mm7_carriers(config).items():
            mm7 = carrier_config.mm7
            if mm7 is not None and mm7.simulator is not None and mm7.simulator.enabled:
                gateway.mmscs[carrier] = build_mmsc(carrier, config, reactor=reactor)
                gateway.mmscs[carrier].setServiceParent(root)
    if with_content:
        reader = read_pool(config, engine, reactor)  # the console's kind: reads beside the writer
        reader.setServiceParent(root)
        content = build_content_service(config, reader, database, reactor)
        content.setServiceParent(root)
    if mm7_senders:  # the MMSCs' reports and MO MMS come in here
        build_endpoint(config, endpoint_handlers(store_receipt=runner.store_receipt,
                                                 handle_mo=handler, clock=reactor),
                       senders=mm7_senders).setServiceParent(root)
    share = 1.0 / config.dispatch.cluster_size
    for carrier, carrier_config in config.carriers.items():
        link = build_link(carrier, carrier_config, reactor=reactor, on_inbound=handler,
                          tps_share=share)
        link.setServiceParent(root)
        gateway.links[carrier] = link
        link.when_bound().addCallback(
            lambda _, carrier=carrier: processor.resend_queued(carrier, started)
        )
    zone = ZoneInfo(config.newspaper.timezone)
    gateway.board = LinkBoard(
        links=gateway.links, simulators=gateway.simulators,
        tps_caps={name: c.link.tps * share for name, c in config.carriers.items()},
        day_start=lambda now: _day_start(now, zone))
    dispatch = DispatchService(
        runner=runner, database=database, edition_settings=edition_settings(config),
        receipt_timeout=timedelta(hours=config.dispatch.receipt_timeout_hours), clock=reactor,
        lease=lease, on_lease_lost=on_lease_lost,
        stop_timeout=max((c.link.unbind_timeout for c in config.carriers.values()),
                         default=5.0),
        unmatched_retention=timedelta(days=config.dispatch.unmatched_receipt_days))
    dispatch.setServiceParent(root)
    gateway.dispatch = dispatch
    if config.dispatch.schedule if schedule is None else schedule:
        scheduler = EditionScheduler(
            engine=engine, database=database,
            slots={name: parse_clock(slot.time) for name, slot in config.editions.slots.items()},
            zone=ZoneInfo(config.newspaper.timezone),
            misfire_grace=timedelta(minutes=config.dispatch.misfire_grace_minutes),
            action=dispatch.perform_slot, node=lease.request.node, reactor=reactor,
        )
        scheduler.setServiceParent(root)
        gateway.scheduler = scheduler
    if config.console.enabled if with_console is None else with_console:
        console_service, gateway.console = build_console(
            config, engine=engine, writer=database, reactor=reactor,
            subscription_settings=subscription_settings(config),
            render_reply=reply_renderer(config),
            send_reply=processor.send_reply, set_paused=runner.set_paused,
            link_board=gateway.board)
        console_service.setServiceParent(root)
    if with_metrics:
        metrics = config.metrics
        ops_reader = read_pool(config, engine, reactor)
        gateway.operations = Operations(
            board=gateway.board, inbound=figures, writer=database, reader=ops_reader,
            clock=reactor, refresh_seconds=metrics.refresh_seconds,
            link_grace_seconds=metrics.link_grace_seconds, scheduler=gateway.scheduler,
            keep_finished=timedelta(hours=config.dispatch.receipt_timeout_hours))
        operations_service(gateway.operations, reader=ops_reader, host=metrics.host,
                           port=metrics.port, reactor=reactor).setServiceParent(root)
    return gateway


def _day_start(now: float, zone: ZoneInfo) -> float:
    """When the day of ``now`` began in ``zone`` (Unix time)."""
    local = datetime.fromtimestamp(now, zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
