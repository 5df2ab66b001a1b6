"""Reading MMS headers (gateway.editions.mms_headers) and each subscriber's own notification
(gateway.editions.subscriber_notice): pure."""

from __future__ import annotations

import array
import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.editions.mms import MmsHeaders, MmsPage, encode_retrieve_conf
from gateway.editions.mms_headers import (
    MmsDecodeError,
    decode_handset_report,
    decode_headers,
    with_transaction_id,
)
from gateway.editions.subscriber_notice import (
    TOKEN_PATTERN,
    TRANSACTION_ID_CHARS,
    EditionAnnouncement,
    content_location,
    new_token,
    new_transaction_id,
)
from gateway.editions.wap_push import encode_mms_notification_ind

mms_pdu = pytest.importorskip("messaging.mms.mms_pdu")
wap = pytest.importorskip("messaging.sms.wap", reason="python-messaging WAP push decoder")

DATE = datetime(2020, 11, 18, 7, 0, tzinfo=UTC)
HEADERS = MmsHeaders(transaction_id="sdgw-7-china_mobile", date=DATE, subject="山东手机报 早报",
                     from_="10658000/TYPE=PLMN", message_class="informational")
PDU = encode_retrieve_conf(HEADERS, [MmsPage(text="第一页"), MmsPage(text="第二页")])


def python_messaging(pdu: bytes) -> dict[str, object]:
    return mms_pdu.MMSDecoder().decode_data(array.array("B", pdu)).headers


def test_our_retrieve_conf_reads_back() -> None:
    fields = decode_headers(PDU)
    assert fields.message_type_name == "m-retrieve-conf"
    assert fields.transaction_id == "sdgw-7-china_mobile"
    assert fields.mms_version == 0x92
    assert fields.subject == "山东手机报 早报"
    assert fields.from_ == "10658000/TYPE=PLMN"
    assert fields.message_class == "informational"
    assert fields.date == int(DATE.timestamp())
    assert fields.body_offset is not None and PDU[fields.body_offset] == 3  # three parts
    start, end = fields.transaction_id_span  # type: ignore[misc]
    assert PDU[start:end] == b"sdgw-7-china_mobile\x00"


def test_a_subscribers_transaction_id_replaces_the_stored_one() -> None:
    served = with_transaction_id(PDU, "00000000002a" + "0123456789ab")
    assert len(served) == len(PDU) - len("sdgw-7-china_mobile") + 24
    theirs = python_messaging(served)
    assert theirs["Transaction-Id"] == "00000000002a0123456789ab"
    assert theirs["Subject"] == "山东手机报 早报"
    stored = decode_headers(PDU)
    assert served[decode_headers(served).body_offset:] == PDU[stored.body_offset:]


def test_handset_reports() -> None:
    notifyresp = b"\x8c\x83\x98T-1\x00\x8d\x92\x95\x83\x91\x81"
    report = decode_handset_report(notifyresp)
    assert (report.kind, report.transaction_id, report.status) == ("notifyresp", "T-1",
                                                                    "deferred")
    acknowledge = b"\x8c\x85\x98T-1\x00\x8d\x92\x91\x80"
    report = decode_handset_report(acknowledge)
    assert (report.kind, report.transaction_id, report.status) == ("acknowledge", "T-1", None)
    assert decode_headers(acknowledge).report_allowed is True
    # A quoted transaction id, and an application header in between, are read.
    quoted = b"\x8c\x83\x98\x7f\xc3\xa9\x00\x8d\x92X-Vendor\x00yes\x00\x95\x81"
    assert decode_handset_report(quoted).transaction_id == "é"
    assert decode_handset_report(quoted).status == "retrieved"


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "starts with"),
    (b"\x98T\x00", "starts with"),
    (b"\x8c\x82\x98T\x00\x8d\x92", "expected m-notifyresp-ind"),
    (b"\x8c\x83\x8d\x92\x95\x81", "without X-Mms-Transaction-Id"),
    (b"\x8c\x83\x98T\x00\x95\x81", "without X-Mms-MMS-Version"),
    (b"\x8c\x83\x98T\x00\x8d\x92", "without X-Mms-Status"),
    (b"\x8c\x83\x98T", "no NUL"),
    (b"\x8c\x83\x98T\x00\x8d\x92\x95\x81\x89\x05\x80", "runs past the end"),
    (b"\x8c\x83\x98T\x00\x8d\x92\x95\x81\x89\x1f\xff", "bad value length"),
    (b"\x8c\x83\x98T\x00\x8d\x92\x95", "missing"),
    (b"\x8c\x83\x98\xff\xfe\x00\x8d\x92\x95\x81", "NUL-terminated"),  # 0xFF: not a text
    (b"\x8c\x83\x98T\x00\x8d\x92\x95T\x00", "short integer"),
    (b"\x8c\x83\x98\x7f\xff\xfe\x00\x8d\x92\x95\x81", "not UTF-8"),
])
def test_what_is_not_a_handset_report_is_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(MmsDecodeError, match=reason):
        decode_handset_report(data)


