"""Each subscriber's own MMS notification (the WAP Push mode). Pure: no session, no clock.

An MMS edition is rendered once per carrier; what differs per subscriber is the notification
announcing it: its X-Mms-Transaction-Id and its X-Mms-Content-Location, ``content.base_url``
+ ``/mms/`` + a random token that only that subscriber's handset is told. The content server
answers the token, until the notification's expiry, with the carrier's m-retrieve-conf
carrying the same transaction id.

Tokens and transaction ids have fixed lengths and the expiry is an absolute date, so every
subscriber's notification of one render has the same length, and so the same number of
short messages (what the dispatch records as the delivery's parts).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from gateway.editions.mms import MessageClass
from gateway.editions.mms_headers import decode_headers, with_transaction_id
from gateway.editions.wap_push import (
    encode_mms_notification_ind,
    wap_push_segments,
    wrap_wap_push,
)

TOKEN_BYTES = 18
"""Random octets in a content-location token (144 bits; 24 URL-safe characters)."""
TOKEN_CHARS = 24
TOKEN_PATTERN = re.compile(rf"[A-Za-z0-9_-]{{{TOKEN_CHARS}}}")
TRANSACTION_ID_CHARS = 24
"""12 hex digits of the delivery id (unique) and 12 random ones (unguessable)."""
CONTENT_PATH = "/mms/"
SPECIMEN_TOKEN = "0" * TOKEN_CHARS
"""The token of the specimen notification stored with a render (for previews and sizes)."""
SPECIMEN_TRANSACTION_ID = "0" * TRANSACTION_ID_CHARS


def new_token() -> str:
    """A fresh content-location token."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    assert len(token) == TOKEN_CHARS
    return token


def new_transaction_id(delivery_id: int) -> str:
    """A transaction id no other delivery has and nobody can guess."""
    if not 0 <= delivery_id < 1 << 48:
        raise ValueError(f"a delivery id of at most 48 bits, not {delivery_id}")
    return f"{delivery_id:012x}{secrets.token_hex(6)}"


def content_location(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{CONTENT_PATH}{token}"


@dataclass(frozen=True, slots=True, kw_only=True)
class EditionAnnouncement:
    """What every subscriber's notification of one MMS render shares, read from the render's
    stored m-retrieve-conf."""

    retrieve_conf: bytes
    message_size: int
    """The length of the m-retrieve-conf as served (with a subscriber's transaction id)."""
    subject: str | None
    from_: str | None
    message_class: MessageClass
    push_reference: int
    """The WAP Push concatenation reference (8 bits)."""

    @classmethod
    def from_retrieve_conf(cls, pdu: bytes, *, push_reference: int) -> EditionAnnouncement:
        fields = decode_headers(pdu)
        message_class = fields.message_class if fields.message_class in (
            "personal", "advertisement", "informational", "auto") else "personal"
        return cls(
            retrieve_conf=pdu,
            message_size=len(with_transaction_id(pdu, SPECIMEN_TRANSACTION_ID)),
            subject=fields.subject, from_=fields.from_,
            message_class=message_class,  # type: ignore[arg-type]
            push_reference=push_reference)

    def notification(self, *, transaction_id: str, location: str, expires_at: datetime
                     ) -> bytes:
        """The subscriber's m-notification-ind."""
        return encode_mms_notification_ind(
            transaction_id=transaction_id, content_location=location,
            message_size=self.message_size, expires_at=expires_at, subject=self.subject,
            from_=self.from_, message_class=self.message_class)

    def push_segments(self, *, transaction_id: str, location: str, expires_at: datetime
                      ) -> list[bytes]:
        """The binary short messages (UDH included) of the subscriber's WAP Push."""
        notification = self.notification(transaction_id=transaction_id, location=location,
                                         expires_at=expires_at)
        return wap_push_segments(wrap_wap_push(notification), reference=self.push_reference)

    def specimen(self, *, base_url: str, expires_at: datetime) -> list[bytes]:
        """A notification in every subscriber's shape (the specimen token and transaction id)."""
        return self.push_segments(transaction_id=SPECIMEN_TRANSACTION_ID,
                                  location=content_location(base_url, SPECIMEN_TOKEN),
                                  expires_at=expires_at)

    def served(self, transaction_id: str) -> bytes:
        """The m-retrieve-conf a subscriber downloads: with its own transaction id."""
        return with_transaction_id(self.retrieve_conf, transaction_id)
