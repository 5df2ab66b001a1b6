"""The Prometheus collectors, the link board and the figures' refresher, on injected clocks:
what a scrape shows, parsed with prometheus_client's own parser."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry
from twisted.internet import defer, task

from carriers.link.status import LinkStatus
from gateway.db.threads import TransactionTimings
from gateway.operations.collectors import (
    DatabaseCollector,
    DispatchCollector,
    InboundCollector,
    LinkCollector,
    SchedulerCollector,
)
from gateway.operations.database_figures import DatabaseFigures, DispatchProgress
from gateway.operations.inbound_figures import InboundFigures, keyword_outcome
from gateway.operations.link_board import LinkBoard, RateMeter
from gateway.operations.refresher import FiguresRefresher


@dataclass
class FakeLink:
    status: LinkStatus
    peer: str = "127.0.0.1:2775"
    in_flight: int = 3
    window: int = 16
    queued: int = 7
    unacknowledged: int = 2


@dataclass
class FakeWriter:
    timings: TransactionTimings = field(default_factory=TransactionTimings)
    waiting: int = 5


class FakeReader:
    """A pool whose transactions the test answers by hand."""

    def __init__(self) -> None:
        self.calls: list[defer.Deferred[Any]] = []

    def transaction(self, work: Any) -> defer.Deferred[Any]:
        self.calls.append(defer.Deferred())
        return self.calls[-1]


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def _board(clock: task.Clock) -> tuple[LinkBoard, LinkStatus]:
    status = LinkStatus(carrier="china_mobile", protocol="smpp", peer="127.0.0.1:2775")
    status.on_started(clock.seconds())
    return LinkBoard(links={"china_mobile": FakeLink(status)},  # type: ignore[dict-item]
                     tps_caps={"china_mobile": 100.0}), status


def test_link_figures_change_as_the_link_does() -> None:
    clock = task.Clock()
    clock.advance(1000.0)
    board, status = _board(clock)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LinkCollector(board, clock.seconds))
    first = _samples(registry)
    mobile = (("carrier", "china_mobile"),)
    connecting = ("sdgw_link_state", (("carrier", "china_mobile"), ("protocol", "smpp"),
                                      ("state", "connecting")))
    bound = ("sdgw_link_state", (("carrier", "china_mobile"), ("protocol", "smpp"),
                                 ("state", "bound")))
    throttled = ("sdgw_link_state", (("carrier", "china_mobile"), ("protocol", "smpp"),
                                     ("state", "throttled")))
    assert first[connecting] == 1.0 and first[bound] == 0.0
    assert first[("sdgw_link_state_change_timestamp_seconds", mobile)] == 1000.0
    assert first[("sdgw_link_in_flight", mobile)] == 3.0
    assert first[("sdgw_link_window", mobile)] == 16.0
    assert first[("sdgw_link_inbound_unacknowledged", mobile)] == 2.0

    clock.advance(5.0)
    status.on_bound(clock.seconds())
    status.on_accepted(0.003)
    status.on_accepted(0.02)
    status.on_refused("permanent", 0.002)
    status.on_throttled(2.0, clock.seconds())
    status.on_mo()
    status.on_receipt("delivered")
    status.on_disconnected(clock.seconds())
    status.on_bound(clock.seconds())
    status.on_throttled(2.0, clock.seconds())
    clock.advance(0.5)
    after = _samples(registry)
    assert after[throttled] == 1.0 and after[connecting] == 0.0
    assert after[("sdgw_link_state_change_timestamp_seconds", mobile)] == 1005.0
    assert after[("sdgw_link_reconnects_total", mobile)] == 1.0
    assert after[("sdgw_link_throttling_episodes_total", mobile)] == 2.0
    assert after[("sdgw_link_throttle_pause_seconds", mobile)] == 1.5
    assert after[("sdgw_link_submits_total", (*mobile, ("outcome", "accepted")))] == 2.0
    assert after[("sdgw_link_submits_total", (*mobile, ("outcome", "permanent")))] == 1.0
    assert after[("sdgw_link_response_latency_seconds_count", mobile)] == 3.0
    assert after[("sdgw_link_response_latency_seconds_bucket", (*mobile, ("le", "0.0025")))] \
        == 1.0
    assert after[("sdgw_link_response_latency_seconds_bucket", (*mobile, ("le", "0.005")))] \
        == 2.0
    assert after[("sdgw_link_inbound_total", (*mobile, ("kind", "mo")))] == 1.0
    assert after[("sdgw_link_inbound_total", (*mobile, ("kind", "receipt")))] == 1.0
    assert after[("sdgw_receipts_total", (*mobile, ("state", "delivered")))] == 1.0


def test_the_rate_is_accepted_submits_per_second_between_samples() -> None:
    meter = RateMeter(window=60.0)
    meter.sample("c", 0.0, 0)
    assert meter.rate("c") is None  # one sample is no rate
    meter.sample("c", 10.0, 500)
    assert meter.rate("c") == 50.0
    meter.sample("c", 70.0, 800)  # the first sample is now older than the window
    assert meter.rate("c") == 300 / 60.0


def test_the_board_shows_what_the_links_page_lists() -> None:
    clock = task.Clock()
    clock.advance(86400 * 3 + 100)
    board, status = _board(clock)
    status.on_bound(clock.seconds())
    status.on_disconnected(clock.seconds() + 1)
    status.on_bound(clock.seconds() + 2)
    status.on_error("connect failed: Connection refused", clock.seconds() + 1)
    row = board.rows(clock.seconds() + 3)[0]
    assert (row.carrier, row.protocol, row.peer, row.state) == (
        "china_mobile", "smpp", "127.0.0.1:2775", "bound")
    assert (row.in_flight, row.window, row.tps_cap) == (3, 16, 100.0)
    assert row.last_error == "connect failed: Connection refused"
    assert row.reconnects_today == 1
    assert row.simulator is None


def test_mos_are_counted_by_keyword_outcome_and_replies_by_outcome() -> None:
    figures = InboundFigures()
    for outcome in ("confirm_prompt", "welcome", "unsubscribed", "subscription_list", "help",
                    "help_suppressed", "invalid_number", "duplicate"):
        figures.mo_handled("china_mobile", outcome)
    figures.reply_sent("china_mobile", "accepted")
    figures.reply_sent("china_mobile", "transient")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(InboundCollector(figures, ("china_mobile", "china_unicom")))
    samples = _samples(registry)

    def mo(outcome: str, carrier: str = "china_mobile") -> float:
        return samples[("sdgw_mo_total", (("carrier", carrier), ("outcome", outcome)))]

    assert [mo(k) for k in ("subscribe", "confirm", "unsubscribe", "query", "help",
                            "invalid", "duplicate")] == [1, 1, 1, 1, 2, 1, 1]
    assert mo("subscribe", "china_unicom") == 0
    assert samples[("sdgw_replies_sent_total", (("carrier", "china_mobile"),
                                                ("outcome", "accepted")))] == 1
    assert keyword_outcome("something new") == "invalid"


def test_database_and_dispatch_figures_come_from_what_the_refresher_read() -> None:
    clock = task.Clock()
    clock.advance(500.0)
    reader = FakeReader()
    refresher = FiguresRefresher(reader=reader, interval=10.0, clock=clock)  # type: ignore[arg-type]
    writer = FakeWriter()
    writer.timings.observe(0.004)
    writer.timings.observe(0.3)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(writer, refresher))  # type: ignore[arg-type]
    registry.register(DispatchCollector(refresher))
    registry.register(SchedulerCollector(lambda: {
        "morning": datetime(2026, 12, 3, 23, 0, tzinfo=UTC)}))
    samples = _samples(registry)
    assert samples[("sdgw_db_transaction_seconds_count", ())] == 2
    assert samples[("sdgw_db_transaction_seconds_bucket", (("le", "0.005"),))] == 1
    assert samples[("sdgw_db_writer_queue", ())] == 5
    assert not any(name == "sdgw_dispatch_deliveries" for name, _ in samples)
    assert samples[("sdgw_scheduler_next_run_timestamp_seconds", (("slot", "morning"),))] \
        == datetime(2026, 12, 3, 23, 0, tzinfo=UTC).timestamp()

    refresher.startService()
    reader.calls[0].callback(DatabaseFigures(read_at=500.0, schema_revision="x", dispatches=(
        DispatchProgress(dispatch_id=1, edition_id=4, edition="2020-11-18/morning",
                         carrier="china_mobile", status="running",
                         counts={"pending": 3, "submitted": 2, "delivered": 5, "failed": 1,
                                 "other": 0}, uncertain=1),)))
    samples = _samples(registry)
    labels = (("carrier", "china_mobile"), ("edition", "2020-11-18/morning"))
    assert samples[("sdgw_dispatch_deliveries", (*labels, ("outcome", "delivered")))] == 5
    assert samples[("sdgw_dispatch_deliveries", (*labels, ("outcome", "pending")))] == 3
    assert samples[("sdgw_dispatch_uncertain_deliveries", labels)] == 1
    assert samples[("sdgw_figures_read_timestamp_seconds", ())] == 500.0
    refresher.stopService()


def test_the_refresher_reads_once_at_a_time_and_stops_with_its_service() -> None:
    clock = task.Clock()
    reader = FakeReader()
    ticks: list[float] = []
    refresher = FiguresRefresher(reader=reader, interval=10.0, clock=clock,  # type: ignore[arg-type]
                                 on_tick=ticks.append)
    refresher.startService()
    assert len(reader.calls) == 1 and refresher.looping
    clock.advance(10.0)
    assert len(reader.calls) == 1  # the first read has not answered: no second one
    reader.calls[0].errback(RuntimeError("database is locked"))
    assert refresher.error == "database is locked" and refresher.last_ok is None
    clock.advance(10.0)
    assert len(reader.calls) == 2
    reader.calls[1].callback(DatabaseFigures(read_at=20.0, schema_revision="x"))
    assert refresher.error is None and refresher.last_ok == 20.0
    refresher.stopService()
    assert not refresher.looping
    clock.advance(100.0)
    assert len(reader.calls) == 2 and ticks == [0.0, 10.0, 20.0]
    assert not clock.getDelayedCalls()
