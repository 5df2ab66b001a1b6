"""The gateway's side of an SMPP 3.4 link, as a sans-IO state machine.

One :class:`EsmeSession` lives as long as the link and survives reconnects:
its queue of submits waits while the link is down.  The transport tells it
about connections (:meth:`connection_made`, :meth:`connection_lost`), feeds it
bytes (:meth:`receive_data`), asks it for bytes (:meth:`data_to_send`) and
calls :meth:`tick` at :meth:`next_deadline`.  Time is always an argument.

The life of the session (login, keep-alive, flow control with backoff-and-resend on
ESME_RTHROTTLED / ESME_RMSGQFUL, graceful logout) is the shared
:class:`~carriers.link.session.ClientSession`; this session adds SMPP's bind, enquire_link,
unbind and PDUs.
"""

from __future__ import annotations

from dataclasses import dataclass

from carriers.link.channel import PeerError
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
from carriers.link.flow import FlowSettings
from carriers.link.session import LOGIN, LOGOUT, ClientSession
from carriers.messages import Lane
from carriers.smpp.channel import SmppChannel, is_throttling
from carriers.smpp.codec import encode, encode_deliver_sm_resp
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
_ANSWER_CODE = {answer: int(status) for answer, status in _ANSWER_STATUS.items()}


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


class EsmeSession(ClientSession):
    """SMPP's bind_transceiver, enquire_link, unbind and PDUs on the shared client session."""

    login_request = "bind"
    keepalive_request = "enquire_link"
    logout_request = "unbind"
    logged_out = "unbound"
    peer_logged_out = "peer unbound"

    def __init__(self, settings: EsmeSettings) -> None:
        self.settings = settings
        super().__init__(settings.flow(), drain_timeout=settings.unbind_timeout)

    def submit(self, pdu: SubmitSm, now: float, lane: Lane = Lane.BULK) -> int:
        """Queue a submit_sm (its sequence number is assigned on sending); return a token."""
        return self.submit_encoded(encode(pdu), now, lane)

    @property
    def login_name(self) -> str:
        return self.settings.system_id

    # -- the protocol's hooks ----------------------------------------------------------

    def _new_channel(self) -> SmppChannel:
        return SmppChannel()

    def _login(self, now: float) -> BindTransceiver:
        s = self.settings
        return BindTransceiver(sequence_number=0, system_id=s.system_id, password=s.password,
                               system_type=s.system_type)

    def _keepalive(self) -> EnquireLink:
        return EnquireLink(sequence_number=0)

    def _logout(self) -> Unbind:
        return Unbind(sequence_number=0)

    def _answer(self, pdu: DeliverSm | DataSm, answer: InboundAnswer) -> Pdu:
        status = _ANSWER_STATUS[answer]
        if isinstance(pdu, DataSm):
            return DataSmResp(sequence_number=pdu.sequence_number, command_status=status)
        return DeliverSmResp(sequence_number=pdu.sequence_number, command_status=status)

    def _send_answer(self, pdu: DeliverSm | DataSm, answer: InboundAnswer) -> None:
        if isinstance(pdu, DataSm):
            super()._send_answer(pdu, answer)
            return
        self._channel.send_raw(encode_deliver_sm_resp(pdu.sequence_number,
                                                      _ANSWER_CODE[answer]))

    def _handle(self, pdu: Pdu, now: float) -> None:
        accepted = _ACCEPTED.get(self.state, frozenset())
        if type(pdu) not in accepted:
            self._reject_unexpected(pdu)
            return
        if isinstance(pdu, DeliverSm | DataSm):
            self._events.append(MessageReceived(self._connection, pdu))
        elif isinstance(pdu, SubmitSmResp):
            self._on_submit_status(pdu.sequence_number, pdu.command_status, pdu.message_id,
                                   now, "submit_sm_resp")
        elif isinstance(pdu, BindTransceiverResp):
            self._on_bind_resp(pdu, now)
        elif isinstance(pdu, EnquireLink):
            self._channel.send(EnquireLinkResp(sequence_number=pdu.sequence_number))
        elif isinstance(pdu, EnquireLinkResp):
            self._control_answered(pdu.sequence_number)
        elif isinstance(pdu, Unbind):
            self._channel.send(UnbindResp(sequence_number=pdu.sequence_number))
            self._logged_out(by_peer=True)
        elif isinstance(pdu, UnbindResp):
            self._control_answered(pdu.sequence_number)
            self._logged_out(by_peer=False)
        elif isinstance(pdu, GenericNack):
            self._on_generic_nack(pdu, now)

    # -- internals -------------------------------------------------------------------

    def _reject_unexpected(self, pdu: Pdu) -> None:
        command_id = type(pdu).command_id
        reason = f"{type(pdu).__name__} not allowed while {self.state.value}"
        if not command_id & 0x80000000:
            self._channel.send(
                response_for(pdu, command_status=CommandStatus.ESME_RINVBNDSTS)
            )
        self._events.append(PeerError(reason, CommandStatus.ESME_RINVBNDSTS, ""))

    def _on_bind_resp(self, pdu: BindTransceiverResp, now: float) -> None:
        if self._control_answered(pdu.sequence_number) is None:
            return
        if pdu.command_status != CommandStatus.ESME_ROK:
            self._events.append(BindRefused(pdu.command_status))
            reason = f"bind refused (status 0x{pdu.command_status:02X})"
            self._events.append(CloseConnection(reason))
            return
        self._logged_in(pdu.system_id, now)

    def _on_submit_status(
        self, sequence: int, status: int, message_id: str, now: float, answered_by: str
    ) -> bool:
        found = self._submit_answered(
            sequence, accepted=status == CommandStatus.ESME_ROK,
            throttled=is_throttling(status), status=status, message_id=message_id, now=now)
        if not found and answered_by == "submit_sm_resp":
            self._events.append(
                PeerError(f"submit_sm_resp for unknown sequence {sequence}", 0, ""))
        return found

    def _on_generic_nack(self, pdu: GenericNack, now: float) -> None:
        sequence = pdu.sequence_number
        if self._on_submit_status(sequence, pdu.command_status or 0xFF, "", now,
                                  "generic_nack"):
            return
        kind = self._control_answered(sequence)
        if kind is None:
            self._events.append(
                PeerError(f"generic_nack 0x{pdu.command_status:02X} for unknown request", 0, ""))
        elif kind == LOGIN:
            self._events.append(BindRefused(pdu.command_status))
            self._events.append(CloseConnection("bind answered with generic_nack"))
        elif kind == LOGOUT:
            self._logged_out(by_peer=False)
