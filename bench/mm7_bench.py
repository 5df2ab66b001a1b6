"""One MMS edition to N subscribers (default 100,000) of a carrier in MM7 mode, against the
simulated MMSC in another process, on the embedded SQLite database.

Run with ``.venv/bin/python -m bench.mm7_bench [--subscribers N]``. Phases, each in a process
of its own (the peak RSS printed is the gateway's alone):

1. seeding: N active China Mobile subscribers who chose MMS, and a built edition whose MMS
   (cover, four article pages, two JPEG images) is stored as its m-retrieve-conf;
2. the simulated MMSC (and the simulated SMSC the carrier's SMS link binds to) in one child
   process: it answers every SubmitReq (the whole MIME body of one in 50 read with the email
   package, the SOAP part of every one), and posts a
   DeliveryReportReq (Retrieved) to the gateway's MM7 endpoint a second later;
3. the gateway: ``sdgw``'s own composition root and dispatch runner; each delivery is one
   SubmitReq (SOAP + the MMS as MIME) over a window of persistent HTTP connections, with no
   rate cap; the reports come back to its MM7 endpoint and are stored.

It prints submissions/s, the time until every report was stored, the gateway's peak RSS and
the delivery statuses, and checks that the MMSC got exactly one SubmitReq per subscriber.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gateway.free_ports import free_port

CODE = "10658000"


def write_config(folder: Path, ports: dict[str, int], window: int) -> Path:
    path = folder / "bench.toml"
    path.write_text(f"""
