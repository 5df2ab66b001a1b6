"""SmppLink stops reading while too many inbound messages await storage: no sockets, a fake clock.

The link's protocol is connected to a ``StringTransport``, whose ``producerState`` records
``pauseProducing`` / ``resumeProducing``; the layer above is a list of held Deferreds.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from carriers.link.transport import _LinkProtocol
from carriers.smpp import codec
from carriers.smpp.esme import EsmeSettings
from carriers.smpp.link import SmppLink
from carriers.smpp.pdus import BindTransceiver, BindTransceiverResp, DeliverSm, DeliverSmResp

BOUND = 10


class _NeverConnects:
    """An endpoint for a ClientService that is never started."""

    def connect(self, factory: Any) -> defer.Deferred[Any]:
        return defer.Deferred()


class Harness:
    """One link, its current connection, and the inbound Deferreds handed to the layer above."""

    def __init__(self, bound: int = BOUND) -> None:
        self.clock = Clock()
        self.handed: list[defer.Deferred[None]] = []
        self.link = SmppLink(
            carrier="china_mobile", endpoint=_NeverConnects(),  # type: ignore[arg-type]
            settings=EsmeSettings(system_id="gw", password="pw"), clock=self.clock,
            on_inbound=self._inbound, max_unacknowledged=bound,
        )
        self.sequence = 0
        self.transport = StringTransport()
        self.proto = _LinkProtocol(self.link)

    def _inbound(self, message: object) -> defer.Deferred[None]:
        stored = defer.Deferred[None]()
        self.handed.append(stored)
        return stored

    def connect(self) -> None:
        """A new TCP connection, bound."""
        self.transport = StringTransport()
        self.proto = _LinkProtocol(self.link)
        self.proto.makeConnection(self.transport)
        (bind,) = self.sent()
        assert isinstance(bind, BindTransceiver)
        self.proto.dataReceived(codec.encode(
            BindTransceiverResp(sequence_number=bind.sequence_number, system_id="smsc")))
        assert self.link.session.is_bound

    def disconnect(self) -> None:
        self.proto.connectionLost()

    def receipts(self, count: int) -> bytes:
        """``count`` deliver_sm receipts, back to back, as one read would bring them."""
        frames = []
        for _ in range(count):
            self.sequence += 1
            message_id = f"m{self.sequence:06d}"
            frames.append(codec.encode(DeliverSm(
                sequence_number=self.sequence, source_addr="13800138000",
                destination_addr="10658000", esm_class=0x04,
                short_message=f"id:{message_id} sub:001 dlvrd:001 submit date:2601050700 "
                              f"done date:2601050701 stat:DELIVRD err:000 text:".encode(),
                receipted_message_id=message_id, message_state=2,
            )))
        return b"".join(frames)

    def deliver(self, count: int, *, reads: int = 0) -> None:
        """Feed ``count`` receipts, one read each (or all in one read when ``reads`` is 1)."""
        if reads == 1:
            self.proto.dataReceived(self.receipts(count))
        else:
            for _ in range(count):
                self.proto.dataReceived(self.receipts(1))

    def store(self, count: int) -> None:
        """The layer above commits the oldest ``count`` messages not yet stored."""
        waiting = [d for d in self.handed if not d.called]
        for stored in waiting[:count]:
            stored.callback(None)

    def sent(self) -> list[Any]:
        data = self.transport.value()
        self.transport.clear()
        pdus = []
        while data:
            (length,) = struct.unpack(">I", data[:4])
            pdus.append(codec.decode(data[:length]))
            data = data[length:]
        return pdus

    @property
    def state(self) -> str:
        return self.transport.producerState


def test_pauses_above_the_bound_and_resumes_at_half() -> None:
    h = Harness()
    h.connect()
    h.deliver(BOUND)
    assert (h.link.unacknowledged, h.state) == (BOUND, "producing")
    h.deliver(1)
    assert (h.link.unacknowledged, h.state, h.link.paused_reading) == (BOUND + 1, "paused", 1)
    assert h.sent() == []  # nothing is acknowledged before it is stored

    h.store(BOUND + 1 - BOUND // 2 - 1)
    assert (h.link.unacknowledged, h.state) == (BOUND // 2 + 1, "paused")
    h.store(1)
    assert (h.link.unacknowledged, h.state) == (BOUND // 2, "producing")
    acks = h.sent()
    assert len(acks) == BOUND + 1 - BOUND // 2
    assert all(isinstance(ack, DeliverSmResp) and ack.command_status == 0 for ack in acks)

    h.store(BOUND)
    assert (h.link.unacknowledged, h.state, h.link.paused_reading) == (0, "producing", 1)


def test_one_read_past_the_bound_is_all_handed_up_and_pauses_once() -> None:
    h = Harness()
    h.connect()
    h.deliver(3 * BOUND, reads=1)
    assert len(h.handed) == 3 * BOUND  # soft bound: the whole read goes up
    assert (h.link.unacknowledged, h.state, h.link.paused_reading) == (3 * BOUND, "paused", 1)
    h.store(3 * BOUND)
    assert (h.link.unacknowledged, h.state) == (0, "producing")


def test_refused_messages_count_as_answered() -> None:
    h = Harness()
    h.connect()
    h.deliver(BOUND + 1)
    assert h.state == "paused"
    for stored in h.handed:
        stored.errback(RuntimeError("database down"))
    assert (h.link.unacknowledged, h.state) == (0, "producing")
    assert {ack.command_status for ack in h.sent()} == {0x64}  # ESME_RX_T_APPN: try later


def test_messages_stored_at_once_never_pause() -> None:
    h = Harness()
    h.link._on_inbound = lambda message: defer.succeed(None)
    h.connect()
    h.deliver(5 * BOUND, reads=1)
    assert (h.link.unacknowledged, h.state, h.link.paused_reading) == (0, "producing", 0)


def test_a_new_connection_starts_reading_and_late_acks_do_not_touch_its_count() -> None:
    h = Harness()
    h.connect()
    h.deliver(BOUND + 1)
    assert h.state == "paused"
    old = list(h.handed)
    h.disconnect()
    assert (h.link.unacknowledged, h.link.reading_paused) == (0, False)

    h.connect()
    assert (h.link.unacknowledged, h.state) == (0, "producing")
    h.deliver(3)
    for stored in old:  # stored after the connection they came on was lost
        stored.callback(None)
    assert h.link.unacknowledged == 3
    assert h.sent() == []  # no acks on the new connection for the old one's messages

    h.deliver(BOUND - 2)
    assert (h.link.unacknowledged, h.state, h.link.paused_reading) == (BOUND + 1, "paused", 2)
    h.store(BOUND + 1)
    assert (h.link.unacknowledged, h.state) == (0, "producing")


def test_the_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_unacknowledged"):
        Harness(bound=0)


def test_bulk_submits_wait_above_half_the_bound_and_replies_do_not() -> None:
    from carriers.messages import Lane, MessagePart, OutboundMessage, TextCoding
    from carriers.smpp.pdus import SubmitSm

    def message(destination: str, lane: Lane) -> OutboundMessage:
        return OutboundMessage(source="10658000", destination=destination, lane=lane,
                               parts=(MessagePart(payload=b"hi", coding=TextCoding.GSM7),))

    h = Harness()
    h.connect()
    h.deliver(BOUND // 2 + 1)  # above half the bound: still reading, bulk held
    assert h.state == "producing"
    h.link.submit(message("13800000001", Lane.BULK))
    h.link.submit(message("13800000002", Lane.INTERACTIVE))
    written = [pdu.destination_addr for pdu in h.sent() if isinstance(pdu, SubmitSm)]
    assert written == ["13800000002"]  # the reply goes; the digest waits for the database

    h.store(BOUND // 2 + 1 - BOUND // 4 - 1)
    assert [pdu for pdu in h.sent() if isinstance(pdu, SubmitSm)] == []
    h.store(1)  # down to a quarter: bulk goes again
    written = [pdu.destination_addr for pdu in h.sent() if isinstance(pdu, SubmitSm)]
    assert written == ["13800000001"]
