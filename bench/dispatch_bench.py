"""One edition to N subscribers (default 1,000,000; SMS, 2 segments each) through the three
simulated SMSCs with their TPS caps lifted, on the embedded SQLite database.

Run with ``.venv/bin/python -m bench.dispatch_bench [--subscribers N]``. Each phase runs in
a process of its own (a Twisted reactor runs once per process, and the peak RSS printed is
the dispatching gateway's alone):

1. the bare link throughput of ``bench.link_bench`` (one SMPP link and its simulator, each in
   a process of its own), measured in this run with the same window;
2. seeding: N active subscribers spread over the three carriers, and a built edition whose
   SMS digest is two segments per carrier;
3. the three simulators in one child process, counting every part they accept per number;
4. the gateway: ``sdgw``'s own composition root and dispatch runner, links with the TPS cap
   lifted, delivery receipts requested and written back as they arrive.

It prints elapsed time, segments/s, the gateway's peak RSS, the ratio of segments/s to the
bare link figure, and checks that every subscriber got exactly one copy (both parts, once).
Progress (seeding, then each carrier's dispatch and the receipts, read from the database) is
shown on stderr: live on a terminal, else a line every ``SDGW_PROGRESS_EVERY`` seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from bench.link_bench import measure_links
from gateway.cli.progress import CommandProgress, ProgressTask
from gateway.free_ports import free_port

T = TypeVar("T")

CARRIERS = ("china_mobile", "china_unicom", "china_telecom")
PREFIX = {"china_mobile": "138", "china_unicom": "130", "china_telecom": "133"}
CODES = {"china_mobile": "10658000", "china_unicom": "106558000678",
         "china_telecom": "106597009"}


def write_config(folder: Path, ports: dict[str, int], window: int, *, tps: float = 0,
                 database_url: str | None = None, dispatch: str | None = None,
                 extra: str = "", link: str = "") -> Path:
    """The gateway's configuration for a benchmark: a link to ``ports[carrier]`` for each
    carrier in ``ports`` (``link``: more lines of each ``[carriers.*.link]``)."""
    sections = []
    for carrier in ports:
        sections.append(f"""
[carriers.{carrier}]
short_code = "{CODES[carrier]}"
[carriers.{carrier}.link]
port = {ports[carrier]}
system_id = "bench"
password = "bench"
tps = {tps}
window = {window}
response_timeout = 60
{link}
""")
    if dispatch is None:
        dispatch = f"batch_size = 2000\nchunk = 256\nmax_ahead = {max(window * 2, 512)}\n"
    path = folder / "bench.toml"
    path.write_text(f"""
[database]
url = "{database_url or f'sqlite:///{folder / "bench.db"}'}"
pool_threads = 2
[newspaper]
name = "山东手机报"
price = "3元/月"
signature = "山东手机报"
[dispatch]
schedule = false
{dispatch}
{extra}
{''.join(sections)}
""", encoding="utf-8")
    return path


# -- phase 2: seeding -------------------------------------------------------------------------

def seed(config_path: Path, subscribers: int, carriers: tuple[str, ...] = CARRIERS) -> int:
    """N active subscribers spread over ``carriers`` and a built edition whose SMS digest is two
    segments on each; returns the edition's id."""
    from datetime import UTC, date, datetime, timedelta

    from sqlalchemy import insert

    from gateway.config import load_config
    from gateway.db.edition_models import Edition, EditionRender, EditionRenderSegment
    from gateway.db.engine import make_engine, make_session_factory, upgrade
    from gateway.db.models import Subscriber
    from gateway.editions.segmentation import segment_text

    config = load_config(config_path)
    engine = make_engine(config.database_url)
    upgrade(engine)
    sessions = make_session_factory(engine)
    now = datetime.now(UTC)
    text = ("【山东手机报】11月18日早报：沙坪坝区中小学“一校一品”创新党建特色品牌；"
            "全省经济运行稳中有进，重点项目建设加快推进；城乡居民收入持续增长，民生保障水平不断提高，"
            "各地春耕生产有序展开。回复TD退订")
    segmented = segment_text(text, reference=42)
    assert len(segmented.segments) == 2, len(segmented.segments)
    with sessions.begin() as session:
        edition = Edition(newspaper_date=date(2020, 11, 18), slot="morning", status="built",
                          article_order=None, created_at=now, built_at=now)
        session.add(edition)
        session.flush()
        for carrier in carriers:
            render = EditionRender(edition_id=edition.id, carrier=carrier, format="sms",
                                   sms_text=text, fitting={}, rendered_at=now)
            session.add(render)
            session.flush()
            for number, segment in enumerate(segmented.segments, 1):
                session.add(EditionRenderSegment(
                    render_id=render.id, number=number, short_message=segment.short_message,
                    coding=segmented.coding, udhi=True))
        edition_id = edition.id
    activated = now - timedelta(days=1)
    chunk = 20_000
    display = CommandProgress().start()
    seeding = display.add("seed subscribers", total=subscribers, unit="subscribers")
    for start in range(0, subscribers, chunk):
        rows = []
        for n in range(start, min(start + chunk, subscribers)):
            carrier = carriers[n % len(carriers)]
            rows.append({
                "msisdn": f"{PREFIX[carrier]}{n:08d}", "carrier": carrier,
                "prefix_carrier": None, "short_code": CODES[carrier], "extension": "",
                "status": "active", "activated_at": activated, "message_format": "sms",
                "undeliverable_streak": 0, "created_at": activated, "updated_at": activated,
            })
        with sessions.begin() as session:
            session.execute(insert(Subscriber), rows)
        seeding.advance(len(rows))
    seeding.finish()
    display.close()
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()  # outside a transaction: a checkpoint cannot run in one
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
    return edition_id