[database]
url = "sqlite:///{folder / 'bench.db'}"
[newspaper]
name = "山东手机报"
price = "3元/月"
signature = "山东手机报"
[dispatch]
schedule = false
batch_size = 2000
chunk = 256
max_ahead = {window}
[mm7_endpoint]
port = {ports['endpoint']}
username = "bench_mmsc"
password = "bench"
max_body_bytes = 1000000
[carriers.china_mobile]
short_code = "{CODE}"
[carriers.china_mobile.link]
port = {ports['smsc']}
system_id = "bench"
password = "bench"
[carriers.china_mobile.mms]
mode = "mm7"
[carriers.china_mobile.mms.mm7]
url = "http://127.0.0.1:{ports['mmsc']}/mm7"
vasp_id = "901234"
vas_id = "SDSJB"
service_code = "SDSJB"
username = "bench"
password = "bench"
rate = 0
window = {window}
timeout = 60
""", encoding="utf-8")
    return path


def _jpeg(seed: int) -> bytes:
    import io
    import random

    from PIL import Image

    rng = random.Random(seed)
    image = Image.new("RGB", (240, 160))
    image.putdata([(rng.randrange(256), rng.randrange(256), 128) for _ in range(240 * 160)])
    out = io.BytesIO()
    image.save(out, "JPEG", quality=40)
    return out.getvalue()


def seed(config_path: Path, subscribers: int) -> tuple[int, int]:
    """N MMS subscribers and a built edition with its MMS; returns (edition id, MMS size)."""
    from datetime import UTC, date, datetime, timedelta

    from sqlalchemy import insert

    from gateway.config import load_config
    from gateway.db.edition_models import Edition, EditionRender, EditionRenderSegment
    from gateway.db.engine import make_engine, make_session_factory, upgrade
    from gateway.db.models import Subscriber
    from gateway.editions.mms import MmsHeaders, MmsImage, MmsPage, encode_retrieve_conf

    config = load_config(config_path)
    engine = make_engine(config.database_url)
    upgrade(engine)
    sessions = make_session_factory(engine)
    now = datetime.now(UTC)
    text = ("全省经济运行稳中有进，重点项目建设加快推进；城乡居民收入持续增长，民生保障水平"
            "不断提高，各地春耕生产有序展开。") * 4
    pages = [MmsPage(text="山东手机报 2020年11月18日 早报")]
    for number in range(4):
        image = (MmsImage(data=_jpeg(number), content_type="image/jpeg")
                 if number < 2 else None)
        pages.append(MmsPage(text=f"第{number + 1}篇 {text}", image=image))
    pdu = encode_retrieve_conf(MmsHeaders(transaction_id="bench", date=now,
                                          subject="山东手机报 早报"), pages)
    with sessions.begin() as session:
        edition = Edition(newspaper_date=date(2020, 11, 18), slot="morning", status="built",
                          article_order=None, created_at=now, built_at=now)
        session.add(edition)
        session.flush()
        render = EditionRender(edition_id=edition.id, carrier="china_mobile", format="mms",
                               mms_pdu=pdu, mms_size=len(pdu), mms_pages=[],
                               content_location="http://127.0.0.1/mms/1/china_mobile",
                               fitting={}, rendered_at=now)
        session.add(render)
        session.flush()
        session.add(EditionRenderSegment(render_id=render.id, number=1,
                                         short_message=b"\x06\x05\x04\x0b\x84\x23\xf0",
                                         coding="binary", udhi=True))
        edition_id = edition.id
    activated = now - timedelta(days=1)
    for start in range(0, subscribers, 20_000):
        with sessions.begin() as session:
            session.execute(insert(Subscriber), [{
                "msisdn": f"138{n:08d}", "carrier": "china_mobile", "prefix_carrier": None,
                "short_code": CODE, "extension": "", "status": "active",
                "activated_at": activated, "message_format": "mms",
                "undeliverable_streak": 0, "created_at": activated, "updated_at": activated,
            } for n in range(start, min(start + 20_000, subscribers))])
    return edition_id, len(pdu)


def serve_mmsc(ports: dict[str, int], counts_file: Path) -> None:
    """The simulated MMSC and SMSC in this process, until SIGTERM; then its counters and the
    recipients it got (how many distinct, how many twice) go to ``counts_file``."""
    import random
    from collections import Counter

    from twisted.internet import reactor

    from carriers.simulator.mmsc import MmscSettings, SimulatedMmsc
    from carriers.simulator.smsc_service import SimulatedSmsc, SimulatorSettings
    from gateway.gc_policy import tune_for_long_run

    smsc = SimulatedSmsc(SimulatorSettings(carrier="china_mobile", accounts={"bench": "bench"},
                                           keep_received=1), reactor=reactor, clock=reactor,
                         port=ports["smsc"], rng=random.Random(1))
    mmsc = SimulatedMmsc(MmscSettings(
        carrier="china_mobile", accounts={"bench": "bench"},
        gateway_url=f"http://127.0.0.1:{ports['endpoint']}/mm7/china_mobile",
        gateway_username="bench_mmsc", gateway_password="bench", report_delay=1.0,
        report_mix={"Retrieved": 1.0}, full_check_every=50), reactor=reactor, host="127.0.0.1",
        port=ports["mmsc"], rng=random.Random(2))
    recipients: Counter[str] = Counter()
    mmsc.received = _Counting(recipients)  # type: ignore[assignment]
    reactor.callWhenRunning(smsc.startService)
    reactor.callWhenRunning(mmsc.startService)

    def dump() -> None:
        counts_file.write_text(json.dumps({
            "counters": mmsc.counters, "numbers": len(recipients),
            "twice": sum(1 for c in recipients.values() if c > 1)}))

    reactor.addSystemEventTrigger("before", "shutdown", dump)
    tune_for_long_run()
    reactor.run()


class _Counting:
    """Stands in for the MMSC's list of received MMS: counts recipients, keeps nothing."""

    def __init__(self, counts: Any) -> None:
        self._counts = counts

    def append(self, received: Any) -> None:
        for recipient in received.recipients:
            self._counts[recipient] += 1


