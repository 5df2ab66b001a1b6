"""A capture of a real CMPP session, decoded by Wireshark's CMPP dissector.

The gateway's :class:`~carriers.cmpp.link.CmppLink` talks to the simulated ISMG over loopback
through a recording TCP relay (written here: it passes bytes both ways unchanged and records
each direction's stream).  The session covers CONNECT, a 2-part UCS2 Chinese digest (UDH,
TP_udhi 1, Pk_total 2), the status reports for it, an MO, a single-part reply with its report,
an ACTIVE_TEST and the TERMINATE of a graceful stop.  Each direction's stream is then cut
into PDUs by their 4-octet Total_Length alone (not by our codec), written to a pcap one PDU
per TCP segment, and decoded by tshark, which shares no code with ours.

tshark parses only the CMPP 3.0 layouts (any other body is "Malformed"), so the 3.0 session
is checked field by field and the 2.0 one by its headers and CONNECT there, its body lengths
and a few fields at their 2.0 offsets by hand (docs/wire-formats.md §2).  tshark checks no
PDU's length against its fields either, so the length formulas are checked here.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import pytest_twisted
from twisted.internet import defer, protocol, reactor, task
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.interfaces import IListeningPort
from twisted.python.failure import Failure

from carriers.cmpp.client import CmppClientSettings
from carriers.cmpp.link import CmppLink, ReconnectPolicy
from carriers.messages import (
    DeliveryReceipt,
    InboundMessage,
    Lane,
    MessagePart,
    OutboundMessage,
    ReceiptState,
    SubmitOutcome,
    SubmitResult,
    TextCoding,
)
from carriers.simulator.smsc_service import SimulatedIsmg, SimulatorSettings
from tests.unit.tshark_decoder import Dissection, dissect, require_tshark, tcp_conversation

SP_CODE = "901234"
SECRET = "s3cret"
SHORT_CODE = "10658000"
REPLY_SOURCE = SHORT_CODE + "123456789012"
"""20 characters: tshark shows only the first 17 of Src_Id."""
HANDSET = "8613800138000"
MO_TEXT = "订阅手机报"
DIGEST = (
    "【山东手机报】今日要闻：省委召开全体会议，部署下半年经济工作；济南至青岛高铁新线今日开通"
    "运营，全程最快一小时；全省夏粮再获丰收，总产量创历史新高。天气：明天晴转多云，气温二十五"
    "到三十三度，注意防暑。"
)
DIGEST_SPLIT = 67
"""UTF-16 code units per part after a 6-octet UDH (134 octets)."""
REFERENCE = 0x5A
REPLY = "您已成功订阅山东手机报，回复TD退订。"
ACTIVE_TEST_INTERVAL = 0.5

CONNECT, CONNECT_RESP = 0x00000001, 0x80000001
TERMINATE, TERMINATE_RESP = 0x00000002, 0x80000002
SUBMIT, SUBMIT_RESP = 0x00000004, 0x80000004
DELIVER, DELIVER_RESP = 0x00000005, 0x80000005
ACTIVE_TEST, ACTIVE_TEST_RESP = 0x00000008, 0x80000008

# Per direction, in order, leaving out the keep-alive (checked on its own: one comes when
# the link has been idle for ACTIVE_TEST_INTERVAL, and a slow machine may make two).
EXPECTED_FROM_LINK = [CONNECT, SUBMIT, SUBMIT, DELIVER_RESP, DELIVER_RESP, DELIVER_RESP,
                      SUBMIT, DELIVER_RESP, TERMINATE]
EXPECTED_FROM_ISMG = [CONNECT_RESP, SUBMIT_RESP, SUBMIT_RESP, DELIVER, DELIVER, DELIVER,
                      SUBMIT_RESP, DELIVER, TERMINATE_RESP]
KEEPALIVE = (ACTIVE_TEST, ACTIVE_TEST_RESP)


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``condition`` on the reactor until it holds (bounded; never a bare sleep)."""
    waited = 0.0
    while not condition():
        if waited >= timeout:
            raise AssertionError("condition not met in time")
        await task.deferLater(reactor, 0.02, lambda: None)
        waited += 0.02


