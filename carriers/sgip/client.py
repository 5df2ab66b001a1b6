"""The SP's submit connection to a China Unicom SMG (SGIP 1.2, Login Type 1), sans-IO.

One :class:`SgipClientSession` lives as long as the link and survives reconnects: its queue of
submits waits while the link is down.  It is a :class:`~carriers.link.api.LinkSession` on the
shared :class:`~carriers.link.session.ClientSession` (window, TPS, lanes, throttling pause
with backoff, response timeouts, graceful stop), which it tells SGIP's login (BIND, Login Type
1), logout (UNBIND) and PDUs.  MOs and reports never come on this connection: the SMG opens
its own connection back to the SP for them (protocols.md §3.3; ``carriers.sgip.listener``).
Choices made here:

* **Message id.** SUBMIT_RESP carries none; the REPORT names the SUBMIT by its Sequence Number
  (§3.5, §3.7).  The session numbers every SUBMIT when it sends it, so the response, which
  echoes all three words, is matched on them, and :class:`SubmitAccepted` carries
  ``sequence_text`` of that number (``"3755012345-1202141030-0000000001"``).
* **Sequence Numbers** are the configured node id (``3AAAAQQQQQ`` for an SP), the SMG's wall
  time as MMDDHHMMSS (``timezone``, "Asia/Shanghai" by default, through the injected
  ``wall_clock``) and a counter that runs across reconnects.
* **No keep-alive: idle close.** SGIP has no ACTIVE_TEST; SMGs drop idle connections and an SP
  is expected to connect when it has work.  The shared keep-alive hook becomes "unbind when
  idle": after ``idle_timeout`` seconds with nothing queued, nothing in flight and nothing sent
  or received, the session sends UNBIND (as its keep-alive request).  While that UNBIND is
  out, new submits wait in the queue; its UNBIND_RESP (or ``response_timeout`` without one)
  closes the connection and the session goes back to DISCONNECTED, keeping its queue.
  :attr:`SgipClientSession.wants_connection` then says False until a submit is queued: the
  shared transport reads it and does not reconnect; it connects again when a submit queues
  work (or ``when_bound`` is asked).
* **Throttling.** SUBMIT_RESP Result 11 (node busy) and 33 (SMSC queue full) are SGIP's "not
  now" (§3.4): the submit goes back to the head of its lane and the link pauses with backoff;
  every other non-zero Result refuses the submit.
* **Login.** BIND_RESP Result 0 logs in; any other is :class:`BindRefused` and the connection
  is closed (the transport retries with its backoff).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from carriers.link.channel import PeerError
from carriers.link.events import (
    BindRefused,
    CloseConnection,
    InboundAnswer,
    LinkState,
    SessionEvent,
    Unbound,
)
from carriers.link.flow import FlowSettings
from carriers.link.session import KEEPALIVE, ClientSession
from carriers.messages import Lane
from carriers.sgip import codec
from carriers.sgip.channel import SgipChannel
from carriers.sgip.pdus import (
    SEQUENCE_OFFSET,
    Bind,
    BindResp,
    Deliver,
    DeliverResp,
    LoginType,
    Pdu,
    Report,
    ReportResp,
    Result,
    Submit,
    SubmitResp,
    Unbind,
    UnbindResp,
    result_name,
)
from carriers.sgip.sequence import (
    SEQUENCE_LENGTH,
    ZERO,
    SequenceGenerator,
    SequenceNumber,
    counter_with_reference,
    sequence_text,
    timestamp_for,
)

__all__ = [
    "INBOUND_RESULTS", "THROTTLING_RESULTS", "SgipClientSession", "SgipClientSettings",
    "inbound_answer",
]

THROTTLING_RESULTS = frozenset({Result.NODE_BUSY, Result.SMSC_QUEUE_FULL})
"""SUBMIT_RESP Results that mean "not now": resend after a pause."""

INBOUND_RESULTS: dict[InboundAnswer, int] = {
    InboundAnswer.STORED: Result.OK,
    InboundAnswer.UNREADABLE: Result.BAD_PARAMETER_FORMAT,
    InboundAnswer.NOT_STORED: Result.NODE_BUSY,
}
"""DELIVER_RESP / REPORT_RESP Result for each answer the gateway gives: stored → 0;
unreadable → 5 (bad parameter format: a permanent refusal, so the SMG does not send it again);
not stored → 11 (node busy: the one Result that says "not now", so the SMG delivers it
again)."""

_COUNTER_AT = SEQUENCE_OFFSET + SEQUENCE_LENGTH - 4
"""Where a SUBMIT's counter word sits in its header."""


