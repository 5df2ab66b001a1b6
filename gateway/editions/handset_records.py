"""What the content server reads and records about each subscriber's MMS notification.

Reads (:func:`find_by_token`, :func:`find_by_transaction`) run in the content server's
read-only pool and never wait for the dispatch's writer. Records (a retrieval, a handset's
m-notifyresp-ind or m-acknowledge-ind) go to :class:`HandsetRecorder`, which answers at
once and writes later: what arrives is merged per notification in memory (so a flood of
fetches of one token is one row's worth, and memory is bounded by the notifications, not the
requests) and written in one transaction at a time by the writer's pool. A batch that fails
is merged back and written with the next one: records are not lost while the process runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session
from twisted.application import service
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from gateway.db.dispatch_models import Delivery
from gateway.db.edition_models import (
    EDITION_BUILT,
    EDITION_FROZEN,
    FORMAT_MMS,
    Edition,
    EditionRender,
)
from gateway.db.mms_models import MmsNotification
from gateway.db.threads import DatabaseThreads
from gateway.db.times import as_utc
from gateway.editions.mms_headers import HandsetReport, with_transaction_id

log = logging.getLogger(__name__)

_NOTIFICATIONS = MmsNotification.__table__
USER_AGENT_CHARS = 200


@dataclass(frozen=True, slots=True)
class Fetched:
    """What a content location's token leads to."""

    notification_id: int
    transaction_id: str
    expires_at: datetime
    pdu: bytes
    """The m-retrieve-conf as this subscriber receives it (its own transaction id)."""


def find_by_token(session: Session, token: str) -> Fetched | None:
    """The notification with this token and its edition's m-retrieve-conf, or None (no such
    token, or the edition has no servable MMS render)."""
    row = session.execute(
        select(MmsNotification.id, MmsNotification.transaction_id, MmsNotification.expires_at,
               EditionRender.mms_pdu)
        .join(Delivery, Delivery.id == MmsNotification.delivery_id)
        .join(EditionRender, (EditionRender.edition_id == Delivery.edition_id)
              & (EditionRender.carrier == Delivery.carrier)
              & (EditionRender.format == FORMAT_MMS))
        .join(Edition, Edition.id == Delivery.edition_id)
        .where(MmsNotification.token == token,
               Edition.status.in_((EDITION_BUILT, EDITION_FROZEN)))
    ).first()
    if row is None or row.mms_pdu is None:
        return None
    expires_at = as_utc(row.expires_at)
    assert expires_at is not None
    return Fetched(notification_id=row.id, transaction_id=row.transaction_id,
                   expires_at=expires_at, pdu=with_transaction_id(row.mms_pdu,
                                                                  row.transaction_id))


def find_by_transaction(session: Session, transaction_id: str) -> int | None:
    """The id of the notification with this transaction id, or None."""
    return session.scalar(select(MmsNotification.id).where(
        MmsNotification.transaction_id == transaction_id))


@dataclass(slots=True)
class _Pending:
    """What happened to one notification since the last write."""

    retrievals: int = 0
    first_retrieved_at: datetime | None = None
    last_retrieved_at: datetime | None = None
    user_agent: str | None = None
    response_status: str | None = None
    responded_at: datetime | None = None
    acknowledged_at: datetime | None = None

    def merge(self, other: _Pending) -> None:
        """``other`` happened before ``self`` (a failed batch put back under newer news)."""
        self.retrievals += other.retrievals
        self.first_retrieved_at = other.first_retrieved_at or self.first_retrieved_at
        self.last_retrieved_at = self.last_retrieved_at or other.last_retrieved_at
        self.user_agent = self.user_agent or other.user_agent
        if self.response_status is None:
            self.response_status, self.responded_at = other.response_status, other.responded_at
        self.acknowledged_at = other.acknowledged_at or self.acknowledged_at


def _news(name: str, column: str) -> Any:
    """The batch's value for ``column`` (a bound parameter of the column's type)."""
    return bindparam(name, type_=_NOTIFICATIONS.c[column].type)


