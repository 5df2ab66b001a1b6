"""SGIP on Twisted: the SP's submit link and the listener the SMG connects back to.

SGIP needs two services per carrier (protocols.md §3.3):

* :class:`SgipLink` is the shared :class:`~carriers.link.transport.CarrierLinkService` with an
  :class:`~carriers.sgip.client.SgipClientSession` (BIND Login Type 1, SUBMITs) and an
  :class:`~carriers.sgip.translate.SgipTranslator`.  After an idle UNBIND the session's
  ``wants_connection`` is False and the shared transport does not reconnect: the link is
  idle (not bound, healthy) until a submit queues work, which connects and binds again
  (``when_bound`` connects on demand too).
* :class:`SgipCarrierLink` is both as the one :class:`~carriers.link.api.CarrierLink` the
  gateway holds (:func:`build_sgip_link` makes it from the ``[carriers.<name>.link]`` table).
* :class:`SgipListenerService` listens for the SMG's own connections (BIND Login Type 2) and
  runs one :class:`~carriers.sgip.listener.SgipListenerSession` per connection.  Each DELIVER
  or REPORT is read by the translator and handed to ``on_inbound``; the session answers it
  once the returned Deferred fires (stored), fails (not stored: the SMG delivers it again) or
  the translator cannot read it (unreadable: refused for good).  A connection with more than
  ``max_unacknowledged`` of them unanswered is not read until half are answered (TCP holds
  the SMG back), as the shared transport does.  Stopping UNBINDs every bound SMG and waits up
  to the settings' ``unbind_timeout`` before closing the port.
"""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from twisted.application import service
from twisted.internet import defer, protocol
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.interfaces import (
    IListeningPort,
    IReactorTime,
    IStreamClientEndpoint,
    IStreamServerEndpoint,
)
from twisted.python.failure import Failure

from carriers.deferreds import fire_within
from carriers.link.api import UnreadableMessage
from carriers.link.channel import PeerError
from carriers.link.events import CloseConnection, InboundAnswer, MessageReceived, Unbound
from carriers.link.status import LinkStatus
from carriers.link.transport import CarrierLinkService, InboundHandler, ReconnectPolicy
from carriers.messages import DeliveryReceipt
from carriers.numbers import mask_msisdn
from carriers.sgip.client import SgipClientSession, SgipClientSettings
from carriers.sgip.listener import (
    ListenerEvent,
    PeerBindRefused,
    PeerBound,
    SgipListenerSession,
    SgipListenerSettings,
)
from carriers.sgip.sequence import SequenceGenerator
from carriers.sgip.translate import SgipTranslator

if TYPE_CHECKING:
    from carriers.messages import OutboundMessage, SubmitResult
    from carriers.protocols import LinkParts
    from carriers.sgip.config import SgipLinkConfig

__all__ = [
    "ReconnectPolicy", "SgipCarrierLink", "SgipLink", "SgipListenerService",
    "build_sgip_link",
]

log = logging.getLogger(__name__)


class SgipLink(CarrierLinkService):
    """The SP's submit connection to one SMG, kept up while the service runs."""

    session: SgipClientSession

    def __init__(
        self,
        *,
        carrier: str,
        endpoint: IStreamClientEndpoint,
        settings: SgipClientSettings,
        clock: IReactorTime,
        on_inbound: InboundHandler,
        reconnect: ReconnectPolicy | None = None,
        rng: random.Random | None = None,
        peer: str = "",
        numbers: SequenceGenerator | None = None,
    ) -> None:
        """``on_inbound`` is never called: MOs and reports come through the listener."""
        super().__init__(
            carrier=carrier, endpoint=endpoint,
            session=SgipClientSession(settings, numbers=numbers),
            translator=SgipTranslator(settings), clock=clock, on_inbound=on_inbound,
            reconnect=reconnect, rng=rng, peer=peer,
        )


