"""Fuzzing: whatever bytes arrive, only DecodeError / FramingError may escape.

Random bytes mostly die at the header, so most cases start from valid PDUs and mutate them,
optionally fixing command_length so that the body decoder itself is exercised.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carriers.errors import DecodeError, FramingError
from carriers.framing import LengthPrefixedFramer
from carriers.smpp.codec import decode, encode
from carriers.smpp.pdus import (
    BindReceiver,
    BindTransceiverResp,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    GenericNack,
    Pdu,
    SubmitSm,
    SubmitSmResp,
)

SEEDS = [
    encode(pdu)
    for pdu in (
        SubmitSm(
            sequence_number=5,
            source_addr="10690001",
            destination_addr="8613800138000",
            data_coding=8,
            short_message="早上好".encode("utf-16-be"),
            sar_msg_ref_num=1,
            sar_total_segments=2,
            sar_segment_seqnum=1,
            other_tlvs=((0x1400, b"xy"),),
        ),
        SubmitSm(sequence_number=6, message_payload=b"p" * 300, schedule_delivery_time="1" * 16),
        DeliverSm(
            sequence_number=7,
            esm_class=4,
            short_message=b"id:1 stat:DELIVRD",
            receipted_message_id="1",
            message_state=2,
        ),
        DataSm(sequence_number=8, source_addr="s", message_payload=b"data", source_port=1),
        BindReceiver(sequence_number=9, system_id="id", password="pw", address_range="1069"),
        BindTransceiverResp(sequence_number=9, system_id="SMSC", sc_interface_version=0x34),
        SubmitSmResp(sequence_number=5, message_id="abcdef"),
        DeliverSmResp(sequence_number=7),
        DataSmResp(sequence_number=8, message_id="m", other_tlvs=((0x0425, b"\0"),)),
        EnquireLink(sequence_number=10),
        GenericNack(sequence_number=11, command_status=3),
    )
]


def decode_or_fail_cleanly(frame: bytes) -> Pdu | None:
    """Decode ``frame``; a success must re-encode to something that decodes the same."""
    try:
        pdu = decode(frame)
    except DecodeError as error:
        assert isinstance(error.status, int)
        assert error.reason
        return None
    assert decode(encode(pdu)) == pdu
    return pdu


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    frame = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(min_value=0, max_value=6))):
        position = draw(st.integers(min_value=0, max_value=len(frame)))
        action = draw(st.sampled_from(["replace", "insert", "delete"]))
        octet = draw(st.integers(min_value=0, max_value=255))
        if action == "replace" and position < len(frame):
            frame[position] = octet
        elif action == "insert":
            frame.insert(position, octet)
        elif action == "delete" and position < len(frame):
            del frame[position]
    if draw(st.booleans()):
        frame = frame[: draw(st.integers(min_value=0, max_value=len(frame)))]
    if draw(st.booleans()) and len(frame) >= 4:
        frame[0:4] = len(frame).to_bytes(4, "big")  # reach the body decoder
    return bytes(frame)


@settings(max_examples=500, deadline=None)
@given(frame=st.binary(max_size=300))
def test_random_bytes_only_raise_decode_error(frame: bytes) -> None:
    decode_or_fail_cleanly(frame)


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=200), command_id=st.sampled_from([1, 2, 4, 5, 9, 0x103]))
def test_random_bodies_behind_a_valid_header_only_raise_decode_error(
    body: bytes, command_id: int
) -> None:
    for response_bit in (0, 0x80000000):
        length = (16 + len(body)).to_bytes(4, "big")
        full_id = (command_id | response_bit).to_bytes(4, "big")
        decode_or_fail_cleanly(length + full_id + bytes(8) + body)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=mutated_frames())
def test_mutated_pdus_only_raise_decode_error(frame: bytes) -> None:
    decode_or_fail_cleanly(frame)


@settings(max_examples=300, deadline=None)
@given(
    chunks=st.lists(
        st.one_of(st.sampled_from(SEEDS), mutated_frames(), st.binary(max_size=40)), max_size=8
    )
)
def test_framer_and_decoder_together_only_raise_protocol_errors(chunks: list[bytes]) -> None:
    framer = LengthPrefixedFramer(min_length=16, max_length=4096)
    for chunk in chunks:
        try:
            frames = framer.feed(chunk)
        except FramingError:
            return
        for frame in frames:
            decode_or_fail_cleanly(frame)
