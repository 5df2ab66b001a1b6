"""The MM7 client: SubmitReqs posted to one MMSC over twisted.web, within a window of
requests in flight and a rate, each answered by a protocol-neutral :class:`SubmitResult`.

Outcomes: a SubmitRsp whose status is 1xxx is accepted (with the MMSC's MessageID); a
status or SOAP Fault the status table calls permanent (2xxx, most 4xxx) is permanent;
server errors (3xxx, 4006, HTTP 5xx, a Fault without a status), an unreadable answer, no
answer within ``timeout`` and a connection that fails are transient, so dispatch retries
them with its backoff. Building the body and reading the answer are pure (``codec``,
``mime``); this module only moves bytes.
"""

from __future__ import annotations

import base64
import io
import logging
from dataclasses import dataclass
from email.message import Message
from typing import Any

from twisted.internet import defer, error, protocol
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure
from twisted.web.client import (
    Agent,
    FileBodyProducer,
    HTTPConnectionPool,
    PotentialDataLoss,
    ResponseDone,
)
from twisted.web.http_headers import Headers
from twisted.web.iweb import UNKNOWN_LENGTH

from carriers.messages import SubmitOutcome, SubmitResult
from carriers.mm7 import statuses
from carriers.mm7.codec import SubmitRequest, build_submit_request, parse_submit_response
from carriers.mm7.mime import RequestTemplate, build_request_body
from carriers.mm7.soap import Mm7Error

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 256 * 1024
"""An MMSC's answer larger than this is not read (a SubmitRsp is well under 1 KB)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Mm7ClientSettings:
    url: str
    username: str = ""
    password: str = ""
    timeout: float = 30.0
    rate: float = 0.0
    """Submissions per second at most; 0 = no cap."""
    window: int = 16


class Mm7Client:
    """Submits to one MMSC. ``agent`` defaults to a twisted.web Agent with persistent
    connections (as many as the window)."""

    def __init__(self, settings: Mm7ClientSettings, *, reactor: Any,
                 agent: Any | None = None) -> None:
        self.settings = settings
        self._clock: IReactorTime = reactor
        if agent is None:
            pool = HTTPConnectionPool(reactor, persistent=True)
            pool.maxPersistentPerHost = settings.window
            pool.retryAutomatically = False  # a SubmitReq is not idempotent
            agent = Agent(reactor, pool=pool, connectTimeout=settings.timeout)
            self._pool: HTTPConnectionPool | None = pool
        else:
            self._pool = None
        self._agent = agent
        self._window = defer.DeferredSemaphore(settings.window)
        self._next_slot = 0.0
        self._waiting: set[defer.Deferred[None]] = set()
        self._abandoned = False
        self._headers = {b"SOAPAction": [b'""']}
        if settings.username or settings.password:
            token = base64.b64encode(f"{settings.username}:{settings.password}".encode())
            self._headers[b"Authorization"] = [b"Basic " + token]

    def submit(self, request: SubmitRequest, content: RequestTemplate | Message | None
               ) -> defer.Deferred[SubmitResult]:
        """Post one SubmitReq (with ``content`` as its MMS: a template built once for many
        requests, or one MIME part) once a window slot and the rate allow; fires with its
        result (never fails)."""
        return defer.ensureDeferred(self._submit(request, content))

    def abandon_queued(self) -> None:
        """A stop: what waits for a slot or the rate is answered NOT_SENT at once."""
        self._abandoned = True
        for waiter in list(self._waiting):
            if not waiter.called:
                waiter.callback(None)

    def close(self) -> defer.Deferred[None]:
        if self._pool is not None:
            return self._pool.closeCachedConnections()
        return defer.succeed(None)

    async def _submit(self, request: SubmitRequest, content: RequestTemplate | Message | None
                      ) -> SubmitResult:
        await self._window.acquire()
        try:
            if self._abandoned or not await self._pace():
                return SubmitResult(outcome=SubmitOutcome.NOT_SENT, reason="MM7 client stopped")
            envelope = build_submit_request(request)
            content_type, body = (content.render(envelope) if isinstance(content, RequestTemplate)
                                  else build_request_body(envelope, content))
            return await self._post(content_type, body)
        finally:
            self._window.release()

    async def _pace(self) -> bool:
        """Wait for this submission's turn under the rate; False when abandoned meanwhile."""
        rate = self.settings.rate
        if rate <= 0:
            return True
        now = self._clock.seconds()
        slot = max(now, self._next_slot)
        self._next_slot = slot + 1.0 / rate
        if slot <= now:
            return True
        waiter = defer.Deferred[None]()
        timer = self._clock.callLater(slot - now, lambda: None if waiter.called
                                      else waiter.callback(None))
        self._waiting.add(waiter)
        try:
            await waiter
        finally:
            self._waiting.discard(waiter)
            if timer.active():
                timer.cancel()
        return not self._abandoned

    async def _post(self, content_type: str, body: bytes) -> SubmitResult:
        headers = Headers({b"Content-Type": [content_type.encode("latin-1")], **self._headers})
        try:
            pending = self._agent.request(b"POST", self.settings.url.encode(), headers,
                                          FileBodyProducer(io.BytesIO(body)))
            pending.addTimeout(self.settings.timeout, self._clock)
            response = await pending
            reading = read_body(response, MAX_RESPONSE_BYTES)
            reading.addTimeout(self.settings.timeout, self._clock)
            answer = await reading
        except BodyTooLarge as exc:
            return _transient(f"HTTP exchange failed: {exc}")
        except (defer.TimeoutError, defer.CancelledError):
            return _transient(f"no answer within {self.settings.timeout:g}s")
        except (error.ConnectError, error.ConnectionClosed, error.DNSLookupError) as exc:
            return _transient(f"connection failed: {exc.__class__.__name__}")
        except Exception as exc:  # ResponseFailed and friends wrap the reason in a list
            reasons = getattr(exc, "reasons", None) or []
            if any(isinstance(r, Failure) and r.check(defer.CancelledError, defer.TimeoutError)
                   for r in reasons):
                return _transient(f"no answer within {self.settings.timeout:g}s")
            return _transient(f"HTTP exchange failed: {_reason(exc)}")
        return classify_answer(response.code, answer)