# -- the recording relay ------------------------------------------------------------------


class _Leg(protocol.Protocol):
    """One side of the relay: what it receives goes to the other side, unchanged."""

    def __init__(self, relay: RecordingRelay, from_client: bool) -> None:
        self.relay = relay
        self.from_client = from_client
        self.peer: _Leg | None = None
        self.done: defer.Deferred[None] = defer.Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.relay.chunks.append((self.from_client, data))
        assert self.peer is not None and self.peer.transport is not None
        self.peer.transport.write(data)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.loseConnection()
        self.done.callback(None)


class _ClientLeg(_Leg):
    """The link's connection to the relay: read nothing until the ISMG leg is up."""

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.relay.client_port = self.transport.getPeer().port
        self.transport.pauseProducing()
        upstream = _Leg(self.relay, from_client=False)
        self.relay.legs += [self, upstream]
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.relay.upstream_port)
        connectProtocol(endpoint, upstream).addCallbacks(self._joined, self._not_joined)

    def _joined(self, upstream: _Leg) -> None:
        self.peer, upstream.peer = upstream, self
        assert self.transport is not None
        self.transport.resumeProducing()

    def _not_joined(self, failure: Failure) -> None:
        assert self.transport is not None
        self.transport.loseConnection()


class _RelayFactory(protocol.Factory):
    noisy = False

    def __init__(self, relay: RecordingRelay) -> None:
        self.relay = relay

    def buildProtocol(self, addr: Any) -> _ClientLeg:
        return _ClientLeg(self.relay, from_client=True)


