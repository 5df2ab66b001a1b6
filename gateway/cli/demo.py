"""``sdgw demo``: the whole story once, on a fresh demo database, then exit (or, with
``--serve``, keep the gateway and its console running on the demo data)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from twisted.internet import defer, task

from gateway.app import Gateway, build_gateway
from gateway.articles import iter_article_files
from gateway.articles.ingest import ingest_file
from gateway.cli.common import EXIT_FAILED, EXIT_OK, load, setup_logging
from gateway.cli.dispatch_progress import CountingThreads, DispatchProgress
from gateway.cli.progress import CommandProgress
from gateway.cli.reactor import CannotStart, installed_reactor, run_until_stopped, stop_reactor
from gateway.config import CarrierConfig, GatewayConfig, MmsConfig, SimulatorConfig
from gateway.console.auth import add_operator
from gateway.console.rollup import refresh
from gateway.console.service import rollup_settings
from gateway.db.dispatch_models import Delivery, DeliveryPart
from gateway.db.engine import make_engine, upgrade
from gateway.db.file_lock import hold_database
from gateway.db.models import Subscriber
from gateway.db.threads import DatabaseThreads
from gateway.editions.build import build_edition, edition_settings
from gateway.errors import GatewayError
from gateway.free_ports import free_port
from gateway.states import DeliveryGroup, DeliveryStatus, SubscriptionStatus, group_counts

log = logging.getLogger(__name__)

SAMPLE_ARTICLES = Path(__file__).resolve().parents[2] / "data" / "articles"
SAMPLE_DATE = date(2020, 11, 18)
NUMBER_PREFIX = {"china_mobile": "138", "china_unicom": "130", "china_telecom": "133"}
MMS_CHOOSER_EVERY = 4
"""Every fourth subscriber of the story texts CX (the MMS edition)."""


@dataclass(frozen=True, slots=True)
class DemoOptions:
    subscribers_per_carrier: int = 200
    slot: str = "morning"
    timeout: float = 300.0
    serve: bool = False
    """Keep the gateway (and its console) running on the demo database afterwards."""


def demo_config(config: GatewayConfig, *, configured_ports: bool = False) -> GatewayConfig:
    """The configured gateway with quick simulated receipts, on free loopback ports — or, with
    ``configured_ports`` (``--serve``), on the configured ones, so that ``sdgw sim mo`` and
    the console's address work as with ``sdgw run``."""
    carriers = {}
    for name, carrier in config.carriers.items():
        simulator = carrier.simulator
        if configured_ports and simulator is not None:
            port, control = simulator.port, simulator.control_port
        else:
            port, control = free_port(), free_port()
        link = dataclasses.replace(carrier.link, host="127.0.0.1", port=port)
        simulator = simulator or _default_simulator(port)
        simulator = dataclasses.replace(simulator, enabled=True, host="127.0.0.1", port=port,
                                        control_port=control, receipt_delay=0.2, seed=42)
        carriers[name] = dataclasses.replace(carrier, link=link, simulator=simulator,
                                             mms=_demo_mms(carrier.mms, configured_ports))
    if configured_ports:
        return dataclasses.replace(config, carriers=carriers)
    content_port = free_port()
    content = dataclasses.replace(config.content, host="127.0.0.1", port=content_port,
                                  base_url=f"http://127.0.0.1:{content_port}")
    endpoint = dataclasses.replace(config.mm7_endpoint, host="127.0.0.1", port=free_port())
    return dataclasses.replace(config, carriers=carriers, content=content,
                               mm7_endpoint=endpoint)


def _demo_mms(mms: MmsConfig, configured_ports: bool) -> MmsConfig:
    """MM7 through its simulated MMSC with quick reports (on free ports unless
    ``configured_ports``)."""
    mm7 = mms.mm7
    if mms.mode != "mm7" or mm7 is None or mm7.simulator is None:
        return mms
    sim = mm7.simulator
    port, control = ((sim.port, sim.control_port) if configured_ports
                     else (free_port(), free_port()))
    sim = dataclasses.replace(sim, enabled=True, host="127.0.0.1", port=port,
                              control_port=control, report_delay=0.2, seed=42)
    return dataclasses.replace(mms, mm7=dataclasses.replace(
        mm7, url=f"http://127.0.0.1:{port}/mm7", simulator=sim))


def _default_simulator(port: int) -> SimulatorConfig:
    return SimulatorConfig(port=port, control_port=free_port())


