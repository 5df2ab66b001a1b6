"""The carrier's side of an SMPP 3.4 link (used by the simulator), sans-IO.

One :class:`SmscSession` per connection.  It authenticates binds, answers
submits with message ids, enforces the SMSC's own TPS and window, sends
deliver_sm (MOs and receipts) and notices their answers.  Fault injection
(delayed or withheld responses, refused binds) is a set of plain attributes
the simulator service flips.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from carriers.simulator.server_events import (
    BindDenied,
    ClientBound,
    ClientUnbound,
    CloseClient,
    DeliverAnswered,
    DeliverUnanswered,
    ServerEvent,
    ServerFaults,
    ServerSettings,
    SubmitReceived,
    SubmitRefused,
)
from carriers.smpp.channel import FramingLost, PeerError, SmppChannel
from carriers.smpp.pdus import (
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    CommandStatus,
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


class SmscState(enum.Enum):
    OPEN = "open"
    BOUND_TX = "bound_tx"
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    CLOSED = "closed"


SmscFaults = ServerFaults
SmscSettings = ServerSettings
SmscEvent = ServerEvent

_BIND_RESPONSES: dict[type, tuple[type, SmscState]] = {
    BindTransmitter: (BindTransmitterResp, SmscState.BOUND_TX),
    BindReceiver: (BindReceiverResp, SmscState.BOUND_RX),
    BindTransceiver: (BindTransceiverResp, SmscState.BOUND_TRX),
}
_CAN_SUBMIT = frozenset({SmscState.BOUND_TX, SmscState.BOUND_TRX})
_CAN_RECEIVE = frozenset({SmscState.BOUND_RX, SmscState.BOUND_TRX})
_BOUND = _CAN_SUBMIT | _CAN_RECEIVE

# Which PDU classes each state accepts; anything else is answered ESME_RINVBNDSTS.
_ACCEPTED: dict[SmscState, frozenset[type]] = {
    SmscState.OPEN: frozenset({BindTransmitter, BindReceiver, BindTransceiver, EnquireLink,
                               Unbind, GenericNack}),
    SmscState.BOUND_TX: frozenset({SubmitSm, EnquireLink, EnquireLinkResp, Unbind, UnbindResp,
                                   GenericNack}),
    SmscState.BOUND_RX: frozenset({DeliverSmResp, DataSmResp, EnquireLink, EnquireLinkResp,
                                   Unbind, UnbindResp, GenericNack}),
    SmscState.BOUND_TRX: frozenset({SubmitSm, DeliverSmResp, DataSmResp, EnquireLink,
                                    EnquireLinkResp, Unbind, UnbindResp, GenericNack}),
}


@dataclass(slots=True)
class _Pending:
    due: float
    response: Pdu


@dataclass(slots=True)
class _Deliver:
    token: int
    deadline: float


@dataclass(slots=True)
class _RateWindow:
    """Counts submits in the current one-second slot."""

    slot: int = -1
    count: int = 0


class SmscSession:
    """One simulated SMSC connection."""

    def __init__(
        self,
        *,
        settings: SmscSettings,
        authenticate: Callable[[str, str], int],
        next_message_id: Callable[[], str],
        faults: SmscFaults | None = None,
    ) -> None:
        self.settings = settings
        self.faults = faults if faults is not None else SmscFaults()
        self._authenticate = authenticate
        self._next_message_id = next_message_id
        self._channel = SmppChannel()
        self.state = SmscState.OPEN
        self.system_id = ""
        self._delayed: deque[_Pending] = deque()
        self._unanswered_submits = 0
        self._rate = _RateWindow()
        self._delivers: dict[int, _Deliver] = {}
        self._next_token = 1
        self._events: list[SmscEvent] = []
        self._last_pdu_at: float | None = None
        self._partial_since: float | None = None
        self._timed_out = False

    def connection_made(self, now: float) -> None:
        """Start the idle clock (a client that connects and says nothing is dropped)."""
        self._last_pdu_at = now

    @property
    def can_receive(self) -> bool:
        return self.state in _CAN_RECEIVE

    def receive_data(self, data: bytes, now: float) -> list[SmscEvent]:
        completed = False
        for item in self._channel.receive(data):
            completed = True
            if isinstance(item, PeerError):
                self._events.append(item)
            elif isinstance(item, FramingLost):
                self._events.append(CloseClient(item.reason))
            else:
                self._handle(item, now)
        if completed:
            self._last_pdu_at = now
        if not self._channel.buffered:
            self._partial_since = None
        elif completed or self._partial_since is None:
            self._partial_since = now
        return self._take_events()

    def tick(self, now: float) -> list[SmscEvent]:
        timeout = self._timeout_reason(now)
        if timeout is not None and not self._timed_out:
            self._timed_out = True
            self._events.append(CloseClient(timeout))
        while self._delayed and self._delayed[0].due <= now:
            pending = self._delayed.popleft()
            self._send_response(pending.response)
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

    def _timeout_reason(self, now: float) -> str | None:
        settings = self.settings
        if (settings.read_timeout and self._partial_since is not None
                and now >= self._partial_since + settings.read_timeout):
            return f"a PDU arrived only in part for {settings.read_timeout:g}s"
        if (settings.idle_timeout and self._last_pdu_at is not None
                and now >= self._last_pdu_at + settings.idle_timeout):
            return f"no PDU from the client for {settings.idle_timeout:g}s"
        return None

    def next_deadline(self) -> float | None:
        candidates = []
        if not self._timed_out:
            if self.settings.read_timeout and self._partial_since is not None:
                candidates.append(self._partial_since + self.settings.read_timeout)
            if self.settings.idle_timeout and self._last_pdu_at is not None:
                candidates.append(self._last_pdu_at + self.settings.idle_timeout)
        if self._delivers:
            candidates.append(next(iter(self._delivers.values())).deadline)
        if self._delayed:
            candidates.append(self._delayed[0].due)
        return min(candidates) if candidates else None

    def data_to_send(self) -> bytes:
        return self._channel.data_to_send()

    def deliver(self, pdu: DeliverSm, now: float) -> int:
        """Send a deliver_sm (MO or receipt) to the bound client; return a token."""
        if not self.can_receive:
            raise RuntimeError(f"client is not bound to receive ({self.state.value})")
        token = self._next_token
        self._next_token += 1
        numbered = self._channel.send_request(pdu)
        self._delivers[numbered.sequence_number] = _Deliver(
            token, now + self.settings.deliver_timeout
        )
        return token

    def unbind(self) -> None:
        self._channel.send_request(Unbind(sequence_number=0))

    def send_raw(self, data: bytes) -> None:
        """Fault injection: put arbitrary bytes on the wire."""
        self._channel.send_raw(data)

    # -- internals -------------------------------------------------------------------

    def _take_events(self) -> list[SmscEvent]:
        events, self._events = self._events, []
        return events

    def _handle(self, pdu: Pdu, now: float) -> None:
        if type(pdu) not in _ACCEPTED.get(self.state, frozenset()):
            if not type(pdu).command_id & 0x80000000:
                status = (
                    CommandStatus.ESME_RALYBND if type(pdu) in _BIND_RESPONSES
                    else CommandStatus.ESME_RINVBNDSTS
                )
                self._channel.send(response_for(pdu, command_status=status))
            self._events.append(
                PeerError(f"{type(pdu).__name__} not allowed while {self.state.value}",
                          CommandStatus.ESME_RINVBNDSTS, "")
            )
            return
        if isinstance(pdu, SubmitSm):
            self._on_submit(pdu, now)
        elif type(pdu) in _BIND_RESPONSES:
            self._on_bind(pdu)  # type: ignore[arg-type]
        elif isinstance(pdu, DeliverSmResp | DataSmResp):
            deliver = self._delivers.pop(pdu.sequence_number, None)
            if deliver is not None:
                self._events.append(DeliverAnswered(deliver.token, pdu.command_status))
        elif isinstance(pdu, GenericNack):
            deliver = self._delivers.pop(pdu.sequence_number, None)
            if deliver is not None:
                self._events.append(DeliverAnswered(deliver.token, pdu.command_status or 0xFF))
        elif isinstance(pdu, EnquireLink):
            self._channel.send(EnquireLinkResp(sequence_number=pdu.sequence_number))
        elif isinstance(pdu, Unbind):
            self._channel.send(UnbindResp(sequence_number=pdu.sequence_number))
            self.state = SmscState.CLOSED
            self._events.append(ClientUnbound())
            self._events.append(CloseClient("client unbound"))
        elif isinstance(pdu, UnbindResp):
            self.state = SmscState.CLOSED
            self._events.append(CloseClient("unbind answered"))

    def _on_bind(self, pdu: BindTransmitter | BindReceiver | BindTransceiver) -> None:
        response_class, bound_state = _BIND_RESPONSES[type(pdu)]
        status = (
            CommandStatus.ESME_RBINDFAIL if self.faults.refuse_binds
            else self._authenticate(pdu.system_id, pdu.password)
        )
        if status != CommandStatus.ESME_ROK:
            self._channel.send(response_class(sequence_number=pdu.sequence_number,
                                              command_status=status))
            self._events.append(BindDenied(pdu.system_id, status))
            return
        self.state = bound_state
        self.system_id = pdu.system_id
        self._channel.send(response_class(sequence_number=pdu.sequence_number,
                                          system_id=self.settings.system_id))
        self._events.append(ClientBound(pdu.system_id, bound_state.value))

    def _on_submit(self, pdu: SubmitSm, now: float) -> None:
        s = self.settings
        status = CommandStatus.ESME_ROK
        if s.tps > 0:
            slot = int(now)
            if slot != self._rate.slot:
                self._rate.slot, self._rate.count = slot, 0
            if self._rate.count >= s.tps:
                status = CommandStatus.ESME_RTHROTTLED
            else:
                self._rate.count += 1
        if status == CommandStatus.ESME_ROK and s.window > 0 and (
            self._unanswered_submits >= s.window
        ):
            status = CommandStatus.ESME_RMSGQFUL
        if status != CommandStatus.ESME_ROK:
            self._events.append(SubmitRefused(pdu, status))
            self._respond(SubmitSmResp(sequence_number=pdu.sequence_number,
                                       command_status=status), now)
            return
        message_id = self._next_message_id()
        self._events.append(SubmitReceived(pdu, message_id))
        self._respond(SubmitSmResp(sequence_number=pdu.sequence_number,
                                   message_id=message_id), now)

    def _respond(self, response: SubmitSmResp, now: float) -> None:
        faults = self.faults
        if faults.withhold_responses:
            self._unanswered_submits += 1
            return
        if faults.response_delay > 0 or self._delayed:
            self._unanswered_submits += 1
            self._delayed.append(_Pending(now + faults.response_delay, response))
            return
        self._channel.send(response)

    def _send_response(self, response: Pdu) -> None:
        self._unanswered_submits = max(0, self._unanswered_submits - 1)
        self._channel.send(response)
