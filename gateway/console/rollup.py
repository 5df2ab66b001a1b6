"""The summary tables behind the console: counted off the page path, read by every page.

Each refresh is two steps so that, on SQLite, the counting never holds the single writer:
``count_*`` functions read (in a read-only session, a WAL snapshot) and return plain data;
``store_*`` functions write that data (a few rows, in the writer's session).

- Subscribers per carrier and status, and of those how many have the MMS edition: grouped
  counts over ``subscribers`` (index-only scans of ``ix_subscribers_carrier_status_format``),
  exact as of the refresh.
- Daily figures: per newspaper-local day and carrier, the transitions recorded that day in
  the append-only ``subscription_events`` (found through its ``at`` index, one day at a
  time). A day is recounted until a refresh happens ``settle`` after the day ended; after
  that it is final and never read again, so each refresh reads about two days of events.
- Deliveries per dispatch by outcome, through the ``(dispatch_id, status, id)`` index, until
  every delivery of the dispatch has reached an end state; with them its recovery figures
  (deliveries ever uncertain, and how many were reconciled, resent, skipped). Those need the
  rows themselves, not just the index, so they are read only while the dispatch may still
  change them: a delivery becomes uncertain, or is resolved, only from an open status, and
  no delivery goes back to one once none is open. So once a refresh found the dispatch with
  deliveries and none open, while it is done and none is open, its recovery figures are kept
  as counted then (the 48 hours a dispatch waits for its last receipts read the index alone).
- MMS notifications per dispatch (WAP Push mode): made, delivered (the WAP Push's receipts),
  retrieved (the content location fetched) and acknowledged (by the handset), through the
  notifications' dispatch index, until the dispatch is done, none of its MMS deliveries may
  still change and the last notification expired (after that its content location answers
  404, so nothing more is retrieved).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, delete, func, select
from sqlalchemy.orm import Session

from gateway.db.console_models import DailySubscriptionStats, DispatchStats, SubscriberCount
from gateway.db.dispatch_models import Delivery, DeliveryPart, Dispatch
from gateway.db.mms_models import MmsDispatchStats, MmsNotification
from gateway.db.models import Subscriber, SubscriptionEvent
from gateway.db.times import as_utc
from gateway.dispatch import mm7_sender
from gateway.dispatch.store import RECOVERIES, recovery_counts
from gateway.states import (
    OPEN_STATUSES,
    UNFINISHED_STATUSES,
    DeliveryGroup,
    DeliveryStatus,
    DispatchStatus,
    MessageFormat,
    SubscriptionStatus,
    group_counts,
)

OUTCOME_COLUMNS = (*DeliveryGroup, "expired")
"""The outcome columns of ``dispatch_stats``: the groups of ``gateway/states.py``, except
that its ``failed`` column leaves out the expired ones, kept in ``expired`` (as it always
has: stored rows keep their meaning); ``queries.dispatch_figures`` adds them back."""
RECOVERY_FIGURES = ("uncertain", *RECOVERIES)
"""The recovery columns of ``dispatch_stats``: ever uncertain, then how those were resolved."""


@dataclass(frozen=True, slots=True)
class RollupSettings:
    zone: ZoneInfo
    """The newspaper's time zone: days are its local days."""
    carriers: tuple[str, ...]
    days: int = 90
    """How many days back (today included) the daily figures are kept computed."""
    settle: timedelta = timedelta(minutes=5)
    """A day counted this long after it ended is final."""


# -- subscribers per carrier and status -------------------------------------------------------

def count_subscribers(session: Session) -> dict[tuple[str, str], int]:
    rows = session.execute(
        select(Subscriber.carrier, Subscriber.status, func.count())
        .group_by(Subscriber.carrier, Subscriber.status)
    ).all()
    return {(carrier, status): int(count) for carrier, status, count in rows}


def count_mms_subscribers(session: Session) -> dict[tuple[str, str], int]:
    """Per carrier and status, the subscribers whose format is the MMS edition."""
    rows = session.execute(
        select(Subscriber.carrier, Subscriber.status, func.count())
        .where(Subscriber.message_format == MessageFormat.MMS)
        .group_by(Subscriber.carrier, Subscriber.status)
    ).all()
    return {(carrier, status): int(count) for carrier, status, count in rows}


