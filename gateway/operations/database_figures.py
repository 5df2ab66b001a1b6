"""What the metrics and readiness read from the database, as functions of one session.

Run in a thread of the database pool by :mod:`gateway.operations.refresher`, never on the
reactor.  Dispatch progress counts the deliveries of dispatches not finished, and of those
finished within ``keep_finished`` (their receipts still arrive), by outcome group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from gateway.db.dispatch_models import Delivery, Dispatch
from gateway.db.edition_models import Edition
from gateway.states import DeliveryGroup, DeliveryStatus, group_counts


@dataclass(frozen=True, slots=True)
class DispatchProgress:
    dispatch_id: int
    edition_id: int
    edition: str
    """``<newspaper date>/<slot>``, e.g. ``2020-11-18/morning``."""
    carrier: str
    status: str
    counts: dict[str, int]
    """Deliveries per outcome group (pending, submitted, delivered, failed, other)."""
    uncertain: int
    """Of the pending, those uncertain now."""


@dataclass(frozen=True, slots=True)
class DatabaseFigures:
    read_at: float
    """When they were read (clock seconds)."""
    schema_revision: str | None
    dispatches: tuple[DispatchProgress, ...] = field(default=())


def schema_revision(session: Session) -> str | None:
    """The revision the database's schema is at (Alembic's version table)."""
    return MigrationContext.configure(session.connection()).get_current_revision()


def dispatch_progress(session: Session, *, now: datetime, keep_finished: timedelta
                      ) -> tuple[DispatchProgress, ...]:
    since = now - keep_finished
    rows = session.execute(
        select(Dispatch.id, Dispatch.edition_id, Dispatch.carrier, Dispatch.status,
               Edition.newspaper_date, Edition.slot)
        .join(Edition, Edition.id == Dispatch.edition_id)
        .where(or_(Dispatch.finished_at.is_(None), Dispatch.finished_at >= since))
        .order_by(Dispatch.id)
    ).all()
    result = []
    for dispatch_id, edition_id, carrier, status, newspaper_date, slot in rows:
        by_status = {str(s): int(n) for s, n in session.execute(
            select(Delivery.status, func.count()).where(Delivery.dispatch_id == dispatch_id)
            .group_by(Delivery.status)).all()}
        counts = {str(group): count for group, count in group_counts(by_status).items()}
        result.append(DispatchProgress(
            dispatch_id=int(dispatch_id), edition_id=int(edition_id),
            edition=f"{newspaper_date.isoformat()}/{slot}", carrier=carrier, status=status,
            counts=counts, uncertain=by_status.get(DeliveryStatus.UNCERTAIN, 0)))
    return tuple(result)


def read_figures(session: Session, *, read_at: float, now: datetime,
                 keep_finished: timedelta) -> DatabaseFigures:
    return DatabaseFigures(
        read_at=read_at, schema_revision=schema_revision(session),
        dispatches=dispatch_progress(session, now=now, keep_finished=keep_finished))


OUTCOME_GROUPS: tuple[str, ...] = tuple(str(group) for group in DeliveryGroup)
