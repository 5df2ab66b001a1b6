"""Fuzzing the CMPP decoder: whatever bytes arrive, in either version, only DecodeError escapes.

Random bytes mostly die at the header, so most cases start from valid frames and mutate them,
optionally fixing Total_Length so that the body decoders themselves are exercised. Whatever
decodes must re-encode to a frame that decodes the same, and whatever fails must yield an
answer (or none) that encodes.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carriers.cmpp.codec import decode, encode
from carriers.cmpp.pdus import (
    ActiveTest,
    ActiveTestResp,
    CommandId,
    Connect,
    ConnectResp,
    Deliver,
    DeliverResp,
    Pdu,
    Submit,
    SubmitResp,
    Terminate,
    TerminateResp,
    Version,
    error_response,
)
from carriers.errors import DecodeError, FramingError
from carriers.framing import LengthPrefixedFramer

VERSIONS = st.sampled_from([Version.V20, Version.V30])

SEED_PDUS: list[Pdu] = [
    Connect(
        sequence_id=1,
        source_addr="901234",
        authenticator_source=bytes(range(16)),
        version=0x30,
        timestamp=301000000,
    ),
    ConnectResp(sequence_id=1, status=0, authenticator_ismg=b"\x01" * 16, version=0x20),
    Terminate(sequence_id=2),
    TerminateResp(sequence_id=2),
    Submit(
        sequence_id=3,
        registered_delivery=1,
        service_id="NEWS",
        fee_user_type=3,
        fee_terminal_id="13800138000",
        msg_fmt=8,
        msg_src="901234",
        src_id="10690001",
        dest_terminal_ids=("13800138000", "8613900139000"),
        msg_content="早上好".encode("utf-16-be"),
        link_id="LINK",
    ),
    SubmitResp(sequence_id=3, msg_id=0x0123456789ABCDEF, result=8),
    Deliver(
        sequence_id=4,
        msg_id=0xFEDCBA9876543210,
        dest_id="10690001",
        src_terminal_id="13800138000",
        registered_delivery=1,
        msg_content=b"\x01" * 8 + b"DELIVRD" + b"2601011200" * 2 + b"1" * 32 + b"\0\0\0\x2a",
        link_id="L",
    ),
    DeliverResp(sequence_id=4, msg_id=0xFEDCBA9876543210),
    ActiveTest(sequence_id=5),
    ActiveTestResp(sequence_id=5),
]
SEEDS = [(version, encode(pdu, version)) for version in Version for pdu in SEED_PDUS]


def decode_or_fail_cleanly(frame: bytes, version: int) -> Pdu | None:
    """Decode ``frame``: success must round-trip, failure must be a usable DecodeError."""
    try:
        pdu = decode(frame, version)
    except DecodeError as error:
        assert isinstance(error.status, int)
        assert error.reason
        answer = error_response(error, frame=frame, version=version)
        if answer is not None:
            assert answer.sequence_id == error.sequence_number
            encode(answer, version)
        return None
    # Status responses are read by their length, so their status may need 3.0's 4 octets.
    layout = Version.V30 if isinstance(pdu, ConnectResp | SubmitResp | DeliverResp) else version
    assert decode(encode(pdu, layout), version) == pdu
    return pdu


@st.composite
def mutated_frames(draw: st.DrawFn) -> tuple[int, bytes]:
    version, seed = draw(st.sampled_from(SEEDS))
    frame = bytearray(seed)
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
    if draw(st.booleans()):
        version = draw(VERSIONS)  # a frame of one version read as the other
    return version, bytes(frame)


@settings(max_examples=300, deadline=None)
@given(frame=st.binary(max_size=300), version=VERSIONS)
def test_random_bytes_only_raise_decode_error(frame: bytes, version: int) -> None:
    decode_or_fail_cleanly(frame, version)


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=300),
    command_id=st.sampled_from([int(c) & 0x7FFFFFFF for c in CommandId] + [3, 6, 9]),
    response_bit=st.sampled_from([0, 0x80000000]),
    version=VERSIONS,
)
def test_random_bodies_behind_a_valid_header_only_raise_decode_error(
    body: bytes, command_id: int, response_bit: int, version: int
) -> None:
    length = (12 + len(body)).to_bytes(4, "big")
    full_id = (command_id | response_bit).to_bytes(4, "big")
    decode_or_fail_cleanly(length + full_id + b"\0\0\0\x07" + body, version)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=mutated_frames())
def test_mutated_frames_only_raise_decode_error(case: tuple[int, bytes]) -> None:
    version, frame = case
    decode_or_fail_cleanly(frame, version)


@settings(max_examples=200, deadline=None)
@given(
    chunks=st.lists(
        st.one_of(
            st.sampled_from([frame for _, frame in SEEDS]),
            mutated_frames().map(lambda case: case[1]),
            st.binary(max_size=40),
        ),
        max_size=8,
    ),
    version=VERSIONS,
)
def test_framer_and_decoder_together_only_raise_protocol_errors(
    chunks: list[bytes], version: int
) -> None:
    framer = LengthPrefixedFramer(min_length=12, max_length=3335)
    for chunk in chunks:
        try:
            frames = framer.feed(chunk)
        except FramingError:
            return
        for frame in frames:
            decode_or_fail_cleanly(frame, version)