def run_gateway(config_path: Path, edition_id: int, result_file: Path) -> None:
    import resource

    from sqlalchemy import func, select
    from twisted.internet import defer, task

    from bench.dispatch_bench import bench_gateway, dispatch_timed, tally_until_final
    from gateway.db.dispatch_models import Delivery

    gateway = bench_gateway(config_path)

    async def main() -> None:
        elapsed = await dispatch_timed(gateway, edition_id)
        started = time.perf_counter() - elapsed

        def tally(session: Any) -> dict[str, int]:
            return dict(session.execute(select(Delivery.status, func.count())
                                        .group_by(Delivery.status)).all())

        statuses, after = await tally_until_final(
            gateway, tally, lambda statuses: statuses, interval=1.0, limit=1800)
        reports_s = time.perf_counter() - started
        await gateway.root.stopService()
        result_file.write_text(json.dumps({
            "elapsed": elapsed, "statuses": statuses, "after_reports": after,
            "reports_s": reports_s,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))

    task.react(lambda _r: defer.ensureDeferred(main()))


def _child(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.mm7_bench", *args]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=64,
                        help="SubmitReqs in flight (mms.mm7.window and dispatch.max_ahead)")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--args", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        extra = json.loads(args.args)
        if args.phase == "seed":
            print(json.dumps(seed(Path(extra["config"]), extra["subscribers"])))
        elif args.phase == "mmsc":
            serve_mmsc(extra["ports"], Path(extra["counts"]))
        elif args.phase == "gateway":
            run_gateway(Path(extra["config"]), extra["edition"], Path(extra["result"]))
        return

    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    with tempfile.TemporaryDirectory(prefix="sdgw-mm7-bench-") as folder_name:
        folder = Path(folder_name)
        ports = {name: free_port() for name in ("smsc", "mmsc", "endpoint")}
        config = write_config(folder, ports, args.window)
        print(f"seeding {args.subscribers:,} MMS subscribers …", flush=True)
        edition_id, mms_size = json.loads(subprocess.run(
            _child("--phase", "seed", "--args", json.dumps(
                {"config": str(config), "subscribers": args.subscribers})),
            check=True, capture_output=True, text=True, env=env).stdout.strip())
        counts_file, result_file = folder / "counts.json", folder / "result.json"
        mmsc = subprocess.Popen(_child("--phase", "mmsc", "--args", json.dumps(
            {"ports": ports, "counts": str(counts_file)})), env=env)
        try:
            time.sleep(1.5)
            print("dispatching over MM7 …", flush=True)
            subprocess.run(_child("--phase", "gateway", "--args", json.dumps(
                {"config": str(config), "edition": edition_id, "result": str(result_file)})),
                check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        finally:
            mmsc.send_signal(signal.SIGTERM)
            mmsc.wait(timeout=120)
        result = json.loads(result_file.read_text())
        counts = json.loads(counts_file.read_text())

    accepted = counts["counters"]["accepted"]
    exact = counts["numbers"] == args.subscribers and counts["twice"] == 0
    print()
    print(f"MMS subscribers (MM7)            {args.subscribers:>12,}")
    print(f"MMS size (m-retrieve-conf)       {mms_size:>12,} octets")
    print(f"SubmitReqs accepted by the MMSC  {accepted:>12,}  "
          f"(throttled {counts['counters']['throttled']}, window {args.window})")
    print(f"dispatch elapsed                 {result['elapsed']:>12.1f} s")
    print(f"submissions/s                    {accepted / result['elapsed']:>12,.0f}")
    print(f"all reports stored after         {result['reports_s']:>12.1f} s "
          f"({counts['counters']['reports_sent']:,} DeliveryReportReqs taken)")
    print(f"gateway peak RSS                 {result['peak_rss_mb']:>12.0f} MB")
    print(f"delivery statuses at the end     {result['statuses']}")
    print(f"delivery statuses then           {result['after_reports']}")
    print(f"every subscriber exactly one SubmitReq: {'yes' if exact else 'NO'}")


if __name__ == "__main__":
    main()