_C = _NOTIFICATIONS.c
_WRITE = update(_NOTIFICATIONS).where(_C.id == bindparam("b_id")).values(
    retrievals=_C.retrievals + bindparam("b_retrievals"),
    first_retrieved_at=func.coalesce(_C.first_retrieved_at, _news("b_first", "first_retrieved_at")),
    last_retrieved_at=func.coalesce(_news("b_last", "last_retrieved_at"), _C.last_retrieved_at),
    user_agent=func.coalesce(_news("b_agent", "user_agent"), _C.user_agent),
    response_status=func.coalesce(_news("b_status", "response_status"), _C.response_status),
    responded_at=func.coalesce(_news("b_responded", "responded_at"), _C.responded_at),
    acknowledged_at=func.coalesce(_C.acknowledged_at, _news("b_ack", "acknowledged_at")),
)
"""Counts add up; the first retrieval and the first acknowledgement stay; the latest
retrieval, user agent and response replace older ones."""


def write_records(session: Session, pending: dict[int, _Pending]) -> None:
    """One statement for every notification with news (the caller's transaction)."""
    if pending:
        session.execute(_WRITE, [{
            "b_id": notification_id, "b_retrievals": p.retrievals,
            "b_first": p.first_retrieved_at, "b_last": p.last_retrieved_at,
            "b_agent": p.user_agent, "b_status": p.response_status,
            "b_responded": p.responded_at, "b_ack": p.acknowledged_at,
        } for notification_id, p in pending.items()])


class HandsetRecorder(service.Service):
    """Records retrievals and handset reports without making anyone wait (see the module's
    docstring). Stopping writes what is left."""

    def __init__(self, writer: DatabaseThreads, clock: IReactorTime, *,
                 interval: float = 0.5) -> None:
        self.setName("mms-handset-records")
        self._writer = writer
        self._clock = clock
        self._interval = interval
        self._pending: dict[int, _Pending] = {}
        self._timer: Any = None
        self._writing: defer.Deferred[None] | None = None

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.seconds(), UTC)

    def retrieved(self, notification_id: int, user_agent: str | None) -> None:
        at = self.now()
        record = self._pending.setdefault(notification_id, _Pending())
        record.retrievals += 1
        record.first_retrieved_at = record.first_retrieved_at or at
        record.last_retrieved_at = at
        if user_agent:
            record.user_agent = "".join(
                ch for ch in user_agent if ch.isprintable())[:USER_AGENT_CHARS] or None
        self._schedule()

    def reported(self, notification_id: int, report: HandsetReport) -> None:
        at = self.now()
        record = self._pending.setdefault(notification_id, _Pending())
        if report.kind == "notifyresp":
            record.response_status, record.responded_at = report.status, at
            if report.status == "retrieved":
                record.acknowledged_at = record.acknowledged_at or at
        else:
            record.acknowledged_at = record.acknowledged_at or at
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is None and self._writing is None:
            self._timer = self._clock.callLater(self._interval, self.flush)

    def flush(self) -> defer.Deferred[None]:
        """Write what is pending now (after the batch being written, if one is)."""
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self._writing is not None:
            return _after(self._writing).addCallback(lambda _: self.flush())
        if not self._pending:
            return defer.succeed(None)
        batch, self._pending = self._pending, {}

        def written(result: object) -> None:
            self._writing = None
            if isinstance(result, Failure):
                log.error("%d MMS handset record(s) could not be written (kept, retried): %s",
                          len(batch), result.getErrorMessage())
                for notification_id, older in batch.items():
                    self._pending.setdefault(notification_id, _Pending()).merge(older)
            if self._pending:
                self._schedule()

        self._writing = self._writer.transaction(
            lambda session: write_records(session, batch)).addBoth(written)
        return _after(self._writing)

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        return self.flush()


def _after(deferred: defer.Deferred[Any]) -> defer.Deferred[None]:
    """A Deferred firing (with None) when ``deferred`` does, leaving its result alone."""
    follower = defer.Deferred[None]()

    def fire(result: object) -> object:
        follower.callback(None)
        return result

    deferred.addBoth(fire)
    return follower
