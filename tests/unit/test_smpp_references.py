"""Part references: chosen by the gateway, sent as user_message_reference, read back in receipts."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime

import pytest
import smpplib.smpp
from smpp.pdu import pdu_encoding as jasmin_encoding

from carriers.messages import (
    DeliveryReceipt,
    MessagePart,
    OutboundMessage,
    ReceiptState,
    TextCoding,
)
from carriers.smpp.codec import SubmitTemplate, decode, encode
from carriers.smpp.pdus import DeliverSm, MessageState, SubmitSm
from carriers.smpp.translate import inbound_from, submits_for

UDH_PART_1 = bytes.fromhex("0500030A0201")
SUBMIT = SubmitSm(
    sequence_number=0,
    source_addr="10658000",
    dest_addr_ton=1,
    dest_addr_npi=1,
    destination_addr="",
    esm_class=0x40,
    registered_delivery=1,
    data_coding=8,
    short_message=UDH_PART_1 + "手机报".encode("utf-16-be"),
)
UMR_TLV = bytes.fromhex("02040002")
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def reference_in(frame: bytes) -> int | None:
    """The user_message_reference our own decoder reads from ``frame``."""
    pdu = decode(frame)
    assert isinstance(pdu, SubmitSm)
    return pdu.user_message_reference


# --- SubmitTemplate -----------------------------------------------------------------------------


def test_frame_without_a_reference_is_what_encode_gives() -> None:
    template = SubmitTemplate(SUBMIT)
    frame = template.frame("13800138000")
    assert frame == encode(replace(SUBMIT, destination_addr="13800138000"))
    assert reference_in(frame) is None


@pytest.mark.parametrize("reference", [0, 1, 4097, 0xFFFF])
def test_frame_with_a_reference_appends_the_tlv(reference: int) -> None:
    frame = SubmitTemplate(SUBMIT).frame("13800138000", reference)
    expected = replace(SUBMIT, destination_addr="13800138000", user_message_reference=reference)
    assert frame.endswith(UMR_TLV + reference.to_bytes(2, "big"))
    assert decode(frame) == expected
    assert frame == encode(expected)  # no other TLVs: the same bytes as a full encode


def test_one_template_serves_every_reference_and_drops_the_pdus_own() -> None:
    template = SubmitTemplate(replace(SUBMIT, user_message_reference=5))
    assert reference_in(template.frame("13800138000")) is None
    assert reference_in(template.frame("13800138000", 6)) == 6
    assert reference_in(template.frame("13900139000", 7)) == 7


def test_reference_goes_after_the_templates_own_tlvs() -> None:
    pdu = replace(SUBMIT, sar_msg_ref_num=10, sar_total_segments=2, sar_segment_seqnum=1,
                  source_port=2948, destination_port=9200, other_tlvs=((0x1401, b"vendor"),))
    frame = SubmitTemplate(pdu).frame("8613800138000", 4097)
    assert frame.endswith(UMR_TLV + b"\x10\x01")
    assert decode(frame) == replace(pdu, destination_addr="8613800138000",
                                    user_message_reference=4097)


@pytest.mark.parametrize("reference", [-1, 0x10000, True])
def test_frame_refuses_a_reference_that_does_not_fit(reference: int) -> None:
    with pytest.raises(ValueError, match="user_message_reference"):
        SubmitTemplate(SUBMIT).frame("13800138000", reference)


def test_independent_decoders_read_the_reference() -> None:
    frame = SubmitTemplate(SUBMIT).frame("13800138000", 4098)
    jasmin = jasmin_encoding.PDUEncoder().decode(io.BytesIO(frame))
    assert jasmin.params["user_message_reference"] == 4098
    assert jasmin.params["destination_addr"] == b"13800138000"
    smpplib_pdu = smpplib.smpp.parse_pdu(frame, sequence=0)
    assert smpplib_pdu.user_message_reference == 4098


# --- OutboundMessage and submits_for ------------------------------------------------------------


def two_parts(references: tuple[int, ...] | None) -> OutboundMessage:
    payload = "手机报".encode("utf-16-be")
    return OutboundMessage(
        source="10658000",
        destination="+8613800138000",
        parts=(
            MessagePart(payload=bytes.fromhex("0500030A0201") + payload,
                        coding=TextCoding.UCS2,
                        has_udh=True),
            MessagePart(payload=bytes.fromhex("0500030A0202") + payload,
                        coding=TextCoding.UCS2,
                        has_udh=True),
        ),
        references=references,
    )


def test_submits_for_puts_each_parts_reference_in_its_submit() -> None:
    submits = submits_for(two_parts((4097, 4098)))
    assert [pdu.user_message_reference for pdu in submits] == [4097, 4098]
    assert [pdu.user_message_reference for pdu in submits_for(two_parts(None))] == [None, None]


@pytest.mark.parametrize("references", [(1,), (1, 2, 3), (1, 0x10000), (-1, 2)])
def test_references_must_be_one_16_bit_value_per_part(references: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="references"):
        two_parts(references)


# --- receipts -----------------------------------------------------------------------------------

RECEIPT_TEXT = (b"id:0A1B2C3D sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 "
                b"stat:DELIVRD err:000 text:")


def receipt(**fields: object) -> DeliveryReceipt:
    pdu = DeliverSm(sequence_number=1, source_addr="8613800138000", destination_addr="10658000",
                    esm_class=0x04, short_message=RECEIPT_TEXT)
    result = inbound_from(replace(pdu, **fields), carrier="china_mobile", received_at=NOW)
    assert isinstance(result, DeliveryReceipt)
    return result


def test_receipt_with_tlvs_and_a_reference() -> None:
    found = receipt(receipted_message_id="0A1B2C3D", message_state=MessageState.DELIVERED,
                    user_message_reference=4097)
    assert (found.message_id, found.state) == ("0A1B2C3D", ReceiptState.DELIVERED)
    assert (found.subscriber, found.reference) == ("8613800138000", 4097)


def test_receipt_read_from_its_text_with_a_reference() -> None:
    found = receipt(user_message_reference=4098)
    assert (found.message_id, found.stat) == ("0A1B2C3D", "DELIVRD")
    assert (found.subscriber, found.reference) == ("8613800138000", 4098)


@pytest.mark.parametrize("fast_path", [True, False])
def test_receipt_without_a_reference(fast_path: bool) -> None:
    fields: dict[str, object] = {}
    if fast_path:
        fields = {"receipted_message_id": "0A1B2C3D", "message_state": MessageState.DELIVERED}
    found = receipt(**fields)
    assert (found.subscriber, found.reference) == ("8613800138000", None)
    assert receipt(source_addr="", **fields).subscriber is None


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (RECEIPT_TEXT, "000"),
        (b"id:1 stat:UNDELIV ERR:0B1 text:x", "0B1"),
        (b"id:1 stat:UNDELIV Err:\t 7 text:x", "7"),
        (b"err:12 id:1", "12"),
        (b"id:1 xerr:5 myerr:6 err:7", "7"),
        (b"id:1 err: err:9", "err:9"),
        (b"id:1 err:", ""),
        (b"id:1 err:   ", ""),
        (b"id:1 stat:DELIVRD", ""),
        (b"id:1 _err:3 err:4", "4"),
        ("id:1 état err:5 é".encode("latin-1"), "5"),
        ("id:1 éerr:5 err:6".encode("latin-1"), "6"),
    ],
)
def test_receipt_error_code_with_tlvs(text: bytes, error: str) -> None:
    """With the TLVs only ``err:`` is read from the text: its first word after the first
    ``err:`` label (any case) that starts a word and has one."""
    found = receipt(receipted_message_id="0A1B2C3D", message_state=MessageState.DELIVERED,
                    short_message=text, data_coding=3)
    assert found.error == error
