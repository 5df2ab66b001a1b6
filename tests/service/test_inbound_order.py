"""MOs in flight together: each number's MOs are applied in the order they came, even when
batches overlap in the database (several threads on PostgreSQL) and a number comes written
in different ways."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest_twisted
from sqlalchemy import Engine, select
from twisted.internet import defer, reactor, task

from carriers.messages import InboundMessage, OutboundMessage, SubmitOutcome, SubmitResult
from gateway.db.engine import make_session_factory
from gateway.db.models import Subscriber, SubscriptionEvent
from gateway.db.threads import DatabaseThreads
from gateway.inbound import InboundProcessor
from tests.service.test_subscription_engine import CODES, SETTINGS, render

DIALOG = ("SD", "Y", "TD", "SD", "Y", "TD", "SD")
"""Each number's MOs, in order: it ends pending, having been active and cancelled twice."""
EXPECTED = [("none", "pending"), ("pending", "active"), ("active", "cancelled"),
            ("cancelled", "pending"), ("pending", "active"), ("active", "cancelled"),
            ("cancelled", "pending")]


class _AcceptingLink:
    def __init__(self) -> None:
        self.ids = itertools.count(1)

    def submit(self, message: OutboundMessage) -> defer.Deferred[list[SubmitResult]]:
        return defer.succeed([SubmitResult(outcome=SubmitOutcome.ACCEPTED,
                                           message_id=str(next(self.ids)))
                              for _ in message.parts])

    def when_bound(self) -> defer.Deferred[None]:
        return defer.succeed(None)


@pytest_twisted.ensureDeferred
async def test_each_numbers_mos_apply_in_order_while_batches_overlap(engine: Engine) -> None:
    threads = 1 if engine.dialect.name == "sqlite" else 4
    database = DatabaseThreads(make_session_factory(engine), reactor=reactor, threads=threads)
    database.startService()
    try:
        processor = InboundProcessor(
            database=database, links={"china_mobile": _AcceptingLink()}, settings=SETTINGS,
            render=render, clock=reactor, receipts=lambda _r: defer.succeed(None))
        numbers = [f"1380000{n:04d}" for n in range(24)]
        ids = itertools.count(1)
        handled = []
        for step, text in enumerate(DIALOG):
            for index, number in enumerate(numbers):
                # Half the numbers come as +86…, every other step: one key all the same.
                source = f"+86{number}" if (index + step) % 2 else number
                handled.append(processor(InboundMessage(
                    carrier="china_mobile", source=source, destination=CODES["china_mobile"],
                    text=text, received_at=datetime.now(UTC),
                    carrier_message_id=f"m{next(ids)}")))
                if index % 5 == 0:
                    await task.deferLater(reactor, 0, lambda: None)  # a few per reactor turn
        results = await defer.gatherResults(handled)
    finally:
        database.stopService()
    assert len(results) == len(numbers) * len(DIALOG)
    with make_session_factory(engine)() as session:
        events = session.execute(select(SubscriptionEvent.msisdn, SubscriptionEvent.old_status,
                                        SubscriptionEvent.new_status)
                                 .order_by(SubscriptionEvent.id)).all()
        statuses = dict(session.execute(select(Subscriber.msisdn, Subscriber.status)).all())
    for number in numbers:
        assert [(old, new) for msisdn, old, new in events if msisdn == number] == EXPECTED
        assert statuses[number] == "pending"
