"""SMPP 3.4 codec: golden byte vectors, round trips, malformed input and encode validation."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carriers.errors import DecodeError
from carriers.smpp.codec import decode, encode, encode_deliver_sm_resp
from carriers.smpp.pdus import (
    PDU_CLASSES,
    REQUEST_TO_RESPONSE,
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    CommandId,
    CommandStatus,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    MessageState,
    Pdu,
    ShortMessagePdu,
    SubmitSm,
    SubmitSmResp,
    Tlv,
    Unbind,
    UnbindResp,
    error_response,
    is_response,
    response_for,
)

S = CommandStatus


def unhex(text: str) -> bytes:
    """Bytes from hex written with spaces and line breaks for readability."""
    return bytes.fromhex("".join(text.split()))


def pdu_frame(command_id: int, body: bytes, *, status: int = 0, sequence: int = 1) -> bytes:
    """A frame with a correct command_length around ``body``."""
    header = (16 + len(body)).to_bytes(4, "big") + command_id.to_bytes(4, "big")
    return header + status.to_bytes(4, "big") + sequence.to_bytes(4, "big") + body


# --- golden vectors (written out by hand from docs/wire-formats.md §1) --------------------

BIND_TRANSCEIVER_HEX = """
    00000025 00000009 00000000 00000001
    73646777 00                 system_id "sdgw"
    73656372 657400             password "secret"
    534d5050 00                 system_type "SMPP"
    34 01 01                    interface_version 3.4, addr_ton 1, addr_npi 1
    00                          address_range ""
"""
BIND_TRANSCEIVER = BindTransceiver(
    sequence_number=1,
    system_id="sdgw",
    password="secret",
    system_type="SMPP",
    interface_version=0x34,
    addr_ton=1,
    addr_npi=1,
)

BIND_TRANSCEIVER_RESP_HEX = """
    0000001a 80000009 00000000 00000001
    534d5343 00                 system_id "SMSC"
    0210 0001 34                sc_interface_version
"""
BIND_TRANSCEIVER_RESP = BindTransceiverResp(
    sequence_number=1, system_id="SMSC", sc_interface_version=0x34
)

SUBMIT_SM_UCS2_HEX = """
    00000050 00000004 00000000 00000002
    00                          service_type ""
    00 01                       source ton/npi
    31303639 30303031 00        source_addr "10690001"
    01 01                       dest ton/npi
    38363133 38303031 33383030 3000   destination_addr "8613800138000"
    00 00 00                    esm_class, protocol_id, priority_flag
    00 00                       schedule_delivery_time, validity_period
    01 00 08 00                 registered_delivery, replace, data_coding UCS2, default id
    04 4f60 597d                sm_length 4, "你好" in UTF-16BE
    020c 0002 0102              sar_msg_ref_num 0x0102
    020e 0001 02                sar_total_segments 2
    020f 0001 01                sar_segment_seqnum 1
    020b 0002 23f0              destination_port 9200
