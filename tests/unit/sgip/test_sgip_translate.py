"""SGIP's words for the neutral messages: SUBMIT fields, MOs, REPORTs, result codes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from carriers.link.api import UnreadableMessage
from carriers.messages import (
    DeliveryReceipt,
    InboundMessage,
    MessagePart,
    OutboundMessage,
    ReceiptState,
    SubmitOutcome,
    TextCoding,
)
from carriers.sgip import codec
from carriers.sgip.client import SgipClientSettings
from carriers.sgip.pdus import Deliver, Report, Submit
from carriers.sgip.sequence import ZERO, SequenceNumber
from carriers.sgip.translate import SgipTranslator, user_number_of

RECEIVED_AT = datetime(2026, 12, 2, 6, 10, tzinfo=UTC)
SUBMITTED = SequenceNumber(3755012345, 1202141030, 42)


def translator(**settings: object) -> SgipTranslator:
    return SgipTranslator(SgipClientSettings(
        login_name="SP0001", login_password="pw", node_id=3755012345, corp_id="12345",
        service_type="MNEWS", fee_type=2, fee_value="10", **settings))


def digest(destination: str = "+8613800138000", *, want_receipt: bool = True,
           link_id: str = "") -> OutboundMessage:
    """A two-part UCS2 message, each part led by a concatenation UDH."""
    first = bytes.fromhex("050003a70201") + "今日要闻".encode("utf-16-be")
    second = bytes.fromhex("050003a70202") + "完".encode("utf-16-be")
    return OutboundMessage(
        source="10655012",
        destination=destination,
        parts=(MessagePart(payload=first, coding=TextCoding.UCS2, has_udh=True),
               MessagePart(payload=second, coding=TextCoding.UCS2, has_udh=True)),
        want_receipt=want_receipt,
        link_id=link_id,
    )


def submits(frames: list[bytes]) -> list[Submit]:
    decoded = [codec.decode(frame) for frame in frames]
    assert all(isinstance(pdu, Submit) for pdu in decoded)
    return decoded  # type: ignore[return-value]


# -- frames_for ---------------------------------------------------------------------------------


def test_one_submit_per_part_with_the_settings_fields() -> None:
    message = digest()
    first, second = submits(translator().frames_for(message))
    assert first.sequence == ZERO  # the session numbers it when it sends it
    assert first.sp_number == "10655012"
    assert first.user_numbers == ("8613800138000",)
    assert (first.corp_id, first.service_type, first.fee_type, first.fee_value) == (
        "12345", "MNEWS", 2, "10")
    assert first.report_flag == 1 and first.morelateto_mt_flag == 2
    assert first.tp_udhi == 1 and first.message_coding == 8
    assert first.message_content == message.parts[0].payload
    assert second.message_content == message.parts[1].payload


def test_no_receipt_wanted_is_report_flag_2_and_a_reply_is_mt_flag_0() -> None:
    [first, _] = submits(translator().frames_for(digest(want_receipt=False, link_id="MO1")))
    assert first.report_flag == 2
    assert first.morelateto_mt_flag == 0


def test_templates_are_reused_per_content_and_spliced_per_recipient() -> None:
    t = translator()
    a = t.frames_for(digest("+8613800138000"))
    b = t.frames_for(digest("13900139000"))
    assert len(t._templates) == 1
    assert submits(b)[0].user_numbers == ("8613900139000",)
    assert a[0][:63] == b[0][:63] and a[0][84:] == b[0][84:]


@pytest.mark.parametrize(("destination", "number"), [
    ("+8613800138000", "8613800138000"), ("8613800138000", "8613800138000"),
    ("13800138000", "8613800138000"),
])
def test_user_numbers_carry_86(destination: str, number: str) -> None:
    assert user_number_of(destination) == number


def test_gsm7_cannot_go_on_sgip() -> None:
    message = OutboundMessage(source="1065", destination="8613800138000",
                              parts=(MessagePart(payload=b"hi", coding=TextCoding.GSM7),))
    with pytest.raises(ValueError, match="sgip"):
        translator().frames_for(message)


# -- read -------------------------------------------------------------------------------------


def test_a_deliver_is_an_mo_without_its_udh() -> None:
    deliver = Deliver(sequence=SequenceNumber(175501, 1202141030, 9),
                      user_number="8613800138000", sp_number="106550121", tp_udhi=1,
                      message_coding=8,
                      message_content=bytes.fromhex("0500030a0201") + "订阅".encode("utf-16-be"))
    mo = translator().read(deliver, carrier="unicom", received_at=RECEIVED_AT)
    assert mo == InboundMessage(carrier="unicom", source="8613800138000",
                                destination="106550121", text="订阅", received_at=RECEIVED_AT,
                                carrier_message_id="0000175501-1202141030-0000000009")


def test_a_gbk_mo_is_read() -> None:
    deliver = Deliver(sequence=ZERO, user_number="86138", sp_number="1065",
                      message_coding=15, message_content="退订".encode("gbk"))
    assert translator().read(deliver, carrier="u", received_at=RECEIVED_AT).text == "退订"


@pytest.mark.parametrize("deliver", [
    Deliver(sequence=ZERO, message_coding=4, message_content=b"\x00\x01"),
    Deliver(sequence=ZERO, message_coding=99, message_content=b"x"),
    Deliver(sequence=ZERO, message_coding=8, message_content=b"\x00"),
    Deliver(sequence=ZERO, tp_udhi=1, message_coding=0, message_content=b"\x09ab"),
], ids=["binary", "unknown-coding", "odd-ucs2", "udh-overrun"])
def test_unreadable_mos(deliver: Deliver) -> None:
    with pytest.raises(UnreadableMessage):
        translator().read(deliver, carrier="u", received_at=RECEIVED_AT)


@pytest.mark.parametrize(("state", "expected", "stat"), [
    (0, ReceiptState.DELIVERED, "DELIVRD"), (1, ReceiptState.ENROUTE, "ENROUTE"),
    (2, ReceiptState.UNDELIVERABLE, "UNDELIV"), (7, ReceiptState.UNKNOWN, ""),
])
def test_a_report_is_a_receipt_keyed_by_the_submits_sequence(
    state: int, expected: ReceiptState, stat: str
) -> None:
    report = Report(sequence=SequenceNumber(175501, 1202141100, 3), submit_sequence=SUBMITTED,
                    user_number="8613800138000", state=state, error_code=29 if state else 0)
    receipt = translator().read(report, carrier="unicom", received_at=RECEIVED_AT)
    assert isinstance(receipt, DeliveryReceipt)
    assert receipt.message_id == "3755012345-1202141030-0000000042"
    assert receipt.state is expected and receipt.stat == stat
    assert receipt.error == ("SGIP result 29 (unknown user)" if state == 2 else "")
    assert receipt.subscriber == "8613800138000"
    assert translator().sender_of(report) == "8613800138000"


def test_a_report_about_a_forwarded_deliver_is_not_ours() -> None:
    report = Report(sequence=ZERO, submit_sequence=SUBMITTED, report_type=1)
    with pytest.raises(UnreadableMessage, match="not about a SUBMIT"):
        translator().read(report, carrier="u", received_at=RECEIVED_AT)


# -- results ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "outcome"), [
    (9, SubmitOutcome.TRANSIENT), (11, SubmitOutcome.TRANSIENT), (32, SubmitOutcome.TRANSIENT),
    (33, SubmitOutcome.TRANSIENT), (6, SubmitOutcome.PERMANENT), (21, SubmitOutcome.PERMANENT),
    (29, SubmitOutcome.PERMANENT), (200, SubmitOutcome.PERMANENT),
])
def test_classify(status: int, outcome: SubmitOutcome) -> None:
    assert translator().classify(status) is outcome


def test_names() -> None:
    t = translator()
    assert t.protocol == "sgip"
    assert t.status_name(33) == "SGIP result 33 (SMSC queue full)"
    assert t.login_status_name(1) == "SGIP result 1 (illegal login)"


def test_submit_settings_are_checked() -> None:
    for name, value in (("corp_id", "123456"), ("fee_value", "1234567"),
                        ("service_type", "x" * 11), ("charge_number", "0" * 22)):
        with pytest.raises(ValueError, match=name):
            SgipClientSettings(login_name="a", login_password="", node_id=1, **{name: value})
