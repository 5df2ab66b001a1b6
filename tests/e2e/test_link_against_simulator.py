"""The gateway's SMPP link against the simulated SMSC over loopback TCP."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task
from twisted.internet.endpoints import TCP4ClientEndpoint

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
from carriers.simulator.smsc_service import SimulatedSmsc, SimulatorSettings
from carriers.smpp.esme import EsmeSettings
from carriers.smpp.link import ReconnectPolicy, SmppLink


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``condition`` on the reactor until it holds (bounded; never a bare sleep)."""
    waited = 0.0
    while not condition():
        if waited >= timeout:
            raise AssertionError("condition not met in time")
        await task.deferLater(reactor, 0.02, lambda: None)
        waited += 0.02


class Inbox:
    """The layer above the link: records what arrives; can be told to fail."""

    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []
        self.receipts: list[DeliveryReceipt] = []
        self.fail_next = 0

    def __call__(self, message: InboundMessage | DeliveryReceipt) -> defer.Deferred[Any]:
        if self.fail_next:
            self.fail_next -= 1
            return defer.fail(RuntimeError("database is down"))
        if isinstance(message, DeliveryReceipt):
            self.receipts.append(message)
        else:
            self.messages.append(message)
        return defer.succeed(None)


def start_simulator(**settings: Any) -> SimulatedSmsc:
    options: dict[str, Any] = {
        "carrier": "china_mobile",
        "accounts": {"gw": "secret"},
        "receipt_delay": 0.05,
    }
    options.update(settings)
    simulator = SimulatedSmsc(SimulatorSettings(**options), reactor=reactor, clock=reactor,
                              rng=random.Random(7))
    simulator.startService()
    return simulator


def start_link(port: int, inbox: Inbox, password: str = "secret", **settings: Any) -> SmppLink:
    link = SmppLink(
        carrier="china_mobile",
        endpoint=TCP4ClientEndpoint(reactor, "127.0.0.1", port),
        settings=EsmeSettings(system_id="gw", password=password, **settings),
        clock=reactor,
        on_inbound=inbox,
        reconnect=ReconnectPolicy(initial_delay=0.05, max_delay=0.2),
        rng=random.Random(1),
    )
    link.startService()
    return link


def sms(text: str, destination: str = "13800138000") -> OutboundMessage:
    return OutboundMessage(
        source="10658000",
        destination=destination,
        parts=(MessagePart(payload=text.encode("utf-16-be"), coding=TextCoding.UCS2),),
        lane=Lane.INTERACTIVE,
    )


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest_twisted.ensureDeferred
async def test_submit_gets_id_and_receipt(inbox: Inbox) -> None:
    simulator = start_simulator()
    link = start_link(simulator.port, inbox)
    try:
        await link.when_bound()
        results = await link.submit(sms("您好，手机报"))
        assert results[0].outcome is SubmitOutcome.ACCEPTED
        await wait_for(lambda: len(inbox.receipts) == 1)
        receipt = inbox.receipts[0]
        assert receipt.message_id == results[0].message_id
        assert receipt.state is ReceiptState.DELIVERED
        assert simulator.received[-1].text == "您好，手机报"
    finally:
        await link.stopService()
        await simulator.stopService()


@pytest_twisted.ensureDeferred
async def test_mo_is_acknowledged_after_the_handler_stores_it(inbox: Inbox) -> None:
    simulator = start_simulator()
    link = start_link(simulator.port, inbox)
    try:
        await link.when_bound()
        inbox.fail_next = 1  # the first attempt to store fails: the SMSC must re-deliver
        simulator.inject_mo("13800138000", "10658000123", "ＳＤ")
        await wait_for(lambda: len(inbox.messages) == 1, timeout=6.0)
        message = inbox.messages[0]
        assert (message.source, message.destination, message.text) == (
            "13800138000", "10658000123", "ＳＤ")
        assert simulator.counters["redeliveries"] == 1
    finally:
        await link.stopService()
        await simulator.stopService()


