"""The gateway's side of a CMPP 2.0 / 3.0 link (the SP client), as a sans-IO state machine.

One :class:`CmppClientSession` lives as long as the link and survives reconnects: its queue of
submits waits while the link is down.  It is a :class:`~carriers.link.api.LinkSession` like
SMPP's ESME: the transport tells it about connections, feeds it bytes, asks it for bytes and
calls :meth:`~CmppClientSession.tick` at :meth:`~CmppClientSession.next_deadline`.  Time is
always an argument.

The life of the session (login, keep-alive, flow control with backoff-and-resend on result 8
"flow control", graceful logout) is the shared :class:`~carriers.link.session.ClientSession`;
this session adds CMPP's login (CONNECT), keep-alive (ACTIVE_TEST), logout (TERMINATE) and
PDUs.  Choices made here:

* **Wall time.** The CONNECT carries an MMDDHHMMSS timestamp that the ISMG hashes into the
  login, so it must be the ISMG's local time.  ``now`` is the reactor's clock (seconds since
  the epoch for a real reactor); the session turns it into wall time with the injected
  ``wall_clock``, by default ``datetime.fromtimestamp(now, ZoneInfo(settings.timezone))`` with
  ``timezone`` "Asia/Shanghai" (China Standard Time, where every ISMG runs).
* **AuthenticatorISMG.** Checked on a successful CONNECT_RESP; a mismatch is reported as a
  :class:`~carriers.link.channel.PeerError` and the session stays logged in: the ISMG has
  accepted us, and ISMGs disagree on how they build it for 2.0 (docs/wire-formats.md §2.4).
* **Version.** The session speaks the version it asked for (``settings.version``), in both
  directions: the translator encodes submits for it ahead of time.  CONNECT_RESP's Version is
  the ISMG's highest; when that is lower than asked, :class:`Bound` says so in its ``peer_id``
  (configure ``version = 0x20`` for such an ISMG if its submits then fail).
* **Keep-alive** (spec: C = 3 min idle, N = 3): after ``active_test_interval`` seconds with
  nothing sent or received, an ACTIVE_TEST goes out; one not answered within
  ``response_timeout`` is sent again at once, and ``active_test_tries`` unanswered in a row
  close the connection.  An answer resets the count.
* **Answering MOs and reports** (DELIVER_RESP Result, docs/wire-formats.md §2.6): stored → 0;
  unreadable → 1 (bad message structure: the nearest permanent refusal the table has, so the
  ISMG does not send it again); not stored → 8 (flow control: the one result that says "not
  now", so the ISMG delivers it again, as SMPP's ESME_RX_T_APPN asks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from carriers.cmpp import auth, codec
from carriers.cmpp.channel import CmppChannel, PeerError
from carriers.cmpp.msg_id import msg_id_text
from carriers.cmpp.pdus import (
    ActiveTest,
    ActiveTestResp,
    Connect,
    ConnectResp,
    ConnectStatus,
    Deliver,
    DeliverResp,
    Pdu,
    Submit,
    SubmitResp,
    SubmitResult,
    Terminate,
    TerminateResp,
)
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

__all__ = [
    "DELIVER_RESULTS", "CmppClientSession", "CmppClientSettings", "connect_status_name",
    "version_text",
]

_SUPPORTED_VERSIONS = (0x20, 0x30)


def version_text(version: int) -> str:
    """``0x30`` → ``"3.0"``."""
    return f"{version >> 4}.{version & 0x0F}"


@dataclass(frozen=True, slots=True, kw_only=True)
class CmppClientSettings:
    """One SP's CMPP link: login, flow control, timers, and what every SUBMIT carries."""

    source_addr: str
    """The SP code (SP_Id, 6 digits): the login, and every SUBMIT's Msg_src."""
    shared_secret: str
    version: int = 0x30
    """0x30 (CMPP 3.0) or 0x20 (CMPP 2.0)."""
    window: int = 16
    tps: float = 100.0
    """0 lifts the cap."""
    response_timeout: float = 10.0
    active_test_interval: float = 180.0
    """Idle seconds before an ACTIVE_TEST (spec: C = 3 minutes)."""
    active_test_tries: int = 3
    """Unanswered ACTIVE_TESTs in a row that close the connection (spec: N = 3)."""
    terminate_timeout: float = 5.0
    """How long a graceful stop waits for in-flight submits before sending TERMINATE."""
    throttle_backoff: float = 1.0
    max_throttle_backoff: float = 30.0
    max_throttle_retries: int = 20
    timezone: str = "Asia/Shanghai"
    """The ISMG's time zone: the CONNECT timestamp and the report times are in it."""
    service_id: str = ""
    """Service_Id of every SUBMIT (the business code the operator assigned)."""
    fee_user_type: int = 0
    fee_type: str = "01"
    """"01" free, "02" per message, "03" monthly."""
    fee_code: str = "000000"
    """In fen."""
    msg_level: int = 0

    def __post_init__(self) -> None:
        if self.version not in _SUPPORTED_VERSIONS:
            raise ValueError(f"CMPP version 0x{self.version:02X}: use 0x30 (3.0) or 0x20 (2.0)")
        if not self.source_addr.isascii() or not 0 < len(self.source_addr) <= 6:
            raise ValueError(f"source_addr {self.source_addr!r}: the SP code, 1-6 ASCII characters")
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
        """Reactor seconds → the ISMG's local wall time."""
        zone = ZoneInfo(self.timezone)

        def wall_time(now: float) -> datetime:
            return datetime.fromtimestamp(now, zone)

        return wall_time


