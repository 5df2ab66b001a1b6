"""Building an edition: articles in, per-carrier SMS digests and MMS editions out, stored.

Three steps, so that reading image files never holds the database's write lock:

* :func:`plan_edition` (a session, reads only) selects and orders the day's articles;
* :func:`load_images` (no session) reads each article's image file through Pillow
  (``images``);
* :func:`store_edition` (a session, never commits) renders every configured carrier once per
  format (``rendering``, pure) and stores the octets, so that dispatch (and a restart of it)
  sends exactly these bytes to every subscriber.

:func:`build_edition` runs the three with a transaction for each database step. Nothing here
reads subscribers: the cost of a build does not depend on them. An edition is frozen
(:func:`freeze_edition`) when dispatch starts; a frozen edition is never rebuilt.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from carriers.codings import sending_codings
from carriers.rules import CARRIER_RULES
from gateway.config import GatewayConfig, parse_article_ids
from gateway.db.edition_models import (
    EDITION_BUILDING,
    EDITION_BUILT,
    EDITION_FROZEN,
    FORMAT_MMS,
    FORMAT_SMS,
    Article,
    Edition,
    EditionArticle,
    EditionRender,
    EditionRenderSegment,
)
from gateway.editions.images import load_article_image
from gateway.editions.mms import MmsImage
from gateway.editions.rendering import (
    ArticleContent,
    CarrierTarget,
    EditionContent,
    EditionError,
    MmsRender,
    SmsRender,
    one_line_summary,
    render_mms,
    render_sms,
)
from gateway.editions.segmentation import ReferenceBits
from gateway.editions.selection import Candidate, select_articles
from gateway.editions.wap_push import WAP_PUSH_CODING
from gateway.templating import make_environment

log = logging.getLogger(__name__)


class EditionFrozenError(EditionError):
    """The edition is frozen (dispatch started); it is never rebuilt."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EditionSettings:
    """What building needs from the configuration (see :func:`edition_settings`)."""

    newspaper: Mapping[str, str]
    slot_labels: Mapping[str, str]
    targets: tuple[CarrierTarget, ...]
    channel_weights: Mapping[str, float]
    configured_orders: Mapping[str, tuple[int, ...]]
    """``"YYYY-MM-DD/slot"`` → article ids."""
    max_articles: int
    base_url: str
    mms_expiry_seconds: int
    sms_reference_bits: ReferenceBits
    templates_path: Path


