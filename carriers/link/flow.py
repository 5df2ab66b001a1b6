"""Flow control shared by every client session. Pure: time is always an argument.

A :class:`FlowControl` holds the submits a session has been given and decides when each may
go: two lanes (interactive replies jump ahead of bulk digests), a window of requests awaiting
a response, a TPS cap (token bucket), and a pause after the carrier throttles, doubling while
throttling goes on.  It tracks the response deadline of every submit in flight and the link's
last activity for keep-alives.  It never sees a PDU: submits are encoded frames, and the
session gives it a ``send`` callable that writes one and returns its sequence number.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from carriers.messages import Lane

RESERVE_PER = 16
"""One window slot in this many is kept for interactive submits (16 of 256, 1 of 16)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowSettings:
    window: int = 16
    """Requests awaiting a response (submits and the session's own control requests)."""
    tps: float = 100.0
    """Submits per second; 0 lifts the cap."""
    response_timeout: float = 10.0
    keepalive_interval: float = 30.0
    """Idle seconds before the session sends its keep-alive (enquire_link, ACTIVE_TEST)."""
    throttle_backoff: float = 1.0
    max_throttle_backoff: float = 30.0
    max_throttle_retries: int = 20

    @property
    def interactive_reserve(self) -> int:
        """Window slots bulk submits leave free, so a reply goes at once rather than after a
        response to one of a full window of digests: one in every ``RESERVE_PER`` (none in a
        window smaller than that)."""
        return self.window // RESERVE_PER


@dataclass(slots=True)
class QueuedSubmit:
    token: int
    frame: bytes
    """The encoded submit; its sequence number is patched in when it is sent."""
    lane: Lane
    throttle_retries: int = 0
    sent_at: float = 0.0
    """When it was last written (its response's latency is measured from here)."""


@dataclass(slots=True)
class _InFlight:
    item: QueuedSubmit
    deadline: float


_ONE_TOKEN = 1.0 - 1e-9
"""A token counts as whole despite float rounding in the bucket refill."""