def inbound_answer(pdu: Deliver | Report, answer: InboundAnswer) -> DeliverResp | ReportResp:
    """The DELIVER_RESP or REPORT_RESP for ``answer`` (:data:`INBOUND_RESULTS`)."""
    result = INBOUND_RESULTS[answer]
    if isinstance(pdu, Deliver):
        return DeliverResp(sequence=pdu.sequence, result=result)
    return ReportResp(sequence=pdu.sequence, result=result)


def _login_field(name: str, value: str) -> None:
    if not value.isascii() or len(value) > 16:
        raise ValueError(f"{name} {value!r}: at most 16 ASCII characters")


@dataclass(frozen=True, slots=True, kw_only=True)
class SgipClientSettings:
    """One SP's submit connection to the SMG: login, node id, flow control, timers."""

    login_name: str
    login_password: str
    node_id: int
    """The SP's node id, ``3AAAAQQQQQ`` (``carriers.sgip.sequence.sp_node_id``)."""
    window: int = 16
    tps: float = 100.0
    """0 lifts the cap."""
    response_timeout: float = 10.0
    idle_timeout: float = 60.0
    """Seconds with nothing to do before the session unbinds and closes the connection."""
    unbind_timeout: float = 5.0
    """How long a graceful stop waits for in-flight submits before sending UNBIND."""
    throttle_backoff: float = 1.0
    max_throttle_backoff: float = 30.0
    max_throttle_retries: int = 20
    timezone: str = "Asia/Shanghai"
    """The SMG's time zone: the MMDDHHMMSS of every Sequence Number is in it."""
    corp_id: str = ""
    """CorpId of every SUBMIT: the SP's 5-digit enterprise code."""
    service_type: str = ""
    """ServiceType of every SUBMIT (the service code the operator assigned)."""
    charge_number: str = ""
    """ChargeNumber: empty, the user pays; 21 × "0", the SP pays."""
    fee_type: int = 1
    """0 channel fee only, 1 free, 2 per message, 3 monthly."""
    fee_value: str = "0"
    """In fen."""
    given_value: str = "0"
    agent_flag: int = 0
    priority: int = 0

    def __post_init__(self) -> None:
        _login_field("login_name", self.login_name)
        _login_field("login_password", self.login_password)
        for name, width in (("corp_id", 5), ("service_type", 10), ("charge_number", 21),
                            ("fee_value", 6), ("given_value", 6)):
            value = getattr(self, name)
            if not value.isascii() or len(value) > width:
                raise ValueError(f"{name} {value!r}: at most {width} ASCII characters")
        if not 0 <= self.node_id <= 0xFFFFFFFF:
            raise ValueError(f"node_id {self.node_id}: a 32-bit number (3AAAAQQQQQ for an SP)")
        if self.idle_timeout <= 0:
            raise ValueError("idle_timeout must be positive: SGIP has no keep-alive")
        ZoneInfo(self.timezone)  # ZoneInfoNotFoundError (a KeyError) for an unknown zone

    def flow(self) -> FlowSettings:
        return FlowSettings(
            window=self.window, tps=self.tps, response_timeout=self.response_timeout,
            keepalive_interval=self.idle_timeout, throttle_backoff=self.throttle_backoff,
            max_throttle_backoff=self.max_throttle_backoff,
            max_throttle_retries=self.max_throttle_retries,
        )

    def wall_clock(self) -> Callable[[float], datetime]:
        """Reactor seconds → the SMG's local wall time."""
        zone = ZoneInfo(self.timezone)

        def wall_time(now: float) -> datetime:
            return datetime.fromtimestamp(now, zone)

        return wall_time


