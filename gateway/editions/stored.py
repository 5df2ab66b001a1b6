"""Loading stored editions and their renders (for ``sdgw edition preview``, the console and
the MMS content server). Functions take a session and never write."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carriers.messages import TextCoding
from gateway.db.edition_models import (
    EDITION_BUILT,
    EDITION_FROZEN,
    FORMAT_MMS,
    Article,
    Edition,
    EditionArticle,
    EditionRender,
    EditionRenderSegment,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredSegment:
    number: int
    short_message: bytes
    coding: TextCoding
    udhi: bool

    @property
    def udh(self) -> bytes:
        return self.short_message[: 1 + self.short_message[0]] if self.udhi else b""

    @property
    def payload(self) -> bytes:
        return self.short_message[len(self.udh) :]


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredRender:
    carrier: str
    format: str
    sms_text: str | None
    mms_size: int | None
    mms_pages: list[dict[str, Any]] | None
    content_location: str | None
    fitting: dict[str, Any]
    segments: tuple[StoredSegment, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredArticle:
    position: int
    priority: int
    article_id: int
    title: str
    channel: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredEdition:
    edition_id: int
    newspaper_date: date
    slot: str
    status: str
    built_at: datetime | None
    frozen_at: datetime | None
    articles: tuple[StoredArticle, ...]
    renders: tuple[StoredRender, ...]


def load_edition(session: Session, newspaper_date: date, slot: str) -> StoredEdition | None:
    """The edition with its articles and renders (carriers in name order, SMS before MMS)."""
    edition = session.scalars(
        select(Edition).where(Edition.newspaper_date == newspaper_date, Edition.slot == slot)
    ).first()
    if edition is None:
        return None
    articles = session.execute(
        select(EditionArticle.position, EditionArticle.priority, Article.id, Article.title,
               Article.channel)
        .join(Article, Article.id == EditionArticle.article_id)
        .where(EditionArticle.edition_id == edition.id)
        .order_by(EditionArticle.position)
    ).all()
    renders = session.scalars(
        select(EditionRender).where(EditionRender.edition_id == edition.id)
        .order_by(EditionRender.carrier, EditionRender.format.desc())
    ).all()
    segments: dict[int, list[StoredSegment]] = {render.id: [] for render in renders}
    if renders:
        rows = session.scalars(
            select(EditionRenderSegment)
            .where(EditionRenderSegment.render_id.in_(list(segments)))
            .order_by(EditionRenderSegment.render_id, EditionRenderSegment.number)
        ).all()
        for row in rows:
            segments[row.render_id].append(StoredSegment(
                number=row.number, short_message=row.short_message,
                coding=TextCoding(row.coding), udhi=row.udhi,
            ))
    return StoredEdition(
        edition_id=edition.id,
        newspaper_date=edition.newspaper_date,
        slot=edition.slot,
        status=edition.status,
        built_at=edition.built_at,
        frozen_at=edition.frozen_at,
        articles=tuple(
            StoredArticle(position=position, priority=priority, article_id=article_id,
                          title=title, channel=tuple(channel))
            for position, priority, article_id, title, channel in articles
        ),
        renders=tuple(
            StoredRender(
                carrier=render.carrier,
                format=render.format,
                sms_text=render.sms_text,
                mms_size=render.mms_size,
                mms_pages=render.mms_pages,
                content_location=render.content_location,
                fitting=render.fitting,
                segments=tuple(segments[render.id]),
            )
            for render in renders
        ),
    )


def load_mms_pdu(session: Session, edition_id: int, carrier: str) -> bytes | None:
    """The stored m-retrieve-conf of a built or frozen edition for ``carrier``, else None."""
    return session.scalars(
        select(EditionRender.mms_pdu)
        .join(Edition, Edition.id == EditionRender.edition_id)
        .where(
            EditionRender.edition_id == edition_id,
            EditionRender.carrier == carrier,
            EditionRender.format == FORMAT_MMS,
            Edition.status.in_((EDITION_BUILT, EDITION_FROZEN)),
        )
    ).first()
