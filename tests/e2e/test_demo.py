"""`sdgw demo` tells the whole story and exits 0; stopped midway, it stops cleanly."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT


def test_demo_runs_the_whole_story() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "demo", "--subscribers", "4"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "12 subscribers texted SD: all pending" in out
    assert "12 subscribers texted Y: all active" in out
    assert "sample articles ingested" in out
    assert "edition 2020-11-18/morning" in out
    total = next(line for line in out.splitlines() if line.strip().startswith("total"))
    subscribers, messages = total.split()[1:3]
    assert (subscribers, messages) == ("12", "12")
    assert "all receipts back" in out


@pytest.mark.parametrize("own_process", [False, True], ids=["links-inside", "link-workers"])
def test_demo_plays_through_native_protocols(own_process: bool, tmp_path: Path) -> None:
    """config/native.toml: China Mobile's subscribers, edition and receipts go over CMPP 3.0,
    China Unicom's over SGIP 1.2 (reports come back over the SMG's connection to the gateway's
    listener), China Telecom's over SMGP 3.0; every message's receipt comes back and is
    matched. The same with each link in a worker process of its own (``link.own_process``)."""
    config = REPO_ROOT / "config" / "native.toml"
    if own_process:
        text = re.sub(r"(\[carriers\.\w+\.link\]\n)", r"\1own_process = true\n",
                      config.read_text(encoding="utf-8"))
        assert text.count("own_process = true") == 3
        config = tmp_path / "native.toml"
        config.write_text(text, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(config), "demo",
         "--subscribers", "3"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "links bound: china_mobile (CMPP), china_unicom (SGIP), china_telecom (SMGP)" in out
    assert "9 subscribers texted Y: all active" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()
            if line.strip().startswith(("china_", "total"))}
    for carrier in ("china_mobile", "china_unicom", "china_telecom"):
        subscribers, messages, _, delivered, failed, other = map(int, rows[carrier])
        assert (subscribers, messages) == (3, 3), out
        assert delivered + failed + other == messages, out  # every receipt back and matched
    assert rows["total"][:2] == ["9", "9"], out
    assert "all receipts back" in out
    assert "Traceback" not in result.stderr


def test_sigterm_in_the_middle_of_the_story_stops_cleanly() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "demo", "--subscribers", "2000"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:  # until the links are bound: the story is under way
            lines.append(line)
            if "links bound" in line:
                break
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        rest, _ = process.communicate(timeout=30)
        took = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    out = "".join(lines) + rest
    assert process.returncode == 0, out
    assert "demo stopped (SIGTERM/Ctrl-C)" in out, out
    assert "Traceback" not in out, out
    assert took < 15, f"stopped only after {took:.1f}s"
