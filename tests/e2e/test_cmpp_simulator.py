"""The simulated CMPP ISMG over loopback TCP, driven by a minimal client built on the codec,
and by the gateway's own CMPP link.

The same neutral carrier service as the SMPP simulator: logins checked against its accounts,
unique Msg_Ids, reports after ``receipt_delay`` with the configured mix, MOs (injected or
through the control endpoint), its TPS cap and its faults.
"""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer, protocol, reactor, task, threads
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.python.failure import Failure

from carriers.cmpp import codec
from carriers.cmpp.auth import authenticator_source, timestamp_for
from carriers.cmpp.client import CmppClientSettings
from carriers.cmpp.link import CmppLink, ReconnectPolicy
from carriers.cmpp.msg_id import msg_id_text
from carriers.cmpp.pdus import (
    ActiveTest,
    Connect,
    ConnectResp,
    Deliver,
    DeliverResp,
    Pdu,
    Submit,
    SubmitResp,
    Version,
    response_for,
)
from carriers.cmpp.reports import REPORT_LENGTHS, decode_report
from carriers.errors import DecodeError
from carriers.framing import LengthPrefixedFramer
from carriers.messages import (
    Lane,
    MessagePart,
    OutboundMessage,
    ReceiptState,
    SubmitOutcome,
    TextCoding,
)
from carriers.protocols import PROTOCOLS, SimulatorParts
from carriers.sgip.config import SgipLinkConfig
from carriers.simulator.control import control_site
from carriers.simulator.server_events import ServerSettings
from carriers.simulator.smsc_service import SimulatedIsmg, SimulatorSettings
from tests.e2e.test_link_against_simulator import Inbox, wait_for

SP_CODE = "901234"
SECRET = "s3cret"
HANDSET = "13800138000"
SHORT_CODE = "10658000"
AUTH_FAILED = 3
FLOW_CONTROL = 8


class Garbled:
    """A frame the client could not decode."""

    def __init__(self, frame: bytes) -> None:
        self.frame = frame


class CmppClient(protocol.Protocol):
    """Just enough of an SP: frames, decodes and records what the ISMG sends; sends PDUs."""

    def __init__(self, version: int) -> None:
        self.version = version
        self.framer = LengthPrefixedFramer(min_length=12, max_length=4096)
        self.received: list[Pdu | Garbled] = []
        self._arrived: defer.DeferredQueue[Pdu | Garbled] = defer.DeferredQueue()
        self.closed = defer.Deferred[None]()
        self._sequence = 0

    def dataReceived(self, data: bytes) -> None:
        for frame in self.framer.feed(data):
            item: Pdu | Garbled
            try:
                item = codec.decode(frame, self.version)
            except DecodeError:
                item = Garbled(frame)
            self.received.append(item)
            self._arrived.put(item)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.closed.callback(None)

    def send(self, pdu: Any) -> int:
        """Send ``pdu`` under the next Sequence_Id (unless it carries one); return that id."""
        if not pdu.sequence_id:
            self._sequence += 1
            pdu = replace(pdu, sequence_id=self._sequence)
        assert self.transport is not None
        self.transport.write(codec.encode(pdu, self.version))
        return int(pdu.sequence_id)

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    async def next(self, kind: type | None = None, timeout: float = 5.0) -> Any:
        """The next PDU (of ``kind``, skipping keep-alives) within ``timeout`` seconds."""
        while True:
            pending = self._arrived.get()
            pending.addTimeout(timeout, reactor)
            item = await pending
            if kind is None or isinstance(item, kind):
                return item
            if isinstance(item, ActiveTest):
                self.send(response_for(item))

    async def login(self, secret: str = SECRET, source: str = SP_CODE) -> ConnectResp:
        timestamp = timestamp_for(datetime.now())
        self.send(Connect(sequence_id=0, source_addr=source,
                          authenticator_source=authenticator_source(source, secret, timestamp),
                          version=self.version, timestamp=timestamp))
        return await self.next(ConnectResp)  # type: ignore[no-any-return]

    def submit(self, text: str = "hello", *, destination: str = HANDSET,
               registered_delivery: int = 1) -> int:
        return self.send(Submit(
            sequence_id=0, registered_delivery=registered_delivery, msg_src=SP_CODE,
            src_id=SHORT_CODE, dest_terminal_ids=(destination,),
            msg_fmt=0 if text.isascii() else 8,
            msg_content=text.encode("ascii" if text.isascii() else "utf-16-be"),
        ))


