"""Each carrier link as an operator reads it: the console's Links page and the metrics.

:class:`LinkBoard` holds the links (and the simulators, where they run in this process) and
turns their :class:`~carriers.link.status.LinkStatus` into :class:`LinkRow` values at a
moment.  The current rate comes from :class:`RateMeter`: accepted submits between samples
(taken by the metrics refresher on its timer and whenever the board is read).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from carriers.link.api import CarrierLink
from carriers.link.status import LinkPhase

RATE_WINDOW = 60.0
"""Samples older than this are forgotten; the rate spans the samples kept."""
MIN_SPAN = 1.0
"""A rate needs samples at least this far apart."""


class RateMeter:
    """Per carrier, accepted submits per second over the last :data:`RATE_WINDOW` seconds."""

    def __init__(self, window: float = RATE_WINDOW) -> None:
        self._window = window
        self._samples: dict[str, deque[tuple[float, int]]] = {}

    def sample(self, carrier: str, now: float, accepted: int) -> None:
        samples = self._samples.setdefault(carrier, deque())
        if samples and now - samples[-1][0] < MIN_SPAN / 2:
            return  # read twice in a moment: the earlier sample serves
        samples.append((now, accepted))
        while len(samples) > 2 and now - samples[1][0] >= self._window:
            samples.popleft()

    def rate(self, carrier: str) -> float | None:
        samples = self._samples.get(carrier)
        if not samples or len(samples) < 2:
            return None
        (first_at, first), (last_at, last) = samples[0], samples[-1]
        if last_at - first_at < MIN_SPAN:
            return None
        return max(0, last - first) / (last_at - first_at)


@dataclass(frozen=True, slots=True)
class SimulatorView:
    accepting: bool
    bound_clients: int
    port: int


@dataclass(frozen=True, slots=True)
class LinkRow:
    carrier: str
    protocol: str
    peer: str
    state: str
    since: float
    in_flight: int
    window: int
    queued: int
    unacknowledged: int
    tps_cap: float
    """Submits per second this link may send (0: no cap)."""
    rate: float | None
    """Accepted submits per second lately (None until two samples were taken)."""
    last_error: str
    last_error_at: float | None
    reconnects: int
    reconnects_today: int
    throttle_pause: float
    simulator: SimulatorView | None


class LinkBoard:
    def __init__(self, *, links: Mapping[str, CarrierLink], tps_caps: Mapping[str, float],
                 simulators: Mapping[str, Any] | None = None,
                 day_start: Callable[[float], float] | None = None) -> None:
        """``day_start(now)``: when today began (the newspaper's time zone), for
        "reconnects today"; ``simulators``: carrier → simulated carrier in this process."""
        self.links = links
        self._tps_caps = dict(tps_caps)
        self._simulators = simulators or {}
        self._day_start = day_start or (lambda now: now - now % 86400)
        self.rates = RateMeter()

    def sample(self, now: float) -> None:
        for carrier, link in self.links.items():
            self.rates.sample(carrier, now, link.status.accepted)

    def rows(self, now: float) -> list[LinkRow]:
        self.sample(now)
        today = self._day_start(now)
        rows = []
        for carrier, link in self.links.items():
            status = link.status
            simulator = self._simulators.get(carrier)
            rows.append(LinkRow(
                carrier=carrier, protocol=status.protocol, peer=status.peer or link.peer,
                state=status.phase(now).value, since=status.since(now),
                in_flight=link.in_flight, window=link.window, queued=link.queued,
                unacknowledged=link.unacknowledged, tps_cap=self._tps_caps.get(carrier, 0.0),
                rate=self.rates.rate(carrier), last_error=status.last_error,
                last_error_at=status.last_error_at, reconnects=status.reconnects,
                reconnects_today=status.reconnects_since(today),
                throttle_pause=status.current_pause(now),
                simulator=None if simulator is None else SimulatorView(
                    accepting=simulator.accepting, bound_clients=simulator.bound_clients,
                    port=simulator.port),
            ))
        return rows

    def phases(self, now: float) -> list[tuple[str, LinkPhase, float]]:
        return [(carrier, link.status.phase(now), link.status.since(now))
                for carrier, link in self.links.items()]
