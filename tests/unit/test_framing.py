"""LengthPrefixedFramer: chunking, buffering, and refusing bad lengths before buffering."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carriers.errors import FramingError, ProtocolError
from carriers.framing import LengthPrefixedFramer


def frame_of(body: bytes) -> bytes:
    """A frame: 4-octet big-endian total length, then ``body``."""
    return (len(body) + 4).to_bytes(4, "big") + body


def smpp_framer(max_length: int = 1024) -> LengthPrefixedFramer:
    return LengthPrefixedFramer(min_length=16, max_length=max_length)


FRAME_A = frame_of(b"A" * 12)
FRAME_B = frame_of(b"B" * 40)
FRAME_C = frame_of(bytes(range(100)))


def test_one_whole_frame() -> None:
    framer = smpp_framer()
    assert framer.feed(FRAME_A) == [FRAME_A]
    assert framer.buffered == 0


def test_several_frames_in_one_chunk_come_out_in_order() -> None:
    framer = smpp_framer()
    assert framer.feed(FRAME_A + FRAME_B + FRAME_C) == [FRAME_A, FRAME_B, FRAME_C]


def test_frames_are_bytes_even_from_bytearray_or_memoryview_input() -> None:
    framer = smpp_framer()
    out = framer.feed(bytearray(FRAME_A)) + framer.feed(memoryview(FRAME_B))
    assert out == [FRAME_A, FRAME_B]
    assert all(type(frame) is bytes for frame in out)


def test_byte_by_byte() -> None:
    framer = smpp_framer()
    stream = FRAME_A + FRAME_B + FRAME_C
    out: list[bytes] = []
    for index in range(len(stream)):
        out += framer.feed(stream[index : index + 1])
    assert out == [FRAME_A, FRAME_B, FRAME_C]
    assert framer.buffered == 0


def test_remainder_is_kept_until_completed() -> None:
    framer = smpp_framer()
    assert framer.feed(FRAME_A + FRAME_B[:10]) == [FRAME_A]
    assert framer.buffered == 10
    assert framer.feed(FRAME_B[10:] + FRAME_C[:2]) == [FRAME_B]
    assert framer.buffered == 2
    assert framer.feed(FRAME_C[2:]) == [FRAME_C]
    assert framer.buffered == 0


def test_empty_feed_returns_nothing() -> None:
    framer = smpp_framer()
    assert framer.feed(b"") == []
    assert framer.feed(FRAME_A[:3]) == []
    assert framer.feed(b"") == []
    assert framer.feed(FRAME_A[3:]) == [FRAME_A]


def test_minimum_and_maximum_lengths_are_inclusive() -> None:
    framer = LengthPrefixedFramer(min_length=16, max_length=20)
    smallest = frame_of(bytes(12))
    largest = frame_of(bytes(16))
    assert framer.feed(smallest + largest) == [smallest, largest]


def test_length_below_minimum_is_refused() -> None:
    framer = smpp_framer()
    with pytest.raises(FramingError) as caught:
        framer.feed((15).to_bytes(4, "big") + bytes(11))
    assert caught.value.length == 15
    assert isinstance(caught.value, ProtocolError)


def test_oversize_length_is_refused_as_soon_as_the_prefix_arrives() -> None:
    framer = smpp_framer(max_length=1024)
    # Only the prefix: the framer must not wait for (or buffer) the announced body.
    with pytest.raises(FramingError) as caught:
        framer.feed((50_000_000).to_bytes(4, "big"))
    assert caught.value.length == 50_000_000
    assert caught.value.max_length == 1024
    assert framer.buffered == 0


def test_oversize_length_split_across_chunks_is_refused() -> None:
    framer = smpp_framer(max_length=1024)
    assert framer.feed(FRAME_A + b"\x7f\xff") == [FRAME_A]
    with pytest.raises(FramingError) as caught:
        framer.feed(b"\xff\xff" + bytes(100))
    assert caught.value.length == 0x7FFFFFFF
    assert framer.buffered == 0


def test_framer_is_dead_after_a_framing_error() -> None:
    framer = smpp_framer()
    with pytest.raises(FramingError):
        framer.feed(bytes(4))
    with pytest.raises(FramingError) as again:
        framer.feed(FRAME_A)
    assert again.value.length == 0


def test_frames_before_a_bad_length_in_the_same_chunk_are_lost_with_the_link() -> None:
    # The caller closes the connection on FramingError; frames in the same chunk go with it.
    framer = smpp_framer()
    with pytest.raises(FramingError):
        framer.feed(FRAME_A + bytes(4))


@pytest.mark.parametrize(("low", "high"), [(3, 100), (16, 15)])
def test_constructor_rejects_impossible_bounds(low: int, high: int) -> None:
    with pytest.raises(ValueError):
        LengthPrefixedFramer(min_length=low, max_length=high)


@settings(max_examples=200, deadline=None)
@given(
    bodies=st.lists(st.binary(min_size=12, max_size=300), min_size=1, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=12),
)
def test_any_chunking_yields_the_same_frames(bodies: list[bytes], cuts: list[int]) -> None:
    frames = [frame_of(body) for body in bodies]
    stream = b"".join(frames)
    points = sorted({cut % (len(stream) + 1) for cut in cuts})
    starts = [0, *points]
    ends = [*points, len(stream)]
    chunks = [stream[start:end] for start, end in zip(starts, ends, strict=True)]
    framer = smpp_framer(max_length=4096)
    out: list[bytes] = []
    for chunk in chunks:
        out += framer.feed(chunk)
    assert out == frames
    assert framer.buffered == 0


@settings(max_examples=300, deadline=None)
@given(chunks=st.lists(st.binary(max_size=200), max_size=10))
def test_random_bytes_raise_only_framing_error(chunks: list[bytes]) -> None:
    framer = LengthPrefixedFramer(min_length=12, max_length=512)
    for chunk in chunks:
        try:
            frames = framer.feed(chunk)
        except FramingError:
            return
        for frame in frames:
            assert 12 <= len(frame) <= 512
            assert int.from_bytes(frame[:4], "big") == len(frame)
        assert framer.buffered < 512
