"""Fuzzing the SMGP decoder: whatever bytes arrive, only DecodeError escapes.

Most cases start from valid frames and mutate them, optionally fixing PacketLength so the body
decoders themselves are exercised. Whatever decodes must re-encode to a frame that decodes the
same, and whatever fails must yield an answer (or none) that encodes.
"""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carriers.errors import DecodeError
from carriers.smgp.codec import decode, encode
from carriers.smgp.pdus import (
    ActiveTest,
    ActiveTestResp,
    Deliver,
    DeliverResp,
    Exit,
    ExitResp,
    Login,
    LoginResp,
    Pdu,
    Submit,
    SubmitResp,
    Tlv,
    error_response,
)
from carriers.smgp.reports import SmgpReport, decode_report, encode_report

MSG_ID = bytes.fromhex("01006101161700012345")
SEED_PDUS: list[Pdu] = [
    Login(sequence_id=1, client_id="12345678", authenticator_client=bytes(range(16)),
          timestamp=301000000),
    LoginResp(sequence_id=1, status=0, authenticator_server=b"\x01" * 16),
    Submit(sequence_id=3, need_report=1, service_id="NEWS", msg_format=8,
           src_term_id="10690001", dest_term_ids=("13300000000", "8613300000001"),
           msg_content=bytes.fromhex("0500032a0201") + "早上好".encode("utf-16-be"),
           tp_udhi=1, pk_total=2, pk_number=1, link_id="LK", msg_src="12345678",
           tlvs=(Tlv(0x0099, b"ab"),)),
    SubmitResp(sequence_id=3, msg_id=MSG_ID, status=74),
    Deliver(sequence_id=4, msg_id=MSG_ID, msg_format=8, recv_time="20260116170000",
            src_term_id="13300000000", dest_term_id="10690001", msg_content=b"\x4f\x60"),
    Deliver(sequence_id=5, msg_id=MSG_ID, is_report=1, src_term_id="13300000000",
            msg_content=encode_report(SmgpReport(msg_id=MSG_ID, stat="DELIVRD"))),
    DeliverResp(sequence_id=5, msg_id=MSG_ID),
    ActiveTest(sequence_id=6), ActiveTestResp(sequence_id=6), Exit(sequence_id=7),
    ExitResp(sequence_id=7),
]
SEEDS = [encode(pdu) for pdu in SEED_PDUS]


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    frame = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        action = draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip" and frame:
            frame[draw(st.integers(0, len(frame) - 1))] = draw(st.integers(0, 255))
        elif action == "cut" and frame:
            start = draw(st.integers(0, len(frame) - 1))
            del frame[start:start + draw(st.integers(1, 30))]
        else:
            at = draw(st.integers(0, len(frame)))
            frame[at:at] = draw(st.binary(max_size=30))
    if draw(st.booleans()) and len(frame) >= 4:
        frame[0:4] = len(frame).to_bytes(4, "big")
    return bytes(frame)


def _check(frame: bytes) -> None:
    try:
        pdu = decode(frame)
    except DecodeError as error:
        answer = error_response(error, frame=frame)
        if answer is not None:
            encode(answer)
        return
    assert decode(encode(pdu)) == pdu
    if isinstance(pdu, Deliver) and pdu.is_report:
        with contextlib.suppress(ValueError):
            decode_report(pdu.msg_content)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_frames())
def test_mutated_frames_raise_only_decode_error(frame: bytes) -> None:
    _check(frame)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_decode_error(frame: bytes) -> None:
    _check(frame)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=200))
def test_report_decoder_raises_only_value_error(content: bytes) -> None:
    with contextlib.suppress(ValueError):
        decode_report(content)
