"""CMPP login authenticators (CONNECT / CONNECT_RESP) and the timestamp they are built from.

* ``AuthenticatorSource = MD5(Source_Addr + 9 x 0x00 + shared_secret + timestamp)`` where the
  timestamp is its MMDDHHMMSS value as 10 ASCII digits (zero-padded, ``%010d``).
* ``AuthenticatorISMG = MD5(Status + AuthenticatorSource + shared_secret)``.

Status width inside the ISMG MD5: 3.0 packs it as 4 octets big-endian, matching its 4-octet
wire field. For 2.0 sources disagree (docs/wire-formats.md §2.4: gocmpp uses 1 octet,
SMSGate 4); ``authenticator_ismg`` uses **1 octet for 2.0**, the width of the 2.0 wire field,
and ``authenticator_ismg_matches`` accepts either width for 2.0 when checking a server's answer.

Addresses are ASCII; the shared secret is taken as UTF-8 (identical to ASCII for the ASCII
secrets operators hand out). Comparisons use ``hmac.compare_digest``. Pure: the clock is an
argument.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

__all__ = [
    "authenticator_ismg",
    "authenticator_ismg_matches",
    "authenticator_source",
    "authenticator_source_matches",
    "timestamp_for",
]

_MAX_TIMESTAMP = 0xFFFFFFFF  # the wire field is a uint32


def timestamp_for(when: datetime) -> int:
    """The CONNECT Timestamp for ``when``: MMDDHHMMSS read as a decimal int, in ``when``'s zone.

    1 March 00:00:00 gives 301000000 (the text "0301000000").
    """
    return (
        when.month * 100_000_000
        + when.day * 1_000_000
        + when.hour * 10_000
        + when.minute * 100
        + when.second
    )


def authenticator_source(source_addr: str, shared_secret: str, timestamp: int) -> bytes:
    """The 16-octet AuthenticatorSource an SP sends in CONNECT."""
    if not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise ValueError(f"timestamp {timestamp} does not fit the 4-octet Timestamp field")
    digest = hashlib.md5(usedforsecurity=False)
    digest.update(source_addr.encode("ascii"))
    digest.update(bytes(9))
    digest.update(shared_secret.encode("utf-8"))
    digest.update(b"%010d" % timestamp)
    return digest.digest()


def authenticator_source_matches(
    received: bytes, source_addr: str, shared_secret: str, timestamp: int
) -> bool:
    """Whether a CONNECT's AuthenticatorSource is right (the ISMG side of the login)."""
    expected = authenticator_source(source_addr, shared_secret, timestamp)
    return hmac.compare_digest(received, expected)


def _status_octets(status: int, width: int) -> bytes:
    if not 0 <= status < 1 << (8 * width):
        raise ValueError(f"status {status} does not fit {width} octet(s)")
    return status.to_bytes(width, "big")


def _ismg_digest(status: bytes, source: bytes, shared_secret: str) -> bytes:
    return hashlib.md5(
        status + source + shared_secret.encode("utf-8"), usedforsecurity=False
    ).digest()


def authenticator_ismg(
    status: int, authenticator_source: bytes, shared_secret: str, version: int
) -> bytes:
    """The 16-octet AuthenticatorISMG of a CONNECT_RESP.

    Status is packed as 4 octets for 3.0 and as 1 octet for 2.0 (see the module docstring).
    The ISMG sends all zeros instead when the login failed; that is the caller's choice.
    """
    width = 4 if version >> 4 >= 3 else 1
    return _ismg_digest(_status_octets(status, width), authenticator_source, shared_secret)


def authenticator_ismg_matches(
    received: bytes,
    status: int,
    authenticator_source: bytes,
    shared_secret: str,
    version: int,
) -> bool:
    """Whether a CONNECT_RESP's AuthenticatorISMG is right (the SP side of the login).

    ``version`` is the one the SP sent in its CONNECT. For 2.0 both the 1-octet and the 4-octet
    status readings are accepted, because ISMGs differ.
    """
    if version >> 4 >= 3:
        widths: tuple[int, ...] = (4,)
    elif status <= 0xFF:
        widths = (1, 4)
    else:
        widths = (4,)
    matched = False
    for width in widths:
        expected = _ismg_digest(_status_octets(status, width), authenticator_source, shared_secret)
        matched |= hmac.compare_digest(received, expected)
    return matched
