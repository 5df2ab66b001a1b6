"""``sdgw subscribers`` and ``sdgw events purge``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from carriers.numbers import InvalidNumber, normalise_msisdn
from gateway.cli.common import check_number, open_database
from gateway.cli.progress import CommandProgress, ProgressTask
from gateway.console.queries import subscriber_record
from gateway.db.times import local_text
from gateway.dispatch.store import purge_unmatched_batch, purgeable_unmatched
from gateway.errors import GatewayError
from gateway.subscriptions.records import (
    iter_subscribers,
    purge_events_batch,
    purgeable_events,
)

HISTORY_LIMIT = 100_000
"""At most this many of each kind (events, MOs, MTs, digests) in one number's history."""


def _open(args: argparse.Namespace) -> Any:
    config, sessions = open_database(args)
    _ZONE[:] = [ZoneInfo(config.newspaper.timezone)]
    return config, sessions


def subscribers_command(args: argparse.Namespace) -> int:
    check_number("--limit", args.limit, 0, also=" (0 = all)")
    _, sessions = _open(args)
    msisdn = None
    if args.number:
        try:
            msisdn = normalise_msisdn(args.number)
        except InvalidNumber as exc:
            raise GatewayError(f"--number {args.number!r}: {exc.reason}") from None
    with sessions() as session:
        rows = list(iter_subscribers(session, carrier=args.carrier, status=args.status,
                                     msisdn=msisdn, limit=args.limit or None))
        if not rows:
            print("no subscribers match")
            return 0
        print(f"{'number':<13} {'carrier':<14} {'status':<10} {'format':<7} {'code':<16} "
              f"{'since':<20} prefix")
        for row in rows:
            since = row.activated_at if row.status == "active" else (
                row.cancelled_at if row.status == "cancelled" else
                row.pending_since if row.status == "pending" else row.created_at)
            mismatch = f"{row.prefix_carrier} (ported)" if row.prefix_carrier else ""
            if row.flagged_at is not None:
                mismatch += (f" FLAGGED: {row.undeliverable_streak} undeliverable editions in "
                             "a row").lstrip()
            print(f"{row.msisdn:<13} {row.carrier:<14} {row.status:<10} "
                  f"{row.message_format:<7} {row.short_code + row.extension:<16} "
                  f"{_when(since):<20} {mismatch}")
        if msisdn is not None:
            subscriber = rows[0]
            record = subscriber_record(session, msisdn, reveal=True, limit=HISTORY_LIMIT)
            if record.subscriber is not None and record.subscriber.requested_at is not None:
                print(f"requested: {_when(record.subscriber.requested_at)}")
            if subscriber.consent_at is not None:
                print(f"consent: {subscriber.consent_text!r} at {_when(subscriber.consent_at)} "
                      f"(MO #{subscriber.consent_inbound_id})")
            print("history (oldest first):")
            for entry in reversed(record.history):
                print(f"  {_when(entry.at)}  {entry.kind.upper():<6} {entry.status:<20} "
                      f"{entry.text!r}  {entry.detail}")
    return 0


def purge_command(args: argparse.Namespace) -> int:
    config, sessions = _open(args)
    days = config.subscriptions.event_retention_days
    cutoff = datetime.now(UTC) - timedelta(days=days)
    receipt_days = config.dispatch.unmatched_receipt_days
    receipts_before = datetime.now(UTC) - timedelta(days=receipt_days)
    with sessions() as session:
        events = purgeable_events(session, ended_before=cutoff)
        receipts = purgeable_unmatched(session, received_before=receipts_before)
    if not args.dry_run:
        with CommandProgress() as display:
            events = _purge_in_batches(
                sessions, display.add("purge events", total=events, unit="events"),
                lambda session: purge_events_batch(session, ended_before=cutoff,
                                                   limit=args.batch))
            receipts = _purge_in_batches(
                sessions, display.add("purge receipts", total=receipts, unit="receipts"),
                lambda session: purge_unmatched_batch(session, received_before=receipts_before,
                                                      limit=args.batch))
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{verb} {events} event(s) of subscriptions that ended before {_when(cutoff)} "
          f"(retention {days} days)")
    print(f"{verb} {receipts} receipt(s) that matched nothing, received before "
          f"{_when(receipts_before)} (dispatch.unmatched_receipt_days = {receipt_days:g})")
    return 0


def _purge_in_batches(sessions: Any, progress: ProgressTask,
                      purge_batch: Callable[[Any], int]) -> int:
    """Run ``purge_batch`` in a transaction of its own each time until it deletes nothing;
    how many rows it deleted in all."""
    deleted = 0
    while True:
        with sessions.begin() as session:
            count = purge_batch(session)
        if not count:
            break
        deleted += count
        progress.update(completed=deleted, total=max(progress.total or 0, deleted))
    progress.finish()
    return deleted


_ZONE: list[ZoneInfo] = []


def _when(value: datetime | None) -> str:
    """A stored (UTC) time in the newspaper's time zone."""
    return local_text(value, _ZONE[0] if _ZONE else None)