DELIVER_RESULTS: dict[InboundAnswer, int] = {
    InboundAnswer.STORED: SubmitResult.OK,
    InboundAnswer.UNREADABLE: SubmitResult.BAD_STRUCTURE,
    InboundAnswer.NOT_STORED: SubmitResult.FLOW_CONTROL,
}
"""DELIVER_RESP Result for each answer the gateway gives (see the module docstring)."""


# Which PDU classes each state accepts from the ISMG; anything else is a protocol error.
_ACCEPTED: dict[LinkState, frozenset[type]] = {
    LinkState.BINDING: frozenset({ConnectResp, ActiveTest, Terminate}),
    LinkState.BOUND: frozenset({
        SubmitResp, Deliver, ActiveTest, ActiveTestResp, Terminate,
    }),
    LinkState.DRAINING: frozenset({
        SubmitResp, Deliver, ActiveTest, ActiveTestResp, Terminate,
    }),
    LinkState.UNBINDING: frozenset({
        TerminateResp, SubmitResp, Deliver, ActiveTest, ActiveTestResp, Terminate,
    }),
}


class CmppClientSession(ClientSession):
    """CONNECT, ACTIVE_TEST, TERMINATE and CMPP's PDUs on the shared client session."""

    login_request = "CONNECT"
    keepalive_request = "ACTIVE_TEST"
    logout_request = "terminate"
    logged_out = "terminated"
    peer_logged_out = "the ISMG terminated the session"

    def __init__(
        self,
        settings: CmppClientSettings,
        *,
        wall_clock: Callable[[float], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self._wall_clock = wall_clock or settings.wall_clock()
        self._authenticator_source = b""
        super().__init__(settings.flow(), drain_timeout=settings.terminate_timeout,
                         keepalive_tries=settings.active_test_tries)

    def submit(self, pdu: Submit, now: float, lane: Lane = Lane.BULK) -> int:
        """Queue a SUBMIT (its Sequence_Id is assigned on sending); return a token."""
        return self.submit_encoded(codec.encode(pdu, self.settings.version), now, lane)

    @property
    def login_name(self) -> str:
        return self.settings.source_addr

    # -- the protocol's hooks ----------------------------------------------------------

    def _new_channel(self) -> CmppChannel:
        return CmppChannel(self.settings.version)

    def _login(self, now: float) -> Connect:
        s = self.settings
        timestamp = auth.timestamp_for(self._wall_clock(now))
        self._authenticator_source = auth.authenticator_source(
            s.source_addr, s.shared_secret, timestamp)
        return Connect(sequence_id=0, source_addr=s.source_addr,
                       authenticator_source=self._authenticator_source, version=s.version,
                       timestamp=timestamp)

    def _keepalive(self) -> ActiveTest:
        return ActiveTest(sequence_id=0)

    def _logout(self) -> Terminate:
        return Terminate(sequence_id=0)

    def _answer(self, pdu: Deliver, answer: InboundAnswer) -> DeliverResp:
        """DELIVER_RESP; see :data:`DELIVER_RESULTS`."""
        return DeliverResp(sequence_id=pdu.sequence_id, msg_id=pdu.msg_id,
                           result=DELIVER_RESULTS[answer])

    def _handle(self, pdu: Pdu, now: float) -> None:
        if type(pdu) not in _ACCEPTED.get(self.state, frozenset()):
            # CMPP has no "wrong state" result: an unexpected request is left unanswered
            # (the ISMG sends a DELIVER again later), and reported.
            self._events.append(PeerError(
                f"{type(pdu).__name__} not expected while {self.state.value}", 0, ""))
            return
        if isinstance(pdu, Deliver):
            self._events.append(MessageReceived(self._connection, pdu))
        elif isinstance(pdu, SubmitResp):
            self._on_submit_resp(pdu, now)
        elif isinstance(pdu, ConnectResp):
            self._on_connect_resp(pdu, now)
        elif isinstance(pdu, ActiveTest):
            self._channel.send(ActiveTestResp(sequence_id=pdu.sequence_id))
        elif isinstance(pdu, ActiveTestResp):
            self._control_answered(pdu.sequence_id)
        elif isinstance(pdu, Terminate):
            self._channel.send(TerminateResp(sequence_id=pdu.sequence_id))
            self._logged_out(by_peer=True)
        elif isinstance(pdu, TerminateResp):
            self._control_answered(pdu.sequence_id)
            self._logged_out(by_peer=False)

    # -- internals -------------------------------------------------------------------

    def _on_connect_resp(self, pdu: ConnectResp, now: float) -> None:
        if self._control_answered(pdu.sequence_id) is None:
            self._events.append(PeerError(
                f"CONNECT_RESP for unknown Sequence_Id {pdu.sequence_id}", 0, ""))
            return
        s = self.settings
        if pdu.status != ConnectStatus.OK:
            self._events.append(BindRefused(pdu.status))
            reason = f"login refused: {connect_status_name(pdu.status)}"
            self._events.append(CloseConnection(reason))
            return
        if not auth.authenticator_ismg_matches(
            pdu.authenticator_ismg, pdu.status, self._authenticator_source, s.shared_secret,
            s.version,
        ):
            self._events.append(PeerError(
                "CONNECT_RESP AuthenticatorISMG does not match the shared secret "
                "(login accepted anyway)", 0, pdu.authenticator_ismg.hex()))
        peer_id = f"CMPP {version_text(s.version)}"
        if pdu.version < s.version:
            peer_id += (f" (the ISMG's highest version is {version_text(pdu.version)}; "
                        f"speaking {version_text(s.version)} as asked)")
        self._logged_in(peer_id, now)

    def _on_submit_resp(self, pdu: SubmitResp, now: float) -> None:
        result = pdu.result
        accepted = result == SubmitResult.OK
        if not self._submit_answered(
            pdu.sequence_id, accepted=accepted, throttled=result == SubmitResult.FLOW_CONTROL,
            status=result, message_id=msg_id_text(pdu.msg_id) if accepted else "", now=now,
        ):
            self._events.append(PeerError(
                f"SUBMIT_RESP for unknown Sequence_Id {pdu.sequence_id}", 0, ""))


_CONNECT_STATUS_NAMES = {
    ConnectStatus.OK: "OK",
    ConnectStatus.BAD_STRUCTURE: "bad message structure",
    ConnectStatus.BAD_SOURCE_ADDRESS: "illegal source address",
    ConnectStatus.AUTHENTICATION_FAILED: "authentication failed",
    ConnectStatus.VERSION_TOO_HIGH: "version too high",
}


def connect_status_name(status: int) -> str:
    """A CONNECT_RESP Status as people read it, with its number."""
    return f"CONNECT status {status} ({_CONNECT_STATUS_NAMES.get(status, 'other error')})"
