"""WSP primitives, the m-notification-ind, the WSP push and its binary short messages.

Checked against hand-written golden bytes, python-messaging's WSP/MMS decoders and UDH parser,
and (when installed) Wireshark's SMPP → GSM SMS UD → WSP → MMSE dissector chain.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carriers.codings import wire_number
from carriers.messages import TextCoding
from gateway.editions.wap_push import (
    WAP_PUSH_CODING,
    encode_mms_notification_ind,
    wap_push_segments,
    wrap_wap_push,
)
from gateway.editions.wsp import (
    decode_uintvar,
    encode_integer_value,
    encode_long_integer,
    encode_quoted_string,
    encode_short_integer,
    encode_text_string,
    encode_uintvar,
    encode_utf8_string_value,
    encode_value_length,
)

try:  # tests/unit is on sys.path when it has no __init__.py, the repository root when it has one
    from tshark_decoder import dissect, smpp_packets, udp_packet
except ImportError:  # pragma: no cover
    from tests.unit.tshark_decoder import dissect, smpp_packets, udp_packet

wsp_pdu = pytest.importorskip("messaging.mms.wsp_pdu", reason="python-messaging WSP decoder")
wap = pytest.importorskip("messaging.sms.wap", reason="python-messaging WAP push decoder")
udh_module = pytest.importorskip("messaging.sms.udh", reason="python-messaging UDH parser")
iterator = pytest.importorskip("messaging.mms.iterator")
mms_pdu = pytest.importorskip("messaging.mms.mms_pdu")

# --- WSP primitives ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "octets"),
    [
        (0, "00"),
        (0x7F, "7F"),
        (0x80, "8100"),
        (0x3FFF, "FF7F"),
        (0x4000, "818000"),
        (0xFFFFFFFF, "8FFFFFFF7F"),
    ],
)
def test_uintvar(value: int, octets: str) -> None:
    assert encode_uintvar(value) == bytes.fromhex(octets)
    assert decode_uintvar(bytes.fromhex(octets)) == (value, len(octets) // 2)


@given(st.integers(0, 0xFFFFFFFF))
def test_uintvar_agrees_with_python_messaging(value: int) -> None:
    encoded = encode_uintvar(value)
    assert wsp_pdu.Decoder.decode_uint_var(iterator.PreviewIterator(encoded)) == value
    assert decode_uintvar(b"\x00" + encoded, 1) == (value, 1 + len(encoded))


def test_uintvar_limits() -> None:
    with pytest.raises(ValueError):
        encode_uintvar(-1)
    with pytest.raises(ValueError):
        encode_uintvar(1 << 32)
    with pytest.raises(ValueError):
        decode_uintvar(b"\x81\x82")


def test_short_and_long_integers() -> None:
    assert encode_short_integer(0) == b"\x80"
    assert encode_short_integer(0x7F) == b"\xff"
    with pytest.raises(ValueError):
        encode_short_integer(0x80)
    assert encode_long_integer(0) == b"\x01\x00"
    assert encode_long_integer(30000) == b"\x02\x75\x30"
    assert encode_long_integer(259200) == b"\x03\x03\xf4\x80"
    assert encode_integer_value(5) == b"\x85"
    assert encode_integer_value(300) == b"\x02\x01\x2c"


@given(st.integers(0, (1 << 64) - 1))
def test_long_integer_agrees_with_python_messaging(value: int) -> None:
    decoded = wsp_pdu.Decoder.decode_long_integer(
        iterator.PreviewIterator(encode_long_integer(value))
    )
    assert decoded == value


def test_value_length_switches_to_uintvar_above_30() -> None:
    assert encode_value_length(30) == b"\x1e"
    assert encode_value_length(31) == b"\x1f\x1f"
    assert encode_value_length(200) == b"\x1f\x81\x48"


def test_text_string_quote_rule() -> None:
    assert encode_text_string("abc") == b"abc\x00"
    assert encode_text_string("") == b"\x00"
    assert encode_text_string("早") == b"\x7f\xe6\x97\xa9\x00"  # first octet >= 0x80 is quoted
    assert encode_quoted_string("<smil>") == b'"<smil>\x00'
    with pytest.raises(ValueError):
        encode_text_string("a\x00b")


def test_utf8_string_value() -> None:
    assert encode_utf8_string_value("Hi") == b"\x04\xeaHi\x00"
    long_subject = "新闻" * 20  # 120 octets of UTF-8: Value-length needs the uintvar form
    encoded = encode_utf8_string_value(long_subject)
    assert encoded[:4] == b"\x1f\x7b\xea\x7f"  # 123 = charset + quote + 120 + NUL
    decoded = mms_pdu.MMSDecoder.decode_encoded_string_value(iterator.PreviewIterator(encoded))
    assert decoded == long_subject


# --- m-notification-ind and push ---------------------------------------------------------------

LOCATION = "http://mmsc.example.cn/m/T123"
GOLDEN_NOTIFICATION = (
    b"\x8c\x82"  # X-Mms-Message-Type: m-notification-ind
    + b"\x98T123\x00"  # X-Mms-Transaction-Id
    + b"\x8d\x92"  # X-Mms-MMS-Version 1.2
    + b"\x89\x14\x80" + b"10658000/TYPE=PLMN\x00"  # From: length 20, address-present
    + b"\x96\x09\xeaMorning\x00"  # Subject: length 9, charset UTF-8
    + b"\x8a\x80"  # X-Mms-Message-Class: personal
    + b"\x8e\x02\x75\x30"  # X-Mms-Message-Size: 30000
    + b"\x88\x05\x81\x03\x03\xf4\x80"  # X-Mms-Expiry: relative, 259200 s
    + b"\x83" + LOCATION.encode() + b"\x00"  # X-Mms-Content-Location
)  # fmt: skip


def notification(**overrides: object) -> bytes:
    fields: dict[str, object] = {
        "transaction_id": "T123",
        "content_location": LOCATION,
        "message_size": 30000,
        "expiry_seconds": 3 * 86400,
        "subject": "Morning",
        "from_": "10658000/TYPE=PLMN",
        "message_class": "personal",
    }
    fields.update(overrides)
    return encode_mms_notification_ind(**fields)  # type: ignore[arg-type]


def test_notification_golden_bytes() -> None:
    assert notification() == GOLDEN_NOTIFICATION


def test_notification_without_sender_or_subject() -> None:
    pdu = notification(from_=None, subject=None, message_class="informational")
    assert pdu.startswith(b"\x8c\x82\x98T123\x00\x8d\x92\x89\x01\x81\x8a\x82\x8e")
    assert b"\x96" not in pdu


def test_wsp_push_golden_bytes() -> None:
    assert wrap_wap_push(b"BODY") == bytes.fromhex("000603BEAF84") + b"BODY"
    assert wrap_wap_push(b"", transaction_id=7)[:2] == b"\x07\x06"


def test_python_messaging_decodes_the_push() -> None:
    push = wrap_wap_push(notification(subject="早报 第128期"))
    assert wap.is_a_wap_push_notification(push)
    decoded = wap.extract_push_notification(push)
    assert decoded.headers["Message-Type"] == "m-notification-ind"
    assert decoded.headers["Transaction-Id"] == "T123"
    assert decoded.headers["MMS-Version"] == "1.2"
    assert decoded.headers["From"] == "10658000/TYPE=PLMN"
    assert decoded.headers["Subject"] == "早报 第128期"
    assert decoded.headers["Message-Class"] == "Personal"
    assert decoded.headers["Message-Size"] == 30000
    assert decoded.headers["Expiry"] == 259200
    assert decoded.headers["Content-Location"] == LOCATION
    assert wap.is_mms_notification(decoded)


# --- binary short messages ----------------------------------------------------------------------


def test_a_short_push_is_one_message_with_only_the_port_ie() -> None:
    push = wrap_wap_push(notification())
    (only,) = wap_push_segments(push, reference=9)
    assert only[:7] == bytes.fromhex("060504 0B84 23F0".replace(" ", ""))
    assert only[7:] == push
    assert len(only) <= 140
    assert WAP_PUSH_CODING == TextCoding.BINARY
    assert wire_number("smpp", WAP_PUSH_CODING) == 0x04
    assert wire_number("cmpp", WAP_PUSH_CODING) == 4


def test_a_long_push_carries_port_and_concatenation_ies() -> None:
    push = wrap_wap_push(notification(content_location="http://mmsc.example.cn/" + "x" * 200))
    parts = wap_push_segments(push, reference=0x42)
    assert len(parts) == 3
    for number, part in enumerate(parts, start=1):
        assert len(part) <= 140
        assert part[:12] == bytes.fromhex(f"0B05040B8423F0000342{len(parts):02X}{number:02X}")
    assert b"".join(part[12:] for part in parts) == push
    assert [len(part) for part in parts[:-1]] == [140, 140]


@given(push=st.binary(max_size=3000), reference=st.integers(0, 255))
def test_parts_reassemble_and_parse_with_python_messaging(push: bytes, reference: int) -> None:
    parts = wap_push_segments(push, reference=reference)
    payloads = []
    for number, part in enumerate(parts, start=1):
        assert len(part) <= 140
        udh_length = part[0]
        header = udh_module.UserDataHeader.from_bytes(list(part[1 : 1 + udh_length]))
        assert (header.ports.dest_port, header.ports.orig_port) == (2948, 9200)
        if len(parts) == 1:
            assert header.concat is None
        else:
            assert (header.concat.ref, header.concat.cnt, header.concat.seq) == (
                reference,
                len(parts),
                number,
            )
        payloads.append(part[1 + udh_length :])
    assert b"".join(payloads) == push


def test_reference_must_be_one_octet() -> None:
    with pytest.raises(ValueError):
        wap_push_segments(b"x", reference=256)


# --- Wireshark ----------------------------------------------------------------------------------


def test_wireshark_decodes_a_single_push(tmp_path: Path) -> None:
    push = wrap_wap_push(notification())
    frames = [udp_packet(push, src_port=9200, dst_port=2948)]
    dissection = dissect(tmp_path, frames)
    assert "mmse" in dissection.protocols()
    assert dissection.first("wsp.pdu_type") == "0x06"
    assert dissection.first("wsp.header.content_type") == "application/vnd.wap.mms-message"
    assert dissection.first("wsp.header.x_wap_application_id") == "x-wap-application:mms.ua"
    assert dissection.first("mmse.message_type") == "0x82"
    assert dissection.first("mmse.transaction_id") == "T123"
    assert dissection.first("mmse.mms_version") == "1.2"
    assert dissection.first("mmse.from") == "10658000/TYPE=PLMN"
    assert dissection.first("mmse.subject") == "Morning"
    assert dissection.first("mmse.message_class.id") == "0x80"
    assert dissection.first("mmse.message_size") == "30000"
    assert dissection.first("mmse.expiry.rel").startswith("259200")
    assert dissection.first("mmse.content_location") == LOCATION


def test_wireshark_reassembles_a_push_sent_as_several_short_messages(tmp_path: Path) -> None:
    location = "http://mmsc.example.cn/fetch?id=" + "A1b2C3" * 40
    push = wrap_wap_push(notification(content_location=location, subject="早报"))
    parts = wap_push_segments(push, reference=0x5A)
    assert len(parts) > 1
    frames = smpp_packets(parts, esm_class=0x40, data_coding=wire_number("smpp", WAP_PUSH_CODING))
    dissection = dissect(tmp_path, frames, decode_as=["tcp.port==2775,smpp"])

    total = len(parts)
    assert dissection.shows("smpp.data_coding") == ["0x04"] * total
    assert dissection.shows("gsm_sms.udh.mm.msg_id") == ["90"] * total
    assert dissection.shows("gsm_sms.udh.mm.msg_parts") == [str(total)] * total
    assert dissection.shows("gsm_sms.udh.mm.msg_part") == [str(n) for n in range(1, total + 1)]
    assert dissection.first("gsm_sms_ud.fragment.count") == str(total)
    assert dissection.first("mmse.message_type") == "0x82"
    assert dissection.first("mmse.transaction_id") == "T123"
    assert dissection.first("mmse.message_size") == "30000"
    assert dissection.first("mmse.content_location") == location
    assert dissection.first("wsp.header.x_wap_application_id") == "x-wap-application:mms.ua"
