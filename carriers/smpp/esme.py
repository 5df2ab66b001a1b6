"""The gateway's side of an SMPP 3.4 link, as a sans-IO state machine.

One :class:`EsmeSession` lives as long as the link and survives reconnects:
its queue of submits waits while the link is down.  The transport tells it
about connections (:meth:`connection_made`, :meth:`connection_lost`), feeds it
bytes (:meth:`receive_data`), asks it for bytes (:meth:`data_to_send`) and
calls :meth:`tick` at :meth:`next_deadline`.  Time is always an argument.

Flow control lives here: a window of unanswered requests, a TPS cap (token
bucket), two lanes (replies to subscribers jump ahead of bulk digests), and
backoff-and-resend on ESME_RTHROTTLED / ESME_RMSGQFUL.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

from carriers.messages import Lane
from carriers.smpp.channel import (
    FramingLost,
    PduChannel,
    PeerError,
    is_throttling,
)
from carriers.smpp.codec import encode
from carriers.smpp.pdus import (
    BindTransceiver,
    BindTransceiverResp,
    CommandStatus,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Pdu,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    response_for,
)


class EsmeState(enum.Enum):
    DISCONNECTED = "disconnected"
    BINDING = "binding"
    BOUND = "bound"
    DRAINING = "draining"
    """Shutting down: no new submits; waiting for outstanding responses."""
    UNBINDING = "unbinding"
    CLOSED = "closed"
    """Unbound on purpose; will not reconnect."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EsmeSettings:
    system_id: str
    password: str
    system_type: str = ""
    window: int = 16
    tps: float = 100.0
    """0 lifts the cap."""
    enquire_link_interval: float = 30.0
    response_timeout: float = 10.0
    unbind_timeout: float = 5.0
    throttle_backoff: float = 1.0
    max_throttle_backoff: float = 30.0
    max_throttle_retries: int = 20


# -- events handed to the layer above ----------------------------------------


@dataclass(frozen=True, slots=True)
class Bound:
    system_id: str


@dataclass(frozen=True, slots=True)
class BindRefused:
    status: int


@dataclass(frozen=True, slots=True)
class SubmitAccepted:
    token: int
    message_id: str


@dataclass(frozen=True, slots=True)
class SubmitRejected:
    """The SMSC refused the submit with a permanent status (or throttled it too often)."""

    token: int
    status: int


@dataclass(frozen=True, slots=True)
class SubmitUnanswered:
    """The submit was sent but no response came (timeout or connection lost).

    The one case SMPP cannot decide: the SMSC may or may not have taken it.
    """

    token: int
    reason: str


@dataclass(frozen=True, slots=True)
class SubmitNotSent:
    """The submit never left: the session shut down while it was queued."""

    token: int


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """An MO or a delivery receipt; answer with :meth:`EsmeSession.acknowledge`."""

    connection: int
    pdu: DeliverSm | DataSm


@dataclass(frozen=True, slots=True)
class Unbound:
    by_peer: bool


