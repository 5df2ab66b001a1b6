"""Long-SMS segmentation: every UDH byte, capacities, unbreakable pairs, exact reassembly.

Segments are decoded here by a small UDH parser written for the tests, by python-messaging (its
UDH parser and GSM codec) and, when installed, by Wireshark's SMPP and GSM SMS dissectors.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carriers.codings import PROTOCOL_CODINGS, wire_number
from carriers.gsm7 import EXTENSION_CHARS, GSM7_CHARS
from carriers.messages import TextCoding
from gateway.editions.segmentation import (
    DEFAULT_CODINGS,
    MessageTooLongError,
    SegmentedMessage,
    choose_coding,
    concatenation_udh,
    count_segments,
    fits,
    segment_text,
)

try:  # tests/unit is on sys.path when it has no __init__.py, the repository root when it has one
    from tshark_decoder import Dissection, dissect, smpp_packets
except ImportError:  # pragma: no cover
    from tests.unit.tshark_decoder import Dissection, dissect, smpp_packets

gsm0338 = pytest.importorskip("messaging.sms.gsm0338", reason="reference GSM codec")
udh_module = pytest.importorskip("messaging.sms.udh", reason="reference UDH parser")

SINGLE = {"gsm7": 160, "ascii": 140, "ucs2": 140}  # septets / octets
PER_PART = {("gsm7", 8): 153, ("gsm7", 16): 152, ("ascii", 8): 134, ("ascii", 16): 133,
            ("ucs2", 8): 134, ("ucs2", 16): 132}
SMPP_CODINGS = frozenset(PROTOCOL_CODINGS["smpp"])
CMPP_CODINGS = frozenset(PROTOCOL_CODINGS["cmpp"])
PLAIN_ASCII = frozenset(map(chr, range(0x20, 0x7F))) | {"\r", "\n"}


# --- an independent reader of what a handset receives -------------------------------------------


def parse_concatenation(udh: bytes) -> tuple[int, int, int, int]:
    """(reference, reference_bits, total, number) from a UDH, checking every byte."""
    assert udh[0] == len(udh) - 1, "UDHL must count the octets after it"
    iei, length = udh[1], udh[2]
    if iei == 0x00:
        assert length == 3 and len(udh) == 6
        return udh[3], 8, udh[4], udh[5]
    assert iei == 0x08 and length == 4 and len(udh) == 7
    return (udh[3] << 8) | udh[4], 16, udh[5], udh[6]


def decode_payload(payload: bytes, coding: TextCoding) -> str:
    if coding == TextCoding.GSM7:
        return payload.decode("gsm0338")
    if coding == TextCoding.ASCII:
        return payload.decode("ascii")
    assert coding == TextCoding.UCS2
    return payload.decode("utf-16-be")  # strict: a split surrogate pair would raise


def air_size_ok(udh: bytes, payload: bytes, coding: TextCoding) -> bool:
    """Does the part fit the 140-octet TP-UD once packed (GSM) or as is (ASCII, UCS2)?"""
    if coding != TextCoding.GSM7:
        return len(udh) + len(payload) <= 140
    header_septets = math.ceil(len(udh) * 8 / 7)  # header plus fill bits
    return header_septets + len(payload) <= 160


def reassemble(message: SegmentedMessage, reference: int, reference_bits: int) -> str:
    total = len(message.segments)
    if total == 1:
        assert message.segments[0].udh == b""
    texts = []
    for number, segment in enumerate(message.segments, start=1):
        assert air_size_ok(segment.udh, segment.payload, message.coding)
        assert segment.short_message == segment.udh + segment.payload
        if total > 1:
            assert parse_concatenation(segment.udh) == (reference, reference_bits, total, number)
            parsed = udh_module.UserDataHeader.from_bytes(list(segment.udh[1:]))
            assert (parsed.concat.ref, parsed.concat.cnt, parsed.concat.seq) == (
                reference,
                total,
                number,
            )
        text = decode_payload(segment.payload, message.coding)
        assert text == segment.text
        texts.append(text)
    return "".join(texts)


# --- golden cases --------------------------------------------------------------------------------


def test_short_gsm_text_is_one_message_without_udh() -> None:
    message = segment_text("Hello [world]", reference=1)
    assert message.coding == TextCoding.GSM7 == "gsm7"
    assert not message.has_udh
    (only,) = message.segments
    assert only.udh == b""
    assert only.payload == b"Hello \x1b\x3cworld\x1b\x3e"
    assert only.short_message == only.payload
    assert only.text == "Hello [world]"


def test_empty_text_is_one_empty_message() -> None:
    message = segment_text("", reference=0)
    assert [s.payload for s in message.segments] == [b""]


def test_chinese_text_is_ucs2_big_endian() -> None:
    message = segment_text("【早报】你好", reference=1)
    assert message.coding == TextCoding.UCS2
    assert message.segments[0].payload == "【早报】你好".encode("utf-16-be")


def test_force_ucs2() -> None:
    message = segment_text("Hello", reference=1, force_ucs2=True)
    assert message.coding == TextCoding.UCS2
    assert message.segments[0].payload == b"\x00H\x00e\x00l\x00l\x00o"
    assert segment_text("Hello", reference=1, codings=CMPP_CODINGS,
                        force_ucs2=True).coding == TextCoding.UCS2


@pytest.mark.parametrize(
    ("text", "codings", "expected"),
    [
        ("Hello [world]", DEFAULT_CODINGS, TextCoding.GSM7),
        ("Hello [world]", SMPP_CODINGS, TextCoding.GSM7),
        ("Hello [world]\r\nbye", CMPP_CODINGS, TextCoding.ASCII),
        ("`quoted`", DEFAULT_CODINGS, TextCoding.UCS2),  # not in GSM 03.38
        ("`quoted`", SMPP_CODINGS, TextCoding.ASCII),
        ("café", CMPP_CODINGS, TextCoding.UCS2),  # GSM 7-bit, but CMPP has none
        ("tab\there", CMPP_CODINGS, TextCoding.UCS2),  # not printable
        ("【早报】", CMPP_CODINGS, TextCoding.UCS2),
        ("", CMPP_CODINGS, TextCoding.ASCII),
    ],
)
def test_the_coding_is_the_first_the_carrier_takes_and_the_text_fits(
    text: str, codings: frozenset[TextCoding], expected: TextCoding
) -> None:
    assert choose_coding(text, codings) == expected
    assert segment_text(text, reference=1, codings=codings).coding == expected


def test_a_carrier_without_ucs2_cannot_take_other_text() -> None:
    with pytest.raises(ValueError, match="ascii, binary"):
        segment_text("中", reference=1, codings=frozenset({TextCoding.ASCII, TextCoding.BINARY}))


@pytest.mark.parametrize(
    ("length", "bits", "sizes"),
    [(140, 8, [140]), (141, 8, [134, 7]), (268, 8, [134, 134]), (141, 16, [133, 8])],
)
def test_ascii_capacities(length: int, bits: int, sizes: list[int]) -> None:
    text = "`" * length
    message = segment_text(text, reference=7, reference_bits=bits,  # type: ignore[arg-type]
                           codings=CMPP_CODINGS)
    assert message.coding == TextCoding.ASCII
    assert [len(s.payload) for s in message.segments] == sizes
    assert [s.text for s in message.segments] == ["`" * size for size in sizes]
    assert count_segments(text, reference_bits=bits,  # type: ignore[arg-type]
                          codings=CMPP_CODINGS) == len(sizes)
    assert fits(text, len(sizes), reference_bits=bits,  # type: ignore[arg-type]
                codings=CMPP_CODINGS)


@pytest.mark.parametrize(
    ("text", "bits", "sizes"),
    [
        ("a" * 160, 8, [160]),
        ("a" * 161, 8, [153, 8]),
        ("a" * 306, 8, [153, 153]),
        ("a" * 307, 8, [153, 153, 1]),
        ("a" * 161, 16, [152, 9]),
        ("中" * 70, 8, [140]),
        ("中" * 71, 8, [134, 8]),
        ("中" * 71, 16, [132, 10]),
        ("中" * 134, 8, [134, 134]),
    ],
)
def test_capacities(text: str, bits: int, sizes: list[int]) -> None:
    message = segment_text(text, reference=7, reference_bits=bits)  # type: ignore[arg-type]
    assert [len(s.payload) for s in message.segments] == sizes
    assert count_segments(text, reference_bits=bits) == len(sizes)  # type: ignore[arg-type]


def test_udh_bytes_8_bit_reference() -> None:
    message = segment_text("x" * 400, reference=0xAB)
    assert [s.udh for s in message.segments] == [
        bytes.fromhex("050003AB0301"),
        bytes.fromhex("050003AB0302"),
        bytes.fromhex("050003AB0303"),
    ]


def test_udh_bytes_16_bit_reference() -> None:
    message = segment_text("中" * 100, reference=0x1234, reference_bits=16)
    assert [s.udh for s in message.segments] == [
        bytes.fromhex("06080412340201"),
        bytes.fromhex("06080412340202"),
    ]


def test_escape_pair_is_not_split() -> None:
    text = "a" * 152 + "€" + "b" * 10
    first, second = segment_text(text, reference=1).segments
    assert first.payload == b"a" * 152
    assert first.text == "a" * 152
    assert second.payload.startswith(b"\x1b\x65")
    assert second.text == "€" + "b" * 10


def test_surrogate_pair_is_not_split() -> None:
    text = "中" * 66 + "😀" + "文" * 10
    first, second = segment_text(text, reference=1).segments
    assert len(first.payload) == 132  # 66 units: the emoji would need units 67 and 68
    assert first.text == "中" * 66
    assert second.text == "😀" + "文" * 10
    assert second.payload[:4] == "😀".encode("utf-16-be")


def test_astral_characters_count_two_units() -> None:
    assert count_segments("😀" * 35) == 1
    assert count_segments("😀" * 36) == 2


@pytest.mark.parametrize(("reference", "bits"), [(256, 8), (-1, 8), (65536, 16), (1, 7)])
def test_reference_must_fit(reference: int, bits: int) -> None:
    with pytest.raises(ValueError):
        segment_text("hi", reference=reference, reference_bits=bits)  # type: ignore[arg-type]


def test_more_than_255_parts_is_refused() -> None:
    text = "a" * (153 * 255 + 1)
    with pytest.raises(MessageTooLongError):
        segment_text(text, reference=1)
    with pytest.raises(MessageTooLongError):
        count_segments(text)
    assert not fits(text, 300)
    assert count_segments("a" * (153 * 255)) == 255


def test_lone_surrogate_is_refused() -> None:
    with pytest.raises(UnicodeEncodeError):
        segment_text("a\ud800b", reference=1)


def test_fits() -> None:
    assert fits("中" * 70, 1)
    assert not fits("中" * 71, 1)
    assert fits("中" * 71, 2)


def test_concatenation_udh_positions() -> None:
    with pytest.raises(ValueError):
        concatenation_udh(1, total=2, number=3)
    with pytest.raises(ValueError):
        concatenation_udh(1, total=256, number=1)


def test_segmenting_500_characters_is_fast() -> None:
    import time

    text = "【某某手机报】" + "今日要闻：" * 98
    start = time.perf_counter()
    for _ in range(200):
        segment_text(text, reference=1)
        count_segments(text)
    per_call = (time.perf_counter() - start) / 200
    assert per_call < 0.002  # generous for slow CI; typically tens of microseconds


# --- properties ----------------------------------------------------------------------------------

GSM_BASIC = sorted(GSM7_CHARS - EXTENSION_CHARS)
MIXED_ALPHABET = st.one_of(
    st.sampled_from(GSM_BASIC),
    st.sampled_from(sorted(EXTENSION_CHARS)),
    st.sampled_from("中文报新闻，。【】"),
    st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF, exclude_categories=("Cs",)),
    st.characters(exclude_categories=("Cs",)),
)
# Texts whose unbreakable pairs land right on a part boundary, where the bugs would be.
NEAR_BOUNDARY = st.builds(
    lambda place, delta, pair, tail: place[0] * (place[1] + delta) + pair + tail,
    place=st.sampled_from(
        [("a", 152), ("a", 153), ("a", 160), ("a", 305), ("中", 66), ("中", 67), ("中", 70)]
    ),
    delta=st.integers(-2, 1),
    pair=st.one_of(st.sampled_from(sorted(EXTENSION_CHARS)), st.sampled_from("😀𠀀🇨🇳")),
    tail=st.text(alphabet=MIXED_ALPHABET, min_size=1, max_size=40),
)
TEXTS = st.one_of(
    NEAR_BOUNDARY,
    st.text(alphabet=GSM_BASIC + sorted(EXTENSION_CHARS), max_size=800),
    st.text(alphabet=MIXED_ALPHABET, max_size=600),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=400),
)
REFERENCES = st.tuples(st.sampled_from([8, 16]), st.integers(0, 65535)).map(
    lambda pair: (pair[0], pair[1] % (1 << pair[0]))
)


@settings(max_examples=300)
@given(text=TEXTS, reference=REFERENCES, force_ucs2=st.booleans(),
       codings=st.sampled_from([DEFAULT_CODINGS, SMPP_CODINGS, CMPP_CODINGS]))
def test_segments_reassemble_exactly(
    text: str, reference: tuple[int, int], force_ucs2: bool, codings: frozenset[TextCoding]
) -> None:
    bits, ref = reference
    message = segment_text(text, reference=ref, reference_bits=bits, codings=codings,  # type: ignore[arg-type]
                           force_ucs2=force_ucs2)
    assert reassemble(message, ref, bits) == text
    assert count_segments(text, reference_bits=bits, codings=codings,  # type: ignore[arg-type]
                          force_ucs2=force_ucs2) == len(message.segments)
    if force_ucs2:
        expected_coding = TextCoding.UCS2
    elif TextCoding.GSM7 in codings and set(text) <= GSM7_CHARS:
        expected_coding = TextCoding.GSM7
    elif TextCoding.ASCII in codings and set(text) <= PLAIN_ASCII:
        expected_coding = TextCoding.ASCII
    else:
        expected_coding = TextCoding.UCS2
    assert message.coding == expected_coding


@settings(max_examples=300)
@given(text=TEXTS, bits=st.sampled_from([8, 16]),
       codings=st.sampled_from([DEFAULT_CODINGS, CMPP_CODINGS]))
def test_parts_are_full_unless_a_pair_forbids_it(
    text: str, bits: int, codings: frozenset[TextCoding]
) -> None:
    """Greedy and minimal: a part is short only when the next unit is an unbreakable pair."""
    message = segment_text(text, reference=0, reference_bits=bits, codings=codings)  # type: ignore[arg-type]
    segments = message.segments
    if len(segments) == 1:
        assert len(segments[0].payload) <= SINGLE[message.coding]
        return
    capacity = PER_PART[message.coding, bits]
    for current, following in itertools.pairwise(segments):
        size = len(current.payload)
        if message.coding == TextCoding.ASCII:
            assert size == capacity
        elif message.coding == TextCoding.GSM7:
            assert current.payload[-1:] != b"\x1b"
            assert size == capacity or (size == capacity - 1 and following.payload[0] == 0x1B)
        else:
            assert not 0xD8 <= current.payload[-2] <= 0xDB
            assert size == capacity or (
                size == capacity - 2 and 0xD8 <= following.payload[0] <= 0xDB
            )
    assert 0 < len(segments[-1].payload) <= capacity


# --- Wireshark ----------------------------------------------------------------------------------


def _wireshark_reassembly(tmp_path: Path, message: SegmentedMessage) -> Dissection:
    frames = smpp_packets(
        [s.short_message for s in message.segments],
        esm_class=0x40 if message.has_udh else 0x00,
        data_coding=wire_number("smpp", message.coding),
    )
    return dissect(tmp_path, frames, decode_as=["tcp.port==2775,smpp"])


@pytest.mark.parametrize(
    ("text", "bits", "reference"),
    [
        ("【某某手机报】今日要闻😀：" * 30 + "回复TD退订", 8, 0xA5),
        ("Prices {EUR} €5 [sale] ^_^ | " * 20, 16, 0xBEEF),
    ],
)
def test_wireshark_reassembles_the_parts(
    tmp_path: Path, text: str, bits: int, reference: int
) -> None:
    message = segment_text(text, reference=reference, reference_bits=bits)  # type: ignore[arg-type]
    total = len(message.segments)
    assert total > 1
    dissection = _wireshark_reassembly(tmp_path, message)

    data_coding = wire_number("smpp", message.coding)
    assert dissection.shows("smpp.data_coding") == [f"0x{data_coding:02x}"] * total
    assert dissection.shows("smpp.esm.submit.features") == ["0x01"] * total  # UDHI
    iei = "0x00" if bits == 8 else "0x08"
    assert dissection.shows("gsm_sms.ie_identifier") == [iei] * total
    assert dissection.shows("gsm_sms.udh.mm.msg_id") == [str(reference)] * total
    assert dissection.shows("gsm_sms.udh.mm.msg_parts") == [str(total)] * total
    assert dissection.shows("gsm_sms.udh.mm.msg_part") == [str(n) for n in range(1, total + 1)]
    assert dissection.first("gsm_sms_ud.fragment.count") == str(total)

    bodies = [field.get("show", "") for field in dissection.fields("gsm_sms_ud.short_msg")]
    reassembled = bytes.fromhex(bodies[-1].replace(":", ""))
    assert decode_payload(reassembled, message.coding) == text