# What each state accepts from the peer besides the answers to what the session sends
# (``answer_classes``); anything else is a protocol error.
_ACCEPTED: dict[LinkState, frozenset[type]] = {
    LinkState.BINDING: frozenset({BindResp, Unbind}),
    LinkState.BOUND: frozenset({Unbind, UnbindResp}),
    LinkState.DRAINING: frozenset({Unbind, UnbindResp}),
    LinkState.UNBINDING: frozenset({Unbind, UnbindResp}),
}


class SgipClientSession(ClientSession):
    """BIND, idle UNBIND, UNBIND and SUBMIT on the shared client session."""

    login_request = "BIND"
    keepalive_request = "idle UNBIND"
    logout_request = "unbind"
    logged_out = "unbound"
    peer_logged_out = "the SMG unbound the session"
    login_type: int = LoginType.SP_TO_SMG
    answer_classes: frozenset[type] = frozenset({SubmitResp})
    """The responses that answer what goes through the flow control (SUBMIT_RESP here; the
    simulated SMG's connection back to the SP sends DELIVERs and REPORTs the same way)."""

    def __init__(
        self,
        settings: SgipClientSettings,
        *,
        wall_clock: Callable[[float], datetime] | None = None,
        numbers: SequenceGenerator | None = None,
    ) -> None:
        self.settings = settings
        self._wall_clock = wall_clock or settings.wall_clock()
        self.numbers = numbers or SequenceGenerator(settings.node_id)
        """Outlives connections: Sequence Numbers stay distinct across reconnects."""
        self._idle_unbind = False
        """An idle UNBIND is out: submits wait for the next connection."""
        self._idle_closed = False
        """The last connection was closed for idleness; nothing has been queued since."""
        self.idle_closes = 0
        super().__init__(settings.flow(), drain_timeout=settings.unbind_timeout,
                         keepalive_tries=1)

    def submit(self, pdu: Submit, now: float, lane: Lane = Lane.BULK) -> int:
        """Queue a SUBMIT (its Sequence Number is assigned on sending); return a token."""
        return self.submit_encoded(codec.encode(pdu), now, lane)

    @property
    def login_name(self) -> str:
        return self.settings.login_name

    @property
    def wants_connection(self) -> bool:
        """Whether a transport should (re)connect now: not after an idle close until work is
        queued, never once closed."""
        if self.state is LinkState.CLOSED:
            return False
        return not (self._idle_closed and not self.queued)

    # -- inputs (each stamps the Sequence Numbers made while handling it) ----------------

    def connection_made(self, now: float) -> None:
        self._idle_unbind = False
        self._idle_closed = False
        super().connection_made(now)

    def connection_lost(self, now: float) -> list[SessionEvent]:
        if self._idle_unbind:  # closed for idleness, answered or not
            self._idle_closed = not self.queued
        self._idle_unbind = False
        return super().connection_lost(now)

    def receive_data(self, data: bytes, now: float) -> list[SessionEvent]:
        self._stamp(now)
        return super().receive_data(data, now)

    def tick(self, now: float) -> list[SessionEvent]:
        self._stamp(now)
        if self.state is LinkState.BOUND and (self.queued or self.in_flight):
            # Not idle while there is work (waiting out a throttling pause, a full window).
            self._flow.last_activity = max(self._flow.last_activity, now)
        return super().tick(now)

    def submit_encoded(self, frame: bytes, now: float, lane: Lane = Lane.BULK) -> int:
        self._stamp(now)
        token = super().submit_encoded(frame, now, lane)
        self._idle_closed = False
        return token

    def unbind(self, now: float) -> list[SessionEvent]:
        self._stamp(now)
        return super().unbind(now)

    def next_deadline(self) -> float | None:
        if not self._idle_unbind:
            return super().next_deadline()
        # Nothing is sent while the idle UNBIND is out: only its answer is awaited.
        deadlines = [control.deadline for control in self._control.values()]
        return min(deadlines) if deadlines else None

    # -- the protocol's hooks ----------------------------------------------------------

    def _new_channel(self) -> SgipChannel:
        return SgipChannel(self.numbers)

    def _login(self, now: float) -> Bind:
        self._stamp(now)
        s = self.settings
        return Bind(sequence=ZERO, login_type=self.login_type, login_name=s.login_name,
                    login_password=s.login_password)

    def _keepalive(self) -> Unbind:
        """SGIP has no keep-alive: an idle link is unbound and closed (module docstring)."""
        self._idle_unbind = True
        return Unbind(sequence=ZERO)

    def _logout(self) -> Unbind:
        return Unbind(sequence=ZERO)

    def _answer(self, pdu: Deliver | Report, answer: InboundAnswer) -> DeliverResp | ReportResp:
        return inbound_answer(pdu, answer)

    def _pump(self, now: float) -> None:
        if not self._idle_unbind:
            super()._pump(now)

    def _send_submit(self, frame: bytes) -> int:
        """Number a SUBMIT keeping the part reference its translator wrote into the counter
        word (``carriers.sgip.sequence.counter_with_reference``)."""
        number = SequenceNumber.from_key(self._channel.next_sequence())
        written = int.from_bytes(frame[_COUNTER_AT:_COUNTER_AT + 4], "big")
        key = replace(number, counter=counter_with_reference(number.counter, written)).key()
        self._channel.send_encoded(frame, key)
        return key

    def _handle(self, pdu: Pdu, now: float) -> None:
        kind = type(pdu)
        if kind not in _ACCEPTED.get(self.state, frozenset()) and (
            self.state is LinkState.BINDING or kind not in self.answer_classes
        ):
            # Left unanswered (an SMG delivers again later) and reported.
            self._events.append(PeerError(
                f"{kind.__name__} not expected while {self.state.value}", 0, ""))
            return
        if kind in self.answer_classes:
            self._on_submit_resp(pdu, now)  # type: ignore[arg-type]
        elif isinstance(pdu, BindResp):
            self._on_bind_resp(pdu, now)
        elif isinstance(pdu, Unbind):
            self._channel.send(UnbindResp(sequence=pdu.sequence))
            self._logged_out(by_peer=True)
        elif isinstance(pdu, UnbindResp):
            kind = self._control_answered(pdu.sequence.key())
            if kind == KEEPALIVE:
                self._closed_for_idleness()
            elif kind is not None:
                self._logged_out(by_peer=False)
            else:
                self._events.append(PeerError(
                    f"UNBIND_RESP for unknown Sequence Number {pdu.sequence}", 0, ""))

    # -- internals -------------------------------------------------------------------

    def _stamp(self, now: float) -> None:
        self._channel.stamp(timestamp_for(self._wall_clock(now)))

    def _on_bind_resp(self, pdu: BindResp, now: float) -> None:
        if self._control_answered(pdu.sequence.key()) is None:
            self._events.append(PeerError(
                f"BIND_RESP for unknown Sequence Number {pdu.sequence}", 0, ""))
            return
        if pdu.result != Result.OK:
            self._events.append(BindRefused(pdu.result))
            self._events.append(CloseConnection(f"login refused: {result_name(pdu.result)}"))
            return
        self._logged_in(f"SGIP 1.2 as {self.settings.login_name}", now)

    def _on_submit_resp(self, pdu: SubmitResp | DeliverResp | ReportResp, now: float) -> None:
        result = pdu.result
        accepted = result == Result.OK
        if not self._submit_answered(
            pdu.sequence.key(), accepted=accepted, throttled=result in THROTTLING_RESULTS,
            status=result, message_id=sequence_text(pdu.sequence) if accepted else "", now=now,
        ):
            self._events.append(PeerError(
                f"{type(pdu).__name__} for unknown Sequence Number {pdu.sequence}", 0, ""))

    def _closed_for_idleness(self) -> None:
        if self.state is not LinkState.BOUND:
            return  # a graceful stop began meanwhile: its own UNBIND's answer ends it
        self.idle_closes += 1
        self._idle_closed = not self.queued
        self.state = LinkState.DISCONNECTED
        self._events.append(Unbound(by_peer=False))
        self._events.append(CloseConnection(
            f"idle for {self.settings.idle_timeout:g}s: unbound; connecting again when there "
            "is work"))
