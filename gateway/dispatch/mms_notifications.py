"""Each MMS delivery's own notification (WAP Push mode), made when the delivery is marked
``sending``. Functions take a session and never commit.

A delivery's notification row (``mms_notifications``: token, transaction id, expiry) is
inserted in the transaction that marks the delivery ``sending``, so it is committed before
its WAP Push leaves; a delivery sent again (resent after a crash, or retried) finds its row
and sends the very same notification, so the handset sees one message, not two. The short
messages come from the edition's stored m-retrieve-conf (``subscriber_notice.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from carriers.messages import MessagePart
from gateway.db.edition_models import FORMAT_MMS, EditionRender
from gateway.db.mms_models import MmsNotification
from gateway.db.times import as_utc
from gateway.editions.rendering import push_reference
from gateway.editions.subscriber_notice import (
    EditionAnnouncement,
    content_location,
    new_token,
    new_transaction_id,
)
from gateway.editions.wap_push import WAP_PUSH_CODING

_NOTIFICATIONS = MmsNotification.__table__
_IN_CHUNK = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class MmsNotificationSettings:
    base_url: str = "http://127.0.0.1:8081"
    """``content.base_url``: the start of every content location."""
    expiry: timedelta = timedelta(hours=72)
    """``editions.mms_expiry_hours``: how long a notification's content location answers,
    from when the delivery is first sent."""


@dataclass(frozen=True, slots=True)
class Announcer:
    """One dispatch's MMS: what every notification shares, and how many short messages each
    is (the same for all)."""

    dispatch_id: int
    announcement: EditionAnnouncement
    settings: MmsNotificationSettings
    parts_count: int

    def parts(self, *, token: str, transaction_id: str, expires_at: datetime
              ) -> tuple[MessagePart, ...]:
        segments = self.announcement.push_segments(
            transaction_id=transaction_id,
            location=content_location(self.settings.base_url, token), expires_at=expires_at)
        return tuple(MessagePart(payload=s, coding=WAP_PUSH_CODING, has_udh=True)
                     for s in segments)


def load_announcer(session: Session, *, dispatch_id: int, edition_id: int, carrier: str,
                   settings: MmsNotificationSettings, now: datetime) -> Announcer | None:
    """The dispatch's announcer, or None when the edition has no MMS render for ``carrier``."""
    pdu = session.scalar(select(EditionRender.mms_pdu).where(
        EditionRender.edition_id == edition_id, EditionRender.carrier == carrier,
        EditionRender.format == FORMAT_MMS))
    if pdu is None:
        return None
    announcement = EditionAnnouncement.from_retrieve_conf(
        pdu, push_reference=push_reference(edition_id))
    count = len(announcement.specimen(base_url=settings.base_url,
                                      expires_at=now + settings.expiry))
    return Announcer(dispatch_id=dispatch_id, announcement=announcement, settings=settings,
                     parts_count=count)


def prepare(session: Session, announcer: Announcer, delivery_ids: Sequence[int], *,
            now: datetime) -> dict[int, tuple[MessagePart, ...]]:
    """The WAP Push parts of each delivery's own notification, its row made if it has none
    (in the caller's transaction: the one marking the deliveries ``sending``)."""
    if not delivery_ids:
        return {}
    found: dict[int, tuple[str, str, datetime]] = {}
    wanted = sorted(set(delivery_ids))
    for start in range(0, len(wanted), _IN_CHUNK):
        for row in session.execute(
                select(_NOTIFICATIONS.c.delivery_id, _NOTIFICATIONS.c.token,
                       _NOTIFICATIONS.c.transaction_id, _NOTIFICATIONS.c.expires_at)
                .where(_NOTIFICATIONS.c.delivery_id.in_(wanted[start:start + _IN_CHUNK]))):
            found[row.delivery_id] = (row.token, row.transaction_id, as_utc(row.expires_at))
    missing = [delivery_id for delivery_id in wanted if delivery_id not in found]
    if missing:
        expires_at = now + announcer.settings.expiry
        rows = [{"delivery_id": delivery_id, "dispatch_id": announcer.dispatch_id,
                 "token": new_token(), "transaction_id": new_transaction_id(delivery_id),
                 "created_at": now, "expires_at": expires_at, "retrievals": 0}
                for delivery_id in missing]
        session.execute(insert(_NOTIFICATIONS), rows)
        found.update((row["delivery_id"], (row["token"], row["transaction_id"], expires_at))
                     for row in rows)
    return {delivery_id: announcer.parts(token=token, transaction_id=transaction_id,
                                         expires_at=expires_at)
            for delivery_id, (token, transaction_id, expires_at) in found.items()}
