"""``sdgw dispatch`` (start/resume by hand, status) and ``sdgw demo``."""

from __future__ import annotations

import argparse
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gateway.errors import GatewayError

DONE = ("delivered",)
FAILED = ("failed", "rejected", "undeliverable", "expired", "unknown")
OPEN = ("pending", "claimed", "sending", "uncertain")
"""Not final yet (``store.OPEN_STATUSES``): the dispatch is not done while any is left."""
WAITING = ("uncertain",)
"""Open, but waiting for evidence its submit left (then reconciled, resent or skipped)."""
PENDING = tuple(status for status in OPEN if status not in WAITING)
"""Open and still to be sent: what the ETA is about."""
RECOVERY = ("uncertain", "reconciled", "resent", "skipped")
"""``store.recovery_counts``: deliveries ever uncertain, and how those were resolved."""
_STATUS_COLUMNS = (
    ("edition", ">"), ("carrier", "<"), ("status", "<"), ("total", ">"), ("pending", ">"),
    ("waiting", ">"), ("submitted", ">"), ("delivered", ">"), ("failed", ">"),
    ("cancelled", ">"), *((name, ">") for name in RECOVERY), ("rate/s", ">"), ("ETA", ">"))


def register(commands: Any) -> None:
    dispatch = commands.add_parser(
        "dispatch", help="start or resume a dispatch by hand, or show progress",
        description="`sdgw dispatch --edition ID` starts (or resumes) sending edition ID in "
        "this process, over links to the configured SMSCs, and returns when every delivery "
        "is submitted or final. `sdgw dispatch status` shows progress per carrier.")
    dispatch.add_argument("action", nargs="?", choices=("status",),
                          help="status: show progress instead of sending")
    dispatch.add_argument("--edition", type=int, metavar="ID")
    dispatch.add_argument("--ignore-quiet-hours", action="store_true",
                          help="send even inside quiet hours (tests, emergencies)")
    dispatch.set_defaults(handler=_dispatch)

    demo = commands.add_parser(
        "demo", help="run the whole story once on a fresh demo database and exit",
        description="Simulated subscribers on all three carriers text SD and confirm with Y, "
        "the sample articles are ingested, an edition is built and dispatched through the "
        "simulators, receipts come back, and a summary is printed. Uses var/demo.db (made "
        "anew each run) and free loopback ports; quiet hours do not apply to the demo.")
    demo.add_argument("--subscribers", type=int, default=200,
                      help="subscribers per carrier (default 200)")
    demo.add_argument("--serve", action="store_true",
                      help="afterwards keep the gateway running on the demo database, with the "
                      "operator console (console.host:console.port) and an admin operator "
                      "'demo' whose password is printed, until Ctrl-C or SIGTERM")
    demo.set_defaults(handler=_demo)


def _dispatch(args: argparse.Namespace) -> int:
    from gateway.cli import load, setup_logging
    from gateway.db.engine import ensure_schema_current, make_engine, make_session_factory

    config = load(args)
    engine = make_engine(config.database_url)
    ensure_schema_current(engine, config.path)
    if args.action == "status":
        print_status(make_session_factory(engine), args.edition,
                     ZoneInfo(config.newspaper.timezone))
        return 0
    if args.edition is None:
        raise GatewayError("dispatch: give --edition ID to send, or `status` to look")
    setup_logging(config.logging.level)
    from gateway.cli.reactor import run_dispatch

    code = run_dispatch(config, args.edition, ignore_quiet_hours=args.ignore_quiet_hours)
    if code != 2:
        print_status(make_session_factory(engine), args.edition,
                     ZoneInfo(config.newspaper.timezone))
    return code


def print_status(sessions: Any, edition_id: int | None, zone: ZoneInfo) -> None:
    """Per dispatch: pending (still to send: pending, claimed, sending), waiting (uncertain
    now: waiting for evidence), submitted, delivered, failed, cancelled; then the recovery
    figures: uncertain (ever), reconciled, resent, skipped (final, in neither delivered nor
    failed); the send rate and the ETA of what is pending."""
    from gateway.dispatch.store import progress

    with sessions() as session:
        report = progress(session, edition_id)
    if not report:
        print("no dispatches yet")
        return
    rows = []
    for entry in report:
        dispatch, counts = entry["dispatch"], entry["counts"]
        recovery = entry.get("recovery") or {}
        pending = sum(counts.get(s, 0) for s in PENDING)
        submitted = counts.get("submitted", 0)
        delivered = sum(counts.get(s, 0) for s in DONE)
        failed = sum(counts.get(s, 0) for s in FAILED)
        rate, eta = _rate_and_eta(dispatch, submitted + delivered + failed, pending)
        rows.append({
            "edition": dispatch.edition_id, "carrier": dispatch.carrier,
            "status": dispatch.status, "total": dispatch.total, "pending": pending,
            "waiting": sum(counts.get(s, 0) for s in WAITING), "submitted": submitted,
            "delivered": delivered, "failed": failed, "cancelled": counts.get("cancelled", 0),
            **{name: recovery.get(name, 0) for name in RECOVERY},
            "rate/s": f"{rate:.1f}", "ETA": eta})
    widths = {name: max(len(name), *(len(str(row[name])) for row in rows))
              for name, _ in _STATUS_COLUMNS}
    for row in ({name: name for name, _ in _STATUS_COLUMNS}, *rows):
        print(" ".join(f"{row[name]!s:{align}{widths[name]}}" for name, align in _STATUS_COLUMNS))
    if any(row["waiting"] or row["uncertain"] for row in rows):
        print("waiting: uncertain now (did its submit leave?), waiting for evidence; "
              "uncertain: ever uncertain, then reconciled, resent or skipped")


def _rate_and_eta(dispatch: Any, sent: int, pending: int) -> tuple[float, str]:
    from gateway.db.times import as_utc

    started = as_utc(dispatch.started_at or dispatch.created_at)
    end = as_utc(dispatch.finished_at or datetime.now(UTC))
    seconds = max((end - started).total_seconds(), 1e-3)
    rate = sent / seconds
    if not pending:
        return rate, "-"
    if rate <= 0:
        return rate, "?"
    return rate, str(timedelta(seconds=int(pending / rate)))


def _demo(args: argparse.Namespace) -> int:
    from gateway.cli import load, setup_logging
    from gateway.cli.demo import DemoOptions, run_demo

    if args.subscribers < 1:
        raise GatewayError("demo: --subscribers must be at least 1")
    config = load(args)
    setup_logging("warning")
    demo_config = dataclasses.replace(
        config, database=dataclasses.replace(config.database, url="sqlite:///../var/demo.db"))
    return run_demo(demo_config, DemoOptions(subscribers_per_carrier=args.subscribers,
                                             serve=args.serve))
