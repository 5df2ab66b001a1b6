"""`sdgw run` as a user runs it: a subprocess on a config of its own, stopped with SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, free_port

CARRIERS = {
    "china_mobile": "10658000",
    "china_unicom": "106558000678",
    "china_telecom": "106597009",
}
NATIVE = {"china_mobile": "cmpp", "china_unicom": "sgip", "china_telecom": "smgp"}
"""Each carrier on its native protocol, as far as the gateway speaks them."""


def _login(carrier: str, protocol: str) -> str:
    """The link's protocol and login keys (the secret always from TEST_SDGW_PASSWORD)."""
    if protocol == "cmpp":
        return ('protocol = "cmpp"\nsource_addr = "901234"\n'
                'shared_secret_env = "TEST_SDGW_PASSWORD"')
    if protocol == "sgip":
        return ('protocol = "sgip"\nlogin_name = "gw_cu"\npassword_env = "TEST_SDGW_PASSWORD"\n'
                f'node_id = 3053112345\nlisten_port = {free_port()}\nsmg_login_name = "smg"\n'
                'smg_password_env = "TEST_SDGW_PASSWORD"')
    if protocol == "smgp":
        return ('protocol = "smgp"\nclient_id = "gw_ct"\n'
                'shared_secret_env = "TEST_SDGW_PASSWORD"')
    return f'system_id = "gw_{carrier[6:9]}"\npassword_env = "TEST_SDGW_PASSWORD"'


def write_config(tmp_path: Path, protocols: dict[str, str] | None = None) -> Path:
    """A config on free ports; ``protocols`` gives a carrier's link protocol (SMPP else)."""
    sections = []
    for carrier, code in CARRIERS.items():
        port, control = free_port(), free_port()
        sections.append(f"""
[carriers.{carrier}]
short_code = "{code}"
[carriers.{carrier}.link]
port = {port}
{_login(carrier, (protocols or {}).get(carrier, "smpp"))}
reconnect_initial_delay = 0.2
[carriers.{carrier}.simulator]
port = {port}
control_port = {control}
receipt_delay = 0.1
""")
    path = tmp_path / "gateway.toml"
    path.write_text(f"""
[database]
url = "sqlite:///{tmp_path / 'gw.db'}"
[console]
port = {free_port()}
[metrics]
port = {free_port()}
[newspaper]
name = "测试手机报"
price = "3元/月"
signature = "测试手机报"
{''.join(sections)}
""", encoding="utf-8")
    return path


def sdgw(config: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(config), *args],
        capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT, env=_env(),
    )


def _env() -> dict[str, str]:
    return {**os.environ, "TEST_SDGW_PASSWORD": "pw-1234"}


class LogReader:
    """Collects a child's stderr in a thread so the test can wait for lines without blocking."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stderr is not None
        self._thread = threading.Thread(target=self._read, args=(process.stderr,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.append(line)

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(1 for line in self.lines if re.search(pattern, line)) >= count:
                return
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} x{count} not logged:\n{''.join(self.lines)}")

    @property
    def text(self) -> str:
        return "".join(self.lines)


def test_run_refuses_an_out_of_date_schema(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = sdgw(config, "run")
    assert result.returncode == 2
    assert "db upgrade" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("protocols", [{}, NATIVE], ids=["smpp", "native"])
def test_run_binds_serves_mo_and_unbinds_on_sigterm(
    tmp_path: Path, protocols: dict[str, str]
) -> None:
    """The same SD → Y → 0000 → TD conversation and replies whichever protocol a carrier's
    link speaks (``native``: China Mobile over CMPP 3.0, China Unicom over SGIP 1.2 (its SMG
    connects back to the gateway's listener) and China Telecom over SMGP 3.0)."""
    config = write_config(tmp_path, protocols)
    upgraded = sdgw(config, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "--config", str(config), "run"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=REPO_ROOT,
        env=_env(),
    )
    log = LogReader(process)
    numbers = {"china_mobile": "13800138000", "china_unicom": "13012345678",
               "china_telecom": "13312345678"}
    expected = [("SD", "回复Y确认订购", "pending", "sms"), ("Y", "成功订阅", "active", "sms"),
                ("CX", "改为接收测试手机报彩信版", "active", "mms"),
                ("0000", "已订购", "active", "mms"),
                ("DX", "改为接收测试手机报短信版", "active", "sms"),
                ("TD", "成功退订", "cancelled", "sms")]
    try:
        log.wait_for(r"link: bound to", count=3)
        if protocols:
            assert re.search(r"china_mobile link: bound to \S+ \(CMPP 3\.0", log.text), log.text
            assert re.search(r"china_telecom link: bound to \S+ \(SMGP 3\.0", log.text), log.text
        for carrier, code in CARRIERS.items():
            number = numbers[carrier]
            for text, reply, status, message_format in expected:
                result = sdgw(config, "sim", "mo", "--carrier", carrier, "--from", number,
                              "--to", code, "--text", text, "--wait", "3")
                assert result.returncode == 0, result.stderr
                assert f"MO  {number} → {code} ({carrier}): {text}" in result.stdout
                # SGIP writes the handset as 86… (its UserNumber convention)
                assert re.search(rf"MT  {code} → (86)?{number}:", result.stdout), result.stdout
                assert reply in result.stdout, result.stdout
                assert "【测试手机报】" in result.stdout
                shown = sdgw(config, "subscribers", "--number", number)
                assert shown.returncode == 0, shown.stderr
                assert f"{number}   {carrier}" in shown.stdout
                assert f" {status} " in shown.stdout.splitlines()[1], shown.stdout
                assert f" {message_format} " in shown.stdout.splitlines()[1], shown.stdout
        if protocols:  # CMPP 3.0: the reply to an MO names the session the MO opened
            result = sdgw(config, "sim", "mo", "--carrier", "china_mobile", "--from",
                          numbers["china_mobile"], "--text", "0000", "--wait", "3", "--json")
            replies = json.loads(result.stdout)["replies"]
            assert replies and all(r.get("link_id", "").startswith("LK") for r in replies), \
                result.stdout
        listing = sdgw(config, "subscribers", "--status", "cancelled")
        assert all(n in listing.stdout for n in numbers.values())
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    log.wait_for(r"stopped")
    assert code == 0, log.text
    assert log.text.count("link: unbound (by us)") == 3, log.text
    assert "Traceback" not in log.text
    history = sdgw(config, "subscribers", "--number", "13800138000").stdout
    assert "none → pending" in history and "active → cancelled" in history
    assert "active → active (mms)" in history and "active → active (sms)" in history
    assert "consent: 'Y'" in history
    assert "requested: " in history  # the SD's time, though Y closed the window


def test_sim_mo_without_a_running_gateway_says_so(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = sdgw(config, "sim", "mo", "--carrier", "china_unicom", "--from", "13000000000",
                  "--text", "SD", "--wait", "1")
    assert result.returncode == 2
    assert "is `sdgw run`" in result.stderr
    assert "Traceback" not in result.stderr
