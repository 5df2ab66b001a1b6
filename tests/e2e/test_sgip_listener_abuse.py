"""The SGIP listener under abuse, over loopback TCP: a bind flood, garbage, a foreign address.

The real simulated SMG (:class:`SimulatedSgipSmg`) stays connected and bound to the
gateway's :class:`SgipListenerService` throughout, and the SP's :class:`SgipLink` submits to
it, so its MOs (DELIVER) and reports (REPORT) come back on that connection.  Beside it, raw
sockets open connections of their own to the listener and misbehave: wrong credentials,
silence, half a PDU, random bytes, an absurd Message Length, an unknown Command ID, a
truncated DELIVER.  Each of them must be answered as SGIP allows or closed (and logged), and
the real SMG's traffic must keep flowing, with no leftover connection afterwards.
"""

from __future__ import annotations

import logging
import random
import struct
from collections.abc import Callable
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer, protocol, reactor, task
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint, connectProtocol
from twisted.python.failure import Failure

from carriers.framing import LengthPrefixedFramer
from carriers.messages import (
    DeliveryReceipt,
    InboundMessage,
    Lane,
    MessagePart,
    OutboundMessage,
    ReceiptState,
    SubmitOutcome,
    TextCoding,
)
from carriers.sgip import codec
from carriers.sgip.client import SgipClientSettings
from carriers.sgip.link import ReconnectPolicy, SgipLink, SgipListenerService
from carriers.sgip.listener import SgipListenerSettings
from carriers.sgip.pdus import Bind, BindResp, CommandId, DeliverResp, LoginType, Pdu, Result
from carriers.sgip.sequence import SequenceNumber
from carriers.sgip.simulator_dialect import SimulatedSgipSmg
from carriers.sgip.translate import SgipTranslator
from carriers.simulator.carrier_service import SimulatorSettings

SP_LOGIN = "SP0001"
SP_PASSWORD = "submit-pw"
SMG_LOGIN = "UNICOM"
SMG_PASSWORD = "back-pw"
SP_NODE = 3755012345
ABUSER_NODE = 199999
BIND_TIMEOUT = 1.0
FAST = ReconnectPolicy(initial_delay=0.05, max_delay=0.2)
LISTENER_LOG = "carriers.sgip.link"


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``condition`` on the reactor until it holds (bounded; never a bare sleep)."""
    waited = 0.0
    while not condition():
        if waited >= timeout:
            raise AssertionError("condition not met in time")
        await task.deferLater(reactor, 0.02, lambda: None)
        waited += 0.02


class Inbox:
    """The layer above: records what arrives and stores it at once."""

    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []
        self.receipts: list[DeliveryReceipt] = []

    def __call__(self, message: InboundMessage | DeliveryReceipt) -> defer.Deferred[Any]:
        if isinstance(message, DeliveryReceipt):
            self.receipts.append(message)
        else:
            self.messages.append(message)
        return defer.succeed(None)


class Setup:
    """Listener (short bind_timeout) + simulated SMG connected back to it + the SP's link."""

    def __init__(self, inbox: Inbox, *, allowed: frozenset[str] = frozenset(),
                 with_smg: bool = True, backlog: int = 50) -> None:
        settings = SgipClientSettings(login_name=SP_LOGIN, login_password=SP_PASSWORD,
                                      node_id=SP_NODE, corp_id="12345", service_type="MNEWS")
        self.listener = SgipListenerService(
            carrier="china_unicom",
            endpoint=TCP4ServerEndpoint(reactor, 0, backlog=backlog, interface="127.0.0.1"),
            settings=SgipListenerSettings(login_name=SMG_LOGIN, login_password=SMG_PASSWORD,
                                          node_id=SP_NODE, bind_timeout=BIND_TIMEOUT),
            translator=SgipTranslator(settings), clock=reactor, on_inbound=inbox,
            allowed_addresses=allowed)
        self.listener.startService()
        self.smg: SimulatedSgipSmg | None = None
        self.link: SgipLink | None = None
        if not with_smg:
            return
        self.smg = SimulatedSgipSmg(
            SimulatorSettings(carrier="china_unicom", accounts={SP_LOGIN: SP_PASSWORD},
                              receipt_delay=0.05, receipt_mix={"DELIVRD": 1.0}),
            reactor=reactor, clock=reactor,
            callback_endpoint=TCP4ClientEndpoint(reactor, "127.0.0.1", self.listener.port),
            callback_login=SMG_LOGIN, callback_password=SMG_PASSWORD, reconnect=FAST,
            rng=random.Random(5))
        self.smg.startService()
        self.link = SgipLink(
            carrier="china_unicom",
            endpoint=TCP4ClientEndpoint(reactor, "127.0.0.1", self.smg.port),
            settings=settings, clock=reactor, on_inbound=inbox, reconnect=FAST,
            rng=random.Random(1))
        self.link.startService()

    async def all_bound(self) -> None:
        assert self.link is not None and self.smg is not None
        await self.link.when_bound()
        await wait_for(lambda: self.listener.binds == 1 and self.smg is not None
                       and self.smg.bound_clients == 1)
        assert self.listener.connections == 1

    async def stop(self) -> None:
        if self.link is not None:
            await self.link.stopService()
        if self.smg is not None:
            await self.smg.stopService()
        await self.listener.stopService()