class _ListenerConnection(protocol.Protocol):
    """Moves bytes between one SMG connection and its listener session."""

    def __init__(self, listener: SgipListenerService, session: SgipListenerSession) -> None:
        self.listener = listener
        self.session = session
        self._timer: Any = None
        self.reading_paused = False

    def connectionMade(self) -> None:
        self.listener._connections.add(self)
        self.session.connection_made(self.listener._now())
        self.flush()

    def dataReceived(self, data: bytes) -> None:
        self.dispatch(self.session.receive_data(data, self.listener._now()))
        self.flush()

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.listener._connections.discard(self)
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        self.dispatch(self.session.connection_lost(self.listener._now()))
        self.listener._connection_closed()

    def flush(self) -> None:
        data = self.session.data_to_send()
        if data and self.transport is not None:
            self.transport.write(data)
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        deadline = self.session.next_deadline()
        if deadline is not None and self.transport is not None:
            delay = max(0.0, deadline - self.listener._now())
            self._timer = self.listener._clock.callLater(delay, self._tick)

    def _tick(self) -> None:
        self._timer = None
        self.dispatch(self.session.tick(self.listener._now()))
        self.flush()

    def dispatch(self, events: list[ListenerEvent]) -> None:
        carrier = self.listener.carrier
        for event in events:
            if isinstance(event, MessageReceived):
                self.listener._receive(self, event)
            elif isinstance(event, PeerBound):
                self.listener.binds += 1
                log.info("%s listener: the SMG bound as %s", carrier, event.login_name)
            elif isinstance(event, PeerBindRefused):
                log.warning("%s listener: refused a BIND as %r (result %d)", carrier,
                            event.login_name, event.result)
            elif isinstance(event, PeerError):
                log.warning("%s listener: bad PDU from the SMG: %s; pdu=%s", carrier,
                            event.reason, event.frame_hex or "-")
            elif isinstance(event, Unbound):
                log.info("%s listener: unbound (%s)", carrier,
                         "by the SMG" if event.by_peer else "by us")
            elif isinstance(event, CloseConnection):
                log.info("%s listener: closing connection: %s", carrier, event.reason)
                if self.transport is not None:
                    self.flush()
                    self.transport.loseConnection()


class _ListenerFactory(protocol.Factory):
    noisy = False

    def __init__(self, listener: SgipListenerService) -> None:
        self.listener = listener

    def buildProtocol(self, addr: Any) -> _ListenerConnection | None:
        allowed = self.listener.allowed_addresses
        host = getattr(addr, "host", None)
        if allowed and host not in allowed:
            log.warning("%s listener: refused a connection from %s (not in "
                        "allowed_smg_addresses)", self.listener.carrier, host)
            return None  # Twisted closes the connection at once
        return _ListenerConnection(self.listener, self.listener._new_session())