# -- phase 3: the simulators ------------------------------------------------------------------

def serve_simulators(ports: dict[str, int], counts_file: Path, *, echo: bool = True,
                     receipt_delay: float = 1.0) -> None:
    """The three simulated SMSCs in this process, until SIGTERM; then the parts they
    accepted per number and UDH are summed up into ``counts_file``."""
    import random

    from twisted.internet import reactor

    from carriers.simulator.smsc_service import SimulatedSmsc, SimulatorSettings
    from gateway.gc_policy import tune_for_long_run

    parts: Counter[tuple[str, str]] = Counter()

    def count(submit: Any) -> None:
        parts[(submit.destination, submit.udh.hex())] += 1

    for carrier, port in ports.items():
        simulator = SimulatedSmsc(
            SimulatorSettings(carrier=carrier, accounts={"bench": "bench"}, keep_received=1,
                              receipt_delay=receipt_delay, receipt_mix={"DELIVRD": 1.0},
                              echo_reference=echo),
            reactor=reactor, clock=reactor, port=port, rng=random.Random(1))
        simulator.watch(count)
        reactor.callWhenRunning(simulator.startService)

    def dump() -> None:
        per_number: Counter[str] = Counter()
        twice = 0
        for (destination, _udh), seen in parts.items():
            per_number[destination] += 1
            twice += seen > 1
        histogram = Counter(per_number.values())
        counts_file.write_text(json.dumps({
            "numbers": len(per_number), "parts": sum(parts.values()),
            "parts_twice": twice, "parts_per_number": dict(histogram)}))

    reactor.addSystemEventTrigger("before", "shutdown", dump)
    tune_for_long_run()  # as `sdgw run` does once its tree is built
    reactor.run()


# -- phase 4: the gateway -----------------------------------------------------------------------

def bench_gateway(config_path: Path) -> Any:
    """The gateway as the benchmarks run it: ``sdgw``'s own composition root on the config,
    without simulators, console, schedule, quiet hours or content server."""
    from twisted.internet import reactor

    from gateway.app import build_gateway
    from gateway.config import load_config
    from gateway.db.engine import make_engine

    config = load_config(config_path)
    return build_gateway(config, make_engine(config.database_url), reactor=reactor,
                         with_simulators=False, with_console=False, schedule=False,
                         quiet_hours=False, with_content=False, environ={"SDGW_NODE": "bench"})


async def dispatch_timed(gateway: Any, edition_id: int) -> float:
    """Start ``gateway``, wait for its links to bind, send the edition: the seconds the
    dispatch took (until its runner returned)."""
    from twisted.internet import defer

    gateway.root.startService()
    await defer.gatherResults([link.when_bound() for link in gateway.links.values()])
    started = time.perf_counter()
    assert gateway.dispatch is not None
    await gateway.dispatch.runner.dispatch(edition_id)
    return time.perf_counter() - started


