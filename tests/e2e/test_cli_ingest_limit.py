"""`sdgw ingest` refuses an article file above `ingest.max_bytes` in one line, without
reading it: a 50 MB page costs neither time nor memory."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO_ROOT
from tests.e2e.test_cli_editions import SAMPLES, write_config


def sdgw(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), *args],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


_MEASURED = """
import resource, runpy, sys
try:
    runpy.run_module("gateway", run_name="__main__", alter_sys=True)
finally:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sys.stderr.write(f"peak-rss-kb {peak}\\n")
"""


def measured_sdgw(config: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """``sdgw`` and its own peak RSS in MB (reported by the process itself)."""
    result = subprocess.run([sys.executable, "-c", _MEASURED, "--config", str(config), *args],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    lines = result.stderr.splitlines()
    peak = next(int(line.split()[1]) for line in lines if line.startswith("peak-rss-kb "))
    result.stderr = "\n".join(line for line in lines if not line.startswith("peak-rss-kb "))
    return result, peak / 1024


def test_a_file_above_the_limit_is_refused_unread(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert sdgw(config, "db", "upgrade").returncode == 0
    big = tmp_path / "huge.html"
    page = "<html><body>" + "<p>山东手机报 一段很长的正文。</p>" * 1_400_000 + "</body></html>"
    big.write_text(page, encoding="utf-8")
    size = big.stat().st_size
    assert size > 50_000_000
    started = time.monotonic()
    result, peak_mb = measured_sdgw(config, "ingest", str(big))
    took = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [f"failed     {big}: {size:,} bytes, more than ingest.max_bytes "
                     "(5,000,000); not read"], result.stderr
    assert took < 20, f"{took:.1f}s"
    assert peak_mb < 300, f"peak RSS {peak_mb:.0f} MB"


def test_the_limit_is_configurable_and_real_pages_pass(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    config.write_text(config.read_text(encoding="utf-8") + "\n[ingest]\nmax_bytes = 1000\n",
                      encoding="utf-8")
    assert sdgw(config, "db", "upgrade").returncode == 0
    sample = sorted(p for p in SAMPLES.iterdir() if p.is_file())[0]
    refused = sdgw(config, "ingest", str(sample))
    assert refused.returncode == 1 and "more than ingest.max_bytes (1,000)" in refused.stderr
    config.write_text(config.read_text(encoding="utf-8").replace("max_bytes = 1000",
                                                                 "max_bytes = 5000000"),
                      encoding="utf-8")
    accepted = sdgw(config, "ingest", str(sample))
    assert accepted.returncode == 0, accepted.stderr
