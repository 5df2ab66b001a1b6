"""What the console's pages, its JSON API, its CSV exports and ``sdgw report`` show.

Every function takes a session (read-only is enough), reads only summary tables or indexed
ranges of bounded size, and returns plain frozen rows. Numbers are masked here, when the
caller may not see them whole (``reveal=False``), so no later layer can leak them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from carriers.numbers import mask_msisdn
from carriers.rules import CARRIER_RULES
from gateway.db.console_models import (
    AuditEntry,
    DailySubscriptionStats,
    DispatchStats,
    SubscriberCount,
)
from gateway.db.dispatch_models import Delivery, Dispatch
from gateway.db.edition_models import Edition
from gateway.db.mms_models import MmsDispatchStats
from gateway.db.models import (
    InboundMessage,
    OutboundMessage,
    OutboundSegment,
    Subscriber,
    SubscriptionEvent,
)
from gateway.db.times import as_utc
from gateway.states import DELIVERY_GROUPS as _GROUPS
from gateway.states import (
    DeliveryGroup,
    MessageStatus,
    SubscriptionStatus,
)
from gateway.subscriptions.records import requested_at

MT_STATUSES = tuple(MessageStatus)
DIRECTIONS = ("mo", "mt")


def mask_number(number: str, reveal: bool) -> str:
    """The number whole for admins (``reveal``), else masked as in the logs
    (:func:`carriers.numbers.mask_msisdn`: ``138****8000``)."""
    return number if reveal else mask_msisdn(number)


def carrier_label(carrier: str) -> str:
    rules = CARRIER_RULES.get(carrier)
    return rules.display_name if rules is not None else carrier


def ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def as_dict(row: Any) -> dict[str, Any]:
    """A row as a JSON/CSV-ready dict (dates and times as ISO text)."""
    out: dict[str, Any] = {}
    for f in fields(row):
        value = getattr(row, f.name)
        if isinstance(value, datetime | date):
            value = as_utc(value).isoformat() if isinstance(value, datetime) else value.isoformat()
        elif isinstance(value, float):
            value = round(value, 4)
        out[f.name] = value
    return out


# -- dashboard --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CarrierFigures:
    carrier: str
    label: str
    active: int
    pending: int
    cancelled: int
    active_sms: int = 0
    """Of the active, those who receive the SMS digest."""
    active_mms: int = 0
    """Of the active, those who chose the MMS edition (CX)."""


@dataclass(frozen=True, slots=True)
class DayFigures:
    day: str
    requests: int
    confirmations: int
    unsubscriptions: int
    lapsed: int


@dataclass(frozen=True, slots=True)
class PeriodFigures:
    days: int
    first_day: str
    last_day: str
    requests: int
    confirmations: int
    unsubscriptions: int
    lapsed: int
    conversion: float | None
    """confirmations ÷ requests in the period (SD → Y)."""
    active_at_start: int
    """Active now − confirmed in the period + unsubscribed in the period."""
    churn: float | None
    """unsubscriptions in the period ÷ active at its start."""
    net_growth: int


@dataclass(frozen=True, slots=True)
class Summary:
    as_of: datetime | None
    carriers: tuple[CarrierFigures, ...]
    total_active: int
    total_pending: int
    period: PeriodFigures
    daily: tuple[DayFigures, ...]


def carrier_figures(session: Session, carriers: Sequence[str]) -> tuple[
        tuple[CarrierFigures, ...], datetime | None]:
    counts: dict[tuple[str, str], int] = {}
    mms: dict[str, int] = {}
    as_of: datetime | None = None
    for row in session.scalars(select(SubscriberCount)):
        counts[(row.carrier, row.status)] = row.count
        if row.status == SubscriptionStatus.ACTIVE:
            mms[row.carrier] = row.mms
        as_of = as_utc(row.computed_at) if as_of is None else min(as_of, as_utc(row.computed_at))
    known = list(carriers) + sorted({c for c, _ in counts} - set(carriers))
    return tuple(
        CarrierFigures(carrier=c, label=carrier_label(c),
                       active=counts.get((c, SubscriptionStatus.ACTIVE), 0),
                       pending=counts.get((c, SubscriptionStatus.PENDING), 0),
                       cancelled=counts.get((c, SubscriptionStatus.CANCELLED), 0),
                       active_sms=counts.get((c, SubscriptionStatus.ACTIVE), 0) - mms.get(c, 0),
                       active_mms=mms.get(c, 0))
        for c in known
    ), as_of


def daily_figures(
    session: Session, first: date, last: date, carrier: str | None = None
) -> tuple[DayFigures, ...]:
    """One row per day from ``first`` to ``last`` (zeros for days with nothing)."""
    query = select(DailySubscriptionStats).where(
        DailySubscriptionStats.day >= first.isoformat(),
        DailySubscriptionStats.day <= last.isoformat())
    if carrier:
        query = query.where(DailySubscriptionStats.carrier == carrier)
    totals: dict[str, list[int]] = {}
    for row in session.scalars(query):
        t = totals.setdefault(row.day, [0, 0, 0, 0])
        t[0] += row.requests
        t[1] += row.confirmations
        t[2] += row.unsubscriptions
        t[3] += row.lapsed
    rows = []
    day = first
    while day <= last:
        r, c, u, lapsed = totals.get(day.isoformat(), [0, 0, 0, 0])
        rows.append(DayFigures(day=day.isoformat(), requests=r, confirmations=c,
                               unsubscriptions=u, lapsed=lapsed))
        day += timedelta(days=1)
    return tuple(rows)


def period_figures(daily: Sequence[DayFigures], active_now: int) -> PeriodFigures:
    requests = sum(d.requests for d in daily)
    confirmations = sum(d.confirmations for d in daily)
    unsubscriptions = sum(d.unsubscriptions for d in daily)
    lapsed = sum(d.lapsed for d in daily)
    active_at_start = max(active_now - confirmations + unsubscriptions, 0)
    return PeriodFigures(
        days=len(daily), first_day=daily[0].day if daily else "",
        last_day=daily[-1].day if daily else "", requests=requests,
        confirmations=confirmations, unsubscriptions=unsubscriptions, lapsed=lapsed,
        conversion=ratio(confirmations, requests), active_at_start=active_at_start,
        churn=ratio(unsubscriptions, active_at_start),
        net_growth=confirmations - unsubscriptions,
    )


def summary(session: Session, *, today: date, days: int, carriers: Sequence[str]) -> Summary:
    figures, as_of = carrier_figures(session, carriers)
    daily = daily_figures(session, today - timedelta(days=days - 1), today)
    total_active = sum(c.active for c in figures)
    return Summary(
        as_of=as_of, carriers=figures, total_active=total_active,
        total_pending=sum(c.pending for c in figures),
        period=period_figures(daily, total_active), daily=daily,
    )


# -- editions and dispatches ------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DispatchFigures:
    dispatch_id: int
    edition_id: int
    newspaper_date: date
    slot: str
    carrier: str
    status: str
    total: int
    pending: int
    """The outcome groups of ``gateway/states.py``: pending (not final yet, uncertain
    included), submitted, delivered, failed, other."""
    submitted: int
    delivered: int
    failed: int
    """Undeliverable, expired, rejected, failed: the subscriber did not get it."""
    expired: int
    """Of the failed, those whose receipt said expired."""
    other: int
    """Cancelled, skipped, unknown: final, neither delivered nor failed."""
    uncertain: int
    """Deliveries that were ever uncertain (a submit in flight at a crash, or unanswered)."""
    reconciled: int
    """Uncertain deliveries that receipts echoing their parts' references proved sent."""
    resent: int
    """Uncertain deliveries whose parts without evidence were sent again."""
    skipped: int
    """Uncertain deliveries not sent again (``dispatch.uncertain = "skip"``): final."""
    delivery_rate: float | None
    """delivered ÷ all deliveries of the dispatch."""
    started_at: datetime | None
    finished_at: datetime | None
    elapsed_seconds: float | None
    throughput: float | None
    """Deliveries handled (no longer pending) per second of elapsed time."""
    mms_notifications: int
    """MMS deliveries (WAP Push mode): each subscriber's own notification, made as it is sent."""
    mms_delivered: int
    """Of those, the ones whose WAP Push the carrier's receipts say arrived."""
    mms_retrieved: int
    """Notifications whose content location the handset fetched: editions actually retrieved."""
    mms_acknowledged: int
    """Notifications the handset acknowledged (m-acknowledge-ind, or m-notifyresp-ind
    saying retrieved)."""
    mms_mm7_reports: int
    """MM7 mode: the MMSC's delivery reports received (any status). There ``mms_notifications``
    counts the SubmitReqs the MMSC accepted, ``mms_delivered`` and ``mms_retrieved`` the
    reports saying Retrieved."""
    as_of: datetime | None


