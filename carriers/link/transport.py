"""The one Twisted transport every carrier link runs on.

:class:`CarrierLinkService` is a Twisted ``Service``: it keeps one TCP connection to a
carrier up through ``ClientService`` (exponential backoff with jitter), moves bytes between
the socket and a sans-IO :class:`~carriers.link.api.LinkSession`, schedules the session's
timers on an injected clock, hands MOs and receipts up and acknowledges each only once the
layer above has stored it, and turns session events into Deferreds of classified, neutral
results.  On stop it logs out gracefully.  What differs between protocols is the session and
the :class:`~carriers.link.api.MessageTranslator` it is given.

Connecting on demand: a session may say through an optional ``wants_connection`` property
whether it wants a connection now (SGIP's does not after it closed an idle connection, until
work is queued).  A session without the property always wants one (SMPP, CMPP, SMGP: the link
is kept up, reconnecting with backoff, exactly as before).  When a connection ends while the
session wants none, the link stops its ``ClientService`` (no reconnect, no retry timer) and
is *idle*; a :meth:`CarrierLinkService.submit` that queues work, or a
:meth:`CarrierLinkService.when_bound`, starts it again (a stopped ``ClientService`` may be
started again: its state machine goes from Stopped back to Connecting).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from twisted.application import service
from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet import defer, protocol
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.python.failure import Failure
from zope.interface import implementer

from carriers.deferreds import fire_within
from carriers.link.api import LinkSession, MessageTranslator, UnreadableMessage
from carriers.link.channel import PeerError
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
from carriers.link.status import LinkStatus
from carriers.messages import (
    DeliveryReceipt,
    InboundMessage,
    Lane,
    OutboundMessage,
    SubmitOutcome,
    SubmitResult,
)
from carriers.numbers import mask_msisdn

log = logging.getLogger(__name__)

InboundHandler = Callable[[InboundMessage | DeliveryReceipt], "defer.Deferred[Any]"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconnectPolicy:
    initial_delay: float = 1.0
    max_delay: float = 60.0
    factor: float = 2.0


class _PendingMessage:
    """The parts of one outbound message awaiting their results."""

    __slots__ = ("deferred", "remaining", "results")

    def __init__(self, parts: int) -> None:
        self.deferred: defer.Deferred[list[SubmitResult]] = defer.Deferred()
        self.results: list[SubmitResult | None] = [None] * parts
        self.remaining = parts
        if not parts:
            self.deferred.callback([])

    def resolve(self, index: int, result: SubmitResult) -> None:
        self.results[index] = result
        self.remaining -= 1
        if self.remaining == 0:
            self.deferred.callback(self.results)  # type: ignore[arg-type]


class _LinkProtocol(protocol.Protocol):
    """Moves bytes between one TCP connection and the link's session."""

    def __init__(self, link: CarrierLinkService) -> None:
        self.link = link

    def connectionMade(self) -> None:
        self.link._connection_made(self)

    def dataReceived(self, data: bytes) -> None:
        self.link._data_received(data)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.link._connection_lost(self, reason)


@implementer(IStreamClientEndpoint)
class _RecordingEndpoint:
    """The link's endpoint, telling the link's status about every failed connection
    attempt (``ClientService`` retries those on its own, so the link never sees them)."""

    def __init__(self, endpoint: IStreamClientEndpoint, link: CarrierLinkService) -> None:
        self._endpoint = endpoint
        self._link = link

    def connect(self, factory: protocol.Factory) -> defer.Deferred[Any]:
        def failed(failure: Failure) -> Failure:
            self._link.status.on_connect_failed(failure.getErrorMessage(), self._link._now())
            return failure

        return self._endpoint.connect(factory).addErrback(failed)


class _LinkFactory(protocol.Factory):
    noisy = False

    def __init__(self, link: CarrierLinkService) -> None:
        self.link = link

    def buildProtocol(self, addr: Any) -> _LinkProtocol:
        return _LinkProtocol(self.link)


class CoalescedSubmits:
    """``coalesced()`` for a link: submits made inside are written out together, at the end
    (a dispatch hands over a run of messages in one go). The link keeps ``_coalescing`` (open
    blocks; it writes at once only when there are none) and ``_flush`` (write what waits)."""

    _coalescing: int

    def _flush(self) -> None:
        raise NotImplementedError

    @contextmanager
    def coalesced(self) -> Iterator[None]:
        self._coalescing += 1
        try:
            yield
        finally:
            self._coalescing -= 1
            if not self._coalescing:
                self._flush()