class RecordingRelay:
    """Listens on 127.0.0.1; each connection is relayed to ``upstream_port``, recording the
    chunks each way in the order they arrived: ``(from_client, data)``."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.chunks: list[tuple[bool, bytes]] = []
        self.client_port = 0
        self.legs: list[_Leg] = []
        self._listening: IListeningPort = reactor.listenTCP(
            0, _RelayFactory(self), interface="127.0.0.1")
        self.port = int(self._listening.getHost().port)

    def pdus(self) -> list[tuple[bool, bytes]]:
        return cut_pdus(self.chunks)

    def count(self, from_client: bool, command_id: int) -> int:
        return sum(1 for side, pdu in self.pdus()
                   if side == from_client and command_of(pdu) == command_id)

    async def closed(self) -> None:
        """Wait for both legs of every connection to close."""
        await defer.gatherResults([leg.done for leg in self.legs]).addTimeout(5, reactor)

    async def stop(self) -> None:
        await self._listening.stopListening()


def cut_pdus(chunks: list[tuple[bool, bytes]]) -> list[tuple[bool, bytes]]:
    """Each direction's stream cut into whole PDUs by Total_Length (the first 4 octets of
    every CMPP PDU) and nothing else; the PDUs of both directions in the order their last
    octet arrived.  A PDU still incomplete is left out."""
    buffers = {True: b"", False: b""}
    pdus: list[tuple[bool, bytes]] = []
    for from_client, data in chunks:
        buffered = buffers[from_client] + data
        while len(buffered) >= 4:
            (length,) = struct.unpack(">I", buffered[:4])
            assert length >= 12, f"Total_Length {length} < 12 in {buffered[:16].hex()}"
            if len(buffered) < length:
                break
            pdus.append((from_client, buffered[:length]))
            buffered = buffered[length:]
        buffers[from_client] = buffered
    return pdus


def command_of(pdu: bytes) -> int:
    return int(struct.unpack(">I", pdu[4:8])[0])


# -- the session ----------------------------------------------------------------------------


@dataclass
class Inbox:
    messages: list[InboundMessage] = field(default_factory=list)
    receipts: list[DeliveryReceipt] = field(default_factory=list)

    def __call__(self, message: InboundMessage | DeliveryReceipt) -> defer.Deferred[Any]:
        if isinstance(message, DeliveryReceipt):
            self.receipts.append(message)
        else:
            self.messages.append(message)
        return defer.succeed(None)


@dataclass
class Capture:
    pdus: list[tuple[bool, bytes]]
    """Both directions, in order: ``(from_link, pdu)``."""
    link_port: int
    ismg_port: int
    digest_results: list[SubmitResult]
    reply_results: list[SubmitResult]
    inbox: Inbox
    ismg: SimulatedIsmg

    def of(self, command_id: int) -> list[bytes]:
        return [pdu for _, pdu in self.pdus if command_of(pdu) == command_id]


def digest_parts() -> tuple[MessagePart, ...]:
    """The digest cut by hand: a concatenation UDH (8-bit reference) and 67 code units."""
    chunks = [DIGEST[:DIGEST_SPLIT], DIGEST[DIGEST_SPLIT:]]
    return tuple(
        MessagePart(payload=bytes((5, 0, 3, REFERENCE, 2, number)) + chunk.encode("utf-16-be"),
                    coding=TextCoding.UCS2, has_udh=True)
        for number, chunk in enumerate(chunks, start=1)
    )


async def run_session(version: int) -> Capture:
    ismg = SimulatedIsmg(
        SimulatorSettings(carrier="china_mobile", accounts={SP_CODE: SECRET},
                          receipt_delay=0.05),
        reactor=reactor, clock=reactor, rng=random.Random(5),
    )
    ismg.startService()
    relay = RecordingRelay(ismg.port)
    inbox = Inbox()
    link = CmppLink(
        carrier="china_mobile",
        endpoint=TCP4ClientEndpoint(reactor, "127.0.0.1", relay.port),
        settings=CmppClientSettings(
            source_addr=SP_CODE, shared_secret=SECRET, version=version, service_id="NEWS",
            fee_user_type=2, active_test_interval=ACTIVE_TEST_INTERVAL,
        ),
        clock=reactor,
        on_inbound=inbox,
        reconnect=ReconnectPolicy(initial_delay=0.05, max_delay=0.2),
        rng=random.Random(1),
    )
    link.startService()
    link_stopped = False
    try:
        await link.when_bound().addTimeout(5, reactor)
        digest = OutboundMessage(source=SHORT_CODE, destination=HANDSET, parts=digest_parts())
        digest_results = await link.submit(digest)
        await wait_for(lambda: relay.count(True, DELIVER_RESP) == 2)
        ismg.inject_mo(HANDSET, SHORT_CODE, MO_TEXT)
        await wait_for(lambda: relay.count(True, DELIVER_RESP) == 3)
        reply = OutboundMessage(
            source=REPLY_SOURCE, destination=HANDSET, lane=Lane.INTERACTIVE,
            parts=(MessagePart(payload=REPLY.encode("utf-16-be"), coding=TextCoding.UCS2),),
        )
        reply_results = await link.submit(reply)
        await wait_for(lambda: relay.count(True, DELIVER_RESP) == 4)
        await wait_for(lambda: relay.count(False, ACTIVE_TEST_RESP) >= 1)
        link_stopped = True
        await link.stopService()  # TERMINATE, TERMINATE_RESP; the ISMG then hangs up
        await relay.closed()
    finally:
        if not link_stopped:
            await link.stopService()
        await ismg.stopService()
        await relay.stop()
    return Capture(pdus=relay.pdus(), link_port=relay.client_port, ismg_port=relay.port,
                   digest_results=digest_results, reply_results=reply_results,
                   inbox=inbox, ismg=ismg)


def tshark_view(tmp_path: Path, capture: Capture) -> Dissection:
    frames = tcp_conversation(capture.pdus, client_port=capture.link_port,
                              server_port=capture.ismg_port)
    return dissect(tmp_path, frames, decode_as=[f"tcp.port=={capture.ismg_port},cmpp"])


def fields(packet: Element, name: str) -> list[Element]:
    return [f for f in packet.iter("field") if f.get("name") == name]


def show(packet: Element, name: str, index: int = 0) -> str:
    found = fields(packet, name)
    assert len(found) > index, f"tshark did not report {name} (#{index})"
    return found[index].get("show", "")


def raw(packet: Element, name: str) -> bytes:
    [found] = fields(packet, name)
    return bytes.fromhex(found.get("value", ""))


def msg_id_text(shown: str) -> str:
    """tshark's ``0xc13deb41e2400315`` as our text form: 16 upper-case hex digits."""
    return f"{int(shown, 16):016X}"