async def tally_until_final(
    gateway: Any, tally: Callable[[Any], T], statuses: Callable[[T], Mapping[str, int]], *,
    interval: float, limit: float,
) -> tuple[T, T]:
    """``tally`` (a database read) now, and again every ``interval`` seconds while deliveries
    are still ``submitted`` (their receipts or reports on their way), for at most ``limit``
    seconds: the first and the last figures."""
    from twisted.internet import reactor, task

    first = last = await gateway.database.transaction(tally)
    started = time.perf_counter()
    while statuses(last).get("submitted") and time.perf_counter() - started < limit:
        await task.deferLater(reactor, interval, lambda: None)
        last = await gateway.database.transaction(tally)
    return first, last


def run_gateway(config_path: Path, edition_id: int, result_file: Path) -> None:
    import resource

    from sqlalchemy import func, select
    from twisted.internet import defer, task

    from gateway.db.dispatch_models import Delivery, DeliveryPart

    gateway = bench_gateway(config_path)

    async def main() -> None:
        elapsed = await dispatch_timed(gateway, edition_id)
        started = time.perf_counter() - elapsed

        def tally(session: Any) -> dict[str, Any]:
            return {
                "statuses": dict(session.execute(select(Delivery.status, func.count())
                                                 .group_by(Delivery.status)).all()),
                "parts": session.scalar(select(func.count()).select_from(DeliveryPart)),
            }

        figures, receipts = await tally_until_final(
            gateway, tally, lambda figures: figures["statuses"], interval=1.0, limit=900)
        receipts_s = time.perf_counter() - started
        await gateway.root.stopService()
        result_file.write_text(json.dumps({
            "elapsed": elapsed, "segments": figures["parts"], "statuses": figures["statuses"],
            "after_receipts": receipts["statuses"], "receipts_s": receipts_s,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }))

    task.react(lambda _r: defer.ensureDeferred(main()))


class DispatchWatch:
    """Each carrier's deliveries handled of its total, then the receipts (deliveries no longer
    waiting for one), read from the database on a read-only connection (the gateway's writer
    is never waited for) and shown on ``display``."""

    def __init__(self, config_path: Path, edition_id: int, display: CommandProgress) -> None:
        from gateway.config import load_config
        from gateway.db.engine import make_engine, make_session_factory

        self._engine = make_engine(load_config(config_path).database_url, read_only=True)
        self._sessions = make_session_factory(self._engine)
        self._edition_id = edition_id
        self._display = display
        self.bars: dict[str, ProgressTask] = {}

    def read(self) -> None:
        from sqlalchemy import func, select

        from gateway.db.dispatch_models import Delivery, Dispatch
        from gateway.dispatch.store import open_counts

        with self._sessions() as session:
            counts = open_counts(session, self._edition_id)
            waiting = session.scalar(select(func.count()).select_from(Delivery).where(
                Delivery.dispatch_id.in_(select(Dispatch.id).where(
                    Dispatch.edition_id == self._edition_id)),
                Delivery.status == "submitted")) or 0
        for carrier, (total, still_open) in sorted(counts.items()):
            bar = self.bars.get(carrier)
            if bar is None:
                self.bars[carrier] = bar = self._display.add(
                    f"dispatch {carrier}", total=total, unit="deliveries",
                    completed=total - still_open)
            bar.update(completed=total - still_open)
            if not still_open:
                bar.finish()
        if counts and all(still_open == 0 for _, still_open in counts.values()):
            everyone = sum(total for total, _ in counts.values())
            if "receipts" not in self.bars:
                self.bars["receipts"] = self._display.add("receipts", total=everyone,
                                                          unit="deliveries")
            self.bars["receipts"].update(completed=everyone - waiting)

    def close(self) -> None:
        self._engine.dispose()


def watch_dispatch(config_path: Path, edition_id: int, process: subprocess.Popen[bytes],
                   *, period: float = 2.0) -> None:
    """Show the dispatch's progress (:class:`DispatchWatch`) every ``period`` seconds until
    ``process`` ends, then once more."""
    with CommandProgress() as display:
        watch = DispatchWatch(config_path, edition_id, display)
        try:
            while process.poll() is None:
                watch.read()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=period)
            watch.read()
        finally:
            watch.close()


