"""A simulated carrier SMSC: a Twisted service around :class:`SmscSession`.

It behaves like a real one where the gateway can tell: it authenticates binds
against its accounts, gives every accepted submit a unique message id, sends
delivery receipts after a delay with a configurable mix of outcomes, keeps
undelivered MOs and receipts until a client can take them (store and forward,
re-delivering on error or timeout), enforces its own TPS and window, and takes
faults on demand.  It records what it received so tests and ``sdgw sim mo``
can see the gateway's replies, and counts every accepted part per number.
"""

from __future__ import annotations

import itertools
import logging
import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from twisted.application import service
from twisted.internet import defer, protocol
from twisted.internet.interfaces import IListeningPort, IReactorTCP, IReactorTime
from twisted.python.failure import Failure

from carriers.gsm7 import encode_gsm7_unpacked, is_gsm7
from carriers.smpp.channel import PeerError
from carriers.smpp.pdus import (
    ESM_CLASS_DELIVERY_RECEIPT,
    ESM_CLASS_UDHI,
    CommandStatus,
    DeliverSm,
    MessageState,
    SubmitSm,
)
from carriers.smpp.receipts import ReceiptText, format_receipt_text
from carriers.smpp.smsc import (
    BindDenied,
    ClientBound,
    CloseClient,
    DeliverAnswered,
    DeliverUnanswered,
    SmscEvent,
    SmscFaults,
    SmscSession,
    SmscSettings,
    SubmitReceived,
    SubmitRefused,
)
from carriers.text_coding import decode_payload

log = logging.getLogger(__name__)

_STATE_FOR_STAT: dict[str, int] = {
    "DELIVRD": MessageState.DELIVERED,
    "UNDELIV": MessageState.UNDELIVERABLE,
    "EXPIRED": MessageState.EXPIRED,
    "REJECTD": MessageState.REJECTED,
    "DELETED": MessageState.DELETED,
    "UNKNOWN": MessageState.UNKNOWN,
}
REDELIVERY_DELAY = 2.0
"""Seconds before the SMSC tries an unacknowledged MO or receipt again."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedSubmit:
    """A submit_sm the simulator accepted, decoded for people and tests."""

    message_id: str
    system_id: str
    source: str
    destination: str
    text: str
    data_coding: int
    udh: bytes
    received_at: float
    reference: int | None = None
    """The submit's ``user_message_reference``, if it had one."""


@dataclass(slots=True, kw_only=True)
class SimulatorSettings:
    carrier: str
    accounts: Mapping[str, str]
    """system_id → password."""
    smsc: SmscSettings = field(default_factory=SmscSettings)
    receipt_delay: float = 1.0
    receipt_mix: Mapping[str, float] = field(default_factory=lambda: {"DELIVRD": 1.0})
    deliver_window: int = 64
    """deliver_sm (MOs, receipts) sent to one client and not yet answered."""
    keep_received: int = 10_000
    """How many received submits to remember for inspection (oldest dropped first)."""
    echo_reference: bool = True
    """Receipts carry the submit's ``user_message_reference`` back (as some real SMSCs do),
    when the submit had one."""


@dataclass(slots=True)
class _Outgoing:
    """An MO or receipt waiting to be delivered to a bound client."""

    pdu: DeliverSm
    system_id: str | None
    attempts: int = 0


class _SmscProtocol(protocol.Protocol):
    def __init__(self, simulator: SimulatedSmsc) -> None:
        self.simulator = simulator
        self.session = simulator._new_session()
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


class _SmscFactory(protocol.Factory):
    noisy = False

    def __init__(self, simulator: SimulatedSmsc) -> None:
        self.simulator = simulator

    def buildProtocol(self, addr: Any) -> _SmscProtocol:
        return _SmscProtocol(self.simulator)


