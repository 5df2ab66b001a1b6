"""The operator console on a newspaper-sized database: does every page answer in under 1 s
with 5,000,000 subscribers and 90 days of events?

Run with ``.venv/bin/python -m bench.console_bench [--subscribers 5000000] [--days 90]
[--messages N] [--deliveries N] [--database URL] [--keep]``. Phases, each in a process of its
own (as in :mod:`bench.dispatch_bench`):

1. seeding a fresh database: ``gateway.db.engine.upgrade``, then bulk inserts through the raw
   driver (``sqlite3`` / ``psycopg`` ``executemany`` in batches of 20,000 rows; the indexes
   exist already, made by the migrations). On SQLite the seeding connection runs with
   ``synchronous=OFF`` and ``journal_mode=OFF`` (about 1.5 times as fast as WAL/NORMAL here) and
   the file is put back in WAL mode at the end. Nothing is ANALYZEd on SQLite (the gateway
   never does); PostgreSQL gets the ANALYZE that autovacuum would run soon after such a load.

   - subscribers: ordered by number (ids follow numbers), 60/25/15% China Mobile / Unicom /
     Telecom on their own prefixes; 80% active (three in four subscribed before the window),
     5% pending, 15% cancelled (two in three within the window);
   - subscription_events: each subscriber's transitions inside the window (SD → pending,
     Y → active, TD → cancelled, a late Y lapsing a request, SD again after a cancellation),
     about 2 per subscriber with history there, at times of day weighted like real MO traffic,
     inserted in time order;
   - inbound_messages and their replies in outbound_messages: ``--messages`` of each
     (default 2,000,000, ~22,000 a day: a busy SD/Y/TD/query/help mix). They are drawn from
     the subscribers independently of the events (the events alone would need ~3.3M MOs):
     what matters to the console is millions of rows in the message log, not one MO per
     event. Every 20th reply has an outbound_segments row;
   - editions: two a day (07:00, 18:00) for the last 90 days, each with 5 articles, an SMS
     render per carrier and a dispatch per carrier (all ``done``); the older dispatches get
     final dispatch_stats rows directly, the latest edition gets one delivery per subscriber
     active at its cut-off (``--deliveries`` caps that; default all, ~4M at full scale) with a
     status mix that leaves 3% waiting for receipts, as the 30 s roll-up sees it for 48 h;
   - a little audit history.
2. the roll-up (``gateway.console.rollup.refresh``): the first full run over the window, then
   an incremental refresh (what the gateway does every 30 s);
3. ``sdgw run --no-simulators`` on a generated config (links retry forever: nothing listens),
   two operators made with ``sdgw operator add``, a login with urllib, and every page timed:
   one warm-up request, then the median and maximum of 5.

It prints seed time and rows per table, disk used, both roll-up times, the table of pages,
the slowest page against the 1 s target, and (outside the target) streaming a day of the
message log as CSV. It exits non-zero when a page did not answer 200.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import random
import re
import resource
import secrets
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from array import array
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.dispatch_bench import CARRIERS, CODES
from gateway.cli.progress import CommandProgress
from gateway.free_ports import free_port

ZONE = ZoneInfo("Asia/Shanghai")
SHARES = {"china_mobile": 0.60, "china_unicom": 0.25, "china_telecom": 0.15}
PREFIXES = {
    "china_mobile": ("135", "136", "137", "138", "139", "150", "151", "152", "157", "158",
                     "159", "182", "183", "184", "187", "188"),
    "china_unicom": ("130", "131", "132", "155", "156", "185", "186"),
    "china_telecom": ("133", "153", "177", "180", "181", "189"),
}
UNKNOWN_NUMBER = "19912345678"
"""A valid China Telecom number on a prefix no seeded subscriber has."""
HOUR_WEIGHTS = (2, 1, 1, 1, 1, 2, 4, 9, 12, 10, 8, 8, 10, 8, 7, 7, 7, 8, 9, 11, 12, 10, 7, 4)
"""MO traffic by newspaper-local hour of day."""
SLOTS = (("morning", clock_time(7)), ("evening", clock_time(18)))
BATCH = 20_000
ADMIN = ("bench_admin", "bench-admin-pass")
VIEWER = ("bench_viewer", "bench-viewer-pass")
REPEATS = 5
TARGET_MS = 1000.0

# Event kinds: (mo_text, old_status, new_status, outcome).
EVENT_KINDS = (
    ("SD", "none", "pending", "confirm_prompt"),
    ("Y", "pending", "active", "welcome"),
    ("TD", "active", "cancelled", "unsubscribed"),
    ("Y", "pending", "none", "confirm_expired"),
    ("SD", "cancelled", "pending", "confirm_prompt"),
)
SD, Y, TD, LAPSE, SD_AGAIN = range(5)

# MO text, outcome, reply, weight.
MO_MIX = (
    ("SD", "confirm_prompt", "【山东手机报】您申请订阅山东手机报（3元/月），24小时内回复Y确认。",
     30),
    ("Y", "welcome", "【山东手机报】订阅成功，每天早晚两期。回复TD退订。", 26),
    ("TD", "unsubscribed", "【山东手机报】您已退订山东手机报，回复SD可重新订阅。", 10),
    ("Y", "already_subscribed", "【山东手机报】您已订阅山东手机报，无需重复确认。", 8),
    ("0000", "subscription_list", "【山东手机报】您已订阅：山东手机报 3元/月。", 6),
    ("?", "help", "【山东手机报】回复SD订阅，Y确认，TD退订，0000查询。", 6),
    ("Y", "nothing_pending", "【山东手机报】您没有待确认的订阅，回复SD订阅。", 5),
    ("Y", "confirm_expired", "【山东手机报】确认已超时，请重新回复SD订阅。", 4),
    ("TD", "pending_cancelled", "【山东手机报】您已取消订阅申请。", 3),
    ("你好", "help", "【山东手机报】回复SD订阅，Y确认，TD退订，0000查询。", 2),
)
MT_MIX = (("delivered", None, 90), ("submitted", None, 2), ("undeliverable", "UNDELIV", 3),
          ("expired", "EXPIRED", 2), ("rejected", "ESME_RINVDSTADR", 1),
          ("failed", "link unavailable", 1), ("unknown", "no delivery receipt in time", 1))
DELIVERY_MIX = (("delivered", None, 920), ("submitted", None, 30),
                ("undeliverable", "UNDELIV", 25), ("expired", "EXPIRED", 15),
                ("rejected", "ESME_RINVDSTADR", 5), ("unknown", "no delivery receipt", 5))
DIGEST = ("【山东手机报】{day}{slot}：全省经济运行稳中有进，重点项目建设加快推进；城乡居民收入持续"
          "增长，民生保障水平不断提高，各地春耕生产有序展开。回复TD退订")


def _cumulative(weights: Sequence[int]) -> list[int]:
    total, out = 0, []
    for weight in weights:
        total += weight
        out.append(total)
    return out


HOUR_CUM = _cumulative(HOUR_WEIGHTS)
MO_CUM = _cumulative([item[3] for item in MO_MIX])
MT_CUM = _cumulative([item[2] for item in MT_MIX])
DELIVERY_CUM = _cumulative([item[2] for item in DELIVERY_MIX])


# -- numbers ----------------------------------------------------------------------------------

class NumberPlan:
    """Subscriber index ↔ number: blocks of numbers per prefix, in number order, each block
    spread over its prefix's range (unique, increasing, not consecutive)."""

    def __init__(self, subscribers: int) -> None:
        per_carrier = {c: int(subscribers * SHARES[c]) for c in CARRIERS}
        per_carrier["china_mobile"] += subscribers - sum(per_carrier.values())
        blocks = []
        for carrier, prefixes in PREFIXES.items():
            share, extra = divmod(per_carrier[carrier], len(prefixes))
            for n, prefix in enumerate(prefixes):
                blocks.append((prefix, carrier, share + (n < extra)))
        blocks.sort()
        self.prefixes = [prefix for prefix, _, _ in blocks]
        self.carriers = [carrier for _, carrier, _ in blocks]
        self.counts = [count for _, _, count in blocks]
        self.firsts = _cumulative([0, *self.counts])[:-1]
        self.spacings = [max(10**8 // max(count, 1), 1) for count in self.counts]

    def block_of(self, index: int) -> int:
        return bisect_right(self.firsts, index) - 1

    def number(self, index: int) -> str:
        block = self.block_of(index)
        j = index - self.firsts[block]
        spacing = self.spacings[block]
        return f"{self.prefixes[block]}{j * spacing + (j * 7919 + 13) % spacing:08d}"

    def carrier(self, index: int) -> str:
        return self.carriers[self.block_of(index)]


# -- where the rows go ------------------------------------------------------------------------

class Sink:
    """Bulk inserts through the raw driver: SQLite (``?``, times as SQLAlchemy's text) or
    PostgreSQL (``%s``, aware datetimes)."""

    def __init__(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        self.sqlite = parsed.get_backend_name() == "sqlite"
        self._days: dict[int, str] = {}
        if self.sqlite:
            import sqlite3

            self.connection: Any = sqlite3.connect(parsed.database, isolation_level=None)
            for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-200000",
                           "foreign_keys=OFF"):
                self.connection.execute(f"PRAGMA {pragma}")
            self.mark = "?"
        else:
            import psycopg

            self.connection = psycopg.connect(
                parsed.set(drivername="postgresql").render_as_string(hide_password=False))
            self.mark = "%s"

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        sql = (f"INSERT INTO {table} ({', '.join(columns)}) "
               f"VALUES ({', '.join([self.mark] * len(columns))})")
        if self.sqlite:
            self.connection.execute("BEGIN")
            self.connection.executemany(sql, rows)
            self.connection.execute("COMMIT")
        else:
            with self.connection.cursor() as cursor:
                cursor.executemany(sql, rows)
            self.connection.commit()

    def at(self, epoch: float | None) -> Any:
        """A stored time: SQLite keeps SQLAlchemy's ``YYYY-MM-DD HH:MM:SS.ffffff`` (UTC)."""
        if epoch is None:
            return None
        if not self.sqlite:
            return datetime.fromtimestamp(epoch, UTC)
        micros = int(epoch * 1_000_000)
        seconds, micro = divmod(micros, 1_000_000)
        day, second = divmod(seconds, 86_400)
        prefix = self._days.get(day)
        if prefix is None:
            prefix = self._days[day] = (date(1970, 1, 1) + timedelta(days=day)).isoformat()
        hours, rest = divmod(second, 3600)
        return f"{prefix} {hours:02d}:{rest // 60:02d}:{rest % 60:02d}.{micro:06d}"

    def day(self, value: date) -> Any:
        return value.isoformat() if self.sqlite else value

    def json(self, value: Any) -> Any:
        if self.sqlite:
            return json.dumps(value, ensure_ascii=False)
        from psycopg.types.json import Json

        return Json(value)

    def finish(self) -> None:
        if self.sqlite:
            self.connection.execute("PRAGMA journal_mode=WAL")
        else:
            self.connection.autocommit = True
            for table in ("subscribers", "inbound_messages", "outbound_messages", "editions",
                          "dispatches", "articles", "edition_renders"):
                self.connection.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))")
            self.connection.execute("ANALYZE")
        self.connection.close()


