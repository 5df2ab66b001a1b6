"""SGIP 1.2 codec: golden byte vectors, round trips, malformed input, encode validation.

Every vector is written out by hand from the tables of /work/shared/docs/protocols.md §3 (there
is no Wireshark dissector for SGIP); each annotation names the section its field comes from.
"""

from __future__ import annotations

import dataclasses

import pytest

from carriers.errors import DecodeError
from carriers.sgip.codec import MAX_USERS, SubmitTemplate, decode, encode
from carriers.sgip.pdus import (
    HEADER_LENGTH,
    PDU_CLASSES,
    SEQUENCE_OFFSET,
    Bind,
    BindResp,
    CommandId,
    Deliver,
    DeliverResp,
    LoginType,
    Report,
    ReportResp,
    ReportState,
    Result,
    Submit,
    SubmitResp,
    Unbind,
    UnbindResp,
    error_response,
    is_response,
    response_for,
    result_name,
)
from carriers.sgip.sequence import ZERO, SequenceNumber

from . import unhex

SP_SEQ = SequenceNumber(3075512345, 1202141030, 1)  # b7509819 47a73766 00000001
SMG_SEQ = SequenceNumber(110001, 1231235959, 7)  # 0001adb1 49632b77 00000007

# --- golden vectors -----------------------------------------------------------------------------

BIND_HEX = """
    0000003d 00000001                   # §3.1 Message Length 61; §3.2 BIND 0x1
    b7509819 47a73766 00000001          # §3.1 Sequence: node 3075512345, 1202141030, 1
    01                                  # §3.4 Login Type 1 (SP→SMG)
    535030303031 00*10                  # §3.4 Login Name "SP0001" (16)
    7077 00*14                          # §3.4 Login Password "pw" (16)
    00*8                                # §3.4 Reserve (8)
"""
BIND = Bind(sequence=SP_SEQ, login_type=LoginType.SP_TO_SMG, login_name="SP0001",
            login_password="pw")

BIND_RESP_HEX = """
    0000001d 80000001                   # §3.4 every response is 29 octets; §3.2 BIND_RESP
    b7509819 47a73766 00000001          # §3.1 the BIND's Sequence, echoed
    01                                  # §3.4 Result 1 illegal login
    00*8                                # §3.4 Reserve (8)
"""
BIND_RESP = BindResp(sequence=SP_SEQ, result=Result.ILLEGAL_LOGIN)

UNBIND_HEX = """
    00000014 00000002                   # §3.4 no body: 20 octets; §3.2 UNBIND 0x2
    b7509819 47a73766 00000001          # §3.1 Sequence
"""
UNBIND = Unbind(sequence=SP_SEQ)

UNBIND_RESP_HEX = """
    00000014 80000002                   # §3.4 no body; §3.2 UNBIND_RESP
    b7509819 47a73766 00000001          # §3.1 Sequence
"""
UNBIND_RESP = UnbindResp(sequence=SP_SEQ)

