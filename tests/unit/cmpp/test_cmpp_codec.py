"""CMPP 2.0 / 3.0 codec: golden byte vectors, round trips, malformed input, encode validation."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carriers.cmpp.codec import MAX_PDU_LENGTH, SubmitTemplate, decode, encode, max_pdu_length
from carriers.cmpp.pdus import (
    HEADER_LENGTH,
    PDU_CLASSES,
    SEQUENCE_OFFSET,
    ActiveTest,
    ActiveTestResp,
    CommandId,
    Connect,
    ConnectResp,
    ConnectStatus,
    Deliver,
    DeliverResp,
    Pdu,
    Submit,
    SubmitResp,
    SubmitResult,
    Terminate,
    TerminateResp,
    Version,
    error_response,
    is_response,
    response_for,
)
from carriers.errors import DecodeError

from . import unhex

V20 = Version.V20
V30 = Version.V30

# --- golden vectors, written out by hand from docs/wire-formats.md §2 ------------------------

CONNECT_30_HEX = """
    00000027 00000001 00000001          # Total_Length 39, CONNECT, Sequence_Id 1
    393031323334                        # Source_Addr "901234" (6)
    00010203 04050607 08090a0b 0c0d0e0f # AuthenticatorSource (16)
    30                                  # Version 3.0
    11f0e540                            # Timestamp 301000000 ("0301000000")
"""
CONNECT_30 = Connect(
    sequence_id=1,
    source_addr="901234",
    authenticator_source=bytes(range(16)),
    version=0x30,
    timestamp=301000000,
)
CONNECT_20_HEX = """
    00000027 00000001 00000001          # the same layout in 2.0
    393031323334                        # Source_Addr "901234"
    00010203 04050607 08090a0b 0c0d0e0f # AuthenticatorSource
    20                                  # Version 2.0
    49632b77                            # Timestamp 1231235959
"""
CONNECT_20 = dataclasses.replace(CONNECT_30, version=0x20, timestamp=1231235959)

CONNECT_RESP_20_HEX = """
    0000001e 80000001 00000001          # Total_Length 30, CONNECT_RESP, Sequence_Id 1
    03                                  # Status 3 authentication failed (1 octet in 2.0)
    00*16                               # AuthenticatorISMG all zeros on failure
    20                                  # Version 2.0
"""
CONNECT_RESP_20 = ConnectResp(sequence_id=1, status=3, version=0x20)
CONNECT_RESP_30_HEX = """
    00000021 80000001 00000001          # Total_Length 33, CONNECT_RESP, Sequence_Id 1
    00000000                            # Status 0 (4 octets in 3.0)
    f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff # AuthenticatorISMG
    30                                  # Version 3.0
"""
CONNECT_RESP_30 = ConnectResp(
    sequence_id=1, status=0, authenticator_ismg=bytes(range(0xF0, 0x100)), version=0x30
)

TERMINATE_HEX = "0000000c 00000002 00000007  # header only"
TERMINATE = Terminate(sequence_id=7)
TERMINATE_RESP_HEX = "0000000c 80000002 00000007"
TERMINATE_RESP = TerminateResp(sequence_id=7)
ACTIVE_TEST_HEX = "0000000c 00000008 0000000a"
ACTIVE_TEST = ActiveTest(sequence_id=10)
ACTIVE_TEST_RESP_HEX = "0000000d 80000008 0000000a 00  # Reserved 1 octet"
ACTIVE_TEST_RESP = ActiveTestResp(sequence_id=10)

SUBMIT_20_HEX = """
    000000a3 00000004 00000002          # Total_Length 163 = 12 + 126 + 21 + 4, SUBMIT, seq 2
    00000000 00000000                   # Msg_Id 0 (8)
    01 01                               # Pk_total 1, Pk_number 1
    01                                  # Registered_Delivery 1
    01                                  # Msg_level 1
    4e455753 00*6                       # Service_Id "NEWS" (10)
    02                                  # Fee_UserType 2 (charge the SP)
    00*21                               # Fee_terminal_Id "" (21 in 2.0; no type octet)
    00 00 08                            # TP_pId 0, TP_udhi 0, Msg_Fmt 8 (UCS2)
    393031323334                        # Msg_src "901234" (6)
    3032                                # FeeType "02" (2)
    303030303130                        # FeeCode "000010" (6)
    00*17                               # ValId_Time "" (17)
    00*17                               # At_Time "" (17)
    31303639 30303031 00*13             # Src_Id "10690001" (21)
    01                                  # DestUsr_tl 1
    31333830 30313338 303030 00*10      # Dest_terminal_Id "13800138000" (21; no type octet)
    04                                  # Msg_Length 4
    4f60597d                            # Msg_Content "你好" in UTF-16BE
    00*8                                # Reserve (8 in 2.0)
