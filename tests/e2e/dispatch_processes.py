"""A one-carrier gateway configuration and its simulator's control endpoint, for tests that
run ``sdgw`` processes against a ``sdgw sim serve`` process."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

from tests.conftest import free_port


def write_config(tmp_path: Path, database_url: str) -> tuple[Path, int]:
    port, control = free_port(), free_port()
    path = tmp_path / "crash.toml"
    path.write_text(f"""
[database]
url = "{database_url}"
[console]
port = {free_port()}
[metrics]
port = {free_port()}
[newspaper]
name = "测试手机报"
price = "3元/月"
signature = "测试手机报"
[content]
port = {free_port()}
[dispatch]
chunk = 32
max_ahead = 128
batch_size = 500
[carriers.china_mobile]
short_code = "10658000"
[carriers.china_mobile.link]
port = {port}
system_id = "crash"
password = "pw"
tps = 1500
window = 64
reconnect_initial_delay = 0.1
[carriers.china_mobile.simulator]
port = {port}
control_port = {control}
receipt_delay = 0.3
""", encoding="utf-8")
    return path, control


def received(control: int) -> list[dict[str, str]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{control}/received", timeout=10) as answer:
        return json.loads(answer.read())["received"]


def wait_for_control(control: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{control}/status", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("simulator did not come up")
