"""CMPP's words for the neutral messages: SUBMIT fields, MOs, status reports, result codes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from carriers.cmpp import codec
from carriers.cmpp.client import CmppClientSettings
from carriers.cmpp.link import CmppTranslator
from carriers.cmpp.pdus import Deliver, Submit
from carriers.cmpp.reports import CmppReport, encode_report
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

BOTH_VERSIONS = pytest.mark.parametrize("version", [0x30, 0x20], ids=["cmpp3", "cmpp2"])
SHANGHAI = ZoneInfo("Asia/Shanghai")
RECEIVED_AT = datetime(2024, 3, 1, 4, 0, tzinfo=UTC)
MSG_ID = 0x0123456789ABCDEF


def translator(version: int = 0x30, **settings: object) -> CmppTranslator:
    return CmppTranslator(CmppClientSettings(
        source_addr="901234", shared_secret="x", version=version, service_id="MNEWS",
        fee_user_type=2, fee_type="02", fee_code="000010", msg_level=1, **settings))


def digest(destination: str = "+8613800138000", *, want_receipt: bool = True) -> OutboundMessage:
    """A two-part UCS2 message, each part led by a concatenation UDH."""
    first = bytes.fromhex("050003a70201") + "今日要闻".encode("utf-16-be")
    second = bytes.fromhex("050003a70202") + "完".encode("utf-16-be")
    return OutboundMessage(
        source="1065800012",
        destination=destination,
        parts=(MessagePart(payload=first, coding=TextCoding.UCS2, has_udh=True),
               MessagePart(payload=second, coding=TextCoding.UCS2, has_udh=True)),
        want_receipt=want_receipt,
    )


def submits(frames: list[bytes], version: int) -> list[Submit]:
    decoded = [codec.decode(frame, version) for frame in frames]
    assert all(isinstance(pdu, Submit) for pdu in decoded)
    return decoded  # type: ignore[return-value]


# -- frames_for -----------------------------------------------------------------------------


@BOTH_VERSIONS
def test_two_part_ucs2_digest_fields(version: int) -> None:
    message = digest()
    first, second = submits(translator(version).frames_for(message), version)
    for number, pdu in enumerate((first, second), start=1):
        assert pdu.sequence_id == 0  # for the session to patch
        assert pdu.pk_total == 2 and pdu.pk_number == number
        assert pdu.tp_udhi == 1
        assert pdu.msg_fmt == 8
        assert pdu.dest_terminal_ids == ("8613800138000",)
        assert pdu.src_id == "1065800012"
        assert pdu.registered_delivery == 1
        assert pdu.msg_src == "901234"
        assert pdu.service_id == "MNEWS"
        assert (pdu.fee_user_type, pdu.fee_type, pdu.fee_code) == (2, "02", "000010")
        assert pdu.msg_level == 1
        assert pdu.msg_content == message.parts[number - 1].payload
        assert pdu.msg_id == 0 and pdu.link_id == ""


def test_destination_without_plus_is_kept_as_it_is() -> None:
    for destination in ("13800138000", "8613800138000"):
        (pdu, _) = submits(translator().frames_for(digest(destination)), 0x30)
        assert pdu.dest_terminal_ids == (destination,)


def test_no_receipt_wanted_and_no_udh() -> None:
    message = OutboundMessage(
        source="10658000", destination="13800138000",
        parts=(MessagePart(payload=b"hello", coding=TextCoding.ASCII),), want_receipt=False)
    (pdu,) = submits(translator().frames_for(message), 0x30)
    assert (pdu.registered_delivery, pdu.tp_udhi, pdu.msg_fmt) == (0, 0, 0)
    assert (pdu.pk_total, pdu.pk_number) == (1, 1)


@pytest.mark.parametrize(("coding", "msg_fmt"), [
    (TextCoding.ASCII, 0), (TextCoding.BINARY, 4), (TextCoding.UCS2, 8), (TextCoding.GBK, 15),
])
def test_msg_fmt_follows_the_coding(coding: TextCoding, msg_fmt: int) -> None:
    message = OutboundMessage(source="10658000", destination="13800138000",
                              parts=(MessagePart(payload=b"ab", coding=coding),))
    (pdu,) = submits(translator().frames_for(message), 0x30)
    assert pdu.msg_fmt == msg_fmt


def test_gsm7_cannot_go_on_cmpp() -> None:
    message = OutboundMessage(source="10658000", destination="13800138000",
                              parts=(MessagePart(payload=b"hi", coding=TextCoding.GSM7),))
    with pytest.raises(ValueError, match="gsm7"):
        translator().frames_for(message)


def test_one_template_serves_every_recipient() -> None:
    subject = translator()
    one = subject.frames_for(digest("+8613800000001"))
    two = subject.frames_for(digest("+8613800000002"))
    assert len(subject._templates) == 1
    for a, b in zip(one, two, strict=True):
        assert len(a) == len(b) and a != b
        assert replace(codec.decode(a, 0x30), dest_terminal_ids=()) == replace(
            codec.decode(b, 0x30), dest_terminal_ids=())


# -- read: MOs ------------------------------------------------------------------------------


def deliver(content: bytes, **fields: object) -> Deliver:
    return replace(Deliver(sequence_id=3, msg_id=MSG_ID, dest_id="1065800012",
                           src_terminal_id="13800138000", msg_content=content), **fields)


@pytest.mark.parametrize(("msg_fmt", "content", "text"), [
    (0, b"SD", "SD"),
    (8, "订阅".encode("utf-16-be"), "订阅"),
    (15, "退订".encode("gbk"), "退订"),
])
def test_mo_text_is_decoded_by_msg_fmt(msg_fmt: int, content: bytes, text: str) -> None:
    message = translator().read(deliver(content, msg_fmt=msg_fmt), carrier="cm",
                                received_at=RECEIVED_AT)
    assert message == InboundMessage(
        carrier="cm", source="13800138000", destination="1065800012", text=text,
        received_at=RECEIVED_AT, carrier_message_id="0123456789ABCDEF")


@BOTH_VERSIONS
def test_the_link_id_of_an_mo_goes_back_on_its_reply(version: int) -> None:
    """CMPP 3.0: an on-demand MO's LinkID names the session the reply belongs to; 2.0 has no
    LinkID (its Reserve is zeros), so nothing comes in and nothing goes out."""
    link = translator(version)
    mo = deliver(b"SD", link_id="LK0000000042" if version == 0x30 else "")
    message = link.read(mo, carrier="cm", received_at=RECEIVED_AT)
    assert isinstance(message, InboundMessage)
    assert message.link_id == ("LK0000000042" if version == 0x30 else "")
    reply = OutboundMessage(source="1065800012", destination="13800138000", parts=(
        MessagePart(payload=b"OK", coding=TextCoding.ASCII),), link_id="LK0000000042")
    (submit,) = submits(link.frames_for(reply), version)
    assert submit.link_id == ("LK0000000042" if version == 0x30 else "")
    (plain,) = submits(link.frames_for(replace(reply, link_id="")), version)
    assert plain.link_id == ""  # a digest to the same number names no session


def test_mo_part_loses_its_udh() -> None:
    content = bytes.fromhex("050003010201") + "第一".encode("utf-16-be")
    message = translator().read(deliver(content, msg_fmt=8, tp_udhi=1), carrier="cm",
                                received_at=RECEIVED_AT)
    assert isinstance(message, InboundMessage) and message.text == "第一"


@pytest.mark.parametrize("pdu", [
    deliver(b"\x00\x01", msg_fmt=4),  # binary: not text
    deliver(b"\x00", msg_fmt=8),  # odd UCS2
    deliver(b"ab", msg_fmt=3),  # SIM card writing: not a coding the gateway reads
    deliver(bytes.fromhex("0a0003"), tp_udhi=1),  # UDH longer than the message
    deliver(b"ab", registered_delivery=2),
    deliver(b"too short for a report", registered_delivery=1),
])
def test_unreadable_delivers(pdu: Deliver) -> None:
    with pytest.raises(UnreadableMessage):
        translator().read(pdu, carrier="cm", received_at=RECEIVED_AT)


def test_sender_of_is_the_src_terminal_id() -> None:
    assert translator().sender_of(deliver(b"x")) == "13800138000"


# -- read: status reports ----------------------------------------------------------------------


def report_deliver(stat: str, version: int, **report_fields: object) -> Deliver:
    report = replace(CmppReport(msg_id=MSG_ID, stat=stat, submit_time="2403011159",
                                done_time="2403011201", dest_terminal_id="8613800138000"),
                     **report_fields)
    content = encode_report(report, version)
    assert len(content) == (71 if version == 0x30 else 60)
    return deliver(content, registered_delivery=1, msg_id=0x77,
                   src_terminal_id="8613800138000")


@pytest.mark.parametrize("report_version", [0x30, 0x20], ids=["71-octet", "60-octet"])
@pytest.mark.parametrize("link_version", [0x30, 0x20], ids=["cmpp3", "cmpp2"])
def test_report_becomes_a_delivery_receipt(report_version: int, link_version: int) -> None:
    receipt = translator(link_version).read(report_deliver("DELIVRD", report_version),
                                            carrier="cm", received_at=RECEIVED_AT)
    assert receipt == DeliveryReceipt(
        carrier="cm", message_id="0123456789ABCDEF", state=ReceiptState.DELIVERED,
        stat="DELIVRD", error="",
        submitted_at=datetime(2024, 3, 1, 11, 59, tzinfo=SHANGHAI),
        done_at=datetime(2024, 3, 1, 12, 1, tzinfo=SHANGHAI),
        received_at=RECEIVED_AT, subscriber="8613800138000", reference=None)


@pytest.mark.parametrize(("stat", "state", "error"), [
    ("DELIVRD", ReceiptState.DELIVERED, ""),
    ("EXPIRED", ReceiptState.EXPIRED, ""),
    ("DELETED", ReceiptState.DELETED, ""),
    ("UNDELIV", ReceiptState.UNDELIVERABLE, ""),
    ("ACCEPTD", ReceiptState.ACCEPTED, ""),
    ("UNKNOWN", ReceiptState.UNKNOWN, ""),
    ("REJECTD", ReceiptState.REJECTED, ""),
    ("MA:0001", ReceiptState.UNDELIVERABLE, "MA:0001"),
    ("DB:0008", ReceiptState.UNDELIVERABLE, "DB:0008"),
    ("", ReceiptState.UNKNOWN, ""),
])
def test_report_stat_words(stat: str, state: ReceiptState, error: str) -> None:
    receipt = translator().read(report_deliver(stat, 0x30), carrier="cm",
                                received_at=RECEIVED_AT)
    assert isinstance(receipt, DeliveryReceipt)
    assert (receipt.state, receipt.stat, receipt.error) == (state, stat, error)


def test_odd_report_times_are_none() -> None:
    receipt = translator().read(
        report_deliver("DELIVRD", 0x30, submit_time="2413011200", done_time="0000000000"),
        carrier="cm", received_at=RECEIVED_AT)
    assert isinstance(receipt, DeliveryReceipt)
    assert receipt.submitted_at is None and receipt.done_at is None
    assert receipt.message_id == "0123456789ABCDEF"


def test_report_times_follow_the_configured_time_zone() -> None:
    receipt = translator(timezone="UTC").read(report_deliver("DELIVRD", 0x30), carrier="cm",
                                              received_at=RECEIVED_AT)
    assert isinstance(receipt, DeliveryReceipt)
    assert receipt.done_at == datetime(2024, 3, 1, 12, 1, tzinfo=ZoneInfo("UTC"))


# -- results ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("result", "outcome"), [
    (8, SubmitOutcome.TRANSIENT),
    (3, SubmitOutcome.TRANSIENT),
    (100, SubmitOutcome.TRANSIENT),
    (199, SubmitOutcome.TRANSIENT),
    (1, SubmitOutcome.PERMANENT),
    (13, SubmitOutcome.PERMANENT),
    (9, SubmitOutcome.PERMANENT),
    (50, SubmitOutcome.PERMANENT),
    (200, SubmitOutcome.PERMANENT),
])
def test_classify(result: int, outcome: SubmitOutcome) -> None:
    assert translator().classify(result) is outcome


def test_status_names() -> None:
    subject = translator()
    assert subject.status_name(8) == "CMPP result 8 (flow control)"
    assert subject.status_name(13) == "CMPP result 13 (bad Dest_terminal_Id)"
    assert subject.status_name(150) == "CMPP result 150 (vendor-specific)"
    assert subject.status_name(42) == "CMPP result 42 (other error)"
    assert subject.status_name(3) == "CMPP result 3 (duplicate sequence number)"
    assert subject.login_status_name(3) == "CONNECT status 3 (authentication failed)"
    assert translator().protocol == "cmpp"
