"""A simulated carrier, whatever protocol it speaks: one Twisted service around per-connection
sans-IO server sessions.

It behaves like a real carrier where the gateway can tell: it authenticates logins against its
accounts, gives every accepted submit a unique message id, sends delivery receipts after a
delay with a configurable mix of outcomes, keeps undelivered MOs and receipts until a client can
take them (store and forward, re-delivering on error or timeout), enforces its own TPS and
window, and takes faults on demand.  It records what it received so tests and ``sdgw sim mo``
can see the gateway's replies, and counts every accepted part per number.

What differs between protocols is a :class:`SimulatorDialect`: it makes the server sessions and
the message ids, reads submit PDUs into neutral :class:`ReceivedSubmit` records, and builds the
MO and receipt PDUs (SMPP: :mod:`carriers.smpp.simulator_dialect`, CMPP:
:mod:`carriers.cmpp.simulator_dialect`).  Everything else lives here once.
"""

from __future__ import annotations

import enum
import logging
import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from twisted.application import service
from twisted.internet import defer, protocol
from twisted.internet.interfaces import IListeningPort, IReactorTCP, IReactorTime
from twisted.python.failure import Failure

from carriers.codings import coding_from_wire, wire_number
from carriers.link.channel import PeerError
from carriers.messages import TextCoding
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
from carriers.text_coding import decode_text

__all__ = [
    "REDELIVERY_DELAY",
    "Deliverable",
    "ReceiptWanted",
    "ReceivedSubmit",
    "SamePdu",
    "ServerSession",
    "SimulatedCarrier",
    "SimulatorDialect",
    "SimulatorSettings",
    "known_coding",
    "readable_text",
]

log = logging.getLogger(__name__)

REDELIVERY_DELAY = 2.0
"""Seconds before the carrier tries an unacknowledged MO or receipt again."""


class ReceiptWanted(enum.IntEnum):
    """Which delivery receipts a submit asked for."""

    NONE = 0
    ALWAYS = 1
    ON_FAILURE = 2
    """Only when the message was not delivered (SMPP registered_delivery 2)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedSubmit:
    """A submit the simulator accepted, decoded for people and tests, whatever its protocol."""

    message_id: str
    """The id the carrier answered with, as text (CMPP: 16 upper-case hex digits)."""
    login: str
    """Who submitted it (SMPP system_id, CMPP Source_Addr)."""
    source: str
    destination: str
    """The (first) recipient."""
    text: str
    """The payload without its UDH, decoded; its hex when it is not text."""
    coding: TextCoding | None
    """The payload's coding by name; ``None`` when the protocol's number means none we know."""
    wire_coding: int
    """The protocol's own number for the coding (SMPP data_coding, CMPP Msg_Fmt)."""
    udh: bytes
    received_at: float
    reference: int | None = None
    """The submit's own reference (SMPP ``user_message_reference``), if it had one."""
    receipt_wanted: ReceiptWanted = ReceiptWanted.NONE
    link_id: str = ""
    """The on-demand session id the submit echoed (CMPP 3.0 LinkID), if any."""

    @property
    def data_coding(self) -> int:
        """The wire number under its SMPP name, as older tests read it."""
        return self.wire_coding


@dataclass(slots=True, kw_only=True)
class SimulatorSettings:
    carrier: str
    accounts: Mapping[str, str]
    """login → secret (SMPP system_id → password, CMPP SP code → shared secret)."""
    smsc: ServerSettings = field(default_factory=ServerSettings)
    """Limits and timeouts of each connection, whatever the protocol (the name is historical)."""
    receipt_delay: float = 1.0
    receipt_mix: Mapping[str, float] = field(default_factory=lambda: {"DELIVRD": 1.0})
    deliver_window: int = 64
    """MOs and receipts sent to one client and not yet answered."""
    keep_received: int = 10_000
    """How many received submits to remember for inspection (oldest dropped first)."""
    echo_reference: bool = True
    """Receipts carry the submit's own reference back (as some real SMSCs do), when the
    submit had one and the protocol has a field for it."""


def known_coding(protocol: str, number: int) -> TextCoding | None:
    """The coding ``protocol`` means by ``number``, or ``None`` for a number it does not
    define."""
    try:
        return coding_from_wire(protocol, number)
    except ValueError:
        return None


