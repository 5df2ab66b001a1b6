"""A link in its own worker process (``link.own_process``) against the simulated SMSC: the
real child process, real pipes, loopback TCP."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor

from carriers.link.status import LinkPhase
from carriers.messages import ReceiptState, SubmitOutcome
from carriers.smpp.config import SmppLinkConfig
from gateway.link_process.frames import FrameReader, encode
from gateway.link_process.proxy import LinkProcess
from gateway.link_process.worker import LinkSpec
from tests.e2e.test_link_against_simulator import Inbox, sms, start_simulator, wait_for


def link_config(port: int, **settings: Any) -> SmppLinkConfig:
    options: dict[str, Any] = {"port": port, "system_id": "gw", "password": "secret",
                               "tps": 0, "reconnect_initial_delay": 0.05,
                               "reconnect_max_delay": 0.2, "unbind_timeout": 2.0}
    options.update(settings)
    return SmppLinkConfig(**options)


def start_link_process(port: int, inbox: Inbox, **settings: Any) -> LinkProcess:
    link = LinkProcess(carrier="china_mobile", config=link_config(port, **settings),
                       secret="secret", on_inbound=inbox, reactor=reactor)
    link.startService()
    return link


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest_twisted.ensureDeferred
async def test_submit_results_and_receipts_cross_the_process_boundary(
        inbox: Inbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    simulator = start_simulator()
    link = start_link_process(simulator.port, inbox)
    try:
        await link.when_bound()
        worker = link.worker_pid
        assert worker is not None and worker != os.getpid()
        results = await link.submit(sms("您好，手机报"))
        assert results[0].outcome is SubmitOutcome.ACCEPTED
        await wait_for(lambda: len(inbox.receipts) == 1)
        assert inbox.receipts[0].message_id == results[0].message_id
        assert inbox.receipts[0].state is ReceiptState.DELIVERED
        assert simulator.received[-1].text == "您好，手机报"
        # Figures come from the worker's snapshots; its log lines are logged here.
        await wait_for(lambda: link.status.accepted == 1 and link.status.inbound_receipts == 1)
        assert link.binds == 1 and link.is_bound
        assert link.status.phase(time.time()) is LinkPhase.BOUND
        assert any(r.name == "carriers.link.transport" and "bound to" in r.getMessage()
                   for r in caplog.records)
    finally:
        await link.stopService()
        await simulator.stopService()
    assert link.worker_pid is None
    assert process_gone(worker)
    assert simulator.counters["unbinds"] == 1  # it logged out before it exited


@pytest_twisted.ensureDeferred
async def test_an_mo_is_acknowledged_only_after_the_gateway_stored_it(inbox: Inbox) -> None:
    simulator = start_simulator()
    link = start_link_process(simulator.port, inbox)
    try:
        await link.when_bound()
        inbox.fail_next = 1  # the parent's first attempt to store it fails: refused, re-sent
        simulator.inject_mo("13800138000", "10658000123", "ＳＤ")
        await wait_for(lambda: len(inbox.messages) == 1, timeout=8.0)
        assert inbox.messages[0].text == "ＳＤ"
        assert simulator.counters["redeliveries"] == 1
    finally:
        await link.stopService()
        await simulator.stopService()


@pytest_twisted.ensureDeferred
async def test_a_killed_worker_leaves_its_submits_unanswered_and_another_takes_over(
        inbox: Inbox) -> None:
    simulator = start_simulator()
    # One submit a second: after the first is answered the others wait in the worker.
    link = start_link_process(simulator.port, inbox, tps=1)
    try:
        await link.when_bound()
        first = link.worker_pid
        with link.coalesced():
            waiting = [link.submit(sms(f"part {n}")) for n in range(4)]
        assert (await waiting[0])[0].outcome is SubmitOutcome.ACCEPTED
        assert first is not None
        os.kill(first, signal.SIGKILL)
        for pending in waiting[1:]:
            # The worker had them: the carrier may or may not have them.
            assert (await pending)[0].outcome is SubmitOutcome.UNANSWERED
        assert "link worker ended" in link.status.last_error
        await wait_for(lambda: link.restarts == 1 and link.is_bound, timeout=10.0)
        assert link.worker_pid not in (None, first)
        results = await link.submit(sms("after the restart"))
        assert results[0].outcome is SubmitOutcome.ACCEPTED
    finally:
        await link.stopService()
        await simulator.stopService()


@pytest_twisted.ensureDeferred
async def test_submits_while_no_worker_runs_are_not_sent(inbox: Inbox) -> None:
    simulator = start_simulator()
    link = LinkProcess(carrier="china_mobile", config=link_config(simulator.port),
                       secret="secret", on_inbound=inbox, reactor=reactor)
    try:
        results = await link.submit(sms("before start"))
        assert results[0].outcome is SubmitOutcome.NOT_SENT
    finally:
        await simulator.stopService()


def test_a_worker_whose_gateway_goes_away_logs_out_and_exits() -> None:
    """No reactor here: the worker is driven by hand through its pipes, as a gateway that
    then dies would leave it."""
    read_up, write_up = os.pipe()
    read_down, write_down = os.pipe()
    # The simulator runs in another process so this test's own thread can block on pipes.
    sim = subprocess.Popen(
        [sys.executable, "-c", SIMULATOR_SCRIPT], stdout=subprocess.PIPE, text=True)
    try:
        assert sim.stdout is not None
        port = int(sim.stdout.readline())
        worker = subprocess.Popen(
            [sys.executable, "-c", WORKER_ON_FDS, str(read_down), str(write_up)],
            pass_fds=(read_down, write_up), stdin=subprocess.DEVNULL)
        os.close(read_down)
        os.close(write_up)
        # One submit a second: after the first, the others wait in the worker.
        spec = LinkSpec(carrier="china_mobile", config=link_config(port, tps=1),
                        secret="secret")
        os.write(write_down, encode([("start", spec)]))
        reader = FrameReader()
        deadline = time.monotonic() + 10
        bound = False
        while not bound and time.monotonic() < deadline:
            for operation in reader.feed(os.read(read_up, 65536)):
                bound = bound or (operation[0] == "status" and operation[1].is_bound)
        assert bound
        os.write(write_down, encode([("submit", [(n, sms(f"part {n}")) for n in range(8)])]))
        answered = 0
        while not answered and time.monotonic() < deadline:
            answered = sum(1 for operation in reader.feed(os.read(read_up, 65536))
                           if operation[0] == "result")
        assert answered == 1
        os.close(write_down)  # the gateway is gone: what waits is dropped, not sent
        assert worker.wait(timeout=10) == 0
        assert sim.stdout.readline().split() == ["unbound", "1"]  # logged out, 1 submit
    finally:
        sim.kill()
        os.close(read_up)


WORKER_ON_FDS = """
import fcntl, os, runpy, sys
down, up = (fcntl.fcntl(int(fd), fcntl.F_DUPFD, 10) for fd in sys.argv[1:3])
os.dup2(down, 3)
os.dup2(up, 4)
sys.argv = [sys.argv[0]]
runpy.run_module("gateway.link_process", run_name="__main__")
"""
"""The worker as the gateway starts it: its input on descriptor 3, its output on 4."""

SIMULATOR_SCRIPT = """
import random, sys
from twisted.internet import reactor
from carriers.simulator.smsc_service import SimulatedSmsc, SimulatorSettings
sim = SimulatedSmsc(SimulatorSettings(carrier="china_mobile", accounts={"gw": "secret"}),
                    reactor=reactor, clock=reactor, rng=random.Random(7))
