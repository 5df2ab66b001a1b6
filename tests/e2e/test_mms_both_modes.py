"""Issue 17 end to end, from outside: a real ``sdgw run`` whose China Mobile sends its MMS
edition to a simulated MMSC over MM7 while China Telecom sends it as WAP Push over SMS.

Two subscribers text SD, Y and then the MMS keyword (``CX`` on one carrier, ``彩信`` on the
other); the edition goes out; the China Telecom handset reassembles its WAP Push from what the
simulated carrier received, reads its own content location with python-messaging's decoder
and fetches it; the MMSC's delivery report comes back for China Mobile; the console's editions
page and ``sdgw report`` show the notifications delivered, the edition retrieved and the MM7
reports."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.db.models import Subscriber
from tests.conftest import free_port
from tests.e2e.console_gateway import ADMIN, RunningGateway, running_gateway, send_edition
from tests.e2e.test_cli_editions import sdgw
from tests.e2e.test_console_security import Browserless

wap = pytest.importorskip("messaging.sms.wap", reason="python-messaging WAP push decoder")

MM7_NUMBER = ("china_mobile", "13905310001", "CX")
WAP_NUMBER = ("china_telecom", "13312340001", "彩信")


def _mm7_for_china_mobile(text: str) -> str:
    """China Mobile's MMS over MM7 to a simulated MMSC that reports Retrieved at once."""
    mmsc, control, endpoint = free_port(), free_port(), free_port()
    return text + f"""
[carriers.china_mobile.mms]
mode = "mm7"
[carriers.china_mobile.mms.mm7]
url = "http://127.0.0.1:{mmsc}/mm7"
vasp_id = "901234"
vas_id = "SDSJB"
service_code = "SDSJB"
username = "sdgw_cm"
password = "cm-mm7-pass"
rate = 0
[carriers.china_mobile.mms.mm7.simulator]
port = {mmsc}
control_port = {control}
report_delay = 0.2
report_mix = {{ Retrieved = 1.0 }}
[mm7_endpoint]
port = {endpoint}
username = "cm_mmsc"
password = "mmsc-pass1"
"""


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    with running_gateway(tmp_path, protocols={"china_telecom": "smgp"},
                         edit=_mm7_for_china_mobile) as running:
        yield running


def _received(gateway: RunningGateway, carrier: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{gateway.controls[carrier]}/received"
    with urllib.request.urlopen(url, timeout=10) as answer:
        return list(json.loads(answer.read())["received"])


def _wap_push_of(gateway: RunningGateway, carrier: str, number: str) -> bytes:
    """The handset's view: the binary short messages it got, put together by their UDH's
    concatenation header (IE 0x00: reference, total, sequence), without the UDHs."""
    parts: dict[int, bytes] = {}
    for submit in _received(gateway, carrier):
        if submit["to"] != number or not submit["udh"]:
            continue
        udh = bytes.fromhex(submit["udh"])
        at, sequence = 1, 1
        while at < len(udh):  # information elements: id, length, data
            element, length = udh[at], udh[at + 1]
            if element == 0x00:
                sequence = udh[at + 4]
            at += 2 + length
        parts[sequence] = bytes.fromhex(submit["text"])
    assert parts, f"no binary short message reached {number}"
    return b"".join(parts[n] for n in sorted(parts))


def _figures(gateway: RunningGateway, edition_id: int) -> dict[str, dict[str, Any]]:
    report = sdgw(gateway.config, "report", "--format", "json", "--section", "editions")
    assert report.returncode == 0, report.stderr
    return {row["carrier"]: row for row in json.loads(report.stdout)["editions"]
            if row["edition_id"] == edition_id}


def test_sd_y_mms_keyword_then_wap_push_and_mm7_with_reports(gateway: RunningGateway) -> None:
    for carrier, number, keyword in (MM7_NUMBER, WAP_NUMBER):
        for text in ("SD", "Y", keyword):
            gateway.mo(carrier, number, text, wait=1.0)
    gateway.wait_until("both on the MMS edition", lambda s: s.scalar(
        select(func.count()).select_from(Subscriber).where(
            Subscriber.status == "active", Subscriber.message_format == "mms")) == 2)

    edition_id = send_edition(gateway)  # waits for every final receipt and MM7 report

    # China Telecom (WAP Push): the handset reads its own notification and fetches it.
    push = wap.extract_push_notification(_wap_push_of(gateway, *WAP_NUMBER[:2]))
    assert wap.is_mms_notification(push)
    location = push.headers["Content-Location"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/mms/[A-Za-z0-9_-]{24}", location), location
    code, body = _fetch(location)
    assert code == 200 and body[:2] == b"\x8c\x84"  # m-retrieve-conf
    # China Mobile (MM7): nothing of the edition went over its SMS link to this number.
    assert not [s for s in _received(gateway, "china_mobile")
                if s["to"] == MM7_NUMBER[1] and s["udh"]]

    def counts(row: dict[str, int]) -> tuple[int, int, int, int]:
        return (row["mms_notifications"], row["mms_delivered"], row["mms_retrieved"],
                row["mms_mm7_reports"])

    deadline = time.monotonic() + 30
    while True:  # the roll-up counts what the receipts and the content server recorded, in
        figures = _figures(gateway, edition_id)  # its own time: wait for all of it
        wap_row, mm7_row = figures["china_telecom"], figures["china_mobile"]
        if ((counts(wap_row), counts(mm7_row)) == ((1, 1, 1, 0), (1, 1, 1, 1))
                or time.monotonic() > deadline):
            break
        time.sleep(0.5)
    assert counts(wap_row) == (1, 1, 1, 0), wap_row
    assert counts(mm7_row) == (1, 1, 1, 1), mm7_row

    gateway.add_operator(ADMIN[0], "admin", ADMIN[1])
    console = Browserless(gateway.url)
    assert console.login(*ADMIN).status == 303
    page = console.get(f"/editions/{edition_id}")
    assert page.status == 200
    for carrier, expected in (("china_telecom", ("1", "1", "1", "0")),
                              ("china_mobile", ("1", "1", "1", "1"))):
        row = re.search(rf'<tr data-dispatch="\d+" data-carrier="{carrier}">(.*?)</tr>',
                        page.text, re.S)
        assert row, carrier
        cells = tuple(re.search(rf'<td class="num {name}">([^<]*)</td>', row.group(1))
                      .group(1).strip()  # type: ignore[union-attr]
                      for name in ("mms-notifications", "mms-delivered", "mms-retrieved",
                                   "mm7-reports"))
        assert cells == expected, (carrier, cells)


def _fetch(location: str) -> tuple[int, bytes]:
    request = urllib.request.Request(location, headers={"User-Agent": "TestPhone/1.0 MMS"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status, answer.read()
