"""Part references through the link and the simulated SMSC, and its uncapped part counts."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor, threads

from carriers.messages import Lane, MessagePart, OutboundMessage, SubmitOutcome, TextCoding
from carriers.simulator.control import control_site
from carriers.smpp.config import SmppLinkConfig
from gateway.app import simulator_settings
from gateway.config import CarrierConfig, SimulatorConfig
from tests.e2e.test_link_against_simulator import Inbox, start_link, start_simulator, wait_for

NUMBER = "13800138000"
REFERENCES = (4097, 4098)
UDH = ("0500032a0201", "0500032a0202")


def two_parts(references: tuple[int, ...] | None = REFERENCES) -> OutboundMessage:
    return OutboundMessage(
        source="10658000",
        destination=NUMBER,
        parts=tuple(
            MessagePart(payload=bytes.fromhex(udh) + text.encode("utf-16-be"),
                        coding=TextCoding.UCS2,
                        has_udh=True)
            for udh, text in zip(UDH, ("山东手机报，", "第二部分"), strict=True)
        ),
        lane=Lane.INTERACTIVE,
        references=references,
    )


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest_twisted.ensureDeferred
async def test_receipts_echo_each_parts_reference(inbox: Inbox) -> None:
    simulator = start_simulator()
    link = start_link(simulator.port, inbox)
    try:
        await link.when_bound()
        results = await link.submit(two_parts())
        assert [r.outcome for r in results] == [SubmitOutcome.ACCEPTED] * 2
        assert [s.reference for s in simulator.received] == list(REFERENCES)
        await wait_for(lambda: len(inbox.receipts) == 2)
        by_id = {r.message_id: r for r in inbox.receipts}
        for result, reference in zip(results, REFERENCES, strict=True):
            assert result.message_id is not None
            receipt = by_id[result.message_id]
            assert (receipt.reference, receipt.subscriber) == (reference, NUMBER)
    finally:
        await link.stopService()
        await simulator.stopService()


@pytest.mark.parametrize("echo_reference", [True, False])
@pytest_twisted.ensureDeferred
async def test_receipts_carry_no_reference_unless_echoed_and_sent(
    inbox: Inbox, echo_reference: bool
) -> None:
    simulator = start_simulator(echo_reference=echo_reference)
    link = start_link(simulator.port, inbox)
    try:
        await link.when_bound()
        # Echo off: the submit carries references, receipts do not. Echo on: none were sent.
        await link.submit(two_parts(None if echo_reference else REFERENCES))
        await wait_for(lambda: len(inbox.receipts) == 2)
        assert [(r.reference, r.subscriber) for r in inbox.receipts] == [(None, NUMBER)] * 2
    finally:
        await link.stopService()
        await simulator.stopService()


def get_json(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
        return json.loads(answer.read())


@pytest_twisted.ensureDeferred
async def test_parts_counts_every_accepted_part_beyond_keep_received(inbox: Inbox) -> None:
    simulator = start_simulator(keep_received=1)
    control = reactor.listenTCP(0, control_site(simulator, reactor), interface="127.0.0.1")
    link = start_link(simulator.port, inbox)
    try:
        await link.when_bound()
        await link.submit(two_parts())
        await link.submit(two_parts((4099, 4100)))  # the same parts again, as after a crash
        single = OutboundMessage(source="10658000", destination="13900139000", parts=(
            MessagePart(payload="退订成功".encode("utf-16-be"), coding=TextCoding.UCS2),))
        await link.submit(single)
        report = await threads.deferToThread(get_json, control.getHost().port, "/parts")
        assert report == {
            "parts": {NUMBER: {UDH[0]: 2, UDH[1]: 2}, "13900139000": {"": 1}},
            "accepted": 5,
        }
        assert len(simulator.received) == 1
    finally:
        await link.stopService()
        await simulator.stopService()
        await control.stopListening()


@pytest.mark.parametrize("echo_reference", [True, False])
def test_echo_reference_is_configured_per_carrier(echo_reference: bool) -> None:
    config = CarrierConfig(
        short_code="10658000",
        link=SmppLinkConfig(port=2775, system_id="gw", password="secret"),
        simulator=SimulatorConfig(port=2775, control_port=8775, echo_reference=echo_reference),
    )
    assert simulator_settings("china_mobile", config).echo_reference is echo_reference
    assert SimulatorConfig(port=1, control_port=2).echo_reference is True
