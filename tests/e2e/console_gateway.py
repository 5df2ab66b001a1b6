"""A real `sdgw run` with its operator console, filled through the real paths, for the
console's browser and HTTP security tests.

Subscribers text SD and Y through the simulators' control endpoints, some text TD, one SD
is left unconfirmed, one MO carries HTML; the sample articles are ingested, the
2020-11-18 morning edition is built, and `sdgw dispatch` in a second process hands it to the
running gateway (one writer per SQLite file), which sends it and takes its receipts.
Operators are added with `sdgw operator add`.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.db.dispatch_models import Delivery
from gateway.db.engine import make_engine, make_session_factory
from gateway.db.models import InboundMessage, Subscriber
from tests.conftest import REPO_ROOT, free_port
from tests.e2e.test_cli_operators import sdgw as sdgw_with_input
from tests.e2e.test_cli_run import LogReader, _env, sdgw, write_config

STATS_INTERVAL = 0.5
ADMIN = ("chief", "admin-pass-2020")
VIEWER = ("reader", "viewer-pass-2020")
HTML_TEXT = "<script>window.__pwned=1</script><b>bold</b>"
HTML_NUMBER = "13905314000"
MASKED_HTML_NUMBER = "139****4000"
"""How viewers see :data:`HTML_NUMBER`."""
SUBSCRIBED = {
    "china_mobile": [f"1390531400{n}" for n in range(7)],
    "china_unicom": [f"1301234567{n}" for n in range(3)],
    "china_telecom": [f"1331234567{n}" for n in range(5)],
}
"""Numbers that text SD then Y: a different count per carrier."""
CANCELLED = {"13905314006": "china_mobile", "13312345674": "china_telecom"}
"""…of which these text TD afterwards."""
MMS = {"13905314001": "china_mobile", "13905314002": "china_mobile",
       "13312345671": "china_telecom"}
"""…and these CX (the MMS edition), so the edition reaches them as a WAP Push of their own."""
UNCONFIRMED = ("china_unicom", "13012345679")
"""Texts SD and never Y."""
TO_UNSUBSCRIBE = "13905314005"
"""Active, left for the console's unsubscribe form."""
SAMPLE_DATE = "2020-11-18"


@dataclass
class RunningGateway:
    config: Path
    database_url: str
    url: str
    """The console's base URL, without a final slash."""
    short_codes: dict[str, str]
    controls: dict[str, int]
    process: subprocess.Popen[str]
    log: LogReader
    metrics_url: str = ""
    """The metrics listener's base URL (``/metrics``, ``/health``, ``/ready``)."""
    edition_id: int | None = None

    def read(self, work: Callable[[Session], Any]) -> Any:
        """``work`` on a short-lived read-only session of the gateway's database."""
        engine = make_engine(self.database_url, read_only=True)
        try:
            with make_session_factory(engine)() as session:
                return work(session)
        finally:
            engine.dispose()

    def mo(self, carrier: str, number: str, text: str, wait: float = 0.0) -> dict[str, Any]:
        """Injects an MO at ``carrier``'s simulator as if ``number`` had texted it."""
        body = json.dumps({"from": number, "to": self.short_codes[carrier], "text": text,
                           "wait": wait}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.controls[carrier]}/mo", data=body, method="POST",
            headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=wait + 10) as answer:
            return json.loads(answer.read())

    def add_operator(self, name: str, role: str, password: str) -> None:
        added = sdgw_with_input(self.config, "operator", "add", name, "--role", role,
                                stdin=password + "\n")
        assert added.returncode == 0, added.stderr

    def wait_until(self, what: str, predicate: Callable[[Session], bool],
                   timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.read(predicate):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}:\n{self.log.text[-3000:]}")
            time.sleep(0.1)


@contextmanager
def running_gateway(directory: Path, database_url: str | None = None, *,
                    protocols: dict[str, str] | None = None,
                    edit: Callable[[str], str] | None = None) -> Iterator[RunningGateway]:
    """`sdgw run` on a config of its own in ``directory`` (on ``database_url``, else a SQLite
    file there), links bound and console up; stopped with SIGTERM afterwards (and checked to
    have stopped cleanly). ``protocols``: a carrier's link protocol (SMPP else); ``edit``
    changes the config's text last."""
    config = write_config(directory, protocols)
    content = free_port()
    text = config.read_text(encoding="utf-8")
    if database_url is not None:
        text = re.sub(r'(?m)^url = "sqlite:///.*"$', f'url = "{database_url}"', text, count=1)
    # No quiet hours: the edition handed to this gateway is sent whatever the time of day
    # (with the default 21:00-08:00 Beijing time it would wait, half of every UTC day).
    text = text.replace("[console]\n", f"""[dispatch]
quiet_start = "00:00"
quiet_end = "00:00"
[content]
port = {content}
base_url = "http://127.0.0.1:{content}"
[console]
host = "127.0.0.1"
stats_interval_seconds = {STATS_INTERVAL}
""")
    if edit is not None:
        text = edit(text)
    config.write_text(text, encoding="utf-8")
    settings = tomllib.loads(text)
    upgraded = sdgw(config, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "--config", str(config), "run"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=REPO_ROOT,
        env=_env())
    gateway = RunningGateway(
        config=config, database_url=settings["database"]["url"],
        url=f"http://127.0.0.1:{settings['console']['port']}",
        short_codes={c: s["short_code"] for c, s in settings["carriers"].items()},
        controls={c: s["simulator"]["control_port"] for c, s in settings["carriers"].items()},
        process=process, log=LogReader(process),
        metrics_url=f"http://127.0.0.1:{settings['metrics']['port']}")
    try:
        gateway.log.wait_for(r"link: bound to", count=len(gateway.controls))
        _wait_for_health(gateway)
        yield gateway
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
    assert "Traceback" not in gateway.log.text, gateway.log.text[-5000:]


