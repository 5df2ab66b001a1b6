"""The SP's side of the SMG's connection back to it (SGIP 1.2, Login Type 2), sans-IO.

In SGIP the SMG is the TCP client for MOs and reports: it connects to a server the SP runs,
binds with the name and password the SP gave it, and sends DELIVERs (MOs) and REPORTs
(protocols.md §3.3).  One :class:`SgipListenerSession` serves one such connection: the
listening service (Twisted) makes one per accepted connection, numbers them, feeds it bytes
and clock ticks, hands :class:`~carriers.link.events.MessageReceived` up and calls
:meth:`SgipListenerSession.acknowledge` once the message is stored.  Time is always an
argument.  Choices made here:

* **Login** (BIND_RESP Result, §3.4): a Login Type other than 2 → 4 (bad login type); a Login
  Name or password other than the configured pair → 1 (illegal login); either is followed by
  :class:`PeerBindRefused` and :class:`~carriers.link.events.CloseConnection`.  Accepted:
  Result 0 and :class:`PeerBound`.  A second BIND on a bound connection → 2 (repeated login),
  and the connection stays.
* **Before the BIND** nothing else is taken: any other PDU (or one that cannot be read) is
  reported and the connection is closed without an answer, so the SMG keeps the message and
  delivers it again once bound.  An SMG that connects and does not bind within
  ``bind_timeout`` is dropped.
* **DELIVER and REPORT** become :class:`~carriers.link.events.MessageReceived` and are
  answered only by :meth:`~SgipListenerSession.acknowledge`, after the layer above has stored
  them (or failed to): Result 0 stored, 5 unreadable (a permanent refusal), 11 not stored
  (node busy: the SMG delivers it again) — ``carriers.sgip.client.INBOUND_RESULTS``.  A DELIVER
  or REPORT that cannot be decoded is answered at once with the codec's Result (8 or 5).
* **A REPORT's key** is its SubmitSequenceNumber: ``sequence_text`` of it is the message id
  the submit connection reported when the SUBMIT was accepted.
* **Closing.** The SMG's UNBIND is answered and the connection closed.  :meth:`unbind` (the SP
  stopping) sends UNBIND and closes on its answer or after ``unbind_timeout``.  A bound
  connection with no PDU for ``idle_timeout`` seconds is closed (0 = never): SMGs unbind idle
  connections themselves, this only bounds a peer that vanished silently.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from carriers.link.channel import FramingLost, PeerError
from carriers.link.events import CloseConnection, InboundAnswer, MessageReceived, Unbound
from carriers.sgip.channel import SgipChannel
from carriers.sgip.client import inbound_answer
from carriers.sgip.pdus import (
    Bind,
    BindResp,
    Deliver,
    LoginType,
    Pdu,
    Report,
    Result,
    Unbind,
    UnbindResp,
)
from carriers.sgip.sequence import ZERO, SequenceGenerator, timestamp_for

__all__ = [
    "ListenerEvent", "ListenerState", "PeerBindRefused", "PeerBound", "SgipListenerSession",
    "SgipListenerSettings",
]


@dataclass(frozen=True, slots=True)
class PeerBound:
    """The SMG logged in on this connection."""

    login_name: str


@dataclass(frozen=True, slots=True)
class PeerBindRefused:
    """The SMG's BIND was refused with ``result`` (the connection is being closed)."""

    login_name: str
    result: int


ListenerEvent = (
    PeerBound | PeerBindRefused | MessageReceived | Unbound | CloseConnection | PeerError
)


class ListenerState(enum.Enum):
    OPEN = "open"
    """Connected; no BIND accepted yet."""
    BOUND = "bound"
    UNBINDING = "unbinding"
    """Our UNBIND is out."""
    CLOSED = "closed"