def edition_settings(config: GatewayConfig) -> EditionSettings:
    editions = config.editions
    targets = []
    for carrier, carrier_config in config.carriers.items():
        rules = CARRIER_RULES[carrier]
        targets.append(CarrierTarget(
            carrier=carrier,
            short_code=carrier_config.short_code,
            max_sms_segments=rules.max_sms_segments,
            max_mms_bytes=editions.mms_max_bytes.get(carrier, rules.max_mms_bytes),
            codings=sending_codings(carrier_config.link.protocol),
        ))
    bits: ReferenceBits = 16 if editions.sms_reference_bits == 16 else 8
    return EditionSettings(
        newspaper={"name": config.newspaper.name, "signature": config.newspaper.signature,
                   "price": config.newspaper.price},
        slot_labels={name: slot.label for name, slot in editions.slots.items()},
        targets=tuple(targets),
        channel_weights=dict(editions.channel_weights),
        configured_orders={key: tuple(parse_article_ids(ids))
                           for key, ids in editions.order.items()},
        max_articles=editions.max_articles,
        base_url=config.content.base_url,
        mms_expiry_seconds=round(editions.mms_expiry_hours * 3600),
        sms_reference_bits=bits,
        templates_path=config.templates_path,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class BuiltEdition:
    edition_id: int
    newspaper_date: date
    slot: str
    article_ids: tuple[int, ...]
    renders: tuple[tuple[str, str, int], ...]
    """(carrier, format, size): segments for SMS, octets of the m-retrieve-conf for MMS."""
    skipped_images: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedArticle:
    """An article chosen for the edition, with what rendering and image loading need."""

    article_id: int
    position: int
    priority: int
    title: str
    paragraphs: tuple[str, ...]
    source: str | None
    editor: str | None
    images: tuple[Mapping[str, Any], ...]
    source_file: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class EditionPlan:
    """Which articles an edition shows, in which order: read, nothing written yet."""

    newspaper_date: date
    slot: str
    order: tuple[int, ...]
    """The explicit order it was built with (empty: none)."""
    articles: tuple[PlannedArticle, ...]

    @property
    def key(self) -> str:
        return f"{self.newspaper_date.isoformat()}/{self.slot}"


@dataclass(frozen=True, slots=True, kw_only=True)
class EditionImages:
    """Each planned article's image (or None), and a note for each image passed over."""

    by_article: Mapping[int, MmsImage | None]
    notes: tuple[str, ...]


def build_edition(
    sessions: sessionmaker[Session],
    settings: EditionSettings,
    *,
    newspaper_date: date,
    slot: str,
    now: datetime,
    explicit_order: Sequence[int] | None = None,
    environment: jinja2.Environment | None = None,
) -> BuiltEdition:
    """Build (or rebuild) the edition ``newspaper_date``/``slot`` and store its renders.

    Blocking (run it in a database thread). Three steps: :func:`plan_edition` reads in a
    short transaction, :func:`load_images` reads image files with no transaction open, and
    :func:`store_edition` renders and stores in one write transaction, so file I/O never
    holds the write lock. Raises :class:`EditionFrozenError` for a frozen edition and
    :class:`EditionError` for an unknown slot, a day without articles or content that cannot
    fit a carrier's limits.
    """
    with sessions.begin() as session:
        plan = plan_edition(session, settings, newspaper_date=newspaper_date, slot=slot,
                            explicit_order=explicit_order)
    images = load_images(plan)
    with sessions.begin() as session:
        return store_edition(session, settings, plan, images, now=now, environment=environment)


def plan_edition(
    session: Session,
    settings: EditionSettings,
    *,
    newspaper_date: date,
    slot: str,
    explicit_order: Sequence[int] | None = None,
) -> EditionPlan:
    """The articles of ``newspaper_date``/``slot``, selected and ordered; writes nothing.

    The explicit order is ``explicit_order`` when given, else ``editions.order`` for this
    edition.
    """
    if slot not in settings.slot_labels:
        known = ", ".join(settings.slot_labels)
        raise EditionError(f"unknown slot {slot!r}; editions.slots has {known}")
    key = f"{newspaper_date.isoformat()}/{slot}"
    _refuse_frozen(session.scalars(select(Edition).where(
        Edition.newspaper_date == newspaper_date, Edition.slot == slot)).first(), key)
    articles = session.scalars(
        select(Article).where(Article.published == newspaper_date).order_by(Article.id)
    ).all()
    if not articles:
        raise EditionError(
            f"no articles dated {newspaper_date.isoformat()}; store some with `sdgw ingest`"
        )
    order = tuple(explicit_order) if explicit_order is not None else (
        settings.configured_orders.get(key, ()))
    placements = select_articles(
        [Candidate(article_id=a.id, published=a.published, channel=tuple(a.channel))
         for a in articles],
        max_articles=settings.max_articles,
        explicit_order=order,
        channel_weights=settings.channel_weights,
    )
    by_id = {article.id: article for article in articles}
    return EditionPlan(
        newspaper_date=newspaper_date, slot=slot, order=order,
        articles=tuple(
            PlannedArticle(
                article_id=placement.article_id, position=placement.position,
                priority=placement.priority, title=by_id[placement.article_id].title,
                paragraphs=tuple(by_id[placement.article_id].paragraphs),
                source=by_id[placement.article_id].source,
                editor=by_id[placement.article_id].editor,
                images=tuple(by_id[placement.article_id].images or ()),
                source_file=by_id[placement.article_id].source_file)
            for placement in placements))


def load_images(plan: EditionPlan) -> EditionImages:
    """Each planned article's first usable local image (file I/O; no session)."""
    by_article: dict[int, MmsImage | None] = {}
    notes: list[str] = []
    for article in plan.articles:
        image, passed_over = load_article_image(article.images, article.source_file)
        by_article[article.article_id] = image
        notes.extend(f"article #{article.article_id}: {note}" for note in passed_over)
    for note in notes:
        log.info("%s", note)
    return EditionImages(by_article=by_article, notes=tuple(notes))


def store_edition(
    session: Session,
    settings: EditionSettings,
    plan: EditionPlan,
    images: EditionImages,
    *,
    now: datetime,
    environment: jinja2.Environment | None = None,
) -> BuiltEdition:
    """Render ``plan`` for every carrier and store it, replacing an earlier build.

    The renders carry the edition's id (references, the MMS URL), which a new edition gets
    from its insert, so rendering (pure) runs here, in the write transaction; nothing here
    reads a file. Raises :class:`EditionFrozenError` if the edition was frozen since it was
    planned.
    """
    edition = session.scalars(
        select(Edition)
        .where(Edition.newspaper_date == plan.newspaper_date, Edition.slot == plan.slot)
        .with_for_update()
    ).first()
    _refuse_frozen(edition, plan.key)
    if edition is None:
        edition = Edition(newspaper_date=plan.newspaper_date, slot=plan.slot,
                          status=EDITION_BUILDING, created_at=now)
        session.add(edition)
        session.flush()
    else:
        _delete_build(session, edition.id)
        edition.status = EDITION_BUILDING
    contents = []
    for article in plan.articles:
        session.add(EditionArticle(edition_id=edition.id, article_id=article.article_id,
                                   position=article.position, priority=article.priority))
        contents.append(ArticleContent(
            article_id=article.article_id,
            title=article.title,
            summary=one_line_summary(article.paragraphs),
            paragraphs=article.paragraphs,
            priority=article.priority,
            source=article.source,
            editor=article.editor,
            image=images.by_article.get(article.article_id),
        ))
    content = EditionContent(
        edition_id=edition.id,
        newspaper_date=plan.newspaper_date,
        slot=plan.slot,
        slot_label=settings.slot_labels[plan.slot],
        newspaper=settings.newspaper,
        articles=tuple(contents),
    )
    environment = environment or make_environment(settings.templates_path)
    summary: list[tuple[str, str, int]] = []
    for target in settings.targets:
        sms = render_sms(content, target, environment, reference_bits=settings.sms_reference_bits)
        _store_sms(session, edition.id, target, sms, now)
        summary.append((target.carrier, FORMAT_SMS, len(sms.message.segments)))
        mms = render_mms(content, target, environment, base_url=settings.base_url, date=now,
                         expiry_seconds=settings.mms_expiry_seconds)
        _store_mms(session, edition.id, target, mms, now)
        summary.append((target.carrier, FORMAT_MMS, len(mms.pdu)))
    edition.status = EDITION_BUILT
    edition.built_at = now
    edition.article_order = list(plan.order) or None
    session.flush()
    return BuiltEdition(
        edition_id=edition.id,
        newspaper_date=plan.newspaper_date,
        slot=plan.slot,
        article_ids=tuple(a.article_id for a in plan.articles),
        renders=tuple(summary),
        skipped_images=images.notes,
    )


def _refuse_frozen(edition: Edition | None, key: str) -> None:
    if edition is not None and edition.status == EDITION_FROZEN:
        raise EditionFrozenError(
            f"edition {key} (#{edition.id}) is frozen since {utc_text(edition.frozen_at)}: "
            "its dispatch has started, so it is never rebuilt"
        )


def utc_text(moment: datetime | None) -> str:
    """``2020-11-18 07:30 UTC`` (SQLite hands back naive UTC, PostgreSQL aware values)."""
    if moment is None:
        return "-"
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def freeze_edition(session: Session, edition_id: int, *, now: datetime) -> Edition:
    """Freeze a built edition when its dispatch starts; freezing it again changes nothing.

    Raises :class:`EditionError` for an unknown edition or one that is not built.
    """
    edition = session.get(Edition, edition_id, with_for_update=True)
    if edition is None:
        raise EditionError(f"there is no edition #{edition_id}")
    if edition.status == EDITION_FROZEN:
        return edition
    if edition.status != EDITION_BUILT:
        raise EditionError(
            f"edition {edition.newspaper_date.isoformat()}/{edition.slot} (#{edition.id}) is "
            f"not built (status {edition.status}); build it before dispatch"
        )
    edition.status = EDITION_FROZEN
    edition.frozen_at = now
    session.flush()
    return edition


def _delete_build(session: Session, edition_id: int) -> None:
    renders = select(EditionRender.id).where(EditionRender.edition_id == edition_id)
    session.execute(
        delete(EditionRenderSegment).where(EditionRenderSegment.render_id.in_(renders))
    )
    session.execute(delete(EditionRender).where(EditionRender.edition_id == edition_id))
    session.execute(delete(EditionArticle).where(EditionArticle.edition_id == edition_id))


def _store_sms(
    session: Session, edition_id: int, target: CarrierTarget, sms: SmsRender, now: datetime
) -> None:
    render = EditionRender(
        edition_id=edition_id,
        carrier=target.carrier,
        format=FORMAT_SMS,
        sms_text=sms.text,
        fitting={
            "max_segments": target.max_sms_segments,
            "encoding": sms.message.coding.value,
            "reference": sms.reference,
            "reference_bits": sms.reference_bits,
            "articles": list(sms.kept),
            "shortened": list(sms.shortened),
            "dropped": list(sms.dropped),
        },
        rendered_at=now,
    )
    session.add(render)
    session.flush()
    session.add_all(
        EditionRenderSegment(render_id=render.id, number=number,
                             short_message=segment.short_message,
                             coding=sms.message.coding, udhi=bool(segment.udh))
        for number, segment in enumerate(sms.message.segments, start=1)
    )


def _store_mms(
    session: Session, edition_id: int, target: CarrierTarget, mms: MmsRender, now: datetime
) -> None:
    render = EditionRender(
        edition_id=edition_id,
        carrier=target.carrier,
        format=FORMAT_MMS,
        mms_pdu=mms.pdu,
        mms_size=len(mms.pdu),
        mms_pages=list(mms.pages),
        content_location=mms.content_location,
        fitting=mms.fitting,
        rendered_at=now,
    )
    session.add(render)
    session.flush()
    session.add_all(
        EditionRenderSegment(render_id=render.id, number=number, short_message=segment,
                             coding=WAP_PUSH_CODING, udhi=True)
        for number, segment in enumerate(mms.push_segments, start=1)
    )