sim.startService()
print(sim.port, flush=True)
def check():
    if sim.counters["unbinds"]:
        print("unbound", sim.counters["submits"], flush=True)
        reactor.stop()
    else:
        reactor.callLater(0.05, check)
check()
reactor.run()
"""


@pytest_twisted.ensureDeferred
async def test_metrics_read_the_workers_figures(inbox: Inbox) -> None:
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families
    from prometheus_client.registry import CollectorRegistry

    from gateway.operations.collectors import LinkCollector
    from gateway.operations.link_board import LinkBoard

    simulator = start_simulator()
    link = start_link_process(simulator.port, inbox, window=24)
    try:
        await link.when_bound()
        results = await link.submit(sms("counted"))
        assert results[0].outcome is SubmitOutcome.ACCEPTED
        await wait_for(lambda: link.status.accepted == 1)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(LinkCollector(
            LinkBoard(links={"china_mobile": link}, tps_caps={"china_mobile": 0.0}),
            time.time))
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for family in text_string_to_metric_families(
                       generate_latest(registry).decode()) for s in family.samples}
        mobile = (("carrier", "china_mobile"),)
        assert samples[("sdgw_link_window", mobile)] == 24.0
        bound = (*mobile, ("protocol", "smpp"), ("state", "bound"))
        assert samples[("sdgw_link_state", bound)] == 1.0
        assert any(name.startswith("sdgw_link_submits") and value == 1.0
                   and ("outcome", "accepted") in labels
                   for (name, labels), value in samples.items()), samples
    finally:
        await link.stopService()
        await simulator.stopService()


@pytest_twisted.ensureDeferred
async def test_a_worker_that_cannot_start_its_link_says_why_and_is_started_again(
        inbox: Inbox, caplog: pytest.LogCaptureFixture) -> None:
    broken = link_config(1, protocol="no-such-protocol")  # past the loader, it would not be
    link = LinkProcess(carrier="china_mobile", config=broken, secret="secret",
                       on_inbound=inbox, reactor=reactor)
    link.startService()
    try:
        await wait_for(lambda: link.restarts >= 1, timeout=10.0)
        # The worker's traceback comes up with its line.
        assert any("could not start the link" in r.getMessage()
                   and "KeyError: 'no-such-protocol'" in r.getMessage()
                   for r in caplog.records), [r.getMessage() for r in caplog.records]
    finally:
        await link.stopService()


@pytest_twisted.ensureDeferred
async def test_a_worker_that_does_not_stop_in_time_is_killed(inbox: Inbox) -> None:
    simulator = start_simulator()
    link = LinkProcess(carrier="china_mobile", config=link_config(simulator.port,
                                                                  unbind_timeout=0.5),
                       secret="secret", on_inbound=inbox, reactor=reactor, stop_grace=0.5)
    link.startService()
    try:
        await link.when_bound()
        worker = link.worker_pid
        assert worker is not None
        os.kill(worker, signal.SIGSTOP)  # hung: it will never read "stop"
        started = time.monotonic()
        await link.stopService()
        assert time.monotonic() - started < 5
        assert link.worker_pid is None and link.restarts == 0
        await wait_for(lambda: process_gone(worker))
    finally:
        await simulator.stopService()


def test_a_workers_log_line_is_kept_even_with_a_field_a_record_refuses(
        caplog: pytest.LogCaptureFixture) -> None:
    from gateway.link_process.proxy import _log_again

    caplog.set_level(logging.INFO)
    _log_again("carriers.link.transport", logging.WARNING, "bad PDU", {"message": "x"}, "")
    _log_again("carriers.link.transport", logging.INFO, "bound", {"event": "link_bound"},
               "Traceback: …")
    first, second = caplog.records[-2:]
    assert first.getMessage() == "bad PDU" and first.levelno == logging.WARNING
    assert second.getMessage() == "bound\nTraceback: …"
    assert second.event == "link_bound"  # type: ignore[attr-defined]


def test_a_worker_link_missing_a_secret_is_refused_at_start(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """What the worker would fail to build (SGIP's SMG password from an unset variable) is a
    configuration error in the gateway, before any worker starts."""
    from carriers.sgip.config import SgipLinkConfig
    from gateway.app import build_link
    from gateway.config import CarrierConfig
    from gateway.errors import ConfigError

    monkeypatch.delenv("NO_SUCH_SMG_PW", raising=False)
    link = SgipLinkConfig(port=8801, login_name="gw", password="pw", node_id=3053112345,
                          listen_port=8802, smg_login_name="smg",
                          smg_password_env="NO_SUCH_SMG_PW", own_process=True)
    config = CarrierConfig(short_code="106558000678", link=link)
    with pytest.raises(ConfigError, match="NO_SUCH_SMG_PW"):
        build_link("china_unicom", config, reactor=reactor, on_inbound=Inbox())
    ready = dataclasses.replace(link, smg_password="back-pw", smg_password_env=None)
    built = build_link("china_unicom", dataclasses.replace(config, link=ready),
                       reactor=reactor, on_inbound=Inbox())
    assert isinstance(built, LinkProcess) and not built.running
