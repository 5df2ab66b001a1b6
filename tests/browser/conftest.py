"""Headless Chromium (Debian's package) driven by Playwright's sync API.

Without /usr/bin/chromium the browser tests are skipped, unless SDGW_REQUIRE_BROWSER=1 (as CI
sets it), which turns the skip into a failure. Playwright's own browser download is never
used. No Twisted reactor runs in these tests: the gateway is a subprocess.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
REQUIRE_ENV = "SDGW_REQUIRE_BROWSER"
SCREENSHOTS_ENV = "SDGW_SCREENSHOTS"


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason}; {REQUIRE_ENV}=1 requires the browser tests to run")
    pytest.skip(f"{reason}; the browser tests need it (apt-get install chromium)")


@pytest.fixture(scope="module", autouse=True)
def chromium_available() -> None:
    """Checked before anything else of the module is set up."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("the playwright package is not installed")


@pytest.fixture(scope="module")
def browser(chromium_available: None) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where full-page screenshots go: $SDGW_SCREENSHOTS, else var/screenshots."""
    folder = Path(os.environ.get(SCREENSHOTS_ENV) or REPO_ROOT / "var" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
