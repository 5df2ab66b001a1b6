"""The 64-bit CMPP Msg_Id: bit fields, text form, generator."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carriers.cmpp.msg_id import (
    MsgIdGenerator,
    MsgIdParts,
    msg_id_text,
    pack_msg_id,
    parse_msg_id_text,
    unpack_msg_id,
)

# One step in each field, written from the docs/wire-formats.md §2.9 layout.
BASE = 0x1080000000000000  # month 1 (bits 64-61), day 1 (bits 60-56)


@pytest.mark.parametrize(
    ("parts", "value"),
    [
        ((1, 1, 0, 0, 0, 0, 0), 0x1080000000000000),
        ((2, 1, 0, 0, 0, 0, 0), BASE + 0x1000000000000000),  # month << 60
        ((1, 2, 0, 0, 0, 0, 0), BASE + 0x0080000000000000),  # day << 55
        ((1, 1, 1, 0, 0, 0, 0), BASE + 0x0004000000000000),  # hour << 50
        ((1, 1, 0, 1, 0, 0, 0), BASE + 0x0000100000000000),  # minute << 44
        ((1, 1, 0, 0, 1, 0, 0), BASE + 0x0000004000000000),  # second << 38
        ((1, 1, 0, 0, 0, 1, 0), BASE + 0x0000000000010000),  # gateway code << 16
        ((1, 1, 0, 0, 0, 0, 1), BASE + 0x0000000000000001),  # sequence
        # 12 = 1100, 31 = 11111, 23 = 10111, 59 = 111011, 59 = 111011, then 22 + 16 ones:
        # 1100 1111 1101 1111 1011 1110 11|11 1111 ... = C F D F B E F F F F F F F F F F
        ((12, 31, 23, 59, 59, 0x3FFFFF, 0xFFFF), 0xCFDFBEFFFFFFFFFF),
    ],
)
def test_pack_and_unpack(parts: tuple[int, ...], value: int) -> None:
    assert pack_msg_id(*parts) == value
    assert unpack_msg_id(value) == MsgIdParts(*parts)


@settings(max_examples=200, deadline=None)
@given(
    month=st.integers(1, 12),
    day=st.integers(1, 31),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    second=st.integers(0, 59),
    gateway_code=st.integers(0, (1 << 22) - 1),
    sequence=st.integers(0, 0xFFFF),
)
def test_pack_unpack_text_round_trip(
    month: int, day: int, hour: int, minute: int, second: int, gateway_code: int, sequence: int
) -> None:
    parts = MsgIdParts(month, day, hour, minute, second, gateway_code, sequence)
    value = pack_msg_id(*parts)
    assert unpack_msg_id(value) == parts
    text = msg_id_text(value)
    assert len(text) == 16
    assert parse_msg_id_text(text) == value


@settings(max_examples=200, deadline=None)
@given(value=st.integers(0, (1 << 64) - 1))
def test_any_64_bit_value_unpacks_and_round_trips_as_text(value: int) -> None:
    unpack_msg_id(value)  # foreign ISMGs' ids need not follow the layout
    assert parse_msg_id_text(msg_id_text(value)) == value


@pytest.mark.parametrize(
    ("index", "bad", "field"),
    [
        (0, 0, "month"),
        (0, 13, "month"),
        (1, 0, "day"),
        (1, 32, "day"),
        (2, 24, "hour"),
        (3, 60, "minute"),
        (4, 60, "second"),
        (4, -1, "second"),
        (5, 1 << 22, "gateway_code"),
        (6, 0x10000, "sequence"),
        (6, True, "sequence"),
    ],
)
def test_pack_refuses_fields_out_of_range(index: int, bad: int, field: str) -> None:
    parts = [1, 1, 0, 0, 0, 0, 0]
    parts[index] = bad
    with pytest.raises(ValueError, match=field):
        pack_msg_id(*parts)


def test_text_form() -> None:
    assert msg_id_text(0x1234) == "0000000000001234"
    assert msg_id_text(0xCFDFBEFFFFFFFFFF) == "CFDFBEFFFFFFFFFF"
    assert msg_id_text(0) == "0" * 16
    assert parse_msg_id_text("cfdfbeffffffffff") == 0xCFDFBEFFFFFFFFFF


@pytest.mark.parametrize("value", [-1, 1 << 64, 1.0, "1"])
def test_text_form_refuses_values_outside_64_bits(value: object) -> None:
    with pytest.raises(ValueError):
        msg_id_text(value)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        unpack_msg_id(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "123",
        "000000000000123",  # 15 digits
        "00000000000001234",  # 17 digits
        "0x00000000001234",
        " 000000000001234",
        "000000000001234\n",
        "+000000000001234",
        "0000_00000001234",
        "000000000000123G",
        "００００００００００００１２３４",  # full-width digits
        "12345678901234567890",  # the decimal form is not the stored form
    ],
)
def test_parse_refuses_anything_but_16_hex_digits(text: str) -> None:
    with pytest.raises(ValueError, match="16 hexadecimal"):
        parse_msg_id_text(text)


def test_generator_stamps_the_time_and_gateway() -> None:
    generator = MsgIdGenerator(0x12345)
    now = datetime(2026, 3, 1, 8, 30, 15)
    first = unpack_msg_id(generator.next(now))
    second = unpack_msg_id(generator.next(now))
    assert first == MsgIdParts(3, 1, 8, 30, 15, 0x12345, 0)
    assert second == MsgIdParts(3, 1, 8, 30, 15, 0x12345, 1)


def test_generator_is_unique_for_65536_ids_in_one_second_then_wraps() -> None:
    generator = MsgIdGenerator(7, start=10)
    now = datetime(2026, 3, 1, 8, 30, 15)
    ids = [generator.next(now) for _ in range(0x10000)]
    assert len(set(ids)) == 0x10000
    assert generator.next(now) == ids[0]  # the documented limit: the 65,537th repeats


def test_generator_counter_runs_on_across_seconds() -> None:
    generator = MsgIdGenerator(7)
    a = generator.next(datetime(2026, 3, 1, 8, 30, 15))
    generator.next(datetime(2026, 3, 1, 8, 30, 16))
    b = generator.next(datetime(2026, 3, 1, 8, 30, 15))  # the clock stepped back
    assert a != b


@pytest.mark.parametrize(("gateway_code", "start"), [(-1, 0), (1 << 22, 0), (0, 0x10000)])
def test_generator_refuses_bad_arguments(gateway_code: int, start: int) -> None:
    with pytest.raises(ValueError):
        MsgIdGenerator(gateway_code, start=start)