@dataclass(frozen=True, slots=True)
class CloseConnection:
    """The transport should drop the connection (and reconnect unless closed)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Throttled:
    status: int
    pause: float


EsmeEvent = (
    Bound | BindRefused | SubmitAccepted | SubmitRejected | SubmitUnanswered | SubmitNotSent
    | MessageReceived | Unbound | CloseConnection | PeerError | Throttled
)


@dataclass(slots=True)
class _Queued:
    token: int
    frame: bytes
    """The encoded submit_sm; its sequence number is patched in when it is sent."""
    lane: Lane
    throttle_retries: int = 0


@dataclass(slots=True)
class _InFlight:
    item: _Queued
    deadline: float


@dataclass(slots=True)
class _Control:
    kind: str  # "enquire_link", "bind", "unbind"
    deadline: float


_ONE_TOKEN = 1.0 - 1e-9
"""A token counts as whole despite float rounding in the bucket refill."""

# Which PDU classes each state accepts from the peer; anything else is a protocol error.
_ACCEPTED: dict[EsmeState, frozenset[type]] = {
    EsmeState.BINDING: frozenset({BindTransceiverResp, GenericNack, EnquireLink, Unbind}),
    EsmeState.BOUND: frozenset({
        SubmitSmResp, DeliverSm, DataSm, EnquireLink, EnquireLinkResp, Unbind, GenericNack,
    }),
    EsmeState.DRAINING: frozenset({
        SubmitSmResp, DeliverSm, DataSm, EnquireLink, EnquireLinkResp, Unbind, GenericNack,
    }),
    EsmeState.UNBINDING: frozenset({
        UnbindResp, SubmitSmResp, EnquireLinkResp, GenericNack, DeliverSm, DataSm, EnquireLink,
    }),
}


class EsmeSession:
    """Bind, window, TPS cap, keep-alive, timeouts and graceful unbind."""

    def __init__(self, settings: EsmeSettings) -> None:
        self.settings = settings
        self.state = EsmeState.DISCONNECTED
        self._lanes: tuple[deque[_Queued], deque[_Queued]] = (deque(), deque())
        # Submits awaiting a response, by sequence number. Every entry's deadline is
        # "sent + response_timeout", so insertion order is deadline order.
        self._in_flight: dict[int, _InFlight] = {}
        self._control: dict[int, _Control] = {}
        self._channel = PduChannel()
        self._connection = 0
        self._next_token = 1
        self._tokens = 0.0
        self._bucket_at = 0.0
        self._paused_until = 0.0
        self._throttle_pause = settings.throttle_backoff
        self._last_activity = 0.0
        self._drain_deadline = 0.0
        self._events: list[EsmeEvent] = []

    # -- inputs from the transport -------------------------------------------------

    def connection_made(self, now: float) -> None:
        """A TCP connection is up: start binding."""
        self._connection += 1
        self._channel = PduChannel()
        self._in_flight.clear()
        self._control.clear()
        self.state = EsmeState.BINDING
        self._last_activity = now
        s = self.settings
        bind = self._channel.send_request(
            BindTransceiver(
                sequence_number=0,
                system_id=s.system_id,
                password=s.password,
                system_type=s.system_type,
            )
        )
        self._control[bind.sequence_number] = _Control("bind", now + s.response_timeout)

    def connection_lost(self, now: float) -> list[EsmeEvent]:
        """The connection is gone; unanswered submits are reported, queued ones wait."""
        events = self._take_events()
        events.extend(self._give_up_in_flight("connection lost"))
        self._control.clear()
        if self.state in (EsmeState.DRAINING, EsmeState.UNBINDING, EsmeState.CLOSED):
            self.state = EsmeState.CLOSED
            events.extend(self._abandon_queue())
        else:
            self.state = EsmeState.DISCONNECTED
        return events

    def receive_data(self, data: bytes, now: float) -> list[EsmeEvent]:
        self._last_activity = now
        for item in self._channel.receive(data):
            if isinstance(item, PeerError):
                self._events.append(item)
            elif isinstance(item, FramingLost):
                self._events.append(CloseConnection(item.reason))
            else:
                self._handle(item, now)
        self._finish_draining(now)
        self._pump(now)
        return self._take_events()

    def tick(self, now: float) -> list[EsmeEvent]:
        """Handle timeouts and keep-alives due at ``now``; release queued submits."""
        s = self.settings
        in_flight = self._in_flight
        while in_flight:
            sequence = next(iter(in_flight))
            if in_flight[sequence].deadline > now:
                break
            expired = in_flight.pop(sequence)
            self._events.append(SubmitUnanswered(expired.item.token, "response timeout"))
        for sequence, outstanding in list(self._control.items()):
            if outstanding.deadline > now:
                continue
            del self._control[sequence]
            if outstanding.kind == "enquire_link":
                self._events.append(CloseConnection("enquire_link not answered"))
            elif outstanding.kind == "bind":
                self._events.append(CloseConnection("bind not answered"))
            elif outstanding.kind == "unbind":
                self._finish_unbind(by_peer=False)
        self._finish_draining(now)
        if (
            self.state is EsmeState.BOUND
            and now - self._last_activity >= s.enquire_link_interval
            and not any(o.kind == "enquire_link" for o in self._control.values())
        ):
            link = self._channel.send_request(EnquireLink(sequence_number=0))
            self._control[link.sequence_number] = _Control(
                "enquire_link", now + s.response_timeout
            )
            self._last_activity = now
        self._pump(now)
        return self._take_events()

    def next_deadline(self) -> float | None:
        """When :meth:`tick` must next be called, or None when nothing is timed."""
        candidates = [o.deadline for o in self._control.values()]
        if self._in_flight:
            candidates.append(next(iter(self._in_flight.values())).deadline)
        if self.state is EsmeState.BOUND:
            candidates.append(self._last_activity + self.settings.enquire_link_interval)
            if self.queued and self._window_free():
                candidates.append(max(self._paused_until, self._next_token_time()))
        if self.state is EsmeState.DRAINING:
            candidates.append(self._drain_deadline)
        return min(candidates) if candidates else None

    def data_to_send(self) -> bytes:
        return self._channel.data_to_send()

    # -- inputs from the layer above -----------------------------------------------

    def submit(self, pdu: SubmitSm, now: float, lane: Lane = Lane.BULK) -> int:
        """Queue a submit_sm (its sequence number is assigned on sending); return a token."""
        return self.submit_encoded(encode(pdu), now, lane)

    def submit_encoded(self, frame: bytes, now: float, lane: Lane = Lane.BULK) -> int:
        """Queue an already encoded submit_sm (e.g. from a ``SubmitTemplate``)."""
        if self.state in (EsmeState.CLOSED, EsmeState.DRAINING, EsmeState.UNBINDING):
            raise RuntimeError("the link is shutting down; no new submits")
        token = self._next_token
        self._next_token += 1
        self._lanes[lane].append(_Queued(token, frame, lane))
        self._pump(now)
        return token

    def acknowledge(self, received: MessageReceived, status: int = 0) -> bool:
        """Answer an MO/receipt once the layer above has stored it (or failed to).

        Returns False when the connection it came on is gone: the SMSC will
        deliver it again, so nothing is lost.
        """
        if received.connection != self._connection or self.state in (
            EsmeState.DISCONNECTED, EsmeState.CLOSED,
        ):
            return False
        pdu = received.pdu
        response: Pdu
        if isinstance(pdu, DataSm):
            response = DataSmResp(sequence_number=pdu.sequence_number, command_status=status)
        else:
            response = DeliverSmResp(sequence_number=pdu.sequence_number, command_status=status)
        self._channel.send(response)
        return True

    def unbind(self, now: float) -> list[EsmeEvent]:
        """Start a graceful shutdown: stop submitting, wait for responses, then unbind."""
        if self.state is EsmeState.BOUND:
            self.state = EsmeState.DRAINING
            self._drain_deadline = now + self.settings.unbind_timeout
            if not self._in_flight:
                self._send_unbind(now)
        elif self.state in (EsmeState.DISCONNECTED, EsmeState.BINDING):
            self.state = EsmeState.CLOSED
            self._events.extend(self._abandon_queue())
            self._events.append(CloseConnection("shutting down"))
        return self._take_events()

    def abandon_queued(self, lane: Lane = Lane.BULK) -> list[EsmeEvent]:
        """Give up the submits of ``lane`` not written yet (a stopping sender takes them
        back): one :class:`SubmitNotSent` each. What is in flight stays in flight."""
        events: list[EsmeEvent] = [SubmitNotSent(item.token) for item in self._lanes[lane]]
        self._lanes[lane].clear()
        return events

    # -- introspection ---------------------------------------------------------------

    @property
    def queued(self) -> int:
        return len(self._lanes[0]) + len(self._lanes[1])

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def is_bound(self) -> bool:
        return self.state is EsmeState.BOUND

    # -- internals -------------------------------------------------------------------

    def _take_events(self) -> list[EsmeEvent]:
        events, self._events = self._events, []
        return events

    def _handle(self, pdu: Pdu, now: float) -> None:
        accepted = _ACCEPTED.get(self.state, frozenset())
        if type(pdu) not in accepted:
            self._reject_unexpected(pdu)
            return
        if isinstance(pdu, DeliverSm | DataSm):
            self._events.append(MessageReceived(self._connection, pdu))
        elif isinstance(pdu, SubmitSmResp):
            self._on_submit_resp(pdu, now)
        elif isinstance(pdu, BindTransceiverResp):
            self._on_bind_resp(pdu, now)
        elif isinstance(pdu, EnquireLink):
            self._channel.send(EnquireLinkResp(sequence_number=pdu.sequence_number))
        elif isinstance(pdu, EnquireLinkResp):
            self._control.pop(pdu.sequence_number, None)
        elif isinstance(pdu, Unbind):
            self._channel.send(UnbindResp(sequence_number=pdu.sequence_number))
            self._finish_unbind(by_peer=True)
        elif isinstance(pdu, UnbindResp):
            self._control.pop(pdu.sequence_number, None)
            self._finish_unbind(by_peer=False)
        elif isinstance(pdu, GenericNack):
            self._on_generic_nack(pdu, now)

    def _reject_unexpected(self, pdu: Pdu) -> None:
        command_id = type(pdu).command_id
        reason = f"{type(pdu).__name__} not allowed while {self.state.value}"
        if not command_id & 0x80000000:
            self._channel.send(
                response_for(pdu, command_status=CommandStatus.ESME_RINVBNDSTS)
            )
        self._events.append(PeerError(reason, CommandStatus.ESME_RINVBNDSTS, ""))

    def _on_bind_resp(self, pdu: BindTransceiverResp, now: float) -> None:
        if self._control.pop(pdu.sequence_number, None) is None:
            return
        if pdu.command_status != CommandStatus.ESME_ROK:
            self._events.append(BindRefused(pdu.command_status))
            reason = f"bind refused (status 0x{pdu.command_status:02X})"
            self._events.append(CloseConnection(reason))
            return
        self.state = EsmeState.BOUND
        self._tokens = self._bucket_capacity()
        self._bucket_at = now
        self._events.append(Bound(pdu.system_id))

    def _on_submit_resp(self, pdu: SubmitSmResp, now: float) -> None:
        outstanding = self._in_flight.pop(pdu.sequence_number, None)
        if outstanding is None:
            self._events.append(
                PeerError(f"submit_sm_resp for unknown sequence {pdu.sequence_number}", 0, "")
            )
            return
        self._on_submit_status(outstanding.item, pdu.command_status, pdu.message_id, now)

    def _on_generic_nack(self, pdu: GenericNack, now: float) -> None:
        in_flight = self._in_flight.pop(pdu.sequence_number, None)
        if in_flight is not None:
            self._on_submit_status(in_flight.item, pdu.command_status or 0xFF, "", now)
            return
        control = self._control.pop(pdu.sequence_number, None)
        if control is None:
            self._events.append(
                PeerError(f"generic_nack 0x{pdu.command_status:02X} for unknown request", 0, "")
            )
        elif control.kind == "bind":
            self._events.append(BindRefused(pdu.command_status))
            self._events.append(CloseConnection("bind answered with generic_nack"))

    def _on_submit_status(self, item: _Queued, status: int, message_id: str, now: float) -> None:
        s = self.settings
        if status == CommandStatus.ESME_ROK:
            self._throttle_pause = s.throttle_backoff
            self._events.append(SubmitAccepted(item.token, message_id))
            return
        if is_throttling(status) and item.throttle_retries < s.max_throttle_retries:
            item.throttle_retries += 1
            self._lanes[item.lane].appendleft(item)
            if now >= self._paused_until:
                # A new throttling episode: pause, and pause longer if it happens again.
                # Further refusals of the same burst share this pause.
                pause = self._throttle_pause
                self._paused_until = now + pause
                self._throttle_pause = min(pause * 2, s.max_throttle_backoff)
                self._events.append(Throttled(status, pause))
            return
        self._events.append(SubmitRejected(item.token, status))

    def _finish_unbind(self, *, by_peer: bool) -> None:
        self._events.extend(self._give_up_in_flight("unbound"))
        self._control.clear()
        if by_peer and self.state in (EsmeState.BOUND, EsmeState.BINDING):
            self.state = EsmeState.DISCONNECTED
            self._events.append(Unbound(by_peer=True))
            self._events.append(CloseConnection("peer unbound"))
            return
        self.state = EsmeState.CLOSED
        self._events.extend(self._abandon_queue())
        self._events.append(Unbound(by_peer=by_peer))
        self._events.append(CloseConnection("unbound"))

    def _finish_draining(self, now: float) -> None:
        """Unbind once the last response is in, or when the drain time is up."""
        if self.state is EsmeState.DRAINING and (
            not self._in_flight or now >= self._drain_deadline
        ):
            self._send_unbind(now)

    def _send_unbind(self, now: float) -> None:
        self.state = EsmeState.UNBINDING
        self._events.extend(self._give_up_in_flight("unbind timeout"))
        unbind = self._channel.send_request(Unbind(sequence_number=0))
        self._control[unbind.sequence_number] = _Control(
            "unbind", now + self.settings.response_timeout
        )

    def _abandon_queue(self) -> list[EsmeEvent]:
        events: list[EsmeEvent] = []
        for lane in self._lanes:
            events.extend(SubmitNotSent(item.token) for item in lane)
            lane.clear()
        return events

    def _give_up_in_flight(self, reason: str) -> list[EsmeEvent]:
        events: list[EsmeEvent] = [
            SubmitUnanswered(in_flight.item.token, reason) for in_flight in self._in_flight.values()
        ]
        self._in_flight.clear()
        return events

    def _window_free(self) -> bool:
        return len(self._in_flight) + len(self._control) < self.settings.window

    def _bucket_capacity(self) -> float:
        return max(1.0, self.settings.tps / 10.0)

    def _next_token_time(self) -> float:
        tps = self.settings.tps
        if tps <= 0 or self._tokens >= _ONE_TOKEN:
            return self._bucket_at
        return self._bucket_at + (1.0 - self._tokens) / tps

    def _pump(self, now: float) -> None:
        """Send queued submits as far as state, window, pause and TPS allow."""
        if self.state is not EsmeState.BOUND or now < self._paused_until:
            return
        s = self.settings
        tps = s.tps
        if tps > 0:
            capacity = self._bucket_capacity()
            self._tokens = min(capacity, self._tokens + (now - self._bucket_at) * tps)
            self._bucket_at = now
        lanes = self._lanes
        in_flight = self._in_flight
        room = s.window - len(self._control)
        channel = self._channel
        deadline = now + s.response_timeout
        sent = False
        while len(in_flight) < room:
            lane = lanes[0] if lanes[0] else lanes[1]
            if not lane:
                break
            if tps > 0:
                if self._tokens < _ONE_TOKEN:
                    break
                self._tokens -= 1.0
            item = lane.popleft()
            sequence = channel.next_sequence()
            channel.send_encoded(item.frame, sequence)
            in_flight[sequence] = _InFlight(item, deadline)
            sent = True
        if sent:
            self._last_activity = now
