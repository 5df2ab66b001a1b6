"""The carrier's side of an SMPP 3.4 link (used by the simulator), sans-IO.

One :class:`SmscSession` per connection.  It authenticates binds and answers submits with
message ids; what every simulated carrier does (its timeouts, its own TPS and window, the
faults that delay or withhold responses, delivering MOs and receipts and noticing their
answers) is the shared :class:`~carriers.simulator.server_session.ServerSession`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from carriers.simulator.server_events import (
    BindDenied,
    ClientBound,
    ClientUnbound,
    CloseClient,
    ServerEvent,
    ServerFaults,
    ServerSettings,
    SubmitReceived,
    SubmitRefused,
)
from carriers.simulator.server_session import QUEUE_FULL, THROTTLED, ServerSession
from carriers.smpp.channel import PeerError, SmppChannel
from carriers.smpp.pdus import (
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    CommandStatus,
    DataSmResp,
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


_REFUSAL_STATUS: dict[str | None, int] = {
    THROTTLED: CommandStatus.ESME_RTHROTTLED, QUEUE_FULL: CommandStatus.ESME_RMSGQFUL,
}


class SmscSession(ServerSession):
    """One simulated SMSC connection."""

    def __init__(
        self,
        *,
        settings: SmscSettings,
        authenticate: Callable[[str, str], int],
        next_message_id: Callable[[], str],
        faults: SmscFaults | None = None,
    ) -> None:
        super().__init__(settings=settings, channel=SmppChannel(), faults=faults)
        self._authenticate = authenticate
        self._next_message_id = next_message_id
        self.state = SmscState.OPEN
        self.system_id = ""

    @property
    def can_receive(self) -> bool:
        return self.state in _CAN_RECEIVE

    def unbind(self) -> None:
        self._channel.request(Unbind(sequence_number=0))

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
            self._deliver_answered(pdu.sequence_number, pdu.command_status)
        elif isinstance(pdu, GenericNack):
            self._deliver_answered(pdu.sequence_number, pdu.command_status or 0xFF)
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
        status = _REFUSAL_STATUS.get(self._submit_refusal(now), CommandStatus.ESME_ROK)
        if status != CommandStatus.ESME_ROK:
            self._events.append(SubmitRefused(pdu, status))
            self._respond(SubmitSmResp(sequence_number=pdu.sequence_number,
                                       command_status=status), now)
            return
        message_id = self._next_message_id()
        self._events.append(SubmitReceived(pdu, message_id))
        self._respond(SubmitSmResp(sequence_number=pdu.sequence_number,
                                   message_id=message_id), now)