def assert_clean(dissection: Dissection, capture: Capture) -> None:
    """One packet per PDU, each decoded as CMPP, nothing malformed, no expert warning."""
    assert len(dissection.packets) == len(capture.pdus)
    for number, packet in enumerate(dissection.packets):
        protocols = [p.get("name") for p in packet.iter("proto")]
        assert "cmpp" in protocols, f"packet {number} not decoded as CMPP: {protocols}"
        assert "_ws.malformed" not in protocols, f"packet {number} is malformed"
        warnings = [f.get("showname") for f in fields(packet, "_ws.expert")]
        assert not warnings, f"packet {number}: {warnings}"


def assert_sequences(dissection: Dissection, capture: Capture) -> None:
    """tshark's Command_Ids per direction are the expected ones, every keep-alive answered."""
    from_link: list[int] = []
    from_ismg: list[int] = []
    headers = []
    for packet, (side, pdu) in zip(dissection.packets, capture.pdus, strict=True):
        command_id = int(show(packet, "cmpp.Command_Id"), 16)
        (from_link if side else from_ismg).append(command_id)
        headers.append((int(show(packet, "cmpp.Total_Length")), command_id,
                        int(show(packet, "cmpp.Sequence_Id"))))
        assert headers[-1] == struct.unpack(">III", pdu[:12])
        assert headers[-1][0] == len(pdu)
    assert [c for c in from_link if c not in KEEPALIVE] == EXPECTED_FROM_LINK
    assert [c for c in from_ismg if c not in KEEPALIVE] == EXPECTED_FROM_ISMG
    probes = [h[2] for h, (side, _) in zip(headers, capture.pdus, strict=True)
              if side and h[1] == ACTIVE_TEST]
    answers = [h[2] for h, (side, _) in zip(headers, capture.pdus, strict=True)
               if not side and h[1] == ACTIVE_TEST_RESP]
    assert probes and answers == probes
    # Every response echoes its request's Sequence_Id.
    requests = {(side, h[2]): h[1] for h, (side, _) in zip(headers, capture.pdus, strict=True)
                if not h[1] & 0x80000000}
    for h, (side, _) in zip(headers, capture.pdus, strict=True):
        if h[1] & 0x80000000:
            assert requests.get((not side, h[2])) == h[1] & 0x7FFFFFFF, h


def assert_gateway_view(capture: Capture) -> None:
    """What the link and the simulator made of the session."""
    results = capture.digest_results + capture.reply_results
    assert [r.outcome for r in results] == [SubmitOutcome.ACCEPTED] * 3
    assert sorted(r.message_id or "" for r in results) == sorted(
        r.message_id for r in capture.inbox.receipts)
    assert {r.state for r in capture.inbox.receipts} == {ReceiptState.DELIVERED}
    [mo] = capture.inbox.messages
    assert (mo.source, mo.destination, mo.text) == (HANDSET, SHORT_CODE, MO_TEXT)
    received = list(capture.ismg.received)
    assert [r.text for r in received] == [DIGEST[:DIGEST_SPLIT], DIGEST[DIGEST_SPLIT:], REPLY]
    assert [r.message_id for r in received] == [r.message_id for r in results]
    assert capture.ismg.counters["peer_errors"] == 0
    assert capture.ismg.counters["redeliveries"] == 0


