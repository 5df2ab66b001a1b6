"""Refusing an HTTP request before its body is read: a peer not on the allow-list (403),
wrong or missing HTTP Basic credentials (401), a body larger than the limit by its
Content-Length (413) or, without one, as it streams in (413).

twisted.web reads a request's whole body before ``render`` runs; these checks run when the
headers are in (``gotLength``) and on every chunk, answer at once and close the
connection (as twisted.web itself answers a request it cannot parse), so an oversized or
unauthorised body is never buffered.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import io
import logging
from dataclasses import dataclass, field
from typing import Any

from twisted.web import http, server

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestGuard:
    name: str
    """What the logs call the server (``MM7 endpoint``, ``simulated MMSC``)."""
    max_body_bytes: int
    accounts: dict[str, str] = field(default_factory=dict)
    """username → password for HTTP Basic; empty = no authentication."""
    allowed_addresses: frozenset[str] = frozenset()
    """Peer IP addresses allowed; empty = any."""
    realm: str = "mm7"

    def refusal(self, peer: str, authorization: bytes | None, length: int | None
                ) -> tuple[int, str] | None:
        """(HTTP status, reason) to refuse a request with, or None to read it."""
        if self.allowed_addresses and peer not in self.allowed_addresses:
            return http.FORBIDDEN, f"address {peer} is not allowed"
        if self.accounts and not self._authorised(authorization):
            return http.UNAUTHORIZED, "missing or wrong credentials"
        if length is not None and length > self.max_body_bytes:
            return (http.REQUEST_ENTITY_TOO_LARGE,
                    f"body of {length} octets over the limit of {self.max_body_bytes}")
        return None

    def _authorised(self, authorization: bytes | None) -> bool:
        if not authorization or authorization[:6].lower() != b"basic ":
            return False
        try:
            user, _, password = base64.b64decode(authorization[6:].strip(), validate=True
                                                 ).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        expected = self.accounts.get(user)
        return expected is not None and hmac.compare_digest(
            expected.encode("utf-8"), password.encode("utf-8"))


_REASONS = {http.FORBIDDEN: b"Forbidden", http.UNAUTHORIZED: b"Unauthorized",
            http.REQUEST_ENTITY_TOO_LARGE: b"Payload Too Large"}


class GuardedRequest(server.Request):
    """A request whose site's ``guard`` may refuse it before the body is read."""

    guard: RequestGuard
    refused: tuple[int, str] | None = None
    _received = 0

    def gotLength(self, length: int | None) -> None:
        peer = getattr(self.channel.transport.getPeer(), "host", "")
        refusal = self.guard.refusal(peer, self.requestHeaders.getRawHeaders(
            b"authorization", [None])[0], length)
        if refusal is not None:
            self._refuse(*refusal)
            self.content = io.BytesIO()
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self.refused is not None:
            return
        self._received += len(data)
        if self._received > self.guard.max_body_bytes:
            self._refuse(http.REQUEST_ENTITY_TOO_LARGE,
                         f"body over the limit of {self.guard.max_body_bytes} octets")
            return
        super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if self.refused is not None:
            return
        super().requestReceived(command, path, version)

    def _refuse(self, code: int, reason: str) -> None:
        self.refused = (code, reason)
        peer = getattr(self.channel.transport.getPeer(), "host", "?")
        log.warning("%s: refused a request from %s: HTTP %d, %s", self.guard.name, peer, code,
                    reason)
        text = f"{code} {reason}\n".encode()
        head = [b"HTTP/1.1 %d %s" % (code, _REASONS.get(code, b"Refused")),
                b"Content-Type: text/plain; charset=utf-8",
                b"Content-Length: %d" % len(text), b"Connection: close"]
        if code == http.UNAUTHORIZED:
            head.append(b'WWW-Authenticate: Basic realm="%s"' % self.guard.realm.encode())
        self.channel.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + text)
        self.channel.loseConnection()


def guarded_site(root: Any, guard: RequestGuard) -> server.Site:
    """A Site whose requests ``guard`` checks before their bodies are read."""

    class _Request(GuardedRequest):
        pass

    _Request.guard = guard
    site = server.Site(root, requestFactory=_Request)
    site.displayTracebacks = False
    return site
