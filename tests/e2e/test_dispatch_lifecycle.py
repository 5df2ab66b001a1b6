"""A dispatching process's life as an operator sees it, in subprocesses: SIGTERM / SIGINT stop
it cleanly (links unbound, nothing left claimed or sending, its lease gone), SIGKILL and a
restart finish the edition exactly once, one SQLite file has one writer, and on PostgreSQL a
node name has one live holder. The SMSC is a simulator subprocess (``sdgw sim serve``) whose
``GET /parts`` counts every part it ever accepted, per number and UDH."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.db.dispatch_models import Delivery, Dispatch, DispatchLease
from gateway.db.engine import make_engine, make_session_factory, upgrade
from gateway.dispatch import store
from gateway.editions.build import freeze_edition
from tests.conftest import REPO_ROOT, free_port
from tests.service.dispatch_fixtures import seed_edition, seed_subscribers

UDH = ("050003070201", "050003070202")
"""The two parts' UDH (seed_edition: concatenation reference 7, 2 parts)."""
UNBIND_TIMEOUT = 5.0
STOP_WITHIN = UNBIND_TIMEOUT + 10.0


@dataclass
class Site:
    """A database with an edition to send, a config for it, and where its SMSC listens."""

    tmp_path: Path
    database_url: str
    config: Path
    smsc_port: int
    control_port: int
    edition_id: int
    numbers: list[str]
    sessions: sessionmaker[Session]
    max_ahead: int = 0
    """dispatch.max_ahead (0: the link's window)."""
    protocol: str = "smpp"
    """The link's (and the simulator's) protocol."""

    def write_config(self, *, tps: float, path: Path | None = None) -> Path:
        """(Re)write a config on the same database and SMSC; fresh console/content ports."""
        path = path or self.config
        path.write_text(f"""
[database]
url = "{self.database_url}"
[console]
port = {free_port()}
[metrics]
port = {free_port()}
[content]
port = {free_port()}
[newspaper]
name = "测试手机报"
price = "3元/月"
signature = "测试手机报"
[dispatch]
max_ahead = {self.max_ahead}
schedule = false
quiet_start = "00:00"
quiet_end = "00:00"
lease_seconds = 5
uncertain_wait_seconds = 2
retry_initial_seconds = 0.5
retry_max_seconds = 2
[carriers.china_mobile]
short_code = "10658000"
[carriers.china_mobile.link]
port = {self.smsc_port}
{self._login()}
tps = {tps}
unbind_timeout = {UNBIND_TIMEOUT}
reconnect_initial_delay = 0.1
reconnect_max_delay = 0.5
[carriers.china_mobile.simulator]
enabled = false
port = {self.smsc_port}
control_port = {self.control_port}
receipt_delay = 0.3
receipt_mix = {{ DELIVRD = 1.0 }}
""", encoding="utf-8")
        return path


    def _login(self) -> str:
        if self.protocol == "cmpp":
            return 'protocol = "cmpp"\nsource_addr = "901234"\nshared_secret = "pw"'
        return 'system_id = "lifecycle"\npassword = "pw"'


def make_site(tmp_path: Path, database_url: str, subscribers: int, *, tps: float,
              open_dispatch: bool = False, protocol: str = "smpp") -> Site:
    engine = make_engine(database_url)
    upgrade(engine)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        edition_id = seed_edition(session, segments=2)
        numbers = seed_subscribers(session, subscribers)
    if open_dispatch:  # as a dispatch started earlier by the scheduler and interrupted
        now = datetime.now(UTC)
        with sessions.begin() as session:
            freeze_edition(session, edition_id, now=now)
            dispatch_id = store.create_dispatch(
                session, edition_id=edition_id, carrier="china_mobile", cutoff=now,
                deadline=now + timedelta(hours=1), now=now)
            store.materialise(session, dispatch_id)
    site = Site(tmp_path=tmp_path, database_url=database_url,
                config=tmp_path / "lifecycle.toml", smsc_port=free_port(),
                control_port=free_port(), edition_id=edition_id, numbers=numbers,
                sessions=sessions, protocol=protocol)
    site.write_config(tps=tps)
    return site


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SDGW_NODE"}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


