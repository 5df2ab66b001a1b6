"""Progress of long commands as a user sees it: on a terminal (a real ``sdgw`` on a
pseudo-terminal) a live ``rich`` display; piped, plain periodic lines; never anything but the
command's own output on stdout."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.db.engine import make_engine, make_session_factory
from gateway.db.models import SubscriptionEvent
from tests.conftest import REPO_ROOT
from tests.e2e.test_cli_editions import sdgw, write_config
from tests.e2e.test_dispatch_lifecycle import (  # noqa: F401  (children: a fixture)
    Child,
    assert_every_number_got_both_parts_once,
    children,
    dispatch_command,
    make_site,
    start_smsc,
)
from tests.service.test_purge import seed_ended_subscriptions
from tests.terminal import (
    CLEAR_LINE,
    HIDE_CURSOR,
    SHOW_CURSOR,
    run_on_terminal,
    sdgw_on_terminal,
)

ESCAPE = "\x1b"
FILES = 40


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = write_config(tmp_path)
    upgraded = sdgw(path, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    return path


@pytest.fixture
def articles(tmp_path: Path) -> Path:
    """``FILES`` JSON article files, one article each."""
    folder = tmp_path / "articles"
    folder.mkdir()
    for n in range(FILES):
        (folder / f"article-{n:03d}.json").write_text(json.dumps([{
            "title": f"第{n}条新闻：全省经济运行稳中有进", "date": "2020-11-18T08:00:00+08:00",
            "channel": "要闻", "url": f"http://example.invalid/news/{n}.htm",
            "body": "全省经济运行稳中有进，重点项目建设加快推进。" * 5}], ensure_ascii=False),
            encoding="utf-8")
    return folder


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SDGW_NODE", "SDGW_PROGRESS_EVERY")}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def _piped(config: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=120, cwd=REPO_ROOT, env=env)


def _bar_drawn(terminal: str, description: str, done: str) -> bool:
    """A live bar: the line redrawn in place, with the description and the count."""
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", terminal)
    return bool(re.search(rf"{re.escape(description)}\s+\S*\s*{re.escape(done)}", plain))


def test_ingest_on_a_terminal_draws_a_live_bar_and_stdout_stays_clean(
        config: Path, articles: Path) -> None:
    finished = sdgw_on_terminal(config, "ingest", str(articles))
    assert finished.code == 0, finished.terminal
    screen = finished.terminal
    assert HIDE_CURSOR in screen and SHOW_CURSOR in screen and CLEAR_LINE in screen
    assert _bar_drawn(screen, "ingest", f"{FILES}/{FILES} files"), screen
    assert "100%" in screen and "ETA" in screen
    assert "progress:" not in screen  # the live display, not the plain lines
    # stdout was a pipe: one line per article and the total, no escape sequence
    lines = finished.stdout.splitlines()
    assert ESCAPE not in finished.stdout
    assert len(lines) == FILES + 1 and all(line.startswith("new ") for line in lines[:-1])
    assert lines[-1] == f"{FILES} article(s): {FILES} new; 0 file(s) failed"


def test_ingest_with_stdout_on_the_terminal_too_prints_above_the_bar(
        config: Path, articles: Path) -> None:
    finished = sdgw_on_terminal(config, "ingest", str(articles), stdout_on_terminal=True)
    assert finished.code == 0, finished.terminal
    screen = finished.terminal
    assert _bar_drawn(screen, "ingest", f"{FILES}/{FILES} files"), screen
    assert screen.count("第") >= FILES and f"{FILES} article(s): {FILES} new" in screen


def test_ingest_piped_prints_plain_periodic_lines(config: Path, articles: Path) -> None:
    # 40 files can be ingested in well under 50 ms on a fast machine: a line every 2 ms.
    result = _piped(config, "ingest", str(articles), env=_env(SDGW_PROGRESS_EVERY="0.002"))
    assert result.returncode == 0, result.stderr
    assert ESCAPE not in result.stderr and ESCAPE not in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("progress: ")]
    periodic = [line for line in lines if " done: " not in line]
    assert periodic, result.stderr
    assert all(re.fullmatch(rf"progress: ingest \d+/{FILES} files \(\d+%\), [\d.,]+/s, "
                            r"ETA (\d+:\d\d:\d\d|\?)", line) for line in periodic), periodic
    assert re.fullmatch(rf"progress: ingest done: {FILES} files in [\d.]+s \([\d.,]+/s\)",
                        lines[-1]), lines
    assert len(result.stdout.splitlines()) == FILES + 1


def test_plain_lines_can_be_turned_off_and_a_bad_period_is_refused(
        config: Path, articles: Path) -> None:
    quiet = _piped(config, "ingest", str(articles), env=_env(SDGW_PROGRESS_EVERY="0"))
    assert quiet.returncode == 0 and "progress:" not in quiet.stderr
    bad = _piped(config, "ingest", str(articles), env=_env(SDGW_PROGRESS_EVERY="soon"))
    assert bad.returncode == 2
    assert bad.stderr.strip() == ("sdgw: SDGW_PROGRESS_EVERY='soon': expected seconds between "
                                  "progress lines, a number >= 0 (0 turns them off)")


def test_report_json_and_csv_stay_clean_while_progress_is_drawn(config: Path) -> None:
    for fmt in ("json", "csv"):
        finished = sdgw_on_terminal(config, "report", "--format", fmt)
        assert finished.code == 0, finished.terminal
        assert _bar_drawn(finished.terminal, "refresh figures", "2/2 steps"), finished.terminal
        assert ESCAPE not in finished.stdout
        if fmt == "json":
            assert set(json.loads(finished.stdout)) >= {"carriers", "daily", "editions"}
        else:
            sections = finished.stdout.split("\r\n\r\n")
            assert [s.splitlines()[0] for s in sections] == [
                "# carriers", "# period", "# daily", "# editions"]
            rows = list(csv.reader(io.StringIO(sections[0].split("\r\n", 1)[1])))
            assert rows[0][:3] == ["carrier", "label", "active"] and len(rows) == 4
    piped = _piped(config, "report", "--format", "json",
                   env=_env(SDGW_PROGRESS_EVERY="0.01"))
    assert piped.returncode == 0 and json.loads(piped.stdout)["carriers"]


def test_purge_on_a_terminal_shows_its_batches(config: Path) -> None:
    url = f"sqlite:///{config.parent / 'gw.db'}"
    sessions = make_session_factory(make_engine(url))
    with sessions.begin() as session:
        seed_ended_subscriptions(session, subscribers=30, events_each=4,
                                 ended=datetime.now(UTC) - timedelta(days=400))
    dry = sdgw_on_terminal(config, "events", "purge", "--dry-run")
    assert dry.code == 0 and dry.stdout.startswith("would delete 120 event(s)"), dry.stdout
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(SubscriptionEvent)) == 120
    finished = sdgw_on_terminal(config, "events", "purge", "--batch", "25")
    assert finished.code == 0, finished.terminal
    assert finished.stdout.startswith("deleted 120 event(s)"), finished.stdout
    assert _bar_drawn(finished.terminal, "purge events", "120/120 events"), finished.terminal
    assert ESCAPE not in finished.stdout
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(SubscriptionEvent)) == 0


def test_dispatch_shows_each_carrier_on_a_terminal_and_plain_lines_piped(
        tmp_path: Path, children: list[Child]) -> None:  # noqa: F811
    site = make_site(tmp_path, f"sqlite:///{tmp_path / 'dispatch.db'}", 1200, tps=400)
    start_smsc(site, children)
    finished = sdgw_on_terminal(site.config, *dispatch_command(site), env=_env())
    assert finished.code == 0, finished.terminal
    assert _bar_drawn(finished.terminal, "dispatch china_mobile", "1200/1200"), \
        finished.terminal[-3000:]
    assert HIDE_CURSOR in finished.terminal and "ETA" in finished.terminal
    # the log lines went above the display, on the terminal; the status table to stdout
    assert "link: unbound (by us)" in finished.terminal
    assert ESCAPE not in finished.stdout and "china_mobile" in finished.stdout
    assert_every_number_got_both_parts_once(site)

    (tmp_path / "piped").mkdir()
    again = make_site(tmp_path / "piped", f"sqlite:///{tmp_path / 'piped.db'}", 1200, tps=400)
    again.smsc_port, again.control_port = site.smsc_port, site.control_port
    again.write_config(tps=400)
    result = _piped(again.config, *dispatch_command(again), env=_env(SDGW_PROGRESS_EVERY="0.5"))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("progress: ")]
    assert any(re.fullmatch(r"progress: dispatch china_mobile [\d,]+/1,200 deliveries \(\d+%\), "
                            r"[\d.,]+/s, ETA (\d+:\d\d:\d\d|\?)", line) for line in lines), \
        result.stderr[-3000:]
    assert re.fullmatch(r"progress: dispatch china_mobile done: 1,200 deliveries in [\d.]+s "
                        r"\([\d.,]+/s\)", lines[-1]), lines
    assert ESCAPE not in result.stderr + result.stdout


def test_demo_on_a_terminal_shows_each_step(tmp_path: Path) -> None:
    config = REPO_ROOT / "config" / "gateway.toml"
    finished = sdgw_on_terminal(config, "demo", "--subscribers", "20", timeout=240)
    assert finished.code == 0, finished.terminal[-3000:]
    screen = finished.terminal
    for description, done in (("subscribers texting SD", "60/60 subscribers"),
                              ("subscribers texting Y", "60/60 subscribers"),
                              ("dispatch china_unicom", "20/20 deliveries"),
                              ("receipts", "60/60 deliveries")):
        assert _bar_drawn(screen, description, done), (description, screen[-3000:])
    assert "total" in finished.stdout and "messages/s" in finished.stdout
    assert ESCAPE not in finished.stdout


def test_a_benchmark_on_a_terminal_shows_its_progress() -> None:
    finished = run_on_terminal(
        [sys.executable, "-m", "bench.link_bench", "--messages", "2000", "--rounds", "1",
         "--protocols", "smpp,cmpp", "--codec-seconds", "0.05"],
        env=_env(PYTHONPATH=str(REPO_ROOT)), timeout=180)
    assert finished.code == 0, finished.terminal[-3000:]
    assert _bar_drawn(finished.terminal, "codec cases", "6/6 cases"), finished.terminal
    assert _bar_drawn(finished.terminal, "link rounds", "2/2 rounds"), finished.terminal
    assert ESCAPE not in finished.stdout and "CMPP / SMPP" in finished.stdout
