"""sdgw against Kannel, one run, one sink: a million-subscriber edition and Kannel's best.

Run with ``make bench-peers`` (``.venv/bin/python -m bench.peers_bench [--subscribers N]``;
Kannel is installed from Debian's packages when missing, which needs root). Each side talks to
its own fresh ``bench.smpp_sink`` (one SMPP bind, a receipt for every submit that asks for
one, sent at once with no window of its own):

1. Kannel 1.4.5 (``bench.kannel_peer``): HTTP sendsms from concurrent clients → smsbox →
   bearerbox → the sink. Its figure: messages/s at the sink, first to last submit.
2. Seeding: N active subscribers of one carrier on SQLite, and a built edition whose SMS digest
   is two segments.
3. sdgw: ``sdgw``'s own composition root and dispatch runner sends the edition through its
   SMPP link to the sink with receipts requested, every receipt stored and matched, while the
   sink sends ``--mo-rate`` MOs a second (SD, Y, TD from many numbers) and times each reply.
   Its figures: segments/s at the sink (first to last bulk submit), the peak RSS of the
   gateway's processes (sampled from /proc), the MOs' p99 from deliver_sm to the reply's
   submit_sm, and the checks: every subscriber got both parts exactly once (the sink's own
   decoding) and every delivery is ``delivered`` with its two receipts stored; and the CPU
   seconds the gateway used (per segment: a figure a busy machine does not inflate).

Environment: ``SDGW_BENCH_DISPATCH`` replaces the ``[dispatch]`` lines (``;`` between them),
``SDGW_BENCH_LINK`` adds lines to the link's section (``max_unacknowledged = 5000``),
``SDGW_BENCH_PROFILE=file`` records the gateway with py-spy, ``SDGW_BENCH_LOG`` its log level.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.dispatch_bench import (
    DispatchWatch,
    bench_gateway,
    dispatch_timed,
    tally_until_final,
    write_config,
)
from gateway.cli.progress import CommandProgress
from gateway.free_ports import free_port

CARRIER = "china_mobile"
SHORT_CODE = "10658000"
PARTS = 2


def _child(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.peers_bench", *args]


def start_sink(port: int, stats: Path, *, mo_rate: float = 0.0, bulk_expected: int = 0,
               env: dict[str, str]) -> subprocess.Popen[bytes]:
    sink = subprocess.Popen(
        [sys.executable, "-m", "bench.smpp_sink", "--port", str(port), "--stats", str(stats),
         "--receipts", "--parts", str(PARTS), "--short-code", SHORT_CODE,
         "--mo-rate", str(mo_rate), "--bulk-expected", str(bulk_expected)], env=env)
    deadline = time.monotonic() + 15
    while not stats.exists():
        if time.monotonic() > deadline or sink.poll() is not None:
            sink.kill()
            raise RuntimeError("the SMPP sink did not start")
        time.sleep(0.1)
    return sink


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- the gateway side (a child process) --------------------------------------------------------

def run_gateway(config_path: Path, edition_id: int, result_file: Path) -> None:
    from sqlalchemy import func, select
    from twisted.internet import defer, task

    from gateway.db.dispatch_models import Delivery, DeliveryPart
    from gateway.db.models import UnmatchedReceipt
    from gateway.gc_policy import tune_for_long_run

    logging.basicConfig(level=os.environ.get("SDGW_BENCH_LOG", "WARNING"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    gateway = bench_gateway(config_path)

    def tally(session: Any) -> dict[str, Any]:
        return {
            "deliveries": dict(session.execute(select(Delivery.status, func.count())
                                               .group_by(Delivery.status)).all()),
            "parts": dict(session.execute(select(DeliveryPart.status, func.count())
                                          .group_by(DeliveryPart.status)).all()),
            "unmatched_receipts": session.scalar(
                select(func.count()).select_from(UnmatchedReceipt)),
        }

    async def main() -> None:
        dispatched = await dispatch_timed(gateway, edition_id)
        started = time.perf_counter() - dispatched
        _, figures = await tally_until_final(  # the last receipts
            gateway, tally, lambda figures: figures["deliveries"], interval=0.5, limit=1800)
        result_file.write_text(json.dumps({
            "dispatched_s": dispatched, "all_final_s": time.perf_counter() - started,
            **figures}))
        await gateway.root.stopService()

    tune_for_long_run()  # as `sdgw run` does once its tree is built
    task.react(lambda _r: defer.ensureDeferred(main()))


# -- measuring from outside -------------------------------------------------------------------

def tree_rss_kb(root: int) -> int:
    """Resident memory of ``root`` and its descendants, in KiB (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, ()))
        try:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def _children_cpu_s() -> float:
    """User + system CPU seconds of this process's ended children: the gateway's own cost,
    which a busy machine does not inflate the way it does wall-clock rates."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure_sdgw(folder: Path, subscribers: int, *, mo_rate: float, window: int,
                 env: dict[str, str], link_process: bool = False) -> dict[str, Any]:
    port = free_port()
    config = write_config(
        folder, {CARRIER: port}, window, link=f"own_process = {str(link_process).lower()}\n"
        + os.environ.get("SDGW_BENCH_LINK", "").replace(";", "\n"),
        dispatch=os.environ.get("SDGW_BENCH_DISPATCH", "").replace(";", "\n") or
        f"batch_size = 1000\nchunk = 128\nmax_ahead = {max(window * 4, 1024)}\n")
    print(f"seeding {subscribers:,} subscribers …", flush=True)
    seeded_at = time.perf_counter()
    edition_id = int(subprocess.run(
        [sys.executable, "-m", "bench.dispatch_bench", "--phase", "seed", "--args",
         json.dumps({"config": str(config), "subscribers": subscribers,
                     "carriers": [CARRIER]})],
        check=True, stdout=subprocess.PIPE, text=True, env=env).stdout.strip())  # progress
    seed_s = time.perf_counter() - seeded_at
    stats_file, result_file = folder / "sdgw-sink.json", folder / "sdgw-result.json"
    sink = start_sink(port, stats_file, mo_rate=mo_rate, bulk_expected=PARTS * subscribers,
                      env=env)
    print("sdgw dispatching …", flush=True)
    try:
        with open(folder / "gateway.log", "wb") as log:
            profile = os.environ.get("SDGW_BENCH_PROFILE")  # py-spy's collapsed stacks
            wrap = ["py-spy", "record", "--threads", "--subprocesses", "--format", "raw",
                    "--rate", "100",
                    "--output", profile, "--"] if profile else []
            gateway = subprocess.Popen(
                wrap + _child("--phase", "gateway", "--args", json.dumps(
                    {"config": str(config), "edition": edition_id,
                     "result": str(result_file)})),
                env=env, stdout=subprocess.DEVNULL, stderr=log)
            peak_kb = 0
            cpu_before = _children_cpu_s()
            with CommandProgress() as display:
                watch = DispatchWatch(config, edition_id, display)
                read_at = 0.0
                while gateway.poll() is None:
                    peak_kb = max(peak_kb, tree_rss_kb(gateway.pid))
                    if time.monotonic() - read_at >= 2.0:  # counts every 2 s, RSS every 0.2 s
                        watch.read()
                        read_at = time.monotonic()
                    time.sleep(0.2)
                watch.read()
                watch.close()
            cpu_s = _children_cpu_s() - cpu_before
        if gateway.returncode != 0:
            tail = (folder / "gateway.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the gateway failed; the end of its log:\n{tail}")
        time.sleep(1.2)  # the sink rewrites its stats each second
    finally:
        stop(sink)
    return {"seed_s": seed_s, "peak_rss_mb": peak_kb / 1024, "cpu_s": cpu_s,
            "sink": json.loads(stats_file.read_text()),
            "gateway": json.loads(result_file.read_text())}


def measure_kannel(folder: Path, messages: int, clients: int, window: int,
                   env: dict[str, str]) -> dict[str, Any]:
    from bench.kannel_peer import ensure_kannel, run_kannel

    ensure_kannel()
    port = free_port()
    stats_file = folder / "kannel-sink.json"
    sink = start_sink(port, stats_file, env=env)
    try:
        return run_kannel(sink_port=port, sink_stats=stats_file, messages=messages,
                          clients=clients, window=window, workdir=folder / "kannel")
    finally:
        stop(sink)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--kannel-messages", type=int, default=200_000)
    parser.add_argument("--kannel-clients", type=int, default=16)
    parser.add_argument("--kannel-window", type=int, default=16,
                        help="Kannel's max-pending-submits")
    parser.add_argument("--window", type=int, default=256, help="sdgw's link window")
    parser.add_argument("--mo-rate", type=float, default=500.0,
                        help="MOs a second during the dispatch (issue 15's load)")
    parser.add_argument("--skip-kannel", action="store_true")
    parser.add_argument("--link-process", action="store_true",
                        help="run sdgw's link in a worker process of its own "
                             "(link.own_process = true)")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--args", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase == "gateway":
        extra = json.loads(args.args)
        run_gateway(Path(extra["config"]), extra["edition"], Path(extra["result"]))
        return

    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    with tempfile.TemporaryDirectory(prefix="sdgw-peers-") as folder_name:
        folder = Path(folder_name)
        kannel: dict[str, Any] | None = None
        if not args.skip_kannel:
            print(f"Kannel: {args.kannel_messages:,} messages, {args.kannel_clients} HTTP "
                  f"clients, window {args.kannel_window} …", flush=True)
            kannel = measure_kannel(folder, args.kannel_messages, args.kannel_clients,
                                    args.kannel_window, env)
        sdgw = measure_sdgw(folder, args.subscribers, mo_rate=args.mo_rate,
                            window=args.window, env=env,
                            link_process=args.link_process)
    report(args, kannel, sdgw)


def report(args: argparse.Namespace, kannel: dict[str, Any] | None,
           sdgw: dict[str, Any]) -> None:
    sink, gateway = sdgw["sink"], sdgw["gateway"]
    n = args.subscribers
    rate = sink["bulk_rate"] or 0.0
    exact = (sink["numbers"] == n and sink["numbers_complete"] == n
             and sink["duplicate_parts"] == 0 and sink["bulk_submits"] == PARTS * n)
    stored = (gateway["deliveries"] == {"delivered": n}
              and gateway["parts"] == {"delivered": PARTS * n})
    print()
    if kannel is not None:
        print(f"Kannel messages/s (sink, first to last)   {kannel['messages_per_second']:>12,.0f}"
              f"   ({kannel['submits']:,} submits; CPU s bearerbox "
              f"{kannel['cpu_bearerbox_s']:.1f}, smsbox {kannel['cpu_smsbox_s']:.1f})")
    print(f"sdgw segments/s (sink, first to last)     {rate:>12,.0f}"
          f"   ({sink['bulk_submits']:,} segments to {sink['numbers']:,} numbers)")
    if kannel is not None:
        print(f"ratio sdgw / Kannel                       "
              f"{rate / kannel['messages_per_second']:>12.2f}   (target >= 1.3)")
    print(f"sdgw CPU (user + system, whole run)       {sdgw['cpu_s']:>12.1f} s"
          f"   ({sdgw['cpu_s'] * 1e6 / max(sink['bulk_submits'], 1):.0f} µs per segment)")
    print(f"sdgw peak RSS (all its processes)         {sdgw['peak_rss_mb']:>12.0f} MB"
          f"   (target <= 200)")
    print(f"MO replies under load: p50 / p99 / max    {sink['mo_p50_ms']} / {sink['mo_p99_ms']}"
          f" / {sink['mo_max_ms']} ms   ({sink['mo_replied']:,} of {sink['mo_sent']:,} MOs "
          f"answered, {sink['mo_waiting']} unanswered; target p99 < 50)")
    print(f"dispatch returned / every receipt stored  {gateway['dispatched_s']:>9.1f} s / "
          f"{gateway['all_final_s']:.1f} s   (seeded in {sdgw['seed_s']:.0f} s)")
    print(f"deliveries {gateway['deliveries']}; parts {gateway['parts']}; "
          f"receipts matching nothing {gateway['unmatched_receipts']}")
    print(f"every subscriber exactly one copy (sink):  {'yes' if exact else 'NO'}"
          f"   (duplicates {sink['duplicate_parts']}, incomplete {sink['numbers_incomplete']})")
    print(f"every receipt stored and matched (db):     {'yes' if stored else 'NO'}")
    if not (exact and stored):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