class Child:
    """A `python -m gateway` subprocess whose stdout and stderr go to files."""

    def __init__(self, tmp_path: Path, name: str, config: Path, *args: str,
                 env: dict[str, str] | None = None) -> None:
        self.out = tmp_path / f"{name}.out"
        self.err = tmp_path / f"{name}.err"
        with self.out.open("w") as out, self.err.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "--config", str(config), *args],
                cwd=REPO_ROOT, env=env or environment(), stdout=out, stderr=err, text=True)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8", errors="replace")

    def stdout(self) -> str:
        return self.out.read_text(encoding="utf-8", errors="replace")

    def logs(self) -> str:
        return f"--- stdout\n{self.stdout()[-3000:]}\n--- stderr\n{self.stderr()[-6000:]}"

    def wait_for_log(self, pattern: str, timeout: float = 20.0) -> None:
        wait_until(lambda: re.search(pattern, self.stderr()) is not None, timeout,
                   f"{pattern!r} in the log", self)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running after {timeout:.0f}s\n{self.logs()}") from None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def children() -> Iterator[list[Child]]:
    """Every subprocess a test starts; whatever still runs at its end is killed."""
    started: list[Child] = []
    yield started
    for child in started:
        child.kill()


def wait_until(predicate: Callable[[], bool], timeout: float, what: str,
               child: Child | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if child is not None and child.process.poll() is not None:
            raise AssertionError(f"exited ({child.process.returncode}) before {what}\n"
                                 f"{child.logs()}")
        time.sleep(0.05)
    raise AssertionError(f"no {what} within {timeout:.0f}s"
                         + (f"\n{child.logs()}" if child is not None else ""))


def get_json(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
        return json.loads(answer.read())


def start_smsc(site: Site, children: list[Child]) -> Child:
    smsc = Child(site.tmp_path, "smsc", site.config, "sim", "serve", "--carrier",
                 "china_mobile")
    children.append(smsc)

    def listening() -> bool:
        try:
            get_json(site.control_port, "/parts")
        except OSError:
            return False
        return True

    wait_until(listening, 20, "simulator control endpoint", smsc)
    return smsc


def accepted(site: Site) -> int:
    return int(get_json(site.control_port, "/parts")["accepted"])


def assert_every_number_got_both_parts_once(site: Site) -> None:
    report = get_json(site.control_port, "/parts")
    parts = report["parts"]
    wrong = {number: parts.get(number) for number in site.numbers
             if parts.get(number) != {UDH[0]: 1, UDH[1]: 1}}
    assert not wrong, f"{len(wrong)} numbers without exactly one of each part: " \
                      f"{list(wrong.items())[:5]}"
    assert set(parts) == set(site.numbers)
    assert report["accepted"] == 2 * len(site.numbers)


def statuses(site: Site) -> dict[str, int]:
    with site.sessions() as session:
        return dict(session.execute(select(Delivery.status, func.count())
                                    .group_by(Delivery.status)).all())


def lease_count(site: Site) -> int:
    with site.sessions() as session:
        return session.scalar(select(func.count()).select_from(DispatchLease)) or 0


def dispatch_command(site: Site) -> tuple[str, ...]:
    return ("dispatch", "--edition", str(site.edition_id), "--ignore-quiet-hours")


def assert_stopped_cleanly(site: Site, child: Child, code: int) -> dict[str, int]:
    assert code == 0, child.logs()
    log = child.stderr()
    assert "link: unbound (by us)" in log, child.logs()
    assert "Traceback" not in log, child.logs()
    assert "still had work in flight" not in log, child.logs()
    counts = statuses(site)
    assert counts.get("claimed", 0) == 0 and counts.get("sending", 0) == 0, counts
    # A clean stop answers and stores everything it handed to the link: nothing to guess.
    assert counts.get("uncertain", 0) == 0, counts
    assert lease_count(site) == 0
    return counts


def finish(site: Site, children: list[Child], name: str = "finish") -> Child:
    """Run `sdgw dispatch` to the end on a fast link; the edition must then be done."""
    site.write_config(tps=2000)
    child = Child(site.tmp_path, name, site.config, *dispatch_command(site))
    children.append(child)
    assert child.wait(45) == 0, child.logs()
    assert "Traceback" not in child.stderr(), child.logs()
    return child


def assert_done(site: Site) -> None:
    time.sleep(0.5)  # the last submits' responses are in; let the SMSC's counters settle
    assert_every_number_got_both_parts_once(site)
    counts = statuses(site)
    assert set(counts) <= {"submitted", "delivered"}, counts
    assert sum(counts.values()) == len(site.numbers)
    with site.sessions() as session:
        assert session.scalar(select(Dispatch.status)) == "done"
    assert lease_count(site) == 0


# -- a: a signal stops a dispatching process cleanly ------------------------------------------


@pytest.mark.parametrize(("stop_signal", "max_ahead"), [
    (signal.SIGTERM, None), (signal.SIGINT, None),
    # Deliberately more handed to the link than it sends within unbind_timeout (512
    # messages = 1024 parts, 5 s at 200/s): the stop must still be clean and bounded.
    (signal.SIGTERM, 512),
], ids=["sigterm", "sigint", "sigterm-max_ahead-512"])
def test_signal_stops_sdgw_dispatch_cleanly(tmp_path: Path, database_url: str,
                                           children: list[Child],
                                           stop_signal: signal.Signals,
                                           max_ahead: int | None) -> None:
    if (stop_signal is signal.SIGINT or max_ahead) and not database_url.startswith("sqlite"):
        pytest.skip("once, on SQLite, is enough: the stop takes the same path on PostgreSQL")
    site = make_site(tmp_path, database_url, 2000, tps=200)  # 4000 parts: 20 s at 200/s
    if max_ahead:
        site.max_ahead = max_ahead
        site.write_config(tps=200)
    start_smsc(site, children)
    dispatch = Child(tmp_path, "dispatch", site.config, *dispatch_command(site))
    children.append(dispatch)
    wait_until(lambda: accepted(site) >= 300, 20, "300 parts accepted", dispatch)
    time.sleep(1.0)
    dispatch.process.send_signal(stop_signal)
    signalled = time.monotonic()
    code = dispatch.wait(STOP_WITHIN)
    stopped_in = time.monotonic() - signalled
    counts = assert_stopped_cleanly(site, dispatch, code)
    sent = accepted(site)
    assert sent < 2 * len(site.numbers) - 400, "it finished before the signal; make it slower"
    assert counts.get("pending", 0) > 0, counts
    print(f"stopped in {stopped_in:.1f}s with {sent} parts accepted; {counts}")

    finish(site, children)
    assert_done(site)


def test_sigterm_stops_sdgw_run_midway(tmp_path: Path, database_url: str,
                                       children: list[Child]) -> None:
    site = make_site(tmp_path, database_url, 2000, tps=200, open_dispatch=True)
    start_smsc(site, children)
    gateway = Child(tmp_path, "run", site.config, "run", "--no-simulators")
    children.append(gateway)
    gateway.wait_for_log(r"resuming dispatch #\d+")
    wait_until(lambda: accepted(site) >= 300, 20, "300 parts accepted", gateway)
    time.sleep(1.0)
    gateway.process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    code = gateway.wait(STOP_WITHIN)
    stopped_in = time.monotonic() - signalled
    counts = assert_stopped_cleanly(site, gateway, code)
    assert counts.get("pending", 0) > 0, counts
    print(f"stopped in {stopped_in:.1f}s; {counts}")

    finish(site, children)
    assert_done(site)


# -- b: SIGKILL, then a restart finishes the edition exactly once -----------------------------


def test_restart_after_sigkill_finishes_exactly_once(tmp_path: Path, database_url: str,
                                                     children: list[Child]) -> None:
    site = make_site(tmp_path, database_url, 1000, tps=400)  # 2000 parts: 5 s at 400/s
    start_smsc(site, children)
    first = Child(tmp_path, "killed", site.config, *dispatch_command(site))
    children.append(first)
    wait_until(lambda: accepted(site) >= 300, 20, "300 parts accepted", first)
    time.sleep(0.5)
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)
    sent = accepted(site)
    assert sent < 2 * len(site.numbers), "it finished before the kill; make it slower"
    left = statuses(site)
    assert lease_count(site) == 1  # the dead process's lease is still there

    started = time.monotonic()
    second = Child(tmp_path, "restarted", site.config, *dispatch_command(site))
    children.append(second)
    code = second.wait(45)
    took = time.monotonic() - started
    assert code == 0, second.logs()
    assert "Traceback" not in second.stderr(), second.logs()
    # The same default node name (host, command, config path): taken over at once.
    names = [re.findall(r"dispatch node '([^']+)'", child.stderr()) for child in (first, second)]
    assert names[0] == names[1] and len(names[0]) == 1, names
    assert "taken over from dead process(es)" in second.stderr(), second.logs()
    print(f"killed with {sent} parts accepted ({left}); the restart took {took:.1f}s")

    status = subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(site.config), "dispatch", "status"],
        cwd=REPO_ROOT, env=environment(), capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    line = next(row for row in status.stdout.splitlines() if "china_mobile" in row)
    assert " done " in line and f" {len(site.numbers)} " in line, status.stdout
    assert_done(site)
    with site.sessions() as session:
        open_rows = session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.status.in_(store.OPEN_STATUSES)))
        recovered = store.recovery_counts(session, session.scalar(select(Dispatch.id)))
    assert open_rows == 0
    print(f"recovery: {recovered}")


