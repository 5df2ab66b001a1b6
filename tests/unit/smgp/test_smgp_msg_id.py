"""The SMGP MsgID (docs/protocols.md §4.6): BCD fields, the 20-hex-digit text form, ids."""

from __future__ import annotations

from datetime import datetime

import pytest

from carriers.smgp.msg_id import (
    MsgIdGenerator,
    MsgIdParts,
    msg_id_text,
    pack_msg_id,
    parse_msg_id_text,
    unpack_msg_id,
)

EXAMPLE = bytes.fromhex("01006101161700012345")


def test_example_of_the_reference() -> None:
    assert pack_msg_id("010061", "01161700", 12345) == EXAMPLE
    assert unpack_msg_id(EXAMPLE) == MsgIdParts("010061", "01161700", "012345")


def test_text_form_is_twenty_upper_case_hex_digits() -> None:
    assert msg_id_text(EXAMPLE) == "01006101161700012345"
    assert msg_id_text(bytes.fromhex("abcdef0123456789abcd")) == "ABCDEF0123456789ABCD"
    assert parse_msg_id_text("abcdef0123456789abcd") == bytes.fromhex("abcdef0123456789abcd")
    for value in (EXAMPLE, bytes(10), b"\xff" * 10):
        assert parse_msg_id_text(msg_id_text(value)) == value


@pytest.mark.parametrize("text", ["", "0" * 19, "0" * 21, "G" * 20, " " + "0" * 19])
def test_parse_refuses_anything_but_twenty_hex_digits(text: str) -> None:
    with pytest.raises(ValueError):
        parse_msg_id_text(text)


@pytest.mark.parametrize("value", [b"", bytes(9), bytes(11)])
def test_text_form_needs_ten_octets(value: bytes) -> None:
    with pytest.raises(ValueError):
        msg_id_text(value)


@pytest.mark.parametrize(("gateway", "time", "sequence"), [
    ("01006", "01161700", 0), ("01006a", "01161700", 0), ("010061", "0116170", 0),
    ("010061", "01161700", -1), ("010061", "01161700", 1_000_000),
])
def test_pack_checks_its_fields(gateway: str, time: str, sequence: int) -> None:
    with pytest.raises(ValueError):
        pack_msg_id(gateway, time, sequence)


def test_generator_ids_are_unique_and_stamped() -> None:
    ids = MsgIdGenerator("010061", start=999_998)
    now = datetime(2026, 1, 16, 17, 0, 5)
    first, second, third = ids.next(now), ids.next(now), ids.next(now)
    assert msg_id_text(first) == "01006101161700999998"
    assert msg_id_text(second) == "01006101161700999999"
    assert msg_id_text(third) == "01006101161700000000"
    seen = {ids.next(now) for _ in range(5000)}
    assert len(seen) == 5000


def test_generator_checks_its_arguments() -> None:
    with pytest.raises(ValueError):
        MsgIdGenerator("1234")
    with pytest.raises(ValueError):
        MsgIdGenerator("010061", start=1_000_000)
