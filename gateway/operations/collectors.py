"""Prometheus collectors over the gateway's figures (``prometheus_client`` custom collectors).

Every collector reads what is already in memory — link status recorders, the inbound
counters, the database pool's timings, what the refresher last read — so a scrape costs no
query and no I/O on the reactor thread.  Names and units follow Prometheus conventions
(``sdgw_…_total`` counters, ``_seconds``); the README lists every one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from carriers.link.status import PHASES, LatencyHistogram
from gateway.db.threads import DatabaseThreads
from gateway.operations.database_figures import OUTCOME_GROUPS
from gateway.operations.inbound_figures import KEYWORD_OUTCOMES, InboundFigures
from gateway.operations.link_board import LinkBoard
from gateway.operations.refresher import FiguresRefresher

SUBMIT_OUTCOMES = ("accepted", "transient", "permanent", "unanswered", "not_sent")


def _buckets(cumulative: list[tuple[float, int]]) -> list[tuple[str, float]]:
    return [("+Inf" if bound == float("inf") else repr(bound), float(count))
            for bound, count in cumulative]


def _histogram_of(histogram: LatencyHistogram) -> tuple[list[tuple[str, float]], float]:
    return _buckets(histogram.cumulative()), histogram.sum


class LinkCollector(Collector):
    """Per carrier link: state, reconnects, window, submits, latency, throttling, inbound."""

    def __init__(self, board: LinkBoard, clock: Callable[[], float]) -> None:
        self._board = board
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self._clock()
        board = self._board
        board.sample(now)
        state = GaugeMetricFamily(
            "sdgw_link_state", "1 for the link's current state (connecting, bound, throttled, "
            "idle, closed), 0 for the others", labels=["carrier", "protocol", "state"])
        since = GaugeMetricFamily(
            "sdgw_link_state_change_timestamp_seconds",
            "When the link's current state began (Unix time)", labels=["carrier"])
        reconnects = CounterMetricFamily(
            "sdgw_link_reconnects", "Logins after the first (the link came back)",
            labels=["carrier"])
        failures = CounterMetricFamily(
            "sdgw_link_connect_failures", "Connection attempts that failed",
            labels=["carrier"])
        in_flight = GaugeMetricFamily(
            "sdgw_link_in_flight", "Submits sent and awaiting their response",
            labels=["carrier"])
        window = GaugeMetricFamily(
            "sdgw_link_window", "Requests the link may have awaiting a response",
            labels=["carrier"])
        queued = GaugeMetricFamily(
            "sdgw_link_queued", "Submits queued in the link, not yet sent", labels=["carrier"])
        submits = CounterMetricFamily(
            "sdgw_link_submits", "Submitted parts by outcome (accepted, transient, permanent, "
            "unanswered, not_sent)", labels=["carrier", "outcome"])
        latency = HistogramMetricFamily(
            "sdgw_link_response_latency_seconds",
            "Time from writing a submit to reading its response", labels=["carrier"])
        episodes = CounterMetricFamily(
            "sdgw_link_throttling_episodes", "Times the carrier throttled the link (each "
            "starts a pause)", labels=["carrier"])
        pause = GaugeMetricFamily(
            "sdgw_link_throttle_pause_seconds", "Seconds left of the current throttling pause "
            "(0 when not paused)", labels=["carrier"])
        inbound = CounterMetricFamily(
            "sdgw_link_inbound", "Messages received from the carrier by kind (mo, receipt)",
            labels=["carrier", "kind"])
        unacknowledged = GaugeMetricFamily(
            "sdgw_link_inbound_unacknowledged",
            "MOs and receipts received, not yet stored and acknowledged", labels=["carrier"])
        receipts = CounterMetricFamily(
            "sdgw_receipts", "Delivery receipts received by final state",
            labels=["carrier", "state"])
        rate = GaugeMetricFamily(
            "sdgw_link_segments_per_second", "Parts accepted per second over the last minute "
            "(digest and replies)", labels=["carrier"])
        for carrier, link in board.links.items():
            status = link.status
            phase = status.phase(now)
            for each in PHASES:
                state.add_metric([carrier, status.protocol, each.value],
                                 1.0 if each is phase else 0.0)
            since.add_metric([carrier], status.since(now))
            reconnects.add_metric([carrier], status.reconnects)
            failures.add_metric([carrier], status.connect_failures)
            in_flight.add_metric([carrier], link.in_flight)
            window.add_metric([carrier], link.window)
            queued.add_metric([carrier], link.queued)
            for outcome, count in status.submits_by_outcome().items():
                submits.add_metric([carrier, outcome], count)
            buckets, total = _histogram_of(status.response_latency)
            latency.add_metric([carrier], buckets, total)
            episodes.add_metric([carrier], status.throttle_episodes)
            pause.add_metric([carrier], status.current_pause(now))
            inbound.add_metric([carrier, "mo"], status.inbound_mo)
            inbound.add_metric([carrier, "receipt"], status.inbound_receipts)
            unacknowledged.add_metric([carrier], link.unacknowledged)
            for receipt_state, count in sorted(status.receipt_states.items()):
                receipts.add_metric([carrier, receipt_state], count)
            rate.add_metric([carrier], board.rates.rate(carrier) or 0.0)
        yield from (state, since, reconnects, failures, in_flight, window, queued, submits,
                    latency, episodes, pause, inbound, unacknowledged, receipts, rate)


class InboundCollector(Collector):
    """MOs by keyword outcome and replies sent, per carrier."""

    def __init__(self, figures: InboundFigures, carriers: tuple[str, ...]) -> None:
        self._figures = figures
        self._carriers = carriers

    def collect(self) -> Iterator[Metric]:
        mos = CounterMetricFamily(
            "sdgw_mo", "MOs handled by keyword outcome (subscribe, confirm, unsubscribe, "
            "query, help, invalid, duplicate)", labels=["carrier", "outcome"])
        for carrier in self._carriers:
            for outcome in KEYWORD_OUTCOMES:
                mos.add_metric([carrier, outcome], self._figures.mos.get((carrier, outcome), 0))
        replies = CounterMetricFamily(
            "sdgw_replies_sent", "Replies to MOs submitted, by outcome (accepted when every "
            "part was)", labels=["carrier", "outcome"])
        for carrier in self._carriers:
            for outcome in SUBMIT_OUTCOMES:
                replies.add_metric([carrier, outcome],
                                   self._figures.replies.get((carrier, outcome), 0))
        yield mos
        yield replies


class DatabaseCollector(Collector):
    """The writer pool's transaction latency and queue; when the figures were last read."""

    def __init__(self, writer: DatabaseThreads, refresher: FiguresRefresher) -> None:
        self._writer = writer
        self._refresher = refresher

    def collect(self) -> Iterator[Metric]:
        cumulative, total = self._writer.timings.snapshot()
        latency = HistogramMetricFamily(
            "sdgw_db_transaction_seconds",
            "Duration of the database writer's transactions (begin to commit)")
        latency.add_metric([], _buckets(cumulative), total)
        yield latency
        yield GaugeMetricFamily(
            "sdgw_db_writer_queue", "Database work queued for the writer's threads",
            value=self._writer.waiting)
        refreshed = GaugeMetricFamily(
            "sdgw_figures_read_timestamp_seconds",
            "When the database last answered the metrics' refresher (Unix time)")
        if self._refresher.last_ok is not None:
            refreshed.add_metric([], self._refresher.last_ok)
        yield refreshed