def store_subscriber_counts(
    session: Session, counts: dict[tuple[str, str], int], now: datetime,
    mms: dict[tuple[str, str], int] | None = None,
) -> None:
    session.execute(delete(SubscriberCount))
    session.add_all(
        SubscriberCount(carrier=carrier, status=status, count=count,
                        mms=(mms or {}).get((carrier, status), 0), computed_at=now)
        for (carrier, status), count in sorted(counts.items())
    )


# -- daily subscription figures --------------------------------------------------------------

@dataclass(slots=True)
class DayFigures:
    requests: int = 0
    confirmations: int = 0
    unsubscriptions: int = 0
    lapsed: int = 0


def classify_transition(old: str, new: str) -> str | None:
    """Which daily figure a subscription event counts in, if any."""
    pending, active = SubscriptionStatus.PENDING, SubscriptionStatus.ACTIVE
    if new == pending and old != pending:
        return "requests"
    if old == pending and new == active:
        return "confirmations"
    if old == active and new == SubscriptionStatus.CANCELLED:
        return "unsubscriptions"
    if old == pending and new != pending:
        return "lapsed"
    return None


def local_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants at which the local ``day`` starts and the next one starts."""
    start = datetime.combine(day, time(0), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    return start, end


def days_to_count(
    computed: dict[str, datetime], now: datetime, settings: RollupSettings
) -> list[date]:
    """The days in the window not yet final: never counted, or counted before they settled."""
    today = now.astimezone(settings.zone).date()
    wanted: list[date] = []
    for back in range(settings.days - 1, -1, -1):
        day = today - timedelta(days=back)
        counted_at = computed.get(day.isoformat())
        _, end = local_day_bounds(day, settings.zone)
        if counted_at is None or as_utc(counted_at) < end + settings.settle:
            wanted.append(day)
    return wanted


def computed_days(session: Session, since: date) -> dict[str, datetime]:
    """Each counted day since ``since`` with the earliest time one of its rows was counted."""
    rows = session.execute(
        select(DailySubscriptionStats.day, func.min(DailySubscriptionStats.computed_at))
        .where(DailySubscriptionStats.day >= since.isoformat())
        .group_by(DailySubscriptionStats.day)
    ).all()
    return {day: counted for day, counted in rows}


def count_days(
    session: Session, days: Iterable[date], settings: RollupSettings
) -> dict[str, dict[str, DayFigures]]:
    """Per day (ISO text) and carrier, the figures of that day's events."""
    result: dict[str, dict[str, DayFigures]] = {}
    for day in days:
        start, end = local_day_bounds(day, settings.zone)
        per_carrier = {carrier: DayFigures() for carrier in settings.carriers}
        rows = session.execute(
            select(SubscriptionEvent.carrier, SubscriptionEvent.old_status,
                   SubscriptionEvent.new_status, func.count())
            .where(SubscriptionEvent.at >= start, SubscriptionEvent.at < end)
            .group_by(SubscriptionEvent.carrier, SubscriptionEvent.old_status,
                      SubscriptionEvent.new_status)
        ).all()
        for carrier, old, new, count in rows:
            figure = classify_transition(old, new)
            if figure is None:
                continue
            figures = per_carrier.setdefault(carrier, DayFigures())
            setattr(figures, figure, getattr(figures, figure) + int(count))
        result[day.isoformat()] = per_carrier
    return result


def store_days(
    session: Session, counted: dict[str, dict[str, DayFigures]], now: datetime
) -> None:
    if not counted:
        return
    session.execute(
        delete(DailySubscriptionStats).where(DailySubscriptionStats.day.in_(list(counted)))
    )
    session.add_all(
        DailySubscriptionStats(
            day=day, carrier=carrier, requests=f.requests, confirmations=f.confirmations,
            unsubscriptions=f.unsubscriptions, lapsed=f.lapsed, computed_at=now,
        )
        for day, per_carrier in sorted(counted.items())
        for carrier, f in sorted(per_carrier.items())
    )


# -- deliveries per dispatch ------------------------------------------------------------------

@dataclass(slots=True)
class DispatchCounts:
    dispatch_id: int
    final: bool
    counts: dict[str, int] = field(default_factory=dict)
    """Deliveries per :data:`OUTCOME_COLUMNS` (``failed`` without the expired ones)."""
    recovery: dict[str, int] = field(default_factory=dict)
    """:data:`RECOVERY_FIGURES`: ``uncertain`` = ``uncertain_at`` set, the others by
    ``recovery`` (of those ever uncertain, as ``store.recovery_counts``)."""


