"""A subscriber's text that a spreadsheet would run as a formula is neutralised in the
console's CSV export, through a real `sdgw run`: MOs with formula starts hidden behind
blanks, line breaks and full-width forms are exported with a leading apostrophe."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from gateway.db.models import InboundMessage
from tests.e2e.console_gateway import ADMIN, RunningGateway, running_gateway
from tests.e2e.test_console_security import Browserless

TEXTS = (" =1+2", "\u3000@SUM(A1)", "＝HYPERLINK(\"http://x\")", "＋1", "\t-1", "plain text")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with running_gateway(tmp_path_factory.mktemp("console-csv")) as running:
        running.add_operator(ADMIN[0], "admin", ADMIN[1])
        yield running


def test_formula_starts_are_neutralised_in_the_export(gateway: RunningGateway) -> None:
    for n, text in enumerate(TEXTS):
        gateway.mo("china_mobile", f"1380013{n:04d}", text)
    gateway.wait_until("every MO stored", lambda s: (s.scalar(
        select(func.count()).select_from(InboundMessage)) or 0) >= len(TEXTS))
    client = Browserless(gateway.url)
    assert client.login(*ADMIN).status == 303
    answer = client.get("/export/messages.csv")
    assert answer.status == 200, answer.text
    rows = list(csv.DictReader(io.StringIO(answer.text.lstrip("\ufeff"))))
    column = next(name for name in rows[0] if name in ("text", "body", "message"))
    exported = {row[column] for row in rows}
    for text in TEXTS[:-1]:
        assert "'" + text in exported, (text, sorted(exported)[:20])
    assert "plain text" in exported
