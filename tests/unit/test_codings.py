"""Coding names, each protocol's numbers for them, and decoding payloads by name."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carriers.codings import (
    PROTOCOL_CODINGS,
    coding_from_wire,
    protocol_codings,
    sending_codings,
    wire_number,
)
from carriers.messages import TextCoding
from carriers.text_coding import decode_text
from gateway.editions.segmentation import DEFAULT_CODINGS
from gateway.inbound import sms_parts


@pytest.mark.parametrize(
    ("protocol", "coding", "number"),
    [
        ("smpp", TextCoding.GSM7, 0x00),
        ("smpp", TextCoding.ASCII, 0x01),
        ("smpp", TextCoding.LATIN1, 0x03),
        ("smpp", TextCoding.BINARY, 0x04),
        ("smpp", TextCoding.UCS2, 0x08),
        ("cmpp", TextCoding.ASCII, 0),
        ("cmpp", TextCoding.BINARY, 4),
        ("cmpp", TextCoding.UCS2, 8),
        ("cmpp", TextCoding.GBK, 15),
        ("sgip", TextCoding.GBK, 15),
        ("smgp", TextCoding.UCS2, 8),
    ],
)
def test_wire_numbers_both_ways(protocol: str, coding: TextCoding, number: int) -> None:
    assert wire_number(protocol, coding) == number
    assert coding_from_wire(protocol, number) == coding


@pytest.mark.parametrize("protocol", sorted(PROTOCOL_CODINGS))
def test_every_number_a_protocol_writes_reads_back(protocol: str) -> None:
    for coding, number in PROTOCOL_CODINGS[protocol].items():
        assert coding_from_wire(protocol, number) == coding
    assert protocol_codings(protocol) == frozenset(PROTOCOL_CODINGS[protocol])


def test_a_coding_the_protocol_cannot_carry_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"^cmpp cannot carry gsm7$"):
        wire_number("cmpp", TextCoding.GSM7)
    with pytest.raises(ValueError, match=r"^smpp cannot carry gbk$"):
        wire_number("smpp", TextCoding.GBK)


def test_unknown_numbers_and_protocols_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"cmpp coding 3 \(0x03\)"):
        coding_from_wire("cmpp", 3)
    with pytest.raises(ValueError, match=r"smpp coding 2 \(0x02\)"):
        coding_from_wire("smpp", 0x02)
    with pytest.raises(ValueError, match="unknown link protocol 'x25'"):
        wire_number("x25", TextCoding.UCS2)
    with pytest.raises(ValueError, match="unknown link protocol"):
        coding_from_wire("x25", 0)
    with pytest.raises(ValueError, match="unknown link protocol"):
        protocol_codings("x25")


def test_smpp_reads_the_gsm_dcs_group_and_gbk() -> None:
    assert [coding_from_wire("smpp", n) for n in range(0xF0, 0xF8)] == (
        [TextCoding.GSM7] * 4 + [TextCoding.BINARY] * 4)
    assert coding_from_wire("smpp", 0x0F) == TextCoding.GBK
    assert coding_from_wire("cmpp", 0) == TextCoding.ASCII  # not GSM 7-bit


def test_the_table_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(TypeError):
        PROTOCOL_CODINGS["smpp"][TextCoding.GBK] = 15  # type: ignore[index]


@pytest.mark.parametrize(
    ("payload", "coding", "text"),
    [
        (b"Hello \x1b\x3cworld\x1b\x3e", TextCoding.GSM7, "Hello [world]"),
        (b"Hello `x`", TextCoding.ASCII, "Hello `x`"),
        ("café".encode("latin-1"), TextCoding.LATIN1, "café"),
        ("退订".encode("utf-16-be"), TextCoding.UCS2, "退订"),
        ("退订".encode("gbk"), TextCoding.GBK, "退订"),
        ("𠀀".encode("gb18030"), TextCoding.GBK, "𠀀"),
    ],
)
def test_decode_text(payload: bytes, coding: TextCoding, text: str) -> None:
    assert decode_text(payload, coding) == text


@pytest.mark.parametrize(
    ("payload", "coding", "message"),
    [
        (b"\x01\x02", TextCoding.BINARY, "binary does not carry text"),
        (b"\x00\x41\x00", TextCoding.UCS2, "odd number of octets"),
        (b"\xd8\x00", TextCoding.UCS2, "not valid ucs2"),
        (b"\xff", TextCoding.ASCII, "not valid ascii"),
        (b"\x1b", TextCoding.GSM7, "not valid gsm7"),
        (b"\xff\xff", TextCoding.GBK, "not valid gbk"),
    ],
)
def test_decode_text_names_the_coding_it_refuses(
    payload: bytes, coding: TextCoding, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        decode_text(payload, coding)


@given(st.text(st.characters(exclude_categories=("Cs",)), max_size=50))
def test_ucs2_round_trips(text: str) -> None:
    assert decode_text(text.encode("utf-16-be"), TextCoding.UCS2) == text


def test_reply_parts_take_the_carriers_codings() -> None:
    (smpp,) = sms_parts("Reply TD to stop", 1)
    assert smpp.coding == TextCoding.GSM7 and smpp.payload == b"Reply TD to stop"
    (cmpp,) = sms_parts("Reply TD to stop", 1, sending_codings("cmpp"))
    assert cmpp.coding == TextCoding.ASCII and cmpp.payload == b"Reply TD to stop"
    (chinese,) = sms_parts("退订成功", 1, sending_codings("cmpp"))
    assert chinese.coding == TextCoding.UCS2
    assert sms_parts("x" * 200, 300, DEFAULT_CODINGS)[0].has_udh


def test_text_goes_out_in_codings_every_peer_takes() -> None:
    """SMPP sends GSM 7-bit or UCS2 (never its SMSC-specific ASCII, data_coding 1); the
    Chinese protocols have no GSM 7-bit and send ASCII or UCS2."""
    assert sending_codings("smpp") == {TextCoding.GSM7, TextCoding.UCS2}
    for protocol in ("cmpp", "sgip", "smgp"):
        assert sending_codings(protocol) == {TextCoding.ASCII, TextCoding.UCS2}
        assert sending_codings(protocol) <= protocol_codings(protocol)
    (backtick,) = sms_parts("`quoted`", 1, sending_codings("smpp"))
    assert backtick.coding is TextCoding.UCS2
    with pytest.raises(ValueError, match="unknown link protocol"):
        sending_codings("x25")