def start_ismg(**settings: Any) -> SimulatedIsmg:
    options: dict[str, Any] = {
        "carrier": "china_mobile",
        "accounts": {SP_CODE: SECRET},
        "receipt_delay": 0.1,
    }
    options.update(settings)
    ismg = SimulatedIsmg(SimulatorSettings(**options), reactor=reactor, clock=reactor,
                         rng=random.Random(7))
    ismg.startService()
    return ismg


async def connect(ismg: SimulatedIsmg, version: int = Version.V30) -> CmppClient:
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", ismg.port)
    client: CmppClient = await connectProtocol(endpoint, CmppClient(version))
    return client


async def logged_in(ismg: SimulatedIsmg, version: int = Version.V30) -> CmppClient:
    client = await connect(ismg, version)
    answer = await client.login()
    assert answer.status == 0
    return client


async def close(*clients: CmppClient) -> None:
    for client in clients:
        if not client.closed.called:
            assert client.transport is not None
            client.transport.loseConnection()
            await client.closed


@pytest_twisted.ensureDeferred
async def test_a_wrong_secret_gets_status_3_and_the_connection_closed() -> None:
    ismg = start_ismg()
    try:
        client = await connect(ismg)
        answer = await client.login(secret="wrong")
        assert answer.status == AUTH_FAILED
        assert answer.authenticator_ismg == bytes(16)
        await client.closed.addTimeout(5, reactor)
        assert ismg.counters["bind_failures"] == 1
        assert ismg.bound_clients == 0
    finally:
        await ismg.stopService()


@pytest.mark.parametrize("version", [Version.V20, Version.V30], ids=["2.0", "3.0"])
@pytest_twisted.ensureDeferred
async def test_submits_get_unique_msg_ids_and_reports_after_the_delay(version: int) -> None:
    mix = {"DELIVRD": 1.0, "UNDELIV": 1.0, "EXPIRED": 1.0}
    ismg = start_ismg(receipt_delay=0.3, receipt_mix=mix)
    client = await logged_in(ismg, version)
    try:
        sent_at = reactor.seconds()
        sequences = [client.submit(f"news {n}") for n in range(12)]
        answers = [await client.next(SubmitResp) for _ in sequences]
        assert [a.sequence_id for a in answers] == sequences
        assert [a.result for a in answers] == [0] * 12
        ids = [a.msg_id for a in answers]
        assert len(set(ids)) == 12
        assert [r.message_id for r in ismg.received] == [msg_id_text(i) for i in ids]
        assert {(r.login, r.source, r.destination) for r in ismg.received} == {
            (SP_CODE, SHORT_CODE, HANDSET)}
        assert [r.text for r in ismg.received] == [f"news {n}" for n in range(12)]

        reports = [await client.next(Deliver) for _ in ids]
        assert reactor.seconds() - sent_at >= 0.3
        for deliver in reports:
            assert deliver.registered_delivery == 1
            assert deliver.src_terminal_id == HANDSET
            assert len(deliver.msg_content) == REPORT_LENGTHS[version]
            client.send(DeliverResp(sequence_id=deliver.sequence_id, msg_id=deliver.msg_id))
        decoded = [decode_report(d.msg_content) for d in reports]
        assert sorted(r.msg_id for r in decoded) == sorted(ids)
        assert {r.dest_terminal_id for r in decoded} == {HANDSET}
        stats = [r.stat for r in decoded]
        assert set(stats) <= set(mix)
        assert len(set(stats)) > 1  # a mix, not one outcome
        assert ismg.counters["receipts"] == 12
        await wait_for(lambda: not any(c._delivers for c in ismg._connections))
        assert ismg.counters["redeliveries"] == 0
    finally:
        await close(client)
        await ismg.stopService()


