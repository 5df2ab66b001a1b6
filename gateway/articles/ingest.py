"""Storing parsed articles: each article once, re-ingesting harmless.

Unlike the parsers in this package this module touches the database: its functions take a
:class:`~sqlalchemy.orm.Session` and never commit; the caller (``sdgw ingest``) owns the
transaction, one per file, so a bad file does not lose the others.

Identity rules:

* An article with a URL is the same article as the stored one with the same canonical URL
  (:func:`~gateway.articles.canonical_url`). If anything stored differs (text, title, date,
  metadata, images), the stored article is **updated** — unless an edition that contains it is
  frozen (dispatch has started): then the stored article is kept as it was sent and the result
  says ``frozen``. Built editions that contain an updated article go back to ``building``, so
  they are rebuilt before they are sent.
* Otherwise it is the same article as the stored one with the same content hash (title, date and
  body, normalised). Such a copy only fills in what the stored article lacks (a URL, source,
  author, editor, channel or images); it never overwrites, so two copies of one article (say the
  scraped text and the HTML page) do not take turns.
* An article without a URL whose text changed is a new article: nothing else identifies it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.articles.loading import parse_path
from gateway.articles.model import ParsedArticle, canonical_url
from gateway.db.edition_models import (
    EDITION_BUILDING,
    EDITION_BUILT,
    EDITION_FROZEN,
    Article,
    Edition,
    EditionArticle,
)
from gateway.errors import GatewayError


class IngestOutcome(enum.Enum):
    NEW = "new"
    UNCHANGED = "unchanged"
    UPDATED = "updated"
    FROZEN = "frozen"
    """Changed, but in a frozen edition: the stored article was kept as sent."""


class DuplicateArticleError(GatewayError):
    """An article's new text is already stored as a different article."""


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestResult:
    outcome: IngestOutcome
    article_id: int
    title: str
    editions_to_rebuild: tuple[str, ...] = ()
    """``date/slot`` of the built editions that went back to ``building``."""
    frozen_editions: tuple[str, ...] = ()
    """``date/slot`` of the frozen editions that kept the article unchanged."""


def ingest_file(session: Session, path: Path, *, now: datetime, max_bytes: int | None = None
                ) -> list[IngestResult]:
    """Parse ``path`` and store its articles; raises :class:`ArticleError` for a bad file
    (one larger than ``max_bytes`` among them)."""
    articles = parse_path(path, max_bytes=max_bytes)
    source_file = path.resolve()
    return [ingest_article(session, article, source_file=source_file, now=now)
            for article in articles]


def ingest_article(
    session: Session, article: ParsedArticle, *, source_file: Path | None, now: datetime
) -> IngestResult:
    """Store ``article`` unless it is stored already; see the module notes for the rules."""
    canonical = _canonical_or_none(article.url)
    content_hash = article.content_hash
    values = _stored_values(article, canonical)
    by_url = None
    if canonical is not None:
        by_url = session.scalars(select(Article).where(Article.canonical_url == canonical)).first()
    if by_url is not None:
        changes = {name: value for name, value in values.items()
                   if getattr(by_url, name) != value}
        if by_url.content_hash != content_hash:
            other = session.scalars(
                select(Article).where(Article.content_hash == content_hash, Article.id != by_url.id)
            ).first()
            if other is not None:
                raise DuplicateArticleError(
                    f"article #{by_url.id} ({canonical}) changed into the text of article "
                    f"#{other.id}; not stored twice"
                )
            changes["content_hash"] = content_hash
        return _apply(session, by_url, changes, now)
    by_hash = session.scalars(select(Article).where(Article.content_hash == content_hash)).first()
    if by_hash is not None:
        return _apply(session, by_hash, _missing(by_hash, values), now)
    row = Article(
        **values,
        content_hash=content_hash,
        origin=article.origin,
        source_file=str(source_file) if source_file is not None else None,
        ingested_at=now,
    )
    session.add(row)
    session.flush()
    return IngestResult(outcome=IngestOutcome.NEW, article_id=row.id, title=row.title)


def _apply(session: Session, row: Article, changes: dict[str, Any], now: datetime) -> IngestResult:
    if not changes:
        return IngestResult(outcome=IngestOutcome.UNCHANGED, article_id=row.id, title=row.title)
    editions = session.scalars(
        select(Edition)
        .join(EditionArticle, EditionArticle.edition_id == Edition.id)
        .where(EditionArticle.article_id == row.id)
        .order_by(Edition.newspaper_date, Edition.slot)
    ).all()
    frozen = tuple(_edition_key(e) for e in editions if e.status == EDITION_FROZEN)
    if frozen:
        return IngestResult(outcome=IngestOutcome.FROZEN, article_id=row.id, title=row.title,
                            frozen_editions=frozen)
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = now
    stale = []
    for edition in editions:
        if edition.status == EDITION_BUILT:
            edition.status = EDITION_BUILDING
            stale.append(_edition_key(edition))
    session.flush()
    return IngestResult(outcome=IngestOutcome.UPDATED, article_id=row.id, title=row.title,
                        editions_to_rebuild=tuple(stale))


def _stored_values(article: ParsedArticle, canonical: str | None) -> dict[str, Any]:
    return {
        "title": article.title,
        "published": article.published,
        "source": article.source,
        "author": article.author,
        "editor": article.editor,
        "channel": list(article.channel),
        "url": article.url,
        "canonical_url": canonical,
        "images": [{"src": image.src, "caption": image.caption} for image in article.images],
        "paragraphs": list(article.paragraphs),
    }


_FILLABLE = ("source", "author", "editor", "channel", "images")


def _missing(row: Article, values: dict[str, Any]) -> dict[str, Any]:
    """What a copy with the same text adds to the stored row: only what the row lacks."""
    changes = {name: values[name] for name in _FILLABLE if not getattr(row, name) and values[name]}
    if row.canonical_url is None and values["canonical_url"] is not None:
        changes["url"] = values["url"]
        changes["canonical_url"] = values["canonical_url"]
    return changes


def _canonical_or_none(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return canonical_url(url)
    except ValueError:
        return None


def _edition_key(edition: Edition) -> str:
    return f"{edition.newspaper_date.isoformat()}/{edition.slot}"
