"""The gateway's MM7 endpoint on loopback: good requests are handed on and answered; bad
input (malformed XML, wrong namespace, missing MessageID, oversized body, bad credentials,
an address not allowed, an operation it does not take) gets the HTTP status or SOAP Fault
with the MM7 status, and reaches no handler."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import Any

import pytest
import pytest_twisted
from lxml import etree
from twisted.internet import defer, reactor, threads

from carriers.mm7 import statuses
from carriers.mm7.codec import (
    MmStatus,
    SubmitRequest,
    build_deliver_request,
    build_delivery_report_request,
    build_submit_request,
)
from carriers.mm7.endpoint import EndpointHandlers, endpoint_site
from carriers.mm7.http_guard import RequestGuard
from carriers.mm7.mime import build_request_body
from carriers.mm7.soap import parse_fault

RELEASE = "REL-6-MM7-1-4"
WHEN = datetime(2020, 11, 18, tzinfo=UTC)
LIMIT = 20_000


class Recorder:
    def __init__(self) -> None:
        self.reports: list[Any] = []
        self.mos: list[Any] = []

    def handlers(self) -> EndpointHandlers:
        def report(carrier: str, request: Any) -> defer.Deferred[None]:
            self.reports.append((carrier, request))
            return defer.succeed(None)

        def deliver(carrier: str, mo: Any) -> defer.Deferred[None]:
            self.mos.append((carrier, mo))
            return defer.succeed(None)

        return EndpointHandlers(delivery_report=report, deliver=deliver)


@pytest.fixture
def endpoint() -> Iterator[tuple[int, Recorder]]:
    recorder = Recorder()
    guard = RequestGuard(name="MM7 endpoint", max_body_bytes=LIMIT,
                         accounts={"mmsc": "secret-1"},
                         allowed_addresses=frozenset({"127.0.0.1"}))
    site = endpoint_site("/mm7", {"china_mobile": None}, recorder.handlers(), guard)
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    yield port.getHost().port, recorder
    pytest_twisted.blockon(defer.maybeDeferred(port.stopListening))


def raw_http(port: int, request: bytes, *, read_all: bool = True) -> bytes:
    """One HTTP exchange on a plain socket (blocking; run in a thread)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if not read_all:
                break
        return b"".join(chunks)


def post(port: int, body: bytes, *, content_type: str = 'text/xml; charset="utf-8"',
         credentials: str | None = "mmsc:secret-1", path: str = "/mm7/china_mobile",
         extra: bytes = b"") -> defer.Deferred[bytes]:
    head = [f"POST {path} HTTP/1.0", "Host: 127.0.0.1", f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}", "Connection: close"]
    if credentials is not None:
        head.append("Authorization: Basic " + base64.b64encode(credentials.encode()).decode())
    request = ("\r\n".join(head) + "\r\n").encode() + extra + b"\r\n" + body
    return threads.deferToThread(raw_http, port, request)


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def report(**changes: Any) -> bytes:
    values: dict[str, Any] = dict(release=RELEASE, transaction_id="dr-1", message_id="CM42",
                                  recipient="13912345678", sender="10658000",
                                  status=MmStatus.RETRIEVED, date=WHEN)
    values.update(changes)
    return build_delivery_report_request(**values)


def fault_status(answer: bytes) -> int | None:
    fault = parse_fault(answer.partition(b"\r\n\r\n")[2])
    assert fault is not None, answer[:300]
    return fault.status_code


@pytest_twisted.ensureDeferred
async def test_delivery_report_is_handed_on_and_answered(endpoint: tuple[int, Recorder]
                                                         ) -> None:
    port, recorder = endpoint
    answer = await post(port, report())
    assert status_of(answer) == 200
    body = etree.fromstring(answer.partition(b"\r\n\r\n")[2])
    assert etree.QName(body[1][0]).localname == "DeliveryReportRsp"
    assert b"<mm7:StatusCode>1000</mm7:StatusCode>" in answer
    ((carrier, request),) = recorder.reports
    assert (carrier, request.message_id, request.status) == ("china_mobile", "CM42",
                                                             MmStatus.RETRIEVED)


@pytest_twisted.ensureDeferred
async def test_mo_mms_texts_are_handed_on(endpoint: tuple[int, Recorder]) -> None:
    port, recorder = endpoint
    related = MIMEMultipart("related", type="text/plain", start="<t1>")
    part = MIMEText("SD", "plain", "utf-8")
    part["Content-ID"] = "<t1>"
    related.attach(part)
    related["Content-ID"] = "<mo>"
    envelope = build_deliver_request(release=RELEASE, transaction_id="mo-1",
                                     sender="13912345678", recipient="10658000", subject="",
                                     content_id="mo")
    content_type, body = build_request_body(envelope, related)
    answer = await post(port, body, content_type=content_type)
    assert status_of(answer) == 200 and b"DeliverRsp" in answer
    ((_carrier, mo),) = recorder.mos
    assert mo.texts == ("SD",) and mo.request.sender == "13912345678"