SUBMIT_HEX = """
    000000bf 00000003                   # §3.5 body 123 + 21·2 + 6 = 171, total 191; SUBMIT 0x3
    b7509819 47a73766 00000002          # §3.1 Sequence, counter 2
    31303635353031 00*14                # §3.5 #1 SPNumber "1065501" (21)
    30*21                               # §3.5 #2 ChargeNumber 21 × "0": the SP pays
    02                                  # §3.5 #3 UserCount 2
    38363133303132333435363738 00*8     # §3.5 #4 UserNumber "8613012345678" (21)
    38363133313938373635343332 00*8     # §3.5 #4 UserNumber "8613198765432" (21)
    3132333435                          # §3.5 #5 CorpId "12345" (5)
    4e455753 00*6                       # §3.5 #6 ServiceType "NEWS" (10)
    02                                  # §3.5 #7 FeeType 2 per message
    35 00*5                             # §3.5 #8 FeeValue "5" (6)
    30 00*5                             # §3.5 #9 GivenValue "0" (6)
    01                                  # §3.5 #10 AgentFlag 1
    02                                  # §3.5 #11 MorelatetoMTFlag 2 (not caused by an MO)
    09                                  # §3.5 #12 Priority 9
    3033303631313132303030303033322b    # §3.5 #13 ExpireTime "030611120000032+" (16)
    00*16                               # §3.5 #14 ScheduleTime empty: send now (16)
    01                                  # §3.5 #15 ReportFlag 1 always
    00                                  # §3.5 #16 TP_pid
    00                                  # §3.5 #17 TP_udhi
    08                                  # §3.5 #18 MessageCoding 8 UCS2
    00                                  # §3.5 #19 MessageType 0
    00000006                            # §3.5 #20 MessageLength 6 (4 octets)
    65e9 4e0a 597d                      # §3.5 #21 MessageContent "早上好" UTF-16BE
    4c494e4b31 000000                   # §3.5 #22 Reserve "LINK1" (8)
"""
SUBMIT = Submit(
    sequence=dataclasses.replace(SP_SEQ, counter=2),
    sp_number="1065501",
    charge_number="0" * 21,
    user_numbers=("8613012345678", "8613198765432"),
    corp_id="12345",
    service_type="NEWS",
    fee_type=2,
    fee_value="5",
    given_value="0",
    agent_flag=1,
    morelateto_mt_flag=2,
    priority=9,
    expire_time="030611120000032+",
    schedule_time="",
    report_flag=1,
    tp_pid=0,
    tp_udhi=0,
    message_coding=8,
    message_type=0,
    message_content="早上好".encode("utf-16-be"),
    reserve="LINK1",
)

SUBMIT_RESP_HEX = """
    0000001d 80000003                   # §3.4 29 octets; §3.2 SUBMIT_RESP
    b7509819 47a73766 00000002          # §3.5 no message id: the SUBMIT's Sequence is the key
    0b                                  # §3.4 Result 11 node busy
    00*8                                # §3.4 Reserve
"""
SUBMIT_RESP = SubmitResp(sequence=dataclasses.replace(SP_SEQ, counter=2),
                         result=Result.NODE_BUSY)

DELIVER_HEX = """
    00000052 00000004                   # §3.6 body 57 + 5 = 62, total 82; DELIVER 0x4
    0001adb1 49632b77 00000007          # §3.1 Sequence: SMG node 110001, 1231235959, 7
    38363133303132333435363738 00*8     # §3.6 UserNumber (21)
    31303635353031 00*14                # §3.6 SPNumber (21)
    00                                  # §3.6 TP_pid
    00                                  # §3.6 TP_udhi
    0f                                  # §3.6 MessageCoding 15 GBK
    00000005                            # §3.6 MessageLength 5 (4 octets)
    48656c6c6f                          # §3.6 MessageContent "Hello"
    00*8                                # §3.6 Reserve (8)
"""
DELIVER = Deliver(sequence=SMG_SEQ, user_number="8613012345678", sp_number="1065501",
                  message_coding=15, message_content=b"Hello")

DELIVER_RESP_HEX = """
    0000001d 80000004                   # §3.4 29 octets; §3.2 DELIVER_RESP
    0001adb1 49632b77 00000007          # §3.1 the DELIVER's Sequence
    00                                  # §3.4 Result 0 OK
    00*8                                # §3.4 Reserve
"""
DELIVER_RESP = DeliverResp(sequence=SMG_SEQ, result=0)

REPORT_HEX = """
    00000040 00000005                   # §3.7 body 44, total 64; REPORT 0x5
    0001adb1 49632b77 00000008          # §3.1 the REPORT's own Sequence (SMG, counter 8)
    b7509819 47a73766 00000002          # §3.7 SubmitSequenceNumber: the SUBMIT's three words
    00                                  # §3.7 ReportType 0 (about a SUBMIT)
    38363133303132333435363738 00*8     # §3.7 UserNumber (21)
    02                                  # §3.7 State 2 failed
    15                                  # §3.7 ErrorCode 21 destination unreachable (§3.4)
    00*8                                # §3.7 Reserve
"""
REPORT = Report(sequence=dataclasses.replace(SMG_SEQ, counter=8),
                submit_sequence=dataclasses.replace(SP_SEQ, counter=2),
                user_number="8613012345678", state=ReportState.FAILED,
                error_code=Result.DESTINATION_UNREACHABLE)

