"""CMPP login authenticators and the CONNECT timestamp."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from carriers.cmpp.auth import (
    authenticator_ismg,
    authenticator_ismg_matches,
    authenticator_source,
    authenticator_source_matches,
    timestamp_for,
)

SOURCE = bytes.fromhex("00112233445566778899aabbccddeeff")


def test_timestamp_is_mmddhhmmss_as_an_int() -> None:
    assert timestamp_for(datetime(2026, 3, 1, 0, 0, 0)) == 301000000
    assert timestamp_for(datetime(2025, 12, 31, 23, 59, 59)) == 1231235959
    assert timestamp_for(datetime(2026, 1, 2, 3, 4, 5)) == 102030405


def test_timestamp_uses_the_time_zone_of_its_argument() -> None:
    beijing = timezone(timedelta(hours=8))
    when = datetime(2026, 1, 1, 7, 30, 0, tzinfo=beijing)
    assert timestamp_for(when) == 101073000
    assert timestamp_for(when.astimezone(UTC)) == 1231233000


def test_authenticator_source_vector() -> None:
    expected = hashlib.md5(
        b"901234"  # Source_Addr
        + b"\x00\x00\x00\x00\x00\x00\x00\x00\x00"  # nine 0x00 octets
        + b"secret"  # shared secret
        + b"0301000000"  # timestamp, 10 digits zero-padded
    ).digest()
    assert authenticator_source("901234", "secret", 301000000) == expected
    assert len(expected) == 16


def test_authenticator_source_matches() -> None:
    value = authenticator_source("901234", "secret", 301000000)
    assert authenticator_source_matches(value, "901234", "secret", 301000000)
    assert not authenticator_source_matches(value, "901234", "secreT", 301000000)
    assert not authenticator_source_matches(value, "901234", "secret", 301000001)
    assert not authenticator_source_matches(value[:15], "901234", "secret", 301000000)


@pytest.mark.parametrize("timestamp", [-1, 1 << 32])
def test_authenticator_source_refuses_a_timestamp_that_does_not_fit(timestamp: int) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        authenticator_source("901234", "secret", timestamp)


def test_authenticator_ismg_3_0_packs_the_status_in_four_octets() -> None:
    expected = hashlib.md5(b"\x00\x00\x00\x00" + SOURCE + b"secret").digest()
    assert authenticator_ismg(0, SOURCE, "secret", 0x30) == expected


def test_authenticator_ismg_2_0_packs_the_status_in_one_octet() -> None:
    expected = hashlib.md5(b"\x00" + SOURCE + b"secret").digest()
    assert authenticator_ismg(0, SOURCE, "secret", 0x20) == expected
    assert authenticator_ismg(0, SOURCE, "secret", 0x21) == expected


def test_authenticator_ismg_refuses_a_status_wider_than_its_field() -> None:
    with pytest.raises(ValueError, match="status"):
        authenticator_ismg(256, SOURCE, "secret", 0x20)


def test_2_0_answers_match_with_either_status_width() -> None:
    one_octet = hashlib.md5(b"\x00" + SOURCE + b"secret").digest()
    four_octets = hashlib.md5(b"\x00\x00\x00\x00" + SOURCE + b"secret").digest()
    assert authenticator_ismg_matches(one_octet, 0, SOURCE, "secret", 0x20)
    assert authenticator_ismg_matches(four_octets, 0, SOURCE, "secret", 0x20)
    assert not authenticator_ismg_matches(one_octet, 0, SOURCE, "other", 0x20)
    assert not authenticator_ismg_matches(bytes(16), 0, SOURCE, "secret", 0x20)


def test_3_0_answers_match_only_with_four_octets() -> None:
    one_octet = hashlib.md5(b"\x00" + SOURCE + b"secret").digest()
    four_octets = hashlib.md5(b"\x00\x00\x00\x00" + SOURCE + b"secret").digest()
    assert authenticator_ismg_matches(four_octets, 0, SOURCE, "secret", 0x30)
    assert not authenticator_ismg_matches(one_octet, 0, SOURCE, "secret", 0x30)


def test_a_login_between_sp_and_ismg() -> None:
    when = datetime(2026, 3, 1, 8, 0, 0)
    timestamp = timestamp_for(when)
    source = authenticator_source("901234", "s3cret", timestamp)
    assert authenticator_source_matches(source, "901234", "s3cret", timestamp)
    for version in (0x20, 0x30):
        answer = authenticator_ismg(0, source, "s3cret", version)
        assert authenticator_ismg_matches(answer, 0, source, "s3cret", version)