@contextmanager
def populated_gateway(directory: Path, database_url: str | None = None
                      ) -> Iterator[RunningGateway]:
    """:func:`running_gateway` with subscribers, a sent edition and the operators
    :data:`ADMIN` and :data:`VIEWER`."""
    with running_gateway(directory, database_url) as gateway:
        subscribe_everyone(gateway)
        send_edition(gateway)
        gateway.add_operator(ADMIN[0], "admin", ADMIN[1])
        gateway.add_operator(VIEWER[0], "viewer", VIEWER[1])
        yield gateway


def _wait_for_health(gateway: RunningGateway, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(gateway.url + "/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (OSError, urllib.error.HTTPError):
            pass
        if time.monotonic() > deadline or gateway.process.poll() is not None:
            raise AssertionError(f"the console did not come up:\n{gateway.log.text[-3000:]}")
        time.sleep(0.1)


def subscribe_everyone(gateway: RunningGateway) -> None:
    """SD then Y from every number of :data:`SUBSCRIBED`, TD from :data:`CANCELLED`, one SD
    unconfirmed and one MO in HTML; each step waits until the gateway has handled it."""
    everyone = [(c, n) for c, numbers in SUBSCRIBED.items() for n in numbers]
    for carrier, number in [*everyone, UNCONFIRMED]:
        gateway.mo(carrier, number, "SD")
    gateway.wait_until("every SD pending", _count_is(Subscriber.status == "pending",
                                                     len(everyone) + 1))
    for carrier, number in everyone:
        gateway.mo(carrier, number, "Y")
    gateway.wait_until("every Y active", _count_is(Subscriber.status == "active",
                                                   len(everyone)))
    for number, carrier in MMS.items():
        gateway.mo(carrier, number, "CX")
    gateway.wait_until("every CX on the MMS edition", _count_is(
        Subscriber.message_format == "mms", len(MMS)))
    for number, carrier in CANCELLED.items():
        gateway.mo(carrier, number, "TD")
    gateway.wait_until("TD cancelled", _count_is(Subscriber.status == "cancelled",
                                                 len(CANCELLED)))
    gateway.mo("china_mobile", HTML_NUMBER, HTML_TEXT)
    gateway.wait_until("the HTML MO handled", _count_is(
        (InboundMessage.text == HTML_TEXT) & InboundMessage.outcome.is_not(None), 1,
        InboundMessage))


def send_edition(gateway: RunningGateway) -> int:
    """Ingests the sample articles, builds the morning edition, has it sent with `sdgw
    dispatch` (handed to the running gateway on SQLite, sent by that process on PostgreSQL)
    and waits for every receipt; returns the edition's id."""
    ingested = sdgw(gateway.config, "ingest", str(REPO_ROOT / "data" / "articles"))
    assert ingested.returncode == 0, ingested.stderr
    built = sdgw(gateway.config, "edition", "build", "--date", SAMPLE_DATE, "--slot", "morning")
    assert built.returncode == 0, built.stderr
    edition_id = int(built.stdout.split("(#", 1)[1].split(")", 1)[0])
    sent = sdgw(gateway.config, "dispatch", "--edition", str(edition_id),
                "--ignore-quiet-hours")
    assert sent.returncode == 0, sent.stderr[-3000:]
    gateway.wait_until("every receipt", lambda s: not s.scalar(
        select(func.count()).select_from(Delivery)
        .where(Delivery.status.in_(("pending", "claimed", "sending", "submitted")))))
    gateway.edition_id = edition_id
    return edition_id


def _count_is(condition: Any, wanted: int, model: Any = Subscriber
              ) -> Callable[[Session], bool]:
    return lambda session: (session.scalar(
        select(func.count()).select_from(model).where(condition)) or 0) >= wanted