class Stopwatch:
    """Seconds per seeding step (making the rows included); rows and insert seconds per
    table."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.rows: dict[str, int] = {}
        self.inserting: dict[str, float] = {}

    @contextmanager
    def timing(self, table: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[table] = self.seconds.get(table, 0.0) + time.perf_counter() - started

    def insert(self, sink: Sink, table: str, columns: Sequence[str],
               rows: Sequence[Sequence[Any]]) -> None:
        started = time.perf_counter()
        sink.insert(table, columns, rows)
        self.inserting[table] = self.inserting.get(table, 0.0) + time.perf_counter() - started
        self.rows[table] = self.rows.get(table, 0) + len(rows)


# -- the calendar -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Calendar:
    now: float
    day_starts: tuple[float, ...]
    """UTC epoch of each local day of the window, oldest first (the last is today)."""
    editions: tuple[tuple[date, str, float], ...]
    """(newspaper date, slot, send time) of every edition, oldest first."""

    @classmethod
    def of(cls, now: datetime, days: int) -> Calendar:
        today = now.astimezone(ZONE).date()
        starts = tuple(datetime.combine(today - timedelta(days=back), clock_time(0), ZONE)
                       .timestamp() for back in range(days - 1, -1, -1))
        editions = []
        day = today
        while len(editions) < 2 * days:
            for slot, at in reversed(SLOTS):
                sent = datetime.combine(day, at, ZONE).timestamp()
                if sent <= now.timestamp() - 2 * 3600 and len(editions) < 2 * days:
                    editions.append((day, slot, sent))
            day -= timedelta(days=1)
        return cls(now=now.timestamp(), day_starts=starts, editions=tuple(reversed(editions)))

    @property
    def start(self) -> float:
        return self.day_starts[0]

    def moment(self, rng: random.Random, day: int | None = None) -> float:
        """A time in the window (on ``day`` if given) at an hour weighted like MO traffic,
        never in the future."""
        for _ in range(50):
            chosen = rng.randrange(len(self.day_starts)) if day is None else day
            hour = bisect_right(HOUR_CUM, rng.random() * HOUR_CUM[-1])
            at = self.day_starts[chosen] + (hour + rng.random()) * 3600
            if at < self.now - 60:
                return at
        return self.day_starts[-1] + rng.random() * (self.now - 60 - self.day_starts[-1])


# -- phase 1: seeding -------------------------------------------------------------------------

@dataclass(slots=True)
class Subscribed:
    """What later tables need to know about the subscribers (compactly)."""

    receives: bytearray
    """Per subscriber: 0 = no digest, 1 = SMS, 2 = MMS (active at the latest cut-off)."""
    events: list[array]
    """Per window day: ``ms_since_window_start << 29 | index << 3 | kind``, unsorted."""
    history_index: int | None = None


def seed(url: str, subscribers: int, days: int, messages: int, deliveries: int | None
         ) -> dict[str, Any]:
    from sqlalchemy import text

    from gateway.db.engine import make_engine, upgrade

    assert subscribers < 2**26, "the event keys hold subscriber indexes below 2**26"
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as connection:  # the operators' sessions ask for one at every request
        connection.execute(text("SELECT 1"))
    engine.dispose()
    calendar = Calendar.of(datetime.now(UTC), days)
    plan = NumberPlan(subscribers)
    sink = Sink(url)
    watch = Stopwatch()
    started = time.perf_counter()
    with CommandProgress() as display:  # on stderr, which the parent leaves to the terminal
        steps = display.add("seed steps", total=7, unit="steps")
        with watch.timing("editions (+ articles, renders, dispatches, stats)"):
            latest = seed_editions(sink, watch, calendar, plan)
        steps.advance()
        with watch.timing("subscribers"):
            subscribed = seed_subscribers(sink, watch, calendar, plan, latest["cutoff"])
        steps.advance()
        with watch.timing("subscription_events"):
            seed_events(sink, watch, calendar, plan, subscribed)
        steps.advance()
        with watch.timing("inbound_messages + outbound_messages + outbound_segments"):
            seed_messages(sink, watch, calendar, plan, messages, subscribed.history_index)
        steps.advance()
        with watch.timing("deliveries (latest edition)"):
            seed_deliveries(sink, watch, calendar, plan, subscribed, latest, deliveries)
        steps.advance()
        with watch.timing("audit_log"):
            seed_audit(sink, watch, calendar)
        steps.advance()
        with watch.timing("finishing (WAL / sequences, ANALYZE)"):
            sink.finish()
        steps.advance()
    history = subscribed.history_index if subscribed.history_index is not None else 0
    return {
        "seconds": watch.seconds, "rows": watch.rows, "inserting": watch.inserting,
        "total_s": time.perf_counter() - started,
        "latest_edition": latest["edition_id"], "history_number": plan.number(history),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def seed_editions(sink: Sink, watch: Stopwatch, calendar: Calendar, plan: NumberPlan
                  ) -> dict[str, Any]:
    from gateway.editions.segmentation import segment_text

    editions, articles, links, renders, segments, dispatches, stats = [], [], [], [], [], [], []
    active = {c: sum(n for n, carrier in zip(plan.counts, plan.carriers, strict=True)
                     if carrier == c) * 0.8 for c in CARRIERS}
    rng = random.Random(7)
    article_id = render_id = dispatch_id = 0
    for edition_id, (day, slot, sent) in enumerate(calendar.editions, 1):
        latest = edition_id == len(calendar.editions)
        editions.append((edition_id, sink.day(day), slot, "frozen", None, sink.at(sent - 3600),
                         sink.at(sent - 1800), sink.at(sent)))
        for position in range(1, 6):
            article_id += 1
            title = f"{day.isoformat()} {slot} 要闻 {position}"
            articles.append((
                article_id, title, sink.day(day), "大众报业·大众网", "记者", "编辑",
                sink.json(["要闻", "省内"]), f"https://example.sd/{article_id}.html",
                f"https://example.sd/{article_id}.html", f"{article_id:064x}", sink.json([]),
                sink.json([f"{title}：正文第一段。", "正文第二段。"]), f"bench-{article_id}",
                None, sink.at(sent - 7200), None))
            links.append((edition_id, article_id, position, position))
        digest = DIGEST.format(day=f"{day.month}月{day.day}日", slot="早报"
                               if slot == "morning" else "晚报")
        segmented = segment_text(digest, reference=edition_id % 256)
        for carrier in CARRIERS:
            render_id += 1
            renders.append((render_id, edition_id, carrier, "sms", digest, sink.json({}),
                            sink.at(sent - 1800)))
            segments.extend((render_id, number, part.short_message, segmented.coding.value, True)
                            for number, part in enumerate(segmented.segments, 1))
            dispatch_id += 1
            total = round(active[carrier] * (0.85 + 0.15 * edition_id / len(calendar.editions)))
            dispatches.append((dispatch_id, edition_id, carrier, "done", sink.at(sent),
                               sink.at(sent + 12 * 3600), sink.at(sent), sink.at(sent + 5),
                               sink.at(sent + 2400 + rng.random() * 600), total))
            if not latest:
                failed, expired, other = (round(total * share) for share in (0.03, 0.015, 0.005))
                stats.append((dispatch_id, total, 0, 0, total - failed - expired - other, failed,
                              expired, other, True,
                              sink.at(min(sent + 2 * 86_400, calendar.now - 60))))
    watch.insert(sink, "editions", ("id", "newspaper_date", "slot", "status", "article_order",
                                    "created_at", "built_at", "frozen_at"), editions)
    watch.insert(sink, "articles", (
        "id", "title", "published", "source", "author", "editor", "channel", "url",
        "canonical_url", "content_hash", "images", "paragraphs", "origin", "source_file",
        "ingested_at", "updated_at"), articles)
    watch.insert(sink, "edition_articles", ("edition_id", "article_id", "position", "priority"),
                 links)
    watch.insert(sink, "edition_renders", ("id", "edition_id", "carrier", "format", "sms_text",
                                           "fitting", "rendered_at"), renders)
    watch.insert(sink, "edition_render_segments", ("render_id", "number", "short_message",
                                                   "coding", "udhi"), segments)
    watch.insert(sink, "dispatches", ("id", "edition_id", "carrier", "status", "cutoff_at",
                                      "deadline_at", "created_at", "started_at", "finished_at",
                                      "total"), dispatches)
    watch.insert(sink, "dispatch_stats", ("dispatch_id", "total", "pending", "submitted",
                                          "delivered", "failed", "expired", "other", "final",
                                          "computed_at"), stats)
    last_sent = calendar.editions[-1][2]
    first_dispatch = dispatch_id - len(CARRIERS) + 1
    return {"edition_id": len(calendar.editions), "cutoff": last_sent,
            "dispatches": {c: first_dispatch + n for n, c in enumerate(CARRIERS)}}


SUBSCRIBER_COLUMNS = (
    "id", "msisdn", "carrier", "prefix_carrier", "short_code", "extension", "status",
    "pending_since", "activated_at", "cancelled_at", "consent_inbound_id", "consent_text",
    "consent_at", "last_help_at", "message_format", "undeliverable_streak", "flagged_at",
    "created_at", "updated_at")


def seed_subscribers(sink: Sink, watch: Stopwatch, calendar: Calendar, plan: NumberPlan,
                     cutoff: float) -> Subscribed:
    total = sum(plan.counts)
    subscribed = Subscribed(receives=bytearray(total),
                            events=[array("q") for _ in calendar.day_starts])
    start, now = calendar.start, calendar.now
    day_s = 86_400.0
    rows: list[tuple[Any, ...]] = []
    index = 0
    for block, prefix in enumerate(plan.prefixes):
        carrier, count, spacing = plan.carriers[block], plan.counts[block], plan.spacings[block]
        code = CODES[carrier]
        rng = random.Random(block)
        for j in range(count):
            msisdn = f"{prefix}{j * spacing + (j * 7919 + 13) % spacing:08d}"
            events: list[tuple[float, int]] = []
            pending = activated = cancelled = None
            r = rng.random()
            if r < 0.60:  # subscribed before the window, still active
                created = start - rng.uniform(1, 900) * day_s
                activated = created + rng.uniform(30, 7200)
            elif r < 0.64:  # cancelled long ago, subscribed again in the window
                created = start - rng.uniform(200, 900) * day_s
                cancelled = start - rng.uniform(1, 150) * day_s
                activated = min(calendar.moment(rng), now - 3 * 3600)
                events += [(activated - rng.uniform(30, 7200), SD_AGAIN), (activated, Y)]
            elif r < 0.80:  # new in the window, one in ten after a request that lapsed
                asked = min(calendar.moment(rng), now - 3 * 3600)
                activated = asked + rng.uniform(30, 7200)
                events += [(asked, SD), (activated, Y)]
                created = asked
                first = asked - rng.uniform(3, 20) * day_s
                if r >= 0.784 and first > start:
                    events += [(first, SD), (first + rng.uniform(25, 70) * 3600, LAPSE)]
                    created = first
                    if subscribed.history_index is None and index >= total // 3 \
                            and activated < cutoff:
                        subscribed.history_index = index
            elif r < 0.85:  # asked in the window, never confirmed
                pending = created = calendar.moment(rng)
                events.append((created, SD))
            elif r < 0.95:  # cancelled in the window (two in five had subscribed in it too)
                cancelled = calendar.moment(rng)
                asked = cancelled - rng.uniform(1, 60) * day_s
                if r < 0.89 and asked > start:
                    activated = asked + rng.uniform(30, 7200)
                    created = asked
                    events += [(asked, SD), (activated, Y)]
                else:
                    created = start - rng.uniform(1, 900) * day_s
                    activated = created + rng.uniform(30, 7200)
                events.append((cancelled, TD))
            else:  # cancelled before the window
                created = start - rng.uniform(160, 900) * day_s
                activated = created + rng.uniform(30, 7200)
                cancelled = start - rng.uniform(1, 150) * day_s
            status = ("pending" if pending else "cancelled" if cancelled and
                      (activated is None or cancelled > activated) else "active")
            mms = rng.random() < 0.08
            streak = rng.choice((1, 1, 2, 3)) if status == "active" and rng.random() < 0.02 \
                else 0
            if status == "active" and activated < cutoff:
                subscribed.receives[index] = 2 if mms else 1
            for at, kind in events:
                offset = max(int((at - start) * 1000), 0)
                subscribed.events[min(offset // 86_400_000, len(calendar.day_starts) - 1)] \
                    .append(offset << 29 | index << 3 | kind)
            updated = max(t for t in (created, pending, activated, cancelled) if t)
            rows.append((
                index + 1, msisdn, carrier, None, code, "", status, sink.at(pending),
                sink.at(activated), sink.at(cancelled), None,
                "Y" if activated else None, sink.at(activated), None,
                "mms" if mms else "sms", streak,
                sink.at(updated) if streak == 3 else None, sink.at(created), sink.at(updated)))
            index += 1
            if len(rows) >= BATCH:
                watch.insert(sink, "subscribers", SUBSCRIBER_COLUMNS, rows)
                rows = []
    watch.insert(sink, "subscribers", SUBSCRIBER_COLUMNS, rows)
    return subscribed


def seed_events(sink: Sink, watch: Stopwatch, calendar: Calendar, plan: NumberPlan,
                subscribed: Subscribed) -> None:
    columns = ("subscriber_id", "msisdn", "carrier", "short_code", "extension", "mo_text",
               "carrier_message_id", "inbound_id", "old_status", "new_status", "outcome", "at")
    mask = (1 << 26) - 1
    for day, keys in enumerate(subscribed.events):
        rows = []
        for key in sorted(keys):
            kind, index, offset = key & 7, key >> 3 & mask, key >> 29
            carrier = plan.carrier(index)
            text, old, new, outcome = EVENT_KINDS[kind]
            rows.append((index + 1, plan.number(index), carrier, CODES[carrier], "", text,
                         None, None, old, new, outcome,
                         sink.at(calendar.start + offset / 1000 + (index % 997) / 1e6)))
            if len(rows) >= BATCH:
                watch.insert(sink, "subscription_events", columns, rows)
                rows = []
        watch.insert(sink, "subscription_events", columns, rows)
        subscribed.events[day] = array("q")  # free it as we go


def seed_messages(sink: Sink, watch: Stopwatch, calendar: Calendar, plan: NumberPlan,
                  messages: int, history_index: int | None) -> None:
    mo_columns = ("id", "carrier", "source_addr", "destination_addr", "text",
                  "carrier_message_id", "received_at", "outcome")
    mt_columns = ("id", "carrier", "kind", "source_addr", "destination_addr", "text",
                  "segment_count", "status", "error", "in_reply_to", "created_at",
                  "submitted_at", "done_at")
    segment_columns = ("outbound_id", "seqnum", "carrier", "smsc_message_id", "status", "error",
                       "done_at")
    total = sum(plan.counts)
    days = len(calendar.day_starts)
    history_every = max(messages // 20, 1)
    recent = calendar.now - 2 * 86_400
    rng = random.Random(11)
    ident = 0
    for day in range(days):
        wanted = messages * (day + 1) // days - messages * day // days
        times = sorted(calendar.moment(rng, day) for _ in range(wanted))
        mos, mts, segments = [], [], []
        for at in times:
            ident += 1
            index = history_index if history_index is not None and ident % history_every == 0 \
                else rng.randrange(total)
            carrier, number = plan.carrier(index), plan.number(index)
            code = CODES[carrier]
            source = "86" + number if rng.random() < 0.05 else number
            text, outcome, reply, _ = MO_MIX[bisect_right(MO_CUM, rng.random() * MO_CUM[-1])]
            mos.append((ident, carrier, source, code, text, f"{ident:016x}", sink.at(at),
                        outcome))
            status, error, _ = MT_MIX[bisect_right(MT_CUM, rng.random() * MT_CUM[-1])]
            if status == "submitted" and at < recent:
                status, error = "delivered", None
            created = at + rng.uniform(0.05, 1.5)
            done = None if status == "submitted" else created + rng.uniform(1, 20)
            mts.append((ident, carrier, "reply", code, source, reply, 1, status, error, ident,
                        sink.at(created), sink.at(created + 0.05), sink.at(done)))
            if ident % 20 == 0:
                segments.append((ident, 1, carrier, f"{ident:x}-1", status, error,
                                 sink.at(done)))
            if len(mos) >= BATCH:
                _insert_messages(sink, watch, (mo_columns, mos), (mt_columns, mts),
                                 (segment_columns, segments))
                mos, mts, segments = [], [], []
        _insert_messages(sink, watch, (mo_columns, mos), (mt_columns, mts),
                         (segment_columns, segments))


def _insert_messages(sink: Sink, watch: Stopwatch, *tables: tuple[Sequence[str], list[Any]]
                     ) -> None:
    for name, (columns, rows) in zip(
            ("inbound_messages", "outbound_messages", "outbound_segments"), tables, strict=True):
        watch.insert(sink, name, columns, rows)


def seed_deliveries(sink: Sink, watch: Stopwatch, calendar: Calendar, plan: NumberPlan,
                    subscribed: Subscribed, latest: dict[str, Any], limit: int | None) -> None:
    columns = ("dispatch_id", "edition_id", "subscriber_id", "carrier", "msisdn", "source_addr",
               "message_format", "status", "claimed_by", "claimed_at", "attempts",
               "next_attempt_at", "parts_total", "parts_delivered", "parts_failed", "error",
               "submitted_at", "done_at")
    cutoff = latest["cutoff"]
    rng = random.Random(13)
    totals = dict.fromkeys(CARRIERS, 0)
    rows: list[tuple[Any, ...]] = []
    made = 0
    for index, receives in enumerate(subscribed.receives):
        if not receives:
            continue
        if limit is not None and made >= limit:
            break
        carrier = plan.carrier(index)
        status, error, _ = DELIVERY_MIX[bisect_right(DELIVERY_CUM,
                                                     rng.random() * DELIVERY_CUM[-1])]
        parts = 2 if receives == 1 else 1
        submitted = cutoff + 5 + rng.random() * 2400
        done = None if status == "submitted" else submitted + rng.uniform(2, 600)
        rows.append((
            latest["dispatches"][carrier], latest["edition_id"], index + 1, carrier,
            plan.number(index), CODES[carrier], "sms" if receives == 1 else "mms", status,
            "bench", submitted, 1, 0.0, parts, parts if status == "delivered" else 0,
            parts if error else 0, error, sink.at(submitted), sink.at(done)))
        totals[carrier] += 1
        made += 1
        if len(rows) >= BATCH:
            watch.insert(sink, "deliveries", columns, rows)
            rows = []
    watch.insert(sink, "deliveries", columns, rows)
    for carrier, dispatch_id in latest["dispatches"].items():
        _set_total(sink, dispatch_id, totals[carrier])


def _set_total(sink: Sink, dispatch_id: int, total: int) -> None:
    sql = f"UPDATE dispatches SET total = {sink.mark} WHERE id = {sink.mark}"
    sink.connection.execute(sql, (total, dispatch_id))
    if not sink.sqlite:
        sink.connection.commit()


def seed_audit(sink: Sink, watch: Stopwatch, calendar: Calendar) -> None:
    rng = random.Random(17)
    rows = []
    for n in range(300):
        at = calendar.moment(rng)
        action = ("login", "logout", "pause", "resume", "unsubscribe")[n % 5]
        target = {"pause": f"dispatch {n}", "resume": f"dispatch {n}",
                  "unsubscribe": f"subscriber 138{n:08d}"}.get(action, "")
        rows.append((sink.at(at), ("chief", "night_desk")[n % 2], action, target,
                     "hotline call" if action == "unsubscribe" else "", "10.0.0.7"))
    rows.sort(key=lambda row: row[0])
    watch.insert(sink, "audit_log", ("at", "operator", "action", "target", "reason", "ip"),
                 rows)


# -- phase 2: the roll-up ---------------------------------------------------------------------

def rollup(config_path: Path) -> dict[str, Any]:
    from gateway.config import load_config
    from gateway.console.rollup import refresh
    from gateway.console.service import rollup_settings
    from gateway.db.engine import make_engine, make_session_factory

    config = load_config(config_path)
    engine = make_engine(config.database_url)
    sessions = make_session_factory(engine)
    settings = rollup_settings(config)
    figures: dict[str, Any] = {}
    for run in ("first", "incremental"):
        started = time.perf_counter()
        with sessions.begin() as session:
            counted = refresh(session, datetime.now(UTC), settings)
        figures[run] = {"seconds": time.perf_counter() - started, "days": len(counted.days),
                        "dispatches": len(counted.dispatches)}
    engine.dispose()
    return figures


# -- phase 3: the console over HTTP -----------------------------------------------------------

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    headers: Any
    ms: float


class ConsoleClient:
    """urllib with one cookie jar of our own (cookies by name; one host, paths ignored)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies: dict[str, str] = {}
        self._opener = urllib.request.build_opener(_NoRedirect())

    def request(self, path: str, form: dict[str, str] | None = None,
                timeout: float = 120) -> Answer:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        headers = {"cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        request = urllib.request.Request(self.base + path, data=data, headers=headers)
        started = time.perf_counter()
        try:
            with self._opener.open(request, timeout=timeout) as response:
                body, status, got = response.read(), response.status, response.headers
        except urllib.error.HTTPError as error:
            body, status, got = error.read(), error.code, error.headers
        ms = (time.perf_counter() - started) * 1000
        for header in got.get_all("set-cookie") or ():
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return Answer(status=status, body=body, headers=got, ms=ms)

    def log_in(self, name: str, password: str) -> None:
        form = self.request("/login")
        found = re.search(rb'name="csrf" value="([^"]+)"', form.body)
        if form.status != 200 or found is None or "sdgw_login" not in self.cookies:
            raise SystemExit(f"GET /login: {form.status}, no login form or cookie")
        answer = self.request("/login", {"csrf": html.unescape(found.group(1).decode()),
                                         "next": "/", "name": name, "password": password})
        if answer.status != 303 or "sdgw_session" not in self.cookies:
            raise SystemExit(f"POST /login as {name}: {answer.status} {answer.body[:200]!r}")


def write_config(folder: Path, url: str, console_port: int) -> Path:
    carriers = "".join(f"""
[carriers.{carrier}]
short_code = "{CODES[carrier]}"
[carriers.{carrier}.link]
port = {free_port()}
system_id = "bench"
password = "bench"
reconnect_max_delay = 30
""" for carrier in CARRIERS)
    content_port = free_port()
    path = folder / "console_bench.toml"
    path.write_text(f"""
[database]
url = "{url}"
[logging]
level = "warning"
[newspaper]
name = "山东手机报"
price = "3元/月"
signature = "山东手机报"
timezone = "{ZONE.key}"
[dispatch]
schedule = false
[metrics]
enabled = false
[console]
host = "127.0.0.1"
port = {console_port}
[content]
host = "127.0.0.1"
port = {content_port}
base_url = "http://127.0.0.1:{content_port}"
{carriers}""", encoding="utf-8")
    return path


def _sdgw(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "gateway", "--config", str(config), *args]


def _local(moment: datetime) -> str:
    return moment.astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")


def measure_pages(base: str, seeded: dict[str, Any]
                  ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    admin = ConsoleClient(base)
    admin.log_in(*ADMIN)
    viewer = ConsoleClient(base)
    viewer.log_in(*VIEWER)
    now = datetime.now(UTC)
    first = admin.request("/messages")
    older = re.search(rb'<a href="([^"]+)"[^>]*id="older"', first.body)
    next_page = html.unescape(older.group(1).decode()) if older else "/messages?after=missing"
    quoted = urllib.parse.quote
    pages = [
        "/", "/?days=90", "/editions", f"/editions/{seeded['latest_edition']}",
        f"/editions/{seeded['latest_edition']}/deliveries?carrier=china_mobile",
        f"/editions/{seeded['latest_edition']}/deliveries?carrier=china_mobile&status=failed",
        f"/subscribers?number={seeded['history_number']}",
        f"/subscribers?number={UNKNOWN_NUMBER}",
        "/messages", "/messages?carrier=china_unicom&direction=mt&status=delivered",
        f"/messages?since={quoted(_local(now - timedelta(days=30)))}"
        f"&until={quoted(_local(now - timedelta(days=29)))}",
        next_page, "/audit", "/api/carriers", "/api/daily?days=90", "/api/editions",
        "/export/daily.csv?days=90", "/export/editions.csv", "/health",
    ]
    results = []
    with CommandProgress() as display:
        timed = display.add("pages timed", total=len(pages), unit="pages")
        for path in pages:
            admin.request(path)  # warm-up
            answers = [admin.request(path) for _ in range(REPEATS)]
            times = [a.ms for a in answers]
            results.append({"page": path, "median_ms": statistics.median(times),
                            "max_ms": max(times), "bytes": len(answers[-1].body),
                            "status": answers[-1].status,
                            "ok": all(a.status == 200 for a in answers)})
            timed.advance()
    export_path = f"/export/messages.csv?since={quoted(_local(now - timedelta(days=1)))}"
    export = admin.request(export_path, timeout=600)
    seen = viewer.request("/")
    extra = {"export": {"page": export_path, "ms": export.ms, "bytes": len(export.body),
                        "rows": max(export.body.count(b"\n") - 1, 0), "status": export.status},
             "viewer": {"status": seen.status, "ms": seen.ms}}
    return results, extra


def wait_for_health(base: str, process: subprocess.Popen[bytes], timeout: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise SystemExit(f"the gateway exited ({process.returncode}) before answering")
        try:
            with urllib.request.urlopen(base + "/health", timeout=5) as answer:
                if answer.status == 200:
                    return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the console did not answer /health within {timeout:.0f}s")


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# -- the databases ----------------------------------------------------------------------------

@dataclass(slots=True)
class BenchDatabase:
    url: str
    files: tuple[Path, ...] = ()
    server: str | None = None
    name: str | None = None

    def size_bytes(self) -> int:
        if self.server is None:
            return sum(path.stat().st_size for path in self.files if path.exists())
        import psycopg

        with psycopg.connect(self._conninfo(self.url)) as connection:
            return int(connection.execute("SELECT pg_database_size(current_database())")
                       .fetchone()[0])

    def drop(self) -> None:
        if self.server is None:
            for path in self.files:
                path.unlink(missing_ok=True)
            return
        import psycopg

        with psycopg.connect(self._conninfo(self.server), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    @staticmethod
    def _conninfo(url: str) -> str:
        from sqlalchemy.engine import make_url

        return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def bench_database(given: str | None, folder: Path) -> BenchDatabase:
    from sqlalchemy.engine import make_url

    if given is None:
        path = (folder / "console_bench.db").resolve()
        files = tuple(Path(f"{path}{suffix}") for suffix in ("", "-wal", "-shm", "-journal"))
        for old in files:
            old.unlink(missing_ok=True)
        return BenchDatabase(url=f"sqlite:///{path}", files=files)
    parsed = make_url(given)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "").resolve()
        if path.exists():
            raise SystemExit(f"{path} exists: give a new file (the bench fills it from empty)")
        return BenchDatabase(url=f"sqlite:///{path}", files=tuple(
            Path(f"{path}{suffix}") for suffix in ("", "-wal", "-shm", "-journal")))
    import psycopg

    name = f"sdgw_bench_{secrets.token_hex(4)}"
    with psycopg.connect(BenchDatabase._conninfo(given), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = parsed.set(database=name).render_as_string(hide_password=False)
    return BenchDatabase(url=url, server=given, name=name)


# -- the run ----------------------------------------------------------------------------------

def _child(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.console_bench", *args]


def _phase(env: dict[str, str], phase: str, **extra: Any) -> dict[str, Any]:
    """Run a phase in a child; its stderr (progress, and the reason if it fails) is ours."""
    done = subprocess.run(_child("--phase", phase, "--args", json.dumps(extra)), check=False,
                          stdout=subprocess.PIPE, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"phase {phase} failed (exit {done.returncode}; its stderr is above)")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=5_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--messages", type=int, default=2_000_000,
                        help="MOs, and as many replies, over the window (default 2,000,000)")
    parser.add_argument("--deliveries", type=int, default=None,
                        help="cap on the latest edition's deliveries (default: one per "
                             "subscriber active at its cut-off, ~80%% of --subscribers)")
    parser.add_argument("--database", help="a PostgreSQL server URL (a database of its own "
                        "is created on it and dropped), or a new SQLite file URL; default "
                        "var/bench/console_bench.db")
    parser.add_argument("--keep", action="store_true",
                        help="keep the database, config and gateway log")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--args", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        extra = json.loads(args.args)
        if args.phase == "seed":
            print(json.dumps(seed(extra["url"], extra["subscribers"], extra["days"],
                                  extra["messages"], extra["deliveries"])))
        elif args.phase == "rollup":
            print(json.dumps(rollup(Path(extra["config"]))))
        return

    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    folder = Path("var/bench")
    made_folder = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    database = bench_database(args.database, folder)
    config = log_path = None
    failed = False
    try:
        shown = database.url if database.server is None else f"{database.name} on the server"
        print(f"seeding {args.subscribers:,} subscribers, {args.days} days, {args.messages:,} "
              f"MOs + replies into {shown} …", flush=True)
        seeded = _phase(env, "seed", url=database.url, subscribers=args.subscribers,
                        days=args.days, messages=args.messages, deliveries=args.deliveries)
        print_seed(seeded, database.size_bytes())
        console_port = free_port()
        config = write_config(folder, database.url, console_port)
        print("roll-up …", flush=True)
        rolled = _phase(env, "rollup", config=str(config))
        for run, what in (("first", "first, whole window"),
                          ("incremental", "incremental, as every 30 s")):
            figures = rolled[run]
            print(f"roll-up ({what}){'':<{31 - len(what)}}{figures['seconds']:>9.2f} s   "
                  f"({figures['days']} day(s), {figures['dispatches']} open dispatch(es))")
        for name, role_password in ((ADMIN[0], ("admin", ADMIN[1])),
                                    (VIEWER[0], ("viewer", VIEWER[1]))):
            role, password = role_password
            subprocess.run(_sdgw(config, "operator", "add", name, "--role", role),
                           input=password + "\n", text=True, check=True, env=env,
                           capture_output=True)
        log_path = folder / "console_bench.log"
        base = f"http://127.0.0.1:{console_port}"
        with log_path.open("wb") as log:
            gateway = subprocess.Popen(_sdgw(config, "run", "--no-simulators"), env=env,
                                       stdout=log, stderr=subprocess.STDOUT)
        try:
            up = wait_for_health(base, gateway, timeout=300)
            print(f"console up after {up:.1f} s; timing pages ({REPEATS} requests each after "
                  "one warm-up) …", flush=True)
            timing = time.perf_counter()
            results, extra = measure_pages(base, seeded)
            print(f"timed in {time.perf_counter() - timing:.1f} s (the gateway refreshes "
                  "its figures every 30 s meanwhile)", flush=True)
            rss = peak_rss_mb(gateway.pid)
        finally:
            gateway.send_signal(signal.SIGTERM)
            try:
                gateway.wait(timeout=120)
            except subprocess.TimeoutExpired:
                gateway.kill()
                gateway.wait(timeout=30)
        failed = print_pages(results, extra, rss)
    finally:
        if args.keep:
            print(f"kept: {database.url}" + (f", {config}, {log_path}" if config else ""))
        else:
            database.drop()
            for path in (config, log_path):
                if path is not None:
                    path.unlink(missing_ok=True)
            if made_folder and not any(folder.iterdir()):
                folder.rmdir()
    if failed:
        raise SystemExit(1)


def print_seed(seeded: dict[str, Any], size: int) -> None:
    print()
    print(f"{'seeding, by step':<60} {'seconds':>9}")
    for step, seconds in seeded["seconds"].items():
        print(f"  {step:<58} {seconds:>9.1f}")
    print(f"  {'total':<58} {seeded['total_s']:>9.1f}   (peak RSS "
          f"{seeded['peak_rss_mb']:.0f} MB)")
    print(f"{'table':<44} {'rows':>14} {'inserting s':>13}")
    for table, count in seeded["rows"].items():
        print(f"  {table:<42} {count:>14,} {seeded['inserting'][table]:>13.1f}")
    print(f"disk used: {size / 2**30:.2f} GiB")
    print()


def print_pages(results: list[dict[str, Any]], extra: dict[str, Any], rss: float | None
                ) -> bool:
    print()
    width = max(len(r["page"]) for r in results)
    print(f"{'page':<{width}}  {'median ms':>10}  {'max ms':>9}  {'bytes':>9}  status")
    for r in results:
        print(f"{r['page']:<{width}}  {r['median_ms']:>10.1f}  {r['max_ms']:>9.1f}  "
              f"{r['bytes']:>9,}  {r['status']}")
    export = extra["export"]
    print()
    print(f"not in the target: {export['page']} → {export['status']}, {export['rows']:,} rows, "
          f"{export['bytes'] / 2**20:.1f} MiB in {export['ms'] / 1000:.2f} s")
    print(f"viewer login: / → {extra['viewer']['status']} in {extra['viewer']['ms']:.0f} ms")
    if rss is not None:
        print(f"gateway peak RSS: {rss:.0f} MB")
    slowest = max(results, key=lambda r: r["max_ms"])
    met = slowest["max_ms"] < TARGET_MS
    print(f"slowest: {slowest['page']}")
    print(f"slowest page: {slowest['max_ms']:.0f} ms — target < {TARGET_MS:.0f} ms: "
          f"{'met' if met else 'NOT met'}")
    bad = [r["page"] for r in results if not r["ok"]]
    if bad or export["status"] != 200 or extra["viewer"]["status"] != 200:
        print(f"FAILED pages: {', '.join(bad) or '-'}")
        return True
    return False


if __name__ == "__main__":
    main()