def classify_answer(code: int, answer: bytes) -> SubmitResult:
    """The result of a submit from the HTTP status and body the MMSC answered (pure)."""
    if code in (200, 500) or (code >= 400 and answer.lstrip().startswith(b"<")):
        try:
            parsed = parse_submit_response(answer)
        except Mm7Error as exc:
            return _transient(f"HTTP {code}: unreadable answer: {exc.reason[:120]}")
        klass = parsed.status_class
        reason = statuses.describe(parsed.status_code, parsed.status_text[:100])
        if klass is statuses.StatusClass.ACCEPTED:
            if code != 200:
                return _transient(f"HTTP {code} with a success status")
            return SubmitResult(outcome=SubmitOutcome.ACCEPTED, message_id=parsed.message_id,
                                status=parsed.status_code, reason=reason)
        outcome = (SubmitOutcome.PERMANENT if klass is statuses.StatusClass.PERMANENT
                   else SubmitOutcome.TRANSIENT)
        return SubmitResult(outcome=outcome, status=parsed.status_code, reason=reason)
    if code >= 500 or code in (401, 403, 408, 429):
        # Credentials and overload are the MMSC's or the operator's to fix, not the message's.
        return _transient(f"HTTP {code}")
    return SubmitResult(outcome=SubmitOutcome.PERMANENT, reason=f"HTTP {code}")


def _transient(reason: str) -> SubmitResult:
    return SubmitResult(outcome=SubmitOutcome.TRANSIENT, reason=reason)


def _reason(exc: Exception) -> str:
    reasons = getattr(exc, "reasons", None)
    if reasons:
        first = reasons[0]
        return first.getErrorMessage() if isinstance(first, Failure) else str(first)
    return str(exc) or exc.__class__.__name__


class BodyTooLarge(Exception):
    """An HTTP answer longer than the reader's limit (its reading was stopped)."""


class _CappedBody(protocol.Protocol):
    def __init__(self, limit: int, done: defer.Deferred[bytes]) -> None:
        self._limit = limit
        self._done = done
        self._chunks: list[bytes] = []
        self._size = 0

    def dataReceived(self, data: bytes) -> None:
        if self._done.called:
            return
        self._size += len(data)
        if self._size > self._limit:
            self._done.errback(BodyTooLarge(f"answer over {self._limit} octets"))
            self.transport.stopProducing()
            return
        self._chunks.append(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self._done.called:
            return
        if reason.check(ResponseDone, PotentialDataLoss):
            self._done.callback(b"".join(self._chunks))
        else:
            self._done.errback(reason)


def read_body(response: Any, limit: int) -> defer.Deferred[bytes]:
    """A response's body, at most ``limit`` octets (checked by its length first, then as it
    streams); :class:`BodyTooLarge` beyond."""
    if response.length is not UNKNOWN_LENGTH and response.length > limit:
        response.deliverBody(_CappedBody(0, defer.Deferred()))
        return defer.fail(BodyTooLarge(f"answer of {response.length} octets"))
    done: defer.Deferred[bytes] = defer.Deferred()
    response.deliverBody(_CappedBody(limit, done))
    return done