class SimulatedSmsc(service.Service):
    """One carrier's simulated SMSC, listening on ``host:port``."""

    def __init__(
        self,
        settings: SimulatorSettings,
        *,
        reactor: IReactorTCP,
        clock: IReactorTime,
        host: str = "127.0.0.1",
        port: int = 0,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.setName(f"simulator:{settings.carrier}")
        self.faults = SmscFaults()
        self.garbage_on_bind: bytes | None = None
        self._reactor = reactor
        self._clock = clock
        self._host = host
        self._port_number = port
        self._rng = rng or random.Random()
        self._listening: IListeningPort | None = None
        self._connections: set[_SmscProtocol] = set()
        self._waiting: deque[_Outgoing] = deque()
        self._receipts_due: deque[tuple[float, ReceivedSubmit, int]] = deque()
        self._receipt_timer: Any = None
        self._deliver_scheduled = False
        self._ids = itertools.count(1)
        self._id_prefix = f"{self._rng.randrange(16**4):04X}"
        self.received: deque[ReceivedSubmit] = deque(maxlen=settings.keep_received)
        # Accepted submits per (destination, UDH hex or ''), not capped by keep_received. The
        # UDH holds the concatenation reference and part number: a count of 2 or more for a
        # multi-part message's UDH is the same part accepted again.
        self.parts: dict[tuple[str, str], int] = {}
        self._watchers: list[Callable[[ReceivedSubmit], None]] = []
        self.counters: dict[str, int] = {
            "binds": 0, "bind_failures": 0, "submits": 0, "refused": 0, "receipts": 0,
            "mo": 0, "redeliveries": 0, "peer_errors": 0,
        }

    # -- lifecycle ---------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        self._listening = self._reactor.listenTCP(
            self._port_number, _SmscFactory(self), interface=self._host
        )
        log.info("%s simulator: SMSC listening on %s:%d", self.settings.carrier, self._host,
                 self.port)

    def stopService(self) -> defer.Deferred[None] | None:
        super().stopService()
        if self._receipt_timer is not None and self._receipt_timer.active():
            self._receipt_timer.cancel()
        self._receipt_timer = None
        for connection in list(self._connections):
            if connection.transport is not None:
                connection.transport.loseConnection()
        if self._listening is not None:
            return defer.maybeDeferred(self._listening.stopListening)
        return None

    @property
    def port(self) -> int:
        if self._listening is None:
            return self._port_number
        return self._listening.getHost().port  # type: ignore[no-any-return]

    # -- what tests and the control endpoint do ----------------------------------------------

    def inject_mo(self, source: str, destination: str, text: str) -> None:
        """Queue an MO from a handset; it goes to a bound client now or when one binds."""
        if is_gsm7(text):
            payload, coding = encode_gsm7_unpacked(text), 0x00
        else:
            payload, coding = text.encode("utf-16-be"), 0x08
        pdu = DeliverSm(
            sequence_number=0,
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr=source,
            dest_addr_ton=0,
            dest_addr_npi=1,
            destination_addr=destination,
            data_coding=coding,
            short_message=payload,
        )
        self.counters["mo"] += 1
        self._waiting.append(_Outgoing(pdu, None))
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

    def _new_session(self) -> SmscSession:
        return SmscSession(
            settings=self.settings.smsc,
            authenticate=self._authenticate,
            next_message_id=self._next_message_id,
            faults=self.faults,
        )

    def _authenticate(self, system_id: str, password: str) -> int:
        expected = self.settings.accounts.get(system_id)
        if expected is None or expected != password:
            return CommandStatus.ESME_RBINDFAIL
        return CommandStatus.ESME_ROK

    def _next_message_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids):012d}"

    def _handle(self, connection: _SmscProtocol, events: list[SmscEvent]) -> None:
        carrier = self.settings.carrier
        for event in events:
            if isinstance(event, SubmitReceived):
                self.counters["submits"] += 1
                self._on_submit(connection, event)
            elif isinstance(event, SubmitRefused):
                self.counters["refused"] += 1
            elif isinstance(event, ClientBound):
                self.counters["binds"] += 1
                log.info("%s simulator: %s bound (%s)", carrier, event.login, event.mode)
                if self.garbage_on_bind:
                    connection.session.send_raw(self.garbage_on_bind)
                self._clock.callLater(0, self._deliver_waiting)
            elif isinstance(event, BindDenied):
                self.counters["bind_failures"] += 1
                log.warning("%s simulator: bind refused for %r (status 0x%02X)", carrier,
                            event.login, event.status)
            elif isinstance(event, DeliverAnswered):
                outgoing = connection._delivers.pop(event.token, None)
                if self._waiting:
                    self._deliver_soon()
                if outgoing is not None and event.status != CommandStatus.ESME_ROK:
                    log.info("%s simulator: deliver_sm refused (0x%02X); will retry", carrier,
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

    def _on_submit(self, connection: _SmscProtocol, event: SubmitReceived) -> None:
        pdu = event.pdu
        udh, payload = _split_udh(pdu)
        try:
            text = decode_payload(payload, pdu.data_coding)
        except ValueError:
            text = payload.hex()
        received = ReceivedSubmit(
            message_id=event.message_id,
            system_id=connection.session.system_id,
            source=pdu.source_addr,
            destination=pdu.destination_addr,
            text=text,
            data_coding=pdu.data_coding,
            udh=udh,
            received_at=self._now(),
            reference=pdu.user_message_reference,
        )
        self.received.append(received)
        key = (received.destination, udh.hex())
        self.parts[key] = self.parts.get(key, 0) + 1
        for watcher in list(self._watchers):
            watcher(received)
        if pdu.registered_delivery & 0x03:
            due = self._now() + self.settings.receipt_delay
            self._receipts_due.append((due, received, pdu.registered_delivery & 0x03))
            if self._receipt_timer is None:
                self._receipt_timer = self._clock.callLater(self.settings.receipt_delay,
                                                            self._send_due_receipts)

    def _send_due_receipts(self) -> None:
        """One timer for all receipts: those due now go out together."""
        self._receipt_timer = None
        now = self._now()
        due = self._receipts_due
        while due and due[0][0] <= now:
            _, submit, wanted = due.popleft()
            self._queue_receipt(submit, wanted, now)
        self._deliver_waiting()
        if due:
            self._receipt_timer = self._clock.callLater(max(due[0][0] - now, 0.0),
                                                        self._send_due_receipts)

    def _queue_receipt(self, submit: ReceivedSubmit, wanted: int, at: float) -> None:
        stat = self._pick_stat()
        if wanted == 2 and stat == "DELIVRD":
            return  # receipt on failure only
        now = datetime.fromtimestamp(at, UTC)
        submitted = datetime.fromtimestamp(submit.received_at, UTC)
        text = format_receipt_text(ReceiptText(
            id=submit.message_id,
            sub=1,
            dlvrd=1 if stat == "DELIVRD" else 0,
            submit_date=submitted,
            done_date=now,
            stat=stat,
            err="000" if stat == "DELIVRD" else "001",
            text=submit.text[:20],
        ))
        pdu = DeliverSm(
            sequence_number=0,
            source_addr=submit.destination,
            destination_addr=submit.source,
            esm_class=ESM_CLASS_DELIVERY_RECEIPT,
            data_coding=0x01,
            short_message=text.encode("ascii", "replace"),
            receipted_message_id=submit.message_id,
            message_state=_STATE_FOR_STAT[stat],
            user_message_reference=submit.reference if self.settings.echo_reference else None,
        )
        self.counters["receipts"] += 1
        self._waiting.append(_Outgoing(pdu, submit.system_id))

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
        per connection (as real SMSCs do: a slow client is not flooded)."""
        if not self._waiting:
            return
        window = self.settings.deliver_window
        receivers = [c for c in self._connections
                     if c.session.can_receive and len(c._delivers) < window]
        if not receivers:
            return
        now = self._now()
        touched: set[_SmscProtocol] = set()
        for _ in range(len(self._waiting)):
            if all(len(c._delivers) >= window for c in receivers):
                break  # every client's window is full: the rest waits for answers
            outgoing = self._waiting.popleft()
            target = next(
                (c for c in receivers if c.session.system_id == outgoing.system_id
                 and len(c._delivers) < window),
                None,
            )
            if target is None and outgoing.system_id is None:
                target = next((c for c in receivers if len(c._delivers) < window), None)
            if target is None:
                self._waiting.append(outgoing)
                continue
            token = target.session.deliver(outgoing.pdu, now)
            target._delivers[token] = outgoing
            touched.add(target)
        for connection in touched:
            connection.flush()


def _split_udh(pdu: SubmitSm) -> tuple[bytes, bytes]:
    data = pdu.short_message if pdu.message_payload is None else pdu.message_payload
    if pdu.esm_class & ESM_CLASS_UDHI and data:
        length = data[0] + 1
        return data[:length], data[length:]
    return b"", data
