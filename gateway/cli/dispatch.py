"""``sdgw dispatch``: send (or finish sending) an edition from this process, handing it to
the gateway that holds a SQLite database if one does; ``sdgw dispatch status``: progress."""

from __future__ import annotations

import argparse
import logging
import signal
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from twisted.internet import defer

from gateway.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, load, setup_logging
from gateway.cli.dispatch_progress import CountingThreads, DispatchProgress
from gateway.cli.progress import CommandProgress, ProgressTask
from gateway.cli.reactor import (
    installed_reactor,
    process_gateway,
    run_until_stopped,
    stop_reactor,
)
from gateway.config import GatewayConfig
from gateway.db.dispatch_models import Dispatch
from gateway.db.edition_models import EDITION_BUILT, EDITION_FROZEN, Edition
from gateway.db.engine import ensure_schema_current, make_engine, make_session_factory
from gateway.db.file_lock import DatabaseInUse, hold_database
from gateway.db.times import as_utc
from gateway.dispatch.runner import prepare_dispatches
from gateway.dispatch.store import open_counts, progress
from gateway.editions.build import EditionError
from gateway.errors import GatewayError
from gateway.states import WAITING_STATUSES, DeliveryGroup, group_counts

log = logging.getLogger(__name__)

RECOVERY = ("uncertain", "reconciled", "resent", "skipped")
"""``store.recovery_counts``: deliveries ever uncertain, and how those were resolved."""
_STATUS_COLUMNS = (
    ("edition", ">"), ("carrier", "<"), ("status", "<"), ("total", ">"), ("pending", ">"),
    ("waiting", ">"), ("submitted", ">"), ("delivered", ">"), ("failed", ">"),
    ("other", ">"), *((name, ">") for name in RECOVERY), ("rate/s", ">"), ("ETA", ">"))


def dispatch_command(args: argparse.Namespace) -> int:
    config = load(args)
    engine = make_engine(config.database_url)
    ensure_schema_current(engine, config.path)
    if args.action == "status":
        print_status(make_session_factory(engine), args.edition,
                     ZoneInfo(config.newspaper.timezone))
        return 0
    if args.edition is None:
        raise GatewayError("dispatch: give --edition ID to send, or `status` to look")
    setup_logging(config.logging.level, config.logging.format)
    code = run_dispatch(config, args.edition, ignore_quiet_hours=args.ignore_quiet_hours)
    if code != 2:
        print_status(make_session_factory(engine), args.edition,
                     ZoneInfo(config.newspaper.timezone))
    return code


def print_status(sessions: Any, edition_id: int | None, zone: ZoneInfo) -> None:
    """Per dispatch the outcome groups of ``gateway/states.py`` (pending, submitted,
    delivered, failed, other), and waiting: of the pending, those uncertain now (waiting for
    evidence); then the recovery figures: uncertain (ever), reconciled, resent, skipped
    (final, counted in other); the rate of deliveries handled (no longer pending) and the ETA
    of those still to send (pending but not waiting)."""
    with sessions() as session:
        report = progress(session, edition_id)
    if not report:
        print("no dispatches yet")
        return
    rows = []
    for entry in report:
        dispatch, counts = entry["dispatch"], entry["counts"]
        recovery = entry.get("recovery") or {}
        groups = group_counts(counts)
        waiting = sum(counts.get(s, 0) for s in WAITING_STATUSES)
        pending = groups[DeliveryGroup.PENDING]
        handled = sum(groups.values()) - pending
        rate, eta = _rate_and_eta(dispatch, handled, pending - waiting)
        rows.append({
            "edition": dispatch.edition_id, "carrier": dispatch.carrier,
            "status": dispatch.status, "total": dispatch.total, "waiting": waiting,
            **{str(group): count for group, count in groups.items()},
            **{name: recovery.get(name, 0) for name in RECOVERY},
            "rate/s": f"{rate:.1f}", "ETA": eta})
    widths = {name: max(len(name), *(len(str(row[name])) for row in rows))
              for name, _ in _STATUS_COLUMNS}
    for row in ({name: name for name, _ in _STATUS_COLUMNS}, *rows):
        print(" ".join(f"{row[name]!s:{align}{widths[name]}}" for name, align in _STATUS_COLUMNS))
    if any(row["waiting"] or row["uncertain"] for row in rows):
        print("waiting: of the pending, uncertain now (did its submit leave?), waiting for "
              "evidence; "
              "uncertain: ever uncertain, then reconciled, resent or skipped")


def _rate_and_eta(dispatch: Any, sent: int, pending: int) -> tuple[float, str]:
    started = as_utc(dispatch.started_at or dispatch.created_at)
    end = as_utc(dispatch.finished_at or datetime.now(UTC))
    seconds = max((end - started).total_seconds(), 1e-3)
    rate = sent / seconds
    if not pending:
        return rate, "-"
    if rate <= 0:
        return rate, "?"
    return rate, str(timedelta(seconds=int(pending / rate)))


