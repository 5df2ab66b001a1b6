"""The MM7 client against the simulated MMSC on loopback: accepted submits get the MMSC's
MessageID; its throttling (4006), HTTP 500 faults, malformed answers, silence and a wrong
password are transient; its rate cap paces submits; the MMSC's control endpoint injects an
MO MMS that reaches the gateway's endpoint."""

from __future__ import annotations

import io
import json
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest_twisted
from twisted.internet import defer, reactor, task
from twisted.web.client import Agent, FileBodyProducer, readBody
from twisted.web.http_headers import Headers

from carriers.messages import SubmitOutcome
from carriers.mm7 import statuses
from carriers.mm7.client import Mm7Client, Mm7ClientSettings, classify_answer
from carriers.mm7.codec import SubmitRequest, build_response
from carriers.mm7.endpoint import EndpointHandlers, endpoint_site
from carriers.mm7.http_guard import RequestGuard
from carriers.mm7.mime import ContentPart, MmsContent, content_message
from carriers.mm7.soap import build_fault, namespace_of
from carriers.simulator.mmsc import MmscSettings, SimulatedMmsc

CONTENT = content_message(MmsContent(subject="早报", parts=(
    ContentPart(content_type="application/smil", content_id="smil", location="smil.xml",
                data=b"<smil/>"),
    ContentPart(content_type="text/plain; charset=utf-8", content_id="text1",
                location="text1.txt", data="新闻".encode()))))


def request(number: str = "13912345678") -> SubmitRequest:
    return SubmitRequest(transaction_id=f"t-{number}", release="REL-6-MM7-1-4",
                         vasp_id="901234", vas_id="SDSJB", sender_address="10658000",
                         recipients=(number,))


@pytest_twisted.async_yield_fixture
async def mmsc() -> AsyncIterator[SimulatedMmsc]:
    simulated = SimulatedMmsc(MmscSettings(
        carrier="china_mobile", accounts={"vasp": "pw-1"},
        gateway_url="http://127.0.0.1:9/unused", report_delay=3600),
        reactor=reactor, host="127.0.0.1", port=0, control_port=0, rng=random.Random(3))
    simulated.startService()
    yield simulated
    await simulated.stopService()


def client_for(mmsc: SimulatedMmsc, **changes: Any) -> Mm7Client:
    values: dict[str, Any] = dict(url=f"http://127.0.0.1:{mmsc.port}/mm7", username="vasp",
                                  password="pw-1", timeout=2.0, rate=0, window=4)
    values.update(changes)
    return Mm7Client(Mm7ClientSettings(**values), reactor=reactor)


@pytest_twisted.ensureDeferred
async def test_accepted_submit_gets_the_mmsc_message_id(mmsc: SimulatedMmsc) -> None:
    client = client_for(mmsc)
    result = await client.submit(request(), CONTENT)
    await client.close()
    assert result.outcome is SubmitOutcome.ACCEPTED and result.status == 1000
    (received,) = mmsc.received
    assert result.message_id == received.message_id
    assert received.recipients == ("13912345678",) and received.parts == 2


@pytest_twisted.ensureDeferred
async def test_mmsc_faults_are_transient(mmsc: SimulatedMmsc) -> None:
    client = client_for(mmsc, timeout=0.5)
    outcomes = {}
    for fault in ("error_rate", "malformed_rate", "timeout_rate"):
        setattr(mmsc.settings, fault, 1.0)
        outcomes[fault] = await client.submit(request(), CONTENT)
        setattr(mmsc.settings, fault, 0.0)
    wrong = client_for(mmsc, password="nope")
    outcomes["password"] = await wrong.submit(request(), CONTENT)
    await client.close()
    await wrong.close()
    assert {k: v.outcome for k, v in outcomes.items()} == dict.fromkeys(
        outcomes, SubmitOutcome.TRANSIENT)
    assert outcomes["error_rate"].status == statuses.SERVER_ERROR
    assert "no answer within" in outcomes["timeout_rate"].reason
    assert "HTTP 401" in outcomes["password"].reason
    assert mmsc.received == type(mmsc.received)()  # nothing accepted


