"""The README's "Running in production" as far as it can be checked here: every sdgw command
it gives parses and has ``--help``, its configuration snippets load on top of
config/native.toml, the files it names exist, the scrape target and probes are where
config/native.toml serves metrics, and logrotate accepts its snippet. (The shell sequence
itself was run on a fresh clone as root: useradd, PostgreSQL, backups; systemctl needs a
booted systemd.)"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import build_parser, command
from gateway.config import load_config
from tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def _section() -> str:
    start = README.index("\n## Running in production\n")
    end = README.index("\n## ", start + 1)
    return README[start:end]


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", _section(), flags=re.S)


def _sdgw_commands() -> list[list[str]]:
    """Every ``contrib/sdgwctl ARGS`` of the section's shell blocks and prose, as argv."""
    found = []
    for text in [*_blocks("sh"), _section()]:
        for line in text.splitlines():
            for match in re.finditer(r"contrib/sdgwctl ([^`\n]+)", line):
                words = re.sub(r"\$\(date \+\\?%F\)", "2026-12-03", match.group(1))
                found.append(shlex.split(words.split(" # ")[0]))
    assert found
    return found


def test_every_sdgw_command_of_the_section_parses_and_has_help() -> None:
    parser = build_parser()
    seen: set[tuple[str, ...]] = set()
    for argv in _sdgw_commands():
        args = parser.parse_args(argv)  # exits (fails the test) on an unknown option
        assert callable(command(args.handler))
        words = tuple(word for word in argv[:2] if not word.startswith("-")
                      and not word.startswith("/") and word not in ("alice", "bob"))
        seen.add(words)
    assert {("config", "check"), ("db", "upgrade"), ("db", "current"), ("db", "backup"),
            ("operator", "add"), ("operator", "list")} <= seen
    for words in sorted(seen):
        shown = subprocess.run([sys.executable, "-m", "gateway", *words, "--help"],
                               capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
        assert shown.returncode == 0 and "usage: sdgw" in shown.stdout, (words, shown.stderr)


def test_the_files_it_names_exist() -> None:
    section = _section()
    for path in ("config/native.toml", "contrib/systemd/sdgw.service", "contrib/sdgwctl"):
        assert path in section
        assert (REPO_ROOT / path).exists(), path
    assert os.access(REPO_ROOT / "contrib" / "sdgwctl", os.X_OK)
    assert "/opt/sdgw/.venv/bin/sdgw --config\n/etc/sdgw/gateway.toml run" in section
    unit = (REPO_ROOT / "contrib" / "systemd" / "sdgw.service").read_text(encoding="utf-8")
    assert "ExecStart=/opt/sdgw/.venv/bin/sdgw --config /etc/sdgw/gateway.toml run" in unit


def test_sdgwctl_is_valid_shell() -> None:
    done = subprocess.run(["sh", "-n", str(REPO_ROOT / "contrib" / "sdgwctl")],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def _toml(value: Any, key: str = "") -> str:
    """A small TOML writer for what the snippets hold: tables, strings, numbers, booleans,
    arrays of those."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    raise TypeError(f"{key}: {value!r}")


def _dump(document: dict[str, Any], prefix: str = "") -> str:
    plain = {k: v for k, v in document.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in document.items() if isinstance(v, dict)}
    lines = [f"[{prefix}]"] if prefix and plain else []
    lines += [f'"{k}" = {_toml(v, k)}' for k, v in plain.items()]
    text = "\n".join(lines) + ("\n" if lines else "")
    for name, table in tables.items():
        text += _dump(table, f'{prefix}."{name}"' if prefix else f'"{name}"')
    return text


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _secret_lines_dropped(document: dict[str, Any]) -> dict[str, Any]:
    """What the section says to delete: each inline secret its *_env line replaces."""
    for carrier in document["carriers"].values():
        link = carrier["link"]
        for key in [k for k in link if f"{k}_env" in link]:
            del link[key]
    return document


def test_the_configuration_snippets_load_on_native_toml(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    production, postgres = (tomllib.loads(block) for block in _blocks("toml"))
    native = tomllib.loads((REPO_ROOT / "config" / "native.toml").read_text(encoding="utf-8"))
    document = _secret_lines_dropped(_merge(native, production))
    path = tmp_path / "gateway.toml"
    path.write_text(_dump(document), encoding="utf-8")
    config = load_config(path)
    assert config.database_url == "sqlite:////var/lib/sdgw/sdgw.db"
    assert not any(c.simulator and c.simulator.enabled for c in config.carriers.values())
    secrets = {"SDGW_CM_SECRET": "a", "SDGW_CU_PASSWORD": "b", "SDGW_CT_SECRET": "c"}
    for name, value in secrets.items():
        assert name in _section()
        monkeypatch.setenv(name, value)
    assert {c.resolved_secret() for c in config.carriers.values()} == set(secrets.values())
    path.write_text(_dump(_merge(document, postgres)), encoding="utf-8")
    assert load_config(path).database_url == "postgresql+psycopg://sdgw@127.0.0.1:5432/sdgw"


def test_scrape_target_and_probes_are_where_the_native_configuration_serves_them() -> None:
    # The section's /etc/sdgw/gateway.toml is a copy of config/native.toml.
    metrics = load_config(REPO_ROOT / "config" / "native.toml").metrics
    address = f"{metrics.host}:{metrics.port}"
    (scrape,) = _blocks("yaml")
    assert f'targets: ["{address}"]' in scrape
    assert "metrics_path: /metrics" in scrape
    probes = "".join(_blocks("sh"))
    assert f"curl -fsS http://{address}/health" in probes
    assert f"curl -fsS http://{address}/ready" in probes


def test_logrotate_accepts_the_snippet(tmp_path: Path) -> None:
    tool = shutil.which("logrotate")
    if tool is None:
        pytest.skip("logrotate is not installed")
    (snippet,) = re.findall(r"/etc/logrotate\.d/sdgw`:\n\n```\n(.*?)```", _section(), re.S)
    logs = tmp_path / "log"
    logs.mkdir()
    (logs / "sdgw.log").write_text("a line\n")
    conf = tmp_path / "sdgw.logrotate"
    conf.write_text(snippet.replace("/var/log/sdgw", str(logs)))
    done = subprocess.run([tool, "--debug", "--state", str(tmp_path / "state"), str(conf)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "error" not in done.stderr.lower(), done.stderr