def _remove_database(url: str) -> None:
    prefix = "sqlite:///"
    if url.startswith(prefix):
        path = Path(url[len(prefix):])
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def demo_command(args: argparse.Namespace) -> int:
    if args.subscribers < 1:
        raise GatewayError("demo: --subscribers must be at least 1")
    config = load(args)
    setup_logging("warning", config.logging.format)
    demo_database = dataclasses.replace(
        config, database=dataclasses.replace(config.database, url="sqlite:///../var/demo.db"))
    return run_demo(demo_database, DemoOptions(subscribers_per_carrier=args.subscribers,
                                               serve=args.serve))


def run_demo(config: GatewayConfig, options: DemoOptions) -> int:
    """Tell the story on a fresh database (see ``sdgw demo --help``); 0 when it was told to
    the end, or stopped by SIGTERM or Ctrl-C."""
    config = demo_config(config, configured_ports=options.serve)
    hold_database(make_engine(config.database_url), "demo")  # one demo at a time
    _remove_database(config.database_url)
    engine = make_engine(config.database_url)
    upgrade(engine)
    reactor = installed_reactor()
    gateway = build_gateway(config, engine, reactor=reactor, schedule=False, quiet_hours=False,
                            with_console=options.serve, environ={"SDGW_NODE": "demo"},
                            command="demo", exclusive=True)
    result: dict[str, int] = {"code": EXIT_FAILED}
    counting = CountingThreads(config.database_url, reactor=reactor)
    counting.setServiceParent(gateway.root)
    display = CommandProgress()

    def tell() -> None:
        result["told"] = 1
        defer.ensureDeferred(_story(reactor, config, gateway, options, result,
                                    display=display, counting=counting))

    def interrupted() -> None:
        """SIGTERM or Ctrl-C in the middle of the story: the gateway stops (loops give back
        and drain, links unbind, database threads end) before the reactor does; exit 0."""
        if result.get("told") and not result.get("ended"):
            print("  demo stopped (SIGTERM/Ctrl-C) before the end of the story", flush=True)
            result["code"] = EXIT_OK

    try:
        with display:
            run_until_stopped(gateway.root, "demo gateway", then=tell, on_stop=interrupted)
    except CannotStart as exc:  # e.g. a port already in use
        print(f"demo failed: could not start the gateway: {exc.reason}")
        return EXIT_FAILED
    return result["code"]