MO_MAX_NUMBER = 21
"""The longest number the Chinese operators' MOs carry (CMPP 2.0's, SGIP's, SMGP's 21)."""
MO_MAX_OCTETS = 140
"""One short message's payload: the simulators do not split MOs."""


def mo_payload(protocol: str, source: str, destination: str, text: str) -> tuple[bytes, int]:
    """An MO's payload and its wire coding number for a Chinese operator's protocol (ASCII
    when the text allows, else UCS2); ValueError naming what does not fit one DELIVER."""
    for name, number in (("from", source), ("to", destination)):
        if not number.isascii() or len(number) > MO_MAX_NUMBER:
            raise ValueError(f"{name}: a {protocol.upper()} number is at most {MO_MAX_NUMBER} "
                             f"ASCII characters, not {number!r}")
    coding = TextCoding.ASCII if text.isascii() else TextCoding.UCS2
    payload = text.encode("ascii" if coding is TextCoding.ASCII else "utf-16-be")
    if len(payload) > MO_MAX_OCTETS:
        raise ValueError(f"an MO of {len(payload)} octets does not fit one {protocol.upper()} "
                         f"DELIVER (at most {MO_MAX_OCTETS})")
    return payload, wire_number(protocol, coding)


def readable_text(payload: bytes, coding: TextCoding | None) -> str:
    """``payload`` decoded for people: its text, or its hex when it is not text in ``coding``
    (or the coding is unknown)."""
    if coding is None:
        return payload.hex()
    try:
        return decode_text(payload, coding)
    except ValueError:
        return payload.hex()


class ServerSession(Protocol):
    """One connection's sans-IO server session (SMPP ``SmscSession``, CMPP ``IsmgSession``)."""

    @property
    def can_receive(self) -> bool:
        """Whether the client is logged in and may be sent MOs and receipts."""
        ...

    def connection_made(self, now: float) -> None: ...

    def receive_data(self, data: bytes, now: float) -> list[ServerEvent]: ...

    def tick(self, now: float) -> list[ServerEvent]: ...

    def next_deadline(self) -> float | None: ...

    def data_to_send(self) -> bytes: ...

    def deliver(self, pdu: Any, now: float) -> int:
        """Send an MO or receipt PDU; the token comes back in DeliverAnswered/-Unanswered."""
        ...

    def unbind(self) -> None: ...

    def send_raw(self, data: bytes) -> None: ...