_DISPATCH_COUNTS = ("total", "pending", "submitted", "delivered", "failed", "expired", "other",
                    "uncertain", "reconciled", "resent", "skipped")
"""The columns of ``dispatch_stats`` a :class:`DispatchFigures` shows."""
_MMS_COUNTS = ("notifications", "delivered", "retrieved", "acknowledged", "mm7_reports")
"""The columns of ``mms_dispatch_stats`` it shows (as ``mms_…``)."""


def dispatch_figures(
    session: Session, *, now: datetime, edition_ids: Sequence[int] | None = None,
    limit: int = 30,
) -> tuple[DispatchFigures, ...]:
    """Per dispatch (edition × carrier), newest editions first."""
    query = (
        select(Dispatch, Edition.newspaper_date, Edition.slot, DispatchStats, MmsDispatchStats)
        .join(Edition, Edition.id == Dispatch.edition_id)
        .outerjoin(DispatchStats, DispatchStats.dispatch_id == Dispatch.id)
        .outerjoin(MmsDispatchStats, MmsDispatchStats.dispatch_id == Dispatch.id)
        .order_by(Edition.newspaper_date.desc(), Edition.id.desc(), Dispatch.carrier)
    )
    if edition_ids is not None:
        query = query.where(Dispatch.edition_id.in_(list(edition_ids)))
    else:
        query = query.limit(limit)
    rows = []
    for dispatch, newspaper_date, slot, stats, mms in session.execute(query):
        counts = {name: getattr(stats, name) if stats else 0 for name in _DISPATCH_COUNTS}
        # ``dispatch_stats`` keeps expired apart from the rest of the failed group (its
        # ``failed`` column: undeliverable, rejected, failed): the group is their sum.
        counts[DeliveryGroup.FAILED] += counts["expired"]
        started = as_utc(dispatch.started_at)
        finished = as_utc(dispatch.finished_at)
        elapsed = ((finished or now) - started).total_seconds() if started else None
        handled = counts["total"] - counts["pending"]
        rows.append(DispatchFigures(
            dispatch_id=dispatch.id, edition_id=dispatch.edition_id,
            newspaper_date=newspaper_date, slot=slot, carrier=dispatch.carrier,
            status=dispatch.status, **counts,
            delivery_rate=ratio(counts["delivered"], counts["total"]),
            started_at=started, finished_at=finished, elapsed_seconds=elapsed,
            throughput=handled / elapsed if elapsed and elapsed > 0 else None,
            **{f"mms_{name}": getattr(mms, name) if mms else 0 for name in _MMS_COUNTS},
            as_of=as_utc(stats.computed_at) if stats else None,
        ))
    return tuple(rows)


