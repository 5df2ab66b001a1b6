"""Seeding editions and subscribers, and a scriptable fake link, for dispatch tests."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import insert
from sqlalchemy.orm import Session
from twisted.internet import defer, task

from carriers.messages import OutboundMessage, SubmitOutcome, SubmitResult
from gateway.db.edition_models import Edition, EditionRender, EditionRenderSegment
from gateway.db.models import Subscriber
from gateway.db.threads import DatabaseThreads

T = TypeVar("T")

T0 = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai: outside quiet hours


def seed_edition(session: Session, *, carriers: tuple[str, ...] = ("china_mobile",),
                 segments: int = 2, status: str = "built") -> int:
    edition = Edition(newspaper_date=date(2020, 11, 18), slot="morning", status=status,
                      article_order=None, created_at=T0, built_at=T0)
    session.add(edition)
    session.flush()
    for carrier in carriers:
        render = EditionRender(edition_id=edition.id, carrier=carrier, format="sms",
                               sms_text="digest", fitting={}, rendered_at=T0)
        session.add(render)
        session.flush()
        for number in range(1, segments + 1):
            udh = bytes([5, 0, 3, 7, segments, number]) if segments > 1 else b""
            session.add(EditionRenderSegment(
                render_id=render.id, number=number,
                short_message=udh + f"part{number}".encode("utf-16-be"),
                coding="ucs2", udhi=segments > 1))
    return edition.id


MMS_BASE_URL = "http://mms.example.cn:8081"


def seed_mms_render(session: Session, edition_id: int, *, carrier: str = "china_mobile",
                    pages: int = 2) -> bytes:
    """An MMS render of ``edition_id`` for ``carrier``: its m-retrieve-conf and the specimen
    WAP Push, as ``sdgw edition build`` stores them. Returns the m-retrieve-conf."""
    from gateway.editions.mms import MmsHeaders, MmsPage, encode_retrieve_conf
    from gateway.editions.rendering import push_reference
    from gateway.editions.subscriber_notice import EditionAnnouncement

    pdu = encode_retrieve_conf(
        MmsHeaders(transaction_id=f"sdgw-{edition_id}-{carrier}", date=T0, subject="11月18日早报",
                   from_="10658000/TYPE=PLMN"),
        [MmsPage(text=f"第{n}页" * 20) for n in range(1, pages + 1)])
    announcement = EditionAnnouncement.from_retrieve_conf(
        pdu, push_reference=push_reference(edition_id))
    specimen = announcement.specimen(base_url=MMS_BASE_URL, expires_at=T0 + timedelta(days=3))
    render = EditionRender(edition_id=edition_id, carrier=carrier, format="mms", mms_pdu=pdu,
                           mms_size=len(pdu), mms_pages=[], fitting={}, rendered_at=T0,
                           content_location=f"{MMS_BASE_URL}/mms/{'0' * 24}")
    session.add(render)
    session.flush()
    for number, segment in enumerate(specimen, start=1):
        session.add(EditionRenderSegment(render_id=render.id, number=number,
                                         short_message=segment, coding="binary", udhi=True))
    return pdu


def seed_subscribers(session: Session, count: int, *, carrier: str = "china_mobile",
                     status: str = "active", start: int = 0,
                     activated_at: datetime | None = None,
                     message_format: str = "sms") -> list[str]:
    numbers = [f"138{n:08d}" for n in range(start, start + count)]
    when = activated_at or T0 - timedelta(days=1)
    session.execute(insert(Subscriber), [{
        "msisdn": number, "carrier": carrier, "prefix_carrier": None,
        "short_code": "10658000", "extension": "", "status": status,
        "activated_at": when if status in ("active", "cancelled") else None,
        "cancelled_at": when if status == "cancelled" else None,
        "pending_since": when if status == "pending" else None,
        "message_format": message_format, "undeliverable_streak": 0, "created_at": when,
        "updated_at": when,
    } for number in numbers])
    return numbers


Behaviour = Callable[[OutboundMessage, int], list[SubmitResult] | None]
"""(message, attempt number for this destination) → results, or None for all accepted."""


class FakeLink:
    """Accepts every part with a fresh message id unless ``behaviour`` says otherwise."""

    def __init__(self, behaviour: Behaviour | None = None, delay: float = 0.0) -> None:
        self.delay = delay
        self.sent: list[OutboundMessage] = []
        self.attempts: Counter[str] = Counter()
        self.behaviour = behaviour
        self._ids = itertools.count(1)

    def submit(self, message: OutboundMessage) -> defer.Deferred[list[SubmitResult]]:
        self.attempts[message.destination] += 1
        scripted = self.behaviour(message, self.attempts[message.destination]) \
            if self.behaviour else None
        if scripted is None:
            self.sent.append(message)
            scripted = [SubmitResult(outcome=SubmitOutcome.ACCEPTED,
                                     message_id=f"m{next(self._ids)}") for _ in message.parts]
        elif any(r.outcome is SubmitOutcome.ACCEPTED for r in scripted) or any(
                r.outcome is SubmitOutcome.UNANSWERED for r in scripted):
            self.sent.append(message)
        if self.delay:
            from twisted.internet import reactor, task

            return task.deferLater(reactor, self.delay, lambda: scripted)
        return defer.succeed(scripted)

    def copies(self) -> Counter[str]:
        return Counter(m.destination for m in self.sent)


class SettlingDatabase:
    """The gateway's database threads, remembering the work in flight: a test on a fake
    clock waits for the database (an event) instead of for time passing."""

    def __init__(self, database: DatabaseThreads) -> None:
        self._database = database
        self.sessions = database.sessions
        self._in_flight: set[defer.Deferred[Any]] = set()

    def _track(self, work: defer.Deferred[T]) -> defer.Deferred[T]:
        self._in_flight.add(work)

        def done(result: object) -> object:
            self._in_flight.discard(work)
            return result

        return work.addBoth(done)

    def run(self, work: Callable[..., T], *args: Any) -> defer.Deferred[T]:
        return self._track(self._database.run(work, *args))

    def transaction(self, work: Callable[[Session], T], *, urgent: bool = False
                    ) -> defer.Deferred[T]:
        return self._track(self._database.transaction(work))

    async def settle(self) -> None:
        """Until no database work is in flight (and what it set off has run)."""
        from twisted.internet import reactor

        while True:
            while self._in_flight:
                await defer.DeferredList(list(self._in_flight))
            await task.deferLater(reactor, 0, lambda: None)  # one turn, not a delay
            if not self._in_flight:
                return


async def run_on_clock(clock: task.Clock, database: SettlingDatabase,
                       until: Callable[[], bool], *, step: float = 0.01,
                       limit: int = 100_000) -> None:
    """Advance ``clock`` by ``step`` whenever the database is idle, until ``until()``."""
    for _ in range(limit):
        await database.settle()
        if until():
            return
        clock.advance(step)
    raise AssertionError(f"not reached after {limit * step:.0f} s on the clock")
