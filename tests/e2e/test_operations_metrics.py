"""`sdgw run`'s metrics, scraped while a scripted scenario runs against the simulators (on
free loopback ports, SQLite and PostgreSQL): an MO of each keyword kind, a link dropped and
bound again, a throttling SMSC, a dispatch with receipts — each change shows in the next
scrape, parsed with prometheus_client's own parser. And `/ready` goes 503 while a simulator
is stopped and back to 200 when it returns."""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.console_gateway import RunningGateway, running_gateway, send_edition

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
PROTOCOLS = {"china_unicom": "sgip", "china_telecom": "smgp"}
GRACE = 2.0


def _edit(text: str) -> str:
    text = text.replace("[metrics]\n", f"[metrics]\nrefresh_seconds = 0.3\n"
                                       f"link_grace_seconds = {GRACE}\n")
    # China Telecom's simulated ISMG takes 2 submits a second; more are throttled.
    return text.replace("[carriers.china_telecom.simulator]\n",
                        "[carriers.china_telecom.simulator]\ntps = 2\n")


def scrape(gateway: RunningGateway) -> Samples:
    with urllib.request.urlopen(gateway.metrics_url + "/metrics", timeout=5) as answer:
        assert answer.headers["content-type"].startswith("text/plain; version=")
        text = answer.read().decode("utf-8")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every series of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def wait_for(gateway: RunningGateway, what: str, check: Callable[[Samples], bool],
             timeout: float = 20.0) -> Samples:
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(gateway)
        if check(samples):
            return samples
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{gateway.log.text[-3000:]}")
        time.sleep(0.1)