def run_dispatch(config: GatewayConfig, edition_id: int, *, ignore_quiet_hours: bool) -> int:
    """Send (or finish sending) one edition from this process, then stop; SIGTERM or Ctrl-C
    stops it cleanly first. 0 when done or stopped, 2 when the edition cannot be sent (the
    reason is printed).

    On a SQLite database that a running gateway holds (one writer per file), the edition is
    handed to that gateway instead, which sends it, and this waits until it is done."""
    _check_edition_sendable(config, edition_id)
    try:
        gateway, lost = process_gateway(config, "dispatch", with_simulators=False,
                                        with_console=False, schedule=False, with_content=False,
                                        quiet_hours=not ignore_quiet_hours)
    except DatabaseInUse as held:
        return _hand_over(config, edition_id, held, ignore_quiet_hours=ignore_quiet_hours)
    assert gateway.dispatch is not None
    runner = gateway.dispatch.runner
    problems: list[str] = []
    reactor = installed_reactor()
    counting = CountingThreads(config.database_url, reactor=reactor)
    counting.setServiceParent(gateway.root)

    with CommandProgress() as display:
        progress = DispatchProgress(display, counting, edition_id, clock=reactor)

        def send() -> None:
            def failed(failure: Any) -> None:
                failure.trap(GatewayError)
                problems.append(str(failure.value))

            progress.start()
            sending = defer.ensureDeferred(runner.dispatch(edition_id))
            sending.addErrback(failed)
            sending.addErrback(lambda f: problems.append(f.getErrorMessage()) or log.error(
                "dispatch of edition #%d failed: %s", edition_id, f.getTraceback()))
            sending.addBoth(lambda _: progress.stop())
            sending.addBoth(lambda _: stop_reactor())

        run_until_stopped(gateway.root, f"dispatch of edition #{edition_id}", then=send,
                          on_stop=progress.pause)
    for problem in problems:
        print(f"sdgw: {problem}", flush=True)
    if problems:
        return EXIT_USAGE
    return EXIT_FAILED if lost else EXIT_OK


def _check_edition_sendable(config: GatewayConfig, edition_id: int) -> None:
    """Refuse, before any link is opened, an edition that does not exist or is not built:
    the :class:`EditionError` that ``freeze_edition`` would raise once every SMSC is bound."""
    engine = make_engine(config.database_url, pool_size=1, read_only=True)
    try:
        ensure_schema_current(engine, config.path)
        with make_session_factory(engine)() as session:
            edition = session.get(Edition, edition_id)
            if edition is None:
                raise EditionError(f"there is no edition #{edition_id}")
            if edition.status not in (EDITION_BUILT, EDITION_FROZEN):
                raise EditionError(
                    f"edition {edition.newspaper_date.isoformat()}/{edition.slot} "
                    f"(#{edition.id}) is not built (status {edition.status}); "
                    "build it before dispatch")
    finally:
        engine.dispose()


def _hand_over(config: GatewayConfig, edition_id: int, held: DatabaseInUse, *,
               ignore_quiet_hours: bool, poll: float = 1.0) -> int:
    """Create the edition's dispatches for the gateway that holds the SQLite file (its next
    heartbeat starts them) and wait until they are done, or until the holder has gone (then
    send it here). SIGTERM or Ctrl-C ends the wait (exit 0); the dispatch goes on there."""
    engine = make_engine(config.database_url)
    sessions = make_session_factory(engine)
    now = datetime.now(UTC)
    with sessions.begin() as session:
        ids = prepare_dispatches(
            session, edition_id, list(config.carriers), cutoff=now,
            deadline=now + timedelta(hours=config.dispatch.deadline_hours), now=now)
    print(f"sdgw: the database is held by {held.holder}; edition #{edition_id} is handed to "
          "it (its quiet hours apply) and sent there; waiting until it is done (Ctrl-C stops "
          "waiting, not the dispatch)", flush=True)
    def stop_waiting(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_waiting)
    display = CommandProgress().start()
    bars: dict[str, ProgressTask] = {}
    try:
        while True:
            with sessions() as session:
                statuses = set(session.scalars(select(Dispatch.status)
                                               .where(Dispatch.id.in_(ids))))
                counts = open_counts(session, edition_id)
            for carrier, (total, still_open) in sorted(counts.items()):
                if carrier not in bars:
                    bars[carrier] = display.add(f"dispatch {carrier}", total=total,
                                                unit="deliveries", completed=total - still_open)
                bars[carrier].update(completed=total - still_open, total=total)
            if statuses <= {"done"}:
                return 0
            try:
                hold_database(engine, "dispatch")
            except DatabaseInUse:
                time.sleep(poll)
                continue
            print("sdgw: the gateway holding the database stopped; sending here", flush=True)
            break
    except KeyboardInterrupt:
        print("sdgw: stopped waiting; the gateway holding the database goes on sending",
              flush=True)
        return 0
    finally:
        display.close()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        engine.dispose()
    return run_dispatch(config, edition_id, ignore_quiet_hours=ignore_quiet_hours)