class FlowControl:
    """Lanes, window, TPS bucket, throttling pause, response deadlines, last activity."""

    def __init__(self, settings: FlowSettings) -> None:
        self.settings = settings
        self._lanes: tuple[deque[QueuedSubmit], deque[QueuedSubmit]] = (deque(), deque())
        # Submits awaiting a response, by sequence number. Every entry's deadline is
        # "sent + response_timeout", so insertion order is deadline order.
        self._in_flight: dict[int, _InFlight] = {}
        self._next_token = 1
        self._tokens = 0.0
        self._bucket_at = 0.0
        self._paused_until = 0.0
        self._throttle_pause = settings.throttle_backoff
        self.last_activity = 0.0
        self.bulk_held = False
        """Bulk submits wait while the link has too much inbound not yet stored (the
        transport sets it): a carrier whose receipts outrun the database is not sent more to
        answer, and replies (interactive) still go."""

    # -- the queue --------------------------------------------------------------------

    def enqueue(self, frame: bytes, lane: Lane) -> int:
        token = self._next_token
        self._next_token += 1
        self._lanes[lane].append(QueuedSubmit(token, frame, lane))
        return token

    def take_back(self, lane: Lane) -> list[int]:
        """Empty ``lane``; return the tokens of what it held (none of it was sent)."""
        tokens = [item.token for item in self._lanes[lane]]
        self._lanes[lane].clear()
        return tokens

    def take_back_all(self) -> list[int]:
        return self.take_back(Lane.INTERACTIVE) + self.take_back(Lane.BULK)

    @property
    def queued(self) -> int:
        return len(self._lanes[0]) + len(self._lanes[1])

    # -- what is in flight ------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def answered(self, sequence: int) -> QueuedSubmit | None:
        """The submit a response with ``sequence`` answers (no longer in flight), if any."""
        in_flight = self._in_flight.pop(sequence, None)
        return None if in_flight is None else in_flight.item

    def expired(self, now: float) -> Iterator[QueuedSubmit]:
        """Take out the submits whose response is overdue at ``now``."""
        in_flight = self._in_flight
        while in_flight:
            sequence = next(iter(in_flight))
            if in_flight[sequence].deadline > now:
                return
            yield in_flight.pop(sequence).item

    def give_up_in_flight(self) -> list[int]:
        """Forget everything in flight (the connection is gone); return the tokens."""
        tokens = [in_flight.item.token for in_flight in self._in_flight.values()]
        self._in_flight.clear()
        return tokens

    # -- outcomes ---------------------------------------------------------------------

    def accepted(self) -> None:
        """A submit went through: the next throttling episode starts from the first pause."""
        self._throttle_pause = self.settings.throttle_backoff

    def throttled(self, item: QueuedSubmit, now: float) -> float | None:
        """The carrier throttled ``item``. Put it back at the head of its lane and return
        the pause that starts (0.0 when an episode is already under way), or None when it
        has been throttled too often and must be given up."""
        if item.throttle_retries >= self.settings.max_throttle_retries:
            return None
        item.throttle_retries += 1
        self._lanes[item.lane].appendleft(item)
        if now < self._paused_until:
            return 0.0  # further refusals of the same burst share the pause under way
        pause = self._throttle_pause
        self._paused_until = now + pause
        self._throttle_pause = min(pause * 2, self.settings.max_throttle_backoff)
        return pause

    # -- sending ----------------------------------------------------------------------

    def start(self, now: float) -> None:
        """The session is logged in: fill the bucket, start the keep-alive clock."""
        self._tokens = self._bucket_capacity()
        self._bucket_at = now
        self.last_activity = now

    def pump(self, now: float, send: Callable[[bytes], int], control_in_flight: int) -> bool:
        """Send queued submits as far as window, pause and TPS allow; ``send`` writes one
        frame and returns its sequence number. True when something was sent."""
        if now < self._paused_until:
            return False
        s = self.settings
        tps = s.tps
        if tps > 0:
            self._tokens = min(self._bucket_capacity(),
                               self._tokens + (now - self._bucket_at) * tps)
            self._bucket_at = now
        lanes = self._lanes
        in_flight = self._in_flight
        room = s.window - control_in_flight
        bulk_room = self._bulk_room(room)
        deadline = now + s.response_timeout
        sent = False
        while len(in_flight) < room:
            if lanes[0]:
                lane = lanes[0]
            elif lanes[1] and len(in_flight) < bulk_room:
                lane = lanes[1]
            else:
                break
            if tps > 0:
                if self._tokens < _ONE_TOKEN:
                    break
                self._tokens -= 1.0
            item = lane.popleft()
            item.sent_at = now
            in_flight[send(item.frame)] = _InFlight(item, deadline)
            sent = True
        if sent:
            self.last_activity = now
        return sent

    def _bulk_room(self, room: int) -> int:
        """Requests in flight up to which a bulk submit may go: none while bulk is held, else
        the window's ``room`` less the slots kept for replies."""
        return 0 if self.bulk_held else room - self.settings.interactive_reserve

    def keepalive_due(self, now: float) -> bool:
        return now - self.last_activity >= self.settings.keepalive_interval

    def deadlines(self, control_in_flight: int) -> list[float]:
        """When the flow next needs a tick while logged in: the keep-alive, and the moment
        the next queued submit may go (see also :meth:`first_response_deadline`)."""
        s = self.settings
        candidates = [self.last_activity + s.keepalive_interval]
        room = s.window - control_in_flight
        bulk_room = self._bulk_room(room)
        in_flight = len(self._in_flight)
        if ((self._lanes[0] and in_flight < room)
                or (self._lanes[1] and in_flight < bulk_room)):
            candidates.append(max(self._paused_until, self._next_token_time()))
        return candidates

    def first_response_deadline(self) -> float | None:
        if not self._in_flight:
            return None
        return next(iter(self._in_flight.values())).deadline

    def _bucket_capacity(self) -> float:
        return max(1.0, self.settings.tps / 10.0)

    def _next_token_time(self) -> float:
        tps = self.settings.tps
        if tps <= 0 or self._tokens >= _ONE_TOKEN:
            return self._bucket_at
        return self._bucket_at + (1.0 - self._tokens) / tps
