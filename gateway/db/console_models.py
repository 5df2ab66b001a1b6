"""Models of the operator console: operators, their sessions and audit log, and the summary
tables the console reads instead of scanning millions of rows.

The summary tables are refreshed by :mod:`gateway.console.rollup`; a page never counts
subscribers, events or deliveries itself.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models import Base, BigId


class Operator(Base):
    """A person who may log in to the console: ``viewer`` or ``admin``."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(8))
    password_hash: Mapped[str] = mapped_column(String(255))
    """An Argon2id hash in PHC string form (``$argon2id$v=19$…``)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OperatorSession(Base):
    """A logged-in browser. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "operator_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    """Absolute end of the session; idleness ends it earlier (see ``console.idle_minutes``)."""


class LoginAttempt(Base):
    """Every login attempt, for throttling by name and by address."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    succeeded: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (
        Index("ix_login_attempts_name_at", "name", "at"),
        Index("ix_login_attempts_ip_at", "ip", "at"),
    )


class AuditEntry(Base):
    """An operator's action: logins, logouts, pauses, resumes, unsubscriptions. Append-only."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    operator: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    ip: Mapped[str] = mapped_column(String(64), default="")


class DailySubscriptionStats(Base):
    """Per newspaper-local day and carrier: what the subscription events of that day did."""

    __tablename__ = "daily_subscription_stats"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    """YYYY-MM-DD in the newspaper's time zone."""
    carrier: Mapped[str] = mapped_column(String(32), primary_key=True)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    """Numbers that entered ``pending`` (an SD asking for confirmation)."""
    confirmations: Mapped[int] = mapped_column(Integer, default=0)
    """pending → active (Y / 是)."""
    unsubscriptions: Mapped[int] = mapped_column(Integer, default=0)
    """active → cancelled (TD, 0000, or an operator)."""
    lapsed: Mapped[int] = mapped_column(Integer, default=0)
    """Requests that ended unconfirmed (window expired or cancelled while pending)."""
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SubscriberCount(Base):
    """Subscribers per carrier and status, counted by the roll-up."""

    __tablename__ = "subscriber_counts"

    carrier: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    mms: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Of ``count``, those whose format is the MMS edition (the rest have the SMS digest)."""
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DispatchStats(Base):
    """Deliveries of one dispatch by outcome, counted by the roll-up until all are final."""

    __tablename__ = "dispatch_stats"

    dispatch_id: Mapped[int] = mapped_column(ForeignKey("dispatches.id"), primary_key=True)
    total: Mapped[int] = mapped_column(Integer, default=0)
    pending: Mapped[int] = mapped_column(Integer, default=0)
    """Not known to be submitted yet: pending, claimed, sending, uncertain (open statuses)."""
    submitted: Mapped[int] = mapped_column(Integer, default=0)
    """Submitted, waiting for the receipt."""
    delivered: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    """undeliverable, rejected, failed."""
    expired: Mapped[int] = mapped_column(Integer, default=0)
    other: Mapped[int] = mapped_column(Integer, default=0)
    """cancelled, skipped, unknown."""
    uncertain: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Deliveries that were ever uncertain (in flight at a crash, or unanswered)."""
    reconciled: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Uncertain deliveries the carrier's receipts showed were sent."""
    resent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Uncertain deliveries (or some of their parts) sent again for want of evidence."""
    skipped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Uncertain deliveries not sent again (``dispatch.uncertain = "skip"``)."""
    final: Mapped[bool] = mapped_column(Boolean, default=False)
    """Every delivery has reached an end state: no need to count again."""
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