@dataclass(frozen=True, slots=True)
class OpenDispatch:
    """A dispatch whose figures are not final yet, and what the last refresh stored of it."""

    dispatch_id: int
    status: str
    settled: bool = False
    """The stored figures show deliveries and none open: recovery figures cannot change."""
    recovery: dict[str, int] = field(default_factory=dict)
    """The stored recovery figures."""


def open_dispatches(session: Session) -> list[OpenDispatch]:
    """Dispatches whose figures are not final yet, with their status and stored figures."""
    stored = [getattr(DispatchStats, name) for name in ("total", "pending", *RECOVERY_FIGURES)]
    rows = session.execute(
        select(Dispatch.id, Dispatch.status, *stored)
        .outerjoin(DispatchStats, DispatchStats.dispatch_id == Dispatch.id)
        .where((DispatchStats.final.is_(None)) | (DispatchStats.final.is_(False)))
        .order_by(Dispatch.id)
    ).all()
    result = []
    for dispatch_id, status, total, pending, *recovery in rows:
        result.append(OpenDispatch(
            dispatch_id=int(dispatch_id), status=status,
            settled=bool(total) and pending == 0,
            recovery={name: int(value or 0)
                      for name, value in zip(RECOVERY_FIGURES, recovery, strict=True)}))
    return result


def count_dispatches(session: Session, dispatches: Sequence[OpenDispatch]
                     ) -> list[DispatchCounts]:
    result = []
    for dispatch in dispatches:
        by_status = {status: int(count) for status, count in session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.dispatch_id == dispatch.dispatch_id)
            .group_by(Delivery.status)
        ).all()}
        counts: dict[str, int] = {str(group): count
                                  for group, count in group_counts(by_status).items()}
        counts["expired"] = by_status.get(DeliveryStatus.EXPIRED, 0)
        counts[DeliveryGroup.FAILED] -= counts["expired"]
        if dispatch.status == DispatchStatus.DONE and dispatch.settled and not any(
                by_status.get(status, 0) for status in OPEN_STATUSES):
            # Nothing open, nor at the last refresh: the figures stored then still hold (see
            # the module's docstring), and reading them again would read every row.
            recovery = {name: dispatch.recovery.get(name, 0) for name in RECOVERY_FIGURES}
        else:
            recovery = recovery_counts(session, dispatch.dispatch_id)
        final = dispatch.status == DispatchStatus.DONE and not any(
            by_status.get(status, 0) for status in UNFINISHED_STATUSES)
        result.append(DispatchCounts(dispatch_id=dispatch.dispatch_id, final=final,
                                     counts=counts, recovery=recovery))
    return result


def store_dispatch_counts(
    session: Session, counted: Sequence[DispatchCounts], now: datetime
) -> None:
    for item in counted:
        row = session.get(DispatchStats, item.dispatch_id)
        if row is None:
            row = DispatchStats(dispatch_id=item.dispatch_id)
            session.add(row)
        for column in OUTCOME_COLUMNS:
            setattr(row, column, item.counts[column])
        for column in RECOVERY_FIGURES:
            setattr(row, column, item.recovery.get(column, 0))
        row.total = sum(item.counts.values())
        row.final = item.final
        row.computed_at = now


# -- MMS notifications per dispatch ------------------------------------------------------------

MMS_FIGURES = ("notifications", "delivered", "retrieved", "acknowledged", "mm7_reports")
"""The columns of ``mms_dispatch_stats``."""


@dataclass(slots=True)
class MmsCounts:
    dispatch_id: int
    final: bool
    counts: dict[str, int] = field(default_factory=dict)
    """:data:`MMS_FIGURES`."""