REPORT_RESP_HEX = """
    0000001d 80000005                   # §3.4 29 octets; §3.2 REPORT_RESP
    0001adb1 49632b77 00000008          # §3.1 the REPORT's Sequence
    00 00*8                             # §3.4 Result 0, Reserve
"""
REPORT_RESP = ReportResp(sequence=dataclasses.replace(SMG_SEQ, counter=8))

VECTORS = [
    (BIND_HEX, BIND),
    (BIND_RESP_HEX, BIND_RESP),
    (UNBIND_HEX, UNBIND),
    (UNBIND_RESP_HEX, UNBIND_RESP),
    (SUBMIT_HEX, SUBMIT),
    (SUBMIT_RESP_HEX, SUBMIT_RESP),
    (DELIVER_HEX, DELIVER),
    (DELIVER_RESP_HEX, DELIVER_RESP),
    (REPORT_HEX, REPORT),
    (REPORT_RESP_HEX, REPORT_RESP),
]
IDS = [type(pdu).__name__ for _, pdu in VECTORS]


@pytest.mark.parametrize(("vector", "pdu"), VECTORS, ids=IDS)
def test_golden_vector_encodes(vector: str, pdu) -> None:
    assert encode(pdu).hex() == unhex(vector).hex()


@pytest.mark.parametrize(("vector", "pdu"), VECTORS, ids=IDS)
def test_golden_vector_decodes(vector: str, pdu) -> None:
    assert decode(unhex(vector)) == pdu


def test_every_pdu_class_has_a_vector() -> None:
    assert {type(pdu) for _, pdu in VECTORS} == set(PDU_CLASSES.values())


def test_sizes_match_the_tables() -> None:
    """§3.4: BIND body 41, responses 29 in all; §3.5: 123 + 21n + len; §3.6: 57 + len; §3.7: 44."""
    assert len(encode(BIND)) == HEADER_LENGTH + 41
    assert len(encode(BIND_RESP)) == 29
    assert len(encode(SUBMIT)) == HEADER_LENGTH + 123 + 21 * 2 + 6
    assert len(encode(DELIVER)) == HEADER_LENGTH + 57 + 5
    assert len(encode(REPORT)) == HEADER_LENGTH + 44


def test_command_ids_and_response_bit() -> None:
    """§3.2."""
    assert [int(c) for c in CommandId if not is_response(c)] == [1, 2, 3, 4, 5]
    for command in CommandId:
        if not is_response(command):
            assert CommandId(command | 0x80000000).name == f"{command.name}_RESP"


def test_error_codes_are_the_documented_values_not_gosgips_iota() -> None:
    """§3.4 and §7 trap 6: GOSGIP's ``21 + iota`` makes the first "21" code 33; it is 21."""
    assert Result.DESTINATION_UNREACHABLE == 21
    assert Result.SMSC_QUEUE_FULL == 33
    assert Result.NODE_BUSY == 11
    assert decode(unhex(REPORT_HEX)).error_code == 21
    assert result_name(21) == "SGIP result 21 (destination unreachable)"
    assert result_name(99) == "SGIP result 99 (unknown)"


def test_fields_are_cut_at_the_first_nul() -> None:
    frame = bytearray(unhex(BIND_HEX))
    frame[HEADER_LENGTH + 1 + 7] = 0x41  # junk after "SP0001\0"
    assert decode(bytes(frame)).login_name == "SP0001"


def test_sequence_sits_at_offset_8() -> None:
    frame = encode(SUBMIT)
    assert frame[SEQUENCE_OFFSET : SEQUENCE_OFFSET + 12] == SUBMIT.sequence.packed()


def test_decode_takes_bytearray_and_memoryview() -> None:
    raw = unhex(DELIVER_HEX)
    assert decode(bytearray(raw)) == decode(memoryview(raw)) == DELIVER


def test_maximal_submit_round_trips() -> None:
    users = tuple(f"86130{n:08d}" for n in range(MAX_USERS))
    pdu = dataclasses.replace(SUBMIT, user_numbers=users, message_content=bytes(140))
    frame = encode(pdu)
    assert len(frame) == HEADER_LENGTH + 123 + 21 * MAX_USERS + 140
    assert decode(frame) == pdu


