"""SMGP login authenticators (docs/protocols.md §4.3), including §7's 9-pad-byte trap."""

from __future__ import annotations

import hashlib
from datetime import datetime

from carriers.smgp.auth import (
    authenticator_client,
    authenticator_client_matches,
    authenticator_server,
    authenticator_server_matches,
    timestamp_for,
)


def test_timestamp_is_mmddhhmmss() -> None:
    assert timestamp_for(datetime(2026, 3, 1, 0, 0, 0)) == 0x11F0E540  # §4.3's example
    assert timestamp_for(datetime(2026, 12, 31, 23, 59, 59)) == 1231235959


def test_authenticator_client_is_md5_with_seven_zero_octets() -> None:
    expected = hashlib.md5(b"12345678" + b"\0" * 7 + b"secret" + b"0301000000").digest()
    assert authenticator_client("12345678", "secret", 301000000) == expected


def test_nine_pad_bytes_of_one_java_client_do_not_match() -> None:
    wrong = hashlib.md5(b"12345678" + b"\0" * 9 + b"secret" + b"0301000000").digest()
    assert not authenticator_client_matches(wrong, "12345678", "secret", 301000000)
    right = authenticator_client("12345678", "secret", 301000000)
    assert authenticator_client_matches(right, "12345678", "secret", 301000000)
    assert not authenticator_client_matches(right, "12345678", "other", 301000000)
    assert not authenticator_client_matches(right, "12345678", "secret", 301000001)


def test_timestamp_is_zero_padded_to_ten_digits() -> None:
    expected = hashlib.md5(b"SP" + b"\0" * 7 + b"k" + b"0101000000").digest()
    assert authenticator_client("SP", "k", 101000000) == expected


def test_authenticator_server_uses_the_four_octet_status() -> None:
    client = bytes(range(16))
    expected = hashlib.md5(b"\0\0\0\0" + client + b"secret").digest()
    assert authenticator_server(0, client, "secret") == expected
    assert authenticator_server_matches(expected, 0, client, "secret")
    assert not authenticator_server_matches(expected, 0, client, "other")
    assert not authenticator_server_matches(bytes(16), 0, client, "secret")