"""
SUBMIT_20 = Submit(
    sequence_id=2,
    registered_delivery=1,
    msg_level=1,
    service_id="NEWS",
    fee_user_type=2,
    msg_fmt=8,
    msg_src="901234",
    fee_type="02",
    fee_code="000010",
    src_id="10690001",
    dest_terminal_ids=("13800138000",),
    msg_content="你好".encode("utf-16-be"),
)

SUBMIT_30_HEX = """
    000000e7 00000004 00000003          # Total_Length 231 = 12 + 151 + 2*32 + 4, seq 3
    00000000 00000000                   # Msg_Id 0
    01 01 01 01                         # Pk_total, Pk_number, Registered_Delivery, Msg_level
    4e455753 00*6                       # Service_Id "NEWS" (10)
    03                                  # Fee_UserType 3 (charge Fee_terminal_Id)
    31333830 30313338 303030 00*21      # Fee_terminal_Id "13800138000" (32 in 3.0)
    01                                  # Fee_terminal_type 1 pseudo-number (3.0 only)
    00 00 08                            # TP_pId, TP_udhi, Msg_Fmt 8
    393031323334                        # Msg_src "901234"
    3032 303030303130                   # FeeType "02", FeeCode "000010"
    00*17 00*17                         # ValId_Time "", At_Time ""
    31303639 30303031 00*13             # Src_Id "10690001" (21 in both versions)
    02                                  # DestUsr_tl 2
    31333830 30313338 303030 00*21      # Dest_terminal_Id "13800138000" (32)
    38363133 39303031 33393030 30 00*19 # Dest_terminal_Id "8613900139000" (32)
    00                                  # Dest_terminal_type 0 (3.0 only)
    04 4f60597d                         # Msg_Length 4, Msg_Content
    4c494e4b 31 00*15                   # LinkID "LINK1" (20 in 3.0)
"""
SUBMIT_30 = dataclasses.replace(
    SUBMIT_20,
    sequence_id=3,
    fee_user_type=3,
    fee_terminal_id="13800138000",
    fee_terminal_type=1,
    dest_terminal_ids=("13800138000", "8613900139000"),
    link_id="LINK1",
)

SUBMIT_RESP_20_HEX = """
    00000015 80000004 00000002          # Total_Length 21, SUBMIT_RESP, seq 2
    01234567 89abcdef                   # Msg_Id
    08                                  # Result 8 flow control (1 octet in 2.0)
"""
SUBMIT_RESP_20 = SubmitResp(sequence_id=2, msg_id=0x0123456789ABCDEF, result=8)
SUBMIT_RESP_30_HEX = """
    00000018 80000004 00000003          # Total_Length 24, SUBMIT_RESP, seq 3
    01234567 89abcdef                   # Msg_Id
    00000000                            # Result 0 (4 octets in 3.0)
"""
SUBMIT_RESP_30 = SubmitResp(sequence_id=3, msg_id=0x0123456789ABCDEF, result=0)

DELIVER_20_HEX = """
    00000057 00000005 00000005          # Total_Length 87 = 12 + 73 + 2, DELIVER, seq 5
    01234567 89abcdef                   # Msg_Id
    31303639 30303031 00*13             # Dest_Id "10690001" (21)
    4e455753 00*6                       # Service_Id "NEWS" (10)
    00 00 0f                            # TP_pid 0, TP_udhi 0, Msg_Fmt 15 (GBK)
    31333830 30313338 303030 00*10      # Src_terminal_Id "13800138000" (21 in 2.0)
    00                                  # Registered_Delivery 0: an MO message
    02 5444                             # Msg_Length 2, Msg_Content "TD"
    00*8                                # Reserved (8 in 2.0)
"""
DELIVER_20 = Deliver(
    sequence_id=5,
    msg_id=0x0123456789ABCDEF,
    dest_id="10690001",
    service_id="NEWS",
    msg_fmt=15,
    src_terminal_id="13800138000",
    msg_content=b"TD",
)

REPORT_71_HEX = """
    01234567 89abcdef                   # report Msg_Id (the SUBMIT_RESP's)
    44454c49 565244                     # Stat "DELIVRD" (7)
    32363031 30313132 3030              # Submit_time "2601011200" (10)
    32363031 30313132 3031              # Done_time "2601011201" (10)
    31333830 30313338 303030 00*21      # Dest_terminal_Id (32 in 3.0)
    0000002a                            # SMSC_sequence 42
"""
DELIVER_30_HEX = (
    """
    000000b4 00000005 00000006          # Total_Length 180 = 12 + 97 + 71, DELIVER, seq 6
    fedcba98 76543210                   # Msg_Id of this DELIVER
    31303639 30303031 00*13             # Dest_Id "10690001"
    4e455753 00*6                       # Service_Id "NEWS"
    00 00 00                            # TP_pid, TP_udhi, Msg_Fmt 0
    31333830 30313338 303030 00*21      # Src_terminal_Id (32 in 3.0)
    00                                  # Src_terminal_type (3.0 only)
    01                                  # Registered_Delivery 1: a status report
    47                                  # Msg_Length 71
"""
    + REPORT_71_HEX
    + """
    00*20                               # LinkID "" (20)