class SgipListenerService(service.Service):
    """The SP's server for the SMG's connections back: DELIVERs (MOs) and REPORTs."""

    def __init__(
        self,
        *,
        carrier: str,
        endpoint: IStreamServerEndpoint,
        settings: SgipListenerSettings,
        translator: SgipTranslator,
        clock: IReactorTime,
        on_inbound: InboundHandler,
        numbers: SequenceGenerator | None = None,
        max_unacknowledged: int = 1000,
        allowed_addresses: frozenset[str] = frozenset(),
        status: LinkStatus | None = None,
    ) -> None:
        """``status``: the carrier link's status, told of every MO and report (SGIP's
        submit link shares it). Above ``max_unacknowledged`` MOs and reports of one
        connection handed up and not answered, that connection is not read (TCP then holds
        the SMG back) until half of them are answered. ``allowed_addresses``: the peers
        accepted (empty: any)."""
        self.allowed_addresses = allowed_addresses
        if max_unacknowledged < 1:
            raise ValueError("max_unacknowledged must be at least 1")
        self.carrier = carrier
        self.max_unacknowledged = max_unacknowledged
        self.paused_reading = 0
        """How many times a connection's reading was paused."""
        self.setName(f"sgip-listener:{carrier}")
        self.settings = settings
        self.translator = translator
        self._endpoint = endpoint
        self._clock = clock
        self._on_inbound = on_inbound
        self._numbers = numbers or SequenceGenerator(settings.node_id)
        self._port: IListeningPort | None = None
        self._connections: set[_ListenerConnection] = set()
        self._next_connection = 1
        self._all_closed: defer.Deferred[None] | None = None
        self._listening_waiters: list[defer.Deferred[None]] = []
        self.status = status if status is not None else LinkStatus(
            carrier=carrier, protocol="sgip")
        self.binds = 0
        self.received = 0
        """MOs and reports handed to ``on_inbound``."""

    @property
    def port(self) -> int:
        """The TCP port listened on (once started)."""
        if self._port is None:
            raise RuntimeError("the listener is not listening")
        return int(self._port.getHost().port)  # type: ignore[attr-defined]

    @property
    def connections(self) -> int:
        return len(self._connections)

    @property
    def unacknowledged(self) -> int:
        """MOs and reports handed up and not yet answered, on all connections."""
        return sum(connection.session.unanswered for connection in self._connections)

    @property
    def reading_paused(self) -> bool:
        return any(connection.reading_paused for connection in self._connections)

    def startService(self) -> None:
        super().startService()
        listening = self._endpoint.listen(_ListenerFactory(self))

        def listening_on(port: IListeningPort) -> None:
            self._port = port
            log.info("%s listener: waiting for the SMG on %s", self.carrier, port.getHost())
            waiters, self._listening_waiters = self._listening_waiters, []
            for waiter in waiters:
                waiter.callback(None)

        def failed(failure: Failure) -> None:
            log.error("%s listener: cannot listen: %s", self.carrier, failure.getErrorMessage())
            waiters, self._listening_waiters = self._listening_waiters, []
            for waiter in waiters:
                waiter.errback(failure)

        listening.addCallbacks(listening_on, failed)

    def listening(self) -> defer.Deferred[None]:
        """Fires once the port is open (errback when it cannot be)."""
        if self._port is not None:
            return defer.succeed(None)
        waiter: defer.Deferred[None] = defer.Deferred()
        self._listening_waiters.append(waiter)
        return waiter

    def stopService(self) -> defer.Deferred[None]:
        """UNBIND every connection, wait for them to close (up to ``unbind_timeout``), then
        stop listening."""
        super().stopService()
        for connection in list(self._connections):
            connection.dispatch(connection.session.unbind(self._now()))
            connection.flush()
        closed: defer.Deferred[None]
        if self._connections:
            self._all_closed = defer.Deferred()
            closed = fire_within(self._all_closed, self.settings.unbind_timeout, self._clock)
        else:
            closed = defer.succeed(None)

        def stop_listening(_: object) -> defer.Deferred[None] | None:
            for connection in list(self._connections):
                if connection.transport is not None:
                    connection.transport.abortConnection()  # type: ignore[attr-defined]
            port, self._port = self._port, None
            return None if port is None else defer.maybeDeferred(port.stopListening)

        return closed.addBoth(stop_listening)

    # -- for the connections ---------------------------------------------------------------

    def _now(self) -> float:
        return self._clock.seconds()

    def _new_session(self) -> SgipListenerSession:
        number, self._next_connection = self._next_connection, self._next_connection + 1
        return SgipListenerSession(self.settings, connection=number, numbers=self._numbers)

    def _connection_closed(self) -> None:
        if not self._connections and self._all_closed is not None \
                and not self._all_closed.called:
            self._all_closed.callback(None)

    def _receive(self, connection: _ListenerConnection, event: MessageReceived) -> None:
        session = connection.session
        try:
            message = self.translator.read(
                event.pdu, carrier=self.carrier,
                received_at=datetime.fromtimestamp(self._now(), UTC))
        except UnreadableMessage as exc:
            log.warning("%s listener: unreadable message from %s refused: %s", self.carrier,
                        mask_msisdn(self.translator.sender_of(event.pdu)), exc)
            session.acknowledge(event, InboundAnswer.UNREADABLE)
            connection.flush()
            return
        self.received += 1
        if isinstance(message, DeliveryReceipt):
            self.status.on_receipt(message.state.value)
        else:
            self.status.on_mo()
        try:
            stored = self._on_inbound(message)
        except Exception:  # the handler blew up before giving a Deferred
            stored = defer.fail(Failure())

        def acknowledge(_: object) -> None:
            if not session.acknowledge(event):
                log.info("%s listener: connection gone before ack; the SMG will re-deliver",
                         self.carrier)
            self._answered(connection)

        def refuse(failure: Failure) -> None:
            log.error("%s listener: could not store inbound message from %s: %s",
                      self.carrier, mask_msisdn(self.translator.sender_of(event.pdu)),
                      failure.getErrorMessage())
            session.acknowledge(event, InboundAnswer.NOT_STORED)
            self._answered(connection)

        stored.addCallbacks(acknowledge, refuse)
        transport = connection.transport
        if (session.unanswered > self.max_unacknowledged and not connection.reading_paused
                and transport is not None):
            connection.reading_paused = True
            self.paused_reading += 1
            log.info("%s listener: %d inbound messages not yet stored; pausing reads",
                     self.carrier, session.unanswered)
            transport.pauseProducing()  # type: ignore[attr-defined]

    def _answered(self, connection: _ListenerConnection) -> None:
        transport = connection.transport
        if (connection.reading_paused and transport is not None
                and connection.session.unanswered <= self.max_unacknowledged // 2):
            connection.reading_paused = False
            log.info("%s listener: resuming reads", self.carrier)
            transport.resumeProducing()  # type: ignore[attr-defined]
        connection.flush()


class SgipCarrierLink(service.MultiService):
    """An SGIP carrier as the gateway sees any carrier link: submits go out on the
    :class:`SgipLink`, MOs and reports come in through the :class:`SgipListenerService`;
    starting and stopping it starts and stops both."""

    protocol = "sgip"

    def __init__(self, *, link: SgipLink, listener: SgipListenerService) -> None:
        super().__init__()
        self.link = link
        self.listener = listener
        self.carrier = link.carrier
        self.peer = link.peer
        self.setName(f"sgip:{link.carrier}")
        listener.setServiceParent(self)
        link.setServiceParent(self)

    def submit(self, message: OutboundMessage) -> defer.Deferred[list[SubmitResult]]:
        return self.link.submit(message)

    def when_bound(self) -> defer.Deferred[None]:
        return self.link.when_bound()

    def abandon_queued(self) -> int:
        return self.link.abandon_queued()

    @property
    def binds(self) -> int:
        return self.link.binds

    @property
    def status(self) -> LinkStatus:
        return self.link.status

    @property
    def throttled(self) -> int:
        return self.link.throttled

    @property
    def paused_reading(self) -> int:
        return self.listener.paused_reading

    @property
    def is_bound(self) -> bool:
        return self.link.is_bound

    @property
    def queued(self) -> int:
        return self.link.queued

    @property
    def in_flight(self) -> int:
        return self.link.in_flight

    @property
    def window(self) -> int:
        return self.link.window

    @property
    def unacknowledged(self) -> int:
        return self.listener.unacknowledged

    @property
    def reading_paused(self) -> bool:
        return self.listener.reading_paused


LISTEN_BACKLOG = 256
"""Pending connections the kernel queues for the listener (Twisted's default is 50)."""


def build_sgip_link(
    config: SgipLinkConfig, parts: LinkParts, *,
    listen_endpoint: IStreamServerEndpoint | None = None,
) -> SgipCarrierLink:
    """Both SGIP services from the link's settings table (not started).

    ``listen_endpoint`` defaults to TCP on ``listen_host:listen_port`` built with
    ``parts.clock``, which must then also be the reactor (as ``gateway.app`` passes it).
    """
    from carriers.link.transport import ReconnectPolicy

    settings = config.session_settings(parts.secret, tps_share=parts.tps_share)
    translator = SgipTranslator(settings)
    numbers = SequenceGenerator(config.node_id)
    link = SgipLink(
        carrier=parts.carrier, endpoint=parts.endpoint, settings=settings, clock=parts.clock,
        on_inbound=parts.on_inbound, peer=f"{config.host}:{config.port}", numbers=numbers,
        reconnect=ReconnectPolicy(initial_delay=config.reconnect_initial_delay,
                                  max_delay=config.reconnect_max_delay),
    )
    if listen_endpoint is None:
        # A deep accept queue: a burst of connections (a bind flood, or the SMG reconnecting
        # amid one) waits in the kernel seconds longer than it takes us to refuse it.
        listen_endpoint = TCP4ServerEndpoint(parts.clock, config.listen_port,  # type: ignore[arg-type]
                                             backlog=LISTEN_BACKLOG, interface=config.listen_host)
    listener = SgipListenerService(
        carrier=parts.carrier, endpoint=listen_endpoint,
        settings=config.listener_settings(config.resolved_smg_password()),
        translator=translator, clock=parts.clock, on_inbound=parts.on_inbound,
        numbers=numbers, max_unacknowledged=config.max_unacknowledged,
        allowed_addresses=frozenset(config.allowed_smg_addresses), status=link.status,
    )
    return SgipCarrierLink(link=link, listener=listener)
