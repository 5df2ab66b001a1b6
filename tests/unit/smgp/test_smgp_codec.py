"""SMGP 3.0 codec: golden byte vectors written by hand from docs/protocols.md §4 (there is no
Wireshark dissector for SMGP), round trips, malformed input with its Status, encode checks,
and a cross-check of the parts SMGP shares with the CMPP codec."""

from __future__ import annotations

import dataclasses

import pytest

from carriers.cmpp import codec as cmpp_codec
from carriers.cmpp import pdus as cmpp_pdus
from carriers.errors import DecodeError
from carriers.smgp.codec import MAX_PDU_LENGTH, SubmitTemplate, decode, encode
from carriers.smgp.pdus import (
    HEADER_LENGTH,
    PDU_CLASSES,
    SEQUENCE_OFFSET,
    ActiveTest,
    ActiveTestResp,
    Deliver,
    DeliverResp,
    Exit,
    ExitResp,
    Login,
    LoginResp,
    Pdu,
    RequestId,
    Status,
    Submit,
    SubmitResp,
    Tlv,
    error_response,
    is_response,
    response_for,
)

from . import unhex

MSG_ID = bytes.fromhex("01006101161700012345")  # §4.6's example: 010061, 01-16 17:00, 012345

# --- golden vectors, by hand from docs/protocols.md §4 ------------------------------------------

LOGIN_HEX = """
    0000002a 00000001 00000001          # §4.1 PacketLength 42 (§4.3: body 30), Login, seq 1
    31323334 35363738                   # §4.3 ClientID "12345678" (8)
    00010203 04050607 08090a0b 0c0d0e0f # §4.3 AuthenticatorClient (16)
    02                                  # §4.3 LoginMode 2 transmit
    11f0e540                            # §4.3 TimeStamp 0x11F0E540 = "0301000000"
    30                                  # §4.2/§4.3 ClientVersion 0x30
"""
LOGIN = Login(sequence_id=1, client_id="12345678", authenticator_client=bytes(range(16)),
              login_mode=2, timestamp=301000000, client_version=0x30)

LOGIN_RESP_HEX = """
    00000021 80000001 00000001          # §4.1 PacketLength 33, Login_Resp (§4.2), seq 1
    00000000                            # §4.3 Status 0 (4)
    f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff # §4.3 AuthenticatorServer (16)
    30                                  # §4.3 ServerVersion
"""
LOGIN_RESP = LoginResp(sequence_id=1, status=0, authenticator_server=bytes(range(0xF0, 0x100)),
                       server_version=0x30)
LOGIN_REFUSED_HEX = """
    00000021 80000001 00000002          # Login_Resp, seq 2
    00000015                            # §4.8 Status 21 authentication failed
    00*16                               # §4.3 AuthenticatorServer empty on failure
    30
"""
LOGIN_REFUSED = LoginResp(sequence_id=2, status=21)

SUBMIT_HEX = """
    00000097 00000002 00000002          # §4.1 PacketLength 151 = 12 + 114 + 21 + 4 (§4.4)
    06                                  # §4.4 MsgType 6 MT
    01                                  # §4.4 NeedReport 1
    01                                  # §4.4 Priority 1 normal
    4e455753 00*6                       # §4.4 ServiceID "NEWS" (10)
    3031                                # §4.4 FeeType "01" per message (2)
    303030303130                        # §4.4 FeeCode "000010" (6)
    303030303030                        # §4.4 FixedFee "000000" (6)
    08                                  # §4.4 MsgFormat 8 UCS2
    00*17                               # §4.4 ValidTime "" (17)
    00*17                               # §4.4 AtTime "" (17)
    31303639 30303031 00*13             # §4.4 SrcTermID "10690001" (21)
    00*21                               # §4.4 ChargeTermID "" (21)
    01                                  # §4.4 DestTermIDCount 1
    31333330 30303030 303030 00*10      # §4.4 DestTermID "13300000000" (21)
    04                                  # §4.4 MsgLength 4
    4f60597d                            # §4.4 MsgContent "你好" UTF-16BE
    00*8                                # §4.4 Reserve (8)
"""
SUBMIT = Submit(sequence_id=2, msg_type=6, need_report=1, priority=1, service_id="NEWS",
                fee_type="01", fee_code="000010", fixed_fee="000000", msg_format=8,
                src_term_id="10690001", dest_term_ids=("13300000000",),
                msg_content="你好".encode("utf-16-be"))

