"""Mistakes a user can fix end as one ``sdgw: …`` line on stderr and exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.e2e.test_cli_editions import write_config

UNREACHABLE = "postgresql+psycopg://postgres:s3cret@127.0.0.1:1/nope"
"""A PostgreSQL URL whose port nothing listens on (loopback only)."""


def sdgw(config: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(config), *args],
        capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single ``sdgw:`` line of a refused command (exit status 2, nothing else)."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sdgw: "), lines[0]
    return lines[0]


def _config_with(tmp_path: Path, old: str, new: str) -> Path:
    path = write_config(tmp_path)
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.fixture
def unreachable(tmp_path: Path) -> Path:
    return _config_with(tmp_path, f'url = "sqlite:///{tmp_path / "gw.db"}"',
                        f'url = "{UNREACHABLE}"')


@pytest.mark.parametrize(
    "command",
    [("db", "upgrade"), ("db", "current"), ("report",), ("subscribers",), ("dispatch", "status")],
)
def test_an_unreachable_database_is_one_line_with_the_password_masked(
    unreachable: Path, command: tuple[str, ...]
) -> None:
    line = one_line(sdgw(unreachable, *command))
    assert "postgresql+psycopg://postgres:***@127.0.0.1:1/nope" in line
    assert "s3cret" not in line
    assert "Traceback" not in line


def test_an_unknown_time_zone_is_refused_by_config_check(tmp_path: Path) -> None:
    config = _config_with(tmp_path, "[newspaper]\n", '[newspaper]\ntimezone = "Mars/Olympus"\n')
    for command in (("config", "check"), ("report",), ("subscribers",)):
        line = one_line(sdgw(config, *command))
        assert line.startswith(f"sdgw: {config}: newspaper.timezone: "), line
        assert "'Mars/Olympus'" in line


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (("subscribers", "--limit", "-1"), "--limit -1"),
        (("sim", "serve", "--carrier", "china_mobile", "--port", "0"), "--port 0"),
        (("sim", "serve", "--carrier", "china_mobile", "--control-port", "70000"),
         "--control-port 70000"),
        (("sim", "mo", "--carrier", "china_mobile", "--from", "13800138000", "--text", "SD",
          "--wait", "-5"), "--wait -5"),
    ],
)
def test_numbers_out_of_range_are_refused(
    tmp_path: Path, command: tuple[str, ...], option: str
) -> None:
    line = one_line(sdgw(write_config(tmp_path), *command))
    assert line.startswith(f"sdgw: {option}: expected a number "), line


def test_an_unknown_order_id_names_it_and_only_a_few_valid_ones(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    articles = [{
        "id": f"test-{n}", "title": f"第{n}条新闻", "date": "2020-11-18T08:00:00+08:00",
        "channel": "教育新闻 > 教育热点", "url": f"http://edu.example.com/{n}.htm",
        "body": f"第{n}条新闻的正文,内容足够长,可以做成一条摘要。" * 3,
    } for n in range(40)]
    feed = tmp_path / "many.json"
    feed.write_text(json.dumps(articles, ensure_ascii=False), encoding="utf-8")
    assert sdgw(config, "db", "upgrade").returncode == 0
    ingested = sdgw(config, "ingest", str(feed))
    assert ingested.returncode == 0, ingested.stderr
    line = one_line(sdgw(config, "edition", "build", "--date", "2020-11-18", "--slot",
                         "evening", "--order", "999999,888888"))
    assert "names article 999999, 888888, not among this edition's articles" in line
    assert "(40 in all)" in line
    assert len(line) < 250, line


def test_dispatch_of_a_missing_edition_refuses_before_any_link(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert sdgw(config, "db", "upgrade").returncode == 0
    result = sdgw(config, "dispatch", "--edition", "424242", timeout=30)
    assert one_line(result) == "sdgw: there is no edition #424242"
    assert result.stdout == ""