def ready(gateway: RunningGateway) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(gateway.metrics_url + "/ready", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def control(gateway: RunningGateway, carrier: str, action: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{gateway.controls[carrier]}/{action}", data=b"{}", method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def state(samples: Samples, carrier: str) -> str:
    found = [dict(labels)["state"] for (name, labels), v in samples.items()
             if name == "sdgw_link_state" and dict(labels)["carrier"] == carrier and v == 1.0]
    assert len(found) == 1, found
    return found[0]


def test_metrics_follow_a_scripted_scenario(tmp_path: Path, database_url: str) -> None:
    with running_gateway(tmp_path, database_url, protocols=PROTOCOLS, edit=_edit) as gateway:
        first = wait_for(gateway, "every link bound", lambda s: all(
            state(s, c) == "bound" for c in gateway.controls))
        assert value(first, "sdgw_link_window", carrier="china_mobile") == 16
        assert {dict(labels)["protocol"] for (name, labels) in first
                if name == "sdgw_link_state"} == {"smpp", "sgip", "smgp"}
        assert total(first, "sdgw_mo_total") == 0
        assert value(first, "sdgw_figures_read_timestamp_seconds") > 0
        assert {dict(labels)["slot"] for (name, labels) in first
                if name == "sdgw_scheduler_next_run_timestamp_seconds"} == {"morning", "evening"}
        assert value(first, "sdgw_db_transaction_seconds_count") > 0

        # An MO of each keyword kind, one at a time: each shows in its own counter.
        number = "13905319000"
        steps = [(number, "SD", "subscribe"), (number, "Y", "confirm"),
                 (number, "0000", "query"), (number, "HELLO", "help"),
                 (number, "TD", "unsubscribe"), ("12345", "SD", "invalid")]
        before = first
        for sender, text, kind in steps:
            gateway.mo("china_mobile", sender, text)
            after = wait_for(gateway, f"the {text} MO counted as {kind}", lambda s, k=kind: value(
                s, "sdgw_mo_total", carrier="china_mobile", outcome=k) == 1)
            assert total(after, "sdgw_mo_total") == total(before, "sdgw_mo_total") + 1
            before = after
        after = wait_for(gateway, "the five replies", lambda s: value(
            s, "sdgw_replies_sent_total", carrier="china_mobile", outcome="accepted") == 5)
        assert value(after, "sdgw_link_inbound_total", carrier="china_mobile", kind="mo") == 6
        assert value(after, "sdgw_link_submits_total", carrier="china_mobile",
                     outcome="accepted") >= 5
        assert value(after, "sdgw_link_response_latency_seconds_count",
                     carrier="china_mobile") >= 5

        # The SMSC drops the link: it binds again and a reconnect is counted.
        assert value(after, "sdgw_link_reconnects_total", carrier="china_mobile") == 0
        changed = value(after, "sdgw_link_state_change_timestamp_seconds", carrier="china_mobile")
        assert control(gateway, "china_mobile", "drop")["dropped"] == 1
        dropped = wait_for(gateway, "china_mobile bound again", lambda s: value(
            s, "sdgw_link_reconnects_total", carrier="china_mobile") == 1
            and state(s, "china_mobile") == "bound")
        assert value(dropped, "sdgw_link_state_change_timestamp_seconds",
                     carrier="china_mobile") > changed

        # A throttling ISMG: six SDs at once on China Telecom, whose simulator takes 2/s.
        assert value(dropped, "sdgw_link_throttling_episodes_total",
                     carrier="china_telecom") == 0
        for n in range(6):
            gateway.mo("china_telecom", f"1331234560{n}", "SD")
        throttled = wait_for(gateway, "a throttling episode", lambda s: value(
            s, "sdgw_link_throttling_episodes_total", carrier="china_telecom") >= 1)
        assert value(throttled, "sdgw_mo_total", carrier="china_telecom",
                     outcome="subscribe") >= 1
        throttled = wait_for(gateway, "the six prompts sent anyway", lambda s: value(
            s, "sdgw_replies_sent_total", carrier="china_telecom", outcome="accepted") == 6)
        assert value(throttled, "sdgw_link_throttle_pause_seconds", carrier="china_telecom") \
            <= 30.0

        # A dispatch with receipts: the edition's progress by outcome, receipts by state.
        for carrier, numbers in {"china_mobile": ["13905319001", "13905319002"],
                                 "china_telecom": ["13312345600"]}.items():
            for each in numbers:
                gateway.mo(carrier, each, "SD" if each != "13312345600" else "Y")
                if each != "13312345600":
                    gateway.mo(carrier, each, "Y")
        wait_for(gateway, "three confirmations", lambda s: total(
            s, "sdgw_mo_total", outcome="confirm") == 4)
        receipts_before = total(throttled, "sdgw_receipts_total")
        send_edition(gateway)
        edition = "2020-11-18/morning"
        sent = wait_for(gateway, "the dispatch's figures final", lambda s: (
            total(s, "sdgw_dispatch_deliveries", edition=edition) == 3
            and total(s, "sdgw_dispatch_deliveries", edition=edition, outcome="pending") == 0
            and total(s, "sdgw_dispatch_deliveries", edition=edition, outcome="submitted") == 0))
        assert total(sent, "sdgw_dispatch_deliveries", edition=edition,
                     carrier="china_mobile") == 2
        assert total(sent, "sdgw_dispatch_deliveries", edition=edition,
                     carrier="china_telecom") == 1
        assert sum(total(sent, "sdgw_dispatch_deliveries", edition=edition, outcome=o)
                   for o in ("delivered", "failed", "other")) == 3
        assert value(sent, "sdgw_dispatch_uncertain_deliveries", edition=edition,
                     carrier="china_mobile") == 0
        # Every receipt read is counted once by its state.
        assert total(sent, "sdgw_receipts_total") > receipts_before
        assert total(sent, "sdgw_receipts_total") == total(
            sent, "sdgw_link_inbound_total", kind="receipt")
        assert value(sent, "sdgw_link_inbound_unacknowledged", carrier="china_mobile") == 0


def test_ready_is_503_while_a_simulator_is_stopped_and_200_when_it_returns(
        tmp_path: Path, database_url: str) -> None:
    with running_gateway(tmp_path, database_url, protocols=PROTOCOLS, edit=_edit) as gateway:
        deadline = time.monotonic() + 10
        while ready(gateway)[0] != 200:
            assert time.monotonic() < deadline, ready(gateway)
            time.sleep(0.1)
        code, body = ready(gateway)
        assert body["checks"]["links"] == {"china_mobile": "bound", "china_unicom": "bound",
                                           "china_telecom": "bound"}
        assert body["checks"]["schema"] == "current"
        assert body["checks"]["scheduler"] == "running"
        with urllib.request.urlopen(gateway.metrics_url + "/health", timeout=5) as answer:
            assert answer.status == 200 and json.loads(answer.read()) == {"status": "alive"}

        assert control(gateway, "china_telecom", "stop") == {"accepting": False}
        stopped_at = time.monotonic()
        # Within the reconnect budget it is still ready, reconnecting.
        code, body = ready(gateway)
        if time.monotonic() - stopped_at < GRACE - 0.5:
            assert code == 200, body
        deadline = time.monotonic() + 15
        while ready(gateway)[0] != 503:
            assert time.monotonic() < deadline, ready(gateway)
            time.sleep(0.1)
        assert time.monotonic() - stopped_at >= GRACE - 0.2
        code, body = ready(gateway)
        assert code == 503 and body["status"] == "not ready"
        assert body["checks"]["links"]["china_telecom"] == "not bound"
        assert [p for p in body["problems"] if p.startswith("link china_telecom: not bound")]
        assert body["checks"]["links"]["china_mobile"] == "bound"
        down = scrape(gateway)
        assert state(down, "china_telecom") == "connecting"
        assert value(down, "sdgw_link_connect_failures_total", carrier="china_telecom") >= 1

        assert control(gateway, "china_telecom", "start") == {"accepting": True}
        deadline = time.monotonic() + 15
        while ready(gateway)[0] != 200:
            assert time.monotonic() < deadline, ready(gateway)
            time.sleep(0.1)
        up = scrape(gateway)
        assert state(up, "china_telecom") == "bound"
        assert value(up, "sdgw_link_reconnects_total", carrier="china_telecom") == 1


def test_sdgw_run_stops_promptly_with_its_metrics_refresher_running(tmp_path: Path) -> None:
    """SIGTERM while the refresher's timer runs and a scrape was just answered: the process
    exits 0 within seconds (every timer the operations services start is stopped)."""
    with running_gateway(tmp_path, protocols=PROTOCOLS, edit=_edit) as gateway:
        wait_for(gateway, "a read of the figures", lambda s: value(
            s, "sdgw_figures_read_timestamp_seconds") > 0)
        started = time.monotonic()
        gateway.process.send_signal(signal.SIGTERM)
        assert gateway.process.wait(timeout=20) == 0
        assert time.monotonic() - started < 8.0, gateway.log.text[-3000:]
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(gateway.metrics_url + "/health", timeout=2)


def test_metrics_can_be_refused_by_configuration(tmp_path: Path) -> None:
    def refuse(text: str) -> str:
        return text.replace("[metrics]\n", "[metrics]\nenabled = false\n")

    with running_gateway(tmp_path, edit=refuse) as gateway:
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(gateway.metrics_url + "/metrics", timeout=2)
        assert "metrics at" not in gateway.log.text
        assert control(gateway, "china_mobile", "drop")["dropped"] == 1  # links still run
