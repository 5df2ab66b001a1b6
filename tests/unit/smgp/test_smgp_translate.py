"""SMGP's words for the neutral messages (translator and link classification), the link
settings table, and the simulator dialect."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from twisted.internet import task

from carriers.codings import sending_codings
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
from carriers.simulator.carrier_service import ReceiptWanted
from carriers.smgp.client import SmgpClientSettings
from carriers.smgp.codec import decode
from carriers.smgp.config import SmgpLinkConfig
from carriers.smgp.link import SmgpTranslator
from carriers.smgp.msg_id import msg_id_text
from carriers.smgp.pdus import Deliver, Submit
from carriers.smgp.reports import SmgpReport, encode_report
from carriers.smgp.simulator_dialect import SmgpDialect
from carriers.smgp.translate import submits_for

SETTINGS = SmgpClientSettings(client_id="10690001", shared_secret="s", service_id="NEWS",
                              fee_type="01", fee_code="000010", priority=1, msg_src="10690001")
NOW = datetime(2026, 1, 16, 9, 0, tzinfo=UTC)
MSG_ID = bytes.fromhex("01006101161700012345")
UDH1 = bytes.fromhex("0500032a0201")
UDH2 = bytes.fromhex("0500032a0202")


def two_parts(link_id: str = "") -> OutboundMessage:
    return OutboundMessage(
        source="10690001", destination="+8613300000000", link_id=link_id,
        parts=(MessagePart(payload=UDH1 + "早上好".encode("utf-16-be"), coding=TextCoding.UCS2,
                           has_udh=True),
               MessagePart(payload=UDH2 + "新闻".encode("utf-16-be"), coding=TextCoding.UCS2,
                           has_udh=True)))


def test_a_two_part_message_is_two_submits_with_udhi_and_pk_tlvs() -> None:
    first, second = submits_for(two_parts("LK9"), SETTINGS)
    assert (first.pk_total, first.pk_number, second.pk_total, second.pk_number) == (2, 1, 2, 2)
    assert first.tp_udhi == second.tp_udhi == 1
    assert first.msg_format == 8 and first.msg_type == 6 and first.need_report == 1
    assert first.dest_term_ids == ("8613300000000",)
    assert (first.service_id, first.fee_type, first.fee_code, first.priority) == (
        "NEWS", "01", "000010", 1)
    assert first.link_id == "LK9" and first.msg_src == "10690001"
    assert second.msg_content == UDH2 + "新闻".encode("utf-16-be")


def test_a_single_ascii_part_has_no_optional_tlvs() -> None:
    message = OutboundMessage(source="10690001", destination="13300000000", want_receipt=False,
                              parts=(MessagePart(payload=b"hi", coding=TextCoding.ASCII),))
    (only,) = submits_for(message, SmgpClientSettings(client_id="1", shared_secret="s"))
    assert (only.tp_udhi, only.pk_total, only.pk_number, only.link_id, only.msg_src) == (
        None, None, None, None, None)
    assert only.msg_format == 0 and only.need_report == 0 and only.fee_type == "00"


def test_translator_frames_reuse_the_template_per_destination() -> None:
    translator = SmgpTranslator(SETTINGS)
    frames = translator.frames_for(two_parts())
    assert [decode(f).dest_term_ids for f in frames] == [("8613300000000",)] * 2
    other = OutboundMessage(source="10690001", destination="13311112222",
                            parts=two_parts().parts)
    pdus = [decode(f) for f in translator.frames_for(other)]
    assert all(isinstance(p, Submit) and p.dest_term_ids == ("13311112222",) for p in pdus)
    assert [p.msg_content for p in pdus] == [p.payload for p in two_parts().parts]


def test_every_coding_the_gateway_sends_on_smgp_translates() -> None:
    for coding in sending_codings("smgp"):
        message = OutboundMessage(source="1", destination="2",
                                  parts=(MessagePart(payload=b"ab", coding=coding),))
        assert submits_for(message, SETTINGS)[0].msg_format in (0, 8)


def test_gsm7_cannot_go_on_smgp() -> None:
    message = OutboundMessage(source="1", destination="2",
                              parts=(MessagePart(payload=b"ab", coding=TextCoding.GSM7),))
    with pytest.raises(ValueError):
        submits_for(message, SETTINGS)


def read(pdu: Deliver) -> InboundMessage | DeliveryReceipt:
    return SmgpTranslator(SETTINGS).read(pdu, carrier="china_telecom", received_at=NOW)


def test_an_mo_is_read_with_its_udh_dropped_and_link_id_kept() -> None:
    pdu = Deliver(sequence_id=1, msg_id=MSG_ID, msg_format=8, src_term_id="13300000000",
                  dest_term_id="106900011", msg_content=UDH1 + "订阅".encode("utf-16-be"),
                  tp_udhi=1, link_id="LK1")
    mo = read(pdu)
    assert isinstance(mo, InboundMessage)
    assert (mo.source, mo.destination, mo.text, mo.link_id) == (
        "13300000000", "106900011", "订阅", "LK1")
    assert mo.carrier_message_id == "01006101161700012345"


def test_a_gbk_mo_is_read() -> None:
    pdu = Deliver(sequence_id=1, msg_id=MSG_ID, msg_format=15, src_term_id="1",
                  msg_content="退订".encode("gbk"))
    mo = read(pdu)
    assert isinstance(mo, InboundMessage) and mo.text == "退订"


@pytest.mark.parametrize(("stat", "err", "state", "error"), [
    ("DELIVRD", "000", ReceiptState.DELIVERED, ""),
    ("UNDELIV", "005", ReceiptState.UNDELIVERABLE, "005"),
    ("EXPIRED", "000", ReceiptState.EXPIRED, ""),
    ("MA:0054", "000", ReceiptState.UNDELIVERABLE, "MA:0054"),
    ("", "000", ReceiptState.UNKNOWN, ""),
])
def test_reports_map_to_receipts(stat: str, err: str, state: ReceiptState, error: str) -> None:
    report = SmgpReport(msg_id=MSG_ID, stat=stat, submit_date="2601161700",
                        done_date="2601161705", err=err)
    for capitalised in (False, True):
        pdu = Deliver(sequence_id=1, msg_id=bytes(10), is_report=1, src_term_id="13300000000",
                      msg_content=encode_report(report, capitalised=capitalised))
        receipt = read(pdu)
        assert isinstance(receipt, DeliveryReceipt)
        assert receipt.message_id == "01006101161700012345"
        assert (receipt.state, receipt.stat, receipt.error) == (state, stat, error)
        assert receipt.subscriber == "13300000000"
        shanghai = ZoneInfo("Asia/Shanghai")
        assert receipt.submitted_at == datetime(2026, 1, 16, 17, 0, tzinfo=shanghai)
        assert receipt.done_at == datetime(2026, 1, 16, 17, 5, tzinfo=shanghai)


def test_unreadable_delivers() -> None:
    with pytest.raises(UnreadableMessage):
        read(Deliver(sequence_id=1, is_report=1, msg_content=b"id:short"))
    with pytest.raises(UnreadableMessage):
        read(Deliver(sequence_id=1, is_report=2))
    with pytest.raises(UnreadableMessage):
        read(Deliver(sequence_id=1, msg_format=99, msg_content=b"x"))
    with pytest.raises(UnreadableMessage):
        read(Deliver(sequence_id=1, tp_udhi=1, msg_content=b"\x09ab"))


def test_classify_and_names() -> None:
    translator = SmgpTranslator(SETTINGS)
    assert translator.protocol == "smgp"
    for status in (1, 12, 74, 75):
        assert translator.classify(status) is SubmitOutcome.TRANSIENT
    for status in (10, 21, 47, 76, 150):
        assert translator.classify(status) is SubmitOutcome.PERMANENT
    assert translator.status_name(47) == "SMGP status 47 (bad DestTermID)"
    assert translator.login_status_name(21) == "SMGP status 21 (authentication failed)"
    assert translator.sender_of(Deliver(sequence_id=1, src_term_id="133")) == "133"


# -- the settings table -----------------------------------------------------------------------


def config(**fields: object) -> SmgpLinkConfig:
    options: dict[str, object] = {"port": 8890, "client_id": "10690001", "shared_secret": "s"}
    options.update(fields)
    return SmgpLinkConfig(**options)  # type: ignore[arg-type]


def test_defaults_have_no_problems_and_make_session_settings() -> None:
    table = config()
    assert table.problems() == []
    assert table.login == "10690001" and table.protocol == "smgp"
    settings = table.session_settings("secret", tps_share=0.5)
    assert settings.login_mode == 2 and settings.tps == 50.0 and settings.fee_type == "00"
    assert (settings.active_test_interval, settings.active_test_tries) == (180.0, 3)
    assert settings.shared_secret == "secret" and settings.exit_timeout == table.unbind_timeout


@pytest.mark.parametrize(("fields", "key"), [
    ({"client_id": ""}, "client_id"),
    ({"client_id": "123456789"}, "client_id"),
    ({"shared_secret": "x" * 16}, "shared_secret"),
    ({"shared_secret": None}, "shared_secret"),
    ({"login_mode": 3}, "login_mode"),
    ({"service_id": "X" * 11}, "service_id"),
    ({"fee_type": "04"}, "fee_type"),
    ({"fee_code": "1234567"}, "fee_code"),
    ({"fixed_fee": "abc"}, "fixed_fee"),
    ({"priority": 4}, "priority"),
    ({"charge_term_id": "1" * 22}, "charge_term_id"),
    ({"msg_src": "123456789"}, "msg_src"),
    ({"active_test_interval": 0}, "active_test_interval"),
    ({"active_test_tries": 0}, "active_test_tries"),
    ({"active_test_tries": 11}, "active_test_tries"),
    ({"window": 0}, "window"),
])
def test_each_limit_is_checked(fields: dict, key: str) -> None:
    assert key in [found for found, _ in config(**fields).problems()]


def test_secret_from_the_environment() -> None:
    table = config(shared_secret=None, shared_secret_env="SMGP_SECRET")
    assert table.problems() == []
    assert table.resolved_secret({"SMGP_SECRET": "k"}) == "k"


# -- the simulator dialect --------------------------------------------------------------------


def test_dialect_ids_mos_and_receipts() -> None:
    clock = task.Clock()
    clock.advance(datetime(2026, 1, 16, 9, 0, 30, tzinfo=UTC).timestamp())
    dialect = SmgpDialect(clock=clock, rng=random.Random(3))
    ids = {dialect.next_message_id() for _ in range(100)}
    assert len(ids) == 100 and all(msg_id_text(i)[:14] == "01006101161700" for i in ids)
    mo = dialect.mo_pdu("13300000000", "106900011", "订阅").pdu_for(None)
    assert (mo.is_report, mo.msg_format, mo.recv_time) == (0, 8, "20260116170030")
    assert mo.link_id
    submit = Submit(sequence_id=1, need_report=1, src_term_id="10690001", msg_format=8,
                    dest_term_ids=("13300000000",), tp_udhi=1, link_id="LK1",
                    msg_content=UDH1 + "早上好".encode("utf-16-be"))
    received = dialect.read_submit(submit, login="10690001", message_id=MSG_ID,
                                   now=clock.seconds())
    assert (received.message_id, received.text, received.udh, received.link_id) == (
        "01006101161700012345", "早上好", UDH1, "LK1")
    assert received.receipt_wanted is ReceiptWanted.ALWAYS
    receipt = dialect.receipt_pdu(received, stat="DELIVRD", done_at=clock.seconds() + 60,
                                  echo_reference=False).pdu_for(None)
    assert receipt.is_report == 1 and receipt.src_term_id == "13300000000"
    translated = read(receipt)
    assert isinstance(translated, DeliveryReceipt)
    assert translated.message_id == received.message_id
    assert translated.state is ReceiptState.DELIVERED
    with pytest.raises(ValueError):
        dialect.mo_pdu("1" * 22, "1", "x")
    with pytest.raises(ValueError):
        dialect.mo_pdu("1", "1", "长" * 71)
