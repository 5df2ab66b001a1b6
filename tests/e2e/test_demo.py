"""`sdgw demo` tells the whole story and exits 0."""

from __future__ import annotations

import subprocess
import sys

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
