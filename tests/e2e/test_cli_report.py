"""``sdgw report`` prints the console's figures — checked against the database."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from gateway.db.engine import make_engine, make_session_factory, upgrade
from gateway.db.models import Subscriber
from tests.e2e.test_cli_editions import sdgw, write_config
from tests.service.test_dispatch_status_output import (
    EXPECTED,
    parse_status,
    seed_recovery_dispatches,
)
from tests.service.test_subscription_engine import Engine_


def _seeded(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    config = write_config(tmp_path)
    engine = make_engine(f"sqlite:///{tmp_path / 'gw.db'}")
    upgrade(engine)
    gw = Engine_(engine)
    gw.now = datetime.now(UTC) - timedelta(hours=2)  # today, in any time zone's evening
    plan = {"china_mobile": ("138", 5), "china_unicom": ("130", 3), "china_telecom": ("133", 2)}
    for carrier, (prefix, count) in plan.items():
        for n in range(count):
            number = f"{prefix}{n:08d}"
            gw.mo("SD", source=number, carrier=carrier, advance=timedelta(seconds=1))
            gw.mo("Y", source=number, carrier=carrier, advance=timedelta(seconds=1))
    gw.mo("TD", source="13800000000", carrier="china_mobile", advance=timedelta(seconds=1))
    gw.mo("SD", source="13099999999", carrier="china_unicom", advance=timedelta(seconds=1))
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        active = dict(session.execute(select(Subscriber.carrier, func.count()).where(
            Subscriber.status == "active").group_by(Subscriber.carrier)).all())
    engine.dispose()
    return config, active


def test_report_json_csv_and_table_match_the_database(tmp_path: Path) -> None:
    config, active = _seeded(tmp_path)
    assert active == {"china_mobile": 4, "china_unicom": 3, "china_telecom": 2}

    result = sdgw(config, "report", "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["total_active"] == 9 and report["total_pending"] == 1
    assert {row["carrier"]: row["active"] for row in report["carriers"]} == active
    period = report["period"][0]
    assert (period["requests"], period["confirmations"], period["unsubscriptions"]) == (11, 10, 1)
    assert period["conversion"] == round(10 / 11, 4)
    assert len(report["daily"]) == 30 and sum(d["requests"] for d in report["daily"]) == 11

    result = sdgw(config, "report", "--format", "csv", "--section", "carriers")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {row["carrier"]: int(row["active"]) for row in rows} == active

    result = sdgw(config, "report", "--days", "90", "--section", "period")
    assert result.returncode == 0, result.stderr
    assert "90" in result.stdout and "90.9%" in result.stdout and "total active 9" in result.stdout


def test_editions_show_uncertain_deliveries_and_their_recovery(tmp_path: Path) -> None:
    """Per edition and carrier: deliveries ever uncertain, reconciled, resent, skipped —
    in ``sdgw report`` (JSON, CSV, table) as in ``sdgw dispatch status``."""
    config = write_config(tmp_path)
    engine = make_engine(f"sqlite:///{tmp_path / 'gw.db'}")
    upgrade(engine)
    with make_session_factory(engine).begin() as session:
        edition_id, dispatches = seed_recovery_dispatches(session)
    engine.dispose()
    recovery = ("uncertain", "reconciled", "resent", "skipped")
    wanted = {carrier: {name: int(figures[name]) for name in recovery}
              for carrier, figures in EXPECTED.items()}

    result = sdgw(config, "report", "--format", "json", "--section", "editions")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["editions"]
    assert {row["carrier"]: {name: row[name] for name in recovery} for row in rows} == wanted
    mobile = next(row for row in rows if row["carrier"] == "china_mobile")
    # Uncertain now counts as pending (not final); skipped as other, never failed.
    assert (mobile["dispatch_id"], mobile["edition_id"]) == (
        dispatches["china_mobile"], edition_id)
    assert (mobile["pending"], mobile["submitted"], mobile["delivered"], mobile["failed"],
            mobile["other"], mobile["total"]) == (5, 1, 3, 2, 2, 13)

    result = sdgw(config, "report", "--format", "csv", "--section", "editions", "--no-refresh")
    lines = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {line["carrier"]: {name: int(line[name]) for name in recovery}
            for line in lines} == wanted

    result = sdgw(config, "report", "--section", "editions", "--no-refresh")
    assert result.returncode == 0, result.stderr
    header = result.stdout.splitlines()[1].split()
    assert header[header.index("other"):header.index("other") + 5] == ["other", *recovery]
    line = next(row for row in result.stdout.splitlines() if "china_mobile" in row).split()
    assert line[header.index("uncertain"):header.index("skipped") + 1] == ["7", "2", "2", "1"]

    result = sdgw(config, "dispatch", "status", "--edition", str(edition_id))
    assert result.returncode == 0, result.stderr
    _, status = parse_status(result.stdout)
    for carrier, expected in EXPECTED.items():
        assert {name: status[carrier][name] for name in expected} == expected


def test_report_refuses_an_out_of_date_schema(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = sdgw(config, "report")
    assert result.returncode == 2
    assert "db upgrade" in result.stderr and "Traceback" not in result.stderr
