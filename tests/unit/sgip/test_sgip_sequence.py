"""SGIP sequence numbers (protocols.md §3.1): the three words, the text form, the generator."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carriers.sgip.sequence import (
    MAX_COUNTER,
    SequenceGenerator,
    SequenceNumber,
    parse_sequence_text,
    sequence_text,
    sp_node_id,
    timestamp_for,
)

WORDS = st.integers(min_value=0, max_value=0xFFFFFFFF)


def test_packed_is_three_big_endian_words() -> None:
    sequence = SequenceNumber(3075512345, 1202141030, 1)
    assert sequence.packed().hex() == "b7509819" "47a73766" "00000001"
    assert SequenceNumber.unpack(b"xx" + sequence.packed(), 2) == sequence


def test_text_form_is_fixed_width_decimal() -> None:
    assert sequence_text(SequenceNumber(3075512345, 1202141030, 1)) == (
        "3075512345-1202141030-0000000001")
    assert str(SequenceNumber(110001, 101000000, 42)) == "0000110001-0101000000-0000000042"


@given(WORDS, WORDS, WORDS)
def test_text_and_key_round_trip(node: int, stamp: int, counter: int) -> None:
    sequence = SequenceNumber(node, stamp, counter)
    text = sequence_text(sequence)
    assert len(text) == 32
    assert parse_sequence_text(text) == sequence
    assert SequenceNumber.from_key(sequence.key()) == sequence
    assert sequence.key() == int.from_bytes(sequence.packed(), "big")


@pytest.mark.parametrize("text", [
    "", "1-2-3", "3075512345-1202141030-1", "3075512345_1202141030_0000000001",
    "3075512345-1202141030-00000000010", " 3075512345-1202141030-0000000001",
    "9999999999-1202141030-0000000001",  # node id over 32 bits
])
def test_parse_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError):
        parse_sequence_text(text)


def test_words_are_checked() -> None:
    with pytest.raises(ValueError):
        SequenceNumber(1 << 32, 0, 0)
    with pytest.raises(TypeError):
        SequenceNumber(1, 2, "3")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SequenceNumber.from_key(1 << 96)


def test_timestamp_is_mmddhhmmss() -> None:
    """§3.1: e.g. 1120203225 for 20 Nov 20:32:25."""
    assert timestamp_for(datetime(2026, 11, 20, 20, 32, 25)) == 1120203225
    assert timestamp_for(datetime(2026, 1, 2, 3, 4, 5)) == 102030405
    assert timestamp_for(datetime(2026, 12, 31, 23, 59, 59)) == 1231235959 < 1 << 32


def test_sp_node_id_is_3aaaaqqqqq() -> None:
    """§3.1: area code left-aligned in four digits, padded with zeros; then the corp id."""
    assert sp_node_id("0755", 12345) == 3755012345
    assert sp_node_id("755", 12345) == 3755012345
    assert sp_node_id("010", 1) == 3100000001
    assert sp_node_id("0371", 99999) == 3371099999
    for bad_area, corp in (("", 1), ("12345", 1), ("07a5", 1), ("0755", 100000)):
        with pytest.raises(ValueError):
            sp_node_id(bad_area, corp)


def test_generator_counts_and_stamps() -> None:
    generator = SequenceGenerator(3755012345)
    first = generator.next(1202141030)
    second = generator.next(1202141031)
    assert first == SequenceNumber(3755012345, 1202141030, 1)
    assert second == SequenceNumber(3755012345, 1202141031, 2)


def test_generator_wraps_to_one() -> None:
    generator = SequenceGenerator(1, start=MAX_COUNTER)
    assert generator.next(0).counter == MAX_COUNTER
    assert generator.next(0).counter == 1


def test_generator_checks_its_arguments() -> None:
    with pytest.raises(ValueError):
        SequenceGenerator(1 << 32)
    with pytest.raises(ValueError):
        SequenceGenerator(1, start=0)