# --- responses ----------------------------------------------------------------------------------


def test_response_for_echoes_the_sequence() -> None:
    assert response_for(SUBMIT, Result.NODE_BUSY) == SUBMIT_RESP
    assert response_for(DELIVER) == DELIVER_RESP
    assert response_for(REPORT) == REPORT_RESP
    assert response_for(BIND, 1) == BIND_RESP
    assert response_for(UNBIND) == UNBIND_RESP
    with pytest.raises(ValueError, match="no result"):
        response_for(UNBIND, 1)
    with pytest.raises(ValueError, match="not a request"):
        response_for(SUBMIT_RESP)


# --- malformations ------------------------------------------------------------------------------


def _with_length(frame: bytes) -> bytes:
    return len(frame).to_bytes(4, "big") + frame[4:]


def _decode_error(frame: bytes) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode(frame)
    return caught.value


def test_header_too_short_is_bad_length_and_unanswered() -> None:
    error = _decode_error(unhex("0000000c 00000003 b7509819"))
    assert error.status == Result.BAD_MESSAGE_LENGTH
    assert error.command_id == CommandId.SUBMIT
    assert error.sequence_number is None
    assert error_response(error) is None


def test_message_length_mismatch_is_answered_with_result_8() -> None:
    frame = unhex(SUBMIT_HEX) + b"\0"
    error = _decode_error(frame)
    assert error.status == Result.BAD_MESSAGE_LENGTH
    assert error_response(error) == SubmitResp(sequence=SUBMIT.sequence, result=8)


def test_bind_of_the_wrong_size() -> None:
    frame = _with_length(unhex(BIND_HEX)[:-1])
    error = _decode_error(frame)
    assert error.status == Result.BAD_MESSAGE_LENGTH
    assert error_response(error) == BindResp(sequence=SP_SEQ, result=8)


def test_bind_with_a_non_ascii_name_is_an_illegal_login() -> None:
    frame = bytearray(unhex(BIND_HEX))
    frame[HEADER_LENGTH + 1] = 0xE4
    assert _decode_error(bytes(frame)).status == Result.ILLEGAL_LOGIN


def test_unbind_with_a_body_is_answered() -> None:
    error = _decode_error(_with_length(unhex(UNBIND_HEX) + b"\0"))
    assert error.status == Result.BAD_MESSAGE_LENGTH
    assert error_response(error) == UNBIND_RESP


@pytest.mark.parametrize("count", [0, MAX_USERS + 1])
def test_submit_user_count_out_of_range(count: int) -> None:
    frame = bytearray(unhex(SUBMIT_HEX))
    frame[HEADER_LENGTH + 42] = count
    assert _decode_error(bytes(frame)).status == Result.BAD_PARAMETER_FORMAT


def test_submit_too_short_for_its_users() -> None:
    frame = bytearray(unhex(SUBMIT_HEX))
    frame[HEADER_LENGTH + 42] = 9  # nine users announced, two present
    assert _decode_error(bytes(frame)).status == Result.BAD_MESSAGE_LENGTH


def test_submit_message_length_disagrees_with_the_frame() -> None:
    frame = bytearray(unhex(SUBMIT_HEX))
    at = HEADER_LENGTH + 43 + 42 + 68  # MessageLength, after the 68 octets CorpId..MessageType
    assert frame[at : at + 4] == b"\0\0\0\x06"
    frame[at : at + 4] = (7).to_bytes(4, "big")
    assert _decode_error(bytes(frame)).status == Result.BAD_MESSAGE_LENGTH
    frame[at : at + 4] = (0xFFFFFFFF).to_bytes(4, "big")
    assert _decode_error(bytes(frame)).status == Result.BAD_MESSAGE_LENGTH


def test_submit_with_a_non_ascii_user_number_is_an_illegal_phone_number() -> None:
    frame = bytearray(unhex(SUBMIT_HEX))
    frame[HEADER_LENGTH + 43] = 0xFF
    error = _decode_error(bytes(frame))
    assert error.status == Result.ILLEGAL_PHONE_NUMBER
    assert error_response(error) == SubmitResp(sequence=SUBMIT.sequence, result=6)


