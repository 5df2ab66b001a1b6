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

    __table_args__ = (Index("ix_outbound_destination", "destination_addr", "created_at"),)


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