"""
)
DELIVER_30 = Deliver(
    sequence_id=6,
    msg_id=0xFEDCBA9876543210,
    dest_id="10690001",
    service_id="NEWS",
    src_terminal_id="13800138000",
    registered_delivery=1,
    msg_content=unhex(REPORT_71_HEX),
)

DELIVER_RESP_20_HEX = """
    00000015 80000005 00000005          # Total_Length 21, DELIVER_RESP, seq 5
    01234567 89abcdef                   # Msg_Id echoed from the DELIVER
    00                                  # Result 0 (1 octet in 2.0)
"""
DELIVER_RESP_20 = DeliverResp(sequence_id=5, msg_id=0x0123456789ABCDEF)
DELIVER_RESP_30_HEX = """
    00000018 80000005 00000006          # Total_Length 24, DELIVER_RESP, seq 6
    fedcba98 76543210                   # Msg_Id
    00000009                            # Result 9 other error (4 octets in 3.0)
"""
DELIVER_RESP_30 = DeliverResp(sequence_id=6, msg_id=0xFEDCBA9876543210, result=9)

# (version, vector, pdu, total length from the docs/wire-formats.md §2.5/§2.6 formulas)
GOLDEN = [
    pytest.param(V20, CONNECT_20_HEX, CONNECT_20, 39, id="connect-2.0"),
    pytest.param(V30, CONNECT_30_HEX, CONNECT_30, 39, id="connect-3.0"),
    pytest.param(V20, CONNECT_RESP_20_HEX, CONNECT_RESP_20, 30, id="connect_resp-2.0"),
    pytest.param(V30, CONNECT_RESP_30_HEX, CONNECT_RESP_30, 33, id="connect_resp-3.0"),
    pytest.param(V20, TERMINATE_HEX, TERMINATE, 12, id="terminate-2.0"),
    pytest.param(V30, TERMINATE_HEX, TERMINATE, 12, id="terminate-3.0"),
    pytest.param(V20, TERMINATE_RESP_HEX, TERMINATE_RESP, 12, id="terminate_resp-2.0"),
    pytest.param(V30, TERMINATE_RESP_HEX, TERMINATE_RESP, 12, id="terminate_resp-3.0"),
    pytest.param(V20, SUBMIT_20_HEX, SUBMIT_20, 12 + 126 + 21 + 4, id="submit-2.0"),
    pytest.param(V30, SUBMIT_30_HEX, SUBMIT_30, 12 + 151 + 2 * 32 + 4, id="submit-3.0"),
    pytest.param(V20, SUBMIT_RESP_20_HEX, SUBMIT_RESP_20, 21, id="submit_resp-2.0"),
    pytest.param(V30, SUBMIT_RESP_30_HEX, SUBMIT_RESP_30, 24, id="submit_resp-3.0"),
    pytest.param(V20, DELIVER_20_HEX, DELIVER_20, 12 + 73 + 2, id="deliver-2.0"),
    pytest.param(V30, DELIVER_30_HEX, DELIVER_30, 12 + 97 + 71, id="deliver-3.0"),
    pytest.param(V20, DELIVER_RESP_20_HEX, DELIVER_RESP_20, 21, id="deliver_resp-2.0"),
    pytest.param(V30, DELIVER_RESP_30_HEX, DELIVER_RESP_30, 24, id="deliver_resp-3.0"),
    pytest.param(V20, ACTIVE_TEST_HEX, ACTIVE_TEST, 12, id="active_test-2.0"),
    pytest.param(V30, ACTIVE_TEST_HEX, ACTIVE_TEST, 12, id="active_test-3.0"),
    pytest.param(V20, ACTIVE_TEST_RESP_HEX, ACTIVE_TEST_RESP, 13, id="active_test_resp-2.0"),
    pytest.param(V30, ACTIVE_TEST_RESP_HEX, ACTIVE_TEST_RESP, 13, id="active_test_resp-3.0"),
]


def test_every_pdu_class_has_golden_vectors_in_both_versions() -> None:
    covered = {(param.values[0], type(param.values[2])) for param in GOLDEN}
    assert covered == {(v, cls) for v in (V20, V30) for cls in PDU_CLASSES.values()}


@pytest.mark.parametrize(("version", "vector", "pdu", "length"), GOLDEN)
def test_golden_vector_has_the_documented_length(
    version: int, vector: str, pdu: Pdu, length: int
) -> None:
    frame = unhex(vector)
    assert len(frame) == length
    assert int.from_bytes(frame[:4], "big") == length


@pytest.mark.parametrize(("version", "vector", "pdu", "length"), GOLDEN)
def test_golden_decode(version: int, vector: str, pdu: Pdu, length: int) -> None:
    decoded = decode(unhex(vector), version)
    assert type(decoded) is type(pdu)
    assert decoded == pdu


@pytest.mark.parametrize(("version", "vector", "pdu", "length"), GOLDEN)
def test_golden_encode(version: int, vector: str, pdu: Pdu, length: int) -> None:
    assert encode(pdu, version).hex() == unhex(vector).hex()


def test_decode_accepts_bytearray_and_memoryview() -> None:
    frame = unhex(SUBMIT_20_HEX)
    assert decode(bytearray(frame), V20) == SUBMIT_20
    assert decode(memoryview(frame), V20) == SUBMIT_20


def test_version_2_1_uses_the_2_0_layout() -> None:
    assert encode(SUBMIT_20, 0x21) == unhex(SUBMIT_20_HEX)
    assert decode(unhex(SUBMIT_20_HEX), 0x21) == SUBMIT_20


def test_2_0_encoding_ignores_the_3_0_only_fields() -> None:
    submit = dataclasses.replace(
        SUBMIT_20, fee_terminal_type=1, dest_terminal_type=1, link_id="LINK1"
    )
    assert encode(submit, V20) == unhex(SUBMIT_20_HEX)
    deliver = dataclasses.replace(DELIVER_20, src_terminal_type=1, link_id="LINK1")
    assert encode(deliver, V20) == unhex(DELIVER_20_HEX)


def test_2_0_decoding_ignores_the_reserve_octets() -> None:
    frame = bytearray(unhex(SUBMIT_20_HEX))
    frame[-8:] = b"RESERVED"
    assert decode(bytes(frame), V20) == SUBMIT_20


@pytest.mark.parametrize(
    ("vector", "pdu"),
    [
        (CONNECT_RESP_20_HEX, CONNECT_RESP_20),
        (CONNECT_RESP_30_HEX, CONNECT_RESP_30),
        (SUBMIT_RESP_20_HEX, SUBMIT_RESP_20),
        (SUBMIT_RESP_30_HEX, SUBMIT_RESP_30),
        (DELIVER_RESP_20_HEX, DELIVER_RESP_20),
        (DELIVER_RESP_30_HEX, DELIVER_RESP_30),
    ],
)
def test_status_responses_are_read_by_their_length_in_either_version(vector: str, pdu: Pdu) -> None:
    for version in (V20, V30):
        assert decode(unhex(vector), version) == pdu


def test_octet_strings_end_at_the_first_nul() -> None:
    frame = bytearray(unhex(DELIVER_20_HEX))
    dest_id = HEADER_LENGTH + 8
    frame[dest_id + 9 : dest_id + 12] = b"\xff\xfejunk"[:3]  # junk after the terminator
    assert decode(bytes(frame), V20).dest_id == "10690001"


# --- round trips -------------------------------------------------------------------------------


def ascii_text(max_size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=127), max_size=max_size)


def octet(max_value: int = 0xFF) -> st.SearchStrategy[int]:
    return st.integers(min_value=0, max_value=max_value)


@st.composite
def submits(draw: st.DrawFn, version: int) -> Submit:
    width = 32 if version == V30 else 21
    v30 = version == V30
    return Submit(
        sequence_id=draw(octet(0xFFFFFFFF)),
        msg_id=draw(octet((1 << 64) - 1)),
        pk_total=draw(octet()),
        pk_number=draw(octet()),
        registered_delivery=draw(octet()),
        msg_level=draw(octet()),
        service_id=draw(ascii_text(10)),
        fee_user_type=draw(octet()),
        fee_terminal_id=draw(ascii_text(width)),
        fee_terminal_type=draw(octet()) if v30 else 0,
        tp_pid=draw(octet()),
        tp_udhi=draw(octet()),
        msg_fmt=draw(octet()),
        msg_src=draw(ascii_text(6)),
        fee_type=draw(ascii_text(2)),
        fee_code=draw(ascii_text(6)),
        valid_time=draw(ascii_text(17)),
        at_time=draw(ascii_text(17)),
        src_id=draw(ascii_text(21)),
        dest_terminal_ids=tuple(draw(st.lists(ascii_text(width), min_size=1, max_size=5))),
        dest_terminal_type=draw(octet()) if v30 else 0,
        msg_content=draw(st.binary(max_size=255)),
        link_id=draw(ascii_text(20)) if v30 else "",
    )


@st.composite
def delivers(draw: st.DrawFn, version: int) -> Deliver:
    v30 = version == V30
    return Deliver(
        sequence_id=draw(octet(0xFFFFFFFF)),
        msg_id=draw(octet((1 << 64) - 1)),
        dest_id=draw(ascii_text(21)),
        service_id=draw(ascii_text(10)),
        tp_pid=draw(octet()),
        tp_udhi=draw(octet()),
        msg_fmt=draw(octet()),
        src_terminal_id=draw(ascii_text(32 if v30 else 21)),
        src_terminal_type=draw(octet()) if v30 else 0,
        registered_delivery=draw(octet()),
        msg_content=draw(st.binary(max_size=255)),
        link_id=draw(ascii_text(20)) if v30 else "",
    )


@settings(max_examples=150, deadline=None)
@given(data=st.data(), version=st.sampled_from([V20, V30]))
def test_submit_round_trip(data: st.DataObject, version: int) -> None:
    submit = data.draw(submits(version))
    assert decode(encode(submit, version), version) == submit


@settings(max_examples=150, deadline=None)
@given(data=st.data(), version=st.sampled_from([V20, V30]))
def test_deliver_round_trip(data: st.DataObject, version: int) -> None:
    deliver = data.draw(delivers(version))
    assert decode(encode(deliver, version), version) == deliver


@settings(max_examples=100, deadline=None)
@given(
    version=st.sampled_from([V20, V30]),
    sequence_id=octet(0xFFFFFFFF),
    msg_id=octet((1 << 64) - 1),
    result=octet(),
    authenticator=st.binary(min_size=16, max_size=16),
)
def test_small_pdus_round_trip(
    version: int, sequence_id: int, msg_id: int, result: int, authenticator: bytes
) -> None:
    for pdu in (
        Connect(
            sequence_id=sequence_id,
            source_addr="123",
            authenticator_source=authenticator,
            version=0x30,
            timestamp=sequence_id,
        ),
        ConnectResp(
            sequence_id=sequence_id, status=result, authenticator_ismg=authenticator, version=0x21
        ),
        SubmitResp(sequence_id=sequence_id, msg_id=msg_id, result=result),
        DeliverResp(sequence_id=sequence_id, msg_id=msg_id, result=result),
        ActiveTestResp(sequence_id=sequence_id, reserved=result),
        Terminate(sequence_id=sequence_id),
    ):
        assert decode(encode(pdu, version), version) == pdu


def test_3_0_statuses_use_all_four_octets() -> None:
    response = SubmitResp(sequence_id=1, msg_id=1, result=0x01020304)
    frame = encode(response, V30)
    assert frame[-4:] == bytes.fromhex("01020304")
    assert decode(frame, V30) == response


# --- malformed frames --------------------------------------------------------------------------


def decode_error(frame: bytes, version: int) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode(frame, version)
    error = caught.value
    assert error.reason
    return error


def with_total_length(frame: bytes | bytearray) -> bytes:
    """``frame`` with Total_Length set to its real size, so the body decoder runs."""
    return len(frame).to_bytes(4, "big") + bytes(frame[4:])


@pytest.mark.parametrize(("version", "vector"), [(V20, SUBMIT_20_HEX), (V30, SUBMIT_30_HEX)])
@pytest.mark.parametrize("delta", [-1, 1, 1000])
def test_wrong_total_length(version: int, vector: str, delta: int) -> None:
    frame = bytearray(unhex(vector))
    frame[0:4] = (len(frame) + delta).to_bytes(4, "big")
    error = decode_error(bytes(frame), version)
    assert error.status == SubmitResult.BAD_LENGTH
    assert error.command_id == CommandId.SUBMIT
    assert error.sequence_number == int.from_bytes(frame[8:12], "big")
    assert "Total_Length" in error.reason


def test_wrong_total_length_of_a_connect_answers_bad_structure() -> None:
    frame = bytearray(unhex(CONNECT_30_HEX))
    frame[3] += 1
    error = decode_error(bytes(frame), V30)
    assert error.status == ConnectStatus.BAD_STRUCTURE  # 4 would mean "version too high"
    assert (error.command_id, error.sequence_number) == (CommandId.CONNECT, 1)


@pytest.mark.parametrize("command_id", [0x00000003, 0x00000006, 0x00000007, 0x80000006, 0x12345])
def test_unknown_command_id(command_id: int) -> None:
    frame = bytes.fromhex("0000000c") + command_id.to_bytes(4, "big") + bytes.fromhex("0000002a")
    for version in (V20, V30):
        error = decode_error(frame, version)
        assert error.status == SubmitResult.BAD_COMMAND
        assert error.command_id == command_id
        assert error.sequence_number == 42
        assert error_response(error, frame=frame) is None  # no answer: the session decides


@pytest.mark.parametrize("size", [0, 3, 8, 11])
def test_frame_shorter_than_the_header(size: int) -> None:
    frame = unhex(SUBMIT_20_HEX)[:size]
    error = decode_error(frame, V20)
    assert error.status == SubmitResult.BAD_LENGTH
    assert error.command_id == (CommandId.SUBMIT if size >= 8 else None)
    assert error.sequence_number is None
    assert error_response(error, frame=frame) is None


@pytest.mark.parametrize(
    ("version", "vector", "command_id"),
    [
        (V20, SUBMIT_20_HEX, CommandId.SUBMIT),
        (V30, SUBMIT_30_HEX, CommandId.SUBMIT),
        (V20, DELIVER_20_HEX, CommandId.DELIVER),
        (V30, DELIVER_30_HEX, CommandId.DELIVER),
        (V20, SUBMIT_RESP_20_HEX, CommandId.SUBMIT_RESP),
        (V30, DELIVER_RESP_30_HEX, CommandId.DELIVER_RESP),
        (V30, ACTIVE_TEST_RESP_HEX, CommandId.ACTIVE_TEST_RESP),
    ],
)
def test_truncated_body(version: int, vector: str, command_id: int) -> None:
    full = unhex(vector)
    for size in sorted({HEADER_LENGTH, HEADER_LENGTH + 5, 100, 130, 150, len(full) - 1}):
        if size >= len(full):
            continue
        error = decode_error(with_total_length(full[:size]), version)
        assert error.status == SubmitResult.BAD_LENGTH
        assert error.command_id == command_id
        assert error.sequence_number == int.from_bytes(full[8:12], "big")


def test_truncated_connect_answers_bad_structure() -> None:
    frame = with_total_length(unhex(CONNECT_30_HEX)[:-1])
    error = decode_error(frame, V30)
    assert error.status == ConnectStatus.BAD_STRUCTURE
    response = error_response(error, frame=frame, version=V30)
    assert response == ConnectResp(sequence_id=1, status=1, version=0x30)
    assert encode(response, V30)[12:16] == bytes.fromhex("00000001")


@pytest.mark.parametrize(
    ("version", "vector", "length_at"),
    [
        (V20, SUBMIT_20_HEX, HEADER_LENGTH + 117 + 21),
        (V30, SUBMIT_30_HEX, HEADER_LENGTH + 129 + 2 * 32 + 1),
        (V20, DELIVER_20_HEX, HEADER_LENGTH + 64),
        (V30, DELIVER_30_HEX, HEADER_LENGTH + 76),
    ],
)
@pytest.mark.parametrize("msg_length", [0, 3, 5, 71, 255])
def test_msg_length_that_disagrees_with_the_body(
    version: int, vector: str, length_at: int, msg_length: int
) -> None:
    frame = bytearray(unhex(vector))
    if frame[length_at] == msg_length:
        return
    frame[length_at] = msg_length
    error = decode_error(bytes(frame), version)
    assert error.status == SubmitResult.BAD_LENGTH
    assert "Msg_Length" in error.reason
    assert error.command_id in (CommandId.SUBMIT, CommandId.DELIVER)


@pytest.mark.parametrize(("version", "vector"), [(V20, SUBMIT_20_HEX), (V30, SUBMIT_30_HEX)])
@pytest.mark.parametrize("count", [0, 100, 255])
def test_dest_usr_tl_out_of_range(version: int, vector: str, count: int) -> None:
    frame = bytearray(unhex(vector))
    frame[HEADER_LENGTH + (129 if version == V30 else 117) - 1] = count
    error = decode_error(bytes(frame), version)
    assert error.status == SubmitResult.BAD_STRUCTURE
    assert "DestUsr_tl" in error.reason
    assert error.command_id == CommandId.SUBMIT
    response = error_response(error, frame=bytes(frame))
    assert response == SubmitResp(sequence_id=error.sequence_number, msg_id=0, result=1)


def test_dest_usr_tl_larger_than_the_numbers_sent() -> None:
    frame = bytearray(unhex(SUBMIT_20_HEX))
    frame[HEADER_LENGTH + 116] = 2  # claims two numbers, carries one
    error = decode_error(bytes(frame), V20)
    assert error.status == SubmitResult.BAD_LENGTH


@pytest.mark.parametrize(
    ("offset", "status", "field"),
    [
        (HEADER_LENGTH + 117, SubmitResult.BAD_DEST_TERMINAL_ID, "Dest_terminal_Id"),
        (HEADER_LENGTH + 95, SubmitResult.BAD_SRC_ID, "Src_Id"),
        (HEADER_LENGTH + 47, SubmitResult.BAD_MSG_SRC, "Msg_src"),
        (HEADER_LENGTH + 12, SubmitResult.BAD_SERVICE_ID, "Service_Id"),
        (HEADER_LENGTH + 55, SubmitResult.BAD_FEE_CODE, "FeeCode"),
    ],
)
def test_non_ascii_submit_field_is_a_decode_error_with_its_result(
    offset: int, status: int, field: str
) -> None:
    frame = bytearray(unhex(SUBMIT_20_HEX))
    frame[offset] = 0xE4
    error = decode_error(bytes(frame), V20)
    assert error.status == status
    assert field in error.reason


def test_non_ascii_connect_source_addr_is_bad_source_address() -> None:
    frame = bytearray(unhex(CONNECT_30_HEX))
    frame[HEADER_LENGTH] = 0x80
    error = decode_error(bytes(frame), V30)
    assert error.status == ConnectStatus.BAD_SOURCE_ADDRESS


@pytest.mark.parametrize("version_octet", [0x00, 0x0A, 0x2F, 0xA0, 0xFF])
def test_connect_with_a_version_octet_that_is_not_a_version(version_octet: int) -> None:
    frame = bytearray(unhex(CONNECT_30_HEX))
    frame[HEADER_LENGTH + 22] = version_octet
    error = decode_error(bytes(frame), V30)
    assert error.status == ConnectStatus.BAD_STRUCTURE
    assert "Version" in error.reason
    response_frame = bytearray(unhex(CONNECT_RESP_30_HEX))
    response_frame[-1] = version_octet
    assert decode_error(bytes(response_frame), V30).command_id == CommandId.CONNECT_RESP


@pytest.mark.parametrize("version_octet", [0x10, 0x21, 0x40, 0x99])
def test_connect_decodes_any_well_formed_version_for_the_session_to_judge(
    version_octet: int,
) -> None:
    frame = bytearray(unhex(CONNECT_30_HEX))
    frame[HEADER_LENGTH + 22] = version_octet
    pdu = decode(bytes(frame), V20)
    assert isinstance(pdu, Connect)
    assert pdu.version == version_octet


@pytest.mark.parametrize(
    ("vector", "response"),
    [
        (ACTIVE_TEST_HEX, ActiveTestResp(sequence_id=10)),
        (TERMINATE_HEX, TerminateResp(sequence_id=7)),
        (TERMINATE_RESP_HEX, None),
    ],
)
def test_header_only_pdu_with_a_body(vector: str, response: Pdu | None) -> None:
    frame = with_total_length(unhex(vector) + b"\0")
    error = decode_error(frame, V30)
    assert error.status == SubmitResult.BAD_LENGTH
    assert error_response(error, frame=frame) == response


def test_undecodable_deliver_is_answered_with_its_msg_id() -> None:
    frame = bytearray(unhex(DELIVER_20_HEX))
    frame[HEADER_LENGTH + 64] = 9  # Msg_Length
    error = decode_error(bytes(frame), V20)
    response = error_response(error, frame=bytes(frame))
    assert response == DeliverResp(sequence_id=5, msg_id=0x0123456789ABCDEF, result=4)
    assert encode(response, V20)[-1] == 4


def test_undecodable_responses_get_no_answer() -> None:
    frame = with_total_length(unhex(SUBMIT_RESP_30_HEX)[:-1])
    error = decode_error(frame, V30)
    assert error.command_id == CommandId.SUBMIT_RESP
    assert error_response(error, frame=frame) is None


def test_unsupported_version_argument_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="0x40"):
        decode(unhex(ACTIVE_TEST_HEX), 0x40)
    with pytest.raises(ValueError, match="0x10"):
        encode(ACTIVE_TEST, 0x10)


# --- responses ---------------------------------------------------------------------------------


def test_response_for_each_request() -> None:
    assert response_for(SUBMIT_20, SubmitResult.FLOW_CONTROL) == SubmitResp(
        sequence_id=2, msg_id=0, result=8
    )
    assert response_for(SUBMIT_20, msg_id=77) == SubmitResp(sequence_id=2, msg_id=77)
    assert response_for(DELIVER_20) == DeliverResp(sequence_id=5, msg_id=0x0123456789ABCDEF)
    assert response_for(CONNECT_20, ConnectStatus.AUTHENTICATION_FAILED) == ConnectResp(
        sequence_id=1, status=3, version=0x20
    )
    assert response_for(CONNECT_30, 0, authenticator_ismg=b"a" * 16, version=0x20) == (
        ConnectResp(sequence_id=1, status=0, authenticator_ismg=b"a" * 16, version=0x20)
    )
    assert response_for(ACTIVE_TEST) == ActiveTestResp(sequence_id=10)
    assert response_for(TERMINATE) == TerminateResp(sequence_id=7)


def test_response_for_refuses_responses_and_results_without_a_field() -> None:
    with pytest.raises(ValueError, match="not a request"):
        response_for(SUBMIT_RESP_20)
    with pytest.raises(ValueError, match="no result"):
        response_for(ACTIVE_TEST, 1)


def test_is_response() -> None:
    assert is_response(CommandId.SUBMIT_RESP)
    assert not is_response(CommandId.SUBMIT)


# --- encode validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pdu", "version", "field"),
    [
        (dataclasses.replace(SUBMIT_20, src_id="1" * 22), V20, "src_id"),
        (dataclasses.replace(SUBMIT_20, msg_content=b"x" * 256), V20, "msg_content"),
        (dataclasses.replace(SUBMIT_20, service_id="NEWS\0"), V20, "service_id"),
        (dataclasses.replace(SUBMIT_20, msg_src="短信"), V20, "msg_src"),
        (dataclasses.replace(SUBMIT_20, fee_code="1234567"), V20, "fee_code"),
        (dataclasses.replace(SUBMIT_20, dest_terminal_ids=("1" * 22,)), V20, "dest_terminal_ids"),
        (dataclasses.replace(SUBMIT_20, dest_terminal_ids=()), V20, "dest_terminal_ids"),
        (dataclasses.replace(SUBMIT_20, dest_terminal_ids=("1",) * 100), V20, "dest_terminal_ids"),
        (dataclasses.replace(SUBMIT_20, fee_terminal_id="1" * 22), V20, "fee_terminal_id"),
        (dataclasses.replace(SUBMIT_30, fee_terminal_id="1" * 33), V30, "fee_terminal_id"),
        (dataclasses.replace(SUBMIT_30, link_id="L" * 21), V30, "link_id"),
        (dataclasses.replace(SUBMIT_30, pk_total=256), V30, "pk_total"),
        (dataclasses.replace(SUBMIT_30, msg_id=1 << 64), V30, "msg_id"),
        (dataclasses.replace(SUBMIT_30, dest_terminal_type=-1), V30, "dest_terminal_type"),
        (dataclasses.replace(SUBMIT_30, sequence_id=1 << 32), V30, "sequence_id"),
        (dataclasses.replace(DELIVER_20, src_terminal_id="1" * 22), V20, "src_terminal_id"),
        (dataclasses.replace(DELIVER_30, dest_id="1" * 22), V30, "dest_id"),
        (dataclasses.replace(DELIVER_30, registered_delivery=256), V30, "registered_delivery"),
        (SubmitResp(sequence_id=1, result=256), V20, "result"),
        (DeliverResp(sequence_id=1, result=1 << 32), V30, "result"),
        (ConnectResp(sequence_id=1, status=256, version=0x20), V20, "status"),
        (ConnectResp(sequence_id=1, status=0, authenticator_ismg=b"", version=0x20), V20, "ismg"),
        (dataclasses.replace(CONNECT_30, authenticator_source=b"x" * 17), V30, "authenticator"),
        (dataclasses.replace(CONNECT_30, source_addr="9012345"), V30, "source_addr"),
        (dataclasses.replace(CONNECT_30, timestamp=1 << 32), V30, "timestamp"),
        (dataclasses.replace(CONNECT_30, version=0x3A), V30, "version"),
        (ActiveTestResp(sequence_id=1, reserved=256), V30, "reserved"),
    ],
)
def test_encode_names_the_field_that_does_not_fit(pdu: Pdu, version: int, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        encode(pdu, version)


def test_encode_checks_types() -> None:
    with pytest.raises(TypeError, match="src_id"):
        encode(dataclasses.replace(SUBMIT_20, src_id=10690001), V20)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="msg_content"):
        encode(dataclasses.replace(SUBMIT_20, msg_content="hi"), V20)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tp_pid"):
        encode(dataclasses.replace(SUBMIT_20, tp_pid="0"), V20)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not a CMPP PDU"):
        encode(object(), V20)  # type: ignore[arg-type]


def test_3_0_statuses_fit_where_2_0_ones_do_not() -> None:
    assert len(encode(SubmitResp(sequence_id=1, result=256), V30)) == 24


def test_encode_refuses_a_frame_over_the_version_maximum() -> None:
    many = dataclasses.replace(
        SUBMIT_30, dest_terminal_ids=("13800138000",) * 99, msg_content=b"x" * 140
    )
    with pytest.raises(ValueError, match="3335"):
        encode(many, V30)
    assert len(encode(many, V20)) == 12 + 126 + 21 * 99 + 140 <= MAX_PDU_LENGTH[V20]


def test_max_pdu_length() -> None:
    assert MAX_PDU_LENGTH == {0x20: 2477, 0x30: 3335}
    assert max_pdu_length(V20) == max_pdu_length(0x21) == 2477
    assert max_pdu_length(V30) == 3335
    assert max_pdu_length(None) == 3335


# --- the bulk-send template --------------------------------------------------------------------


TEMPLATE_CASES = [
    (SUBMIT_20, V20),
    (dataclasses.replace(SUBMIT_30, dest_terminal_ids=("13800138000",)), V30),
]


@settings(max_examples=150, deadline=None)
@given(case=st.sampled_from(TEMPLATE_CASES), destination=ascii_text(21))
def test_template_frame_equals_a_full_encode(case: tuple[Submit, int], destination: str) -> None:
    submit, version = case
    template = SubmitTemplate(submit, version)
    expected = encode(
        dataclasses.replace(submit, sequence_id=0, dest_terminal_ids=(destination,)), version
    )
    assert template.frame(destination) == expected


def test_template_frame_decodes_once_the_sequence_is_patched() -> None:
    template = SubmitTemplate(SUBMIT_20, V20)
    frame = bytearray(template.frame("13900139000"))
    assert frame[SEQUENCE_OFFSET : SEQUENCE_OFFSET + 4] == bytes(4)
    frame[SEQUENCE_OFFSET : SEQUENCE_OFFSET + 4] = (99).to_bytes(4, "big")
    assert decode(bytes(frame), V20) == dataclasses.replace(
        SUBMIT_20, sequence_id=99, dest_terminal_ids=("13900139000",)
    )


def test_template_refuses_bad_destinations_and_group_sends() -> None:
    template = SubmitTemplate(SUBMIT_20, V20)
    with pytest.raises(ValueError, match="Dest_terminal_Id"):
        template.frame("1" * 22)
    with pytest.raises(ValueError, match="Dest_terminal_Id"):
        template.frame("１３８")
    with pytest.raises(ValueError, match="Dest_terminal_Id"):
        template.frame("138\0")
    assert (
        len(
            SubmitTemplate(dataclasses.replace(SUBMIT_30, dest_terminal_ids=("1",)), V30).frame(
                "1" * 32
            )
        )
        == 12 + 151 + 32 + 4
    )
    with pytest.raises(ValueError, match="one destination"):
        SubmitTemplate(SUBMIT_30, V30)
