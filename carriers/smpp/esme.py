"""The gateway's side of an SMPP 3.4 link, as a sans-IO state machine.

One :class:`EsmeSession` lives as long as the link and survives reconnects:
its queue of submits waits while the link is down.  The transport tells it
about connections (:meth:`connection_made`, :meth:`connection_lost`), feeds it
bytes (:meth:`receive_data`), asks it for bytes (:meth:`data_to_send`) and
calls :meth:`tick` at :meth:`next_deadline`.  Time is always an argument.

Flow control (window, TPS cap, the two lanes, backoff-and-resend on
ESME_RTHROTTLED / ESME_RMSGQFUL) is the shared :class:`~carriers.link.flow.FlowControl`;
this session adds SMPP's bind, enquire_link, unbind and PDUs.
"""

from __future__ import annotations

from dataclasses import dataclass

from carriers.link.channel import FramingLost, PeerError
from carriers.link.events import (
    BindRefused,
    Bound,
    CloseConnection,
    InboundAnswer,
    MessageReceived,
    SessionEvent,
    SubmitAccepted,
    SubmitNotSent,
    SubmitRejected,
    SubmitUnanswered,
    Throttled,
    Unbound,
)
from carriers.link.events import LinkState as EsmeState
from carriers.link.flow import FlowControl, FlowSettings, QueuedSubmit
from carriers.messages import Lane
from carriers.smpp.channel import SmppChannel, is_throttling
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

__all__ = [
    "BindRefused", "Bound", "CloseConnection", "EsmeEvent", "EsmeSession", "EsmeSettings",
    "EsmeState", "Lane", "MessageReceived", "SubmitAccepted", "SubmitNotSent",
    "SubmitRejected", "SubmitUnanswered", "Throttled", "Unbound",
]


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

    def flow(self) -> FlowSettings:
        return FlowSettings(
            window=self.window, tps=self.tps, response_timeout=self.response_timeout,
            keepalive_interval=self.enquire_link_interval,
            throttle_backoff=self.throttle_backoff,
            max_throttle_backoff=self.max_throttle_backoff,
            max_throttle_retries=self.max_throttle_retries,
        )


EsmeEvent = SessionEvent

_ANSWER_STATUS = {
    InboundAnswer.STORED: CommandStatus.ESME_ROK,
    InboundAnswer.UNREADABLE: CommandStatus.ESME_RX_P_APPN,
    InboundAnswer.NOT_STORED: CommandStatus.ESME_RX_T_APPN,
}