class CarrierLinkService(CoalescedSubmits, service.Service):
    """One link to one carrier, kept up for as long as the service runs.

    Inbound backpressure: every MO or receipt handed to ``on_inbound`` counts as
    unacknowledged until its Deferred fires (and it is acknowledged or refused).  Above
    ``max_unacknowledged`` the link stops reading the socket, so TCP flow control holds
    the carrier however fast it sends; it reads again once the count falls to half the bound.
    One read may carry many PDUs and all of them are handed up, so the bound is soft by
    at most one read's worth (64 KiB of PDUs).  The count and the paused state belong to
    the connection: a new connection starts at zero, reading.

    Earlier, above half the bound, bulk submits are held (replies still go) until the count
    falls to a quarter: what a fast SMSC answers with receipts is then at most the window,
    so the link keeps reading and an MO behind those receipts is read (and answered) soon.
    """

    def __init__(
        self,
        *,
        carrier: str,
        endpoint: IStreamClientEndpoint,
        session: LinkSession,
        translator: MessageTranslator,
        clock: IReactorTime,
        on_inbound: InboundHandler,
        reconnect: ReconnectPolicy | None = None,
        rng: random.Random | None = None,
        peer: str = "",
        max_unacknowledged: int = 1000,
        status: LinkStatus | None = None,
    ) -> None:
        """``status``: where the link records its state and figures (default: a new
        :class:`~carriers.link.status.LinkStatus`; SGIP shares one with its listener)."""
        if max_unacknowledged < 1:
            raise ValueError("max_unacknowledged must be at least 1")
        self.carrier = carrier
        self.peer = peer
        self.protocol = translator.protocol
        self.setName(f"{self.protocol}-link:{carrier}")
        self.status = status if status is not None else LinkStatus(
            carrier=carrier, protocol=self.protocol, peer=peer)
        self.session = session
        self.translator = translator
        self._clock = clock
        self._on_inbound = on_inbound
        self._protocol: _LinkProtocol | None = None
        self._timer: Any = None
        self._pending: dict[int, tuple[_PendingMessage, int]] = {}
        self._closed = defer.Deferred[None]()
        self._bound_waiters: list[defer.Deferred[None]] = []
        self._idle = False
        """The connection ended while the session wanted none: ``self._client`` is stopped
        (no reconnecting) until work is queued or ``when_bound`` is asked."""
        policy = reconnect or ReconnectPolicy()
        jitter_source = rng or random.Random()
        self._client = ClientService(
            _RecordingEndpoint(endpoint, self),
            _LinkFactory(self),
            retryPolicy=backoffPolicy(
                initialDelay=policy.initial_delay,
                maxDelay=policy.max_delay,
                factor=policy.factor,
                jitter=jitter_source.random,
            ),
            clock=clock,
        )
        self.binds = 0
        self.throttled = 0
        """Throttling episodes (each logged once, with the pause it starts)."""
        self.max_unacknowledged = max_unacknowledged
        self._unacknowledged = 0
        """Inbound messages of the current connection handed up and not yet answered."""
        self._reading_paused = False
        self._bulk_held = False
        self.paused_reading = 0
        """How many times reading was paused because too much was unacknowledged."""
        self._coalescing = 0
        """Open :meth:`coalesced` blocks: submits wait for the last one's end to be written."""
        self._read_at: float | None = None
        """While a read is handled: when it arrived."""
        self._read_datetime: datetime | None = None
        """That time as a datetime, made once per read when a message first needs it."""

    # -- service lifecycle -------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        log.info("%s link: connecting to %s", self.carrier, self.peer or "the carrier",
                 extra=self._fields("link_connecting"))
        self.status.on_started(self._now())
        self._client.startService()

    def stopService(self) -> defer.Deferred[None]:
        """Unbind gracefully (waiting up to unbind_timeout for responses), then disconnect."""
        super().stopService()
        log.info("%s link: unbinding", self.carrier)
        self._dispatch(self.session.unbind(self._now()))
        self._flush()
        limit = self.session.stop_timeout
        closed = self._closed
        if self.session.state is LinkState.CLOSED and self._protocol is None:
            closed = defer.succeed(None)
        waiter = fire_within(closed, limit, self._clock)

        def stop_client(_: object) -> defer.Deferred[None]:
            self.status.on_disconnected(self._now(), closed=True)
            return self._client.stopService()

        return waiter.addBoth(stop_client)

    def when_bound(self) -> defer.Deferred[None]:
        """Fires when the link is bound (at once if it already is).

        An idle link (its session closed the connection and wants none until there is work:
        SGIP) is healthy but not bound: asking connects it on demand, as a submit would, and
        this fires at that bind; with nothing to send it idles out again later.  A link
        reconnecting (SMPP, CMPP, SMGP, or SGIP with work) fires at its next bind."""
        if self.session.is_bound:
            return defer.succeed(None)
        waiter = defer.Deferred[None]()
        self._bound_waiters.append(waiter)
        self._connect_on_demand(work=False)
        return waiter

    @property
    def idle(self) -> bool:
        """Not connected and not reconnecting because the session wants no connection
        (``wants_connection``); a submit connects again."""
        return self._idle

    # -- API for the layer above ---------------------------------------------------------

    def submit(self, message: OutboundMessage) -> defer.Deferred[list[SubmitResult]]:
        """Queue every part of ``message``; fires with one result per part."""
        now = self._now()
        frames = self.translator.frames_for(message)
        pending = _PendingMessage(len(frames))
        for index, frame in enumerate(frames):
            try:
                token = self.session.submit_encoded(frame, now, message.lane)
            except RuntimeError as exc:
                pending.resolve(index, SubmitResult(outcome=SubmitOutcome.NOT_SENT,
                                                    reason=str(exc)))
                continue
            self._pending[token] = (pending, index)
        if not self._coalescing:
            self._flush()
        if frames:
            self._connect_on_demand(work=True)
        return pending.deferred

    @property
    def queued(self) -> int:
        return self.session.queued

    @property
    def in_flight(self) -> int:
        return self.session.in_flight

    @property
    def window(self) -> int:
        return self.session.window

    @property
    def is_bound(self) -> bool:
        return self.session.is_bound

    def abandon_queued(self) -> int:
        """Take back the bulk submits still queued (not written): each resolves NOT_SENT.
        A stopping dispatch does this so that it waits only for what is really in flight."""
        events = self.session.abandon_queued(Lane.BULK)
        self._dispatch(events)
        return len(events)

    @property
    def unacknowledged(self) -> int:
        """Inbound messages of the current connection not yet acknowledged or refused."""
        return self._unacknowledged

    @property
    def reading_paused(self) -> bool:
        return self._reading_paused

    # -- called by the protocol ----------------------------------------------------------

    def _connection_made(self, proto: _LinkProtocol) -> None:
        self._protocol = proto
        self._unacknowledged = 0
        self._reading_paused = False
        self._bulk_held = False
        self.session.hold_bulk(False, self._now())
        log.info("%s link: connected to %s, logging in as %s", self.carrier,
                 self.peer or "the carrier", self.session.login_name)
        self.session.connection_made(self._now())
        self._flush()

    def _data_received(self, data: bytes) -> None:
        now = self._now()
        self._read_at, self._read_datetime = now, None
        try:
            self._dispatch(self.session.receive_data(data, now))
        finally:
            self._read_at = None
        self._flush()

    def _received_at(self) -> datetime:
        """When the read that brought the message being handled arrived (the same for all
        the messages of one read, and made once for them); outside a read, now."""
        if self._read_at is None:
            return datetime.fromtimestamp(self._now(), UTC)
        if self._read_datetime is None:
            self._read_datetime = datetime.fromtimestamp(self._read_at, UTC)
        return self._read_datetime

    def _connection_lost(self, proto: _LinkProtocol, reason: Failure) -> None:
        if proto is not self._protocol:
            return
        self._protocol = None
        self._unacknowledged = 0
        self._reading_paused = False
        self._bulk_held = False
        self.session.hold_bulk(False, self._now())
        was_bound = self.session.is_bound
        now = self._now()
        self._dispatch(self.session.connection_lost(now))
        closed = self.session.state is LinkState.CLOSED
        idle = not closed and self.running and not self._wants_connection()
        if not closed and not idle:
            self.status.on_error(f"connection lost: {reason.getErrorMessage()}", now)
        self.status.on_disconnected(now, idle=idle, closed=closed)
        if closed:
            log.info("%s link: closed", self.carrier)
            if not self._closed.called:
                self._closed.callback(None)
        elif self.running and not self._wants_connection():
            # Stopped from inside connectionLost: ClientService is still Connected, goes to
            # Disconnecting, and its own lost notification (right after this returns) ends in
            # Stopped, so no retry is ever scheduled.  loseConnection on the closed transport
            # is a no-op.
            log.info("%s link: connection closed; connecting again when there is work",
                     self.carrier)
            self._idle = True
            self._client.stopService()
        elif was_bound or self.running:
            log.warning("%s link: connection lost (%s); reconnecting", self.carrier,
                        reason.getErrorMessage(),
                        extra=self._fields("reconnect", reason=reason.getErrorMessage(),
                                           was_bound=was_bound, binds=self.binds))
        self._schedule()

    # -- internals -----------------------------------------------------------------------

    def _now(self) -> float:
        return self._clock.seconds()

    def _fields(self, event: str, **values: object) -> dict[str, object]:
        """The ``extra=`` of a log line about this link (see ``gateway/log_format.py``)."""
        return {"event": event, "carrier": self.carrier, "protocol": self.protocol,
                "peer": self.peer, **values}

    def _wants_connection(self) -> bool:
        """The session's optional ``wants_connection`` (absent: always)."""
        return bool(getattr(self.session, "wants_connection", True))

    def _connect_on_demand(self, *, work: bool) -> None:
        """Start connecting again if the link is idle (and running, and not closing)."""
        if not self._idle or not self.running or self.session.state is LinkState.CLOSED:
            return
        if work and not self._wants_connection():
            return  # nothing was really queued (every part refused at once)
        self._idle = False
        self.status.on_connecting(self._now())
        log.info("%s link: %s; connecting to %s", self.carrier,
                 "work queued" if work else "asked to bind", self.peer or "the carrier",
                 extra=self._fields("link_connecting"))
        self._client.startService()

    def _flush(self) -> None:
        self._write()
        self._schedule()

    def _write(self) -> None:
        """Write what the session has to send (no timer to reschedule: an answer to an
        inbound message changes none of the session's deadlines)."""
        data = self.session.data_to_send()
        if data and self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.write(data)

    def _schedule(self) -> None:
        deadline = self.session.next_deadline()
        if self._timer is not None and self._timer.active():
            if deadline is not None and self._timer.getTime() <= deadline + 1e-6:
                return  # an earlier (or equal) tick is already due; it reschedules
            self._timer.cancel()
        self._timer = None
        if deadline is not None and self._protocol is not None:
            delay = max(0.0, deadline - self._now())
            self._timer = self._clock.callLater(delay, self._tick)

    def _tick(self) -> None:
        self._timer = None
        self._dispatch(self.session.tick(self._now()))
        self._flush()

    def _resolve(self, token: int, result: SubmitResult) -> None:
        entry = self._pending.pop(token, None)
        if entry is not None:
            entry[0].resolve(entry[1], result)

    def _dispatch(self, events: list[SessionEvent]) -> None:
        status = self.status
        for event in events:
            if isinstance(event, SubmitAccepted):
                status.on_accepted(event.latency)
                self._resolve(event.token, SubmitResult(
                    outcome=SubmitOutcome.ACCEPTED, message_id=event.message_id))
            elif isinstance(event, SubmitRejected):
                outcome = self.translator.classify(event.status)
                status.on_refused(outcome.value, event.latency)
                self._resolve(event.token, SubmitResult(
                    outcome=outcome, status=event.status,
                    reason=self.translator.status_name(event.status)))
            elif isinstance(event, SubmitUnanswered):
                status.on_refused(SubmitOutcome.UNANSWERED.value)
                self._resolve(event.token, SubmitResult(
                    outcome=SubmitOutcome.UNANSWERED, reason=event.reason))
            elif isinstance(event, SubmitNotSent):
                status.on_refused(SubmitOutcome.NOT_SENT.value)
                self._resolve(event.token, SubmitResult(
                    outcome=SubmitOutcome.NOT_SENT, reason="link shut down"))
            elif isinstance(event, MessageReceived):
                self._receive(event)
            elif isinstance(event, Bound):
                self.binds += 1
                status.on_bound(self._now())
                log.info("%s link: bound to %s (%s)", self.carrier, self.peer or "the carrier",
                         event.peer_id, extra=self._fields("link_bound", binds=self.binds))
                waiters, self._bound_waiters = self._bound_waiters, []
                for waiter in waiters:
                    waiter.callback(None)
            elif isinstance(event, BindRefused):
                refusal = self.translator.login_status_name(event.status)
                status.on_error(f"login refused: {refusal}", self._now())
                log.error("%s link: login refused: %s", self.carrier, refusal,
                          extra=self._fields("login_refused", status=event.status))
            elif isinstance(event, Throttled):
                self.throttled += 1
                status.on_throttled(event.pause, self._now())
                status_name = self.translator.status_name(event.status)
                log.info("%s link: carrier said %s; pausing %.2fs (throttling episode %d)",
                         self.carrier, status_name, event.pause, self.throttled,
                         extra=self._fields("throttled", status=status_name, pause=event.pause,
                                            episodes=self.throttled))
            elif isinstance(event, PeerError):
                status.on_error(f"bad PDU: {event.reason}", self._now())
                log.warning("%s link: bad PDU from %s: %s; pdu=%s", self.carrier,
                            self.peer or "the carrier", event.reason, event.frame_hex or "-")
            elif isinstance(event, Unbound):
                log.info("%s link: unbound (%s)", self.carrier,
                         "by the carrier" if event.by_peer else "by us")
            elif isinstance(event, CloseConnection):
                log.info("%s link: closing connection: %s", self.carrier, event.reason)
                if self.running:
                    status.on_error(f"closing connection: {event.reason}", self._now())
                if self._protocol is not None and self._protocol.transport is not None:
                    self._flush()
                    self._protocol.transport.loseConnection()

    def _receive(self, event: MessageReceived) -> None:
        translator = self.translator
        try:
            message = translator.read(event.pdu, carrier=self.carrier,
                                      received_at=self._received_at())
        except UnreadableMessage as exc:
            log.warning("%s link: unreadable message from %s refused: %s", self.carrier,
                        mask_msisdn(translator.sender_of(event.pdu)), exc,
                        extra=self._fields("inbound_unreadable",
                                           number=mask_msisdn(translator.sender_of(event.pdu))))
            self.session.acknowledge(event, InboundAnswer.UNREADABLE)
            self._flush()
            return
        if isinstance(message, DeliveryReceipt):
            self.status.on_receipt(message.state.value)
        else:
            self.status.on_mo()
        received_on = self._protocol
        self._unacknowledged += 1
        # maybeDeferred: a handler that blows up before giving a Deferred is "not stored".
        stored = defer.maybeDeferred(self._on_inbound, message)
        stored.addCallbacks(self._acknowledge, self._refuse, callbackArgs=(event, received_on),
                            errbackArgs=(event, received_on))
        if self._unacknowledged > self.max_unacknowledged // 2 and not self._bulk_held:
            self._bulk_held = True
            self.session.hold_bulk(True, self._now())
        if self._unacknowledged > self.max_unacknowledged and not self._reading_paused:
            self._pause_reading()

    def _acknowledge(self, _: object, event: MessageReceived,
                     received_on: _LinkProtocol | None) -> None:
        """An inbound message is stored: acknowledge it."""
        if not self.session.acknowledge(event):
            log.info("%s link: connection changed before ack; the carrier will re-deliver",
                     self.carrier)
        if self._answered(received_on):
            self._flush()
        else:
            self._write()

    def _refuse(self, failure: Failure, event: MessageReceived,
                received_on: _LinkProtocol | None) -> None:
        """An inbound message could not be stored: refuse it (the carrier sends it again)."""
        number = mask_msisdn(self.translator.sender_of(event.pdu))
        log.error("%s link: could not store inbound message from %s: %s", self.carrier,
                  number, failure.getErrorMessage(),
                  extra=self._fields("inbound_not_stored", number=number))
        self.session.acknowledge(event, InboundAnswer.NOT_STORED)
        if self._answered(received_on):
            self._flush()
        else:
            self._write()

    def _answered(self, received_on: _LinkProtocol | None) -> bool:
        """One inbound message was acknowledged or refused; read again when few are left.
        True when bulk submits were let go again (the session's deadlines may have moved)."""
        if received_on is None or received_on is not self._protocol:
            return False  # it came on an earlier connection, whose count is gone with it
        self._unacknowledged -= 1
        if self._reading_paused and self._unacknowledged <= self.max_unacknowledged // 2:
            self._resume_reading()
        if self._bulk_held and self._unacknowledged <= self.max_unacknowledged // 4:
            self._bulk_held = False
            self.session.hold_bulk(False, self._now())
            return True
        return False

    def _pause_reading(self) -> None:
        transport = self._protocol.transport if self._protocol is not None else None
        if transport is None:
            return
        self._reading_paused = True
        self.paused_reading += 1
        log.info("%s link: %d inbound messages not yet stored; pausing reads from %s",
                 self.carrier, self._unacknowledged, self.peer or "the carrier")
        transport.pauseProducing()  # type: ignore[attr-defined]

    def _resume_reading(self) -> None:
        self._reading_paused = False
        transport = self._protocol.transport if self._protocol is not None else None
        if transport is None:
            return
        log.info("%s link: %d inbound messages not yet stored; resuming reads from %s",
                 self.carrier, self._unacknowledged, self.peer or "the carrier")
        transport.resumeProducing()  # type: ignore[attr-defined]