def test_an_edition_over_cmpp_reaches_the_ismg_once_per_part(
        tmp_path: Path, database_url: str, children: list[Child]) -> None:
    """China Mobile over CMPP 3.0 (`sdgw sim serve` runs a simulated ISMG): every part of the
    2-part digest reaches it exactly once, with its UDH, and the edition is done."""
    site = make_site(tmp_path, database_url, 300, tps=2000, protocol="cmpp")
    smsc = start_smsc(site, children)
    assert get_json(site.control_port, "/status")["protocol"] == "cmpp"
    child = finish(site, children)
    assert "china_mobile link: bound to" in child.stderr() and "CMPP 3.0" in child.stderr()
    assert_done(site)
    assert "Traceback" not in smsc.stderr(), smsc.logs()


# -- c: one writer per SQLite file -------------------------------------------------------------


def test_one_gateway_per_sqlite_file(tmp_path: Path, children: list[Child]) -> None:
    """A second `sdgw run` on the same SQLite file is refused with one line; `sdgw dispatch`
    hands its edition to the running gateway, which sends it, and waits for it."""
    site = make_site(tmp_path, f"sqlite:///{tmp_path / 'gw.db'}", 10, tps=100)
    database = (tmp_path / "gw.db").resolve()
    start_smsc(site, children)
    first = Child(tmp_path, "first", site.config, "run", "--no-simulators")
    children.append(first)
    first.wait_for_log(r"gateway for .* running")

    other = site.write_config(tps=100, path=tmp_path / "other.toml")  # other ports, same file
    started = time.monotonic()
    refused = Child(tmp_path, "second-run", other, "run", "--no-simulators")
    children.append(refused)
    assert refused.wait(20) == 2, refused.logs()
    took = time.monotonic() - started
    said = [line for line in refused.stderr().splitlines() if line.strip()]
    # The refusal is all a refused process says: one line, naming the holder.
    assert len(said) == 1, refused.logs()
    assert said[0].startswith(f"sdgw: {database} is in use by `sdgw run` "
                              f"(pid {first.pid})"), said[0]
    assert took < 10, f"refused only after {took:.1f}s"
    assert first.process.poll() is None, first.logs()

    handed = Child(tmp_path, "handed-dispatch", site.config, *dispatch_command(site))
    children.append(handed)
    assert handed.wait(40) == 0, handed.logs()
    assert f"held by `sdgw run` (pid {first.pid}); edition #{site.edition_id} is handed" \
        in handed.stdout(), handed.logs()
    assert "Traceback" not in handed.stderr(), handed.logs()
    assert first.process.poll() is None, first.logs()  # the first gateway sent it
    assert_every_number_got_both_parts_once(site)
    assert "resuming dispatch" in first.stderr(), first.logs()

    first.process.send_signal(signal.SIGTERM)
    assert first.wait(STOP_WITHIN) == 0, first.logs()
    again = Child(tmp_path, "again", other, "run", "--no-simulators")
    children.append(again)
    again.wait_for_log(r"gateway for .* running")
    again.process.send_signal(signal.SIGTERM)
    assert again.wait(STOP_WITHIN) == 0, again.logs()


