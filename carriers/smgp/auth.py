"""SMGP login authenticators (Login / Login_Resp, docs/protocols.md §4.3). Pure.

* ``AuthenticatorClient = MD5(ClientID + 7 x 0x00 + shared_secret + timestamp)`` where the
  timestamp is its MMDDHHMMSS value as 10 ASCII digits, zero-padded (``%010d``). Not 9 zero
  octets: one Java client writes 9, against every other source (§7, trap 6).
* ``AuthenticatorServer = MD5(Status + AuthenticatorClient + shared_secret)``, Status as its
  4-octet big-endian wire field; all zeros when the login failed (the server's choice).

The ClientID is ASCII; the shared secret is taken as UTF-8 (ASCII in practice; §4.3 says at
most 15 octets, which ``carriers.smgp.config`` checks). Comparisons use
``hmac.compare_digest``. The clock is an argument (``timestamp_for``).
"""

from __future__ import annotations

import hashlib
import hmac

from carriers.cmpp.auth import timestamp_for

__all__ = [
    "CLIENT_ID_PADDING",
    "authenticator_client",
    "authenticator_client_matches",
    "authenticator_server",
    "authenticator_server_matches",
    "timestamp_for",
]

CLIENT_ID_PADDING = 7
"""Zero octets between ClientID and the secret in AuthenticatorClient (§4.3)."""
_MAX_TIMESTAMP = 0xFFFFFFFF


def authenticator_client(client_id: str, shared_secret: str, timestamp: int) -> bytes:
    """The 16-octet AuthenticatorClient a client sends in Login."""
    if not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise ValueError(f"timestamp {timestamp} does not fit the 4-octet TimeStamp field")
    digest = hashlib.md5(usedforsecurity=False)
    digest.update(client_id.encode("ascii"))
    digest.update(bytes(CLIENT_ID_PADDING))
    digest.update(shared_secret.encode("utf-8"))
    digest.update(b"%010d" % timestamp)
    return digest.digest()


def authenticator_client_matches(
    received: bytes, client_id: str, shared_secret: str, timestamp: int
) -> bool:
    """Whether a Login's AuthenticatorClient is right (the server side of the login)."""
    return hmac.compare_digest(received,
                               authenticator_client(client_id, shared_secret, timestamp))


def authenticator_server(status: int, authenticator_client: bytes, shared_secret: str) -> bytes:
    """The 16-octet AuthenticatorServer of a Login_Resp."""
    if not 0 <= status <= 0xFFFFFFFF:
        raise ValueError(f"status {status} does not fit the 4-octet Status field")
    return hashlib.md5(status.to_bytes(4, "big") + authenticator_client
                       + shared_secret.encode("utf-8"), usedforsecurity=False).digest()


def authenticator_server_matches(
    received: bytes, status: int, authenticator_client: bytes, shared_secret: str
) -> bool:
    """Whether a Login_Resp's AuthenticatorServer is right (the client side of the login)."""
    return hmac.compare_digest(
        received, authenticator_server(status, authenticator_client, shared_secret))
