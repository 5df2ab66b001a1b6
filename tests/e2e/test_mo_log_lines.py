"""MOs and replies through the real path (simulated carrier → link → engine → reply) are one
log line each with carrier, masked number and ids; and ``sdgw run`` with ``logging.format =
"json"`` writes nothing on stderr but JSON lines, those among them."""

from __future__ import annotations

import json
import logging
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from sqlalchemy import select
from twisted.internet import reactor

from gateway.app import build_gateway
from gateway.config import load_config
from gateway.db.engine import make_engine, make_session_factory, upgrade
from gateway.db.models import InboundMessage, OutboundMessage, Subscriber
from tests.conftest import REPO_ROOT, free_port
from tests.e2e.test_cli_run import LogReader, _env, sdgw, write_config
from tests.e2e.test_link_against_simulator import wait_for
from tests.log_records import as_json, as_text, assert_no_whole_number, traffic

NUMBER = "13012345678"
CODE = "106558000678"


def _config(tmp_path: Path, *, json_lines: bool = False) -> Path:
    """test_cli_run's configuration, its content server on a free port too (not 8081)."""
    path = write_config(tmp_path)
    text = path.read_text(encoding="utf-8")
    if json_lines:
        text = '[logging]\nformat = "json"\n' + text
    path.write_text(text + f"\n[content]\nport = {free_port()}\n", encoding="utf-8")
    return path


@pytest_twisted.ensureDeferred
async def test_mo_and_reply_lines_carry_carrier_masked_number_and_ids(
        tmp_path: Path, monkeypatch: Any, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("TEST_SDGW_PASSWORD", "pw-1234")
    caplog.set_level(logging.INFO, logger="gateway.inbound")
    config = load_config(_config(tmp_path))
    engine = make_engine(config.database_url)
    upgrade(engine)
    sessions = make_session_factory(engine)
    gateway = build_gateway(config, engine, reactor=reactor)
    gateway.root.startService()
    try:
        for link in gateway.links.values():
            await link.when_bound()
        simulator = gateway.simulators["china_unicom"]
        simulator.inject_mo(NUMBER, CODE, "SD")
        await wait_for(lambda: len(traffic(caplog.records, "reply")) == 1, timeout=10)
        simulator.inject_mo("12345678901", CODE, "SD")  # not a mobile number
        simulator.inject_mo(NUMBER, "106558000999", "SD")  # not our code
        await wait_for(lambda: len(traffic(caplog.records, "mo")) == 3, timeout=10)
    finally:
        await gateway.root.stopService()

    with sessions() as session:
        subscriber_id = session.scalar(select(Subscriber.id).where(Subscriber.msisdn == NUMBER))
        inbound = dict(session.execute(select(InboundMessage.id, InboundMessage.outcome)).all())
        (reply_id,) = session.scalars(select(OutboundMessage.id)).all()
    mo_lines = traffic(caplog.records, "mo")
    assert len(mo_lines) == 3  # one line per MO, no other line about them
    subscribe, invalid, unknown = (as_json(record) for record in mo_lines)
    assert subscribe["carrier"] == "china_unicom" and subscribe["number"] == "130****5678"
    assert subscribe["message_id"] in inbound and subscribe["subscriber_id"] == subscriber_id
    assert subscribe["outcome"] == inbound[subscribe["message_id"]]
    assert subscribe["reply_id"] == reply_id and subscribe["level"] == "info"
    assert (invalid["outcome"], invalid["level"], invalid["number"]) == (
        "invalid_number", "warning", "123****8901")
    assert "subscriber_id" not in invalid and invalid["message_id"] in inbound
    assert (unknown["outcome"], unknown["level"]) == ("unknown_service", "warning")
    assert "106558000999 is not one of our service codes" in as_text(mo_lines[2])
    assert re.search(rf"MO #{subscribe['message_id']} on china_unicom from 130\*\*\*\*5678: "
                     rf"{subscribe['outcome']}$", as_text(mo_lines[0]))

    (reply_line,) = traffic(caplog.records, "reply")
    reply = as_json(reply_line)
    assert (reply["carrier"], reply["number"], reply["message_id"], reply["subscriber_id"],
            reply["in_reply_to"], reply["outcome"]) == (
        "china_unicom", "130****5678", reply_id, subscriber_id, subscribe["message_id"],
        "accepted")
    assert f"reply #{reply_id} on china_unicom to 130****5678: accepted" in as_text(reply_line)
    assert_no_whole_number(caplog.records, NUMBER, "12345678901")


def test_sdgw_run_logs_json_lines(tmp_path: Path) -> None:
    config = _config(tmp_path, json_lines=True)
    assert sdgw(config, "db", "upgrade").returncode == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "--config", str(config), "run"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=REPO_ROOT,
        env=_env())
    log = LogReader(process)
    try:
        log.wait_for(r'"event": "link_bound"', count=3)
        result = sdgw(config, "sim", "mo", "--carrier", "china_unicom", "--from", NUMBER,
                      "--to", CODE, "--text", "SD", "--wait", "3")
        assert result.returncode == 0, result.stderr
        log.wait_for(r'"event": "reply"')
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    log.wait_for(r"stopped")
    assert code == 0, log.text
    entries = [json.loads(line) for line in log.lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    (mo,) = [e for e in entries if e.get("event") == "mo"]
    assert (mo["carrier"], mo["number"], mo["logger"]) == (
        "china_unicom", "130****5678", "gateway.inbound")
    (reply,) = [e for e in entries if e.get("event") == "reply"]
    assert reply["in_reply_to"] == mo["message_id"] and reply["outcome"] == "accepted"
    assert NUMBER not in log.text
