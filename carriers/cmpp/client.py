"""The gateway's side of a CMPP 2.0 / 3.0 link (the SP client), as a sans-IO state machine.

One :class:`CmppClientSession` lives as long as the link and survives reconnects: its queue of
submits waits while the link is down.  It is a :class:`~carriers.link.api.LinkSession` like
SMPP's ESME: the transport tells it about connections, feeds it bytes, asks it for bytes and
calls :meth:`~CmppClientSession.tick` at :meth:`~CmppClientSession.next_deadline`.  Time is
always an argument.

Flow control (window, TPS cap, the two lanes, backoff-and-resend on result 8 "flow control")
is the shared :class:`~carriers.link.flow.FlowControl`; this session adds CMPP's login
(CONNECT), keep-alive (ACTIVE_TEST), logout (TERMINATE) and PDUs.  Choices made here:

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
from carriers.cmpp.channel import CmppChannel, FramingLost, PeerError
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
    Bound,
    CloseConnection,
    InboundAnswer,
    LinkState,
    MessageReceived,
    SessionEvent,
    SubmitAccepted,
    SubmitNotSent,
    SubmitRejected,
    SubmitUnanswered,
    Throttled,
    Unbound,
)
from carriers.link.flow import FlowControl, FlowSettings, QueuedSubmit
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


@dataclass(slots=True)
class _Control:
    kind: str  # "connect", "active_test", "terminate"
    deadline: float


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


class CmppClientSession:
    """CONNECT, ACTIVE_TEST, graceful TERMINATE and CMPP's PDUs, on the shared flow control."""

    def __init__(
        self,
        settings: CmppClientSettings,
        *,
        wall_clock: Callable[[float], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.state = LinkState.DISCONNECTED
        self._wall_clock = wall_clock or settings.wall_clock()
        self._flow = FlowControl(settings.flow())
        self._control: dict[int, _Control] = {}
        self._channel = CmppChannel(settings.version)
        self._connection = 0
        self._drain_deadline = 0.0
        self._authenticator_source = b""
        self._missed_active_tests = 0
        self._events: list[SessionEvent] = []

    # -- inputs from the transport -------------------------------------------------

    def connection_made(self, now: float) -> None:
        """A TCP connection is up: log in with CMPP_CONNECT."""
        self._connection += 1
        s = self.settings
        self._channel = CmppChannel(s.version)
        self._flow.give_up_in_flight()
        self._control.clear()
        self._missed_active_tests = 0
        self.state = LinkState.BINDING
        self._flow.last_activity = now
        timestamp = auth.timestamp_for(self._wall_clock(now))
        self._authenticator_source = auth.authenticator_source(
            s.source_addr, s.shared_secret, timestamp)
        connect = self._channel.send_request(Connect(
            sequence_id=0, source_addr=s.source_addr,
            authenticator_source=self._authenticator_source, version=s.version,
            timestamp=timestamp,
        ))
        self._control[connect.sequence_id] = _Control("connect", now + s.response_timeout)

    def connection_lost(self, now: float) -> list[SessionEvent]:
        """The connection is gone; unanswered submits are reported, queued ones wait."""
        events = self._take_events()
        events.extend(self._give_up_in_flight("connection lost"))
        self._control.clear()
        if self.state in (LinkState.DRAINING, LinkState.UNBINDING, LinkState.CLOSED):
            self.state = LinkState.CLOSED
            events.extend(self._abandon_queue())
        else:
            self.state = LinkState.DISCONNECTED
        return events

    def receive_data(self, data: bytes, now: float) -> list[SessionEvent]:
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

    def tick(self, now: float) -> list[SessionEvent]:
        """Handle timeouts and keep-alives due at ``now``; release queued submits."""
        for expired in self._flow.expired(now):
            self._events.append(SubmitUnanswered(expired.token, "response timeout"))
        probe_again = False
        link_dead = False
        for sequence, outstanding in list(self._control.items()):
            if outstanding.deadline > now:
                continue
            del self._control[sequence]
            if outstanding.kind == "active_test":
                self._missed_active_tests += 1
                if self._missed_active_tests >= self.settings.active_test_tries:
                    link_dead = True
                    self._events.append(CloseConnection(
                        f"{self._missed_active_tests} ACTIVE_TESTs in a row not answered"))
                else:
                    probe_again = True
            elif outstanding.kind == "connect":
                self._events.append(CloseConnection("CONNECT not answered"))
            elif outstanding.kind == "terminate":
                self._finish_terminate(by_peer=False)
        self._finish_draining(now)
        if (
            self.state is LinkState.BOUND
            and not link_dead
            and (probe_again or self._flow.keepalive_due(now))
            and not any(o.kind == "active_test" for o in self._control.values())
        ):
            probe = self._channel.send_request(ActiveTest(sequence_id=0))
            self._control[probe.sequence_id] = _Control(
                "active_test", now + self.settings.response_timeout)
            self._flow.last_activity = now
        self._pump(now)
        return self._take_events()

    def next_deadline(self) -> float | None:
        """When :meth:`tick` must next be called, or None when nothing is timed."""
        candidates = [o.deadline for o in self._control.values()]
        response = self._flow.first_response_deadline()
        if response is not None:
            candidates.append(response)
        if self.state is LinkState.BOUND:
            candidates.extend(self._flow.deadlines(len(self._control)))
        if self.state is LinkState.DRAINING:
            candidates.append(self._drain_deadline)
        return min(candidates) if candidates else None

    def data_to_send(self) -> bytes:
        return self._channel.data_to_send()

    # -- inputs from the layer above -----------------------------------------------

    def submit(self, pdu: Submit, now: float, lane: Lane = Lane.BULK) -> int:
        """Queue a SUBMIT (its Sequence_Id is assigned on sending); return a token."""
        return self.submit_encoded(codec.encode(pdu, self.settings.version), now, lane)

    def submit_encoded(self, frame: bytes, now: float, lane: Lane = Lane.BULK) -> int:
        """Queue an already encoded SUBMIT (e.g. from a ``SubmitTemplate``) of this version."""
        if self.state in (LinkState.CLOSED, LinkState.DRAINING, LinkState.UNBINDING):
            raise RuntimeError("the link is shutting down; no new submits")
        token = self._flow.enqueue(frame, lane)
        self._pump(now)
        return token

    def acknowledge(
        self, received: MessageReceived, answer: InboundAnswer = InboundAnswer.STORED
    ) -> bool:
        """Answer an MO or report with DELIVER_RESP once the layer above has stored it (or
        failed to); see :data:`DELIVER_RESULTS`.

        Returns False when the connection it came on is gone: the ISMG will deliver it
        again, so nothing is lost.
        """
        if received.connection != self._connection or self.state in (
            LinkState.DISCONNECTED, LinkState.CLOSED,
        ):
            return False
        pdu: Deliver = received.pdu
        self._channel.send(DeliverResp(sequence_id=pdu.sequence_id, msg_id=pdu.msg_id,
                                       result=DELIVER_RESULTS[answer]))
        return True

    def unbind(self, now: float) -> list[SessionEvent]:
        """Start a graceful stop: no new submits, wait for responses, then TERMINATE."""
        if self.state is LinkState.BOUND:
            self.state = LinkState.DRAINING
            self._drain_deadline = now + self.settings.terminate_timeout
            if not self._flow.in_flight:
                self._send_terminate(now)
        elif self.state in (LinkState.DISCONNECTED, LinkState.BINDING):
            self.state = LinkState.CLOSED
            self._events.extend(self._abandon_queue())
            self._events.append(CloseConnection("shutting down"))
        return self._take_events()

    def abandon_queued(self, lane: Lane = Lane.BULK) -> list[SessionEvent]:
        """Give up the submits of ``lane`` not written yet: one :class:`SubmitNotSent` each.
        What is in flight stays in flight."""
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
        return self.settings.source_addr

    @property
    def stop_timeout(self) -> float:
        return self.settings.terminate_timeout + self.settings.response_timeout

    @property
    def is_bound(self) -> bool:
        return self.state is LinkState.BOUND

    # -- internals -------------------------------------------------------------------

    def _take_events(self) -> list[SessionEvent]:
        events, self._events = self._events, []
        return events

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
            if self._control.pop(pdu.sequence_id, None) is not None:
                self._missed_active_tests = 0
        elif isinstance(pdu, Terminate):
            self._channel.send(TerminateResp(sequence_id=pdu.sequence_id))
            self._finish_terminate(by_peer=True)
        elif isinstance(pdu, TerminateResp):
            self._control.pop(pdu.sequence_id, None)
            self._finish_terminate(by_peer=False)

    def _on_connect_resp(self, pdu: ConnectResp, now: float) -> None:
        if self._control.pop(pdu.sequence_id, None) is None:
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
        self.state = LinkState.BOUND
        self._flow.start(now)
        peer_id = f"CMPP {version_text(s.version)}"
        if pdu.version < s.version:
            peer_id += (f" (the ISMG's highest version is {version_text(pdu.version)}; "
                        f"speaking {version_text(s.version)} as asked)")
        self._events.append(Bound(peer_id))

    def _on_submit_resp(self, pdu: SubmitResp, now: float) -> None:
        item = self._flow.answered(pdu.sequence_id)
        if item is None:
            self._events.append(PeerError(
                f"SUBMIT_RESP for unknown Sequence_Id {pdu.sequence_id}", 0, ""))
            return
        self._on_submit_result(item, pdu, now)

    def _on_submit_result(self, item: QueuedSubmit, pdu: SubmitResp, now: float) -> None:
        result = pdu.result
        if result == SubmitResult.OK:
            self._flow.accepted()
            self._events.append(SubmitAccepted(item.token, msg_id_text(pdu.msg_id)))
            return
        if result == SubmitResult.FLOW_CONTROL:
            pause = self._flow.throttled(item, now)
            if pause is not None:
                if pause:
                    self._events.append(Throttled(result, pause))
                return
        self._events.append(SubmitRejected(item.token, result))

    def _finish_terminate(self, *, by_peer: bool) -> None:
        self._events.extend(self._give_up_in_flight("terminated"))
        self._control.clear()
        if by_peer and self.state in (LinkState.BOUND, LinkState.BINDING):
            self.state = LinkState.DISCONNECTED
            self._events.append(Unbound(by_peer=True))
            self._events.append(CloseConnection("the ISMG terminated the session"))
            return
        self.state = LinkState.CLOSED
        self._events.extend(self._abandon_queue())
        self._events.append(Unbound(by_peer=by_peer))
        self._events.append(CloseConnection("terminated"))

    def _finish_draining(self, now: float) -> None:
        """TERMINATE once the last response is in, or when the drain time is up."""
        if self.state is LinkState.DRAINING and (
            not self._flow.in_flight or now >= self._drain_deadline
        ):
            self._send_terminate(now)

    def _send_terminate(self, now: float) -> None:
        self.state = LinkState.UNBINDING
        self._events.extend(self._give_up_in_flight("terminate timeout"))
        terminate = self._channel.send_request(Terminate(sequence_id=0))
        self._control[terminate.sequence_id] = _Control(
            "terminate", now + self.settings.response_timeout)

    def _abandon_queue(self) -> list[SessionEvent]:
        return [SubmitNotSent(token) for token in self._flow.take_back_all()]

    def _give_up_in_flight(self, reason: str) -> list[SessionEvent]:
        return [SubmitUnanswered(token, reason) for token in self._flow.give_up_in_flight()]

    def _pump(self, now: float) -> None:
        """Send queued submits as far as state, window, pause and TPS allow."""
        if self.state is not LinkState.BOUND:
            return
        channel = self._channel

        def send(frame: bytes) -> int:
            sequence = channel.next_sequence()
            channel.send_encoded(frame, sequence)
            return sequence

        self._flow.pump(now, send, len(self._control))


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