def test_deliver_message_length_past_the_end_is_answered() -> None:
    frame = bytearray(unhex(DELIVER_HEX))
    frame[HEADER_LENGTH + 45 : HEADER_LENGTH + 49] = (200).to_bytes(4, "big")
    error = _decode_error(bytes(frame))
    assert error.status == Result.BAD_MESSAGE_LENGTH
    assert error_response(error) == DeliverResp(sequence=SMG_SEQ, result=8)


def test_deliver_shorter_than_its_fixed_fields() -> None:
    error = _decode_error(_with_length(unhex(DELIVER_HEX)[: HEADER_LENGTH + 50]))
    assert error.status == Result.BAD_MESSAGE_LENGTH


def test_report_of_the_wrong_size_is_answered() -> None:
    error = _decode_error(_with_length(unhex(REPORT_HEX)[:-1]))
    assert error.status == Result.BAD_MESSAGE_LENGTH
    assert error_response(error) == ReportResp(sequence=REPORT.sequence, result=8)


def test_unknown_command_is_not_answered() -> None:
    """TRACE 0x1000 (§3.2, single source) is not handled: DecodeError, no answer."""
    error = _decode_error(unhex("00000014 00001000 b7509819 47a73766 00000001"))
    assert error.status == Result.BAD_PARAMETER_FORMAT
    assert error.command_id == 0x1000
    assert error_response(error) is None


def test_a_malformed_response_is_not_answered() -> None:
    error = _decode_error(_with_length(unhex(SUBMIT_RESP_HEX)[:-1]))
    assert error.status == Result.BAD_MESSAGE_LENGTH
    assert error_response(error) is None


# --- encode validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"sp_number": "1" * 22}, ValueError, "sp_number"),
        ({"corp_id": "123456"}, ValueError, "corp_id"),
        ({"service_type": "新闻"}, ValueError, "non-ASCII"),
        ({"reserve": "a\0b"}, ValueError, "NUL"),
        ({"user_numbers": ()}, ValueError, "1..100"),
        ({"user_numbers": ("1",) * 101}, ValueError, "1..100"),
        ({"user_numbers": ["8613012345678"]}, TypeError, "tuple"),
        ({"user_numbers": ("8" * 22,)}, ValueError, "at most 21"),
        ({"priority": 256}, ValueError, "priority"),
        ({"fee_type": -1}, ValueError, "fee_type"),
        ({"tp_udhi": True}, TypeError, "tp_udhi"),
        ({"message_content": "text"}, TypeError, "message_content"),
        ({"message_content": bytes(2001)}, ValueError, "message_content"),
        ({"sequence": 5}, TypeError, "SequenceNumber"),
    ],
)
def test_encode_refuses_what_does_not_fit(change: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        encode(dataclasses.replace(SUBMIT, **change))


def test_encode_refuses_other_objects() -> None:
    with pytest.raises(TypeError, match="not an SGIP PDU"):
        encode(object())  # type: ignore[arg-type]


def test_bind_name_over_16_octets_is_refused() -> None:
    with pytest.raises(ValueError, match="login_name"):
        encode(dataclasses.replace(BIND, login_name="x" * 17))


# --- SubmitTemplate -----------------------------------------------------------------------------


def test_template_splices_the_user_number() -> None:
    one = dataclasses.replace(SUBMIT, user_numbers=("8613000000000",))
    template = SubmitTemplate(one)
    for number in ("8613012345678", "8" * 21, ""):
        expected = encode(dataclasses.replace(one, user_numbers=(number,), sequence=ZERO))
        assert template.frame(number) == expected


def test_template_refuses_bad_numbers_and_group_sends() -> None:
    template = SubmitTemplate(dataclasses.replace(SUBMIT, user_numbers=("1",)))
    with pytest.raises(ValueError, match="at most 21"):
        template.frame("8" * 22)
    with pytest.raises(ValueError, match="ASCII"):
        template.frame("八六")
    with pytest.raises(ValueError, match="one user"):
        SubmitTemplate(SUBMIT)
