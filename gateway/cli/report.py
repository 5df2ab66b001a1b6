"""``sdgw report``: the console's figures on the terminal, as a table, CSV or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway.cli.common import open_database
from gateway.cli.progress import CommandProgress
from gateway.console import queries
from gateway.console.rollup import count_all, store_counted
from gateway.console.service import rollup_settings
from gateway.console.tables import columns_of, csv_text, plain_table


def report_command(args: argparse.Namespace) -> int:
    config, sessions = open_database(args)
    now = datetime.now(UTC)
    zone = ZoneInfo(config.newspaper.timezone)
    if not args.no_refresh:  # seconds at millions of rows: shown on stderr
        with CommandProgress() as display, sessions.begin() as session:
            steps = display.add("refresh figures", total=2, unit="steps")
            counted = count_all(session, now, rollup_settings(config))
            steps.advance()
            store_counted(session, counted, now)
            steps.advance()
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
    wanted = args.section or list(args.every_section)
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
