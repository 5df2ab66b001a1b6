"""Models of the MMS edition in the WAP Push mode: one notification per MMS delivery, with
the unguessable content location its subscriber fetches the edition from, and the figures
the console shows per dispatch (notified, delivered, retrieved, acknowledged).

Only the Alembic migrations create or change the schema (``0009_mms_choice``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models import Base, BigId


class MmsNotification(Base):
    """The m-notification-ind one MMS delivery carries: made once, just before the delivery
    is first sent (in the transaction that marks it ``sending``), and sent again unchanged if
    the delivery is resent. ``token`` is the last segment of its content location."""

    __tablename__ = "mms_notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), unique=True)
    dispatch_id: Mapped[int] = mapped_column(ForeignKey("dispatches.id"))
    token: Mapped[str] = mapped_column(String(64), unique=True)
    """Random (``secrets.token_urlsafe``): the content location is ``content.base_url`` +
    ``/mms/`` + this."""
    transaction_id: Mapped[str] = mapped_column(String(40), unique=True)
    """X-Mms-Transaction-Id of the notification and of the m-retrieve-conf served for it;
    what the handset's m-notifyresp-ind / m-acknowledge-ind name."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    """After this the content location answers 404 (the notification's X-Mms-Expiry)."""
    first_retrieved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_retrieved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retrievals: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    user_agent: Mapped[str | None] = mapped_column(String(200))
    """The User-Agent of the latest retrieval."""
    response_status: Mapped[str | None] = mapped_column(String(16))
    """X-Mms-Status of the handset's m-notifyresp-ind (retrieved, deferred, rejected, …)."""
    responded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When the handset's m-acknowledge-ind (after retrieving) came."""

    __table_args__ = (Index("ix_mms_notifications_dispatch", "dispatch_id"),)


class MmsDispatchStats(Base):
    """Per dispatch (edition × carrier): its MMS notifications and what became of them,
    counted by the console's roll-up until the last notification expired."""

    __tablename__ = "mms_dispatch_stats"

    dispatch_id: Mapped[int] = mapped_column(ForeignKey("dispatches.id"), primary_key=True)
    notifications: Mapped[int] = mapped_column(Integer, default=0)
    """MMS deliveries whose notification was made (sent, or about to be)."""
    delivered: Mapped[int] = mapped_column(Integer, default=0)
    """Of those, the deliveries whose WAP Push the carrier's receipts say arrived."""
    retrieved: Mapped[int] = mapped_column(Integer, default=0)
    """Notifications whose content location was fetched at least once."""
    acknowledged: Mapped[int] = mapped_column(Integer, default=0)
    """Notifications the handset acknowledged (m-acknowledge-ind, or an m-notifyresp-ind
    saying it retrieved the message)."""
    mm7_reports: Mapped[int] = mapped_column(Integer, default=0)
    """MM7 mode: the MMSC's delivery reports received (any status). In that mode
    ``notifications`` counts the SubmitReqs the MMSC accepted, and ``delivered`` and
    ``retrieved`` the reports saying Retrieved (the handset fetched it); ``acknowledged``
    is 0 (handsets acknowledge to the MMSC)."""
    final: Mapped[bool] = mapped_column(Boolean, default=False)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
