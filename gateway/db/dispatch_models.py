"""Models of digest dispatch: one delivery per (edition, subscriber), its parts, progress.

A delivery row exists before anything is submitted for it; its status walks
pending → claimed → sending → submitted → delivered | undeliverable | expired | unknown,
or ends rejected | failed | cancelled | skipped.  A crash or an unanswered submit makes a
delivery ``uncertain`` until evidence (a receipt naming the part's reference) reconciles it
or ``dispatch.uncertain_wait`` passes (then resent, or skipped).
See ``gateway/dispatch/runner.py``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models import Base, BigId


class Dispatch(Base):
    """Sending one edition over one carrier: its cut-off, deadline and whether it runs."""

    __tablename__ = "dispatches"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id"))
    carrier: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    """preparing → running ⇄ paused → done."""
    cutoff_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    """Subscribers active at this time get the edition."""
    deadline_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    """Transient errors are retried until then; then the delivery fails."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    total: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (UniqueConstraint("edition_id", "carrier", name="uq_dispatch_edition"),)


class Delivery(Base):
    """One edition to one subscriber: exists before its submit, sent at most once."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dispatch_id: Mapped[int] = mapped_column(ForeignKey("dispatches.id"))
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    carrier: Mapped[str] = mapped_column(String(32))
    msisdn: Mapped[str] = mapped_column(String(16))
    source_addr: Mapped[str] = mapped_column(String(32))
    message_format: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[float] = mapped_column(Float, default=0.0)
    """Epoch seconds of the last claim or send mark (to recover a dead node's rows)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float, default=0.0)
    """Epoch seconds before which a retried delivery is not claimed again."""
    parts_total: Mapped[int] = mapped_column(Integer, default=0)
    parts_delivered: Mapped[int] = mapped_column(Integer, default=0)
    parts_failed: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(200))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    uncertain_at: Mapped[float | None] = mapped_column(Float)
    """Epoch seconds when it first became uncertain (a submit in flight at a crash, or one
    that went unanswered); kept after the uncertainty is resolved, so reports can count it."""
    recovery: Mapped[str | None] = mapped_column(String(12))
    """How an uncertain delivery was resolved: reconciled | resent | skipped."""
    resend_parts: Mapped[int | None] = mapped_column(Integer)
    """Bit mask of the parts (bit 0 = part 1) the next attempt sends; None = all of them."""

    __table_args__ = (
        UniqueConstraint("edition_id", "subscriber_id", name="uq_delivery_once"),
        Index("ix_delivery_claim", "dispatch_id", "status", "id"),
        Index("ix_delivery_subscriber", "subscriber_id", "edition_id"),
    )


class DeliveryPart(Base):
    """One submitted SM of a delivery, found again by the SMSC's message id."""

    __tablename__ = "delivery_parts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    part: Mapped[int] = mapped_column(Integer)
    carrier: Mapped[str] = mapped_column(String(32))
    message_id: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16))

    __table_args__ = (Index("ix_part_message", "carrier", "message_id"),)


class DispatchLease(Base):
    """A live dispatching process: its claims carry ``claim``, and while ``heartbeat_at`` is
    fresh (and, on its own host, its pid is alive) nobody takes them from it."""

    __tablename__ = "dispatch_leases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    node: Mapped[str] = mapped_column(String(64), unique=True)
    """The configured node name: at most one live process per name."""
    claim: Mapped[str] = mapped_column(String(64), unique=True)
    """What this process writes into ``deliveries.claimed_by`` (new for every process)."""
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    command: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[float] = mapped_column(Float)
    heartbeat_at: Mapped[float] = mapped_column(Float)


class ScheduledRun(Base):
    """One firing of an edition slot; the unique key lets only one process take it."""

    __tablename__ = "scheduled_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    slot: Mapped[str] = mapped_column(String(32))
    run_date: Mapped[str] = mapped_column(String(10))
    """The newspaper date (YYYY-MM-DD) in the newspaper's time zone."""
    fired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    node: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("slot", "run_date", name="uq_scheduled_run"),)


class SchedulerJob(Base):
    """APScheduler's SQLAlchemy job store table, created here so that only migrations make
    schema (same columns as APScheduler 3's own definition)."""

    __tablename__ = "apscheduler_jobs"

    id: Mapped[str] = mapped_column(String(191), primary_key=True)
    next_run_time: Mapped[float | None] = mapped_column(Float(25), index=True)
    job_state: Mapped[bytes] = mapped_column(LargeBinary)