@dataclass(frozen=True, slots=True)
class EditionHeader:
    edition_id: int
    newspaper_date: date
    slot: str
    status: str
    built_at: datetime | None
    frozen_at: datetime | None


def latest_editions(session: Session, limit: int = 30) -> tuple[EditionHeader, ...]:
    rows = session.scalars(
        select(Edition).order_by(Edition.newspaper_date.desc(), Edition.id.desc()).limit(limit))
    return tuple(_edition_header(e) for e in rows)


def edition_header(session: Session, edition_id: int) -> EditionHeader | None:
    edition = session.get(Edition, edition_id)
    return _edition_header(edition) if edition is not None else None


def _edition_header(e: Edition) -> EditionHeader:
    return EditionHeader(
        edition_id=e.id, newspaper_date=e.newspaper_date, slot=e.slot, status=e.status,
        built_at=as_utc(e.built_at),
        frozen_at=as_utc(e.frozen_at))


# -- one subscriber ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SubscriberFigures:
    subscriber_id: int
    """For links that must not carry the number (a viewer's export)."""
    msisdn: str
    carrier: str
    prefix_carrier: str | None
    status: str
    service_code: str
    message_format: str
    created_at: datetime
    requested_at: datetime | None
    """The latest request to subscribe (``pending_since`` is only the open window)."""
    pending_since: datetime | None
    activated_at: datetime | None
    cancelled_at: datetime | None
    consent_text: str | None
    consent_at: datetime | None
    undeliverable_streak: int
    flagged_at: datetime | None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: datetime
    kind: str
    """event, mo, mt (a reply) or digest."""
    carrier: str
    number: str
    text: str
    status: str
    detail: str