"""
SUBMIT_SM_UCS2 = SubmitSm(
    sequence_number=2,
    source_addr_npi=1,
    source_addr="10690001",
    dest_addr_ton=1,
    dest_addr_npi=1,
    destination_addr="8613800138000",
    registered_delivery=1,
    data_coding=8,
    short_message="你好".encode("utf-16-be"),
    sar_msg_ref_num=0x0102,
    sar_total_segments=2,
    sar_segment_seqnum=1,
    destination_port=9200,
)

RECEIPT_TEXT = (
    b"id:0A1B2C3D sub:001 dlvrd:001 submit date:2601011200 done date:2601011201"
    b" stat:DELIVRD err:000 text:"
)
DELIVER_SM_RECEIPT_HEX = (
    """
    000000ac 00000005 00000000 00000003
    00                          service_type ""
    01 01                       source ton/npi
    38363133 38303031 33383030 3000   source_addr "8613800138000"
    00 01                       dest ton/npi
    31303639 30303031 00        destination_addr "10690001"
    04 00 00                    esm_class = SMSC delivery receipt
    00 00                       no times
    00 00 00 00                 registered_delivery, replace, data_coding, default id
    64                          sm_length 100
    """
    + RECEIPT_TEXT.hex()
    + """
    001e 0009 30413142 32433344 00   receipted_message_id "0A1B2C3D"
    0427 0001 02                message_state DELIVERED
    """
)
DELIVER_SM_RECEIPT = DeliverSm(
    sequence_number=3,
    source_addr_ton=1,
    source_addr_npi=1,
    source_addr="8613800138000",
    dest_addr_npi=1,
    destination_addr="10690001",
    esm_class=0x04,
    short_message=RECEIPT_TEXT,
    receipted_message_id="0A1B2C3D",
    message_state=MessageState.DELIVERED,
)

SUBMIT_SM_RESP_HEX = "00000017 80000004 00000000 00000002  33463241 313900"
SUBMIT_SM_RESP = SubmitSmResp(sequence_number=2, message_id="3F2A19")

THROTTLED_SUBMIT_SM_RESP_HEX = "00000010 80000004 00000058 00000005"
THROTTLED_SUBMIT_SM_RESP = SubmitSmResp(
    sequence_number=5, command_status=CommandStatus.ESME_RTHROTTLED
)

ENQUIRE_LINK_HEX = "00000010 00000015 00000000 12345678"
ENQUIRE_LINK = EnquireLink(sequence_number=0x12345678)

GENERIC_NACK_HEX = "00000010 80000000 00000003 00000007"
GENERIC_NACK = GenericNack(sequence_number=7, command_status=CommandStatus.ESME_RINVCMDID)

GOLDEN = [
    pytest.param(BIND_TRANSCEIVER_HEX, BIND_TRANSCEIVER, id="bind_transceiver"),
    pytest.param(BIND_TRANSCEIVER_RESP_HEX, BIND_TRANSCEIVER_RESP, id="bind_transceiver_resp"),
    pytest.param(SUBMIT_SM_UCS2_HEX, SUBMIT_SM_UCS2, id="submit_sm_ucs2_tlvs"),
    pytest.param(DELIVER_SM_RECEIPT_HEX, DELIVER_SM_RECEIPT, id="deliver_sm_receipt"),
    pytest.param(SUBMIT_SM_RESP_HEX, SUBMIT_SM_RESP, id="submit_sm_resp"),
    pytest.param(THROTTLED_SUBMIT_SM_RESP_HEX, THROTTLED_SUBMIT_SM_RESP, id="submit_sm_resp_error"),
    pytest.param(ENQUIRE_LINK_HEX, ENQUIRE_LINK, id="enquire_link"),
    pytest.param(GENERIC_NACK_HEX, GENERIC_NACK, id="generic_nack"),
]


def strip_comments(vector: str) -> str:
    """Drop the trailing annotations from a golden vector, keeping the hex columns."""
    kept = []
    for line in vector.splitlines():
        words = []
        for word in line.split():
            if all(char in "0123456789abcdefABCDEF" for char in word):
                words.append(word)
            else:
                break
        kept.append("".join(words))
    return "".join(kept)


def test_receipt_text_is_100_octets() -> None:
    assert len(RECEIPT_TEXT) == 0x64


@pytest.mark.parametrize(("vector", "pdu"), GOLDEN)
def test_golden_decode(vector: str, pdu: Pdu) -> None:
    decoded = decode(unhex(strip_comments(vector)))
    assert type(decoded) is type(pdu)
    assert decoded == pdu


@pytest.mark.parametrize(("vector", "pdu"), GOLDEN)
def test_golden_encode(vector: str, pdu: Pdu) -> None:
    assert encode(pdu).hex() == unhex(strip_comments(vector)).hex()


# --- round trips -------------------------------------------------------------------------------

EVERY_PDU = [
    BindTransmitter(sequence_number=10, system_id="a" * 15, password="p" * 8, system_type="t"),
    BindReceiver(sequence_number=11, system_id="rx", address_range="^1069" + "9" * 35),
    BIND_TRANSCEIVER,
    BindTransmitterResp(sequence_number=10, system_id="SMSC", sc_interface_version=0x34),
    BindReceiverResp(sequence_number=11, command_status=S.ESME_RBINDFAIL),
    BindTransceiverResp(sequence_number=12, system_id="x", other_tlvs=((0x1400, b"v"),)),
    Unbind(sequence_number=13),
    UnbindResp(sequence_number=13),
    SUBMIT_SM_UCS2,
    SubmitSm(
        sequence_number=0x7FFFFFFF,
        service_type="CMT",
        source_addr="1" * 20,
        destination_addr="2" * 20,
        schedule_delivery_time="260101120000000+",
        validity_period="000001000000000R",
        esm_class=0x40,
        protocol_id=0x41,
        priority_flag=3,
        replace_if_present_flag=1,
        sm_default_msg_id=9,
        short_message=bytes(range(254)),
        user_message_reference=0xFFFF,
        source_port=0,
        other_tlvs=((0x1401, b""), (0x0019, b"\x00")),
    ),
    SubmitSm(sequence_number=1, data_coding=8, message_payload="长".encode("utf-16-be") * 600),
    SubmitSmResp(sequence_number=14, message_id="m" * 64),
    SubmitSmResp(sequence_number=15, command_status=S.ESME_RMSGQFUL),
    DELIVER_SM_RECEIPT,
    DeliverSm(sequence_number=16, short_message=b"hello", sar_total_segments=3),
    DeliverSmResp(sequence_number=16),
    DeliverSmResp(sequence_number=17, command_status=S.ESME_RX_T_APPN),
    DataSm(
        sequence_number=18,
        source_addr="s" * 64,
        destination_addr="d" * 64,
        esm_class=4,
        registered_delivery=1,
        data_coding=8,
        message_payload=b"\x00\x41",
        receipted_message_id="r" * 64,
        message_state=MessageState.UNDELIVERABLE,
    ),
    DataSm(sequence_number=19),
    DataSmResp(sequence_number=18, message_id="42", other_tlvs=((0x0425, b"\x01"),)),
    EnquireLink(sequence_number=20),
    EnquireLinkResp(sequence_number=20),
    GenericNack(sequence_number=0, command_status=S.ESME_RINVCMDLEN),
]


def test_every_pdu_class_is_covered() -> None:
    assert {type(pdu) for pdu in EVERY_PDU} == set(PDU_CLASSES.values())


@pytest.mark.parametrize("pdu", EVERY_PDU, ids=lambda pdu: type(pdu).__name__)
def test_round_trip(pdu: Pdu) -> None:
    frame = encode(pdu)
    assert int.from_bytes(frame[:4], "big") == len(frame)
    assert int.from_bytes(frame[4:8], "big") == pdu.command_id
    decoded = decode(frame)
    assert type(decoded) is type(pdu)
    assert decoded == pdu
    assert encode(decoded) == frame


def test_decoded_pdus_are_frozen_and_hashable() -> None:
    decoded = decode(encode(SUBMIT_SM_UCS2))
    assert isinstance(decoded, SubmitSm)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decoded.source_addr = "x"  # type: ignore[misc]
    assert hash(decoded) == hash(SUBMIT_SM_UCS2)
    assert dataclasses.replace(decoded, sequence_number=9).sequence_number == 9


# --- hypothesis round trips --------------------------------------------------------------------

U8 = st.integers(min_value=0, max_value=0xFF)
U16 = st.integers(min_value=0, max_value=0xFFFF)
U32 = st.integers(min_value=0, max_value=0xFFFFFFFF)
MESSAGE_TLV_TAGS = {
    Tlv.USER_MESSAGE_REFERENCE,
    Tlv.SOURCE_PORT,
    Tlv.DESTINATION_PORT,
    Tlv.SAR_MSG_REF_NUM,
    Tlv.SAR_TOTAL_SEGMENTS,
    Tlv.SAR_SEGMENT_SEQNUM,
    Tlv.MESSAGE_PAYLOAD,
    Tlv.RECEIPTED_MESSAGE_ID,
    Tlv.MESSAGE_STATE,
}


def c_string(max_octets: int) -> st.SearchStrategy[str]:
    """Any latin-1 text without NUL that fits a C-octet string of ``max_octets``."""
    characters = st.characters(min_codepoint=1, max_codepoint=0xFF)
    return st.text(alphabet=characters, max_size=max_octets - 1)


OTHER_TLVS = st.lists(
    st.tuples(U16.filter(lambda tag: tag not in MESSAGE_TLV_TAGS), st.binary(max_size=24)),
    max_size=3,
).map(tuple)


@st.composite
def message_pdus(draw: st.DrawFn, cls: type[ShortMessagePdu]) -> ShortMessagePdu:
    uses_payload = draw(st.booleans())
    return cls(
        sequence_number=draw(U32),
        command_status=draw(U32),
        service_type=draw(c_string(6)),
        source_addr_ton=draw(U8),
        source_addr_npi=draw(U8),
        source_addr=draw(c_string(21)),
        dest_addr_ton=draw(U8),
        dest_addr_npi=draw(U8),
        destination_addr=draw(c_string(21)),
        esm_class=draw(U8),
        protocol_id=draw(U8),
        priority_flag=draw(U8),
        schedule_delivery_time=draw(c_string(17)),
        validity_period=draw(c_string(17)),
        registered_delivery=draw(U8),
        replace_if_present_flag=draw(U8),
        data_coding=draw(U8),
        sm_default_msg_id=draw(U8),
        short_message=b"" if uses_payload else draw(st.binary(max_size=254)),
        message_payload=draw(st.binary(max_size=2000)) if uses_payload else None,
        user_message_reference=draw(st.none() | U16),
        source_port=draw(st.none() | U16),
        destination_port=draw(st.none() | U16),
        sar_msg_ref_num=draw(st.none() | U16),
        sar_total_segments=draw(st.none() | U8),
        sar_segment_seqnum=draw(st.none() | U8),
        receipted_message_id=draw(st.none() | c_string(65)),
        message_state=draw(st.none() | U8),
        other_tlvs=draw(OTHER_TLVS),
    )


@settings(max_examples=300, deadline=None)
@given(pdu=st.one_of(message_pdus(SubmitSm), message_pdus(DeliverSm)))
def test_hypothesis_round_trip_submit_and_deliver(pdu: ShortMessagePdu) -> None:
    decoded = decode(encode(pdu))
    assert type(decoded) is type(pdu)
    assert decoded == pdu


# --- malformed input: every fault names its command_status -------------------------------------


def submit_sm_body(
    *,
    service_type: bytes = b"",
    source_addr: bytes = b"10690001",
    destination_addr: bytes = b"8613800138000",
    schedule: bytes = b"",
    validity: bytes = b"",
    sm_length: int | None = None,
    short_message: bytes = b"hi",
    tlvs: bytes = b"",
) -> bytes:
    """A submit_sm body with the C-strings given raw (terminators included by the caller)."""
    length = len(short_message) if sm_length is None else sm_length
    return (
        service_type
        + b"\x00\x01"
        + source_addr
        + b"\x01\x01"
        + destination_addr
        + b"\x00\x00\x00"
        + schedule
        + validity
        + bytes([0, 0, 0, 0, length])
        + short_message
        + tlvs
    )


GOOD_BODY_KWARGS: dict[str, Any] = {
    "service_type": b"\0",
    "source_addr": b"10690001\0",
    "destination_addr": b"8613800138000\0",
    "schedule": b"\0",
    "validity": b"\0",
}


def submit_frame(**changes: Any) -> bytes:
    body = submit_sm_body(**(GOOD_BODY_KWARGS | changes))
    return pdu_frame(CommandId.SUBMIT_SM, body, sequence=77)


def bind_frame(body: bytes) -> bytes:
    return pdu_frame(CommandId.BIND_TRANSMITTER, body, sequence=78)


def test_well_formed_helpers_decode() -> None:
    assert decode(submit_frame()) == SubmitSm(
        sequence_number=77,
        source_addr_npi=1,
        source_addr="10690001",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="8613800138000",
        short_message=b"hi",
    )
    assert decode(bind_frame(b"id\0pw\0\0\x34\x00\x00\0")) == BindTransmitter(
        sequence_number=78, system_id="id", password="pw"
    )


MALFORMED = [
    pytest.param(b"\x00\x00\x00\x10\x00\x00\x00", S.ESME_RINVCMDLEN, id="shorter_than_header"),
    pytest.param(
        unhex("00000014 00000015 00000000 00000001"), S.ESME_RINVCMDLEN, id="length_over_frame"
    ),
    pytest.param(
        unhex("00000010 00000015 00000000 00000001 00000000"),
        S.ESME_RINVCMDLEN,
        id="length_under_frame",
    ),
    pytest.param(unhex("00000010 00000099 00000000 00000001"), S.ESME_RINVCMDID, id="unknown_id"),
    pytest.param(
        pdu_frame(CommandId.QUERY_SM, b"1\0\0\0\0"), S.ESME_RINVCMDID, id="unsupported_query_sm"
    ),
    pytest.param(
        pdu_frame(CommandId.ENQUIRE_LINK, b"\0"), S.ESME_RINVCMDLEN, id="enquire_link_with_body"
    ),
    pytest.param(
        pdu_frame(CommandId.SUBMIT_SM, b"\0\x00\x0110690001\0\x01"),
        S.ESME_RINVCMDLEN,
        id="truncated_after_dest_ton",
    ),
    pytest.param(
        pdu_frame(CommandId.SUBMIT_SM, b"\0\x00\x01"), S.ESME_RINVCMDLEN, id="truncated_at_source"
    ),
    pytest.param(
        submit_frame(short_message=b"", sm_length=0, validity=b"")[:-5],
        S.ESME_RINVCMDLEN,
        id="truncated_before_sm_length",
    ),
    pytest.param(submit_frame(service_type=b"CMTXXX\0"), S.ESME_RINVSERTYP, id="service_type_6"),
    pytest.param(submit_frame(source_addr=b"1" * 21 + b"\0"), S.ESME_RINVSRCADR, id="source_long"),
    pytest.param(
        pdu_frame(CommandId.SUBMIT_SM, b"\0\x00\x01" + b"1" * 15),
        S.ESME_RINVSRCADR,
        id="source_unterminated",
    ),
    pytest.param(
        submit_frame(destination_addr=b"8" * 25 + b"\0"), S.ESME_RINVDSTADR, id="destination_long"
    ),
    pytest.param(submit_frame(schedule=b"2" * 17 + b"\0"), S.ESME_RINVSCHED, id="schedule_long"),
    pytest.param(submit_frame(validity=b"0" * 17 + b"\0"), S.ESME_RINVEXPIRY, id="validity_long"),
    pytest.param(submit_frame(sm_length=3), S.ESME_RINVMSGLEN, id="sm_length_overruns"),
    pytest.param(
        submit_frame(sm_length=255, short_message=bytes(255)),
        S.ESME_RINVMSGLEN,
        id="sm_length_255",
    ),
    pytest.param(
        submit_frame(tlvs=unhex("020c 0002 01")), S.ESME_RINVOPTPARSTREAM, id="tlv_value_overruns"
    ),
    pytest.param(submit_frame(tlvs=b"\x02\x0c\x00"), S.ESME_RINVOPTPARSTREAM, id="tlv_header_cut"),
    pytest.param(
        submit_frame(tlvs=unhex("020c 0001 01")), S.ESME_RINVPARLEN, id="sar_ref_one_octet"
    ),
    pytest.param(
        submit_frame(tlvs=unhex("0427 0002 0002")), S.ESME_RINVPARLEN, id="message_state_two"
    ),
    pytest.param(
        submit_frame(tlvs=b"\x00\x1e\x00\x42" + b"7" * 65 + b"\0"),
        S.ESME_RINVPARLEN,
        id="receipted_message_id_66",
    ),
    pytest.param(
        submit_frame(tlvs=unhex("001e 0004 61006200")),
        S.ESME_RINVOPTPARAMVAL,
        id="receipted_message_id_inner_nul",
    ),
    pytest.param(
        submit_frame(tlvs=unhex("020e 0001 02 020e 0001 03")),
        S.ESME_RINVOPTPARSTREAM,
        id="duplicate_tlv",
    ),
    pytest.param(
        submit_frame(tlvs=unhex("0424 0002 4142")),
        S.ESME_RINVMSGLEN,
        id="short_message_and_payload",
    ),
    pytest.param(bind_frame(b"s" * 16 + b"\0pw\0\0\x34\0\0\0"), S.ESME_RINVSYSID, id="system_id"),
    pytest.param(bind_frame(b"id\0" + b"p" * 9 + b"\0\0\x34\0\0\0"), S.ESME_RINVPASWD, id="pw"),
    pytest.param(bind_frame(b"id\0pw\0" + b"t" * 13 + b"\x34\0\0\0"), S.ESME_RINVSYSTYP, id="type"),
    pytest.param(bind_frame(b"id\0pw\0\0\x34\0\0" + b"9" * 41), S.ESME_RINVCMDLEN, id="range"),
    pytest.param(bind_frame(b"id\0pw\0\0\x34\0\0\0\0"), S.ESME_RINVCMDLEN, id="bind_trailing"),
    pytest.param(
        pdu_frame(CommandId.SUBMIT_SM_RESP, b"x" * 65 + b"\0"), S.ESME_RINVMSGID, id="message_id"
    ),
    pytest.param(
        pdu_frame(CommandId.BIND_TRANSCEIVER_RESP, b"SMSC"), S.ESME_RINVSYSID, id="resp_system_id"
    ),
    pytest.param(
        pdu_frame(CommandId.DATA_SM, b"\0\x01\x01" + b"1" * 70),
        S.ESME_RINVSRCADR,
        id="data_sm_source",
    ),
]


@pytest.mark.parametrize(("frame", "status"), MALFORMED)
def test_malformed_frame_raises_decode_error_with_status(frame: bytes, status: int) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(frame)
    assert caught.value.status == status, caught.value.reason
    assert caught.value.reason


def test_decode_error_carries_header_fields() -> None:
    with pytest.raises(DecodeError) as caught:
        decode(submit_frame(source_addr=b"1" * 30 + b"\0"))
    error = caught.value
    assert (error.command_id, error.sequence_number) == (CommandId.SUBMIT_SM, 77)
    assert "source_addr" in error.reason
    assert "0x0A" in str(error)


def test_short_frame_error_has_no_sequence_number() -> None:
    with pytest.raises(DecodeError) as caught:
        decode(b"\x00\x00\x00\x0c\x00\x00\x00\x04\x00\x00\x00\x00")
    assert caught.value.sequence_number is None
    assert caught.value.command_id == CommandId.SUBMIT_SM


# --- lenient decoding of what real peers send --------------------------------------------------


@pytest.mark.parametrize(
    ("command_id", "cls", "status"),
    [
        (CommandId.SUBMIT_SM_RESP, SubmitSmResp, S.ESME_RSYSERR),
        (CommandId.BIND_TRANSCEIVER_RESP, BindTransceiverResp, S.ESME_RBINDFAIL),
        (CommandId.BIND_TRANSMITTER_RESP, BindTransmitterResp, S.ESME_RINVPASWD),
        (CommandId.DELIVER_SM_RESP, DeliverSmResp, 0),
        (CommandId.DATA_SM_RESP, DataSmResp, S.ESME_RDELIVERYFAILURE),
    ],
)
def test_responses_without_body_decode(command_id: int, cls: type[Pdu], status: int) -> None:
    pdu = decode(pdu_frame(command_id, b"", status=status, sequence=4))
    assert pdu == cls(sequence_number=4, command_status=status)


def test_error_submit_sm_resp_with_message_id_keeps_it() -> None:
    pdu = decode(pdu_frame(CommandId.SUBMIT_SM_RESP, b"abc\0", status=S.ESME_RTHROTTLED))
    assert pdu == SubmitSmResp(sequence_number=1, command_status=0x58, message_id="abc")
    assert encode(pdu) == pdu_frame(CommandId.SUBMIT_SM_RESP, b"abc\0", status=0x58)


def test_receipted_message_id_without_terminator_is_accepted() -> None:
    pdu = decode(submit_frame(tlvs=unhex("001e 0003 616263")))
    assert isinstance(pdu, SubmitSm)
    assert pdu.receipted_message_id == "abc"


def test_unknown_tlvs_are_kept_in_order_and_re_encoded() -> None:
    tlvs = unhex("1401 0002 abcd  020e 0001 02  0019 0001 00  1401 0000")
    frame = submit_frame(tlvs=tlvs)
    pdu = decode(frame)
    assert isinstance(pdu, SubmitSm)
    assert pdu.sar_total_segments == 2
    assert pdu.other_tlvs == ((0x1401, b"\xab\xcd"), (0x0019, b"\x00"), (0x1401, b""))
    assert decode(encode(pdu)) == pdu


def test_non_ascii_octets_in_text_fields_survive() -> None:
    pdu = decode(submit_frame(source_addr=b"\xff\xfe\x80abc\0"))
    assert isinstance(pdu, SubmitSm)
    assert pdu.source_addr == "\xff\xfe\x80abc"
    assert encode(pdu) == submit_frame(source_addr=b"\xff\xfe\x80abc\0")


def test_decode_accepts_bytearray_and_memoryview() -> None:
    frame = encode(SUBMIT_SM_UCS2)
    assert decode(bytearray(frame)) == SUBMIT_SM_UCS2
    assert decode(memoryview(frame)) == SUBMIT_SM_UCS2


# --- encode validation -------------------------------------------------------------------------

INVALID_FOR_ENCODE = [
    pytest.param(SubmitSm(sequence_number=1, source_addr="1" * 21), "source_addr", id="src_21"),
    pytest.param(SubmitSm(sequence_number=1, service_type="CMTXXX"), "service_type", id="svc"),
    pytest.param(DataSm(sequence_number=1, destination_addr="1" * 65), "destination_addr", id="ds"),
    pytest.param(SubmitSm(sequence_number=1, destination_addr="12\x003"), "NUL", id="nul"),
    pytest.param(SubmitSm(sequence_number=1, source_addr="短号"), "latin-1", id="not_latin1"),
    pytest.param(SubmitSm(sequence_number=1, esm_class=256), "esm_class", id="u8_high"),
    pytest.param(SubmitSm(sequence_number=1, data_coding=-1), "data_coding", id="u8_negative"),
    pytest.param(SubmitSm(sequence_number=2**32), "sequence_number", id="sequence"),
    pytest.param(SubmitSm(sequence_number=1, sar_msg_ref_num=0x10000), "sar_msg_ref_num", id="u16"),
    pytest.param(SubmitSm(sequence_number=1, message_state=300), "message_state", id="state"),
    pytest.param(SubmitSm(sequence_number=1, short_message=bytes(255)), "short_message", id="255"),
    pytest.param(
        SubmitSm(sequence_number=1, short_message=b"a", message_payload=b"b"),
        "message_payload",
        id="both_bodies",
    ),
    pytest.param(
        SubmitSm(sequence_number=1, message_payload=bytes(0x10000)), "message_payload", id="64k"
    ),
    pytest.param(
        SubmitSm(sequence_number=1, receipted_message_id="r" * 65), "receipted", id="receipt_id"
    ),
    pytest.param(
        SubmitSm(sequence_number=1, other_tlvs=((Tlv.SAR_MSG_REF_NUM, b"\0\1"),)),
        "sar_msg_ref_num",
        id="typed_tag_in_other",
    ),
    pytest.param(
        SubmitSm(sequence_number=1, other_tlvs=((0x10000, b""),)), "other_tlvs", id="tag_range"
    ),
    pytest.param(BindTransmitter(sequence_number=1, password="123456789"), "password", id="pw"),
    pytest.param(BindReceiverResp(sequence_number=1, system_id="s" * 16), "system_id", id="resp"),
    pytest.param(SubmitSmResp(sequence_number=1, message_id="m" * 65), "message_id", id="msgid"),
    pytest.param(
        BindTransceiverResp(sequence_number=1, sc_interface_version=256),
        "sc_interface_version",
        id="sc_version",
    ),
]


@pytest.mark.parametrize(("pdu", "field_name"), INVALID_FOR_ENCODE)
def test_encode_rejects_values_that_do_not_fit(pdu: Pdu, field_name: str) -> None:
    with pytest.raises(ValueError, match=field_name):
        encode(pdu)


@pytest.mark.parametrize(
    "pdu",
    [
        SubmitSm(sequence_number=1, source_addr=b"123"),  # type: ignore[arg-type]
        SubmitSm(sequence_number=1, short_message="text"),  # type: ignore[arg-type]
        SubmitSm(sequence_number=1, esm_class=1.5),  # type: ignore[arg-type]
        SubmitSm(sequence_number=1, other_tlvs=((0x1400, "text"),)),  # type: ignore[arg-type]
    ],
)
def test_encode_rejects_wrongly_typed_fields(pdu: Pdu) -> None:
    with pytest.raises(TypeError):
        encode(pdu)


def test_encode_rejects_objects_that_are_not_pdus() -> None:
    with pytest.raises(TypeError, match="not an SMPP PDU"):
        encode(object())  # type: ignore[arg-type]


# --- responses ---------------------------------------------------------------------------------


def test_response_for_echoes_sequence_and_fills_fields() -> None:
    response = response_for(SUBMIT_SM_UCS2, message_id="abc")
    assert response == SubmitSmResp(sequence_number=2, message_id="abc")
    refused = response_for(BIND_TRANSCEIVER, command_status=S.ESME_RBINDFAIL)
    assert refused == BindTransceiverResp(sequence_number=1, command_status=S.ESME_RBINDFAIL)


def test_is_response_reads_bit_31() -> None:
    assert is_response(CommandId.GENERIC_NACK)
    assert is_response(CommandId.SUBMIT_SM_RESP)
    assert not is_response(CommandId.SUBMIT_SM)
    assert not is_response(CommandId.OUTBIND)


def test_response_for_refuses_a_response() -> None:
    with pytest.raises(ValueError):
        response_for(SUBMIT_SM_RESP)


def test_every_request_maps_to_a_response_class() -> None:
    for command_id, response_class in REQUEST_TO_RESPONSE.items():
        assert response_class.command_id == command_id | 0x80000000


def test_error_response_answers_known_requests_with_their_resp() -> None:
    with pytest.raises(DecodeError) as caught:
        decode(submit_frame(destination_addr=b"9" * 30 + b"\0"))
    assert error_response(caught.value) == SubmitSmResp(
        sequence_number=77, command_status=S.ESME_RINVDSTADR
    )


@pytest.mark.parametrize(
    "frame",
    [
        unhex("00000010 00000099 00000000 00000005"),  # unknown command
        pdu_frame(CommandId.SUBMIT_SM_RESP, b"x" * 70, sequence=5),  # broken response
    ],
)
def test_error_response_is_generic_nack_otherwise(frame: bytes) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(frame)
    response = error_response(caught.value)
    assert response == GenericNack(sequence_number=5, command_status=caught.value.status)


def test_error_response_without_header_uses_sequence_zero() -> None:
    with pytest.raises(DecodeError) as caught:
        decode(b"\x00\x00")
    assert error_response(caught.value) == GenericNack(
        sequence_number=0, command_status=S.ESME_RINVCMDLEN
    )


def _oversized(value: object) -> object:
    if isinstance(value, str):
        return "x" * 300
    if isinstance(value, bytes):
        return bytes(0x10001)
    return 2**32


@pytest.mark.parametrize("cls", list(PDU_CLASSES.values()), ids=lambda cls: cls.__name__)
def test_every_field_of_every_pdu_is_validated_by_name(cls: type[Pdu]) -> None:
    """Adding a field without teaching the encoder its limits makes this fail."""
    for field in dataclasses.fields(cls):
        if field.name in ("other_tlvs", "command_status"):
            continue
        sample = cls(sequence_number=1)
        default = getattr(sample, field.name)
        if default is None:  # an optional TLV: try an integer, unless it holds text or octets
            default = {"message_payload": b"", "receipted_message_id": ""}.get(field.name, 0)
        oversized = dataclasses.replace(sample, **{field.name: _oversized(default)})
        with pytest.raises(ValueError, match=field.name):
            encode(oversized)


def test_submit_template_splices_the_destination_exactly_as_encode_would() -> None:
    from carriers.smpp.codec import SubmitTemplate

    pdu = SubmitSm(sequence_number=0, source_addr="10658000", dest_addr_ton=1,
                   dest_addr_npi=1, destination_addr="13800138000", esm_class=0x40,
                   registered_delivery=1, data_coding=8,
                   short_message=bytes.fromhex("050003070201") + "手机报".encode("utf-16-be"),
                   sar_msg_ref_num=7)
    template = SubmitTemplate(pdu)
    for number in ("13800138000", "8613912345678", ""):
        from dataclasses import replace as copy_with

        assert template.frame(number) == encode(copy_with(pdu, destination_addr=number))
    with pytest.raises(ValueError, match="20 octets"):
        template.frame("1" * 21)


@given(sequence=st.integers(0, 0x7FFFFFFF), status=st.sampled_from(list(S)))
def test_encode_deliver_sm_resp_is_encode_of_the_pdu(sequence: int, status: int) -> None:
    expected = encode(DeliverSmResp(sequence_number=sequence, command_status=status))
    assert encode_deliver_sm_resp(sequence, status) == expected
    assert encode_deliver_sm_resp(sequence) == encode(DeliverSmResp(sequence_number=sequence))