class DispatchCollector(Collector):
    """Dispatch progress per edition and carrier, from the refresher's last read."""

    def __init__(self, refresher: FiguresRefresher) -> None:
        self._refresher = refresher

    def collect(self) -> Iterator[Metric]:
        deliveries = GaugeMetricFamily(
            "sdgw_dispatch_deliveries", "Deliveries of an edition's dispatch by outcome "
            "group (pending, submitted, delivered, failed, other)",
            labels=["edition", "carrier", "outcome"])
        uncertain = GaugeMetricFamily(
            "sdgw_dispatch_uncertain_deliveries", "Of the pending deliveries, those uncertain "
            "now (sent, no response)", labels=["edition", "carrier"])
        figures = self._refresher.figures
        for progress in figures.dispatches if figures is not None else ():
            for group in OUTCOME_GROUPS:
                deliveries.add_metric([progress.edition, progress.carrier, group],
                                      progress.counts.get(group, 0))
            uncertain.add_metric([progress.edition, progress.carrier], progress.uncertain)
        yield deliveries
        yield uncertain


class SchedulerCollector(Collector):
    """The edition scheduler's next run per slot."""

    def __init__(self, next_runs: Callable[[], dict[str, Any]]) -> None:
        self._next_runs = next_runs

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "sdgw_scheduler_next_run_timestamp_seconds",
            "When the scheduler next builds and dispatches each edition slot (Unix time)",
            labels=["slot"])
        for slot, moment in sorted(self._next_runs().items()):
            family.add_metric([slot], moment.timestamp())
        yield family