# -- CMPP 3.0: every field tshark knows ------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_a_cmpp30_session_decodes_cleanly_in_wireshark(tmp_path: Path) -> None:
    require_tshark()
    capture = await run_session(0x30)
    assert_gateway_view(capture)
    dissection = tshark_view(tmp_path, capture)
    assert_clean(dissection, capture)
    assert_sequences(dissection, capture)
    packets: dict[int, list[Element]] = {}
    for packet, (_, pdu) in zip(dissection.packets, capture.pdus, strict=True):
        packets.setdefault(command_of(pdu), []).append(packet)

    [connect] = packets[CONNECT]
    assert show(connect, "cmpp.connect.Source_Addr") == SP_CODE
    assert show(connect, "cmpp.Version") == "03.00"
    [connect_resp] = packets[CONNECT_RESP]
    assert show(connect_resp, "cmpp.connect_resp.Status") == "0"
    assert show(connect_resp, "cmpp.Version") == "03.00"

    # The three SUBMITs: the digest's two parts, then the reply.
    submits = packets[SUBMIT]
    submit_pdus = capture.of(SUBMIT)
    assert len(submits) == 3
    for packet, pdu in zip(submits, submit_pdus, strict=True):
        recipients = int(show(packet, "cmpp.submit.DestUsr_tl"))
        msg_length = int(show(packet, "cmpp.Msg_Length"))
        assert recipients == 1
        assert len(pdu) == 12 + 151 + 32 * recipients + msg_length  # not checked by tshark
        assert show(packet, "cmpp.Dest_terminal_Id") == HANDSET
        assert show(packet, "cmpp.Msg_Fmt") == "8"
        assert show(packet, "cmpp.submit.Registered_Delivery") == "1"
        assert show(packet, "cmpp.Servicd_Id") == "NEWS"  # sic: the dissector's spelling
        assert show(packet, "cmpp.submit.Msg_src") == SP_CODE
        assert show(packet, "cmpp.submit.Fee_UserType") == "2"
        assert show(packet, "cmpp.submit.FeeType") == "01"
        assert show(packet, "cmpp.submit.FeeCode") == "000000"
        assert int(show(packet, "cmpp.Msg_Id"), 16) == 0
        assert len(raw(packet, "cmpp.Msg_Content")) == msg_length
    texts = []
    for number, packet in enumerate(submits[:2], start=1):
        assert show(packet, "cmpp.submit.Src_Id") == SHORT_CODE
        assert show(packet, "cmpp.TP_udhi") == "1"
        assert (show(packet, "cmpp.submit.Pk_total"), show(packet, "cmpp.submit.Pk_number")) \
            == ("2", str(number))
        content = raw(packet, "cmpp.Msg_Content")
        assert content[:6] == bytes((5, 0, 3, REFERENCE, 2, number))
        texts.append(content[6:].decode("utf-16-be"))
    assert "".join(texts) == DIGEST
    reply = submits[2]
    assert show(reply, "cmpp.submit.Src_Id") == REPLY_SOURCE[:17]  # tshark shows 17 of 21
    assert show(reply, "cmpp.TP_udhi") == "0"
    assert (show(reply, "cmpp.submit.Pk_total"), show(reply, "cmpp.submit.Pk_number")) == (
        "1", "1")
    assert raw(reply, "cmpp.Msg_Content").decode("utf-16-be") == REPLY

    # SUBMIT_RESP Msg_Id = what the link returned = the report's Msg_Id.
    returned = [r.message_id for r in capture.digest_results + capture.reply_results]
    assert [len(p) for p in capture.of(SUBMIT_RESP)] == [24] * 3
    submit_resps = packets[SUBMIT_RESP]
    assert [msg_id_text(show(p, "cmpp.Msg_Id")) for p in submit_resps] == returned
    assert [show(p, "cmpp.submit_resp.Result") for p in submit_resps] == ["0"] * 3

    delivers = packets[DELIVER]
    deliver_pdus = capture.of(DELIVER)
    reports = [p for p in delivers if show(p, "cmpp.deliver.Registered_Delivery") == "1"]
    [mo] = [p for p in delivers if show(p, "cmpp.deliver.Registered_Delivery") == "0"]
    assert len(reports) == 3
    reported = []
    for packet, pdu in zip(delivers, deliver_pdus, strict=True):
        msg_length = int(show(packet, "cmpp.Msg_Length"))
        assert len(pdu) == 12 + 97 + msg_length
        assert show(packet, "cmpp.deliver.Src_terminal_Id") == HANDSET
    for packet in reports:
        assert show(packet, "cmpp.Msg_Length") == "71"
        assert show(packet, "cmpp.deliver.Report.Status") == "DELIVRD"
        assert show(packet, "cmpp.Dest_terminal_Id") == HANDSET
        submit_time = show(packet, "cmpp.deliver.Report.Submit_time")
        done_time = show(packet, "cmpp.deliver.Report.Done_time")
        assert len(submit_time) == len(done_time) == 10 and submit_time <= done_time
        reported.append(msg_id_text(show(packet, "cmpp.Msg_Id", 1)))  # [0]: the DELIVER's own
        assert show(packet, "cmpp.Msg_Id", 0) != show(packet, "cmpp.Msg_Id", 1)
    assert [show(p, "cmpp.deliver.Dest_Id") for p in reports] == [SHORT_CODE] * 2 + [
        REPLY_SOURCE]
    assert sorted(reported) == sorted(returned)
    assert reported[2] == returned[2]
    assert show(mo, "cmpp.deliver.Dest_Id") == SHORT_CODE
    assert show(mo, "cmpp.Msg_Fmt") == "8"
    assert show(mo, "cmpp.TP_udhi") == "0"
    assert raw(mo, "cmpp.Msg_Content").decode("utf-16-be") == MO_TEXT

    # Each DELIVER_RESP echoes its DELIVER's Msg_Id, with Result 0.
    assert [len(p) for p in capture.of(DELIVER_RESP)] == [24] * 4
    deliver_ids = {show(p, "cmpp.Sequence_Id"): show(p, "cmpp.Msg_Id") for p in delivers}
    for packet in packets[DELIVER_RESP]:
        assert show(packet, "cmpp.Msg_Id") == deliver_ids[show(packet, "cmpp.Sequence_Id")]
        assert show(packet, "cmpp.deliver_resp.Result") == "0"

    for command_id, length in ((ACTIVE_TEST, 12), (ACTIVE_TEST_RESP, 13), (TERMINATE, 12),
                               (TERMINATE_RESP, 12), (CONNECT, 39), (CONNECT_RESP, 33)):
        assert {len(p) for p in capture.of(command_id)} == {length}, hex(command_id)