class RawPeer(protocol.Protocol):
    """A client socket that writes ``payload`` on connecting and records what comes back."""

    def __init__(self, payload: bytes = b"") -> None:
        self.payload = payload
        self.data = bytearray()
        self.made_at: float | None = None
        self.lost_at: float | None = None
        self.closed: defer.Deferred[None] = defer.Deferred()

    def connectionMade(self) -> None:
        self.made_at = reactor.seconds()
        if self.payload:
            self.transport.write(self.payload)

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.lost_at = reactor.seconds()
        self.closed.callback(None)

    @property
    def is_closed(self) -> bool:
        return self.lost_at is not None

    def send(self, data: bytes) -> None:
        self.transport.write(data)

    def answers(self) -> list[Pdu]:
        framer = LengthPrefixedFramer(min_length=20, max_length=codec.MAX_PDU_LENGTH)
        return [codec.decode(frame) for frame in framer.feed(bytes(self.data))]


def connect(port: int, payload: bytes = b"") -> tuple[RawPeer, defer.Deferred[Any]]:
    peer = RawPeer(payload)
    return peer, connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), peer)


def sequence(counter: int) -> SequenceNumber:
    return SequenceNumber(ABUSER_NODE, 1202120000, counter)


def bind(counter: int, *, name: str = SMG_LOGIN, password: str = SMG_PASSWORD) -> bytes:
    return codec.encode(Bind(sequence=sequence(counter), login_type=LoginType.SMG_TO_SP,
                             login_name=name, login_password=password))


def header(length: int, command_id: int, counter: int) -> bytes:
    return struct.pack(">II", length, command_id) + sequence(counter).packed()


def truncated_deliver(counter: int) -> bytes:
    """A DELIVER whose Message Length matches its bytes but whose body stops after 30 of
    its 65 fixed octets."""
    return header(20 + 30, CommandId.DELIVER, counter) + b"8613800138000".ljust(30, b"\0")


def unknown_command(counter: int) -> bytes:
    return header(20 + 4, 0x00000099, counter) + b"\xde\xad\xbe\xef"


def absurd_length(counter: int) -> bytes:
    return header(0xFFFFFFF0, CommandId.DELIVER, counter) + bytes(40)


def sms(text: str) -> OutboundMessage:
    return OutboundMessage(
        source="10655012", destination="+8613800138000",
        parts=(MessagePart(payload=text.encode("utf-16-be"), coding=TextCoding.UCS2),),
        lane=Lane.INTERACTIVE)


