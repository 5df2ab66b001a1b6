"""SGIP through the shared simulated carrier over loopback TCP.

:class:`SimulatedSgipSmg` is the shared ``SimulatedCarrier`` (receipt mix, store and forward,
counters) with SGIP's second connection: it connects back to the gateway's listener and
delivers MOs and REPORTs there.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint

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
from carriers.sgip.client import SgipClientSettings
from carriers.sgip.link import ReconnectPolicy, SgipLink, SgipListenerService
from carriers.sgip.listener import SgipListenerSettings
from carriers.sgip.simulator_dialect import SimulatedSgipSmg
from carriers.sgip.translate import SgipTranslator
from carriers.simulator.carrier_service import ReceiptWanted, SimulatorSettings

SP_LOGIN = "SP0001"
SP_PASSWORD = "submit-pw"
SMG_LOGIN = "UNICOM"
SMG_PASSWORD = "back-pw"
SP_NODE = 3755012345
FAST = ReconnectPolicy(initial_delay=0.05, max_delay=0.2)


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    waited = 0.0
    while not condition():
        if waited >= timeout:
            raise AssertionError("condition not met in time")
        await task.deferLater(reactor, 0.02, lambda: None)
        waited += 0.02


class Inbox:
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


class Setup:
    def __init__(self, inbox: Inbox, *, receipt_mix: dict[str, float] | None = None,
                 smg_password: str = SMG_PASSWORD) -> None:
        settings = SgipClientSettings(login_name=SP_LOGIN, login_password=SP_PASSWORD,
                                      node_id=SP_NODE)
        self.listener = SgipListenerService(
            carrier="china_unicom",
            endpoint=TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1"),
            settings=SgipListenerSettings(login_name=SMG_LOGIN, login_password=SMG_PASSWORD,
                                          node_id=SP_NODE),
            translator=SgipTranslator(settings), clock=reactor, on_inbound=inbox)
        self.listener.startService()
        self.smg = SimulatedSgipSmg(
            SimulatorSettings(carrier="china_unicom", accounts={SP_LOGIN: SP_PASSWORD},
                              receipt_delay=0.05,
                              receipt_mix=receipt_mix or {"DELIVRD": 1.0}),
            reactor=reactor, clock=reactor,
            callback_endpoint=TCP4ClientEndpoint(reactor, "127.0.0.1", self.listener.port),
            callback_login=SMG_LOGIN, callback_password=smg_password, reconnect=FAST,
            rng=random.Random(5))
        self.smg.startService()
        self.link = SgipLink(
            carrier="china_unicom",
            endpoint=TCP4ClientEndpoint(reactor, "127.0.0.1", self.smg.port),
            settings=settings, clock=reactor, on_inbound=inbox, reconnect=FAST,
            rng=random.Random(1))
        self.link.startService()

    async def stop(self) -> None:
        await self.link.stopService()
        await self.smg.stopService()
        await self.listener.stopService()


def sms(text: str) -> OutboundMessage:
    return OutboundMessage(
        source="10655012", destination="+8613800138000",
        parts=(MessagePart(payload=text.encode("utf-16-be"), coding=TextCoding.UCS2),),
        lane=Lane.INTERACTIVE)


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest_twisted.ensureDeferred
async def test_submit_receipt_and_mo_through_the_shared_simulator(inbox: Inbox) -> None:
    setup = Setup(inbox)
    try:
        await setup.link.when_bound()
        [result] = await setup.link.submit(sms("联通手机报"))
        assert result.outcome is SubmitOutcome.ACCEPTED
        assert re.fullmatch(r"3755012345-\d{10}-\d{10}", result.message_id or "")
        [received] = setup.smg.received
        assert received.message_id == result.message_id
        assert (received.login, received.source, received.destination, received.text) == (
            SP_LOGIN, "10655012", "8613800138000", "联通手机报")
        assert received.receipt_wanted is ReceiptWanted.ALWAYS
        await wait_for(lambda: len(inbox.receipts) == 1)
        assert inbox.receipts[0].message_id == result.message_id
        assert inbox.receipts[0].state is ReceiptState.DELIVERED
        assert setup.smg.protocol == "sgip"
        assert setup.smg.bound_clients == 1  # the connection back; the submit one never takes

        inbox.fail_next = 1  # the first try is not stored: answered 11, delivered again
        setup.smg.inject_mo("8613800138000", "10655012", "退订")
        await wait_for(lambda: len(inbox.messages) == 1)
        assert inbox.messages[0].text == "退订"
        assert setup.smg.counters["mo"] == 1 and setup.smg.counters["receipts"] == 1
    finally:
        await setup.stop()


@pytest_twisted.ensureDeferred
async def test_failed_receipts_carry_an_error_code(inbox: Inbox) -> None:
    setup = Setup(inbox, receipt_mix={"UNDELIV": 1.0})
    try:
        await setup.link.when_bound()
        [result] = await setup.link.submit(sms("x"))
        await wait_for(lambda: len(inbox.receipts) == 1)
        receipt = inbox.receipts[0]
        assert receipt.message_id == result.message_id
        assert receipt.state is ReceiptState.UNDELIVERABLE
        assert receipt.error == "SGIP result 21 (destination unreachable)"
    finally:
        await setup.stop()


@pytest_twisted.ensureDeferred
async def test_mos_wait_while_the_listener_refuses_the_smg(inbox: Inbox) -> None:
    setup = Setup(inbox, smg_password="wrong")
    try:
        setup.smg.inject_mo("8613800138000", "10655012", "hi")
        await task.deferLater(reactor, 0.4, lambda: None)
        assert not inbox.messages
        assert setup.smg.bound_clients == 0
        assert setup.listener.binds == 0
    finally:
        await setup.stop()