@pytest_twisted.ensureDeferred
async def test_throttling_answers_4006_and_the_rate_cap_avoids_it(mmsc: SimulatedMmsc) -> None:
    mmsc.settings.tps = 4
    burst = client_for(mmsc, window=8)
    results = await defer.gatherResults([burst.submit(request(f"1391234{n:04d}"), CONTENT)
                                         for n in range(8)])
    throttled = [r for r in results if r.outcome is SubmitOutcome.TRANSIENT]
    assert throttled and {r.status for r in throttled} == {statuses.SERVICE_UNAVAILABLE}
    await burst.close()
    # The MMSC counts per calendar second: start the paced ones in a fresh second.
    await task.deferLater(reactor, 1.0 - reactor.seconds() % 1.0 + 0.01, lambda: None)
    paced = client_for(mmsc, rate=2.5, window=8)
    started = time.monotonic()
    results = await defer.gatherResults([paced.submit(request(f"1381234{n:04d}"), CONTENT)
                                         for n in range(6)])
    await paced.close()
    assert [r.outcome for r in results] == [SubmitOutcome.ACCEPTED] * 6
    assert time.monotonic() - started >= 5 / 2.5 - 0.1


def test_answers_classified() -> None:
    ns = namespace_of("REL-6-MM7-1-4")
    assert classify_answer(500, build_fault(namespace=ns, server=False, reason="x",
                                            status_code=2002)).outcome is SubmitOutcome.PERMANENT
    assert classify_answer(500, build_fault(namespace=ns, server=True, reason="x",
                                            status_code=4006)).outcome is SubmitOutcome.TRANSIENT
    assert classify_answer(200, build_response("REL-6-MM7-1-4", "t", "SubmitRsp", 4004)
                           ).outcome is SubmitOutcome.PERMANENT
    assert classify_answer(503, b"busy").outcome is SubmitOutcome.TRANSIENT
    assert classify_answer(404, b"no").outcome is SubmitOutcome.PERMANENT


@pytest_twisted.ensureDeferred
async def test_control_endpoint_injects_an_mo_mms() -> None:
    taken: list[Any] = []

    def deliver(carrier: str, mo: Any) -> defer.Deferred[None]:
        taken.append((carrier, mo))
        return defer.succeed(None)

    guard = RequestGuard(name="MM7 endpoint", max_body_bytes=100_000, accounts={"m": "p"})
    endpoint = reactor.listenTCP(0, endpoint_site(
        "/mm7", {"china_mobile": None},
        EndpointHandlers(delivery_report=lambda c, r: defer.succeed(None), deliver=deliver),
        guard), interface="127.0.0.1")
    mmsc = SimulatedMmsc(MmscSettings(
        carrier="china_mobile", accounts={},
        gateway_url=f"http://127.0.0.1:{endpoint.getHost().port}/mm7/china_mobile",
        gateway_username="m", gateway_password="p"),
        reactor=reactor, host="127.0.0.1", port=0, control_port=0)
    mmsc.startService()
    try:
        body = json.dumps({"from": "13912345678", "to": "10658000", "text": "SD"}).encode()
        response = await Agent(reactor).request(
            b"POST", f"http://127.0.0.1:{mmsc.control_port}/mo".encode(),
            Headers({b"content-type": [b"application/json"]}),
            FileBodyProducer(io.BytesIO(body)))
        answer = json.loads(await readBody(response))
    finally:
        await mmsc.stopService()
        await endpoint.stopListening()
    assert answer == {"status": 200, "mm7_status": 1000}
    ((carrier, mo),) = taken
    assert (carrier, mo.request.sender, mo.request.recipients, mo.texts) == (
        "china_mobile", "13912345678", ("10658000",), ("SD",))
