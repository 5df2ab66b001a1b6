"""The SGIP listener service on a fake clock: StringTransport connections, no sockets.

The test plays the SMG: it binds, sends DELIVERs and REPORTs, and reads what the service wrote
back; the layer above is a handler whose Deferreds the test fires.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from carriers.framing import LengthPrefixedFramer
from carriers.messages import DeliveryReceipt, InboundMessage
from carriers.sgip import codec
from carriers.sgip.client import SgipClientSettings
from carriers.sgip.link import SgipListenerService
from carriers.sgip.listener import SgipListenerSettings
from carriers.sgip.pdus import (
    Bind,
    BindResp,
    Deliver,
    DeliverResp,
    Pdu,
    Report,
    ReportResp,
    Result,
    Unbind,
    UnbindResp,
)
from carriers.sgip.sequence import SequenceNumber
from carriers.sgip.translate import SgipTranslator

SMG_NODE = 175501
SP_NODE = 3755012345


class FakePort:
    def getHost(self) -> IPv4Address:
        return IPv4Address("TCP", "127.0.0.1", 8802)

    def stopListening(self) -> None:
        return None


class FakeEndpoint:
    def __init__(self) -> None:
        self.factory: Any = None

    def listen(self, factory: Any) -> defer.Deferred[FakePort]:
        self.factory = factory
        return defer.succeed(FakePort())


class Handler:
    """The layer above: every call gets a Deferred the test fires."""

    def __init__(self) -> None:
        self.calls: list[tuple[InboundMessage | DeliveryReceipt, defer.Deferred[None]]] = []

    def __call__(self, message: InboundMessage | DeliveryReceipt) -> defer.Deferred[None]:
        stored: defer.Deferred[None] = defer.Deferred()
        self.calls.append((message, stored))
        return stored


class Smg:
    """One SMG connection to the service."""

    def __init__(self, endpoint: FakeEndpoint) -> None:
        self.protocol = endpoint.factory.buildProtocol(None)
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)
        self._framer = LengthPrefixedFramer(min_length=20, max_length=codec.MAX_PDU_LENGTH)
        self._counter = 0

    def send(self, pdu: Pdu) -> SequenceNumber:
        self._counter += 1
        sequence = SequenceNumber(SMG_NODE, 1202141030, self._counter)
        self.protocol.dataReceived(codec.encode(_with_sequence(pdu, sequence)))
        return sequence

    def received(self) -> list[Pdu]:
        data = self.transport.value()
        self.transport.clear()
        return [codec.decode(frame) for frame in self._framer.feed(data)]

    def bind(self, password: str = "back") -> list[Pdu]:
        self.send(Bind(sequence=SequenceNumber(0, 0, 0), login_type=2, login_name="UNICOM",
                       login_password=password))
        return self.received()


def _with_sequence(pdu: Pdu, sequence: SequenceNumber) -> Pdu:
    return replace(pdu, sequence=sequence)


def mo(text: str = "TD", coding: int = 0) -> Deliver:
    return Deliver(sequence=SequenceNumber(0, 0, 0), user_number="8613800138000",
                   sp_number="10655012", message_coding=coding, message_content=text.encode())


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def handler() -> Handler:
    return Handler()


def start(clock: Clock, handler: Handler, **options: Any) -> tuple[SgipListenerService,
                                                                     FakeEndpoint]:
    endpoint = FakeEndpoint()
    settings = SgipClientSettings(login_name="SP0001", login_password="pw", node_id=SP_NODE)
    service = SgipListenerService(
        carrier="china_unicom", endpoint=endpoint,  # type: ignore[arg-type]
        settings=SgipListenerSettings(login_name="UNICOM", login_password="back",
                                      node_id=SP_NODE, bind_timeout=5.0, unbind_timeout=2.0),
        translator=SgipTranslator(settings), clock=clock, on_inbound=handler, **options)
    service.startService()
    return service, endpoint


def test_listens_and_reports_its_port(clock: Clock, handler: Handler) -> None:
    service, _ = start(clock, handler)
    assert service.port == 8802
    assert service.listening().called


def test_bind_then_a_deliver_answered_only_once_stored(clock: Clock, handler: Handler) -> None:
    service, endpoint = start(clock, handler)
    smg = Smg(endpoint)
    [answer] = smg.bind()
    assert isinstance(answer, BindResp) and answer.result == 0
    assert service.binds == 1
    sequence = smg.send(mo("TD"))
    [(message, stored)] = handler.calls
    assert isinstance(message, InboundMessage) and message.text == "TD"
    assert message.carrier == "china_unicom"
    assert smg.received() == []
    assert service.unacknowledged == 1
    stored.callback(None)
    assert smg.received() == [DeliverResp(sequence=sequence, result=0)]
    assert service.unacknowledged == 0 and service.received == 1


def test_a_failed_store_is_node_busy(clock: Clock, handler: Handler) -> None:
    _service, endpoint = start(clock, handler)
    smg = Smg(endpoint)
    smg.bind()
    report = Report(sequence=SequenceNumber(0, 0, 0),
                    submit_sequence=SequenceNumber(SP_NODE, 1202141030, 7),
                    user_number="8613800138000")
    sequence = smg.send(report)
    [(receipt, stored)] = handler.calls
    assert isinstance(receipt, DeliveryReceipt)
    assert receipt.message_id == "3755012345-1202141030-0000000007"
    stored.errback(RuntimeError("database is down"))
    assert smg.received() == [ReportResp(sequence=sequence, result=Result.NODE_BUSY)]


def test_an_unreadable_mo_is_refused_without_the_handler(clock: Clock, handler: Handler) -> None:
    _service, endpoint = start(clock, handler)
    smg = Smg(endpoint)
    smg.bind()
    sequence = smg.send(mo("\x00\x01", coding=4))  # binary: not text
    assert handler.calls == []
    assert smg.received() == [DeliverResp(sequence=sequence,
                                          result=Result.BAD_PARAMETER_FORMAT)]


def test_a_wrong_password_is_refused_and_closed(clock: Clock, handler: Handler) -> None:
    service, endpoint = start(clock, handler)
    smg = Smg(endpoint)
    [answer] = smg.bind(password="nope")
    assert answer.result == Result.ILLEGAL_LOGIN
    assert smg.transport.disconnecting
    assert service.binds == 0


def test_an_smg_that_never_binds_is_dropped(clock: Clock, handler: Handler) -> None:
    _service, endpoint = start(clock, handler)
    smg = Smg(endpoint)
    clock.advance(4.9)
    assert not smg.transport.disconnecting
    clock.advance(0.1)
    assert smg.transport.disconnecting


def test_reading_pauses_above_the_bound_and_resumes_at_half(clock: Clock,
                                                            handler: Handler) -> None:
    service, endpoint = start(clock, handler, max_unacknowledged=2)
    smg = Smg(endpoint)
    smg.bind()
    for n in range(3):
        smg.send(mo(f"m{n}"))
    assert smg.transport.producerState == "paused"
    assert service.reading_paused and service.paused_reading == 1
    handler.calls[0][1].callback(None)
    assert smg.transport.producerState == "paused"  # 2 left, above half of 2
    handler.calls[1][1].callback(None)
    assert smg.transport.producerState == "producing"
    assert not service.reading_paused
    assert len([p for p in smg.received() if isinstance(p, DeliverResp)]) == 2


def test_stop_unbinds_the_smg_and_closes_on_its_answer(clock: Clock, handler: Handler) -> None:
    service, endpoint = start(clock, handler)
    smg = Smg(endpoint)
    smg.bind()
    stopped = service.stopService()
    [unbind] = smg.received()
    assert isinstance(unbind, Unbind) and unbind.sequence.node_id == SP_NODE
    smg.protocol.dataReceived(codec.encode(UnbindResp(sequence=unbind.sequence)))
    assert smg.transport.disconnecting
    smg.protocol.connectionLost(None)
    assert stopped.called


def test_stop_gives_up_on_a_silent_smg_after_the_unbind_timeout(clock: Clock,
                                                                handler: Handler) -> None:
    service, endpoint = start(clock, handler)
    smg = Smg(endpoint)
    smg.bind()
    stopped = service.stopService()
    assert not stopped.called
    clock.advance(2.0)
    assert stopped.called


def test_max_unacknowledged_is_checked(clock: Clock, handler: Handler) -> None:
    with pytest.raises(ValueError):
        start(clock, handler, max_unacknowledged=0)
