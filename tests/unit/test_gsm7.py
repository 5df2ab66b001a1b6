"""GSM 03.38 alphabet: golden vectors, and agreement with python-messaging's independent codec."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carriers.gsm7 import (
    EXTENSION_CHARS,
    GSM7_CHARS,
    Gsm7Error,
    decode_gsm7_unpacked,
    encode_gsm7_unpacked,
    is_gsm7,
    septet_length,
)

gsm0338 = pytest.importorskip(
    "messaging.sms.gsm0338", reason="python-messaging provides the reference GSM codec"
)

GSM_TEXT = st.text(alphabet=sorted(GSM7_CHARS), max_size=400)


@pytest.mark.parametrize(
    ("text", "septets"),
    [
        ("", b""),
        ("Hello", b"Hello"),
        ("@£$¥", bytes((0x00, 0x01, 0x02, 0x03))),
        ("_", bytes((0x11,))),
        ("ÄÖÑÜ§", bytes((0x5B, 0x5C, 0x5D, 0x5E, 0x5F))),
        ("¿äöñüà", bytes((0x60, 0x7B, 0x7C, 0x7D, 0x7E, 0x7F))),
        ("ΔΦΓΛΩΠΨΣΘΞ", bytes(range(0x10, 0x1B)).replace(b"\x11", b"")),
        ("€", bytes((0x1B, 0x65))),
        ("{}", bytes((0x1B, 0x28, 0x1B, 0x29))),
        ("[~]", bytes((0x1B, 0x3C, 0x1B, 0x3D, 0x1B, 0x3E))),
        ("^|\\\f", bytes((0x1B, 0x14, 0x1B, 0x40, 0x1B, 0x2F, 0x1B, 0x0A))),
        ("a\nb\rc", b"a\nb\rc"),
        ("¤", bytes((0x24,))),
        ("¡", bytes((0x40,))),
    ],
)
def test_golden_vectors(text: str, septets: bytes) -> None:
    assert encode_gsm7_unpacked(text) == septets
    assert decode_gsm7_unpacked(septets) == text
    assert septet_length(text) == len(septets)


@pytest.mark.parametrize("text", ["中文", "ç", "`", "\t", "é\u0301", "😀", "\x1b"])
def test_characters_outside_the_alphabet_are_refused(text: str) -> None:
    assert not is_gsm7(text)
    with pytest.raises(Gsm7Error, match="not in the GSM 7-bit alphabet"):
        encode_gsm7_unpacked(text)
    with pytest.raises(Gsm7Error):
        septet_length(text)


def test_extension_characters_cost_two_septets() -> None:
    assert len(EXTENSION_CHARS) == 10
    assert septet_length("a€b") == 4
    assert septet_length("{" * 80) == 160


def test_decoder_rejects_octets_above_0x7f_and_a_dangling_escape() -> None:
    with pytest.raises(Gsm7Error):
        decode_gsm7_unpacked(b"\x80")
    with pytest.raises(Gsm7Error):
        decode_gsm7_unpacked(b"abc\x1b")


def test_unknown_escape_code_falls_back_to_the_basic_character() -> None:
    assert decode_gsm7_unpacked(b"\x1bA") == "A"


def test_every_character_matches_python_messaging() -> None:
    for char in GSM7_CHARS:
        reference = char.encode("gsm0338")
        assert encode_gsm7_unpacked(char) == reference, char
        assert decode_gsm7_unpacked(reference) == char


@given(GSM_TEXT)
def test_round_trip_and_reference_codec(text: str) -> None:
    septets = encode_gsm7_unpacked(text)
    assert codecs.decode(septets, "gsm0338") == text
    assert septets == text.encode("gsm0338")
    assert decode_gsm7_unpacked(septets) == text
    assert septet_length(text) == len(septets)
    assert all(octet <= 0x7F for octet in septets)


@given(st.text(max_size=200))
def test_is_gsm7_agrees_with_the_character_set(text: str) -> None:
    assert is_gsm7(text) == all(char in GSM7_CHARS for char in text)
    if not is_gsm7(text):
        with pytest.raises(Gsm7Error):
            encode_gsm7_unpacked(text)