def logged(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(1 for r in caplog.records if r.name == LISTENER_LOG and text in r.getMessage())


async def mo_and_report_flow(setup: Setup, inbox: Inbox, text: str) -> None:
    """An MO injected at the SMG and the REPORT of a fresh submit both reach the layer
    above over the real SMG's connection, and both are answered."""
    assert setup.smg is not None and setup.link is not None
    messages, receipts = len(inbox.messages), len(inbox.receipts)
    setup.smg.inject_mo("8613800138000", "10655012", text)
    [result] = await setup.link.submit(sms(text))
    assert result.outcome is SubmitOutcome.ACCEPTED
    await wait_for(lambda: len(inbox.messages) == messages + 1
                   and len(inbox.receipts) == receipts + 1)
    assert inbox.messages[-1].text == text
    assert inbox.receipts[-1].message_id == result.message_id
    assert inbox.receipts[-1].state is ReceiptState.DELIVERED
    await wait_for(lambda: setup.listener.unacknowledged == 0
                   and not setup.smg._waiting)  # type: ignore[union-attr]
    assert setup.smg.counters["redeliveries"] == 0


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest_twisted.ensureDeferred
async def test_a_bind_flood_is_refused_or_timed_out_while_the_real_smg_keeps_delivering(
    inbox: Inbox, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LISTENER_LOG)
    # A listen backlog that holds the whole burst: with Twisted's default of 50 (what
    # build_sgip_link gets) the kernel's accept queue overflows, the rest of the burst waits
    # for SYN retries (1 s and more) and silent ones can stay in the kernel's queue, never
    # reaching the listener; this test is about what the listener does with them.
    setup = Setup(inbox, backlog=256)
    try:
        await setup.all_bound()
        # 200 connections at once: a third bind with wrong credentials, a third say
        # nothing, a third send half a BIND and stop.
        wrong, silent, half = [], [], []
        connecting = []
        for i in range(200):
            if i % 3 == 0:
                payload = (bind(i, password=f"guess{i}") if i % 2 else
                           bind(i, name=f"SMG{i}"))
                group = wrong
            elif i % 3 == 1:
                payload, group = b"", silent
            else:
                payload, group = bind(i)[:30], half
            peer, connected = connect(setup.listener.port, payload)
            group.append(peer)
            connecting.append(connected)
        flood = wrong + silent + half

        # While the flood is coming in, an MO from the real SMG gets through and is answered.
        setup.smg.inject_mo("8613800138000", "10655012", "during the flood")  # type: ignore[union-attr]
        await wait_for(lambda: len(inbox.messages) == 1)
        assert inbox.messages[0].text == "during the flood"
        await wait_for(lambda: setup.listener.unacknowledged == 0)
        assert not any(peer.is_closed for peer in silent + half)  # none has timed out yet
        assert setup.listener.connections > 1  # the flood is being held meanwhile

        await defer.gatherResults(connecting)
        await wait_for(lambda: all(peer.is_closed for peer in flood), timeout=BIND_TIMEOUT + 4)

        for peer in wrong:  # refused with Result 1, then closed
            [answer] = peer.answers()
            assert isinstance(answer, BindResp)
            assert answer.result == Result.ILLEGAL_LOGIN
        assert wrong[0].answers() == [BindResp(sequence=sequence(0), result=1)]
        for peer in silent + half:  # nothing said back; dropped by the bind timeout
            assert peer.data == b""
            assert peer.made_at is not None and peer.lost_at is not None
            assert peer.lost_at - peer.made_at >= BIND_TIMEOUT * 0.9

        await wait_for(lambda: setup.listener.connections == 1)
        assert setup.listener.binds == 1
        assert setup.smg.bound_clients == 1  # type: ignore[union-attr]
        assert setup.link.is_bound  # type: ignore[union-attr]
        assert logged(caplog, "refused a BIND") == len(wrong)
        assert logged(caplog, "did not bind within") == len(silent) + len(half)
        await mo_and_report_flow(setup, inbox, "after the flood")
        assert setup.listener.connections == 1
    finally:
        await setup.stop()


@pytest_twisted.ensureDeferred
async def test_garbage_is_closed_or_answered_while_mos_and_reports_keep_flowing(
    inbox: Inbox, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LISTENER_LOG)
    setup = Setup(inbox)
    try:
        await setup.all_bound()
        port = setup.listener.port
        noise = random.Random(7).randbytes(300)
        assert int.from_bytes(noise[:4], "big") > codec.MAX_PDU_LENGTH  # unframeable
        random_bytes, _ = connect(port, noise)
        too_long, _ = connect(port, absurd_length(1))
        unknown, _ = connect(port, unknown_command(2))
        truncated, _ = connect(port, truncated_deliver(3))
        # and one that binds properly first, then misbehaves
        bound, _ = connect(port, bind(4))
        unbound = [random_bytes, too_long, unknown, truncated]

        # Before a BIND nothing is taken: each connection is closed at once (well before
        # the bind timeout) and none is answered, except that the channel answers an
        # undecodable DELIVER with the codec's Result (8, bad message length) on the way out
        # (as the simulated SMG answers an unreadable BIND).  The listener's docstring says
        # "closed without an answer"; either is accepted here, nothing else is.
        await wait_for(lambda: all(peer.is_closed for peer in unbound), timeout=3.0)
        for peer in unbound:
            assert peer.lost_at is not None and peer.made_at is not None
            assert peer.lost_at - peer.made_at < BIND_TIMEOUT * 0.9
        assert random_bytes.data == too_long.data == unknown.data == b""
        assert truncated.answers() in ([], [DeliverResp(sequence=sequence(3), result=8)])
        assert logged(caplog, "closing connection: declared frame length") == 2
        assert logged(caplog, "Command ID 0x00000099 is unknown") == 1
        assert logged(caplog, "DELIVER of 50 octets is shorter") == 1

        # After a valid BIND: an unknown Command ID is logged and ignored (SGIP has no
        # answer for it), a truncated DELIVER is answered 8 at once, and a frame that
        # cannot be framed closes the connection.
        await wait_for(lambda: bound.answers() == [BindResp(sequence=sequence(4), result=0)])
        assert setup.listener.binds == 2
        bound.send(unknown_command(5))
        bound.send(truncated_deliver(6))
        await wait_for(lambda: len(bound.answers()) == 2)
        assert bound.answers()[1] == DeliverResp(sequence=sequence(6), result=8)
        assert not bound.is_closed
        assert logged(caplog, "Command ID 0x00000099 is unknown") == 2
        await mo_and_report_flow(setup, inbox, "between the garbage")
        bound.send(noise)
        await wait_for(lambda: bound.is_closed)
        assert len(bound.answers()) == 2
        assert logged(caplog, "closing connection: declared frame length") == 3

        await wait_for(lambda: setup.listener.connections == 1)
        assert setup.smg.bound_clients == 1  # type: ignore[union-attr]
        assert [m.text for m in inbox.messages] == ["between the garbage"]  # none from garbage
        assert len(inbox.receipts) == 1
        await mo_and_report_flow(setup, inbox, "after the garbage")
        assert setup.listener.connections == 1
    finally:
        await setup.stop()


@pytest_twisted.ensureDeferred
async def test_a_connection_from_an_address_not_allowed_is_closed_at_once(
    inbox: Inbox, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LISTENER_LOG)
    setup = Setup(inbox, allowed=frozenset({"10.9.9.9"}), with_smg=False)
    try:
        await setup.listener.listening()
        peer, connected = connect(setup.listener.port, bind(1))
        await connected
        await wait_for(lambda: peer.is_closed, timeout=2.0)
        assert peer.data == b""  # not even a BIND_RESP
        assert peer.lost_at is not None and peer.made_at is not None
        assert peer.lost_at - peer.made_at < 0.5
        assert setup.listener.connections == 0
        assert setup.listener.binds == 0
        assert logged(caplog, "refused a connection from 127.0.0.1") == 1
    finally:
        await setup.stop()