@given(st.binary(max_size=300))
def test_any_octets_decode_or_raise_the_decode_error(data: bytes) -> None:
    for candidate in (data, b"\x8c" + data, b"\x8c\x83\x98" + data):
        with contextlib.suppress(MmsDecodeError):
            decode_handset_report(candidate)


@given(transaction_id=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E),
                              min_size=1, max_size=40),
       status=st.integers(0x80, 0x87))
def test_handset_reports_round_trip(transaction_id: str, status: int) -> None:
    data = b"\x8c\x83\x98" + transaction_id.encode() + b"\x00\x8d\x92\x95" + bytes((status,))
    report = decode_handset_report(data)
    assert report.transaction_id == transaction_id
    assert report.status in ("expired", "retrieved", "rejected", "deferred", "unrecognised",
                             "indeterminate", "forwarded", "unreachable")


# --- each subscriber's notification ------------------------------------------------------------


def test_tokens_and_transaction_ids() -> None:
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000 and all(TOKEN_PATTERN.fullmatch(t) for t in tokens)
    ids = {new_transaction_id(42) for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) == TRANSACTION_ID_CHARS and i.startswith("00000000002a") for i in ids)
    with pytest.raises(ValueError):
        new_transaction_id(1 << 48)
    assert content_location("http://m.example/", "t" * 24) == "http://m.example/mms/" + "t" * 24


def test_every_subscribers_notification_has_the_same_shape() -> None:
    announcement = EditionAnnouncement.from_retrieve_conf(PDU, push_reference=0x87)
    expires = DATE + timedelta(hours=72)
    lengths = set()
    for delivery_id in (1, 99, 123456789):
        token, transaction_id = new_token(), new_transaction_id(delivery_id)
        location = content_location("http://mms.example.cn:8081", token)
        notification = announcement.notification(transaction_id=transaction_id,
                                                 location=location, expires_at=expires)
        lengths.add(len(notification))
        headers = wap.extract_push_notification(
            b"\x00\x06\x03\xbe\xaf\x84" + notification).headers
        assert headers["Transaction-Id"] == transaction_id
        assert headers["Content-Location"] == location
        assert headers["Message-Size"] == len(announcement.served(transaction_id))
        assert headers["Expiry"] == expires.replace(tzinfo=None)
        assert headers["Subject"] == "山东手机报 早报"
        assert headers["From"] == "10658000/TYPE=PLMN"
        assert headers["Message-Class"] == "Informational"
        segments = announcement.push_segments(transaction_id=transaction_id, location=location,
                                              expires_at=expires)
        assert len(segments) == len(announcement.specimen(base_url="http://mms.example.cn:8081",
                                                          expires_at=expires))
    assert len(lengths) == 1


def test_a_relative_or_an_absolute_expiry_but_not_both() -> None:
    with pytest.raises(ValueError):
        encode_mms_notification_ind(transaction_id="T", content_location="x", message_size=1)
    with pytest.raises(ValueError):
        encode_mms_notification_ind(transaction_id="T", content_location="x", message_size=1,
                                    expiry_seconds=1, expires_at=DATE)
    with pytest.raises(ValueError):
        encode_mms_notification_ind(transaction_id="T", content_location="x", message_size=1,
                                    expires_at=datetime(2020, 1, 1))
