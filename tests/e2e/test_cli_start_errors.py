"""`sdgw run` that cannot start says why in one line and exits 2."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from gateway.db.engine import make_engine, upgrade
from tests.conftest import REPO_ROOT
from tests.e2e.dispatch_processes import write_config


def test_a_taken_port_is_named_and_exit_is_2(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'start.db'}"
    upgrade(make_engine(database_url))
    config, _ = write_config(tmp_path, database_url)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config.write_text(_console_port(config.read_text(encoding="utf-8"), port),
                          encoding="utf-8")
        result = subprocess.run(
            [sys.executable, "-m", "gateway", "--config", str(config), "run"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("sdgw: cannot start the gateway"), result.stderr[-3000:]
    assert f"127.0.0.1:{port}" in last, last
    assert "Traceback" not in result.stderr


def _console_port(text: str, port: int) -> str:
    """The config with its console on ``port``."""
    out: list[str] = []
    section = ""
    for line in text.splitlines():
        if line.startswith("["):
            section = line
        if section == "[console]" and line.startswith("port = "):
            line = f"port = {port}"
        out.append(line)
    return "\n".join(out) + "\n"
