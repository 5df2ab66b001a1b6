"""The child side of a link in its own process (started as ``python -m gateway.link_process``).

The gateway starts it with two extra pipes: it reads frames from file descriptor 3 and
writes frames to file descriptor 4 (:mod:`gateway.link_process.frames`); stdout and stderr
are the gateway's own.  The first operation it reads is ``("start", LinkSpec)``; it then
builds the protocol's ordinary link (:data:`carriers.protocols.PROTOCOLS`) and runs it until
told ``("stop",)`` or until its input ends (the gateway is gone), logging out either way.

Everything the link produces within one reactor turn (submit results, MOs and receipts read,
log records) goes up in one frame; a status snapshot goes up every ``status_interval``
seconds and as soon as the link binds.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer, protocol
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.python.failure import Failure
from zope.interface import implementer

from carriers.link.config import LinkConfig
from carriers.link.status import LinkStatus
from carriers.messages import DeliveryReceipt, InboundMessage, OutboundMessage, SubmitResult
from carriers.protocols import PROTOCOLS, LinkParts
from gateway.link_process.frames import BadFrame, FrameReader, Operation, encode
from gateway.log_format import record_fields

log = logging.getLogger(__name__)

PARENT_TO_WORKER = 3
"""The child's file descriptor for frames from the gateway."""
WORKER_TO_PARENT = 4
"""The child's file descriptor for frames to the gateway."""
EXIT_WAIT = 5.0
"""Seconds a stopped worker waits for its last frames to be written before it exits."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkSpec:
    """What a worker needs to build its link (sent in the first frame, never on a command
    line, since it holds the secret)."""

    carrier: str
    config: LinkConfig
    secret: str
    tps_share: float = 1.0
    log_level: int = logging.INFO
    status_interval: float = 0.25


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkSnapshot:
    """The link's figures as the worker last saw them (the parent's link status reads these)."""

    status: LinkStatus
    is_bound: bool
    queued: int
    in_flight: int
    window: int
    unacknowledged: int
    reading_paused: bool
    binds: int
    throttled: int
    paused_reading: int
    idle: bool


class InboundRefused(Exception):
    """The gateway could not store an MO or receipt (the link refuses it; it comes again)."""


class _ForwardToParent(logging.Handler):
    """Log records of the worker go up to the gateway, which logs them as its own."""

    def __init__(self, worker: LinkWorker) -> None:
        super().__init__()
        self._worker = worker

    def emit(self, record: logging.LogRecord) -> None:
        try:
            exc_text = _TRACEBACKS.formatException(record.exc_info) if record.exc_info else ""
            self._worker.send(("log", record.name, record.levelno, record.getMessage(),
                               _plain(record_fields(record)), exc_text))
        except Exception:  # a log line must never take the link down
            self.handleError(record)


_TRACEBACKS = logging.Formatter()


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """Log fields that survive pickling (anything else as its text)."""
    return {key: value if isinstance(value, str | int | float | bool | type(None)) else str(value)
            for key, value in values.items()}


class LinkWorker:
    """Runs one link for the gateway at the other end of the pipes. I/O is injected: frames go
    out through ``write``; ``finished`` is called once the link has logged out."""

    def __init__(self, *, reactor: Any, write: Callable[[bytes], None],
                 finished: Callable[[], None]) -> None:
        self._reactor = reactor
        self._write = write
        self._finished = finished
        self._outbox: list[Operation] = []
        self._flush_call: Any = None
        self._status_call: Any = None
        self._link: Any = None
        self._spec: LinkSpec | None = None
        self._inbound_ids = itertools.count(1)
        self._awaiting: dict[int, defer.Deferred[None]] = {}
        """MOs and receipts handed up, by id, until the gateway answers."""
        self._stopping = False

    # -- from the gateway ---------------------------------------------------------------

    def received(self, operations: list[Operation]) -> None:
        for operation in operations:
            kind = operation[0]
            if kind == "submit":
                self._submit_run(operation[1])
            elif kind == "answer":
                self._answer(operation[1])
            elif kind == "start":
                try:
                    self._start(operation[1])
                except Exception:
                    log.exception("link worker: could not start the link; exiting")
                    self.stop()
            elif kind == "when_bound":
                if self._link is not None:
                    self._link.when_bound().addCallback(self._report_bound)
            elif kind == "abandon":
                if self._link is not None:
                    self._link.abandon_queued()
            elif kind == "stop":
                self.stop()
            else:
                log.error("link worker: unknown operation %r from the gateway", kind)

    def input_ended(self) -> None:
        """The gateway closed our input (it stopped or died): log out and exit. A link that
        logs out writes no more submits (those queued resolve NOT_SENT), so nothing is sent
        that nobody would record; the gateway's next run finds those deliveries as it left
        them."""
        if not self._stopping:
            log.warning("link worker: the gateway went away; logging out")
            self.stop()

    def stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        if self._status_call is not None and self._status_call.active():
            self._status_call.cancel()
        link = self._link
        stopped: defer.Deferred[Any] = (
            defer.maybeDeferred(link.stopService) if link is not None and link.running
            else defer.succeed(None))

        def done(result: object) -> None:
            if isinstance(result, Failure):
                log.error("link worker: logging out failed: %s", result.getErrorMessage())
            # Whatever the link resolved while stopping (NOT_SENT, UNANSWERED) goes up first.
            self._send_status()
            self.flush()
            self._finished()

        stopped.addBoth(done)

    # -- to the gateway -----------------------------------------------------------------

    def send(self, operation: Operation) -> None:
        self._outbox.append(operation)
        if self._flush_call is None:
            self._flush_call = self._reactor.callLater(0, self.flush)

    def flush(self) -> None:
        if self._flush_call is not None and self._flush_call.active():
            self._flush_call.cancel()
        self._flush_call = None
        if self._outbox:
            operations, self._outbox = self._outbox, []
            self._write(encode(operations))

    # -- internals ----------------------------------------------------------------------

    def _start(self, spec: LinkSpec) -> None:
        if self._link is not None:
            log.error("link worker: asked to start twice; ignored")
            return
        self._spec = spec
        logging.getLogger().setLevel(spec.log_level)
        config = spec.config
        endpoint = TCP4ClientEndpoint(self._reactor, config.host, config.port,
                                      timeout=config.connect_timeout)
        parts = LinkParts(carrier=spec.carrier, secret=spec.secret, endpoint=endpoint,
                          clock=self._reactor, on_inbound=self._hand_up,
                          tps_share=spec.tps_share)
        self._link = PROTOCOLS[config.protocol].build_link(config, parts)
        self._link.startService()
        self._link.when_bound().addCallback(self._report_bound)
        self._status_tick()

    def _submit_run(self, run: list[tuple[int, OutboundMessage]]) -> None:
        link = self._link
        if link is None:
            for token, _message in run:
                self.send(("result", token, None, "link worker not started"))
            return
        with getattr(link, "coalesced", contextlib.nullcontext)():
            for token, message in run:
                link.submit(message).addCallbacks(self._resolved, self._failed,
                                                  callbackArgs=(token,), errbackArgs=(token,))

    def _resolved(self, results: list[SubmitResult], token: int) -> None:
        self.send(("result", token, results, ""))

    def _failed(self, failure: Failure, token: int) -> None:
        log.error("link worker: submit failed: %s", failure.getErrorMessage())
        self.send(("result", token, None, failure.getErrorMessage()))

    def _hand_up(self, message: InboundMessage | DeliveryReceipt) -> defer.Deferred[None]:
        inbound_id = next(self._inbound_ids)
        answered = defer.Deferred[None]()
        self._awaiting[inbound_id] = answered
        self.send(("inbound", inbound_id, message))
        return answered

    def _answer(self, answers: list[tuple[int, str]]) -> None:
        """The gateway's answers: an empty reason means stored."""
        awaiting = self._awaiting
        for inbound_id, refusal in answers:
            waiter = awaiting.pop(inbound_id, None)
            if waiter is None:
                continue
            if refusal:
                waiter.errback(Failure(InboundRefused(refusal)))
            else:
                waiter.callback(None)

    def _report_bound(self, _: object) -> None:
        self._send_status()

    def _status_tick(self) -> None:
        self._send_status()
        assert self._spec is not None
        self._status_call = self._reactor.callLater(self._spec.status_interval, self._status_tick)

    def _send_status(self) -> None:
        link = self._link
        if link is None:
            return
        self.send(("status", LinkSnapshot(
            status=link.status, is_bound=link.is_bound, queued=link.queued,
            in_flight=link.in_flight, window=link.window, unacknowledged=link.unacknowledged,
            reading_paused=link.reading_paused, binds=link.binds, throttled=link.throttled,
            paused_reading=link.paused_reading, idle=bool(getattr(link, "idle", False)))))