@dataclass(frozen=True, slots=True)
class SubscriberRecord:
    subscriber: SubscriberFigures | None
    history: tuple[HistoryEntry, ...]
    """Newest first, at most ``limit`` of each kind."""


_HISTORY_ORDER = {"mo": 0, "event": 1, "mt": 2, "digest": 3}


def raw_forms(msisdn: str) -> tuple[str, ...]:
    """The forms a carrier may have written the number in (as MO source / MT destination)."""
    return (msisdn, "86" + msisdn, "+86" + msisdn, "0086" + msisdn)


def subscriber_record(
    session: Session, msisdn: str, *, reveal: bool, limit: int = 200
) -> SubscriberRecord:
    row = session.scalars(select(Subscriber).where(Subscriber.msisdn == msisdn)).first()
    figures = None
    if row is not None:
        figures = SubscriberFigures(
            subscriber_id=row.id, msisdn=mask_number(row.msisdn, reveal), carrier=row.carrier,
            prefix_carrier=row.prefix_carrier, status=row.status,
            service_code=row.short_code + row.extension, message_format=row.message_format,
            created_at=as_utc(row.created_at),
            requested_at=as_utc(requested_at(session, row.id)),
            pending_since=as_utc(row.pending_since),
            activated_at=as_utc(row.activated_at),
            cancelled_at=as_utc(row.cancelled_at), consent_text=row.consent_text,
            consent_at=as_utc(row.consent_at), undeliverable_streak=row.undeliverable_streak,
            flagged_at=as_utc(row.flagged_at))
    shown = mask_number(msisdn, reveal)
    raw = raw_forms(msisdn)
    entries: list[HistoryEntry] = []
    # Every event belongs to its number's one subscriber row: found through that key's index
    # (no number, no subscriber row: no events).
    events = [] if row is None else session.scalars(
        select(SubscriptionEvent).where(SubscriptionEvent.subscriber_id == row.id)
        .order_by(SubscriptionEvent.id.desc()).limit(limit))
    for event in events:
        entries.append(HistoryEntry(
            at=as_utc(event.at), kind="event", carrier=event.carrier, number=shown,
            text=event.mo_text,
            status=f"{event.old_status} → {event.new_status}"
            + (f" ({event.message_format})" if event.message_format else ""),
            detail=f"{event.outcome}; to {event.short_code + event.extension}"))
    for mo in session.scalars(
            select(InboundMessage).where(InboundMessage.source_addr.in_(raw))
            .order_by(InboundMessage.id.desc()).limit(limit)):
        entries.append(_mo_entry(mo, reveal))
    replies = session.scalars(
        select(OutboundMessage).where(OutboundMessage.destination_addr.in_(raw))
        .order_by(OutboundMessage.id.desc()).limit(limit)).all()
    receipts = _segment_receipts(session, [mt.id for mt in replies])
    entries.extend(_mt_entry(mt, reveal, receipts.get(mt.id, "")) for mt in replies)
    if row is not None:
        for delivery, newspaper_date, slot in session.execute(
                select(Delivery, Edition.newspaper_date, Edition.slot)
                .join(Edition, Edition.id == Delivery.edition_id)
                .where(Delivery.subscriber_id == row.id)
                .order_by(Delivery.edition_id.desc()).limit(limit)):
            at = delivery.done_at or delivery.submitted_at
            entries.append(HistoryEntry(
                at=as_utc(at) if at else datetime.combine(newspaper_date, datetime.min.time(), UTC),
                kind="digest", carrier=delivery.carrier, number=shown,
                text=f"{newspaper_date.isoformat()}/{slot} ({delivery.message_format})",
                status=delivery.status,
                detail=f"parts {delivery.parts_delivered}/{delivery.parts_total} delivered"
                       + (f"; {delivery.error}" if delivery.error else "")))
    # At the same instant an MO, its transition and its reply happened in that order.
    entries.sort(key=lambda e: (e.at, _HISTORY_ORDER[e.kind]), reverse=True)
    return SubscriberRecord(subscriber=figures, history=tuple(entries))


def msisdn_of(session: Session, subscriber_id: int) -> str | None:
    return session.scalar(select(Subscriber.msisdn).where(Subscriber.id == subscriber_id))


def _segment_receipts(session: Session, outbound_ids: Sequence[int]) -> dict[int, str]:
    found: dict[int, list[str]] = {}
    if not outbound_ids:
        return {}
    for segment in session.scalars(
            select(OutboundSegment).where(OutboundSegment.outbound_id.in_(list(outbound_ids)))
            .order_by(OutboundSegment.outbound_id, OutboundSegment.seqnum)):
        found.setdefault(segment.outbound_id, []).append(
            f"part {segment.seqnum}: {segment.status}"
            + (f" ({segment.error})" if segment.error else ""))
    return {key: "; ".join(parts) for key, parts in found.items()}