async def _story(reactor: Any, config: GatewayConfig, gateway: Gateway, options: DemoOptions,
                 result: dict[str, int], *, display: CommandProgress,
                 counting: DatabaseThreads) -> None:
    """The story on the running ``gateway``; then stop the reactor, unless ``--serve`` keeps
    the gateway running (until SIGTERM or Ctrl-C). Each step that waits shows its progress
    on ``display`` (counts read in ``counting``, never on the reactor)."""
    database = gateway.database
    serving = False
    story_started = time.monotonic()
    try:
        await defer.gatherResults([link.when_bound() for link in gateway.links.values()])
        print(f"sdgw demo — {config.newspaper.name}; database {config.database_url}")
        bound = ", ".join(f"{carrier} ({link.protocol.upper()})"
                          for carrier, link in gateway.links.items())
        print(f"  three simulated carriers up, links bound: {bound}")

        numbers = {carrier: [f"{NUMBER_PREFIX.get(carrier, '139')}{n:08d}"
                             for n in range(options.subscribers_per_carrier)]
                   for carrier in gateway.links}
        total = sum(len(v) for v in numbers.values())

        async def wait_until(count: Callable[[Session], int], target: int, what: str,
                             unit: str) -> None:
            """Until ``count`` reaches ``target``, shown as a bar."""
            deadline = time.monotonic() + options.timeout
            bar = display.add(what, total=target, unit=unit)
            while True:
                done = await counting.transaction(count)
                bar.update(completed=min(done, target))
                if done >= target:
                    bar.finish()
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"timed out waiting for {what}")
                await task.deferLater(reactor, 0.2, lambda: None)

        def status_count(status: str) -> Callable[[Session], int]:
            return lambda session: session.scalar(select(func.count()).select_from(Subscriber)
                                                  .where(Subscriber.status == status)) or 0

        for keyword, status in (("SD", SubscriptionStatus.PENDING),
                                ("Y", SubscriptionStatus.ACTIVE)):
            for carrier, carrier_numbers in numbers.items():
                simulator = gateway.simulators[carrier]
                code = config.carriers[carrier].short_code
                for number in carrier_numbers:
                    simulator.inject_mo(number, code, keyword)
            await wait_until(status_count(status), total, f"subscribers texting {keyword}",
                             "subscribers")
            print(f"  {total} subscribers texted {keyword}: all {status} "
                  f"({time.monotonic() - story_started:.1f}s)")

        # Every fourth subscriber chooses the MMS edition: a WAP Push of their own, or an
        # MM7 SubmitReq to the carrier's MMSC where the carrier's mms.mode is "mm7".
        # (Not where the carrier or the number is set up for SMS only: they would be told so.)
        choosers = {carrier: [n for n in carrier_numbers[::MMS_CHOOSER_EVERY]
                              if not n.startswith(tuple(mms.sms_only_prefixes))]
                    for carrier, carrier_numbers in numbers.items()
                    if (mms := config.carriers[carrier].mms).enabled}
        for carrier, carrier_numbers in choosers.items():
            code = config.carriers[carrier].short_code
            for number in carrier_numbers:
                gateway.simulators[carrier].inject_mo(number, code, "CX")
        chose = sum(len(v) for v in choosers.values())
        await wait_until(lambda session: session.scalar(
            select(func.count()).select_from(Subscriber).where(
                Subscriber.message_format == "mms")) or 0, chose,
            "subscribers texting CX", "subscribers")
        modes = ", ".join(f"{carrier} {_mms_mode_name(config.carriers[carrier])}"
                          for carrier in choosers)
        print(f"  {chose} of them texted CX for the MMS edition ({modes})")

        def ingest(session: Session) -> int:
            count = 0
            now = datetime.now(UTC)
            for path in iter_article_files([SAMPLE_ARTICLES]):
                with session.begin_nested():
                    count += len(ingest_file(session, path, now=now))
            return count

        articles = await database.transaction(ingest)
        print(f"  {articles} sample articles ingested from {SAMPLE_ARTICLES}")

        settings = edition_settings(config)
        built = await database.run(lambda: build_edition(
            database.sessions, settings, newspaper_date=SAMPLE_DATE, slot=options.slot,
            now=datetime.now(UTC)))
        renders = ", ".join(f"{c} {k.upper()} {s}" for c, k, s in built.renders)
        print(f"  edition {SAMPLE_DATE}/{options.slot} (#{built.edition_id}) built: {renders}")

        assert gateway.dispatch is not None
        dispatch_started = time.monotonic()
        progress = DispatchProgress(display, counting, built.edition_id, clock=reactor,
                                    period=0.5)
        progress.start()
        try:
            await gateway.dispatch.runner.dispatch(built.edition_id)
        finally:
            await progress.stop()
        dispatch_elapsed = time.monotonic() - dispatch_started

        def receipts_in(session: Session) -> int:
            return session.scalar(select(func.count()).select_from(Delivery).where(
                Delivery.status != DeliveryStatus.SUBMITTED)) or 0

        messages = sum(bar.total or 0 for bar in progress.bars.values())
        await wait_until(receipts_in, int(messages), "receipts", "deliveries")
        receipts_elapsed = time.monotonic() - dispatch_started
        display.close()  # the summary below the bars, not under them
        summary = await database.transaction(summary_figures)
        _print_summary(summary, dispatch_elapsed, receipts_elapsed)
        _print_mms(await database.transaction(mms_figures), config)
        result["code"] = EXIT_OK
        if options.serve:
            await _serve(config, gateway)
            serving = True
    except Exception as exc:  # a demo that cannot finish says why, in one line
        print(f"demo failed: {exc}")
    finally:
        result["ended"] = 1
        display.close()  # the story's bars end with it (also when --serve goes on)
        if not serving:
            stop_reactor()  # the gateway stops first


async def _serve(config: GatewayConfig, gateway: Gateway) -> None:
    """Open the console on the demo data: a fresh admin (as ``sdgw operator add`` makes one)
    and the figures counted now (as ``sdgw report`` counts them)."""
    password = secrets.token_urlsafe(9)
    now = datetime.now(UTC)
    await gateway.database.transaction(
        lambda session: add_operator(session, "demo", "admin", password, now, actor="demo"))
    await gateway.database.transaction(
        lambda session: refresh(session, now, rollup_settings(config)))
    console = config.console
    print()
    print(f"  operator console: http://{console.host}:{console.port}/  "
          f"(name: demo, password: {password})")
    print("  the gateway keeps running on the demo database; Ctrl-C stops it")