def _child(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.dispatch_bench", *args]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--link-messages", type=int, default=100_000)
    parser.add_argument("--receipt-delay", type=float, default=1.0,
                        help="seconds before the simulators send each receipt (0: at once)")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--args", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        extra = json.loads(args.args)
        if args.phase == "seed":
            print(seed(Path(extra["config"]), extra["subscribers"],
                       tuple(extra.get("carriers", CARRIERS))))
        elif args.phase == "simulators":
            serve_simulators(extra["ports"], Path(extra["counts"]),
                             echo=extra.get("echo", True),
                             receipt_delay=extra.get("receipt_delay", 1.0))
        elif args.phase == "gateway":
            run_gateway(Path(extra["config"]), extra["edition"], Path(extra["result"]))
        return

    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    with tempfile.TemporaryDirectory(prefix="sdgw-bench-") as folder_name:
        folder = Path(folder_name)
        print(f"bare link: {args.link_messages:,} submits, window {args.window} …", flush=True)
        # bench.link_bench's measurement: one SMPP link and its simulator, one round.
        link = measure_links(args.link_messages, window=args.window, rounds=1,
                             protocols=("smpp",))["smpp"][0]
        ports = {carrier: free_port() for carrier in CARRIERS}
        config = write_config(folder, ports, args.window)
        print(f"seeding {args.subscribers:,} subscribers …", flush=True)
        seeded_at = time.perf_counter()
        edition_id = int(subprocess.run(  # its stderr is ours: the seeding's progress
            _child("--phase", "seed", "--args", json.dumps(
                {"config": str(config), "subscribers": args.subscribers})),
            check=True, stdout=subprocess.PIPE, text=True, env=env).stdout.strip())
        seed_s = time.perf_counter() - seeded_at
        counts_file, result_file = folder / "counts.json", folder / "result.json"
        simulators = subprocess.Popen(
            _child("--phase", "simulators", "--args", json.dumps(
                {"ports": ports, "counts": str(counts_file),
                 "receipt_delay": args.receipt_delay})), env=env)
        try:
            time.sleep(1.5)
            print("dispatching …", flush=True)
            gateway = subprocess.Popen(_child("--phase", "gateway", "--args", json.dumps(
                {"config": str(config), "edition": edition_id, "result": str(result_file)})),
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            watch_dispatch(config, edition_id, gateway)
            if gateway.returncode:
                raise SystemExit(f"the gateway phase failed (exit {gateway.returncode})")
        finally:
            simulators.send_signal(signal.SIGTERM)
            simulators.wait(timeout=120)
        result = json.loads(result_file.read_text())
        counts = json.loads(counts_file.read_text())

    segments_per_s = result["segments"] / result["elapsed"]
    ratio = segments_per_s / link["submits_per_s"]
    exact = (counts["numbers"] == args.subscribers and counts["parts_twice"] == 0
             and counts["parts_per_number"] == {"2": args.subscribers})
    print()
    print(f"subscribers                      {args.subscribers:>14,}  (seeded in {seed_s:.0f}s)")
    print(f"segments submitted               {result['segments']:>14,}")
    print(f"dispatch elapsed                 {result['elapsed']:>14.1f} s")
    print(f"segments/s                       {segments_per_s:>14,.0f}")
    print(f"bare link submit_sm/s (same run) {link['submits_per_s']:>14,.0f}")
    print(f"ratio                            {ratio:>14.2f}   (target >= 0.5)")
    print(f"gateway peak RSS                 {result['peak_rss_mb']:>14.0f} MB (target <= 400)")
    print(f"delivery statuses at the end     {result['statuses']}")
    print(f"all receipts applied after       {result['receipts_s']:>14.1f} s from the start "
          f"({2 * args.subscribers / result['receipts_s']:,.0f} receipts/s overall)")
    print(f"delivery statuses then           {result['after_receipts']}")
    print(f"SMSC side: numbers {counts['numbers']:,}, parts {counts['parts']:,}, "
          f"parts seen twice {counts['parts_twice']}, parts per number "
          f"{counts['parts_per_number']}")
    print(f"every subscriber exactly one copy: {'yes' if exact else 'NO'}")
    if not exact:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