@dataclass(slots=True)
class _Control:
    kind: str  # "enquire_link", "bind", "unbind"
    deadline: float


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
    """Bind, keep-alive, graceful unbind and SMPP's PDUs, on the shared flow control."""

    def __init__(self, settings: EsmeSettings) -> None:
        self.settings = settings
        self.state = EsmeState.DISCONNECTED
        self._flow = FlowControl(settings.flow())
        self._control: dict[int, _Control] = {}
        self._channel = SmppChannel()
        self._connection = 0
        self._drain_deadline = 0.0
        self._events: list[EsmeEvent] = []

    # -- inputs from the transport -------------------------------------------------

    def connection_made(self, now: float) -> None:
        """A TCP connection is up: start binding."""
        self._connection += 1
        self._channel = SmppChannel()
        self._flow.give_up_in_flight()
        self._control.clear()
        self.state = EsmeState.BINDING
        self._flow.last_activity = now
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
        self._flow.last_activity = now
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
        for expired in self._flow.expired(now):
            self._events.append(SubmitUnanswered(expired.token, "response timeout"))
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
            and self._flow.keepalive_due(now)
            and not any(o.kind == "enquire_link" for o in self._control.values())
        ):
            link = self._channel.send_request(EnquireLink(sequence_number=0))
            self._control[link.sequence_number] = _Control(
                "enquire_link", now + self.settings.response_timeout
            )
            self._flow.last_activity = now
        self._pump(now)
        return self._take_events()

    def next_deadline(self) -> float | None:
        """When :meth:`tick` must next be called, or None when nothing is timed."""
        candidates = [o.deadline for o in self._control.values()]
        response = self._flow.first_response_deadline()
        if response is not None:
            candidates.append(response)
        if self.state is EsmeState.BOUND:
            candidates.extend(self._flow.deadlines(len(self._control)))
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
        token = self._flow.enqueue(frame, lane)
        self._pump(now)
        return token

    def acknowledge(
        self, received: MessageReceived, answer: InboundAnswer = InboundAnswer.STORED
    ) -> bool:
        """Answer an MO/receipt once the layer above has stored it (or failed to).

        Returns False when the connection it came on is gone: the SMSC will
        deliver it again, so nothing is lost.
        """
        if received.connection != self._connection or self.state in (
            EsmeState.DISCONNECTED, EsmeState.CLOSED,
        ):
            return False
        pdu = received.pdu
        status = _ANSWER_STATUS[answer]
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
            if not self._flow.in_flight:
                self._send_unbind(now)
        elif self.state in (EsmeState.DISCONNECTED, EsmeState.BINDING):
            self.state = EsmeState.CLOSED
            self._events.extend(self._abandon_queue())
            self._events.append(CloseConnection("shutting down"))
        return self._take_events()

    def abandon_queued(self, lane: Lane = Lane.BULK) -> list[EsmeEvent]:
        """Give up the submits of ``lane`` not written yet (a stopping sender takes them
        back): one :class:`SubmitNotSent` each. What is in flight stays in flight."""
        return [SubmitNotSent(token) for token in self._flow.take_back(lane)]

    # -- introspection ---------------------------------------------------------------

    @property
    def queued(self) -> int:
        return self._flow.queued

    @property
    def in_flight(self) -> int:
        return self._flow.in_flight

    @property
    def window(self) -> int:
        return self.settings.window

    @property
    def login_name(self) -> str:
        return self.settings.system_id

    @property
    def stop_timeout(self) -> float:
        return self.settings.unbind_timeout + self.settings.response_timeout

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
        self._flow.start(now)
        self._events.append(Bound(pdu.system_id))

    def _on_submit_resp(self, pdu: SubmitSmResp, now: float) -> None:
        item = self._flow.answered(pdu.sequence_number)
        if item is None:
            self._events.append(
                PeerError(f"submit_sm_resp for unknown sequence {pdu.sequence_number}", 0, "")
            )
            return
        self._on_submit_status(item, pdu.command_status, pdu.message_id, now)

    def _on_generic_nack(self, pdu: GenericNack, now: float) -> None:
        item = self._flow.answered(pdu.sequence_number)
        if item is not None:
            self._on_submit_status(item, pdu.command_status or 0xFF, "", now)
            return
        control = self._control.pop(pdu.sequence_number, None)
        if control is None:
            self._events.append(
                PeerError(f"generic_nack 0x{pdu.command_status:02X} for unknown request", 0, "")
            )
        elif control.kind == "bind":
            self._events.append(BindRefused(pdu.command_status))
            self._events.append(CloseConnection("bind answered with generic_nack"))

    def _on_submit_status(
        self, item: QueuedSubmit, status: int, message_id: str, now: float
    ) -> None:
        if status == CommandStatus.ESME_ROK:
            self._flow.accepted()
            self._events.append(SubmitAccepted(item.token, message_id))
            return
        if is_throttling(status):
            pause = self._flow.throttled(item, now)
            if pause is not None:
                if pause:
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
            not self._flow.in_flight or now >= self._drain_deadline
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
        return [SubmitNotSent(token) for token in self._flow.take_back_all()]

    def _give_up_in_flight(self, reason: str) -> list[EsmeEvent]:
        return [SubmitUnanswered(token, reason) for token in self._flow.give_up_in_flight()]

    def _pump(self, now: float) -> None:
        """Send queued submits as far as state, window, pause and TPS allow."""
        if self.state is not EsmeState.BOUND:
            return
        channel = self._channel

        def send(frame: bytes) -> int:
            sequence = channel.next_sequence()
            channel.send_encoded(frame, sequence)
            return sequence

        self._flow.pump(now, send, len(self._control))
