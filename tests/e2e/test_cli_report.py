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


def test_report_refuses_an_out_of_date_schema(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = sdgw(config, "report")
    assert result.returncode == 2
    assert "db upgrade" in result.stderr and "Traceback" not in result.stderr