@pytest_twisted.ensureDeferred
async def test_a_report_is_laid_out_for_the_connection_that_takes_it() -> None:
    """Submitted over 3.0, delivered after the SP came back over 2.0: a 60-octet report."""
    ismg = start_ismg(receipt_delay=0.3)
    client = await logged_in(ismg, Version.V30)
    client.submit()
    msg_id = (await client.next(SubmitResp)).msg_id
    await close(client)
    try:
        client = await logged_in(ismg, Version.V20)
        deliver = await client.next(Deliver)
        assert len(deliver.msg_content) == REPORT_LENGTHS[Version.V20]
        assert decode_report(deliver.msg_content).msg_id == msg_id
        client.send(DeliverResp(sequence_id=deliver.sequence_id, msg_id=deliver.msg_id))
    finally:
        await close(client)
        await ismg.stopService()


@pytest_twisted.ensureDeferred
async def test_no_report_unless_asked_for() -> None:
    ismg = start_ismg(receipt_delay=0.05)
    client = await logged_in(ismg)
    try:
        client.submit(registered_delivery=0)
        await client.next(SubmitResp)
        await task.deferLater(reactor, 0.3, lambda: None)
        assert not any(isinstance(p, Deliver) for p in client.received)
        assert ismg.counters["receipts"] == 0
    finally:
        await close(client)
        await ismg.stopService()


@pytest_twisted.ensureDeferred
async def test_an_injected_mo_reaches_the_client_and_is_redelivered_when_refused() -> None:
    ismg = start_ismg()
    client = await logged_in(ismg)
    try:
        ismg.inject_mo(HANDSET, SHORT_CODE + "12", "ＳＤ")
        ismg.inject_mo(HANDSET, SHORT_CODE, "TD")
        first = await client.next(Deliver)
        second = await client.next(Deliver)
        assert (first.registered_delivery, first.src_terminal_id, first.dest_id) == (
            0, HANDSET, SHORT_CODE + "12")
        assert (first.msg_fmt, first.msg_content.decode("utf-16-be")) == (8, "ＳＤ")
        assert (second.msg_fmt, second.msg_content) == (0, b"TD")
        assert first.msg_id != second.msg_id
        client.send(DeliverResp(sequence_id=first.sequence_id, msg_id=first.msg_id))
        client.send(DeliverResp(sequence_id=second.sequence_id, msg_id=second.msg_id, result=9))
        again = await client.next(Deliver, timeout=10)  # after the redelivery delay
        assert (again.msg_id, again.msg_content) == (second.msg_id, b"TD")
        client.send(DeliverResp(sequence_id=again.sequence_id, msg_id=again.msg_id))
        assert ismg.counters["mo"] == 2
        assert ismg.counters["redeliveries"] == 1
    finally:
        await close(client)
        await ismg.stopService()


@pytest_twisted.ensureDeferred
async def test_an_mo_waits_for_a_client_to_log_in() -> None:
    ismg = start_ismg()
    try:
        ismg.inject_mo(HANDSET, SHORT_CODE, "hello")
        client = await logged_in(ismg, Version.V20)
        mo = await client.next(Deliver)
        assert (mo.src_terminal_id, mo.msg_content) == (HANDSET, b"hello")
        client.send(DeliverResp(sequence_id=mo.sequence_id, msg_id=mo.msg_id))
        await close(client)
    finally:
        await ismg.stopService()


def _post_json(port: int, path: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=15) as answer:
        return json.loads(answer.read())


