"""Fuzzing the SGIP decoder: whatever bytes arrive, only DecodeError escapes.

Random bytes mostly die at the header, so most cases start from valid frames and mutate them,
optionally fixing Message Length so that the body decoders themselves are exercised. Whatever
decodes must re-encode to a frame that decodes the same, and whatever fails must yield an
answer (or none) that encodes.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carriers.errors import DecodeError, FramingError
from carriers.framing import LengthPrefixedFramer
from carriers.sgip.codec import MAX_PDU_LENGTH, decode, encode
from carriers.sgip.pdus import HEADER_LENGTH, error_response

from .test_sgip_codec import VECTORS

SEED_FRAMES = [encode(pdu) for _, pdu in VECTORS]


def _check(frame: bytes) -> None:
    try:
        pdu = decode(frame)
    except DecodeError as exc:
        assert isinstance(exc.status, int) and 0 <= exc.status <= 0xFF
        answer = error_response(exc)
        if answer is not None:
            assert decode(encode(answer)) == answer
        return
    try:
        again = encode(pdu)
    except ValueError:
        # Decoded but not re-encodable: only content beyond what the codec writes.
        assert len(getattr(pdu, "message_content", b"")) > 2000
        return
    assert decode(again) == pdu


@given(st.binary(max_size=400))
def test_random_bytes(frame: bytes) -> None:
    _check(frame)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SEED_FRAMES),
    st.lists(st.tuples(st.integers(min_value=0, max_value=400), st.integers(0, 255)),
             max_size=8),
    st.integers(min_value=-30, max_value=30),
    st.booleans(),
)
def test_mutated_frames(seed: bytes, flips: list, resize: int, fix_length: bool) -> None:
    frame = bytearray(seed)
    for position, value in flips:
        if position < len(frame):
            frame[position] = value
    if resize > 0:
        frame += bytes(resize)
    elif resize < 0:
        del frame[resize:]
    if fix_length and len(frame) >= 4:
        frame[:4] = len(frame).to_bytes(4, "big")
    _check(bytes(frame))


@given(st.lists(st.binary(max_size=80), max_size=10))
def test_framer_then_decoder_on_a_stream(chunks: list[bytes]) -> None:
    framer = LengthPrefixedFramer(min_length=HEADER_LENGTH, max_length=MAX_PDU_LENGTH)
    stream = b"".join(SEED_FRAMES[:3]) + b"".join(chunks)
    try:
        frames = framer.feed(stream)
    except FramingError:
        return
    for frame in frames:
        _check(frame)
