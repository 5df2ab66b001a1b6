"""The MMS content server: handsets fetch an edition's m-retrieve-conf over HTTP.

``GET /mms/<edition_id>/<carrier>`` answers the octets stored when the edition was built, as
``application/vnd.wap.mms-message``; the WAP Push notification names exactly this URL (its
``content_location`` starts with ``content.base_url``). Anything else is 404 with a short text;
failures are logged and answered 500 without a traceback. The database is read in a
read-only pool beside the writer (``gateway.console.service.read_pool``: on SQLite a WAL
snapshot that never waits for dispatch's writes), never on the reactor thread.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from twisted.application import service, strports
from twisted.python.failure import Failure
from twisted.web import http, resource, server

from gateway.config import CARRIER_NAMES, GatewayConfig
from gateway.db.threads import DatabaseThreads
from gateway.editions.stored import load_mms_pdu

log = logging.getLogger(__name__)

MMS_CONTENT_TYPE = b"application/vnd.wap.mms-message"
MAX_ID = 2**63 - 1
"""The largest id a signed 64-bit database integer holds: larger ones are not there (404)."""
_ASCII_DIGITS = re.compile(rb"[0-9]{1,19}")


def parse_edition_id(segment: bytes) -> int | None:
    """A path segment as an edition's id (ASCII digits, within 64 bits), else None."""
    if not _ASCII_DIGITS.fullmatch(segment):
        return None
    value = int(segment)
    return value if value <= MAX_ID else None


class MmsEditionResource(resource.Resource):
    """``/mms/<edition_id>/<carrier>``: the stored m-retrieve-conf."""

    isLeaf = True

    def __init__(self, database: DatabaseThreads) -> None:
        super().__init__()
        self._database = database

    def render_GET(self, request: server.Request) -> bytes | int:
        parts = list(request.postpath)
        edition_id = parse_edition_id(parts[0]) if len(parts) == 2 else None
        carrier = parts[1].decode("ascii", "replace") if len(parts) == 2 else ""
        if edition_id is None or carrier not in CARRIER_NAMES:
            return _plain(request, http.NOT_FOUND, b"not found\n")
        finished: list[bool] = []
        request.notifyFinish().addBoth(lambda _: finished.append(True))

        def answer(pdu: bytes | None) -> None:
            if finished:  # the client went away
                return
            if pdu is None:
                request.write(_plain(request, http.NOT_FOUND, b"not found\n"))
            else:
                request.setResponseCode(http.OK)
                request.setHeader(b"content-type", MMS_CONTENT_TYPE)
                request.setHeader(b"content-length", str(len(pdu)).encode())
                request.write(pdu)
            request.finish()

        def failed(failure: Failure) -> None:
            log.error("serving /mms/%s/%s failed: %s", edition_id, carrier,
                      failure.getErrorMessage())
            if not finished:
                request.write(_plain(request, http.INTERNAL_SERVER_ERROR, b"internal error\n"))
                request.finish()

        self._database.transaction(
            lambda session: load_mms_pdu(session, edition_id, carrier)
        ).addCallbacks(answer, failed)
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


def content_site(database: DatabaseThreads) -> server.Site:
    """The HTTP site: ``/mms/…`` and a 404 for everything else, never a traceback."""
    root = _NotFoundRoot()
    root.putChild(b"mms", MmsEditionResource(database))
    site = server.Site(root)
    site.displayTracebacks = False
    return site


def build_content_service(
    config: GatewayConfig, database: DatabaseThreads, reactor: Any
) -> service.Service:
    """A service listening on ``content.host``:``content.port``, reading through ``database``
    (a read-only pool; add the service to the tree after it, so it stops first)."""
    content = config.content
    listener = strports.service(
        f"tcp:{content.port}:interface={content.host}", content_site(database), reactor=reactor
    )
    listener.setName("mms-content")
    return listener