def _mo_entry(mo: InboundMessage, reveal: bool) -> HistoryEntry:
    return HistoryEntry(
        at=as_utc(mo.received_at), kind="mo", carrier=mo.carrier,
        number=mask_number(mo.source_addr, reveal), text=mo.text,
        status=mo.outcome or "unprocessed", detail=f"to {mo.destination_addr}")


def _mt_entry(mt: OutboundMessage, reveal: bool, receipts: str) -> HistoryEntry:
    detail = f"{mt.kind} from {mt.source_addr}"
    if receipts:
        detail += f"; {receipts}"
    if mt.error:
        detail += f"; {mt.error}"
    return HistoryEntry(
        at=as_utc(mt.created_at), kind="mt", carrier=mt.carrier,
        number=mask_number(mt.destination_addr, reveal), text=mt.text, status=mt.status,
        detail=detail)


# -- message log ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class MessageFilter:
    carrier: str | None = None
    direction: str | None = None
    """``mo``, ``mt`` or None for both."""
    status: str | None = None
    """An MT status, or an MO's outcome."""
    since: datetime | None = None
    until: datetime | None = None
    """Exclusive."""


#: Order of the two directions among messages with the same time, newest first: the reply
#: (MT) is shown above the MO it answers.
_RANK = {"mo": 0, "mt": 1}


@dataclass(frozen=True, slots=True)
class MessageCursor:
    """The last message shown: the next page holds the messages after it in the log's order,
    (time, direction, id) descending — a total order over both tables."""

    at: datetime
    direction: str
    ident: int

    def text(self) -> str:
        return f"{as_utc(self.at).isoformat()}|{self.direction}|{self.ident}"

    @classmethod
    def parse(cls, text: str) -> MessageCursor:
        """Raises ValueError for anything that is not a cursor this module wrote."""
        at, direction, ident = text.split("|")
        if direction not in _RANK:
            raise ValueError(f"unknown direction {direction!r}")
        return cls(at=as_utc(datetime.fromisoformat(at)), direction=direction, ident=int(ident))


@dataclass(frozen=True, slots=True)
class MessagePage:
    entries: tuple[HistoryEntry, ...]
    ids: tuple[tuple[str, int], ...]
    next_cursor: MessageCursor | None


def message_log(
    session: Session, wanted: MessageFilter, *, reveal: bool, limit: int,
    cursor: MessageCursor | None = None,
) -> MessagePage:
    """MOs and MTs (replies) newest first; at most ``limit`` of them after ``cursor``."""
    found: list[tuple[datetime, int, int, HistoryEntry]] = []
    if wanted.direction in (None, "mo"):
        query = _time_window(select(InboundMessage), InboundMessage.received_at,
                             InboundMessage.id, "mo", wanted, cursor)
        if wanted.carrier:
            query = query.where(InboundMessage.carrier == wanted.carrier)
        if wanted.status:
            query = query.where(InboundMessage.outcome == wanted.status)
        query = query.order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
        for mo in session.scalars(query.limit(limit + 1)):
            found.append((as_utc(mo.received_at), _RANK["mo"], mo.id, _mo_entry(mo, reveal)))
    if wanted.direction in (None, "mt"):
        query = _time_window(select(OutboundMessage), OutboundMessage.created_at,
                             OutboundMessage.id, "mt", wanted, cursor)
        if wanted.carrier:
            query = query.where(OutboundMessage.carrier == wanted.carrier)
        if wanted.status:
            query = query.where(OutboundMessage.status == wanted.status)
        query = query.order_by(OutboundMessage.created_at.desc(), OutboundMessage.id.desc())
        mts = session.scalars(query.limit(limit + 1)).all()
        receipts = _segment_receipts(session, [mt.id for mt in mts])
        for mt in mts:
            found.append((as_utc(mt.created_at), _RANK["mt"], mt.id,
                          _mt_entry(mt, reveal, receipts.get(mt.id, ""))))
    found.sort(key=lambda item: item[:3], reverse=True)
    page = found[:limit]
    next_cursor = None
    if len(found) > limit and page:
        at, _rank, ident, entry = page[-1]
        next_cursor = MessageCursor(at=at, direction=entry.kind, ident=ident)
    return MessagePage(entries=tuple(item[3] for item in page),
                       ids=tuple((item[3].kind, item[2]) for item in page),
                       next_cursor=next_cursor)


