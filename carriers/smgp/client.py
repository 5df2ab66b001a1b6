"""The gateway's side of an SMGP 3.0 link (the SP client), as a sans-IO state machine.

One :class:`SmgpClientSession` lives as long as the link and survives reconnects, like CMPP's
:class:`~carriers.cmpp.client.CmppClientSession`: the life of the session (login, keep-alive,
flow control with backoff-and-resend, graceful logout) is the shared
:class:`~carriers.link.session.ClientSession`; this session adds SMGP's login (Login),
keep-alive (Active_Test), logout (Exit) and PDUs (docs/protocols.md §4). Choices made here:

* **Login mode.** ``login_mode`` 2 (transmit: submits and Delivers on one connection) by
  default; 0 (send) and 1 (receive) are for SMGWs that want two connections.
* **Wall time.** The Login TimeStamp (MMDDHHMMSS) is hashed into the authenticator, so it is
  the SMGW's local time: ``datetime.fromtimestamp(now, ZoneInfo(settings.timezone))`` with
  "Asia/Shanghai" by default, or the injected ``wall_clock``.
* **AuthenticatorServer.** Checked on a successful Login_Resp; a mismatch is reported as a
  :class:`~carriers.link.channel.PeerError` and the session stays logged in (the SMGW has
  accepted us).
* **Throttling** (§4.8): Submit_Resp Status 1 (system busy) and 74 (SP sending window closed)
  mean "not now": the submit is re-queued, sending pauses and backs off (doubling), and it is
  resent, up to the flow control's budget.
* **Keep-alive**: after ``active_test_interval`` idle seconds an Active_Test goes out; one not
  answered within ``response_timeout`` is sent again at once, and ``active_test_tries``
  unanswered in a row close the connection.
* **Answering MOs and reports** (Deliver_Resp Status, §4.8), only once the layer above has
  stored them: stored → 0; unreadable → 10 (bad structure: permanent, the SMGW does not send
  it again); not stored → 1 (system busy: the SMGW delivers it again).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from carriers.link.events import (
    BindRefused,
    CloseConnection,
    InboundAnswer,
    LinkState,
    MessageReceived,
)
from carriers.link.flow import FlowSettings
from carriers.link.session import ClientSession
from carriers.messages import Lane
from carriers.smgp import auth, codec
from carriers.smgp.channel import PeerError, SmgpChannel
from carriers.smgp.msg_id import msg_id_text
from carriers.smgp.pdus import (
    VERSION,
    ActiveTest,
    ActiveTestResp,
    Deliver,
    DeliverResp,
    Exit,
    ExitResp,
    Login,
    LoginMode,
    LoginResp,
    Pdu,
    Status,
    Submit,
    SubmitResp,
)

__all__ = [
    "DELIVER_STATUSES", "THROTTLING_STATUSES", "SmgpClientSession", "SmgpClientSettings",
    "status_name",
]

THROTTLING_STATUSES = frozenset({Status.SYSTEM_BUSY, Status.SENDING_WINDOW_CLOSED})
"""Submit_Resp statuses that pause sending and resend the submit (see the module docstring)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SmgpClientSettings:
    """One SP's SMGP link: login, flow control, timers, and what every Submit carries."""

    client_id: str
    """The SP's login (ClientID, at most 8 ASCII characters)."""
    shared_secret: str
    login_mode: int = LoginMode.TRANSMIT
    window: int = 16
    tps: float = 100.0
    """0 lifts the cap."""
    response_timeout: float = 10.0
    active_test_interval: float = 180.0
    active_test_tries: int = 3
    exit_timeout: float = 5.0
    """How long a graceful stop waits for in-flight submits before sending Exit."""
    throttle_backoff: float = 1.0
    max_throttle_backoff: float = 30.0
    max_throttle_retries: int = 20
    timezone: str = "Asia/Shanghai"
    """The SMGW's time zone: the Login TimeStamp and the report times are in it."""
    service_id: str = ""
    """ServiceID of every Submit."""
    fee_type: str = "00"
    """"00" free, "01" per message, "02" monthly, "03" capped."""
    fee_code: str = "000000"
    fixed_fee: str = "000000"
    priority: int = 0
    charge_term_id: str = ""
    msg_src: str = ""
    """MsgSrc TLV of every Submit (the SP code), or "" to leave it out."""

    def __post_init__(self) -> None:
        if not self.client_id.isascii() or not 0 < len(self.client_id) <= 8:
            raise ValueError(f"client_id {self.client_id!r}: 1-8 ASCII characters")
        if self.login_mode not in tuple(LoginMode):
            raise ValueError(f"login_mode {self.login_mode}: 0 send, 1 receive or 2 transmit")
        if self.active_test_tries < 1:
            raise ValueError("active_test_tries must be at least 1")
        ZoneInfo(self.timezone)  # ZoneInfoNotFoundError (a KeyError) for an unknown zone

    def flow(self) -> FlowSettings:
        return FlowSettings(
            window=self.window, tps=self.tps, response_timeout=self.response_timeout,
            keepalive_interval=self.active_test_interval,
            throttle_backoff=self.throttle_backoff,
            max_throttle_backoff=self.max_throttle_backoff,
            max_throttle_retries=self.max_throttle_retries,
        )

    def wall_clock(self) -> Callable[[float], datetime]:
        """Reactor seconds → the SMGW's local wall time."""
        zone = ZoneInfo(self.timezone)

        def wall_time(now: float) -> datetime:
            return datetime.fromtimestamp(now, zone)

        return wall_time


