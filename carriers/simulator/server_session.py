"""What every simulated carrier's connection does, whatever its protocol. Pure.

:class:`ServerSession` is the common half of SMPP's simulated SMSC session and CMPP's
simulated ISMG session: the idle and half-PDU read timeouts a real carrier applies, its own
TPS cap and window of unanswered submits, the faults that delay or withhold submit responses,
and the MOs and receipts it delivers and whose answers it waits for.  A protocol's session adds
its login, its PDUs and its result codes through the ``_handle`` hook.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass
from typing import Any

from carriers.link.channel import FramingLost, PduChannel, PeerError
from carriers.simulator.server_events import (
    CloseClient,
    DeliverAnswered,
    DeliverUnanswered,
    ServerEvent,
    ServerFaults,
    ServerSettings,
)

THROTTLED = "throttled"
QUEUE_FULL = "queue full"


@dataclass(slots=True)
class _Pending:
    due: float
    response: Any


@dataclass(slots=True)
class _Deliver:
    token: int
    deadline: float


class ServerSession:
    """One simulated carrier connection: timeouts, caps, faults, deliveries."""

    state: enum.Enum
    """The protocol's connection state (open, logged in, closed…)."""

    def __init__(self, *, settings: ServerSettings, channel: PduChannel,
                 faults: ServerFaults | None = None) -> None:
        self.settings = settings
        self.faults = faults if faults is not None else ServerFaults()
        self._channel = channel
        self._delayed: deque[_Pending] = deque()
        self._unanswered_submits = 0
        self._rate_slot = -1
        self._rate_count = 0
        self._delivers: dict[int, _Deliver] = {}
        self._next_token = 1
        self._events: list[ServerEvent] = []
        self._last_pdu_at: float | None = None
        self._partial_since: float | None = None
        self._timed_out = False

    # -- hooks for the protocol -------------------------------------------------------

    @property
    def can_receive(self) -> bool:
        raise NotImplementedError

    def _handle(self, pdu: Any, now: float) -> None:
        raise NotImplementedError

    def _unreadable(self, error: PeerError) -> None:
        """A PDU that could not be decoded (already answered where the protocol allows)."""
        self._events.append(error)

    def _framing_lost(self, reason: str) -> None:
        self._events.append(CloseClient(reason))

    # -- inputs from the simulator ------------------------------------------------------

    def connection_made(self, now: float) -> None:
        """Start the idle clock (a client that connects and says nothing is dropped)."""
        self._last_pdu_at = now

    def receive_data(self, data: bytes, now: float) -> list[ServerEvent]:
        completed = False
        for item in self._channel.receive(data):
            completed = True
            if isinstance(item, PeerError):
                self._unreadable(item)
            elif isinstance(item, FramingLost):
                self._framing_lost(item.reason)
            else:
                self._handle(item, now)
        if completed:
            self._last_pdu_at = now
        if not self._channel.buffered:
            self._partial_since = None
        elif completed or self._partial_since is None:
            self._partial_since = now
        return self._take_events()

    def tick(self, now: float) -> list[ServerEvent]:
        timeout = self._timeout_reason(now)
        if timeout is not None and not self._timed_out:
            self._timed_out = True
            self._events.append(CloseClient(timeout))
        while self._delayed and self._delayed[0].due <= now:
            self._send_response(self._delayed.popleft().response)
        # Deadlines are "sent + deliver_timeout", so insertion order is deadline order.
        delivers = self._delivers
        while delivers:
            sequence = next(iter(delivers))
            deliver = delivers[sequence]
            if deliver.deadline > now:
                break
            del delivers[sequence]
            self._events.append(DeliverUnanswered(deliver.token))
        return self._take_events()

    def next_deadline(self) -> float | None:
        candidates = []
        settings = self.settings
        if not self._timed_out:
            if settings.read_timeout and self._partial_since is not None:
                candidates.append(self._partial_since + settings.read_timeout)
            if settings.idle_timeout and self._last_pdu_at is not None:
                candidates.append(self._last_pdu_at + settings.idle_timeout)
        if self._delivers:
            candidates.append(next(iter(self._delivers.values())).deadline)
        if self._delayed:
            candidates.append(self._delayed[0].due)
        return min(candidates) if candidates else None

    def data_to_send(self) -> bytes:
        return self._channel.data_to_send()

    def deliver(self, pdu: Any, now: float) -> int:
        """Send an MO or receipt to the logged-in client; return a token, answered later by
        :class:`DeliverAnswered` or :class:`DeliverUnanswered`."""
        if not self.can_receive:
            raise RuntimeError(f"the client is not logged in to receive ({self.state.value})")
        token = self._next_token
        self._next_token += 1
        sequence = self._channel.request(pdu)
        self._delivers[sequence] = _Deliver(token, now + self.settings.deliver_timeout)
        return token

    def send_raw(self, data: bytes) -> None:
        """Fault injection: put arbitrary bytes on the wire."""
        self._channel.send_raw(data)

    # -- for the protocol's _handle -------------------------------------------------------

    def _submit_refusal(self, now: float) -> str | None:
        """Whether a submit arriving at ``now`` is over the caps: ``THROTTLED`` (TPS),
        ``QUEUE_FULL`` (window of unanswered submits) or None (counted in)."""
        settings = self.settings
        if settings.tps > 0:
            slot = int(now)
            if slot != self._rate_slot:
                self._rate_slot, self._rate_count = slot, 0
            if self._rate_count >= settings.tps:
                return THROTTLED
            self._rate_count += 1
        if settings.window > 0 and self._unanswered_submits >= settings.window:
            return QUEUE_FULL
        return None

    def _respond(self, response: Any, now: float) -> None:
        """Answer a submit, as late as the faults say."""
        faults = self.faults
        if faults.withhold_responses:
            self._unanswered_submits += 1
            return
        if faults.response_delay > 0 or self._delayed:
            self._unanswered_submits += 1
            self._delayed.append(_Pending(now + faults.response_delay, response))
            return
        self._channel.send(response)

    def _deliver_answered(self, sequence: int, status: int) -> None:
        deliver = self._delivers.pop(sequence, None)
        if deliver is not None:
            self._events.append(DeliverAnswered(deliver.token, status))

    def _take_events(self) -> list[ServerEvent]:
        events, self._events = self._events, []
        return events

    # -- internals -------------------------------------------------------------------

    def _timeout_reason(self, now: float) -> str | None:
        settings = self.settings
        if (settings.read_timeout and self._partial_since is not None
                and now >= self._partial_since + settings.read_timeout):
            return f"a PDU arrived only in part for {settings.read_timeout:g}s"
        if (settings.idle_timeout and self._last_pdu_at is not None
                and now >= self._last_pdu_at + settings.idle_timeout):
            return f"no PDU from the client for {settings.idle_timeout:g}s"
        return None

    def _send_response(self, response: Any) -> None:
        self._unanswered_submits = max(0, self._unanswered_submits - 1)
        self._channel.send(response)


class LoginFirstSession(ServerSession):
    """A carrier that takes nothing but its login on a new connection (CMPP's ISMG, SMGP's
    SMGW, SGIP's SMG): anything else, or a PDU it cannot read, before a login closes the
    connection; lost framing closes it at any time. Subclasses name their open and closed
    states and their login request."""

    open_state: enum.Enum
    closed_state: enum.Enum
    login_request = "login"

    def _unreadable(self, error: PeerError) -> None:
        self._events.append(error)
        if self.state is self.open_state:
            self._close(f"no readable {self.login_request}")

    def _framing_lost(self, reason: str) -> None:
        self._close(reason)

    def _unexpected(self, pdu: Any) -> None:
        """Report a PDU the connection's state does not take; before a login, close."""
        self._events.append(PeerError(
            f"{type(pdu).__name__} not allowed while {self.state.value}", 0, ""))
        if self.state is self.open_state:
            self._close("the SP did not log in first")

    def _close(self, reason: str) -> None:
        if self.state is not self.closed_state:
            self.state = self.closed_state
            self._events.append(CloseClient(reason))
