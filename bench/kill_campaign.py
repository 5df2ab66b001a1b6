"""The kill campaign: a dispatch killed with SIGKILL again and again must still give every
subscriber the edition exactly once.

An edition of two segments goes to N subscribers over the three carriers, through the three
simulated SMSCs running in a process of their own (they count every part they accept per
number and UDH). The dispatching process — ``sdgw dispatch`` and ``sdgw run`` in turn — is
killed with SIGKILL at random moments (some during its start-up and recovery, most while it
sends) and started again each time; then a last ``sdgw dispatch`` finishes the edition.

It prints parts accepted twice (must be 0), numbers missing a part (must be 0 with
``dispatch.uncertain = "resend"`` and the SMSC echoing part references), deliveries found
uncertain and how they were resolved (reconciled by receipts, resent, skipped), and the
largest number of deliveries left ``sending`` (so uncertain) by one kill on one carrier,
against its bound ``max_ahead + chunk``.

    .venv/bin/python -m bench.kill_campaign                      # SQLite, echo on, resend
    .venv/bin/python -m bench.kill_campaign --postgres postgresql+psycopg://postgres@127.0.0.1/postgres
    .venv/bin/python -m bench.kill_campaign --no-echo --policy skip

On PostgreSQL it creates a database of its own and drops it afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.dispatch_bench import CARRIERS, write_config
from gateway.cli.progress import CommandProgress
from gateway.free_ports import free_port

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True, kw_only=True)
class CampaignOptions:
    subscribers: int = 15_000
    kills: int = 20
    echo: bool = True
    policy: str = "resend"
    seed: int = 20261202
    tps: float = 300.0
    """Per link: slow enough that every life of the process sends only a part of it."""
    window: int = 64
    chunk: int = 32
    max_ahead: int = 64
    uncertain_wait: float = 4.0
    lease_seconds: float = 6.0
    shortest_life: float = 0.3
    longest_life: float = 2.5
    """A kill comes at most this long after the process began sending."""
    final_timeout: float = 600.0


@dataclass(slots=True, kw_only=True)
class CampaignResult:
    database: str
    options: dict[str, object]
    kills: int = 0
    kills_by_command: dict[str, int] = field(default_factory=dict)
    finished_early: int = 0
    largest_sending_after_kill: int = 0
    bound: int = 0
    parts_twice: int = 0
    numbers_missing_a_part: int = 0
    numbers_with_nothing: int = 0
    uncertain: int = 0
    reconciled: int = 0
    resent: int = 0
    skipped: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    final_seconds: float = 0.0
    elapsed: float = 0.0

    def lines(self) -> list[str]:
        return [
            f"database                          {self.database}",
            f"echo / policy                     {self.options['echo']} / "
            f"{self.options['policy']}",
            f"subscribers                       {self.options['subscribers']:,} x 2 segments",
            f"kills (SIGKILL)                   {self.kills}  {self.kills_by_command}",
            f"largest 'sending' after one kill  {self.largest_sending_after_kill}  "
            f"(bound max_ahead + chunk = {self.bound} per carrier)",
            f"parts accepted twice              {self.parts_twice}",
            f"numbers missing a part            {self.numbers_missing_a_part}  "
            f"(of which nothing at all: {self.numbers_with_nothing})",
            f"uncertain found                   {self.uncertain}",
            f"  reconciled by receipts          {self.reconciled}",
            f"  resent                          {self.resent}",
            f"  skipped                         {self.skipped}",
            f"delivery statuses at the end      {self.statuses}",
            f"last run to the end               {self.final_seconds:.1f} s",
            f"campaign                          {self.elapsed:.1f} s",
        ]


def _gateway(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "gateway", "--config", str(config), *args]


def _counts(url: str) -> tuple[dict[str, int], dict[str, int], dict[int, int]]:
    """Statuses, recovery figures, and rows left 'sending' per dispatch, from the database."""
    from sqlalchemy import func, select

    from gateway.db.dispatch_models import Delivery
    from gateway.db.engine import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            statuses = dict(connection.execute(select(Delivery.status, func.count())
                                               .group_by(Delivery.status)).all())
            recovery = dict(connection.execute(
                select(Delivery.recovery, func.count())
                .where(Delivery.uncertain_at.is_not(None))
                .group_by(Delivery.recovery)).all())
            recovery["uncertain"] = sum(recovery.values())
            sending = dict(connection.execute(
                select(Delivery.dispatch_id, func.count())
                .where(Delivery.status == "sending").group_by(Delivery.dispatch_id)).all())
    finally:
        engine.dispose()
    return ({str(k): int(v) for k, v in statuses.items()},
            {str(k): int(v) for k, v in recovery.items()},
            {int(k): int(v) for k, v in sending.items()})


@contextmanager
def own_postgres_database(base_url: str) -> Iterator[str]:
    """A database created for this campaign on the server of ``base_url``; dropped after."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"sdgw_kill_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _wait_until_sending(log: Path, offset: int, process: subprocess.Popen[bytes],
                       timeout: float) -> None:
    """Until the process logs that a dispatch loop is sending (or it ends, or time is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        with open(log, "rb") as handle:
            handle.seek(offset)
            if b"): sending" in handle.read():
                return
        time.sleep(0.05)


def run_campaign(options: CampaignOptions, folder: Path, database_url: str | None = None,
                 *, log: bool = True) -> CampaignResult:
    """Seed, kill and restart, finish, count; ``database_url`` None = SQLite in ``folder``."""
    started = time.monotonic()
    rng = random.Random(options.seed)
    ports = {carrier: free_port() for carrier in CARRIERS}
    url = database_url or f"sqlite:///{folder / 'kill.db'}"
    config = write_config(
        folder, ports, options.window, tps=options.tps, database_url=url,
        dispatch=(f"batch_size = 500\nchunk = {options.chunk}\nmax_ahead = {options.max_ahead}\n"
                  f'uncertain = "{options.policy}"\n'
                  f"uncertain_wait_seconds = {options.uncertain_wait}\n"
                  f"lease_seconds = {options.lease_seconds}\n"
                  'quiet_start = "00:00"\nquiet_end = "00:00"\n'),
        extra=(f"[console]\nport = {free_port()}\n[content]\nport = {free_port()}\n"
               f"[metrics]\nport = {free_port()}\n"
               f"[logging]\nlevel = \"info\"\n"))
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    env.pop("SDGW_NODE", None)  # restarts find their predecessor by the default node name
    seeded = subprocess.run(
        [sys.executable, "-m", "bench.dispatch_bench", "--phase", "seed", "--args",
         json.dumps({"config": str(config), "subscribers": options.subscribers})],
        check=True, capture_output=True, text=True, env=env, cwd=REPO)
    edition = int(seeded.stdout.strip().splitlines()[-1])
    counts_file = folder / "parts.json"
    simulators = subprocess.Popen(
        [sys.executable, "-m", "bench.dispatch_bench", "--phase", "simulators", "--args",
         json.dumps({"ports": ports, "counts": str(counts_file), "echo": options.echo,
                     "receipt_delay": 0.5})],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    result = CampaignResult(database="PostgreSQL" if database_url and
                            database_url.startswith("postgresql") else "SQLite",
                            options=asdict(options), bound=options.max_ahead + options.chunk)
    commands = {
        "dispatch": _gateway(config, "dispatch", "--edition", str(edition),
                             "--ignore-quiet-hours"),
        "run": _gateway(config, "run"),
    }
    logs = folder / "gateway.log"
    try:
        time.sleep(1.5)
        with open(logs, "ab") as log_file, CommandProgress() as display:
            lives = display.add("kill campaign", total=options.kills, unit="kills")
            for life in range(options.kills):
                name = "dispatch" if life % 2 == 0 else "run"
                offset = logs.stat().st_size
                process = subprocess.Popen(commands[name], env=env, cwd=REPO,
                                           stdout=log_file, stderr=log_file)
                if life % 4 == 3:
                    # Every fourth kill comes early: during start-up, lease and recovery.
                    lifetime = rng.uniform(options.shortest_life, 1.5)
                    time.sleep(lifetime)
                else:
                    # The others while it sends: start-up takes 1-3 s on a busy machine, so
                    # the moment is counted from its first "sending" line.
                    _wait_until_sending(logs, offset, process, timeout=30.0)
                    lifetime = rng.uniform(0.2, options.longest_life)
                    time.sleep(lifetime)
                if process.poll() is None:
                    process.send_signal(signal.SIGKILL)
                    result.kills += 1
                    result.kills_by_command[name] = result.kills_by_command.get(name, 0) + 1
                else:
                    result.finished_early += 1
                process.wait(timeout=60)
                _, _, sending = _counts(url)
                result.largest_sending_after_kill = max(
                    [result.largest_sending_after_kill, *sending.values()])
                if log:
                    print(f"  life {life + 1:>2} ({name:<8}) {lifetime:4.1f}s: "
                          f"'sending' left per dispatch {sending}", flush=True)
                lives.advance()
            lives.finish()
            final = display.add("last sdgw dispatch", total=1, unit="runs")
            final_started = time.monotonic()
            last = subprocess.run(commands["dispatch"], env=env, cwd=REPO, stdout=log_file,
                                  stderr=log_file, timeout=options.final_timeout)
            final.advance()
            result.final_seconds = time.monotonic() - final_started
            if last.returncode != 0:
                raise RuntimeError(f"the last sdgw dispatch exited {last.returncode}; "
                                   f"see {logs}")
        time.sleep(1.0)
    finally:
        simulators.send_signal(signal.SIGTERM)
        simulators.wait(timeout=120)
    parts = json.loads(counts_file.read_text())
    per_number = {int(k): v for k, v in parts["parts_per_number"].items()}
    result.parts_twice = parts["parts_twice"]
    complete = per_number.get(2, 0)
    result.numbers_missing_a_part = options.subscribers - complete
    result.numbers_with_nothing = options.subscribers - parts["numbers"]
    statuses, recovery, _ = _counts(url)
    result.statuses = statuses
    result.uncertain = recovery.get("uncertain", 0)
    result.reconciled = recovery.get("reconciled", 0)
    result.resent = recovery.get("resent", 0)
    result.skipped = recovery.get("skipped", 0)
    result.elapsed = time.monotonic() - started
    return result


def main(argv: list[str] | None = None) -> None:
    defaults = CampaignOptions()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=defaults.subscribers)
    parser.add_argument("--kills", type=int, default=defaults.kills)
    parser.add_argument("--no-echo", action="store_true",
                        help="the simulators do not echo part references in receipts")
    parser.add_argument("--policy", choices=("resend", "skip"), default="resend")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--postgres", metavar="URL",
                        help="run on PostgreSQL (a database of its own on this server)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args(argv)
    options = CampaignOptions(subscribers=args.subscribers, kills=args.kills,
                              echo=not args.no_echo, policy=args.policy, seed=args.seed)
    with tempfile.TemporaryDirectory(prefix="sdgw-kill-") as folder_name:
        folder = Path(folder_name)
        if args.postgres:
            with own_postgres_database(args.postgres) as url:
                result = run_campaign(options, folder, url)
        else:
            result = run_campaign(options, folder)
    print()
    print("\n".join(result.lines()))
    if args.json:
        print(json.dumps(asdict(result)))
    # With echo on and "resend": neither side may fail. Without echo each policy keeps one
    # side: "resend" never misses, "skip" never duplicates.
    no_duplicates = result.parts_twice == 0 or (not options.echo and options.policy == "resend")
    no_misses = result.numbers_missing_a_part == 0 or options.policy == "skip"
    held = no_duplicates and no_misses and result.largest_sending_after_kill <= result.bound
    print(f"promise held: {'yes' if held else 'NO'}  (echo {'on' if options.echo else 'off'}, "
          f"policy {options.policy})")


if __name__ == "__main__":
    main()
