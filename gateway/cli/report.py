"""``sdgw report``: the console's figures on the terminal, as a table, CSV or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

SECTIONS = ("carriers", "period", "daily", "editions")


def register(commands: Any) -> None:
    report = commands.add_parser(
        "report", help="subscriber and delivery figures (as on the console's dashboard)",
        description="Refresh the summary tables, then print the figures the console shows: "
        "subscribers per carrier, the period's requests, confirmations, unsubscriptions, "
        "SD→Y conversion and churn, the figures per day, and delivery per edition and "
        "carrier (with the deliveries ever uncertain and how many of them were reconciled, "
        "resent or skipped). JSON holds every section; table and CSV print the sections "
        "asked for.")
    report.add_argument("--format", choices=("table", "csv", "json"), default="table")
    report.add_argument("--days", type=int, choices=(30, 90), default=30,
                        help="the period (default 30 days, ending today)")
    report.add_argument("--section", choices=SECTIONS, action="append",
                        help="only this section (repeatable; default: all)")
    report.add_argument("--no-refresh", action="store_true",
                        help="print the summary tables as they are (what the console shows), "
                        "without counting again first")
    report.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo

    from gateway.cli import open_database
    from gateway.console import queries
    from gateway.console.rollup import refresh
    from gateway.console.service import rollup_settings
    from gateway.console.tables import columns_of, csv_text, plain_table

    config, sessions = open_database(args)
    now = datetime.now(UTC)
    zone = ZoneInfo(config.newspaper.timezone)
    if not args.no_refresh:
        with sessions.begin() as session:
            refresh(session, now, rollup_settings(config))
    with sessions.begin() as session:
        summary = queries.summary(session, today=now.astimezone(zone).date(), days=args.days,
                                  carriers=tuple(config.carriers))
        dispatches = queries.dispatch_figures(session, now=now)
    tables: dict[str, tuple[tuple[str, ...], list[Any]]] = {
        "carriers": (columns_of(queries.CarrierFigures), list(summary.carriers)),
        "period": (columns_of(queries.PeriodFigures), [summary.period]),
        "daily": (columns_of(queries.DayFigures), list(summary.daily)),
        "editions": (columns_of(queries.DispatchFigures), list(dispatches)),
    }
    wanted = args.section or list(SECTIONS)
    out = sys.stdout
    if args.format == "json":
        body = {"as_of": summary.as_of.isoformat() if summary.as_of else None,
                "total_active": summary.total_active, "total_pending": summary.total_pending}
        body.update({name: [queries.as_dict(row) for row in tables[name][1]]
                     for name in wanted})
        out.write(json.dumps(body, ensure_ascii=False, indent=2) + "\n")
        return 0
    for index, name in enumerate(wanted):
        columns, rows = tables[name]
        if args.format == "csv":
            if len(wanted) > 1:
                out.write(("\r\n" if index else "") + f"# {name}\r\n")
            out.write(csv_text(columns, rows))
        else:
            if index:
                out.write("\n")
            out.write(f"== {name} ==\n{plain_table(columns, rows, zone=zone)}\n")
    if args.format == "table":
        as_of = summary.as_of.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") \
            if summary.as_of else "never"
        out.write(f"\ntotal active {summary.total_active:,}; figures as of {as_of} "
                  f"({config.newspaper.timezone})\n")
    return 0