def _time_window(query: Any, at: Any, ident: Any, direction: str, wanted: MessageFilter,
                 cursor: MessageCursor | None) -> Any:
    if wanted.since is not None:
        query = query.where(at >= wanted.since)
    if wanted.until is not None:
        query = query.where(at < wanted.until)
    if cursor is not None:
        rank, cursor_rank = _RANK[direction], _RANK[cursor.direction]
        if rank < cursor_rank:  # at the cursor's time, all of this direction comes after it
            query = query.where(at <= cursor.at)
        elif rank == cursor_rank:
            query = query.where(or_(at < cursor.at, and_(at == cursor.at, ident < cursor.ident)))
        else:  # at the cursor's time, all of this direction came before it
            query = query.where(at < cursor.at)
    return query


# -- one dispatch's digest deliveries ---------------------------------------------------------

#: Every delivery status, by the outcome group the console filters on: the groups of
#: ``gateway/states.py``, as every report counts them (keys and statuses are plain strings).
DELIVERY_GROUPS: dict[str, tuple[str, ...]] = {
    str(group): tuple(str(status) for status in statuses)
    for group, statuses in _GROUPS.items()}


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    delivery_id: int
    carrier: str
    number: str
    status: str
    attempts: int
    parts_total: int
    parts_delivered: int
    parts_failed: int
    submitted_at: datetime | None
    done_at: datetime | None
    error: str | None


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    rows: tuple[DeliveryRow, ...]
    next_after: int | None
    """The id to continue below, if there are more."""


def delivery_list(
    session: Session, dispatch_id: int, *, group: str | None, reveal: bool, limit: int,
    after: int | None = None,
) -> DeliveryPage:
    """A dispatch's deliveries, newest id first, optionally one outcome group. Each status is
    read through the ``(dispatch_id, status, id)`` index, ``limit + 1`` rows at most, and the
    lists merged: never a scan of the dispatch's millions of rows."""
    statuses = DELIVERY_GROUPS[group] if group else tuple(
        status for group_statuses in DELIVERY_GROUPS.values() for status in group_statuses)
    found: list[Delivery] = []
    for status in statuses:
        query = select(Delivery).where(Delivery.dispatch_id == dispatch_id,
                                       Delivery.status == status)
        if after is not None:
            query = query.where(Delivery.id < after)
        found.extend(session.scalars(query.order_by(Delivery.id.desc()).limit(limit + 1)))
    found.sort(key=lambda delivery: delivery.id, reverse=True)
    page = found[:limit]
    return DeliveryPage(
        rows=tuple(DeliveryRow(
            delivery_id=d.id, carrier=d.carrier, number=mask_number(d.msisdn, reveal),
            status=d.status, attempts=d.attempts, parts_total=d.parts_total,
            parts_delivered=d.parts_delivered, parts_failed=d.parts_failed,
            submitted_at=as_utc(d.submitted_at), done_at=as_utc(d.done_at),
            error=d.error) for d in page),
        next_after=page[-1].id if len(found) > limit and page else None)


def dispatch_edition(session: Session, dispatch_id: int) -> int | None:
    """The edition a dispatch sends, or None if there is no such dispatch."""
    return session.scalar(select(Dispatch.edition_id).where(Dispatch.id == dispatch_id))


def dispatch_of(session: Session, edition_id: int, carrier: str) -> int | None:
    return session.scalar(select(Dispatch.id).where(Dispatch.edition_id == edition_id,
                                                    Dispatch.carrier == carrier))


# -- audit log --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AuditRow:
    at: datetime
    operator: str
    action: str
    target: str
    reason: str
    ip: str


def audit_log(session: Session, *, reveal: bool, limit: int = 200) -> tuple[AuditRow, ...]:
    rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit))
    return tuple(
        AuditRow(at=as_utc(r.at), operator=r.operator, action=r.action,
                 target=r.target if reveal else _mask_target(r.target), reason=r.reason,
                 ip=r.ip)
        for r in rows)


def _mask_target(target: str) -> str:
    """Targets naming a number (``subscriber 13800138000``) are masked for viewers."""
    kind, _, rest = target.partition(" ")
    if kind == "subscriber" and rest:
        return f"{kind} {mask_number(rest, False)}"
    return target
