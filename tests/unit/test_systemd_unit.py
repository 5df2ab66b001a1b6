"""``contrib/systemd/sdgw.service``: runs ``sdgw run`` as it is really invoked, as the
unprivileged user sdgw, restarts on failure and is hardened; ``systemd-analyze verify`` accepts
it and ``systemd-analyze security --offline=yes`` rates its exposure low (both where systemd's
analyzer is installed: apt-get install systemd)."""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.cli import build_parser
from tests.conftest import REPO_ROOT

UNIT = REPO_ROOT / "contrib" / "systemd" / "sdgw.service"
INSTALLED_SDGW = "/opt/sdgw/.venv/bin/sdgw"
EXPOSURE_AT_MOST = 2.0
"""systemd's exposure score (0 safest … 10): 2 and below is rated "OK"."""


def _unit() -> configparser.RawConfigParser:
    # strict=False: systemd allows a key more than once (SystemCallFilter=); the last wins here
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text(encoding="utf-8"))
    return parser


def _service() -> dict[str, str]:
    return {key: value.strip() for key, value in _unit()["Service"].items()}


def test_it_runs_sdgw_run_on_the_configuration_as_the_cli_takes_it() -> None:
    service = _service()
    argv = shlex.split(service["ExecStart"])
    assert argv[0] == INSTALLED_SDGW
    args = build_parser().parse_args(argv[1:])
    assert args.config == "/etc/sdgw/gateway.toml"
    assert args.handler == "run:run_command"
    assert service["User"] == "sdgw" and service["Group"] == "sdgw"
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"


def test_it_is_hardened() -> None:
    service = _service()
    for key, value in {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
        "ProtectHome": "yes", "PrivateDevices": "yes", "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes", "ProtectControlGroups": "yes", "RestrictSUIDSGID": "yes",
        "RestrictNamespaces": "yes", "LockPersonality": "yes", "CapabilityBoundingSet": "",
        "SystemCallArchitectures": "native",
    }.items():
        assert service.get(key) == value, key
    assert service["ReadWritePaths"] == "/var/lib/sdgw"
    assert service["StateDirectory"] == "sdgw"
    assert set(service["RestrictAddressFamilies"].split()) == {"AF_INET", "AF_INET6",
                                                               "AF_UNIX"}


def test_its_state_folder_is_where_the_production_database_goes() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert 'url = "sqlite:////var/lib/sdgw/sdgw.db"' in readme


def _analyzer() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    return tool


def _unit_with_a_real_executable(tmp_path: Path) -> Path:
    """The unit with ExecStart on this checkout's sdgw: verify checks the file exists."""
    sdgw = shutil.which("sdgw") or str(Path(REPO_ROOT / ".venv" / "bin" / "sdgw"))
    if not Path(sdgw).exists():
        pytest.skip("no installed sdgw executable to point ExecStart at")
    copy = tmp_path / "sdgw.service"
    copy.write_text(UNIT.read_text(encoding="utf-8").replace(INSTALLED_SDGW, sdgw),
                    encoding="utf-8")
    return copy


def test_systemd_analyze_verify_accepts_it(tmp_path: Path) -> None:
    tool = _analyzer()
    unit = _unit_with_a_real_executable(tmp_path)
    done = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "sdgw.service" not in done.stderr, done.stderr  # no warning about the unit


def test_its_exposure_is_low(tmp_path: Path) -> None:
    tool = _analyzer()
    unit = _unit_with_a_real_executable(tmp_path)
    done = subprocess.run([tool, "security", "--offline=yes", str(unit)], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    if "--offline" in done.stderr and "unrecognized" in done.stderr:
        pytest.skip("this systemd-analyze has no --offline (systemd < 250)")
    found = re.search(r"Overall exposure level for sdgw\.service: (\d+\.\d)", done.stdout)
    assert found, done.stdout[-2000:] + done.stderr
    assert float(found.group(1)) <= EXPOSURE_AT_MOST, done.stdout