def summary_figures(session: Session) -> dict[str, dict[str, int]]:
    """Per carrier: active subscribers, segments sent, and the deliveries per outcome group
    of ``gateway/states.py`` (the figures the console and ``sdgw report`` show)."""
    rows: dict[str, dict[str, int]] = {}
    for carrier, count in session.execute(select(Subscriber.carrier, func.count()).where(
            Subscriber.status == SubscriptionStatus.ACTIVE).group_by(Subscriber.carrier)):
        rows.setdefault(carrier, {})["subscribers"] = count
    by_status: dict[str, dict[str, int]] = {}
    for carrier, status, count in session.execute(select(
            Delivery.carrier, Delivery.status, func.count()).group_by(Delivery.carrier,
                                                                     Delivery.status)):
        by_status.setdefault(carrier, {})[status] = count
    for carrier, counts in by_status.items():
        rows.setdefault(carrier, {}).update(
            {str(group): count for group, count in group_counts(counts).items()})
    for carrier, count in session.execute(select(DeliveryPart.carrier, func.count())
                                          .group_by(DeliveryPart.carrier)):
        rows.setdefault(carrier, {})["segments"] = count
    return rows


def mms_figures(session: Session) -> dict[str, dict[str, int]]:
    """Per carrier, its MMS deliveries per outcome group."""
    by_status: dict[str, dict[str, int]] = {}
    for carrier, status, count in session.execute(
            select(Delivery.carrier, Delivery.status, func.count())
            .where(Delivery.message_format == "mms")
            .group_by(Delivery.carrier, Delivery.status)):
        by_status.setdefault(carrier, {})[status] = count
    return {carrier: {str(group): count for group, count in group_counts(counts).items()}
            for carrier, counts in by_status.items()}


def _mms_mode_name(carrier: CarrierConfig) -> str:
    return "over MM7" if carrier.mms.mode == "mm7" else "by WAP Push"


def _print_mms(rows: dict[str, dict[str, int]], config: GatewayConfig) -> None:
    for carrier in sorted(rows):
        row = rows[carrier]
        evidence = ("the MMSC's delivery reports" if config.carriers[carrier].mms.mode == "mm7"
                    else "the WAP Push's receipts")
        print(f"  MMS edition, {carrier} {_mms_mode_name(config.carriers[carrier])}: "
              f"{sum(row.values())} sent, {row.get('delivered', 0)} delivered ({evidence})")


_SUMMARY_COLUMNS = ("subscribers", "messages", "segments", "delivered", "failed", "other")


def _print_summary(rows: dict[str, dict[str, int]], dispatch_s: float, receipts_s: float
                   ) -> None:
    print()
    print(f"  {'carrier':<14} {'subscribers':>11} {'messages':>8} {'segments':>8} "
          f"{'delivered':>9} {'failed':>6} {'other':>5}")
    totals = dict.fromkeys(_SUMMARY_COLUMNS, 0)
    for carrier in sorted(rows):
        row = rows[carrier]
        values = {name: row.get(name, 0) for name in _SUMMARY_COLUMNS}
        values["messages"] = sum(row.get(group, 0) for group in DeliveryGroup)
        for key, value in values.items():
            totals[key] += value
        print(f"  {carrier:<14} {values['subscribers']:>11} {values['messages']:>8} "
              f"{values['segments']:>8} {values['delivered']:>9} {values['failed']:>6} "
              f"{values['other']:>5}")
    print(f"  {'total':<14} {totals['subscribers']:>11} {totals['messages']:>8} "
          f"{totals['segments']:>8} {totals['delivered']:>9} {totals['failed']:>6} "
          f"{totals['other']:>5}")
    rate = totals["messages"] / dispatch_s if dispatch_s else 0.0
    print(f"  dispatch: {dispatch_s:.2f}s ({rate:.0f} messages/s, "
          f"{totals['segments'] / dispatch_s if dispatch_s else 0:.0f} segments/s at the "
          f"links' configured TPS); all receipts back after {receipts_s:.2f}s")
    print("  (failed = the simulators' configured mix of UNDELIV/EXPIRED receipts; other ="
          " cancelled, skipped, or no receipt in time)")
