"""One edition, four reports, the same figures: ``sdgw dispatch status``, the console's edition
page (the figures its table, ``/api/editions`` and the CSV show), ``sdgw report --format json``
and the demo's summary all count deliveries in the outcome groups of ``gateway/states.py``
(SQLite and PostgreSQL). The commands run in-process, on a configuration naming the test's
database."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select, update

from gateway.cli import main
from gateway.cli.demo import summary_figures
from gateway.console.queries import dispatch_figures
from gateway.console.rollup import RollupSettings, refresh
from gateway.console.web import _Formatters
from gateway.db.dispatch_models import Delivery
from gateway.db.engine import make_session_factory
from gateway.dispatch.store import create_dispatch, materialise
from gateway.states import DELIVERY_GROUPS, DeliveryGroup, DeliveryStatus
from gateway.templating import make_environment
from tests.e2e.test_cli_editions import write_config
from tests.service.dispatch_fixtures import T0, seed_edition, seed_subscribers

S = DeliveryStatus
SHANGHAI = ZoneInfo("Asia/Shanghai")
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

#: Each carrier's deliveries by status: China Mobile has every status there is.
PLAN = {
    "china_mobile": {S.PENDING: 1, S.CLAIMED: 1, S.SENDING: 1, S.UNCERTAIN: 2, S.SUBMITTED: 2,
                     S.DELIVERED: 5, S.UNDELIVERABLE: 1, S.EXPIRED: 2, S.REJECTED: 1,
                     S.FAILED: 1, S.UNKNOWN: 2, S.CANCELLED: 1, S.SKIPPED: 1},
    "china_unicom": {S.DELIVERED: 3, S.EXPIRED: 1, S.UNKNOWN: 1, S.CANCELLED: 1},
}
FIGURES = ("pending", "submitted", "delivered", "failed", "other", "total")
#: Written out, not derived: failed = undeliverable, expired, rejected, failed; other =
#: cancelled, skipped, unknown; pending = every status not final yet (uncertain included).
EXPECTED = {
    "china_mobile": {"pending": 5, "submitted": 2, "delivered": 5, "failed": 5, "other": 4,
                     "total": 21},
    "china_unicom": {"pending": 0, "submitted": 0, "delivered": 3, "failed": 1, "other": 2,
                     "total": 6},
}


def test_every_status_is_in_one_group() -> None:
    grouped = [status for statuses in DELIVERY_GROUPS.values() for status in statuses]
    assert sorted(grouped) == sorted(DeliveryStatus)
    assert set(PLAN["china_mobile"]) == set(DeliveryStatus)


@pytest.fixture
def edition(engine: Engine, database_url: str, tmp_path: Path) -> tuple[int, Path]:
    """The edition, its deliveries as :data:`PLAN` says, and a configuration naming the
    database."""
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        edition_id = seed_edition(session, carriers=tuple(PLAN))
        start = 0
        for carrier, plan in PLAN.items():
            count = sum(plan.values())
            seed_subscribers(session, count, carrier=carrier, start=start)
            start += count
            dispatch_id = create_dispatch(session, edition_id=edition_id, carrier=carrier,
                                          cutoff=T0, deadline=T0 + timedelta(hours=6), now=T0)
            materialise(session, dispatch_id)
            ids = session.scalars(select(Delivery.id).where(Delivery.dispatch_id == dispatch_id)
                                  .order_by(Delivery.id)).all()
            statuses = [status for status, n in plan.items() for _ in range(n)]
            for delivery_id, status in zip(ids, statuses, strict=True):
                session.execute(update(Delivery).where(Delivery.id == delivery_id)
                                .values(status=status))
    config = write_config(tmp_path)
    text = config.read_text(encoding="utf-8")
    config.write_text(re.sub(r'(?m)^url = "sqlite:///[^"]*"$', f'url = "{database_url}"', text,
                             count=1), encoding="utf-8")
    return edition_id, config


def _dispatch_status(config: Path, edition_id: int, capsys: pytest.CaptureFixture[str]
                     ) -> dict[str, dict[str, int]]:
    """``sdgw dispatch status --edition N``: its table's columns, cut where the header's
    right-aligned names end."""
    assert main(["--config", str(config), "dispatch", "status",
                 "--edition", str(edition_id)]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    found = {}
    for line in lines:
        carrier = next((c for c in PLAN if f" {c} " in line), None)
        if carrier is None:
            continue  # the legend
        figures = {}
        for name in FIGURES:
            end = re.search(rf"(?<!\S){re.escape(name)}(?!\S)", header).end()
            figures[name] = int(line[:end].split()[-1])
        found[carrier] = figures
    return found


def _console(engine: Engine, edition_id: int) -> dict[str, dict[str, int]]:
    """What the console shows once its roll-up ran: the rows behind the edition page,
    ``/api/editions`` and the CSV export, and the page's table rendered from them."""
    sessions = make_session_factory(engine)
    now = datetime.now(UTC)
    with sessions.begin() as session:
        refresh(session, now, RollupSettings(zone=SHANGHAI, carriers=tuple(PLAN)))
    with sessions() as session:
        rows = dispatch_figures(session, now=now, edition_ids=[edition_id])
    found = {row.carrier: {name: getattr(row, name) for name in FIGURES} for row in rows}
    html = make_environment(TEMPLATES).get_template("console/_dispatch_table.html").render(
        dispatches=rows, table_id="dispatches", actions=False, fmt=_Formatters(SHANGHAI),
        me=None, csrf="")
    for carrier, figures in found.items():
        row = re.search(rf'<tr data-dispatch="\d+" data-carrier="{carrier}">(.*?)</tr>', html,
                        re.S)
        assert row is not None, carrier
        cells = dict(re.findall(r'<td class="num (\w+)">([\d,]+)</td>', row.group(1)))
        assert {name: int(cells[name].replace(",", "")) for name in FIGURES} == figures
    return found


def _report(config: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, int]]:
    assert main(["--config", str(config), "report", "--format", "json",
                 "--section", "editions"]) == 0
    rows = json.loads(capsys.readouterr().out)["editions"]
    return {row["carrier"]: {name: row[name] for name in FIGURES} for row in rows}


def _demo(engine: Engine) -> dict[str, dict[str, int]]:
    with make_session_factory(engine)() as session:
        rows = summary_figures(session)
    return {carrier: {**{name: row.get(name, 0) for name in FIGURES if name != "total"},
                      "total": sum(row.get(group, 0) for group in DeliveryGroup)}
            for carrier, row in rows.items()}


def test_the_four_reports_give_the_same_figures(
        engine: Engine, edition: tuple[int, Path], capsys: pytest.CaptureFixture[str]) -> None:
    edition_id, config = edition
    reports = {
        "sdgw dispatch status": _dispatch_status(config, edition_id, capsys),
        "console": _console(engine, edition_id),
        "sdgw report": _report(config, capsys),
        "demo summary": _demo(engine),
    }
    for name, figures in reports.items():
        assert figures == EXPECTED, name
