"""Building an edition costs the same for one subscriber as for a million.

Run with ``.venv/bin/python -m bench.edition_bench [--subscribers N] [--repeat R]``. In a fresh
SQLite database under a temporary folder it stores the sample articles (``data/articles``),
then for 1 and for N subscriber rows (default 1,000,000, seeded with one ``executemany`` per
batch) it builds the 2020-11-18 morning edition R times for the three carriers, and prints the
best and median build time, the SQL statements and template renders of one build, and whether
the stored octets are identical. Building never reads subscribers: only dispatch does.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import Engine, event, func, select

from gateway.articles.ingest import ingest_file
from gateway.cli.progress import CommandProgress, ProgressTask
from gateway.db.engine import make_engine, make_session_factory, upgrade
from gateway.db.models import Subscriber
from gateway.editions.build import EditionSettings, build_edition
from gateway.editions.rendering import CarrierTarget
from gateway.editions.stored import load_edition
from gateway.templating import make_environment

__all__ = ["main"]

REPO_ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2020, 11, 17, 22, 0, tzinfo=UTC)
DAY = date(2020, 11, 18)
CARRIERS = {"china_mobile": "10658000", "china_unicom": "106558000678",
            "china_telecom": "106597009"}
SEED_BATCH = 50_000


def settings() -> EditionSettings:
    return EditionSettings(
        newspaper={"name": "山东手机报", "signature": "山东手机报", "price": "3元/月"},
        slot_labels={"morning": "早报", "evening": "晚报"},
        targets=tuple(CarrierTarget(carrier=c, short_code=code, max_sms_segments=8,
                                    max_mms_bytes=100 * 1024) for c, code in CARRIERS.items()),
        channel_weights={"教育新闻/教育热点": 2.0, "教育新闻": 1.0},
        configured_orders={},
        max_articles=8,
        base_url="http://127.0.0.1:8081",
        mms_expiry_seconds=72 * 3600,
        sms_reference_bits=8,
        templates_path=REPO_ROOT / "templates",
    )


def seed_subscribers(engine: Engine, up_to: int, progress: ProgressTask | None = None
                     ) -> float:
    """Add subscriber rows until there are ``up_to``; the seconds it took."""
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        have = session.scalar(select(func.count()).select_from(Subscriber)) or 0
    started = time.perf_counter()
    when = (NOW - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
    carriers = list(CARRIERS)
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        for start in range(have, up_to, SEED_BATCH):
            rows = [
                (f"1{n:010d}", carriers[n % 3], CARRIERS[carriers[n % 3]], "", "active", when,
                 "sms", 0, when, when)
                for n in range(start, min(up_to, start + SEED_BATCH))
            ]
            cursor.executemany(
                "INSERT INTO subscribers (msisdn, carrier, short_code, extension, status, "
                "activated_at, message_format, undeliverable_streak, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            if progress is not None:
                progress.update(completed=start + len(rows), total=up_to)
        connection.commit()
        # Fold the seeding out of the write-ahead log, so both runs read the same way.
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    seconds = time.perf_counter() - started
    if progress is not None:
        progress.finish()
    os.sync()  # let the kernel write the seeded pages out now, not during the timed builds
    return seconds


def timed_builds(engine: Engine, repeat: int) -> tuple[list[float], int, Counter[str], bytes]:
    """Build the edition ``repeat`` times; times, statements and renders of the last build,
    and the stored octets."""
    sessions = make_session_factory(engine)
    statements: list[str] = []
    renders: Counter[str] = Counter()
    original = jinja2.Template.render

    def counting_render(self: jinja2.Template, *args: Any, **kwargs: Any) -> str:
        renders[self.name or "?"] += 1
        return original(self, *args, **kwargs)

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    times = []
    environment = make_environment(REPO_ROOT / "templates")
    for _ in range(repeat):
        statements.clear()
        renders.clear()
        jinja2.Template.render = counting_render  # type: ignore[method-assign]
        event.listen(engine, "before_cursor_execute", record)
        started = time.perf_counter()
        try:
            build_edition(sessions, settings(), newspaper_date=DAY, slot="morning", now=NOW,
                          environment=environment)
        finally:
            times.append(time.perf_counter() - started)
            event.remove(engine, "before_cursor_execute", record)
            jinja2.Template.render = original  # type: ignore[method-assign]
    if any("subscribers" in s.lower() for s in statements):
        raise AssertionError("building an edition read the subscribers table")
    with sessions.begin() as session:
        edition = load_edition(session, DAY, "morning")
    assert edition is not None
    octets = b"".join(s.short_message for r in edition.renders for s in r.segments)
    return times, len(statements), renders, octets


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=1_000_000,
                        help="subscriber rows for the second run (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=5, help="builds per run (default 5)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sdgw-edition-bench-") as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        upgrade(engine)
        sessions = make_session_factory(engine)
        for path in sorted((REPO_ROOT / "data" / "articles").iterdir()):
            with sessions.begin() as session:
                ingest_file(session, path, now=NOW)
        rows = []
        for count in (1, args.subscribers):
            # The display is shown while seeding only: its refresh thread stays out of the
            # timed builds.
            with CommandProgress() as display:
                seeded = seed_subscribers(engine, count, display.add(
                    "seed subscribers", total=count, unit="subscribers"))
            times, statements, renders, octets = timed_builds(engine, args.repeat)
            rows.append((count, seeded, times, statements, renders, octets))
        engine.dispose()
    print(f"edition build, 3 carriers x (SMS + MMS), 6 articles, SQLite; {args.repeat} builds "
          "per run")
    print(f"{'subscribers':>12} {'seeded in':>10} {'best':>9} {'median':>9} {'statements':>11} "
          f"{'renders':>8}")
    for count, seeded, times, statements, renders, _ in rows:
        print(f"{count:>12,} {seeded:>9.1f}s {min(times) * 1000:>7.1f}ms "
              f"{statistics.median(times) * 1000:>7.1f}ms {statements:>11} "
              f"{sum(renders.values()):>8}")
    same = rows[0][5] == rows[1][5]
    print(f"stored octets identical: {'yes' if same else 'NO'}; statements identical: "
          f"{'yes' if rows[0][3] == rows[1][3] else 'NO'}; template renders identical: "
          f"{'yes' if rows[0][4] == rows[1][4] else 'NO'}")


if __name__ == "__main__":
    main()
