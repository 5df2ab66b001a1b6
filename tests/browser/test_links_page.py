"""The console's Links page in headless Chromium against a real `sdgw run`: each carrier's
link with its protocol, address, state, window, TPS, last error and reconnects, and the
simulator's state — shown up, then down while a simulator is stopped, then up again, with a
screenshot of each (saved under the test's tmp folder and with the other screenshots)."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.console_gateway import ADMIN, VIEWER, RunningGateway, running_gateway

PROTOCOLS = {"china_unicom": "sgip", "china_telecom": "smgp"}
LABELS = {"china_mobile": "中国移动", "china_unicom": "中国联通", "china_telecom": "中国电信"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, chromium_available: None
            ) -> Iterator[RunningGateway]:
    with running_gateway(tmp_path_factory.mktemp("links-page"), protocols=PROTOCOLS) as running:
        running.add_operator(ADMIN[0], "admin", ADMIN[1])
        running.add_operator(VIEWER[0], "viewer", VIEWER[1])
        yield running


def _log_in(browser: Any, gateway: RunningGateway, name: str, password: str
            ) -> tuple[Any, list[str]]:
    context = browser.new_context(base_url=gateway.url, viewport={"width": 1500, "height": 700},
                                  locale="zh-CN")
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("/login")
    page.fill("#name", name)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("#login")
    assert urlsplit(page.url).path == "/", page.url
    return page, errors


def _control(gateway: RunningGateway, carrier: str, action: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{gateway.controls[carrier]}/{action}", data=b"{}", method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def _row(page: Any, carrier: str) -> dict[str, str]:
    cells = page.locator(f"tr#link-{carrier} td").all_inner_texts()
    names = ["carrier", "protocol", "address", "state", "since", "window", "queued", "tps",
             "rate", "error", "reconnects", "simulator"]
    assert len(cells) == len(names), cells
    return dict(zip(names, (c.strip() for c in cells), strict=True))


def _until(page: Any, carrier: str, wanted: dict[str, str], timeout: float = 20.0
           ) -> dict[str, str]:
    """Reloads the page (no JavaScript: the page is as fresh as its load) until the row of
    ``carrier`` starts with the wanted texts."""
    deadline = time.monotonic() + timeout
    while True:
        response = page.reload()
        assert response.status == 200
        row = _row(page, carrier)
        if all(row[key].startswith(text) for key, text in wanted.items()):
            return row
        assert time.monotonic() < deadline, (wanted, row)
        time.sleep(0.3)


def test_the_links_page_shows_a_link_down_and_then_up(
        browser: Any, gateway: RunningGateway, tmp_path: Path, screenshots: Path) -> None:
    page, errors = _log_in(browser, gateway, *VIEWER)  # viewers see it too
    with page.expect_navigation():
        page.click("header.nav a:text-is('Links')")
    assert urlsplit(page.url).path == "/links"
    assert page.locator("header.nav a[aria-current='page']").inner_text() == "Links"
    assert page.locator("script").count() == 0

    for carrier, label in LABELS.items():
        row = _until(page, carrier, {"state": "bound"})
        assert row["carrier"] == label
        assert row["protocol"] == {"china_unicom": "SGIP", "china_telecom": "SMGP"}.get(
            carrier, "SMPP")
        assert row["address"].startswith("127.0.0.1:")
        assert row["window"] == "0 / 16"
        assert row["tps"] == "100.0"
        assert row["error"] == "–"
        assert row["reconnects"] == "0"
        assert row["simulator"].startswith("accepting")
        assert row["simulator"].endswith("(1 bound)")
    shots = [tmp_path / "links-1-up.png", tmp_path / "links-2-down.png",
             tmp_path / "links-3-up-again.png"]
    page.screenshot(path=str(shots[0]), full_page=True)

    assert _control(gateway, "china_mobile", "stop") == {"accepting": False}
    down = _until(page, "china_mobile", {"state": "connecting", "simulator": "stopped"})
    assert "connect failed" in down["error"] or "connection lost" in down["error"], down
    assert _row(page, "china_telecom")["state"] == "bound"
    page.screenshot(path=str(shots[1]), full_page=True)

    assert _control(gateway, "china_mobile", "start") == {"accepting": True}
    up = _until(page, "china_mobile", {"state": "bound", "simulator": "accepting"},
                timeout=30.0)
    assert up["reconnects"] == "1"
    assert up["error"] != "–"  # the last error stays, with its time
    page.screenshot(path=str(shots[2]), full_page=True)

    for shot in shots:
        assert shot.stat().st_size > 10_000, shot
        shutil.copy(shot, screenshots / f"console-{shot.name}")
    assert errors == []
    page.context.close()