@implementer(IHalfCloseableProtocol)
class _ParentPipes(protocol.Protocol):
    """Frames from the gateway in, through the worker."""

    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor
        self._reader = FrameReader()
        self.worker = LinkWorker(reactor=reactor, write=self._write, finished=self._finished)
        self._done = False

    def _write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def dataReceived(self, data: bytes) -> None:
        try:
            operations = self._reader.feed(data)
        except BadFrame as exc:
            log.error("link worker: unreadable frame from the gateway (%s); logging out", exc)
            self.worker.stop()
            return
        self.worker.received(operations)

    def readConnectionLost(self) -> None:
        self.worker.input_ended()

    def writeConnectionLost(self) -> None:
        self.worker.input_ended()

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        if self._done:
            self._exit()  # what was buffered for the gateway has been written (or cannot be)
        else:
            self.worker.input_ended()

    def _finished(self) -> None:
        if self._done:
            return
        self._done = True
        if self.transport is not None:
            self.transport.loseConnection()  # writes what is buffered first, then closes
        self._reactor.callLater(EXIT_WAIT, self._exit)  # in case the gateway never reads

    def _exit(self) -> None:
        if self._reactor.running:
            self._reactor.stop()


def main() -> int:
    from twisted.internet import reactor, stdio

    pipes = _ParentPipes(reactor)
    root = logging.getLogger()
    root.handlers[:] = [_ForwardToParent(pipes.worker)]
    root.setLevel(logging.INFO)  # until the gateway's own level comes with "start"
    stdio.StandardIO(pipes, stdin=PARENT_TO_WORKER, stdout=WORKER_TO_PARENT,
                     reactor=reactor)  # type: ignore[arg-type]
    reactor.run()  # type: ignore[attr-defined]
    return 0