SUBMIT_TLV_HEX = """
    000000d6 00000002 00000003          # §4.1 PacketLength 214 = 12 + 114 + 21 + 10 + 57 TLVs
    06 01 01                            # §4.4 MsgType 6, NeedReport 1, Priority 1
    4e455753 00*6                       # ServiceID "NEWS"
    3030 303030303030 303030303030      # FeeType "00" free, FeeCode, FixedFee "000000"
    08                                  # MsgFormat 8 UCS2
    00*17 00*17                         # ValidTime, AtTime
    31303639 30303031 00*13             # SrcTermID "10690001"
    00*21                               # ChargeTermID ""
    01                                  # DestTermIDCount 1
    31333330 30303030 303030 00*10      # DestTermID "13300000000"
    0a                                  # MsgLength 10
    05 00 03 2a 02 01                   # §5.1 UDH: concatenation, ref 0x2a, 2 parts, part 1
    65e9 4e0a                           # "早上" UTF-16BE
    00*8                                # Reserve
    0002 0001 01                        # §4.7 TP_udhi = 1
    0003 0014 4c4b31 00*17              # §4.7 LinkID "LK1" (20)
    0009 0001 02                        # §4.7 PkTotal 2
    000a 0001 01                        # §4.7 PkNumber 1
    0010 0008 3132333435363738          # §4.7 MsgSrc "12345678" (8)
    0099 0002 abcd                      # an unknown tag, kept as it came
"""
SUBMIT_TLV = Submit(sequence_id=3, need_report=1, priority=1, service_id="NEWS",
                    fee_type="00", msg_format=8, src_term_id="10690001",
                    dest_term_ids=("13300000000",),
                    msg_content=bytes.fromhex("0500032a0201") + "早上".encode("utf-16-be"),
                    tp_udhi=1, link_id="LK1", pk_total=2, pk_number=1, msg_src="12345678",
                    tlvs=(Tlv(0x0099, b"\xab\xcd"),))

SUBMIT_RESP_HEX = """
    0000001a 80000002 00000002          # §4.1 PacketLength 26, Submit_Resp, seq 2
    01006101 16170001 2345              # §4.6 MsgID (10, BCD)
    00000000                            # §4.8 Status 0
"""
SUBMIT_RESP = SubmitResp(sequence_id=2, msg_id=MSG_ID, status=0)

DELIVER_MO_HEX = """
    00000075 00000003 00000009          # §4.1 PacketLength 117 = 12 + 77 + 4 + 24 (§4.5)
    01006101 16170001 2345              # §4.5 MsgID (10)
    00                                  # §4.5 IsReport 0 (MO)
    08                                  # §4.5 MsgFormat 8
    32303236 30313136 31373030 3030     # §4.5 RecvTime "20260116170000" (14)
    31333330 30303030 303030 00*10      # §4.5 SrcTermID "13300000000" (21)
    31303639 30303031 00*13             # §4.5 DestTermID "10690001" (21)
    04                                  # §4.5 MsgLength 4
    4f60597d                            # MsgContent "你好"
    00*8                                # Reserve
    0003 0014 4c4b32 00*17              # §4.7 LinkID "LK2"
"""
DELIVER_MO = Deliver(sequence_id=9, msg_id=MSG_ID, is_report=0, msg_format=8,
                     recv_time="20260116170000", src_term_id="13300000000",
                     dest_term_id="10690001", msg_content="你好".encode("utf-16-be"),
                     link_id="LK2")

REPORT_HEX = """
    69643a 01006101 16170001 2345       # §4.6 "id:" + MsgID (10 binary)
    20 7375623a 303031                  # " sub:" "001"
    20 646c7672643a 303031              # " dlvrd:" "001"
    20 7375626d6974 20 646174653a       # " submit date:"
    32363031 31363137 3030              #   "2601161700"
    20 646f6e65 20 646174653a           # " done date:"
    32363031 31363137 3031              #   "2601161701"
    20 737461743a 44454c49565244        # " stat:" "DELIVRD"
    20 6572723a 303030                  # " err:" "000"
    20 746578743a 00*20                 # " text:" (20)
"""
DELIVER_REPORT_HEX = f"""
    000000d3 00000003 0000000a          # §4.1 PacketLength 211 = 12 + 77 + 122 (§4.5, §4.6)
    05006101 16170100 0001              # §4.5 MsgID of the Deliver itself
    01                                  # §4.5 IsReport 1
    00                                  # MsgFormat 0
    32303236 30313136 31373031 3030     # RecvTime "20260116170100"
    31333330 30303030 303030 00*10      # SrcTermID: the handset
    31303639 30303031 00*13             # DestTermID: the SP number
    7a                                  # MsgLength 122 (§4.6)
    {REPORT_HEX}
    00*8                                # Reserve
"""
DELIVER_RESP_HEX = """
    0000001a 80000003 0000000a          # §4.1 PacketLength 26, Deliver_Resp, seq 10
    05006101 16170100 0001              # §4.5 MsgID echoed
    00000000                            # §4.8 Status 0
"""
DELIVER_RESP = DeliverResp(sequence_id=10, msg_id=bytes.fromhex("05006101161701000001"))