# -- d: one live holder per node name (PostgreSQL) ---------------------------------------------


def test_a_node_name_has_one_live_holder(tmp_path: Path, database_url: str,
                                         children: list[Child]) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several dispatching processes share a database on PostgreSQL only")
    site = make_site(tmp_path, database_url, 2000, tps=200)
    start_smsc(site, children)
    env = environment(SDGW_NODE="shared-name")
    first = Child(tmp_path, "holder", site.config, *dispatch_command(site), env=env)
    children.append(first)
    wait_until(lambda: accepted(site) >= 100, 20, "100 parts accepted", first)

    started = time.monotonic()
    second = Child(tmp_path, "refused", site.config, *dispatch_command(site), env=env)
    children.append(second)
    code = second.wait(20)
    took = time.monotonic() - started
    assert code == 2, second.logs()
    message = second.stderr()
    assert "'shared-name'" in message and f"pid {first.pid}" in message, second.logs()
    assert "`sdgw dispatch`" in message, message
    assert "Traceback" not in message
    assert took < 10
    assert first.process.poll() is None, first.logs()
    with site.sessions() as session:
        holder = session.scalar(select(DispatchLease))
        assert holder is not None and (holder.node, holder.pid) == ("shared-name", first.pid)

    first.process.send_signal(signal.SIGTERM)
    assert_stopped_cleanly(site, first, first.wait(STOP_WITHIN))
    # The refusal is all the refused process says: one line.
    assert [line for line in message.splitlines() if line.strip()] == [
        line for line in message.splitlines() if "'shared-name'" in line]


def test_waiting_for_a_handed_over_edition_ends_on_sigterm(tmp_path: Path,
                                                           children: list[Child]) -> None:
    """No SMSC answers, so the holder cannot send: the waiting `sdgw dispatch` stops waiting
    on SIGTERM (exit 0) and the dispatch stays with the gateway that holds the file."""
    site = make_site(tmp_path, f"sqlite:///{tmp_path / 'gw.db'}", 10, tps=100)
    first = Child(tmp_path, "first", site.config, "run", "--no-simulators")
    children.append(first)
    first.wait_for_log(r"gateway for .* running")
    handed = Child(tmp_path, "handed", site.config, *dispatch_command(site))
    children.append(handed)
    wait_until(lambda: "is handed to it" in handed.stdout(), 20, "the hand-over", handed)
    handed.process.send_signal(signal.SIGTERM)
    assert handed.wait(10) == 0, handed.logs()
    assert "stopped waiting" in handed.stdout(), handed.logs()
    with site.sessions() as session:
        assert set(session.scalars(select(Dispatch.status))) <= {"preparing", "running"}
    assert first.process.poll() is None, first.logs()