# -- CMPP 2.0: tshark reads the headers and the CONNECT; the rest is checked by hand --------


def _c_string(raw_field: bytes) -> str:
    text, _, padding = raw_field.partition(b"\x00")
    assert padding.strip(b"\x00") == b"", f"non-NUL octets after the padding: {raw_field!r}"
    return text.decode("ascii")


@pytest_twisted.ensureDeferred
async def test_a_cmpp20_session_has_the_20_layouts(tmp_path: Path) -> None:
    require_tshark()
    capture = await run_session(0x20)
    assert_gateway_view(capture)
    dissection = tshark_view(tmp_path, capture)
    # Wireshark's dissector has no notion of the negotiated version and always applies the 3.0
    # body layouts, which mark every 2.0 body other than CONNECT's (the same in both versions)
    # "Malformed".  So it checks only the headers of every PDU and the CONNECT here.
    assert len(dissection.packets) == len(capture.pdus)
    for packet in dissection.packets:
        assert "cmpp" in [p.get("name") for p in packet.iter("proto")]
    assert_sequences(dissection, capture)
    connect = dissection.packets[0]
    assert [p.get("name") for p in connect.iter("proto")][-1] == "cmpp"
    assert not fields(connect, "_ws.expert")
    assert show(connect, "cmpp.connect.Source_Addr") == SP_CODE
    assert show(connect, "cmpp.Version") == "02.00"

    # The 2.0 lengths (docs/wire-formats.md §2.4-2.6).
    for command_id, length in ((CONNECT, 39), (CONNECT_RESP, 30), (SUBMIT_RESP, 21),
                               (DELIVER_RESP, 21), (ACTIVE_TEST, 12), (ACTIVE_TEST_RESP, 13),
                               (TERMINATE, 12), (TERMINATE_RESP, 12)):
        assert {len(p) for p in capture.of(command_id)} == {length}, hex(command_id)
    connect_resp = capture.of(CONNECT_RESP)[0]
    assert connect_resp[12] == 0  # Status, 1 octet in 2.0

    # SUBMIT 2.0 body: 117 fixed octets up to DestUsr_tl, Dest_terminal_Id 21·n, Msg_Length,
    # Msg_Content, Reserve 8; total 12 + 126 + 21·n + Msg_Length.
    texts = []
    for number, pdu in enumerate(capture.of(SUBMIT), start=1):
        body = pdu[12:]
        recipients = body[116]
        msg_length = body[117 + 21 * recipients]
        assert recipients == 1
        assert len(pdu) == 12 + 126 + 21 * recipients + msg_length
        assert _c_string(body[117:138]) == HANDSET
        assert (_c_string(body[12:22]), body[22]) == ("NEWS", 2)  # Service_Id, Fee_UserType
        assert body[47:53] == SP_CODE.encode()  # Msg_src
        assert body[46] == 8  # Msg_Fmt
        content = body[118 + 21 * recipients : 118 + 21 * recipients + msg_length]
        assert body[-8:] == bytes(8)  # Reserve
        if number <= 2:
            assert (body[8], body[9], body[45]) == (2, number, 1)  # Pk_total/number, TP_udhi
            assert content[:6] == bytes((5, 0, 3, REFERENCE, 2, number))
            texts.append(content[6:].decode("utf-16-be"))
        else:
            assert (body[8], body[9], body[45]) == (1, 1, 0)
            assert _c_string(body[95:116]) == REPLY_SOURCE  # Src_Id, all 21 octets
            assert content.decode("utf-16-be") == REPLY
    assert "".join(texts) == DIGEST

    # SUBMIT_RESP: Msg_Id 8 + Result 1; DELIVER: 65 fixed + n + Reserved 8; report 60 octets.
    returned = [r.message_id for r in capture.digest_results + capture.reply_results]
    assert [f"{int.from_bytes(p[12:20], 'big'):016X}" for p in capture.of(SUBMIT_RESP)] == \
        returned
    assert [p[20] for p in capture.of(SUBMIT_RESP)] == [0] * 3
    reported = []
    for pdu in capture.of(DELIVER):
        body = pdu[12:]
        msg_length = body[64]
        assert len(pdu) == 12 + 73 + msg_length
        assert _c_string(body[42:63]) == HANDSET  # Src_terminal_Id, 21 octets
        content = body[65 : 65 + msg_length]
        if body[63] == 1:  # Registered_Delivery: a report
            assert msg_length == 60
            reported.append(f"{int.from_bytes(content[:8], 'big'):016X}")
            assert content[8:15] == b"DELIVRD"
            assert _c_string(content[35:56]) == HANDSET
        else:
            assert body[41] == 8  # Msg_Fmt
            assert content.decode("utf-16-be") == MO_TEXT
    assert sorted(reported) == sorted(returned)
