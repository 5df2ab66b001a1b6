"""An independent SMPP client (smpplib) binds to our simulator, submits UCS2 Chinese text,
and gets its message id and a delivery receipt."""

from __future__ import annotations

import random
from typing import Any

import pytest_twisted
import smpplib.client
import smpplib.consts
import smpplib.gsm
from twisted.internet import reactor, threads

from carriers.simulator.smsc_service import SimulatedSmsc, SimulatorSettings


def _smpplib_session(port: int) -> dict[str, Any]:
    """Blocking smpplib work, run in a thread while the reactor serves the simulator."""
    seen: dict[str, Any] = {"sent": [], "receipts": []}
    client = smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)

    def on_sent(pdu: Any) -> None:
        seen["sent"].append((pdu.status, pdu.message_id.decode("ascii")))

    def on_message(pdu: Any) -> None:
        seen["receipts"].append({
            "esm_class": pdu.esm_class,
            "receipted_message_id": pdu.receipted_message_id.decode("ascii"),
            "message_state": pdu.message_state,
            "text": pdu.short_message,
        })

    client.set_message_sent_handler(on_sent)
    client.set_message_received_handler(on_message)
    client.connect()
    try:
        bind = client.bind_transceiver(system_id="indep", password="pw123")
        seen["bind_status"] = bind.status
        parts, coding, esm_class = smpplib.gsm.make_parts("山东手机报：今日要闻")
        for part in parts:
            client.send_message(
                source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
                source_addr="10658000",
                dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
                destination_addr="8613800138000",
                short_message=part,
                data_coding=coding,
                esm_class=esm_class,
                registered_delivery=True,
            )
        client.read_once()  # submit_sm_resp
        client.read_once()  # deliver_sm carrying the receipt
        client.unbind()
    finally:
        client.disconnect()
    return seen


@pytest_twisted.ensureDeferred
async def test_smpplib_binds_submits_and_gets_a_receipt() -> None:
    simulator = SimulatedSmsc(
        SimulatorSettings(carrier="china_mobile", accounts={"indep": "pw123"},
                          receipt_delay=0.1),
        reactor=reactor, clock=reactor, rng=random.Random(3),
    )
    simulator.startService()
    try:
        seen = await threads.deferToThread(_smpplib_session, simulator.port)
    finally:
        await simulator.stopService()
    assert seen["bind_status"] == 0
    [(status, message_id)] = seen["sent"]
    assert status == 0 and message_id
    [receipt] = seen["receipts"]
    assert receipt["esm_class"] & 0x04
    assert receipt["receipted_message_id"] == message_id
    text = receipt["text"].decode("ascii")
    assert f"id:{message_id}" in text and "stat:DELIVRD" in text
    assert simulator.received[-1].text == "山东手机报：今日要闻"
    assert simulator.received[-1].data_coding == 0x08


@pytest_twisted.ensureDeferred
async def test_smpplib_with_wrong_password_gets_bind_fail() -> None:
    simulator = SimulatedSmsc(
        SimulatorSettings(carrier="china_mobile", accounts={"indep": "pw123"}),
        reactor=reactor, clock=reactor,
    )
    simulator.startService()

    def bind_badly(port: int) -> int:
        client = smpplib.client.Client("127.0.0.1", port, timeout=5,
                                       allow_unknown_opt_params=True)
        client.connect()
        try:
            client.bind_transceiver(system_id="indep", password="nope")
        except smpplib.exceptions.PDUError as exc:
            return int(exc.args[1])
        finally:
            client.disconnect()
        return 0

    try:
        status = await threads.deferToThread(bind_badly, simulator.port)
    finally:
        await simulator.stopService()
    assert status == 0x0D  # ESME_RBINDFAIL
