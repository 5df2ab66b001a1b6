"""The MMS content server: each subscriber's handset fetches its MMS edition over HTTP.

``GET /mms/<token>``: the token of one delivery's notification (random, 24 URL-safe
characters; its content location is ``content.base_url`` + ``/mms/`` + the token). Until the
notification expires the answer is the edition's m-retrieve-conf for that carrier, carrying
the transaction id of that subscriber's notification, as
``application/vnd.wap.mms-message``; the fetch is recorded (time, user agent). An unknown or
expired token, and any other path, is 404: editions cannot be enumerated.

``POST /mms``: a handset's m-notifyresp-ind or m-acknowledge-ind (the MMS client posts them
to its MMSC's address). It is decoded (``mms_headers.py``) and matched to the notification by
its transaction id: recorded and answered 204; unknown transaction id 404; anything that is
not such a PDU (or longer than :data:`MAX_POST_BYTES`) 400 / 413, logged with its first
octets, and nothing changes.

Lookups run in a read-only pool beside the writer (``gateway.console.service.read_pool``: on
SQLite a WAL snapshot that never waits for the dispatch's writes), never on the reactor
thread; records go through :class:`HandsetRecorder` and never hold an answer. Failures are
logged and answered 500 without a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from twisted.application import service, strports
from twisted.python.failure import Failure
from twisted.web import http, resource, server

from gateway.config import GatewayConfig
from gateway.db.threads import DatabaseThreads
from gateway.editions.handset_records import (
    Fetched,
    HandsetRecorder,
    find_by_token,
    find_by_transaction,
)
from gateway.editions.mms_headers import MmsDecodeError, decode_handset_report
from gateway.editions.subscriber_notice import TOKEN_PATTERN

log = logging.getLogger(__name__)

MMS_CONTENT_TYPE = b"application/vnd.wap.mms-message"
MAX_POST_BYTES = 4096
"""An m-notifyresp-ind or m-acknowledge-ind is a few dozen octets."""


class MmsContentResource(resource.Resource):
    """``/mms`` and ``/mms/<token>``."""

    isLeaf = True

    def __init__(self, reader: DatabaseThreads, recorder: HandsetRecorder,
                 now: Callable[[], datetime]) -> None:
        super().__init__()
        self._reader = reader
        self._recorder = recorder
        self._now = now

    def render_GET(self, request: server.Request) -> bytes | int:
        parts = list(request.postpath)
        token = parts[0].decode("ascii", "replace") if len(parts) == 1 else ""
        if not TOKEN_PATTERN.fullmatch(token):
            return _plain(request, http.NOT_FOUND, b"not found\n")
        agent = request.getHeader(b"user-agent")
        user_agent = agent.decode("latin-1") if isinstance(agent, bytes) else agent

        def answer(found: Fetched | None) -> bytes | None:
            if found is None or self._now() > found.expires_at:
                return None
            self._recorder.retrieved(found.notification_id, user_agent)
            return found.pdu

        def respond(pdu: bytes | None) -> None:
            if pdu is None:
                request.write(_plain(request, http.NOT_FOUND, b"not found\n"))
            else:
                request.setResponseCode(http.OK)
                request.setHeader(b"content-type", MMS_CONTENT_TYPE)
                request.setHeader(b"content-length", str(len(pdu)).encode())
                request.write(pdu)

        return self._answer(request, "GET", lambda: self._reader.transaction(
            lambda session: find_by_token(session, token)).addCallback(answer), respond)

    def render_POST(self, request: server.Request) -> bytes | int:
        if request.postpath not in ([], [b""]):
            return _plain(request, http.NOT_FOUND, b"not found\n")
        declared = request.getHeader(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_POST_BYTES):
            log.warning("MMS handset report from %s refused: Content-Length %r",
                        _client(request), declared[:20])
            return _plain(request, http.REQUEST_ENTITY_TOO_LARGE, b"too large\n")
        assert request.content is not None
        body = request.content.read(MAX_POST_BYTES + 1)
        if len(body) > MAX_POST_BYTES:
            return _plain(request, http.REQUEST_ENTITY_TOO_LARGE, b"too large\n")
        try:
            report = decode_handset_report(body)
        except MmsDecodeError as exc:
            log.warning("malformed MMS handset report from %s (%d octets, %s…): %s",
                        _client(request), len(body), body[:48].hex(), exc)
            return _plain(request, http.BAD_REQUEST, f"bad request: {exc}\n".encode())

        def record(notification_id: int | None) -> int:
            if notification_id is None:
                log.info("MMS %s for the unknown transaction %r from %s", report.kind,
                         report.transaction_id[:40], _client(request))
                return http.NOT_FOUND
            self._recorder.reported(notification_id, report)
            return http.NO_CONTENT

        def respond(code: int) -> None:
            if code == http.NO_CONTENT:
                request.setResponseCode(code)
            else:
                request.write(_plain(request, code, b"unknown transaction\n"))

        return self._answer(request, "POST", lambda: self._reader.transaction(
            lambda session: find_by_transaction(session, report.transaction_id)
        ).addCallback(record), respond)

    def _answer(self, request: server.Request, method: str, work: Callable[[], Any],
                respond: Callable[[Any], None]) -> int:
        finished: list[bool] = []
        request.notifyFinish().addBoth(lambda _: finished.append(True))

        def done(result: Any) -> None:
            if finished:  # the client went away
                return
            respond(result)
            request.finish()

        def failed(failure: Failure) -> None:
            log.error("%s %s failed: %s", method, request.path.decode("ascii", "replace")[:80],
                      failure.getErrorMessage())
            if not finished:
                request.write(_plain(request, http.INTERNAL_SERVER_ERROR, b"internal error\n"))
                request.finish()

        work().addCallbacks(done, failed)
        return server.NOT_DONE_YET


class _NotFoundRoot(resource.Resource):
    """The site root: 404 for anything but its children (no 405 pages, no listings)."""

    def getChild(self, path: bytes, request: server.Request) -> resource.Resource:
        return self

    def render(self, request: server.Request) -> bytes:
        return _plain(request, http.NOT_FOUND, b"not found\n")


def _plain(request: server.Request, code: int, body: bytes) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    request.setHeader(b"content-length", str(len(body)).encode())
    return body


def _client(request: server.Request) -> str:
    address = request.getClientAddress()
    return str(getattr(address, "host", address))


def content_site(reader: DatabaseThreads, recorder: HandsetRecorder,
                 now: Callable[[], datetime]) -> server.Site:
    """The HTTP site: ``/mms…`` and a 404 for everything else, never a traceback."""
    root = _NotFoundRoot()
    root.putChild(b"mms", MmsContentResource(reader, recorder, now))
    site = server.Site(root)
    site.displayTracebacks = False
    return site


def build_content_service(
    config: GatewayConfig, reader: DatabaseThreads, writer: DatabaseThreads, reactor: Any
) -> service.MultiService:
    """The recorder and a listener on ``content.host``:``content.port``, reading through
    ``reader`` (a read-only pool) and recording through ``writer``; add it to the tree after
    both, so it stops first (the listener, then the recorder's last write)."""
    parent = service.MultiService()
    parent.setName("mms-content")
    recorder = HandsetRecorder(writer, reactor)
    recorder.setServiceParent(parent)
    content = config.content
    listener = strports.service(
        f"tcp:{content.port}:interface={content.host}",
        content_site(reader, recorder, lambda: datetime.fromtimestamp(reactor.seconds(), UTC)),
        reactor=reactor)
    listener.setName("mms-content-http")
    listener.setServiceParent(parent)
    return parent