HEADER_ONLY = [
    ("0000000c 00000004 00000005  # §4.2 Active_Test, §4.3 header only", ActiveTest(sequence_id=5)),
    ("0000000c 80000004 00000005", ActiveTestResp(sequence_id=5)),
    ("0000000c 00000006 00000006  # §4.2 Exit", Exit(sequence_id=6)),
    ("0000000c 80000006 00000006", ExitResp(sequence_id=6)),
]

VECTORS: list[tuple[str, Pdu]] = [
    (LOGIN_HEX, LOGIN),
    (LOGIN_RESP_HEX, LOGIN_RESP),
    (LOGIN_REFUSED_HEX, LOGIN_REFUSED),
    (SUBMIT_HEX, SUBMIT),
    (SUBMIT_TLV_HEX, SUBMIT_TLV),
    (SUBMIT_RESP_HEX, SUBMIT_RESP),
    (DELIVER_MO_HEX, DELIVER_MO),
    (DELIVER_RESP_HEX, DELIVER_RESP),
    *HEADER_ONLY,
]


@pytest.mark.parametrize(("vector", "pdu"), VECTORS,
                         ids=[type(pdu).__name__ for _, pdu in VECTORS])
def test_golden_vector_encodes_and_decodes(vector: str, pdu: Pdu) -> None:
    frame = unhex(vector)
    assert encode(pdu) == frame
    assert decode(frame) == pdu


def test_every_pdu_class_has_a_golden_vector() -> None:
    covered = {type(pdu) for _, pdu in VECTORS}
    assert covered == set(PDU_CLASSES.values())


def test_report_deliver_golden_vector() -> None:
    from carriers.smgp.reports import SmgpReport, decode_report

    frame = unhex(DELIVER_REPORT_HEX)
    pdu = decode(frame)
    assert isinstance(pdu, Deliver)
    assert pdu.is_report == 1
    assert len(pdu.msg_content) == 122
    assert decode_report(pdu.msg_content) == SmgpReport(
        msg_id=MSG_ID, stat="DELIVRD", submit_date="2601161700", done_date="2601161701")
    assert encode(pdu) == frame


def test_tlvs_in_any_order_decode_to_the_same_fields() -> None:
    frame = bytearray(unhex(SUBMIT_TLV_HEX))
    tlvs_start = len(frame) - 57
    udhi, link, total, number, src, unknown = (
        frame[tlvs_start:tlvs_start + 5], frame[tlvs_start + 5:tlvs_start + 29],
        frame[tlvs_start + 29:tlvs_start + 34], frame[tlvs_start + 34:tlvs_start + 39],
        frame[tlvs_start + 39:tlvs_start + 51], frame[tlvs_start + 51:])
    frame[tlvs_start:] = unknown + number + src + total + link + udhi
    assert decode(bytes(frame)) == SUBMIT_TLV


def test_sequence_id_sits_at_offset_8() -> None:
    frame = encode(dataclasses.replace(SUBMIT, sequence_id=0x01020304))
    assert frame[SEQUENCE_OFFSET:SEQUENCE_OFFSET + 4] == b"\x01\x02\x03\x04"
    assert HEADER_LENGTH == 12


def test_submit_template_fills_in_the_destination() -> None:
    template = SubmitTemplate(SUBMIT_TLV)
    frame = template.frame("13311112222")
    assert decode(frame) == dataclasses.replace(SUBMIT_TLV, sequence_id=0,
                                                dest_term_ids=("13311112222",))
    with pytest.raises(ValueError, match="at most 21"):
        template.frame("1" * 22)
    with pytest.raises(ValueError, match="one destination"):
        SubmitTemplate(dataclasses.replace(SUBMIT, dest_term_ids=("1", "2")))


def test_group_submit_round_trips() -> None:
    submit = dataclasses.replace(SUBMIT, dest_term_ids=tuple(f"1330000{n:04d}" for n in range(100)))
    frame = encode(submit)
    assert len(frame) == 12 + 114 + 21 * 100 + 4
    assert decode(frame) == submit


