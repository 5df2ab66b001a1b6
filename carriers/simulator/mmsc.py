"""A simulated MMSC speaking MM7: what a carrier's MMSC does for a VASP, on loopback.

It takes SubmitReqs (HTTP Basic with the VASP's account; body size bounded before it is
read), answers each with a SubmitRsp and a MessageID of its own, and after
``report_delay`` posts a DeliveryReportReq per recipient to the gateway's MM7 endpoint with
an MMStatus drawn from ``report_mix``. Above ``tps`` it answers MM7 4006 (Service
unavailable: transient) in a SOAP Fault; at the configured rates it never answers, answers
HTTP 500 (a Fault, 3000) or answers malformed XML. Its control endpoint injects an MO MMS
(a DeliverReq to the gateway) and reports what it received.

``POST /mo``      {"from", "to", "text", "subject"?} → DeliverReq to the gateway; answers
                  {"status": HTTP status, "mm7_status": code or null}.
``GET  /status``  counters; ``GET /received`` the latest submissions (recipients, sizes,
                  parts, message ids); ``POST /faults`` {"tps"?, "timeout_rate"?,
                  "error_rate"?, "malformed_rate"?, "report_delay"?}.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import logging
import random
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import Any

from twisted.application import service
from twisted.internet import defer
from twisted.web import http, resource, server
from twisted.web.client import Agent, FileBodyProducer, HTTPConnectionPool
from twisted.web.http_headers import Headers

from carriers.mm7 import statuses
from carriers.mm7.client import read_body
from carriers.mm7.codec import (
    MmStatus,
    build_deliver_request,
    build_delivery_report_request,
    build_response,
    parse_response_status,
    parse_submit_request,
)
from carriers.mm7.http_guard import RequestGuard, guarded_site
from carriers.mm7.mime import build_request_body, parse_request_body
from carriers.mm7.soap import DEFAULT_RELEASE, Mm7Error, build_fault, namespace_of

log = logging.getLogger(__name__)

KEEP_RECEIVED = 1000
REPORT_CONCURRENCY = 16
REPORT_TRIES = 3


@dataclass(slots=True, kw_only=True)
class MmscSettings:
    carrier: str
    accounts: dict[str, str]
    """The VASP accounts it accepts (username → password)."""
    gateway_url: str
    """Where it posts delivery reports and MO MMS (the gateway's MM7 endpoint)."""
    gateway_username: str = ""
    gateway_password: str = ""
    release: str = DEFAULT_RELEASE
    tps: float = 0.0
    report_delay: float = 1.0
    report_mix: dict[str, float] = field(default_factory=lambda: {"Retrieved": 1.0})
    timeout_rate: float = 0.0
    error_rate: float = 0.0
    malformed_rate: float = 0.0
    max_body_bytes: int = 5_000_000
    full_check_every: int = 1
    """Read every N-th SubmitReq's whole MIME body with the email package (and check its
    Content href names a part); the others only have their SOAP part (the first) cut out by
    the boundary. 1 = all; the benchmark uses more, so that it measures the gateway and not
    this simulator's MIME parsing (a few ms per 40 KB MMS)."""


@dataclass(frozen=True, slots=True)
class ReceivedMms:
    message_id: str
    recipients: tuple[str, ...]
    sender: str | None
    vasp_id: str | None
    size: int
    parts: int


class SimulatedMmsc(service.Service):
    """One carrier's simulated MMSC, listening on ``host:port`` (MM7) and ``control_port``."""

    def __init__(self, settings: MmscSettings, *, reactor: Any, host: str, port: int,
                 control_port: int | None = None, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.host, self.port, self.control_port = host, port, control_port
        self._reactor = reactor
        self._rng = rng or random.Random()
        self._ids = itertools.count(1)
        self._second = -1
        self._in_second = 0
        self._listening: list[Any] = []
        self._pending: set[server.Request] = set()
        self._timers: set[Any] = set()
        self._reports = defer.DeferredSemaphore(REPORT_CONCURRENCY)
        self._pool = HTTPConnectionPool(reactor, persistent=True)
        self._pool.maxPersistentPerHost = REPORT_CONCURRENCY
        self._agent = Agent(reactor, pool=self._pool, connectTimeout=10)
        self.received: deque[ReceivedMms] = deque(maxlen=KEEP_RECEIVED)
        self.reported: deque[tuple[str, str, MmStatus]] = deque(maxlen=KEEP_RECEIVED)
        """(message id, recipient, MMStatus) of every report the gateway took."""
        self.counters = {"submits": 0, "accepted": 0, "throttled": 0, "refused": 0,
                         "timeouts": 0, "errors": 0, "malformed": 0, "reports_sent": 0,
                         "reports_failed": 0, "mo_sent": 0}
        self.guard = RequestGuard(name=f"simulated MMSC ({settings.carrier})",
                                  max_body_bytes=settings.max_body_bytes,
                                  accounts=dict(settings.accounts))

    # -- service ---------------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        self._listening.append(self._reactor.listenTCP(
            self.port, guarded_site(_SubmitResource(self), self.guard), interface=self.host))
        self.port = self._listening[0].getHost().port
        if self.control_port is not None:
            site = server.Site(_ControlResource(self))
            self._listening.append(self._reactor.listenTCP(self.control_port, site,
                                                           interface="127.0.0.1"))
            self.control_port = self._listening[1].getHost().port

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        for timer in list(self._timers):
            if timer.active():
                timer.cancel()
        self._timers.clear()
        for request in list(self._pending):
            request.channel.loseConnection() if request.channel else None
        stops = [defer.maybeDeferred(p.stopListening) for p in self._listening]
        self._listening.clear()
        stops.append(self._pool.closeCachedConnections())
        return defer.gatherResults(stops, consumeErrors=True).addCallback(lambda _: None)

    # -- submits ----------------------------------------------------------------------------

    def handle_submit(self, request: server.Request) -> bytes | int:
        self.counters["submits"] += 1
        roll = self._rng.random()
        settings = self.settings
        if roll < settings.timeout_rate:
            self.counters["timeouts"] += 1
            self._pending.add(request)
            request.notifyFinish().addBoth(lambda _: self._pending.discard(request))
            return server.NOT_DONE_YET  # never answered
        roll -= settings.timeout_rate
        if roll < settings.error_rate:
            self.counters["errors"] += 1
            return self._fault(request, statuses.SERVER_ERROR, "simulated server error",
                               server_side=True)
        roll -= settings.error_rate
        if roll < settings.malformed_rate:
            self.counters["malformed"] += 1
            request.setHeader(b"content-type", b"text/xml")
            return b"<?xml version='1.0'?><env:Envelope><SubmitRsp><Status>"
        if self._throttled():
            self.counters["throttled"] += 1
            return self._fault(request, statuses.SERVICE_UNAVAILABLE, "throughput exceeded",
                               server_side=True)
        assert request.content is not None
        body = request.content.read()
        content_type = (request.getHeader(b"content-type") or b"").decode("latin-1")
        try:
            if self.counters["submits"] % max(settings.full_check_every, 1) == 0:
                parsed = parse_request_body(content_type, body)
                submit = parse_submit_request(parsed.envelope)
                href = (submit.content_href or "").removeprefix("cid:")
                content = parsed.parts.get(href)
                if content is None:
                    raise Mm7Error(f"no MIME part for Content href {submit.content_href!r}",
                                   status=statuses.MESSAGE_FORMAT_CORRUPT,
                                   transaction_id=submit.transaction_id)
                parts = len([p for p in content.walk() if not p.is_multipart()])
            else:
                submit = parse_submit_request(_first_part(content_type, body))
                parts = -1
        except Mm7Error as exc:
            self.counters["refused"] += 1
            log.info("simulated MMSC (%s): refused a SubmitReq: %s", settings.carrier, exc)
            return self._fault(request, exc.status, exc.reason, server_side=False,
                               transaction_id=exc.transaction_id or "")
        message_id = f"{settings.carrier[:2].upper()}{next(self._ids):012d}"
        self.counters["accepted"] += 1
        self.received.append(ReceivedMms(message_id, submit.recipients, submit.sender_address,
                                         submit.vasp_id, len(body), parts))
        if submit.delivery_report:
            for recipient in submit.recipients:
                self._later(settings.report_delay, self._report, message_id, recipient,
                            submit.sender_address or "", submit.release)
        request.setHeader(b"content-type", b'text/xml; charset="utf-8"')
        return build_response(submit.release, submit.transaction_id, "SubmitRsp",
                              statuses.SUCCESS, message_id=message_id)

    def _throttled(self) -> bool:
        if self.settings.tps <= 0:
            return False
        second = int(self._reactor.seconds())
        if second != self._second:
            self._second, self._in_second = second, 0
        self._in_second += 1
        return self._in_second > self.settings.tps

    def _fault(self, request: server.Request, status: int, reason: str, *, server_side: bool,
               transaction_id: str = "") -> bytes:
        request.setResponseCode(http.INTERNAL_SERVER_ERROR)
        request.setHeader(b"content-type", b'text/xml; charset="utf-8"')
        return build_fault(namespace=namespace_of(self.settings.release), server=server_side,
                           reason=reason, status_code=status, transaction_id=transaction_id,
                           detail_element="RSErrorRsp")

    # -- to the gateway ---------------------------------------------------------------------

    def _later(self, delay: float, work: Any, *args: Any) -> None:
        def run() -> None:
            self._timers.discard(timer)
            work(*args)

        timer = self._reactor.callLater(delay, run)
        self._timers.add(timer)

    def _report(self, message_id: str, recipient: str, sender: str, release: str,
                tries: int = 1) -> None:
        mix = self.settings.report_mix
        status = MmStatus(self._rng.choices(list(mix), weights=list(mix.values()))[0])
        envelope = build_delivery_report_request(
            release=release, transaction_id=f"dr-{message_id}", message_id=message_id,
            recipient=recipient, sender=sender, status=status,
            date=datetime.fromtimestamp(self._reactor.seconds(), UTC))

        def done(result: tuple[int, int | None]) -> None:
            code, mm7_status = result
            if code == 200 and mm7_status == statuses.SUCCESS:
                self.counters["reports_sent"] += 1
                self.reported.append((message_id, recipient, status))
            elif tries < REPORT_TRIES and self.running:
                self._later(self.settings.report_delay + tries, self._report, message_id,
                            recipient, sender, release, tries + 1)
            else:
                self.counters["reports_failed"] += 1
                log.warning("simulated MMSC (%s): report for %s not taken: HTTP %s, MM7 %s",
                            self.settings.carrier, message_id, code, mm7_status)

        self._post(envelope, None, "DeliveryReportRsp").addCallback(done)

    def inject_mo(self, *, sender: str, recipient: str, text: str, subject: str = ""
                  ) -> defer.Deferred[tuple[int, int | None]]:
        """Post a DeliverReq (an MO MMS with ``text`` as its one text part) to the gateway."""
        number = next(self._ids)
        related = MIMEMultipart("related", type="text/plain", start="<text1>")
        part = MIMEText(text, "plain", "utf-8")
        part["Content-ID"] = "<text1>"
        part["Content-Location"] = "text1.txt"
        related.attach(part)
        related["Content-ID"] = "<mo-content>"
        envelope = build_deliver_request(
            release=self.settings.release, transaction_id=f"mo-{number}", sender=sender,
            recipient=recipient, subject=subject, content_id="mo-content",
            relay_server_id=f"sim-{self.settings.carrier}",
            timestamp=datetime.fromtimestamp(self._reactor.seconds(), UTC))
        self.counters["mo_sent"] += 1
        return self._post(envelope, related, "DeliverRsp")

    def _post(self, envelope: bytes, content: Any, operation: str
              ) -> defer.Deferred[tuple[int, int | None]]:
        content_type, body = build_request_body(envelope, content)
        headers = {b"Content-Type": [content_type.encode("latin-1")], b"SOAPAction": [b'""']}
        if self.settings.gateway_username:
            token = base64.b64encode(
                f"{self.settings.gateway_username}:{self.settings.gateway_password}".encode())
            headers[b"Authorization"] = [b"Basic " + token]

        async def post() -> tuple[int, int | None]:
            try:
                response = await self._agent.request(
                    b"POST", self.settings.gateway_url.encode(), Headers(headers),
                    FileBodyProducer(io.BytesIO(body)))
                answer = await read_body(response, 256 * 1024)
            except Exception as exc:  # the gateway is down or went away: counted, retried
                log.info("simulated MMSC (%s): posting %s failed: %s", self.settings.carrier,
                         operation[:-3] + "Req", exc)
                return 0, None
            try:
                code, _ = parse_response_status(answer, operation)
            except Mm7Error:
                return response.code, None
            return response.code, code

        return self._reports.run(lambda: defer.ensureDeferred(post()))


