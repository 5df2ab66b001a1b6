"""What a carrier link has been doing, as figures an operator reads: a status recorder.

:class:`LinkStatus` is fed by the shared transport (:mod:`carriers.link.transport`) and, for
SGIP, by the listener the SMG connects back to; every protocol's link therefore reports the
same figures.  The metrics endpoint, readiness and the console's Links page read it.  Pure:
time is an argument, and nothing here touches a socket.

The hot path (one submit's response) costs two attribute updates and one bucket increment:
the recorder keeps plain counters and a fixed-bucket histogram, and everything else (the
state as seen now, rates) is worked out when someone reads it.
"""

from __future__ import annotations

import enum
from bisect import bisect_left
from collections import deque
from collections.abc import Sequence

RESPONSE_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)
"""Upper bounds (seconds) of the response-latency histogram's buckets; a last one is +Inf."""

KEEP_RECONNECTS = 1000
"""Reconnect times remembered (for "reconnects today"); the total is counted regardless."""


class LinkPhase(enum.Enum):
    """A link's state as operators see it."""

    CONNECTING = "connecting"
    """Not logged in: connecting, logging in, or waiting to try again."""
    BOUND = "bound"
    THROTTLED = "throttled"
    """Bound, but pausing because the carrier throttled it."""
    IDLE = "idle"
    """No connection because none is needed (SGIP's submit connection after an idle
    close): healthy; queued work connects it again."""
    CLOSED = "closed"
    """Logged out on purpose (shutting down), or not started."""


PHASES: tuple[LinkPhase, ...] = tuple(LinkPhase)


class LatencyHistogram:
    """Counts of observations per bucket (``le`` semantics: a value equal to a bound falls in
    that bound's bucket), their number and sum.  Not thread-safe: one thread observes."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float] = RESPONSE_BUCKETS) -> None:
        if list(bounds) != sorted(set(bounds)):
            raise ValueError("bucket bounds must increase")
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.sum += seconds

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations ≤ it) per bucket, the last bound ``inf``."""
        total = 0
        result = []
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            total += count
            result.append((bound, total))
        return result


class LinkStatus:
    """One carrier link's state and counters since the process started.

    The transport calls the ``on_…`` methods; readers use :meth:`phase`, :meth:`since` and
    the counters.  ``submits`` holds refused and unanswered submits by outcome name
    (``transient``, ``permanent``, ``unanswered``, ``not_sent``); accepted ones are
    ``accepted`` (the most frequent, so an attribute of its own).
    """

    __slots__ = (
        "_phase", "_since", "accepted", "binds", "carrier", "connect_failures",
        "inbound_mo", "inbound_receipts", "last_error", "last_error_at", "peer", "protocol",
        "receipt_states", "reconnect_times", "reconnects", "response_latency", "submits",
        "throttle_episodes", "throttle_pause", "throttled_from", "throttled_until",
    )

    def __init__(self, *, carrier: str, protocol: str, peer: str = "",
                 buckets: Sequence[float] = RESPONSE_BUCKETS) -> None:
        self.carrier = carrier
        self.protocol = protocol
        self.peer = peer
        self._phase = LinkPhase.CLOSED
        self._since = 0.0
        self.binds = 0
        self.reconnects = 0
        self.reconnect_times: deque[float] = deque(maxlen=KEEP_RECONNECTS)
        self.connect_failures = 0
        self.accepted = 0
        self.submits: dict[str, int] = {}
        self.response_latency = LatencyHistogram(buckets)
        self.throttle_episodes = 0
        self.throttle_pause = 0.0
        self.throttled_from = 0.0
        self.throttled_until = 0.0
        self.inbound_mo = 0
        self.inbound_receipts = 0
        self.receipt_states: dict[str, int] = {}
        self.last_error = ""
        self.last_error_at: float | None = None

    # -- fed by the transport ------------------------------------------------------------------

    def on_started(self, now: float) -> None:
        self._move(LinkPhase.CONNECTING, now)

    def on_bound(self, now: float) -> None:
        if self.binds:
            self.reconnects += 1
            self.reconnect_times.append(now)
        self.binds += 1
        self.throttled_until = 0.0
        self._move(LinkPhase.BOUND, now)

    def on_disconnected(self, now: float, *, idle: bool = False, closed: bool = False) -> None:
        """The connection ended: closed for good, idle (none wanted), else reconnecting."""
        phase = (LinkPhase.CLOSED if closed else LinkPhase.IDLE if idle
                 else LinkPhase.CONNECTING)
        self.throttled_until = 0.0
        self._move(phase, now)

    def on_connecting(self, now: float) -> None:
        """An idle link starts connecting again (work was queued)."""
        self._move(LinkPhase.CONNECTING, now)

    def on_error(self, text: str, now: float) -> None:
        self.last_error = text
        self.last_error_at = now

    def on_connect_failed(self, text: str, now: float) -> None:
        self.connect_failures += 1
        self.on_error(f"connect failed: {text}", now)

    def on_accepted(self, latency: float) -> None:
        self.accepted += 1
        self.response_latency.observe(latency)

    def on_refused(self, outcome: str, latency: float | None = None) -> None:
        self.submits[outcome] = self.submits.get(outcome, 0) + 1
        if latency is not None:
            self.response_latency.observe(latency)

    def on_throttled(self, pause: float, now: float) -> None:
        self.throttle_episodes += 1
        self.throttle_pause = pause
        if now >= self.throttled_until:
            self.throttled_from = now
        self.throttled_until = now + pause

    def on_mo(self) -> None:
        self.inbound_mo += 1

    def on_receipt(self, state: str) -> None:
        self.inbound_receipts += 1
        self.receipt_states[state] = self.receipt_states.get(state, 0) + 1

    # -- read by the operations layer -------------------------------------------------------

    def phase(self, now: float) -> LinkPhase:
        if self._phase is LinkPhase.BOUND and now < self.throttled_until:
            return LinkPhase.THROTTLED
        return self._phase

    def since(self, now: float) -> float:
        """When the state :meth:`phase` gives at ``now`` began."""
        if self._phase is LinkPhase.BOUND and self.throttled_until > self._since:
            if now < self.throttled_until:
                return max(self.throttled_from, self._since)
            return self.throttled_until  # bound again since the pause ended
        return self._since

    def current_pause(self, now: float) -> float:
        """Seconds of throttling pause left at ``now`` (0 when not paused)."""
        return max(0.0, self.throttled_until - now) if self._phase is LinkPhase.BOUND else 0.0

    def reconnects_since(self, moment: float) -> int:
        return sum(1 for at in self.reconnect_times if at >= moment)

    def submits_by_outcome(self) -> dict[str, int]:
        counts = {"accepted": self.accepted, "transient": 0, "permanent": 0,
                  "unanswered": 0, "not_sent": 0}
        counts.update(self.submits)
        return counts

    # -- internals -------------------------------------------------------------------------------

    def _move(self, phase: LinkPhase, now: float) -> None:
        if phase is not self._phase:
            self._phase = phase
            self._since = now