class Deliverable(Protocol):
    """An MO or receipt waiting for a client: its ids, times and outcome are fixed when it is
    made; the PDU is built for the connection it finally goes to (a CMPP report's layout
    depends on the version that connection logged in with)."""

    def pdu_for(self, session: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class SamePdu:
    """A deliverable whose PDU is the same on every connection."""

    pdu: Any

    def pdu_for(self, session: Any) -> Any:
        return self.pdu


class SimulatorDialect(Protocol):
    """What one protocol brings to :class:`SimulatedCarrier`."""

    @property
    def name(self) -> str:
        """The protocol: "smpp", "cmpp", …"""
        ...

    def new_session(
        self,
        *,
        settings: ServerSettings,
        accounts: Mapping[str, str],
        faults: ServerFaults,
        next_message_id: Callable[[], Any],
    ) -> ServerSession: ...

    def next_message_id(self) -> Any:
        """A fresh message id, as the protocol's session hands it out (SMPP text, CMPP int)."""
        ...

    def read_submit(
        self, pdu: Any, *, login: str, message_id: Any, now: float
    ) -> ReceivedSubmit: ...

    def mo_pdu(self, source: str, destination: str, text: str) -> Deliverable:
        """An MO from handset ``source`` to the carrier number ``destination``."""
        ...

    def receipt_pdu(
        self, submit: ReceivedSubmit, *, stat: str, done_at: float, echo_reference: bool
    ) -> Deliverable:
        """The receipt for ``submit`` with outcome ``stat`` (DELIVRD, UNDELIV, …)."""
        ...


@dataclass(slots=True)
class _Outgoing:
    """An MO or receipt waiting to be delivered to a logged-in client."""

    deliverable: Deliverable
    login: str | None
    """Only a connection of this login may take it (receipts); ``None``: any (MOs)."""
    attempts: int = 0


class _ServerConnection(protocol.Protocol):
    def __init__(self, simulator: SimulatedCarrier) -> None:
        self.simulator = simulator
        self.session = simulator._new_session()
        self.login: str | None = None
        self._timer: Any = None
        self._delivers: dict[int, _Outgoing] = {}

    def connectionMade(self) -> None:
        self.simulator._connections.add(self)
        self.session.connection_made(self.simulator._now())
        self.flush()  # schedules the idle timeout

    def dataReceived(self, data: bytes) -> None:
        self.simulator._handle(self, self.session.receive_data(data, self.simulator._now()))
        self.flush()

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.simulator._connections.discard(self)
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        # Whatever was sent but not acknowledged is delivered again later.
        for outgoing in self._delivers.values():
            self.simulator._requeue(outgoing)
        self._delivers.clear()

    def flush(self) -> None:
        data = self.session.data_to_send()
        if data and self.transport is not None:
            self.transport.write(data)
        deadline = self.session.next_deadline()
        if self._timer is not None and self._timer.active():
            if deadline is not None and self._timer.getTime() <= deadline + 1e-6:
                return  # an earlier tick is due anyway; it reschedules
            self._timer.cancel()
        self._timer = None
        if deadline is not None:
            delay = max(0.0, deadline - self.simulator._now())
            self._timer = self.simulator._clock.callLater(delay, self._tick)

    def _tick(self) -> None:
        self._timer = None
        self.simulator._handle(self, self.session.tick(self.simulator._now()))
        self.flush()


class _ServerFactory(protocol.Factory):
    noisy = False

    def __init__(self, simulator: SimulatedCarrier) -> None:
        self.simulator = simulator

    def buildProtocol(self, addr: Any) -> _ServerConnection:
        return _ServerConnection(self.simulator)


class SimulatedCarrier(service.Service):
    """One carrier's simulated server, listening on ``host:port`` and speaking ``dialect``."""

    def __init__(
        self,
        settings: SimulatorSettings,
        dialect: SimulatorDialect,
        *,
        reactor: IReactorTCP,
        clock: IReactorTime,
        host: str = "127.0.0.1",
        port: int = 0,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.dialect = dialect
        self.setName(f"simulator:{settings.carrier}")
        self.faults = ServerFaults()
        self.garbage_on_bind: bytes | None = None
        """Fault: raw bytes written to every client right after it logs in."""
        self._reactor = reactor
        self._clock = clock
        self._host = host
        self._port_number = port
        self._rng = rng or random.Random()
        self._listening: IListeningPort | None = None
        self._connections: set[_ServerConnection] = set()
        self._waiting: deque[_Outgoing] = deque()
        self._receipts_due: deque[tuple[float, ReceivedSubmit]] = deque()
        self._receipt_timer: Any = None
        self._deliver_scheduled = False
        self.received: deque[ReceivedSubmit] = deque(maxlen=settings.keep_received)
        # Accepted submits per (destination, UDH hex or ''), not capped by keep_received. The
        # UDH holds the concatenation reference and part number: a count of 2 or more for a
        # multi-part message's UDH is the same part accepted again.
        self.parts: dict[tuple[str, str], int] = {}
        self._watchers: list[Callable[[ReceivedSubmit], None]] = []
        self.counters: dict[str, int] = {
            "binds": 0, "bind_failures": 0, "submits": 0, "refused": 0, "receipts": 0,
            "mo": 0, "redeliveries": 0, "peer_errors": 0, "unbinds": 0,
        }

    # -- lifecycle ---------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        self._listening = self._reactor.listenTCP(
            self._port_number, _ServerFactory(self), interface=self._host
        )
        log.info("%s simulator: %s listening on %s:%d", self.settings.carrier,
                 self.dialect.name.upper(), self._host, self.port)

    def stopService(self) -> defer.Deferred[None] | None:
        super().stopService()
        if self._receipt_timer is not None and self._receipt_timer.active():
            self._receipt_timer.cancel()
        self._receipt_timer = None
        for connection in list(self._connections):
            if connection.transport is not None:
                connection.transport.loseConnection()
        listening, self._listening = self._listening, None
        if listening is not None:
            return defer.maybeDeferred(listening.stopListening)
        return None

    @property
    def port(self) -> int:
        if self._listening is None:
            return self._port_number
        return self._listening.getHost().port  # type: ignore[no-any-return]

    @property
    def accepting(self) -> bool:
        """Listening for clients (False before start, after stop or :meth:`stop_accepting`)."""
        return self._listening is not None

    def stop_accepting(self) -> defer.Deferred[None]:
        """Fault: the carrier goes away — close the port and cut every client; the
        service keeps running, and :meth:`start_accepting` opens the same port again."""
        listening, self._listening = self._listening, None
        if listening is None:
            return defer.succeed(None)
        self._port_number = listening.getHost().port  # type: ignore[attr-defined]
        self.drop_connections()
        log.info("%s simulator: stopped accepting on %s:%d", self.settings.carrier,
                 self._host, self._port_number)
        return defer.maybeDeferred(listening.stopListening)

    def start_accepting(self) -> None:
        """Open the port again after :meth:`stop_accepting` (nothing if already open)."""
        if self._listening is not None or not self.running:
            return
        self._listening = self._reactor.listenTCP(
            self._port_number, _ServerFactory(self), interface=self._host)
        log.info("%s simulator: accepting again on %s:%d", self.settings.carrier,
                 self._host, self.port)

    @property
    def protocol(self) -> str:
        """The protocol the simulator speaks ("smpp", "cmpp", …)."""
        return self.dialect.name

    # -- what tests and the control endpoint do ----------------------------------------------

    def inject_mo(self, source: str, destination: str, text: str) -> None:
        """Queue an MO from a handset; it goes to a bound client now or when one binds."""
        deliverable = self.dialect.mo_pdu(source, destination, text)
        self.counters["mo"] += 1
        self._waiting.append(_Outgoing(deliverable, None))
        self._deliver_waiting()

    def watch(self, callback: Callable[[ReceivedSubmit], None]) -> Callable[[], None]:
        """Call ``callback`` for every accepted submit; returns a function that stops it."""
        self._watchers.append(callback)
        return lambda: self._watchers.remove(callback)

    def drop_connections(self) -> int:
        """Fault: cut every client connection at once."""
        count = 0
        for connection in list(self._connections):
            if connection.transport is not None:
                connection.transport.abortConnection()
                count += 1
        return count

    def send_garbage(self, data: bytes) -> int:
        """Fault: write raw bytes to every client."""
        for connection in list(self._connections):
            connection.session.send_raw(data)
            connection.flush()
        return len(self._connections)

    @property
    def bound_clients(self) -> int:
        return sum(1 for c in self._connections if c.session.can_receive)

    # -- internals -----------------------------------------------------------------------

    def _now(self) -> float:
        return self._clock.seconds()

    def _new_session(self) -> ServerSession:
        return self.dialect.new_session(
            settings=self.settings.smsc,
            accounts=self.settings.accounts,
            faults=self.faults,
            next_message_id=self.dialect.next_message_id,
        )

    def _handle(self, connection: _ServerConnection, events: list[ServerEvent]) -> None:
        carrier = self.settings.carrier
        for event in events:
            if isinstance(event, SubmitReceived):
                self.counters["submits"] += 1
                self._on_submit(connection, event)
            elif isinstance(event, SubmitRefused):
                self.counters["refused"] += 1
            elif isinstance(event, ClientBound):
                self.counters["binds"] += 1
                connection.login = event.login
                log.info("%s simulator: %s bound (%s)", carrier, event.login, event.mode)
                if self.garbage_on_bind:
                    connection.session.send_raw(self.garbage_on_bind)
                self._clock.callLater(0, self._deliver_waiting)
            elif isinstance(event, ClientUnbound):
                self.counters["unbinds"] += 1  # the client logged out (its unbind answered)
            elif isinstance(event, BindDenied):
                self.counters["bind_failures"] += 1
                log.warning("%s simulator: bind refused for %r (status 0x%02X)", carrier,
                            event.login, event.status)
            elif isinstance(event, DeliverAnswered):
                outgoing = connection._delivers.pop(event.token, None)
                if self._waiting:
                    self._deliver_soon()
                if outgoing is not None and event.status != 0:
                    log.info("%s simulator: deliver refused (0x%02X); will retry", carrier,
                             event.status)
                    self._requeue(outgoing)
            elif isinstance(event, DeliverUnanswered):
                outgoing = connection._delivers.pop(event.token, None)
                if outgoing is not None:
                    self._requeue(outgoing)
            elif isinstance(event, PeerError):
                self.counters["peer_errors"] += 1
                log.warning("%s simulator: bad PDU from client: %s; pdu=%s", carrier,
                            event.reason, event.frame_hex or "-")
            elif isinstance(event, CloseClient) and connection.transport is not None:
                connection.flush()
                connection.transport.loseConnection()

    def _on_submit(self, connection: _ServerConnection, event: SubmitReceived) -> None:
        received = self.dialect.read_submit(
            event.pdu, login=connection.login or "", message_id=event.message_id,
            now=self._now(),
        )
        self.received.append(received)
        key = (received.destination, received.udh.hex())
        self.parts[key] = self.parts.get(key, 0) + 1
        for watcher in list(self._watchers):
            watcher(received)
        if received.receipt_wanted != ReceiptWanted.NONE:
            due = self._now() + self.settings.receipt_delay
            self._receipts_due.append((due, received))
            if self._receipt_timer is None:
                self._receipt_timer = self._clock.callLater(self.settings.receipt_delay,
                                                            self._send_due_receipts)

    def _send_due_receipts(self) -> None:
        """One timer for all receipts: those due now go out together."""
        self._receipt_timer = None
        now = self._now()
        due = self._receipts_due
        while due and due[0][0] <= now:
            _, submit = due.popleft()
            self._queue_receipt(submit, now)
        self._deliver_waiting()
        if due:
            self._receipt_timer = self._clock.callLater(max(due[0][0] - now, 0.0),
                                                        self._send_due_receipts)

    def _queue_receipt(self, submit: ReceivedSubmit, at: float) -> None:
        stat = self._pick_stat()
        if submit.receipt_wanted == ReceiptWanted.ON_FAILURE and stat == "DELIVRD":
            return
        deliverable = self.dialect.receipt_pdu(
            submit, stat=stat, done_at=at, echo_reference=self.settings.echo_reference
        )
        self.counters["receipts"] += 1
        self._waiting.append(_Outgoing(deliverable, submit.login))

    def _pick_stat(self) -> str:
        mix = self.settings.receipt_mix
        stats = list(mix)
        return self._rng.choices(stats, weights=[mix[s] for s in stats])[0]

    def _requeue(self, outgoing: _Outgoing) -> None:
        outgoing.attempts += 1
        self.counters["redeliveries"] += 1
        self._waiting.append(outgoing)
        if self.running:
            self._clock.callLater(REDELIVERY_DELAY, self._deliver_waiting)

    def _deliver_soon(self) -> None:
        """Deliver more once this batch of answers is handled (one call per reactor turn)."""
        if not self._deliver_scheduled:
            self._deliver_scheduled = True

            def run() -> None:
                self._deliver_scheduled = False
                self._deliver_waiting()

            self._clock.callLater(0, run)

    def _deliver_waiting(self) -> None:
        """Send waiting MOs and receipts to bound clients, at most ``deliver_window`` unanswered
        per connection (as real carriers do: a slow client is not flooded)."""
        if not self._waiting:
            return
        window = self.settings.deliver_window
        receivers = [c for c in self._connections
                     if c.session.can_receive and len(c._delivers) < window]
        if not receivers:
            return
        now = self._now()
        touched: set[_ServerConnection] = set()
        for _ in range(len(self._waiting)):
            if all(len(c._delivers) >= window for c in receivers):
                break  # every client's window is full: the rest waits for answers
            outgoing = self._waiting.popleft()
            target = next(
                (c for c in receivers if c.login == outgoing.login
                 and len(c._delivers) < window),
                None,
            )
            if target is None and outgoing.login is None:
                target = next((c for c in receivers if len(c._delivers) < window), None)
            if target is None:
                self._waiting.append(outgoing)
                continue
            pdu = outgoing.deliverable.pdu_for(target.session)
            token = target.session.deliver(pdu, now)
            target._delivers[token] = outgoing
            touched.add(target)
        for connection in touched:
            connection.flush()