def _first_part(content_type: str, body: bytes) -> bytes:
    """The payload of a multipart body's first part, cut out by its boundary (the quick
    check of :attr:`MmscSettings.full_check_every`)."""
    if not content_type.lower().startswith("multipart/"):
        return body
    boundary = content_type.partition('boundary="')[2].partition('"')[0]
    pieces = body.split(b"--" + boundary.encode("latin-1"), 2) if boundary else []
    if len(pieces) < 3:
        raise Mm7Error("no first part in the multipart body",
                       status=statuses.MESSAGE_FORMAT_CORRUPT)
    return pieces[1].partition(b"\r\n\r\n")[2].removesuffix(b"\r\n")


class _SubmitResource(resource.Resource):
    isLeaf = True

    def __init__(self, mmsc: SimulatedMmsc) -> None:
        super().__init__()
        self._mmsc = mmsc

    def render_POST(self, request: server.Request) -> bytes | int:
        return self._mmsc.handle_submit(request)


class _ControlResource(resource.Resource):
    isLeaf = True

    def __init__(self, mmsc: SimulatedMmsc) -> None:
        super().__init__()
        self._mmsc = mmsc

    def render_GET(self, request: server.Request) -> bytes:
        path = request.path.rstrip(b"/")
        if path == b"/status":
            return _json(request, 200, {"carrier": self._mmsc.settings.carrier,
                                        "protocol": "mm7", **self._mmsc.counters})
        if path == b"/received":
            return _json(request, 200, {"received": [
                {"message_id": r.message_id, "recipients": list(r.recipients),
                 "sender": r.sender, "vasp_id": r.vasp_id, "size": r.size, "parts": r.parts}
                for r in self._mmsc.received]})
        return _json(request, 404, {"error": "not found"})

    def render_POST(self, request: server.Request) -> bytes | int:
        assert request.content is not None
        try:
            body = json.loads(request.content.read(64 * 1024).decode("utf-8"))
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
        except (ValueError, UnicodeDecodeError) as exc:
            return _json(request, 400, {"error": str(exc)})
        path = request.path.rstrip(b"/")
        if path == b"/faults":
            settings = self._mmsc.settings
            for key in ("tps", "timeout_rate", "error_rate", "malformed_rate", "report_delay"):
                if isinstance(body.get(key), int | float):
                    setattr(settings, key, float(body[key]))
            return _json(request, 200, {"ok": True})
        if path != b"/mo":
            return _json(request, 404, {"error": "not found"})
        sender, recipient, text = body.get("from"), body.get("to"), body.get("text")
        if not all(isinstance(v, str) and v for v in (sender, recipient)) or not isinstance(
                text, str):
            return _json(request, 400, {"error": 'expected "from", "to" and "text"'})
        sent = self._mmsc.inject_mo(sender=sender, recipient=recipient, text=text,
                                    subject=str(body.get("subject") or ""))

        def answer(result: tuple[int, int | None]) -> None:
            request.write(_json(request, 200, {"status": result[0], "mm7_status": result[1]}))
            request.finish()

        sent.addCallback(answer)
        return server.NOT_DONE_YET


def _json(request: server.Request, code: int, payload: dict[str, Any]) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"application/json; charset=utf-8")
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")
