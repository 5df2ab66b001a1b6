"""The gateway's side of a link in its own process: :class:`LinkProcess`.

It stands where the link would (:class:`~carriers.link.api.CarrierLink`): ``submit`` queues
the message for the worker and fires with the worker's results; MOs and receipts the worker
reads are handed to ``on_inbound`` and the answer goes back down once it fires; figures come
from the worker's latest snapshot.  Operations are batched per reactor turn (a dispatch's run
of submits, inside :meth:`LinkProcess.coalesced`, leaves as one frame).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import sys
from typing import Any

from twisted.application import service
from twisted.internet import defer, error, protocol
from twisted.internet.interfaces import IReactorProcess, IReactorTime
from twisted.python.failure import Failure

from carriers.deferreds import fire_within
from carriers.link.config import LinkConfig
from carriers.link.status import LinkStatus
from carriers.link.transport import CoalescedSubmits, InboundHandler
from carriers.messages import OutboundMessage, SubmitOutcome, SubmitResult
from gateway.link_process.frames import BadFrame, FrameReader, Operation, encode
from gateway.link_process.worker import PARENT_TO_WORKER, WORKER_TO_PARENT, LinkSnapshot, LinkSpec

log = logging.getLogger(__name__)

STOP_GRACE = 5.0
"""Seconds a worker gets by default beyond the link's own ``unbind_timeout`` to exit after
"stop"."""


class _WorkerPipes(protocol.ProcessProtocol):
    """One worker process: frames in from its pipe, its end reported to the link."""

    def __init__(self, link: LinkProcess) -> None:
        self.link = link
        self.reader = FrameReader()
        self.ended = False
        self._end_waiters: list[defer.Deferred[None]] = []

    def when_ended(self) -> defer.Deferred[None]:
        """Fires once the process has ended (at once if it has)."""
        if self.ended:
            return defer.succeed(None)
        waiter = defer.Deferred[None]()
        self._end_waiters.append(waiter)
        return waiter

    def childDataReceived(self, fd: int, data: bytes) -> None:
        if fd != WORKER_TO_PARENT:
            return
        try:
            operations = self.reader.feed(data)
        except BadFrame as exc:
            log.error("%s link worker: unreadable frame (%s); stopping it", self.link.carrier, exc)
            self.kill()
            return
        self.link._received(self, operations)

    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.writeToChild(PARENT_TO_WORKER, data)  # type: ignore[attr-defined]

    def kill(self) -> None:
        with contextlib.suppress(error.ProcessExitedAlready, AttributeError):
            self.transport.signalProcess("KILL")  # type: ignore[union-attr]

    def processEnded(self, reason: Failure) -> None:
        self.ended = True
        self.link._ended(self, reason)
        waiters, self._end_waiters = self._end_waiters, []
        for waiter in waiters:
            waiter.callback(None)


class LinkProcess(CoalescedSubmits, service.Service):
    """A carrier link whose session, codec and socket run in a worker process. Submits made
    inside ``coalesced()`` go to the worker in one frame, at the end."""

    def __init__(
        self, *, carrier: str, config: LinkConfig, secret: str, on_inbound: InboundHandler,
        reactor: Any, tps_share: float = 1.0, python: str = sys.executable,
        stop_grace: float = STOP_GRACE,
    ) -> None:
        """``stop_grace``: seconds the worker gets beyond ``config.unbind_timeout`` to exit
        after it is told to stop, before it is killed."""
        self.carrier = carrier
        self.config = config
        self.protocol = config.protocol
        self.peer = f"{config.host}:{config.port}"
        self.setName(f"{self.protocol}-link:{carrier}")
        self._secret = secret
        self._on_inbound = on_inbound
        self._reactor = reactor
        self._clock: IReactorTime = reactor
        self._tps_share = tps_share
        self._python = python
        self._stop_grace = stop_grace
        self._tokens = itertools.count(1)
        self._pending: dict[int, tuple[defer.Deferred[list[SubmitResult]], int]] = {}
        """Submits handed to the current worker, by token, until their results come up."""
        self._submits: list[tuple[int, OutboundMessage]] = []
        self._outbox: list[Operation] = []
        self._answers: list[tuple[int, str]] = []
        self._flush_call: Any = None
        self._coalescing = 0
        self._worker: _WorkerPipes | None = None
        self._snapshot: LinkSnapshot | None = None
        self.status = LinkStatus(carrier=carrier, protocol=self.protocol, peer=self.peer)
        self._bound_waiters: list[defer.Deferred[None]] = []
        self._restart_call: Any = None
        self._restart_delay = config.reconnect_initial_delay
        self.restarts = 0
        """Workers started again after one ended on its own."""

    # -- service lifecycle -------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        self._spawn()

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        if self._restart_call is not None and self._restart_call.active():
            self._restart_call.cancel()
        worker = self._worker
        if worker is None:
            return defer.succeed(None)
        self._flush()
        worker.write(encode([("stop",)]))
        limit = self.config.unbind_timeout + self._stop_grace

        def kill_if_still_there(_: object) -> defer.Deferred[None] | None:
            if worker.ended:
                return None
            log.warning("%s link worker: did not exit within %.1fs of stop; killing it",
                        self.carrier, limit)
            worker.kill()
            return worker.when_ended()

        return fire_within(worker.when_ended(), limit, self._clock).addCallback(
            kill_if_still_there)

    # -- the CarrierLink face ----------------------------------------------------------

    def submit(self, message: OutboundMessage) -> defer.Deferred[list[SubmitResult]]:
        if self._worker is None:
            return defer.succeed([SubmitResult(outcome=SubmitOutcome.NOT_SENT,
                                               reason="link worker not running")
                                  for _ in message.parts])
        token = next(self._tokens)
        waiter = defer.Deferred[list[SubmitResult]]()
        self._pending[token] = (waiter, len(message.parts))
        self._submits.append((token, message))
        if not self._coalescing:
            self._flush_soon()
        return waiter

    def when_bound(self) -> defer.Deferred[None]:
        if self.is_bound:
            return defer.succeed(None)
        waiter = defer.Deferred[None]()
        self._bound_waiters.append(waiter)
        if self._worker is not None:
            self._send(("when_bound",))
        return waiter

    def abandon_queued(self) -> int:
        """Ask the worker to give back its queued bulk submits (each resolves NOT_SENT when
        the worker's answer comes); returns how many it had queued at its last snapshot."""
        self._send(("abandon",))
        return self.queued

    @property
    def is_bound(self) -> bool:
        return self._snapshot is not None and self._snapshot.is_bound

    @property
    def queued(self) -> int:
        return (self._snapshot.queued if self._snapshot else 0) + len(self._submits)

    @property
    def in_flight(self) -> int:
        return self._snapshot.in_flight if self._snapshot else 0

    @property
    def window(self) -> int:
        return self._snapshot.window if self._snapshot else self.config.window

    @property
    def unacknowledged(self) -> int:
        return self._snapshot.unacknowledged if self._snapshot else 0

    @property
    def reading_paused(self) -> bool:
        return self._snapshot is not None and self._snapshot.reading_paused

    @property
    def binds(self) -> int:
        return self._snapshot.binds if self._snapshot else 0

    @property
    def throttled(self) -> int:
        return self._snapshot.throttled if self._snapshot else 0

    @property
    def paused_reading(self) -> int:
        return self._snapshot.paused_reading if self._snapshot else 0

    @property
    def idle(self) -> bool:
        return self._snapshot is not None and self._snapshot.idle

    @property
    def worker_pid(self) -> int | None:
        """The running worker's process id (None between workers)."""
        worker = self._worker
        return None if worker is None or worker.transport is None else worker.transport.pid

    # -- the worker ----------------------------------------------------------------------

    def _spawn(self) -> None:
        self._restart_call = None
        worker = _WorkerPipes(self)
        spawn: IReactorProcess = self._reactor
        spawn.spawnProcess(
            worker, self._python, [self._python, "-m", "gateway.link_process"],
            env=dict(os.environ),
            childFDs={1: 1, 2: 2, PARENT_TO_WORKER: "w", WORKER_TO_PARENT: "r"},
        )
        self._worker = worker
        spec = LinkSpec(carrier=self.carrier, config=self.config, secret=self._secret,
                        tps_share=self._tps_share,
                        log_level=logging.getLogger().getEffectiveLevel())
        worker.write(encode([("start", spec)]))
        if self._bound_waiters:
            worker.write(encode([("when_bound",)]))
        log.info("%s link: worker process %s started", self.carrier, self.worker_pid)

    def _ended(self, worker: _WorkerPipes, reason: Failure) -> None:
        if worker is not self._worker:
            return
        self._worker = None
        self._snapshot = None
        now = self._clock.seconds()
        pending, self._pending = self._pending, {}
        submits, self._submits = self._submits, []
        self._answers.clear()
        if self.running:
            text = reason.getErrorMessage()
            log.error("%s link: worker process ended (%s); %d submit(s) unanswered, "
                      "starting another in %.1fs", self.carrier, text, len(pending),
                      self._restart_delay)
            self.status.on_error(f"link worker ended: {text}", now)
            self.status.on_disconnected(now)
        for token, message in submits:  # never reached the worker
            waiter, _ = pending.pop(token)
            waiter.callback([SubmitResult(outcome=SubmitOutcome.NOT_SENT,
                                          reason="link worker ended") for _ in message.parts])
        for waiter, parts in pending.values():  # the worker had them: the carrier may too
            waiter.callback(_unanswered("link worker ended", parts))
        if self.running:
            self.restarts += 1
            self._restart_call = self._clock.callLater(self._restart_delay, self._spawn)
            self._restart_delay = min(self._restart_delay * 2, self.config.reconnect_max_delay)

    def _received(self, worker: _WorkerPipes, operations: list[Operation]) -> None:
        if worker is not self._worker:
            return
        pending = self._pending
        for operation in operations:
            kind = operation[0]
            if kind == "result":
                entry = pending.pop(operation[1], None)
                if entry is not None:
                    entry[0].callback(operation[2] if operation[2] is not None
                                      else _unanswered(operation[3], entry[1]))
            elif kind == "inbound":
                self._hand_up(worker, operation[1], operation[2])
            elif kind == "status":
                self._take_snapshot(operation[1])
            elif kind == "log":
                _log_again(*operation[1:])

    def _hand_up(self, worker: _WorkerPipes, inbound_id: int, message: Any) -> None:
        # maybeDeferred: a handler that blows up before giving a Deferred is "not stored".
        stored = defer.maybeDeferred(self._on_inbound, message)
        stored.addCallbacks(self._stored, self._not_stored, callbackArgs=(worker, inbound_id),
                            errbackArgs=(worker, inbound_id))

    def _stored(self, _: object, worker: _WorkerPipes, inbound_id: int) -> None:
        if worker is self._worker:
            self._answers.append((inbound_id, ""))
            self._flush_soon()

    def _not_stored(self, failure: Failure, worker: _WorkerPipes, inbound_id: int) -> None:
        if worker is self._worker:
            self._answers.append((inbound_id, failure.getErrorMessage() or "not stored"))
            self._flush_soon()

    def _take_snapshot(self, snapshot: LinkSnapshot) -> None:
        self._snapshot = snapshot
        self.status = snapshot.status
        if snapshot.is_bound:
            self._restart_delay = self.config.reconnect_initial_delay
            waiters, self._bound_waiters = self._bound_waiters, []
            for waiter in waiters:
                waiter.callback(None)

    def _send(self, operation: Operation) -> None:
        self._outbox.append(operation)
        self._flush_soon()

    def _flush_soon(self) -> None:
        if self._flush_call is None:
            self._flush_call = self._clock.callLater(0, self._flush)

    def _flush(self) -> None:
        if self._flush_call is not None:
            if self._flush_call.active():
                self._flush_call.cancel()
            self._flush_call = None
        worker = self._worker
        if worker is None:
            return
        operations = self._outbox
        self._outbox = []
        if self._submits:
            operations.append(("submit", self._submits))
            self._submits = []
        if self._answers:
            operations.append(("answer", self._answers))
            self._answers = []
        if operations:
            worker.write(encode(operations))


def _log_again(name: str, level: int, message: str, fields: dict[str, Any],
               exc_text: str) -> None:
    """Log a worker's record here, under its own logger, with its fields."""
    logger = logging.getLogger(name)
    text = f"{message}\n{exc_text}" if exc_text else message
    try:
        logger.log(level, "%s", text, extra=fields)
    except (KeyError, TypeError):  # a field the record will not take: keep the line anyway
        logger.log(level, "%s", text)


def _unanswered(reason: str, parts: int) -> list[SubmitResult]:
    """The results of a message the worker had but gave no results for (it failed there, or
    it died): sent without an answer as far as the gateway knows, so the dispatch's uncertain
    path decides about its parts."""
    result = SubmitResult(outcome=SubmitOutcome.UNANSWERED, reason=reason or "link worker")
    return [result] * parts
