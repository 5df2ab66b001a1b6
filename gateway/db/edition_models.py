"""Typed models for articles and editions (``sdgw ingest``, ``sdgw edition build``).

Like :mod:`gateway.db.models`, these describe the schema for queries; only the Alembic
migrations create or change it (``0003_articles_editions``).

An edition is one newspaper date and slot (``morning``/``evening``). Its articles are kept in
``edition_articles`` with their position; what each carrier's subscribers receive is rendered
once per edition × carrier × format into ``edition_renders`` and, for the short messages to
send, ``edition_render_segments``: an SMS render's segments are the digest's concatenated
parts, an MMS render's segments are the WAP Push parts carrying the m-notification-ind, and its
``mms_pdu`` is the m-retrieve-conf served at ``content_location``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models import Base, BigId

#: Edition statuses. ``building``: not ready to send (never built, or an article changed
#: since); ``built``: renders stored; ``frozen``: dispatch started, never rebuilt again.
EDITION_BUILDING = "building"
EDITION_BUILT = "built"
EDITION_FROZEN = "frozen"

FORMAT_SMS = "sms"
FORMAT_MMS = "mms"


class Article(Base):
    """One article, stored once: deduplicated by canonical URL, else by content hash."""

    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(Text)
    published: Mapped[date] = mapped_column(Date, index=True)
    source: Mapped[str | None] = mapped_column(Text)
    """来源, e.g. 大众报业·大众网."""
    author: Mapped[str | None] = mapped_column(Text)
    editor: Mapped[str | None] = mapped_column(Text)
    """责任编辑."""
    channel: Mapped[list[str]] = mapped_column(JSON)
    """The channel path below the home page, e.g. ``["教育新闻", "教育热点"]``."""
    url: Mapped[str | None] = mapped_column(Text)
    canonical_url: Mapped[str | None] = mapped_column(Text, unique=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """SHA-256 of the normalised title, date and body (``ParsedArticle.content_hash``)."""
    images: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    """``[{"src": ... or null, "caption": ... or null}, ...]`` in page order."""
    paragraphs: Mapped[list[str]] = mapped_column(JSON)
    origin: Mapped[str] = mapped_column(Text)
    """Where it came from: the file name, or a feed item's / JSON object's id."""
    source_file: Mapped[str | None] = mapped_column(Text)
    """Absolute path of the file it was read from; local image paths are relative to it."""
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Edition(Base):
    """One edition of the newspaper: a date and a slot."""

    __tablename__ = "editions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    newspaper_date: Mapped[date] = mapped_column(Date)
    slot: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    """``building``, ``built`` or ``frozen`` (see the constants above)."""
    article_order: Mapped[list[int] | None] = mapped_column(JSON)
    """The explicit order (article ids) the last build was asked for, if any."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    built_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    frozen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("newspaper_date", "slot", name="uq_editions_date_slot"),)


class EditionArticle(Base):
    """An article's place in an edition. A larger ``priority`` is dropped later when fitting."""

    __tablename__ = "edition_articles"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id"), index=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    """1-based."""
    priority: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint("edition_id", "position", name="uq_edition_articles_position"),
        UniqueConstraint("edition_id", "article_id", name="uq_edition_articles_article"),
    )


class EditionRender(Base):
    """What one carrier's subscribers receive of an edition in one format (``sms``/``mms``)."""

    __tablename__ = "edition_renders"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id"), index=True)
    carrier: Mapped[str] = mapped_column(String(32))
    format: Mapped[str] = mapped_column(String(8))
    sms_text: Mapped[str | None] = mapped_column(Text)
    """The digest as sent (SMS renders)."""
    mms_pdu: Mapped[bytes | None] = mapped_column(LargeBinary)
    """The m-retrieve-conf served at ``content_location`` (MMS renders)."""
    mms_size: Mapped[int | None] = mapped_column(Integer)
    mms_pages: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    """Per page: number, kind (cover/article), article id, title, text/image octets."""
    content_location: Mapped[str | None] = mapped_column(Text)
    fitting: Mapped[dict[str, Any]] = mapped_column(JSON)
    """What fitting into the carrier's limit did: shortened and dropped articles, limits."""
    rendered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("edition_id", "carrier", "format", name="uq_edition_renders_target"),
    )


class EditionRenderSegment(Base):
    """One short message of a render, complete: UDH (if any) and payload."""

    __tablename__ = "edition_render_segments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    render_id: Mapped[int] = mapped_column(ForeignKey("edition_renders.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    """1-based, in sending order."""
    short_message: Mapped[bytes] = mapped_column(LargeBinary)
    coding: Mapped[str] = mapped_column(String(16))
    """A :class:`carriers.messages.TextCoding` value (``gsm7``, ``ucs2``, ``binary``, ...); the
    link writes its protocol's number for it (``0007_text_coding``)."""
    udhi: Mapped[bool] = mapped_column(Boolean)
    """The message starts with a UDH: the link sets UDHI (esm_class 0x40 in SMPP)."""

    __table_args__ = (
        UniqueConstraint("render_id", "number", name="uq_edition_render_segments_number"),
    )