BAD_BODIES = {
    "malformed XML": (b"<env:Envelope xmlns:env='x'><unclosed>", statuses.MESSAGE_FORMAT_CORRUPT),
    "wrong namespace": (report().replace(
        b"http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4",
        b"urn:example:not-mm7"), statuses.VALIDATION_ERROR),
    "missing MessageID": (report().replace(b"<mm7:MessageID>CM42</mm7:MessageID>", b""),
                          statuses.VALIDATION_ERROR),
    "not an endpoint operation": (build_submit_request(SubmitRequest(
        transaction_id="x", release=RELEASE, vasp_id="v", vas_id="", sender_address="1",
        recipients=("2",))), statuses.UNSUPPORTED_OPERATION),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
@pytest_twisted.ensureDeferred
async def test_bad_bodies_get_a_soap_fault(endpoint: tuple[int, Recorder], case: str,
                                           caplog: pytest.LogCaptureFixture) -> None:
    port, recorder = endpoint
    body, expected = BAD_BODIES[case]
    answer = await post(port, body)
    assert status_of(answer) == 500
    assert fault_status(answer) == expected
    assert recorder.reports == [] and recorder.mos == []
    assert any("refused a request" in r.getMessage() for r in caplog.records)


@pytest_twisted.ensureDeferred
async def test_bad_credentials_get_401(endpoint: tuple[int, Recorder]) -> None:
    port, recorder = endpoint
    for credentials in ("mmsc:wrong", None, "other:secret-1"):
        answer = await post(port, report(), credentials=credentials)
        assert status_of(answer) == 401
        assert b"WWW-Authenticate: Basic" in answer
    assert recorder.reports == []


@pytest_twisted.ensureDeferred
async def test_oversized_body_refused_by_its_length_before_it_is_sent(
        endpoint: tuple[int, Recorder]) -> None:
    """Only the headers go out (Content-Length 50 MB): the 413 comes back at once."""
    port, recorder = endpoint
    head = (b"POST /mm7/china_mobile HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
            b"Authorization: Basic " + base64.b64encode(b"mmsc:secret-1") +
            b"\r\nContent-Length: 50000000\r\n\r\n")
    answer = await threads.deferToThread(raw_http, port, head)
    assert status_of(answer) == 413
    assert recorder.reports == []


@pytest_twisted.ensureDeferred
async def test_oversized_chunked_body_refused_while_streaming(endpoint: tuple[int, Recorder]
                                                              ) -> None:
    port, recorder = endpoint
    chunk = b"x" * 4096
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(8))
    request = (b"POST /mm7/china_mobile HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
               b"Authorization: Basic " + base64.b64encode(b"mmsc:secret-1") +
               b"\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
    answer = await threads.deferToThread(raw_http, port, request)
    assert status_of(answer) == 413
    assert recorder.reports == []


@pytest_twisted.ensureDeferred
async def test_address_not_allowed_gets_403() -> None:
    recorder = Recorder()
    guard = RequestGuard(name="MM7 endpoint", max_body_bytes=LIMIT, accounts={"m": "p"},
                         allowed_addresses=frozenset({"10.20.30.40"}))
    listening = reactor.listenTCP(0, endpoint_site("/mm7", {"china_mobile": None},
                                                   recorder.handlers(), guard),
                                  interface="127.0.0.1")
    try:
        answer = await post(listening.getHost().port, report(), credentials="m:p")
        assert status_of(answer) == 403
        assert recorder.reports == []
    finally:
        await listening.stopListening()


@pytest_twisted.ensureDeferred
async def test_a_handler_failure_is_a_server_fault() -> None:
    guard = RequestGuard(name="MM7 endpoint", max_body_bytes=LIMIT)
    failing = EndpointHandlers(delivery_report=lambda c, r: defer.fail(RuntimeError("db down")),
                               deliver=lambda c, m: defer.fail(RuntimeError("db down")))
    listening = reactor.listenTCP(0, endpoint_site("/mm7", {"china_mobile": None}, failing,
                                                   guard), interface="127.0.0.1")
    try:
        answer = await post(listening.getHost().port, report(), credentials=None)
        assert status_of(answer) == 500
        assert fault_status(answer) == statuses.SERVER_ERROR
    finally:
        await listening.stopListening()
