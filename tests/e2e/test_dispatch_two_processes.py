"""Two gateway processes share one dispatch on PostgreSQL: both send, nobody gets two copies.
Also: `sdgw dispatch status` reports the outcome."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.db.dispatch_models import Delivery
from gateway.db.engine import make_engine, make_session_factory, upgrade
from tests.conftest import REPO_ROOT
from tests.e2e.dispatch_processes import received, wait_for_control, write_config
from tests.service.dispatch_fixtures import seed_edition, seed_subscribers

SUBSCRIBERS = 2000


def test_two_processes_split_one_dispatch(tmp_path: Path, database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several processes share a dispatch on PostgreSQL (SQLite is one process)")
    config, control = write_config(tmp_path, database_url)
    text = config.read_text(encoding="utf-8").replace("chunk = 32", "chunk = 32\ncluster_size = 2")
    config.write_text(text, encoding="utf-8")
    engine = make_engine(database_url)
    upgrade(engine)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        edition_id = seed_edition(session, segments=2)
        numbers = seed_subscribers(session, SUBSCRIBERS)
    simulator = subprocess.Popen(
        [sys.executable, "-m", "gateway", "--config", str(config), "sim", "serve",
         "--carrier", "china_mobile"], cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    command = [sys.executable, "-m", "gateway", "--config", str(config), "dispatch",
               "--edition", str(edition_id), "--ignore-quiet-hours"]
    processes: list[subprocess.Popen[str]] = []
    try:
        wait_for_control(control)
        processes = [
            subprocess.Popen(command, cwd=REPO_ROOT, text=True, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE,
                             env={**os.environ, "SDGW_NODE": f"node-{n}"})
            for n in (1, 2)
        ]
        outputs = [p.communicate(timeout=300) for p in processes]
        for process, (_, err) in zip(processes, outputs, strict=True):
            assert process.returncode == 0, err[-3000:]
        time.sleep(0.5)
        parts = received(control)
        status = subprocess.run(
            [sys.executable, "-m", "gateway", "--config", str(config), "dispatch", "status"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        simulator.terminate()
        simulator.wait(timeout=30)
    per_number = Counter(part["to"] for part in parts)
    assert per_number == dict.fromkeys(numbers, 2)  # two parts each, exactly once
    with sessions() as session:
        by_node = dict(session.execute(select(Delivery.claimed_by, func.count())
                                       .group_by(Delivery.claimed_by)).all())
    # Claims carry each process's claim name, "<lease id>:<node name>".
    nodes = Counter()
    for claim, count in by_node.items():
        nodes[claim.split(":", 1)[1]] += count
    assert set(nodes) == {"node-1", "node-2"} and min(nodes.values()) > SUBSCRIBERS // 10
    assert status.returncode == 0
    line = next(row for row in status.stdout.splitlines() if "china_mobile" in row)
    assert f" {SUBSCRIBERS} " in line and " done " in line