def test_responses_and_requests() -> None:
    assert is_response(RequestId.LOGIN_RESP) and not is_response(RequestId.LOGIN)
    assert response_for(SUBMIT, msg_id=MSG_ID) == SubmitResp(sequence_id=2, msg_id=MSG_ID)
    assert response_for(DELIVER_MO, 1) == DeliverResp(sequence_id=9, msg_id=MSG_ID, status=1)
    assert response_for(Exit(sequence_id=4)) == ExitResp(sequence_id=4)
    assert response_for(ActiveTest(sequence_id=4)) == ActiveTestResp(sequence_id=4)
    assert response_for(LOGIN, 21) == LoginResp(sequence_id=1, status=21)
    with pytest.raises(ValueError):
        response_for(ActiveTest(sequence_id=4), 1)
    with pytest.raises(ValueError):
        response_for(SUBMIT_RESP)


# --- malformed input: the Status each fault is answered with (§4.8) ----------------------------


def _fails(frame: bytes) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode(frame)
    return caught.value


def _with_length(frame: bytes | bytearray) -> bytes:
    frame = bytearray(frame)
    frame[0:4] = len(frame).to_bytes(4, "big")
    return bytes(frame)


def test_short_header_is_bad_structure_without_an_answer() -> None:
    error = _fails(b"\x00\x00\x00\x0a\x00\x00\x00\x02\x00\x00")
    assert error.status == Status.BAD_STRUCTURE
    assert error.sequence_number is None
    assert error_response(error) is None


def test_packet_length_mismatch_is_bad_structure() -> None:
    frame = unhex(SUBMIT_HEX)
    error = _fails(frame[:-1])
    assert error.status == Status.BAD_STRUCTURE
    assert error_response(error) == SubmitResp(sequence_id=2, status=10)


def test_unknown_request_id_is_bad_command_and_unanswered() -> None:
    error = _fails(unhex("0000000c 00000007 00000001  # Query: not supported"))
    assert error.status == Status.BAD_COMMAND
    assert error_response(error) is None


def test_msg_length_past_the_body_is_bad_msg_length() -> None:
    frame = bytearray(unhex(SUBMIT_HEX))
    frame[12 + 105 + 21] = 200
    error = _fails(bytes(frame))
    assert error.status == Status.BAD_MSG_LENGTH
    assert error_response(error) == SubmitResp(sequence_id=2, status=36)


@pytest.mark.parametrize(("offset", "status"), [
    (12 + 3, Status.BAD_SERVICE_ID),
    (12 + 13, Status.BAD_FEE_TYPE),
    (12 + 15, Status.BAD_FEE_CODE),
    (12 + 21, Status.BAD_FIXED_FEE),
    (12 + 28, Status.BAD_VALID_TIME),
    (12 + 45, Status.BAD_AT_TIME),
    (12 + 62, Status.BAD_SRC_TERM_ID),
    (12 + 83, Status.BAD_CHARGE_TERM_ID),
    (12 + 105, Status.BAD_DEST_TERM_ID),
])
def test_non_ascii_submit_field_gets_its_own_status(offset: int, status: int) -> None:
    frame = bytearray(unhex(SUBMIT_HEX))
    frame[offset] = 0xC8
    assert _fails(bytes(frame)).status == status


@pytest.mark.parametrize("count", [0, 101])
def test_dest_term_id_count_out_of_range_is_bad_structure(count: int) -> None:
    frame = bytearray(unhex(SUBMIT_HEX))
    frame[12 + 104] = count
    assert _fails(bytes(frame)).status == Status.BAD_STRUCTURE


@pytest.mark.parametrize("tail", [
    "0002",                 # a TLV header cut short
    "0003 0014 4c4b",       # a value running past the frame
    "0002 0002 0101",       # TP_udhi of 2 octets
    "0003 0015" + "41" * 21,  # LinkID over 20 octets
    "0002 0001 01 0002 0001 01",  # TP_udhi twice
])
def test_bad_tlvs_are_bad_structure(tail: str) -> None:
    frame = _with_length(unhex(SUBMIT_HEX) + bytes.fromhex(tail.replace(" ", "")))
    assert _fails(frame).status == Status.BAD_STRUCTURE


def test_truncated_deliver_is_answered_echoing_its_msg_id() -> None:
    frame = _with_length(unhex(DELIVER_MO_HEX)[:40])
    error = _fails(frame)
    assert error.status == Status.BAD_STRUCTURE
    assert error_response(error, frame=frame) == DeliverResp(sequence_id=9, msg_id=MSG_ID,
                                                             status=10)


