"""The gateway's MM7 endpoint (twisted.web): the MMSCs post DeliveryReportReq and DeliverReq.

``POST <path>/<carrier>``: each carrier's MMSC posts to its own path, so a report's
MessageID is matched among that carrier's submissions. Before the body is read, the
:class:`~carriers.mm7.http_guard.RequestGuard` answers a peer off the allow-list (403), bad
credentials (401) and an oversized body (413). A body that is not MM7 — malformed XML, a
wrong namespace, a missing MessageID — is answered HTTP 500 with a SOAP Fault carrying the
MM7 status (2007, 4004, 4002, 4003; see :class:`~carriers.mm7.soap.Mm7Error`), logged, and
changes nothing. A request read is handed to the ``handlers`` (the gateway's), whose
Deferred fires once it is stored; then it is answered ``DeliveryReportRsp`` /
``DeliverRsp`` with 1000, or a Fault with 3000 when storing failed (the MMSC tries again).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer
from twisted.python.failure import Failure
from twisted.web import http, resource, server

from carriers.mm7 import statuses
from carriers.mm7.codec import (
    DeliverRequest,
    DeliveryReportRequest,
    build_response,
    parse_mmsc_request,
)
from carriers.mm7.http_guard import RequestGuard, guarded_site
from carriers.mm7.mime import parse_request_body, text_parts
from carriers.mm7.soap import DEFAULT_RELEASE, Mm7Error, build_fault, namespace_of

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReceivedMo:
    """An MO MMS as the endpoint read it: the request and the texts of its text parts."""

    request: DeliverRequest
    texts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EndpointHandlers:
    """What the gateway does with a carrier's requests; each Deferred fires once stored."""

    delivery_report: Callable[[str, DeliveryReportRequest], defer.Deferred[Any]]
    deliver: Callable[[str, ReceivedMo], defer.Deferred[Any]]


class CarrierMm7Resource(resource.Resource):
    """``POST`` of one carrier's MMSC."""

    isLeaf = True

    def __init__(self, carrier: str, handlers: EndpointHandlers) -> None:
        super().__init__()
        self._carrier = carrier
        self._handlers = handlers

    def render_POST(self, request: server.Request) -> bytes | int:
        assert request.content is not None
        body = request.content.read()
        content_type = (request.getHeader(b"content-type") or b"").decode("latin-1")
        peer = getattr(request.getClientAddress(), "host", "?")
        try:
            parsed = parse_request_body(content_type, body)
            message = parse_mmsc_request(parsed.envelope)
        except Mm7Error as exc:
            log.warning("MM7 endpoint (%s): refused a request from %s: %s", self._carrier,
                        peer, exc)
            return _fault(request, exc.status, exc.reason, server_side=False,
                          transaction_id=exc.transaction_id or "")
        if isinstance(message, DeliveryReportRequest):
            stored = self._handlers.delivery_report(self._carrier, message)
            operation = "DeliveryReportRsp"
        else:
            mo = ReceivedMo(message, tuple(text_parts(parsed, message.content_href)))
            stored = self._handlers.deliver(self._carrier, mo)
            operation = "DeliverRsp"
        finished: list[bool] = []
        request.notifyFinish().addBoth(lambda _: finished.append(True))

        def answer(_: object) -> None:
            if finished:
                return
            request.setHeader(b"content-type", b'text/xml; charset="utf-8"')
            request.write(build_response(message.release, message.transaction_id, operation,
                                         statuses.SUCCESS))
            request.finish()

        def failed(failure: Failure) -> None:
            log.error("MM7 endpoint (%s): %s %s could not be stored: %s", self._carrier,
                      operation[:-3] + "Req", message.transaction_id, failure.getErrorMessage())
            if not finished:
                request.write(_fault(request, statuses.SERVER_ERROR, "could not be stored",
                                     server_side=True, transaction_id=message.transaction_id,
                                     release=message.release))
                request.finish()

        stored.addCallbacks(answer, failed)
        return server.NOT_DONE_YET

    def render_GET(self, request: server.Request) -> bytes:
        request.setResponseCode(http.NOT_ALLOWED)
        request.setHeader(b"allow", b"POST")
        return b"POST MM7 requests here\n"


def _fault(request: server.Request, status: int, reason: str, *, server_side: bool,
           transaction_id: str, release: str = DEFAULT_RELEASE) -> bytes:
    request.setResponseCode(http.INTERNAL_SERVER_ERROR)  # SOAP 1.1 faults travel in a 500
    request.setHeader(b"content-type", b'text/xml; charset="utf-8"')
    return build_fault(namespace=namespace_of(release), server=server_side, reason=reason[:200],
                       status_code=status, transaction_id=transaction_id)


def endpoint_site(path: str, carriers: Mapping[str, object], handlers: EndpointHandlers,
                  guard: RequestGuard) -> server.Site:
    """The endpoint's site: ``<path>/<carrier>`` for each carrier, behind ``guard``."""
    root = resource.Resource()
    node = root
    for segment in [s for s in path.strip("/").split("/") if s]:
        child = resource.Resource()
        node.putChild(segment.encode(), child)
        node = child
    for carrier in carriers:
        node.putChild(carrier.encode(), CarrierMm7Resource(carrier, handlers))
    return guarded_site(root, guard)
