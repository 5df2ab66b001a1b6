"""SQLAlchemy 2.0 typed models.

The schema is created and changed only by the Alembic migrations in
``gateway/db/migrations``; these classes describe it for queries.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class InboundMessage(Base):
    """An MO as received from a carrier link, stored before it is acknowledged."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    carrier: Mapped[str] = mapped_column(String(32))
    source_addr: Mapped[str] = mapped_column(String(32))
    """The number as the carrier sent it (before normalisation)."""
    destination_addr: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    carrier_message_id: Mapped[str | None] = mapped_column(String(80))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(40))
    """What the gateway did with it (set by the layer that handled it)."""

    __table_args__ = (
        Index("ix_inbound_carrier_msgid", "carrier", "carrier_message_id"),
        Index("ix_inbound_source_time", "source_addr", "received_at"),
        Index("ix_inbound_redelivery", "source_addr", "carrier", "destination_addr",
              "received_at"),
        # The console's message log: newest first, optionally by carrier.
        Index("ix_inbound_received", "received_at"),
        Index("ix_inbound_carrier_received", "carrier", "received_at"),
    )


class OutboundMessage(Base):
    """An MT the gateway submits: a reply to an MO, or later a digest."""

    __tablename__ = "outbound_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    carrier: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    """``reply`` (answers an MO) or ``digest``."""
    source_addr: Mapped[str] = mapped_column(String(32))
    destination_addr: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    segment_count: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16))
    """queued → submitted → delivered | undeliverable | expired | rejected | failed | unknown."""
    error: Mapped[str | None] = mapped_column(String(200))
    in_reply_to: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_outbound_destination", "destination_addr", "created_at"),
        # The console's message log: newest first, optionally by carrier or status.
        Index("ix_outbound_created", "created_at"),
        Index("ix_outbound_carrier_created", "carrier", "created_at"),
        Index("ix_outbound_status_created", "status", "created_at"),
    )


class OutboundSegment(Base):
    """One submitted SM of an outbound message; receipts are matched by message id."""

    __tablename__ = "outbound_segments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    outbound_id: Mapped[int] = mapped_column(ForeignKey("outbound_messages.id"), index=True)
    seqnum: Mapped[int] = mapped_column(Integer)
    carrier: Mapped[str] = mapped_column(String(32))
    smsc_message_id: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(String(200))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_segment_carrier_msgid", "carrier", "smsc_message_id"),)


class Subscriber(Base):
    """One number's subscription to the newspaper (one row per number)."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    msisdn: Mapped[str] = mapped_column(String(16), unique=True)
    carrier: Mapped[str] = mapped_column(String(32))
    """The carrier whose link delivered the number's latest MO (number portability)."""
    prefix_carrier: Mapped[str | None] = mapped_column(String(32))
    """The carrier the number's prefix belongs to, when it differs from ``carrier``."""
    short_code: Mapped[str] = mapped_column(String(32))
    extension: Mapped[str] = mapped_column(String(16), default="")
    status: Mapped[str] = mapped_column(String(16))
    pending_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    consent_inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    """The MO that confirmed (Y / 是): the consent evidence."""
    consent_text: Mapped[str | None] = mapped_column(Text)
    consent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_help_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    message_format: Mapped[str] = mapped_column(String(8), default="sms")
    undeliverable_streak: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Consecutive editions that came back undeliverable."""
    flagged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """Set when the streak reaches the configured limit: operators should look."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # Dispatch cut-offs by carrier and status; the roll-up counts per format from it alone.
        Index("ix_subscribers_carrier_status_format", "carrier", "status", "message_format"),
    )


class SubscriptionEvent(Base):
    """An append-only log of every subscription transition. Never updated by the engine."""

    __tablename__ = "subscription_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"), index=True)
    msisdn: Mapped[str] = mapped_column(String(16))
    carrier: Mapped[str] = mapped_column(String(32))
    short_code: Mapped[str] = mapped_column(String(32))
    extension: Mapped[str] = mapped_column(String(16), default="")
    mo_text: Mapped[str] = mapped_column(Text)
    carrier_message_id: Mapped[str | None] = mapped_column(String(80))
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    old_status: Mapped[str] = mapped_column(String(16))
    new_status: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    message_format: Mapped[str | None] = mapped_column(String(8))
    """The format a format choice (``CX``/``DX``, active → active) set; None otherwise."""


class UnmatchedReceipt(Base):
    """A delivery receipt that arrived before its submit's message id was stored."""

    __tablename__ = "unmatched_receipts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    carrier: Mapped[str] = mapped_column(String(32))
    message_id: Mapped[str] = mapped_column(String(80))
    state: Mapped[str] = mapped_column(String(16))
    stat: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(String(200))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    subscriber: Mapped[str | None] = mapped_column(String(21))
    """The handset the receipt is about, when the carrier said (to match uncertain parts)."""
    reference: Mapped[int | None] = mapped_column(Integer)
    """The part reference the gateway chose before submitting, echoed by the SMSC."""

    __table_args__ = (
        Index("ix_unmatched_carrier_msgid", "carrier", "message_id"),
        Index("ix_unmatched_subscriber", "carrier", "subscriber"),
        Index("ix_unmatched_received", "received_at"),
    )