@dataclass(frozen=True, slots=True, kw_only=True)
class SgipListenerSettings:
    """What the SMG must log in with, and the listener's timers."""

    login_name: str
    """The name the SP gave the SMG (its BIND, Login Type 2)."""
    login_password: str
    node_id: int
    """The SP's node id: it numbers the listener's own UNBIND."""
    bind_timeout: float = 10.0
    idle_timeout: float = 600.0
    """Close a bound connection with no PDU for this long (0 = never)."""
    unbind_timeout: float = 5.0
    timezone: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        for name in ("login_name", "login_password"):
            value = getattr(self, name)
            if not value.isascii() or len(value) > 16:
                raise ValueError(f"{name} {value!r}: at most 16 ASCII characters")
        if not 0 <= self.node_id <= 0xFFFFFFFF:
            raise ValueError(f"node_id {self.node_id}: a 32-bit number")
        if self.bind_timeout <= 0:
            raise ValueError("bind_timeout must be positive")
        ZoneInfo(self.timezone)

    def wall_clock(self) -> Callable[[float], datetime]:
        zone = ZoneInfo(self.timezone)

        def wall_time(now: float) -> datetime:
            return datetime.fromtimestamp(now, zone)

        return wall_time


# Which PDU classes each state accepts from the SMG.
_ACCEPTED: dict[ListenerState, frozenset[type]] = {
    ListenerState.OPEN: frozenset({Bind}),
    ListenerState.BOUND: frozenset({Bind, Deliver, Report, Unbind, UnbindResp}),
    ListenerState.UNBINDING: frozenset({Deliver, Report, Unbind, UnbindResp}),
}