def test_login_of_the_wrong_length_gets_a_login_resp() -> None:
    frame = _with_length(unhex(LOGIN_HEX) + b"\x00" * 2)  # 32 octets, not §4.3's 30
    error = _fails(frame)
    assert error_response(error) == LoginResp(sequence_id=1, status=10)


def test_header_only_pdu_with_a_body_is_bad_structure_and_answered() -> None:
    error = _fails(unhex("0000000d 00000004 00000005 00"))
    assert error.status == Status.BAD_STRUCTURE
    assert error_response(error) == ActiveTestResp(sequence_id=5)
    error = _fails(unhex("0000000d 00000006 00000005 00"))
    assert error_response(error) == ExitResp(sequence_id=5)


def test_undecodable_response_is_not_answered() -> None:
    error = _fails(unhex("0000000d 80000002 00000005 00"))
    assert error_response(error) is None


def test_text_field_is_cut_at_its_first_nul() -> None:
    frame = bytearray(unhex(SUBMIT_HEX))
    frame[12 + 62 + 10] = 0xFF  # junk after SrcTermID's terminator
    pdu = decode(bytes(frame))
    assert isinstance(pdu, Submit) and pdu.src_term_id == "10690001"


# --- encoding refuses what does not fit ------------------------------------------------------


@pytest.mark.parametrize(("change", "error"), [
    ({"service_id": "X" * 11}, ValueError),
    ({"src_term_id": "号码"}, ValueError),
    ({"dest_term_ids": ()}, ValueError),
    ({"dest_term_ids": ["1"]}, TypeError),
    ({"msg_content": b"x" * 256}, ValueError),
    ({"msg_content": "text"}, TypeError),
    ({"priority": 256}, ValueError),
    ({"tp_udhi": -1}, ValueError),
    ({"link_id": "L" * 21}, ValueError),
    ({"msg_src": "123456789"}, ValueError),
    ({"tlvs": (Tlv(0x0002, b"\x01"),)}, ValueError),
    ({"tlvs": (Tlv(0x10000, b""),)}, ValueError),
    ({"reserve": b""}, ValueError),
    ({"sequence_id": 1 << 32}, ValueError),
])
def test_encode_refuses_values_that_do_not_fit(change: dict, error: type) -> None:
    with pytest.raises(error):
        encode(dataclasses.replace(SUBMIT, **change))


def test_encode_refuses_objects_that_are_not_smgp_pdus() -> None:
    with pytest.raises(TypeError):
        encode(cmpp_pdus.ActiveTest(sequence_id=1))  # type: ignore[arg-type]


def test_frames_over_the_maximum_are_refused() -> None:
    big = dataclasses.replace(SUBMIT, tlvs=(Tlv(0x0099, b"x" * MAX_PDU_LENGTH),))
    with pytest.raises(ValueError, match="maximum"):
        encode(big)


# --- cross-check against the CMPP codec ------------------------------------------------------


def test_common_parts_match_the_cmpp_codec() -> None:
    """The same UDH and UCS2 text travel as the same Msg_Content octets, with the same coding
    number, and both headers are PacketLength | id | sequence in 12 octets."""
    content = bytes.fromhex("0500032a0201") + "早上好".encode("utf-16-be")
    smgp_frame = encode(dataclasses.replace(SUBMIT, msg_content=content, tp_udhi=1,
                                            pk_total=2, pk_number=1))
    cmpp_frame = cmpp_codec.encode(cmpp_pdus.Submit(
        sequence_id=2, pk_total=2, pk_number=1, tp_udhi=1, msg_fmt=8,
        dest_terminal_ids=("13300000000",), msg_content=content), cmpp_pdus.Version.V30)
    smgp_pdu = decode(smgp_frame)
    cmpp_pdu = cmpp_codec.decode(cmpp_frame, cmpp_pdus.Version.V30)
    assert isinstance(smgp_pdu, Submit) and isinstance(cmpp_pdu, cmpp_pdus.Submit)
    assert smgp_pdu.msg_content == cmpp_pdu.msg_content == content
    assert content in smgp_frame and content in cmpp_frame
    assert smgp_pdu.msg_format == cmpp_pdu.msg_fmt == 8
    assert (smgp_pdu.tp_udhi, smgp_pdu.pk_total, smgp_pdu.pk_number) == (
        cmpp_pdu.tp_udhi, cmpp_pdu.pk_total, cmpp_pdu.pk_number)
    for frame in (smgp_frame, cmpp_frame):
        assert int.from_bytes(frame[0:4], "big") == len(frame)
        assert int.from_bytes(frame[8:12], "big") == 2
