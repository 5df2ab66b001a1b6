"""`sdgw demo --serve`: the demo's data is visible in the console, and it stops cleanly."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from tests.conftest import REPO_ROOT
from tests.e2e.test_cli_run import _env, write_config
from tests.e2e.test_console_security import Browserless


def test_demo_serve_shows_its_data_in_the_console(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    config = write_config(folder)
    port = tomllib.loads(config.read_text(encoding="utf-8"))["console"]["port"]
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "--config", str(config), "demo", "--serve",
         "--subscribers", "3"],
        cwd=REPO_ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "operator console:" in line:
                break
        found = re.search(r"http://127\.0\.0\.1:(\d+)/\s+\(name: demo, password: (\S+)\)",
                          "".join(lines))
        assert found, "".join(lines)
        assert int(found.group(1)) == port
        assert (tmp_path / "var" / "demo.db").exists()  # beside the config, not in the repo

        client = Browserless(f"http://127.0.0.1:{port}")
        assert client.login("demo", found.group(2)).status == 303
        carriers = json.loads(client.get("/api/carriers").body)
        assert carriers["total_active"] == 9
        assert {row["carrier"]: row["active"] for row in carriers["rows"]} == {
            "china_mobile": 3, "china_unicom": 3, "china_telecom": 3}
        editions = json.loads(client.get("/api/editions").body)["rows"]
        assert sorted((row["carrier"], row["total"]) for row in editions) == [
            ("china_mobile", 3), ("china_telecom", 3), ("china_unicom", 3)]
        assert all(row["pending"] == 0 and row["submitted"] == 0 for row in editions)
        page = client.get("/")
        assert page.status == 200 and 'id="total-active">9<' in page.text
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            rest = process.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0, rest
    assert "Traceback" not in rest