def count_mms(session: Session, now: datetime, settings: RollupSettings) -> list[MmsCounts]:
    """The MMS figures of every dispatch whose figures are not final yet."""
    pending = session.execute(
        select(Dispatch.id, Dispatch.status)
        .outerjoin(MmsDispatchStats, MmsDispatchStats.dispatch_id == Dispatch.id)
        .where((MmsDispatchStats.final.is_(None)) | (MmsDispatchStats.final.is_(False)))
        .order_by(Dispatch.id)).all()
    result = []
    for dispatch_id, status in pending:
        row = session.execute(
            select(func.count(), func.count(MmsNotification.first_retrieved_at),
                   func.count(MmsNotification.acknowledged_at),
                   func.sum(case((Delivery.status == DeliveryStatus.DELIVERED, 1), else_=0)),
                   func.sum(case((Delivery.status.in_(UNFINISHED_STATUSES), 1), else_=0)),
                   func.max(MmsNotification.expires_at))
            .join(Delivery, Delivery.id == MmsNotification.delivery_id)
            .where(MmsNotification.dispatch_id == dispatch_id)).one()
        total, retrieved, acknowledged, delivered, unfinished, last_expiry = row
        if not total:  # no WAP Push notifications: perhaps the carrier's MMS goes over MM7
            result.append(_count_mm7(session, int(dispatch_id), status))
            continue
        expired = last_expiry is None or as_utc(last_expiry) + settings.settle < now
        result.append(MmsCounts(
            dispatch_id=int(dispatch_id),
            final=status == DispatchStatus.DONE and not unfinished and expired,
            counts={"notifications": int(total), "delivered": int(delivered or 0),
                    "retrieved": int(retrieved), "acknowledged": int(acknowledged),
                    "mm7_reports": 0}))
    return result


def _count_mm7(session: Session, dispatch_id: int, status: str) -> MmsCounts:
    """An MM7 dispatch's MMS: the deliveries the MMSC accepted (their part's message id is
    ``mm7:<MessageID>``), the reports that came back, those saying Retrieved."""
    submitted, reported, delivered, unfinished = session.execute(
        select(func.count(),
               func.sum(case((DeliveryPart.status != DeliveryStatus.SUBMITTED, 1), else_=0)),
               func.sum(case((Delivery.status == DeliveryStatus.DELIVERED, 1), else_=0)),
               func.sum(case((Delivery.status.in_(UNFINISHED_STATUSES), 1), else_=0)))
        .join(DeliveryPart, DeliveryPart.delivery_id == Delivery.id)
        .where(Delivery.dispatch_id == dispatch_id, Delivery.message_format == "mms",
               DeliveryPart.message_id.like(f"{mm7_sender.STORED_ID_PREFIX}%"))).one()
    return MmsCounts(
        dispatch_id=dispatch_id, final=status == DispatchStatus.DONE and not unfinished,
        counts={"notifications": int(submitted), "delivered": int(delivered or 0),
                "retrieved": int(delivered or 0), "acknowledged": 0,
                "mm7_reports": int(reported or 0)})


def store_mms_counts(session: Session, counted: Sequence[MmsCounts], now: datetime) -> None:
    for item in counted:
        row = session.get(MmsDispatchStats, item.dispatch_id)
        if row is None:
            row = MmsDispatchStats(dispatch_id=item.dispatch_id)
            session.add(row)
        for column in MMS_FIGURES:
            setattr(row, column, item.counts[column])
        row.final = item.final
        row.computed_at = now


# -- all of it --------------------------------------------------------------------------------

@dataclass(slots=True)
class Counted:
    """One refresh's reading, to be stored by :func:`store_counted`."""

    subscribers: dict[tuple[str, str], int]
    days: dict[str, dict[str, DayFigures]]
    dispatches: list[DispatchCounts]
    mms_subscribers: dict[tuple[str, str], int] = field(default_factory=dict)
    mms: list[MmsCounts] = field(default_factory=list)


def count_all(session: Session, now: datetime, settings: RollupSettings) -> Counted:
    """Everything a refresh reads (run it in a read-only session)."""
    first = now.astimezone(settings.zone).date() - timedelta(days=settings.days - 1)
    days = days_to_count(computed_days(session, first), now, settings)
    return Counted(
        subscribers=count_subscribers(session),
        days=count_days(session, days, settings),
        dispatches=count_dispatches(session, open_dispatches(session)),
        mms_subscribers=count_mms_subscribers(session),
        mms=count_mms(session, now, settings),
    )


def store_counted(session: Session, counted: Counted, now: datetime) -> None:
    """Everything a refresh writes (run it in the writer's session)."""
    store_subscriber_counts(session, counted.subscribers, now, counted.mms_subscribers)
    store_days(session, counted.days, now)
    store_dispatch_counts(session, counted.dispatches, now)
    store_mms_counts(session, counted.mms, now)


def refresh(session: Session, now: datetime, settings: RollupSettings) -> Counted:
    """Count and store in one session (the CLI and tests; the gateway splits the two)."""
    counted = count_all(session, now, settings)
    store_counted(session, counted, now)
    return counted