def _get_json(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
        return json.loads(answer.read())


@pytest_twisted.ensureDeferred
async def test_the_control_endpoint_sends_an_mo_and_reports_the_reply() -> None:
    """What `sdgw sim mo` does: POST /mo, and the SP's reply to that handset comes back."""
    ismg = start_ismg()
    control = reactor.listenTCP(0, control_site(ismg, reactor), interface="127.0.0.1")
    port = control.getHost().port
    client = await logged_in(ismg)
    try:
        posted = threads.deferToThread(_post_json, port, "/mo",
                                       {"from": HANDSET, "to": SHORT_CODE, "text": "订阅",
                                        "wait": 5})
        mo = await client.next(Deliver)
        assert mo.msg_content.decode("utf-16-be") == "订阅"
        client.send(DeliverResp(sequence_id=mo.sequence_id, msg_id=mo.msg_id))
        client.submit("您已订阅手机报", destination=mo.src_terminal_id, registered_delivery=0)
        accepted = await client.next(SubmitResp)
        answer = await posted
        assert answer["injected"] == {"from": HANDSET, "to": SHORT_CODE, "text": "订阅"}
        assert answer["replies"] == [{
            "from": SHORT_CODE, "to": HANDSET, "text": "您已订阅手机报", "parts": 1,
            "message_ids": [msg_id_text(accepted.msg_id)],
        }]
        status = await threads.deferToThread(_get_json, port, "/status")
        assert (status["protocol"], status["bound_clients"]) == ("cmpp", 1)
        assert status["counters"]["mo"] == 1
        received = await threads.deferToThread(_get_json, port, "/received")
        assert received["received"] == [{
            "to": HANDSET, "from": SHORT_CODE, "udh": "", "id": msg_id_text(accepted.msg_id),
            "coding": "ucs2", "text": "您已订阅手机报",
        }]
    finally:
        await close(client)
        await ismg.stopService()
        await control.stopListening()


def _post_status(port: int, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    try:
        return 200, _post_json(port, path, body)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest_twisted.ensureDeferred
async def test_the_control_endpoint_refuses_an_mo_cmpp_cannot_carry() -> None:
    ismg = start_ismg()
    control = reactor.listenTCP(0, control_site(ismg, reactor), interface="127.0.0.1")
    port = control.getHost().port
    try:
        for body in ({"from": HANDSET, "to": "1" * 22, "text": "TD"},
                     {"from": HANDSET, "to": SHORT_CODE, "text": "长" * 71}):
            code, answer = await threads.deferToThread(_post_status, port, "/mo", body)
            assert code == 400
            assert "CMPP" in answer["error"]
        assert ismg.counters["mo"] == 0
        assert not ismg._watchers
    finally:
        await ismg.stopService()
        await control.stopListening()


@pytest_twisted.ensureDeferred
async def test_long_messages_keep_their_udh_and_are_counted_per_part() -> None:
    ismg = start_ismg()
    client = await logged_in(ismg)
    try:
        for udh, text in ((bytes.fromhex("0500032a0201"), "第一"), (bytes.fromhex("0500032a0202"),
                                                                    "第二")):
            client.send(Submit(sequence_id=0, tp_udhi=1, msg_fmt=8, src_id=SHORT_CODE,
                               dest_terminal_ids=(HANDSET,), pk_total=2,
                               msg_content=udh + text.encode("utf-16-be")))
            await client.next(SubmitResp)
        assert [(r.udh.hex(), r.text) for r in ismg.received] == [
            ("0500032a0201", "第一"), ("0500032a0202", "第二")]
        assert ismg.parts == {(HANDSET, "0500032a0201"): 1, (HANDSET, "0500032a0202"): 1}
    finally:
        await close(client)
        await ismg.stopService()


@pytest_twisted.ensureDeferred
async def test_submits_over_the_tps_cap_get_result_8() -> None:
    ismg = start_ismg(smsc=ServerSettings(tps=2))
    client = await logged_in(ismg)
    try:
        client.write(b"".join(
            codec.encode(Submit(sequence_id=n, src_id=SHORT_CODE, dest_terminal_ids=(HANDSET,),
                                msg_content=b"x"), Version.V30)
            for n in range(1, 7)))
        results = [(await client.next(SubmitResp)).result for _ in range(6)]
        assert FLOW_CONTROL in results
        assert results.count(0) <= 4  # two per second, even across a second's boundary
        assert ismg.counters["refused"] == results.count(FLOW_CONTROL)
        assert len(ismg.received) == results.count(0)
    finally:
        await close(client)
        await ismg.stopService()


@pytest_twisted.ensureDeferred
async def test_fault_drop_cuts_every_connection() -> None:
    ismg = start_ismg()
    first, second = await logged_in(ismg), await logged_in(ismg)
    try:
        assert ismg.bound_clients == 2
        assert ismg.drop_connections() == 2
        await defer.gatherResults([first.closed, second.closed]).addTimeout(5, reactor)
        await wait_for(lambda: ismg.bound_clients == 0)
    finally:
        await ismg.stopService()


@pytest_twisted.ensureDeferred
async def test_fault_response_delay_holds_submit_responses_back() -> None:
    ismg = start_ismg()
    client = await logged_in(ismg)
    try:
        ismg.faults.response_delay = 0.4
        sent_at = reactor.seconds()
        client.submit()
        answer = await client.next(SubmitResp)
        assert answer.result == 0
        assert reactor.seconds() - sent_at >= 0.4
    finally:
        await close(client)
        await ismg.stopService()


@pytest_twisted.ensureDeferred
async def test_fault_refuse_binds_refuses_even_the_right_secret() -> None:
    ismg = start_ismg()
    try:
        ismg.faults.refuse_binds = True
        client = await connect(ismg)
        answer = await client.login()
        assert answer.status != 0
        await close(client)
        ismg.faults.refuse_binds = False
        client = await logged_in(ismg)
        await close(client)
        assert (ismg.counters["bind_failures"], ismg.counters["binds"]) == (1, 1)
    finally:
        await ismg.stopService()


@pytest_twisted.ensureDeferred
async def test_fault_garbage_reaches_every_client() -> None:
    ismg = start_ismg()
    client = await logged_in(ismg)
    try:
        garbage = bytes.fromhex("00000010000000990000000000000042")  # unknown Command_Id
        assert ismg.send_garbage(garbage) == 1
        item = await client.next()
        assert isinstance(item, Garbled)
        assert item.frame == garbage
        client.submit()  # the ISMG's side of the link is unharmed
        assert (await client.next(SubmitResp)).result == 0
    finally:
        await close(client)
        await ismg.stopService()


@pytest_twisted.ensureDeferred
async def test_other_connections_live_on_after_a_client_sends_garbage() -> None:
    ismg = start_ismg()
    noisy, quiet = await logged_in(ismg), await logged_in(ismg)
    try:
        noisy.write(bytes.fromhex("0000001000000099000000070000002a"))  # unknown Command_Id
        await wait_for(lambda: ismg.counters["peer_errors"] == 1)
        quiet.submit()
        assert (await quiet.next(SubmitResp)).result == 0
        ismg.inject_mo(HANDSET, SHORT_CODE, "TD")
        mo = await _first_deliver(noisy, quiet)
        assert mo.msg_content == b"TD"
        late = await logged_in(ismg)  # and new clients still log in
        await close(late)
    finally:
        await close(noisy, quiet)
        await ismg.stopService()


async def _first_deliver(*clients: CmppClient) -> Deliver:
    """The MO went to whichever connection was still able to take it."""
    for _ in range(250):
        for client in clients:
            for item in client.received:
                if isinstance(item, Deliver):
                    return item
        await task.deferLater(reactor, 0.02, lambda: None)
    raise AssertionError("no client got the MO")


def test_the_registry_builds_a_simulator_per_protocol() -> None:
    settings = SimulatorSettings(carrier="china_mobile", accounts={SP_CODE: SECRET})
    # SGIP's SMG connects back to the gateway's listener: it is built from the link's table.
    sgip = SgipLinkConfig(port=1, login_name="gw", password="pw", node_id=3053112345,
                          listen_port=1, smg_login_name="smg", smg_password="pw")
    built = {name: protocol.build_simulator(settings, SimulatorParts(
        reactor=reactor, clock=reactor, host="127.0.0.1", port=0, rng=random.Random(1),
        link=sgip if name == "sgip" else None)) for name, protocol in PROTOCOLS.items()}
    assert {name: simulator.protocol for name, simulator in built.items()} == {
        "smpp": "smpp", "cmpp": "cmpp", "smgp": "smgp", "sgip": "sgip"}


# -- the gateway's own CMPP link against the simulator ------------------------------------------


def start_cmpp_link(port: int, inbox: Inbox, *, secret: str = SECRET,
                    version: int = Version.V30) -> CmppLink:
    link = CmppLink(
        carrier="china_mobile",
        endpoint=TCP4ClientEndpoint(reactor, "127.0.0.1", port),
        settings=CmppClientSettings(source_addr=SP_CODE, shared_secret=secret, version=version,
                                    tps=0),
        clock=reactor,
        on_inbound=inbox,
        reconnect=ReconnectPolicy(initial_delay=0.05, max_delay=0.2),
        rng=random.Random(1),
    )
    link.startService()
    return link


@pytest.mark.parametrize("version", [Version.V20, Version.V30], ids=["2.0", "3.0"])
@pytest_twisted.ensureDeferred
async def test_the_cmpp_link_submits_gets_reports_and_mos(version: int) -> None:
    ismg = start_ismg(receipt_mix={"UNDELIV": 1.0})
    inbox = Inbox()
    link = start_cmpp_link(ismg.port, inbox, version=version)
    try:
        await link.when_bound()
        results = await link.submit(OutboundMessage(
            source=SHORT_CODE, destination=HANDSET, lane=Lane.INTERACTIVE,
            parts=(MessagePart(payload="您好，手机报".encode("utf-16-be"),
                               coding=TextCoding.UCS2),),
        ))
        assert [r.outcome for r in results] == [SubmitOutcome.ACCEPTED]
        assert results[0].message_id == ismg.received[-1].message_id
        assert (ismg.received[-1].text, ismg.received[-1].coding) == ("您好，手机报", "ucs2")
        await wait_for(lambda: len(inbox.receipts) == 1)
        receipt = inbox.receipts[0]
        assert (receipt.message_id, receipt.stat, receipt.subscriber) == (
            results[0].message_id, "UNDELIV", HANDSET)
        assert receipt.state == ReceiptState.UNDELIVERABLE
        ismg.inject_mo(HANDSET, SHORT_CODE + "1", "ＳＤ")
        await wait_for(lambda: len(inbox.messages) == 1)
        mo = inbox.messages[0]
        assert (mo.source, mo.destination, mo.text) == (HANDSET, SHORT_CODE + "1", "ＳＤ")
        await wait_for(lambda: not any(c._delivers for c in ismg._connections))
        assert ismg.counters["redeliveries"] == 0
    finally:
        await link.stopService()
        await ismg.stopService()


@pytest_twisted.ensureDeferred
async def test_the_cmpp_link_comes_back_after_a_drop_and_keeps_failing_a_wrong_secret() -> None:
    ismg = start_ismg()
    inbox = Inbox()
    link = start_cmpp_link(ismg.port, inbox)
    wrong = start_cmpp_link(ismg.port, Inbox(), secret="wrong")
    try:
        await link.when_bound()
        assert ismg.drop_connections() >= 1
        await wait_for(lambda: ismg.counters["binds"] >= 2)
        await link.when_bound()
        await wait_for(lambda: ismg.counters["bind_failures"] >= 2)
        assert not wrong.is_bound
    finally:
        await wrong.stopService()
        await link.stopService()
        await ismg.stopService()