class SgipListenerSession:
    """One SMG → SP connection: the SMG's BIND, its DELIVERs and REPORTs, and UNBIND."""

    def __init__(
        self,
        settings: SgipListenerSettings,
        *,
        connection: int = 1,
        wall_clock: Callable[[float], datetime] | None = None,
        numbers: SequenceGenerator | None = None,
    ) -> None:
        """``connection`` tells this connection's MessageReceived apart from other
        connections' (the listening service numbers them)."""
        self.settings = settings
        self.connection = connection
        self._wall_clock = wall_clock or settings.wall_clock()
        self._channel = SgipChannel(numbers or SequenceGenerator(settings.node_id))
        self.state = ListenerState.OPEN
        self._events: list[ListenerEvent] = []
        self._unanswered: set[int] = set()
        """Keys of the DELIVERs / REPORTs handed up and not acknowledged yet."""
        self._bind_deadline: float | None = None
        self._last_pdu_at = 0.0
        self._unbind_deadline: float | None = None

    # -- inputs from the transport -------------------------------------------------------

    def connection_made(self, now: float) -> None:
        self._bind_deadline = now + self.settings.bind_timeout
        self._last_pdu_at = now

    def connection_lost(self, now: float) -> list[ListenerEvent]:
        """Whatever was handed up and not answered will be delivered again by the SMG."""
        self.state = ListenerState.CLOSED
        self._unanswered.clear()
        return self._take_events()

    def receive_data(self, data: bytes, now: float) -> list[ListenerEvent]:
        if self.state is ListenerState.CLOSED:
            return []
        self._stamp(now)
        for item in self._channel.receive(data):
            self._last_pdu_at = now
            if isinstance(item, PeerError):
                self._events.append(item)
                if self.state is ListenerState.OPEN:
                    self._close("no readable BIND from the SMG")
            elif isinstance(item, FramingLost):
                self._close(item.reason)
            else:
                self._handle(item)
            if self.state is ListenerState.CLOSED:
                break
        return self._take_events()

    def tick(self, now: float) -> list[ListenerEvent]:
        if self.state is ListenerState.OPEN and self._bind_deadline is not None \
                and now >= self._bind_deadline:
            self._close(f"the SMG did not bind within {self.settings.bind_timeout:g}s")
        elif self.state is ListenerState.UNBINDING and self._unbind_deadline is not None \
                and now >= self._unbind_deadline:
            self._close("UNBIND not answered")
        elif self.state is ListenerState.BOUND and self.settings.idle_timeout \
                and now >= self._last_pdu_at + self.settings.idle_timeout:
            self._close(f"no PDU from the SMG for {self.settings.idle_timeout:g}s")
        return self._take_events()

    def next_deadline(self) -> float | None:
        if self.state is ListenerState.OPEN:
            return self._bind_deadline
        if self.state is ListenerState.UNBINDING:
            return self._unbind_deadline
        if self.state is ListenerState.BOUND and self.settings.idle_timeout:
            return self._last_pdu_at + self.settings.idle_timeout
        return None

    def data_to_send(self) -> bytes:
        return self._channel.data_to_send()

    # -- inputs from the layer above ---------------------------------------------------------

    def acknowledge(
        self, received: MessageReceived, answer: InboundAnswer = InboundAnswer.STORED
    ) -> bool:
        """Answer a DELIVER or REPORT once it is stored (or could not be). False when it
        came on another connection, this one is gone, or it was answered already: the SMG
        delivers it again, so nothing is lost."""
        pdu = received.pdu
        key = pdu.sequence.key()
        if (received.connection != self.connection or self.state is ListenerState.CLOSED
                or key not in self._unanswered):
            return False
        self._unanswered.discard(key)
        self._channel.send(inbound_answer(pdu, answer))
        return True

    def unbind(self, now: float) -> list[ListenerEvent]:
        """Stop: UNBIND a bound SMG (closing on its answer), close anything else at once."""
        if self.state is ListenerState.BOUND:
            self._stamp(now)
            self._channel.request(Unbind(sequence=ZERO))
            self.state = ListenerState.UNBINDING
            self._unbind_deadline = now + self.settings.unbind_timeout
        elif self.state is ListenerState.OPEN:
            self._close("shutting down")
        return self._take_events()

    # -- introspection ---------------------------------------------------------------------

    @property
    def is_bound(self) -> bool:
        return self.state is ListenerState.BOUND

    @property
    def unanswered(self) -> int:
        """DELIVERs and REPORTs handed up and not acknowledged yet."""
        return len(self._unanswered)

    # -- internals -------------------------------------------------------------------------

    def _stamp(self, now: float) -> None:
        self._channel.stamp(timestamp_for(self._wall_clock(now)))

    def _take_events(self) -> list[ListenerEvent]:
        events, self._events = self._events, []
        return events

    def _close(self, reason: str) -> None:
        if self.state is not ListenerState.CLOSED:
            self.state = ListenerState.CLOSED
            self._events.append(CloseConnection(reason))

    def _handle(self, pdu: Pdu) -> None:
        if type(pdu) not in _ACCEPTED.get(self.state, frozenset()):
            self._events.append(PeerError(
                f"{type(pdu).__name__} not allowed while {self.state.value}", 0, ""))
            if self.state is ListenerState.OPEN:
                self._close("the SMG did not bind first")
            return
        if isinstance(pdu, Deliver | Report):
            self._unanswered.add(pdu.sequence.key())
            self._events.append(MessageReceived(self.connection, pdu))
        elif isinstance(pdu, Bind):
            self._on_bind(pdu)
        elif isinstance(pdu, Unbind):
            self._channel.send(UnbindResp(sequence=pdu.sequence))
            self._events.append(Unbound(by_peer=True))
            self._close("the SMG unbound")
        elif isinstance(pdu, UnbindResp) and self.state is ListenerState.UNBINDING:
            self._events.append(Unbound(by_peer=False))
            self._close("unbound")

    def _bind_result(self, pdu: Bind) -> int:
        if self.state is ListenerState.BOUND:
            return Result.REPEATED_LOGIN
        if pdu.login_type != LoginType.SMG_TO_SP:
            return Result.BAD_LOGIN_TYPE
        s = self.settings
        if pdu.login_name != s.login_name or pdu.login_password != s.login_password:
            return Result.ILLEGAL_LOGIN
        return Result.OK

    def _on_bind(self, pdu: Bind) -> None:
        result = self._bind_result(pdu)
        self._channel.send(BindResp(sequence=pdu.sequence, result=result))
        if result == Result.REPEATED_LOGIN:
            self._events.append(PeerError("a second BIND on a bound connection", result, ""))
        elif result != Result.OK:
            self._events.append(PeerBindRefused(pdu.login_name, result))
            self._close(f"BIND refused (result {result})")
        else:
            self.state = ListenerState.BOUND
            self._bind_deadline = None
            self._events.append(PeerBound(pdu.login_name))