@pytest_twisted.ensureDeferred
async def test_link_reconnects_after_the_connection_drops(inbox: Inbox) -> None:
    simulator = start_simulator()
    link = start_link(simulator.port, inbox)
    try:
        await link.when_bound()
        assert simulator.drop_connections() == 1
        await wait_for(lambda: link.binds == 2)
        results = await link.submit(sms("after reconnect"))
        assert results[0].outcome is SubmitOutcome.ACCEPTED
    finally:
        await link.stopService()
        await simulator.stopService()


@pytest_twisted.ensureDeferred
async def test_messages_queued_while_down_go_out_after_reconnect(inbox: Inbox) -> None:
    simulator = start_simulator()
    port = simulator.port
    link = start_link(port, inbox)
    try:
        await link.when_bound()
        await simulator.stopService()  # the SMSC goes away entirely
        await wait_for(lambda: not link.session.is_bound)
        pending = link.submit(sms("queued while down"))
        # The SMSC comes back on the same port; the link keeps retrying that address.
        simulator = SimulatedSmsc(
            SimulatorSettings(carrier="china_mobile", accounts={"gw": "secret"}),
            reactor=reactor, clock=reactor, port=port)
        simulator.startService()
        results = await pending
        assert results[0].outcome is SubmitOutcome.ACCEPTED
    finally:
        await link.stopService()
        await simulator.stopService()


@pytest_twisted.ensureDeferred
async def test_wrong_password_is_refused_and_retried(inbox: Inbox) -> None:
    simulator = start_simulator()
    link = start_link(simulator.port, inbox, password="wrong")
    try:
        await wait_for(lambda: simulator.counters["bind_failures"] >= 2)
        assert not link.session.is_bound
    finally:
        await link.stopService()
        await simulator.stopService()


@pytest_twisted.ensureDeferred
async def test_garbage_from_smsc_does_not_kill_the_link(inbox: Inbox) -> None:
    simulator = start_simulator()
    link = start_link(simulator.port, inbox)
    try:
        await link.when_bound()
        # A well-framed PDU with an unknown command id: nacked, link stays up.
        simulator.send_garbage(bytes.fromhex("00000010000000990000000000000042"))
        results = await link.submit(sms("still alive"))
        assert results[0].outcome is SubmitOutcome.ACCEPTED
        assert link.binds == 1
    finally:
        await link.stopService()
        await simulator.stopService()


@pytest_twisted.ensureDeferred
async def test_lost_framing_reconnects(inbox: Inbox) -> None:
    simulator = start_simulator()
    link = start_link(simulator.port, inbox)
    try:
        await link.when_bound()
        simulator.send_garbage(b"\xff\xff\xff\xff garbage")  # absurd length: framing lost
        await wait_for(lambda: link.binds == 2)
        results = await link.submit(sms("after resync"))
        assert results[0].outcome is SubmitOutcome.ACCEPTED
    finally:
        await link.stopService()
        await simulator.stopService()


@pytest_twisted.ensureDeferred
async def test_throttling_smsc_gets_everything_eventually(inbox: Inbox) -> None:
    from carriers.smpp.smsc import SmscSettings

    simulator = start_simulator(smsc=SmscSettings(tps=20))
    link = start_link(simulator.port, inbox, tps=0, throttle_backoff=0.1)
    try:
        await link.when_bound()
        results = await defer.gatherResults([link.submit(sms(f"m{i}")) for i in range(40)])
        assert all(r[0].outcome is SubmitOutcome.ACCEPTED for r in results)
        assert simulator.counters["refused"] > 0
        assert link.throttled > 0
    finally:
        await link.stopService()
        await simulator.stopService()


@pytest_twisted.ensureDeferred
async def test_stop_unbinds_gracefully(inbox: Inbox) -> None:
    simulator = start_simulator()
    link = start_link(simulator.port, inbox)
    try:
        await link.when_bound()
        simulator.faults.response_delay = 0.3
        pending = link.submit(sms("in flight at shutdown"))
        await task.deferLater(reactor, 0.05, lambda: None)
        await link.stopService()
        results = await pending
        assert results[0].outcome is SubmitOutcome.ACCEPTED  # waited for the response
        assert simulator.bound_clients == 0
    finally:
        await simulator.stopService()
