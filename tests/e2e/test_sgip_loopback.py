"""SGIP over loopback TCP: the gateway's submit link and listener against the simulated SMG.

Both SGIP connections are real sockets: the SP's link binds to the SMG (Login Type 1) and
submits; the SMG (:class:`SimulatedSgipSmg`, the shared simulated carrier speaking SGIP)
connects back to the SP's listener (Login Type 2) and delivers the REPORTs and MOs, which reach
the layer above and are answered only once it has stored them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer, error, reactor, task
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
    """Poll ``condition`` on the reactor until it holds (bounded; never a bare sleep)."""
    waited = 0.0
    while not condition():
        if waited >= timeout:
            raise AssertionError("condition not met in time")
        await task.deferLater(reactor, 0.02, lambda: None)
        waited += 0.02


class Inbox:
    """The layer above: records what arrives; can be told to fail."""

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
    def __init__(self, inbox: Inbox, *, sp_password: str = SP_PASSWORD,
                 smg_password: str = SMG_PASSWORD, receipt_mix: dict[str, float] | None = None,
                 idle_timeout: float = 60.0) -> None:
        settings = SgipClientSettings(login_name=SP_LOGIN, login_password=sp_password,
                                      node_id=SP_NODE, corp_id="12345", service_type="MNEWS",
                                      idle_timeout=idle_timeout)
        self.listener = SgipListenerService(
            carrier="china_unicom", endpoint=TCP4ServerEndpoint(reactor, 0,
                                                                interface="127.0.0.1"),
            settings=SgipListenerSettings(login_name=SMG_LOGIN, login_password=SMG_PASSWORD,
                                          node_id=SP_NODE),
            translator=SgipTranslator(settings), clock=reactor, on_inbound=inbox)
        self.listener.startService()
        self.smg = start_smg(
            TCP4ClientEndpoint(reactor, "127.0.0.1", self.listener.port),
            smg_password=smg_password, receipt_mix=receipt_mix)
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


def start_smg(callback: Any, *, smg_password: str = SMG_PASSWORD,
              receipt_mix: dict[str, float] | None = None) -> SimulatedSgipSmg:
    smg = SimulatedSgipSmg(
        SimulatorSettings(carrier="china_unicom", accounts={SP_LOGIN: SP_PASSWORD},
                          receipt_delay=0.05, receipt_mix=receipt_mix or {"DELIVRD": 1.0}),
        reactor=reactor, clock=reactor, callback_endpoint=callback,
        callback_login=SMG_LOGIN, callback_password=smg_password, reconnect=FAST,
        rng=random.Random(5))
    smg.startService()
    return smg


def sms(text: str, destination: str = "+8613800138000") -> OutboundMessage:
    return OutboundMessage(
        source="10655012", destination=destination,
        parts=(MessagePart(payload=text.encode("utf-16-be"), coding=TextCoding.UCS2),),
        lane=Lane.INTERACTIVE)


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest_twisted.ensureDeferred
async def test_submit_gets_its_sequence_as_id_and_the_report_comes_back(inbox: Inbox) -> None:
    setup = Setup(inbox)
    try:
        await setup.link.when_bound()
        [result] = await setup.link.submit(sms("联通手机报：今日要闻"))
        assert result.outcome is SubmitOutcome.ACCEPTED
        assert re.fullmatch(r"3755012345-\d{10}-\d{10}", result.message_id or "")
        [taken] = setup.smg.received
        assert taken.message_id == result.message_id
        assert (taken.login, taken.source, taken.destination, taken.text) == (
            SP_LOGIN, "10655012", "8613800138000", "联通手机报：今日要闻")
        assert taken.receipt_wanted is ReceiptWanted.ALWAYS
        await wait_for(lambda: len(inbox.receipts) == 1)
        receipt = inbox.receipts[0]
        assert receipt.message_id == result.message_id
        assert receipt.state is ReceiptState.DELIVERED
        assert receipt.subscriber == "8613800138000"
        assert setup.listener.binds == 1
        assert setup.smg.protocol == "sgip"
        assert setup.smg.bound_clients == 1  # the connection back; the submit one never takes
    finally:
        await setup.stop()


@pytest_twisted.ensureDeferred
async def test_a_failed_report_names_the_error(inbox: Inbox) -> None:
    setup = Setup(inbox, receipt_mix={"UNDELIV": 1.0})
    try:
        await setup.link.when_bound()
        [result] = await setup.link.submit(sms("hello"))
        await wait_for(lambda: len(inbox.receipts) == 1)
        receipt = inbox.receipts[0]
        assert receipt.message_id == result.message_id
        assert receipt.state is ReceiptState.UNDELIVERABLE
        assert receipt.error == "SGIP result 21 (destination unreachable)"
    finally:
        await setup.stop()


@pytest_twisted.ensureDeferred
async def test_an_mo_is_answered_after_it_is_stored_and_again_after_a_failure(
    inbox: Inbox,
) -> None:
    setup = Setup(inbox)
    try:
        inbox.fail_next = 1
        setup.smg.inject_mo("8613800138000", "10655012", "订阅")
        await wait_for(lambda: len(inbox.messages) == 1)
        mo = inbox.messages[0]
        assert (mo.source, mo.destination, mo.text) == ("8613800138000", "10655012", "订阅")
        assert mo.carrier == "china_unicom"
        assert setup.smg.counters["redeliveries"] == 0  # answered 11: resent by the session
        assert setup.listener.unacknowledged == 0
    finally:
        await setup.stop()


@pytest_twisted.ensureDeferred
async def test_an_idle_link_stays_closed_until_a_submit_reopens_it(inbox: Inbox) -> None:
    """After the idle UNBIND the link does not reconnect (the session's ``wants_connection``
    is False): the SMG sees no bind for several idle periods; a submit opens a connection,
    binds once and is accepted."""
    idle = 0.2
    setup = Setup(inbox, idle_timeout=idle)
    try:
        await setup.link.when_bound()
        await wait_for(lambda: setup.listener.binds == 1)  # the SMG's connection back
        await wait_for(lambda: setup.link.idle)
        assert setup.link.session.idle_closes == 1 and not setup.link.is_bound
        binds = setup.smg.counters["binds"]  # the submit link's bind and the one back
        await task.deferLater(reactor, 5 * idle, lambda: None)
        assert setup.smg.counters["binds"] == binds
        assert (setup.link.binds, setup.link.session.idle_closes) == (1, 1)
        assert setup.link.idle and setup.smg.bound_clients == 1  # only the connection back
        [result] = await setup.link.submit(sms("after a pause"))
        assert result.outcome is SubmitOutcome.ACCEPTED
        assert setup.link.binds == 2 and setup.smg.counters["binds"] == binds + 1
        await wait_for(lambda: len(inbox.receipts) == 1)
        assert inbox.receipts[0].message_id == result.message_id
        await wait_for(lambda: setup.link.idle)  # and it idles out again
        assert setup.link.session.idle_closes == 2
    finally:
        await setup.stop()


@pytest_twisted.ensureDeferred
async def test_wrong_passwords_are_refused_on_both_connections(inbox: Inbox) -> None:
    setup = Setup(inbox, sp_password="wrong", smg_password="wrong")
    try:
        setup.smg.inject_mo("8613800138000", "10655012", "hi")
        await task.deferLater(reactor, 0.5, lambda: None)
        assert not setup.link.is_bound
        assert setup.listener.binds == 0
        assert setup.smg.bound_clients == 0
        assert setup.smg.counters["bind_failures"] >= 1
        assert not inbox.messages
    finally:
        await setup.stop()


class LateEndpoint:
    """Connects to a loopback port known only once the other side listens (refused
    before: the caller's reconnect policy tries again)."""

    def __init__(self, port: Callable[[], int]) -> None:
        self._port = port

    def connect(self, factory: Any) -> defer.Deferred[Any]:
        try:
            port = self._port()
        except RuntimeError:
            return defer.fail(error.ConnectionRefusedError("not listening yet"))
        return TCP4ClientEndpoint(reactor, "127.0.0.1", port).connect(factory)


@pytest_twisted.ensureDeferred
async def test_the_carrier_link_built_from_the_config_table(inbox: Inbox) -> None:
    """``build_sgip_link`` (what the protocol registry would call) gives one CarrierLink whose
    submits and inbound messages both work."""
    from carriers.protocols import LinkParts
    from carriers.sgip.config import SgipLinkConfig
    from carriers.sgip.link import build_sgip_link

    smg: SimulatedSgipSmg | None = None
    config = SgipLinkConfig(port=1, login_name=SP_LOGIN, password=SP_PASSWORD,
                            node_id=SP_NODE, listen_port=1, smg_login_name=SMG_LOGIN,
                            smg_password=SMG_PASSWORD, reconnect_initial_delay=0.05,
                            reconnect_max_delay=0.2)
    link = build_sgip_link(
        config,
        LinkParts(carrier="china_unicom", secret=SP_PASSWORD,
                  endpoint=LateEndpoint(lambda: smg.port if smg else 0), clock=reactor,
                  on_inbound=inbox),
        listen_endpoint=TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1"))
    smg = start_smg(LateEndpoint(lambda: link.listener.port))
    link.startService()
    try:
        assert link.protocol == "sgip" and link.carrier == "china_unicom"
        await link.when_bound()
        assert link.is_bound and link.binds == 1 and link.window == 16
        [result] = await link.submit(sms("hello"))
        assert result.outcome is SubmitOutcome.ACCEPTED
        await wait_for(lambda: len(inbox.receipts) == 1)
        assert inbox.receipts[0].message_id == result.message_id
        smg.inject_mo("8613800138000", "10655012", "TD")
        await wait_for(lambda: len(inbox.messages) == 1)
        assert (link.queued, link.in_flight, link.unacknowledged) == (0, 0, 0)
    finally:
        await link.stopService()
        await smg.stopService()


@pytest_twisted.ensureDeferred
async def test_the_smg_binds_again_to_the_listener_of_a_restarted_gateway() -> None:
    """A gateway stop stops the link and the listener; a restart starts new ones on the same
    listener port.  The SMG's connection back retries and binds to the new listener; an MO
    injected while the gateway was down is kept (store and forward) and delivered after the
    restart, as are a new MO and the report of a submit made after it, each acknowledged."""
    before, after = Inbox(), Inbox()
    setup = Setup(before)
    smg = setup.smg
    listen_port = setup.listener.port
    try:
        await setup.link.when_bound()
        await wait_for(lambda: setup.listener.binds == 1)
        smg.inject_mo("8613800138000", "10655012", "before")
        await wait_for(lambda: len(before.messages) == 1)

        await setup.link.stopService()  # the gateway stops
        await setup.listener.stopService()
        await wait_for(lambda: smg.bound_clients == 0)
        smg.inject_mo("8613800138001", "10655012", "while down")
        await task.deferLater(reactor, 0.5, lambda: None)  # the SMG retries, refused
        assert smg.bound_clients == 0 and len(before.messages) == 1

        settings = SgipClientSettings(login_name=SP_LOGIN, login_password=SP_PASSWORD,
                                      node_id=SP_NODE, corp_id="12345", service_type="MNEWS")
        listener = SgipListenerService(  # the gateway starts again, on the same port
            carrier="china_unicom",
            endpoint=TCP4ServerEndpoint(reactor, listen_port, interface="127.0.0.1"),
            settings=SgipListenerSettings(login_name=SMG_LOGIN, login_password=SMG_PASSWORD,
                                          node_id=SP_NODE),
            translator=SgipTranslator(settings), clock=reactor, on_inbound=after)
        listener.startService()
        link = SgipLink(
            carrier="china_unicom",
            endpoint=TCP4ClientEndpoint(reactor, "127.0.0.1", smg.port),
            settings=settings, clock=reactor, on_inbound=after, reconnect=FAST,
            rng=random.Random(2))
        link.startService()
        setup.link, setup.listener = link, listener  # stopped by setup.stop()
        assert listener.port == listen_port

        await wait_for(lambda: listener.binds == 1)
        await wait_for(lambda: len(after.messages) == 1)
        assert after.messages[0].text == "while down"  # kept by the SMG, delivered now
        smg.inject_mo("8613800138002", "10655012", "after")
        await link.when_bound()
        [result] = await link.submit(sms("after the restart"))
        assert result.outcome is SubmitOutcome.ACCEPTED
        await wait_for(lambda: len(after.messages) == 2 and len(after.receipts) == 1)
        assert after.messages[1].text == "after"
        assert after.receipts[0].message_id == result.message_id
        assert after.receipts[0].state is ReceiptState.DELIVERED
        assert [m.text for m in before.messages] == ["before"] and not before.receipts
        # Each was acknowledged (answered 0): nothing waits at the SMG, nothing redelivered.
        await wait_for(lambda: not smg._waiting
                       and all(not c._delivers for c in smg._connections))
        assert smg.counters["redeliveries"] == 0 and listener.unacknowledged == 0
    finally:
        await setup.stop()
