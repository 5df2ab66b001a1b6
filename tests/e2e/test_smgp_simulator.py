"""The simulated China Telecom SMGW (SMGP 3.0) over loopback TCP, driven by a minimal client
built on the codec, and by the gateway's own SMGP link.

The same neutral carrier service as the SMPP and CMPP simulators: logins checked against its
accounts, unique MsgIDs, reports after ``receipt_delay`` with the configured mix, MOs
injected, its TPS cap and its faults.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest_twisted
from twisted.internet import defer, protocol, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.python.failure import Failure

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
from carriers.simulator.carrier_service import SimulatorSettings
from carriers.smgp import codec
from carriers.smgp.auth import authenticator_client, timestamp_for
from carriers.smgp.client import SmgpClientSettings
from carriers.smgp.link import ReconnectPolicy, SmgpLink
from carriers.smgp.msg_id import msg_id_text
from carriers.smgp.pdus import (
    ActiveTest,
    Deliver,
    Login,
    LoginResp,
    Pdu,
    Status,
    Submit,
    SubmitResp,
    response_for,
)
from carriers.smgp.reports import decode_report
from carriers.smgp.simulator import SimulatedSmgpIsmg
from gateway.editions.segmentation import segment_text
from tests.e2e.test_link_against_simulator import Inbox, wait_for

CLIENT_ID = "10690001"
SECRET = "s3cret"
HANDSET = "13300000000"
SERVICE_CODE = "10690001"


class Garbled:
    """A frame the client could not decode."""

    def __init__(self, frame: bytes) -> None:
        self.frame = frame


class SmgpClient(protocol.Protocol):
    """Just enough of an SP: frames, decodes and records what the SMGW sends; sends PDUs."""

    def __init__(self) -> None:
        self.framer = LengthPrefixedFramer(min_length=12, max_length=4096)
        self.received: list[Pdu | Garbled] = []
        self._arrived: defer.DeferredQueue[Pdu | Garbled] = defer.DeferredQueue()
        self.closed = defer.Deferred[None]()
        self._sequence = 0

    def dataReceived(self, data: bytes) -> None:
        for frame in self.framer.feed(data):
            item: Pdu | Garbled
            try:
                item = codec.decode(frame)
            except DecodeError:
                item = Garbled(frame)
            self.received.append(item)
            self._arrived.put(item)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.closed.callback(None)

    def send(self, pdu: Any) -> int:
        if not pdu.sequence_id:
            self._sequence += 1
            pdu = replace(pdu, sequence_id=self._sequence)
        assert self.transport is not None
        self.transport.write(codec.encode(pdu))
        return int(pdu.sequence_id)

    async def next(self, kind: type | None = None, timeout: float = 5.0) -> Any:
        while True:
            pending = self._arrived.get()
            pending.addTimeout(timeout, reactor)
            item = await pending
            if kind is None or isinstance(item, kind):
                return item
            if isinstance(item, ActiveTest):
                self.send(response_for(item))

    async def login(self, secret: str = SECRET, client_id: str = CLIENT_ID) -> LoginResp:
        timestamp = timestamp_for(datetime.now())
        self.send(Login(sequence_id=0, client_id=client_id, timestamp=timestamp,
                        authenticator_client=authenticator_client(client_id, secret,
                                                                  timestamp)))
        return await self.next(LoginResp)  # type: ignore[no-any-return]

    def submit(self, text: str = "hello") -> int:
        return self.send(Submit(sequence_id=0, need_report=1, src_term_id=SERVICE_CODE,
                                dest_term_ids=(HANDSET,), msg_content=text.encode()))


def start_smgw(**settings: Any) -> SimulatedSmgpIsmg:
    options: dict[str, Any] = {
        "carrier": "china_telecom",
        "accounts": {CLIENT_ID: SECRET},
        "receipt_delay": 0.1,
    }
    options.update(settings)
    smgw = SimulatedSmgpIsmg(SimulatorSettings(**options), reactor=reactor, clock=reactor,
                             rng=random.Random(7))
    smgw.startService()
    return smgw


async def connect(smgw: SimulatedSmgpIsmg) -> SmgpClient:
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", smgw.port)
    client: SmgpClient = await connectProtocol(endpoint, SmgpClient())
    return client


async def close(*clients: SmgpClient) -> None:
    for client in clients:
        if not client.closed.called:
            assert client.transport is not None
            client.transport.loseConnection()
            await client.closed


@pytest_twisted.ensureDeferred
async def test_a_wrong_secret_gets_status_21_and_the_connection_closed() -> None:
    smgw = start_smgw()
    try:
        client = await connect(smgw)
        answer = await client.login(secret="wrong")
        assert answer.status == Status.AUTHENTICATION_FAILED
        assert answer.authenticator_server == bytes(16)
        await client.closed.addTimeout(5, reactor)
        assert smgw.counters["bind_failures"] == 1
        assert smgw.bound_clients == 0
    finally:
        await smgw.stopService()


@pytest_twisted.ensureDeferred
async def test_submits_get_unique_msg_ids_and_reports_in_the_mix() -> None:
    mix = {"DELIVRD": 1.0, "UNDELIV": 1.0}
    smgw = start_smgw(receipt_delay=0.2, receipt_mix=mix)
    client = await connect(smgw)
    try:
        assert (await client.login()).status == 0
        sequences = [client.submit(f"news {n}") for n in range(8)]
        answers = [await client.next(SubmitResp) for _ in sequences]
        assert [a.sequence_id for a in answers] == sequences
        assert [a.status for a in answers] == [0] * 8
        ids = {msg_id_text(a.msg_id) for a in answers}
        assert len(ids) == 8
        reports = [await client.next(Deliver) for _ in sequences]
        for report in reports:
            client.send(response_for(report))
        decoded = [decode_report(r.msg_content) for r in reports]
        assert {msg_id_text(r.msg_id) for r in decoded} == ids
        assert {r.stat for r in decoded} <= {"DELIVRD", "UNDELIV"}
        assert all(r.is_report == 1 and r.src_term_id == HANDSET for r in reports)
    finally:
        await close(client)
        await smgw.stopService()


@pytest_twisted.ensureDeferred
async def test_submits_over_the_tps_cap_get_status_1() -> None:
    from carriers.simulator.server_events import ServerSettings

    smgw = start_smgw(smsc=ServerSettings(tps=2))
    client = await connect(smgw)
    try:
        assert (await client.login()).status == 0
        for n in range(6):
            client.submit(f"m{n}")
        statuses = [(await client.next(SubmitResp)).status for _ in range(6)]
        # Six in a burst span at most two one-second slots of two: two or more are refused.
        assert set(statuses) == {0, Status.SYSTEM_BUSY}
        assert statuses.count(Status.SYSTEM_BUSY) >= 2
    finally:
        await close(client)
        await smgw.stopService()


@pytest_twisted.ensureDeferred
async def test_faults_refuse_binds_and_garbage() -> None:
    smgw = start_smgw()
    try:
        client = await connect(smgw)
        assert (await client.login()).status == 0
        assert smgw.send_garbage(b"\x00\x00\x00\x0c\x00\x00\x00\x07\x00\x00\x00\x01") == 1
        assert isinstance(await client.next(Garbled), Garbled)
        assert smgw.drop_connections() == 1
        await client.closed.addTimeout(5, reactor)
        smgw.faults.refuse_binds = True
        again = await connect(smgw)
        assert (await again.login()).status == Status.AUTHENTICATION_FAILED
        await again.closed.addTimeout(5, reactor)
    finally:
        await smgw.stopService()


# -- the gateway's own SMGP link against the simulator ----------------------------------------


def start_smgp_link(port: int, inbox: Inbox, *, secret: str = SECRET) -> SmgpLink:
    link = SmgpLink(
        carrier="china_telecom",
        endpoint=TCP4ClientEndpoint(reactor, "127.0.0.1", port),
        settings=SmgpClientSettings(client_id=CLIENT_ID, shared_secret=secret, tps=0),
        clock=reactor,
        on_inbound=inbox,
        reconnect=ReconnectPolicy(initial_delay=0.05, max_delay=0.2),
        rng=random.Random(1),
    )
    link.startService()
    return link


DIGEST = ("【天翼手机报】今日要闻：全国多地迎来降温天气，气象部门提醒市民注意保暖；"
          "本市地铁新线路今日开通试运营，首班车六点发车；"
          "电信营业厅推出冬季优惠套餐，详情请咨询当地营业网点。回复TD退订")


@pytest_twisted.ensureDeferred
async def test_the_smgp_link_submits_a_two_part_digest_gets_reports_and_mos() -> None:
    smgw = start_smgw(receipt_mix={"DELIVRD": 1.0})
    inbox = Inbox()
    link = start_smgp_link(smgw.port, inbox)
    try:
        await link.when_bound()
        segmented = segment_text(DIGEST, reference=0x2A,
                                 codings=frozenset({TextCoding.ASCII, TextCoding.UCS2}))
        assert segmented.coding == TextCoding.UCS2 and len(segmented.segments) == 2
        parts = tuple(MessagePart(payload=s.udh + s.payload, coding=segmented.coding,
                                  has_udh=True) for s in segmented.segments)
        results = await link.submit(OutboundMessage(
            source=SERVICE_CODE, destination=HANDSET, lane=Lane.INTERACTIVE, parts=parts))
        assert [r.outcome for r in results] == [SubmitOutcome.ACCEPTED] * 2
        received = list(smgw.received)[-2:]
        assert [r.message_id for r in received] == [r.message_id for r in results]
        assert len({r.message_id for r in results}) == 2
        assert all(len(r.message_id or "") == 20 for r in results)
        assert "".join(r.text for r in received) == DIGEST
        assert [r.udh for r in received] == [s.udh for s in segmented.segments]
        await wait_for(lambda: len(inbox.receipts) == 2)
        assert sorted(r.message_id for r in inbox.receipts) == sorted(
            r.message_id for r in results if r.message_id)
        assert {(r.state, r.subscriber) for r in inbox.receipts} == {
            (ReceiptState.DELIVERED, HANDSET)}
        smgw.inject_mo(HANDSET, SERVICE_CODE + "1", "ＴＤ")
        await wait_for(lambda: len(inbox.messages) == 1)
        mo = inbox.messages[0]
        assert (mo.source, mo.destination, mo.text) == (HANDSET, SERVICE_CODE + "1", "ＴＤ")
        assert mo.link_id
        await wait_for(lambda: not any(c._delivers for c in smgw._connections))
        assert smgw.counters["redeliveries"] == 0
    finally:
        await link.stopService()
        await smgw.stopService()


@pytest_twisted.ensureDeferred
async def test_the_smgp_link_comes_back_after_a_drop_and_a_wrong_secret_is_refused() -> None:
    smgw = start_smgw()
    inbox = Inbox()
    link = start_smgp_link(smgw.port, inbox)
    wrong = start_smgp_link(smgw.port, Inbox(), secret="wrong")
    try:
        await link.when_bound()
        assert smgw.drop_connections() >= 1
        await wait_for(lambda: smgw.counters["binds"] >= 2)
        await link.when_bound()
        await wait_for(lambda: smgw.counters["bind_failures"] >= 2)
        assert not wrong.is_bound
    finally:
        await wrong.stopService()
        await link.stopService()
        await smgw.stopService()