DELIVER_STATUSES: dict[InboundAnswer, int] = {
    InboundAnswer.STORED: Status.OK,
    InboundAnswer.UNREADABLE: Status.BAD_STRUCTURE,
    InboundAnswer.NOT_STORED: Status.SYSTEM_BUSY,
}
"""Deliver_Resp Status for each answer the gateway gives (see the module docstring)."""


_WHILE_UP = frozenset({SubmitResp, Deliver, ActiveTest, ActiveTestResp, Exit})
# Which PDU classes each state accepts from the SMGW; anything else is a protocol error.
_ACCEPTED: dict[LinkState, frozenset[type]] = {
    LinkState.BINDING: frozenset({LoginResp, ActiveTest, Exit}),
    LinkState.BOUND: _WHILE_UP,
    LinkState.DRAINING: _WHILE_UP,
    LinkState.UNBINDING: _WHILE_UP | {ExitResp},
}


class SmgpClientSession(ClientSession):
    """Login, Active_Test, Exit and SMGP's PDUs on the shared client session."""

    login_request = "Login"
    keepalive_request = "Active_Test"
    logout_request = "Exit"
    logged_out = "exited"
    peer_logged_out = "the SMGW ended the session (Exit)"

    def __init__(
        self,
        settings: SmgpClientSettings,
        *,
        wall_clock: Callable[[float], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self._wall_clock = wall_clock or settings.wall_clock()
        self._authenticator_client = b""
        super().__init__(settings.flow(), drain_timeout=settings.exit_timeout,
                         keepalive_tries=settings.active_test_tries)

    def submit(self, pdu: Submit, now: float, lane: Lane = Lane.BULK) -> int:
        """Queue a Submit (its SequenceID is assigned on sending); return a token."""
        return self.submit_encoded(codec.encode(pdu), now, lane)

    @property
    def login_name(self) -> str:
        return self.settings.client_id

    # -- the protocol's hooks ----------------------------------------------------------

    def _new_channel(self) -> SmgpChannel:
        return SmgpChannel()

    def _login(self, now: float) -> Login:
        s = self.settings
        timestamp = auth.timestamp_for(self._wall_clock(now))
        self._authenticator_client = auth.authenticator_client(
            s.client_id, s.shared_secret, timestamp)
        return Login(sequence_id=0, client_id=s.client_id,
                     authenticator_client=self._authenticator_client, login_mode=s.login_mode,
                     timestamp=timestamp, client_version=VERSION)

    def _keepalive(self) -> ActiveTest:
        return ActiveTest(sequence_id=0)

    def _logout(self) -> Exit:
        return Exit(sequence_id=0)

    def _answer(self, pdu: Deliver, answer: InboundAnswer) -> DeliverResp:
        """Deliver_Resp; see :data:`DELIVER_STATUSES`."""
        return DeliverResp(sequence_id=pdu.sequence_id, msg_id=pdu.msg_id,
                           status=DELIVER_STATUSES[answer])

    def _handle(self, pdu: Pdu, now: float) -> None:
        if type(pdu) not in _ACCEPTED.get(self.state, frozenset()):
            # SMGP has no "wrong state" status: an unexpected request is left unanswered
            # (the SMGW delivers it again later), and reported.
            self._events.append(PeerError(
                f"{type(pdu).__name__} not expected while {self.state.value}", 0, ""))
            return
        if isinstance(pdu, Deliver):
            self._events.append(MessageReceived(self._connection, pdu))
        elif isinstance(pdu, SubmitResp):
            self._on_submit_resp(pdu, now)
        elif isinstance(pdu, LoginResp):
            self._on_login_resp(pdu, now)
        elif isinstance(pdu, ActiveTest):
            self._channel.send(ActiveTestResp(sequence_id=pdu.sequence_id))
        elif isinstance(pdu, ActiveTestResp):
            self._control_answered(pdu.sequence_id)
        elif isinstance(pdu, Exit):
            self._channel.send(ExitResp(sequence_id=pdu.sequence_id))
            self._logged_out(by_peer=True)
        elif isinstance(pdu, ExitResp):
            self._control_answered(pdu.sequence_id)
            self._logged_out(by_peer=False)

    # -- internals -------------------------------------------------------------------

    def _on_login_resp(self, pdu: LoginResp, now: float) -> None:
        if self._control_answered(pdu.sequence_id) is None:
            self._events.append(PeerError(
                f"Login_Resp for unknown SequenceID {pdu.sequence_id}", 0, ""))
            return
        if pdu.status != Status.OK:
            self._events.append(BindRefused(pdu.status))
            self._events.append(CloseConnection(f"login refused: {status_name(pdu.status)}"))
            return
        if not auth.authenticator_server_matches(
            pdu.authenticator_server, pdu.status, self._authenticator_client,
            self.settings.shared_secret,
        ):
            self._events.append(PeerError(
                "Login_Resp AuthenticatorServer does not match the shared secret "
                "(login accepted anyway)", 0, pdu.authenticator_server.hex()))
        peer_id = "SMGP 3.0"
        if pdu.server_version != VERSION:
            peer_id += f" (the SMGW says ServerVersion 0x{pdu.server_version:02X})"
        self._logged_in(peer_id, now)

    def _on_submit_resp(self, pdu: SubmitResp, now: float) -> None:
        status = pdu.status
        accepted = status == Status.OK
        if not self._submit_answered(
            pdu.sequence_id, accepted=accepted, throttled=status in THROTTLING_STATUSES,
            status=status, message_id=msg_id_text(pdu.msg_id) if accepted else "", now=now,
        ):
            self._events.append(PeerError(
                f"Submit_Resp for unknown SequenceID {pdu.sequence_id}", 0, ""))


_STATUS_NAMES: dict[int, str] = {
    Status.OK: "OK",
    Status.SYSTEM_BUSY: "system busy",
    Status.TOO_MANY_CONNECTIONS: "too many connections",
    Status.BAD_STRUCTURE: "bad message structure",
    Status.BAD_COMMAND: "bad command word",
    Status.DUPLICATE_SEQUENCE: "duplicate sequence number",
    Status.BAD_IP: "bad IP address",
    Status.AUTHENTICATION_FAILED: "authentication failed",
    Status.VERSION_TOO_HIGH: "version too high",
    Status.BAD_MSG_TYPE: "bad MsgType",
    Status.BAD_PRIORITY: "bad Priority",
    Status.BAD_FEE_TYPE: "bad FeeType",
    Status.BAD_FEE_CODE: "bad FeeCode",
    Status.BAD_MSG_FORMAT: "bad MsgFormat",
    Status.BAD_TIME_FORMAT: "bad time format",
    Status.BAD_MSG_LENGTH: "bad MsgLength",
    Status.EXPIRED: "expired",
    Status.BAD_QUERY_TYPE: "bad QueryType",
    Status.ROUTING_ERROR: "routing error",
    Status.BAD_FIXED_FEE: "bad FixedFee",
    Status.BAD_UPDATE_TYPE: "bad UpdateType",
    Status.BAD_ROUTE_ID: "bad RouteId",
    Status.BAD_SERVICE_ID: "bad ServiceID",
    Status.BAD_VALID_TIME: "bad ValidTime",
    Status.BAD_AT_TIME: "bad AtTime",
    Status.BAD_SRC_TERM_ID: "bad SrcTermID",
    Status.BAD_DEST_TERM_ID: "bad DestTermID",
    Status.BAD_CHARGE_TERM_ID: "bad ChargeTermID",
    Status.BAD_SP_CODE: "bad SP code",
    Status.BAD_M_SERVICE_ID: "bad MServiceID",
    Status.SENDING_WINDOW_CLOSED: "SP sending window closed",
    Status.DAILY_VOLUME_EXCEEDED: "SP daily volume exceeded",
    Status.ACCOUNT_EXPIRED: "SP account expired",
}


def status_name(status: int) -> str:
    """A Login_Resp / Submit_Resp / Deliver_Resp Status as people read it, with its number
    (§4.8: 56-72 are route-management field errors)."""
    name = _STATUS_NAMES.get(status)
    if name is None:
        name = "route management error" if 56 <= status <= 72 else "other error"
    return f"SMGP status {status} ({name})"
