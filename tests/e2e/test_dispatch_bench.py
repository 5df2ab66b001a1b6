"""``bench.dispatch_bench`` end to end on a small base: its bare-link phase (once broken by a
missing ``measure_link``) now measures with ``bench.link_bench.measure_links``, and the run
checks that every subscriber got exactly one copy."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_dispatch_bench_runs_its_link_phase_and_prints_a_ratio() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "SDGW_PROGRESS_EVERY": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.dispatch_bench", "--subscribers", "300",
         "--link-messages", "1000", "--window", "100", "--receipt-delay", "0"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert re.search(r"bare link submit_sm/s \(same run\)\s+[\d,]+", done.stdout), done.stdout
    assert re.search(r"ratio\s+\d+\.\d\d", done.stdout)
    assert "every subscriber exactly one copy: yes" in done.stdout
