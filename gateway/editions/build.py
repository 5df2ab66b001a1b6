"""Building an edition: articles in, per-carrier SMS digests and MMS editions out, stored.

Two layers:

* **Rendering** (:func:`render_sms`, :func:`render_mms`, :func:`one_line_summary`) is pure:
  edition content and a carrier's limits in, octets out. Wording comes only from the templates
  (``sms/digest*.txt.j2``, ``mms/*.txt.j2``).
* **Storing** (:func:`build_edition`, :func:`freeze_edition`) takes a session and never commits.
  It selects the day's articles, renders every configured carrier once per format, and stores
  the octets, so that dispatch (and a restart of it) sends exactly these bytes to every
  subscriber. Nothing here reads subscribers: the cost of a build does not depend on them.

An edition is frozen when dispatch starts; a frozen edition is never rebuilt.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jinja2
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from carriers.codings import sending_codings
from carriers.messages import TextCoding
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
from gateway.editions.mms import MmsHeaders, MmsImage, MmsPage, MmsTooLargeError, fit_mms
from gateway.editions.segmentation import (
    DEFAULT_CODINGS,
    ReferenceBits,
    SegmentedMessage,
    segment_text,
)
from gateway.editions.selection import Candidate, select_articles
from gateway.editions.sms_digest import DigestError, DigestItem, fit_digest
from gateway.editions.wap_push import (
    WAP_PUSH_CODING,
    encode_mms_notification_ind,
    wap_push_segments,
    wrap_wap_push,
)
from gateway.errors import GatewayError
from gateway.templating import make_environment

log = logging.getLogger(__name__)

SMS_DIGEST_TEMPLATE = "sms/digest.txt.j2"
SMS_HEADER_TEMPLATE = "sms/digest_header.txt.j2"
SMS_FOOTER_TEMPLATE = "sms/digest_footer.txt.j2"
MMS_SUBJECT_TEMPLATE = "mms/subject.txt.j2"
MMS_COVER_TEMPLATE = "mms/cover.txt.j2"
MMS_PAGE_TEMPLATE = "mms/page.txt.j2"

#: Reading time given to an article page per character, and its bounds (SMIL ``dur``).
PAGE_MS_PER_CHAR = 150
PAGE_MIN_MS = 8000
PAGE_MAX_MS = 60000


class EditionError(GatewayError):
    """An edition cannot be built or frozen as asked."""


class EditionFrozenError(EditionError):
    """The edition is frozen (dispatch started); it is never rebuilt."""


# ---------------------------------------------------------------------------------------------
# Pure rendering


@dataclass(frozen=True, slots=True, kw_only=True)
class ArticleContent:
    """One article as an edition shows it."""

    article_id: int
    title: str
    summary: str
    paragraphs: tuple[str, ...]
    priority: int
    source: str | None = None
    editor: str | None = None
    image: MmsImage | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EditionContent:
    edition_id: int
    newspaper_date: date
    slot: str
    slot_label: str
    newspaper: Mapping[str, str]
    """``name``, ``signature`` and ``price``, as configured."""
    articles: tuple[ArticleContent, ...]

    def template_context(self) -> dict[str, Any]:
        edition = {
            "id": self.edition_id,
            "date": self.newspaper_date.isoformat(),
            "year": self.newspaper_date.year,
            "month": self.newspaper_date.month,
            "day": self.newspaper_date.day,
            "slot": self.slot,
            "label": self.slot_label,
        }
        return {"newspaper": dict(self.newspaper), "edition": edition}


@dataclass(frozen=True, slots=True, kw_only=True)
class CarrierTarget:
    carrier: str
    short_code: str
    max_sms_segments: int
    max_mms_bytes: int
    codings: frozenset[TextCoding] = DEFAULT_CODINGS
    """What the carrier's link protocol can carry; the digest is coded in one of them."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SmsRender:
    text: str
    message: SegmentedMessage
    reference: int
    reference_bits: ReferenceBits
    kept: tuple[int, ...]
    """Article ids in the digest, in order."""
    shortened: tuple[int, ...]
    dropped: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class MmsRender:
    pdu: bytes
    pages: tuple[dict[str, Any], ...]
    """Per page: number, kind, article_id, title, text_chars, text_bytes, image_bytes, image."""
    content_location: str
    notification: bytes
    """The m-notification-ind (inside the WAP Push below)."""
    push_segments: tuple[bytes, ...]
    fitting: dict[str, Any] = field(default_factory=dict)


def render_lines(environment: jinja2.Environment, name: str, **context: Any) -> str:
    """Render a template whose lines matter: each non-empty line stripped, joined by newlines."""
    rendered = environment.get_template(name).render(**context)
    lines = (line.strip() for line in rendered.splitlines())
    return "\n".join(line for line in lines if line)


def sms_reference(edition_id: int, bits: ReferenceBits) -> int:
    """The digest's concatenation reference: the same for every subscriber of an edition."""
    return edition_id % (1 << bits)


def push_reference(edition_id: int) -> int:
    """The WAP Push concatenation reference (8-bit), kept apart from the digest's."""
    return (edition_id + 0x80) % 0x100


def render_sms(
    content: EditionContent,
    target: CarrierTarget,
    environment: jinja2.Environment,
    *,
    reference_bits: ReferenceBits = 8,
) -> SmsRender:
    """The SMS digest for one carrier, fitted into its ``max_sms_segments`` and segmented."""
    context = content.template_context()
    header = render_lines(environment, SMS_HEADER_TEMPLATE, **context)
    footer = render_lines(environment, SMS_FOOTER_TEMPLATE, **context)
    items = [
        DigestItem(title=a.title, summary=a.summary, priority=a.priority, key=str(a.article_id))
        for a in content.articles
    ]

    def render(*, header: str, items: Sequence[DigestItem], footer: str) -> str:
        return render_lines(environment, SMS_DIGEST_TEMPLATE, header=header, items=items,
                            footer=footer, **context)

    try:
        fitted = fit_digest(header=header, items=items, footer=footer, render=render,
                            max_segments=target.max_sms_segments, reference_bits=reference_bits,
                            codings=target.codings)
    except DigestError as exc:
        raise EditionError(f"{target.carrier}: {exc}") from None
    reference = sms_reference(content.edition_id, reference_bits)
    message = segment_text(fitted.text, reference=reference, reference_bits=reference_bits,
                           codings=target.codings)
    return SmsRender(
        text=fitted.text,
        message=message,
        reference=reference,
        reference_bits=reference_bits,
        kept=tuple(int(item.key or 0) for item in fitted.items),
        shortened=tuple(int(item.key or 0) for item in fitted.shortened),
        dropped=tuple(int(item.key or 0) for item in fitted.dropped),
    )


def render_mms(
    content: EditionContent,
    target: CarrierTarget,
    environment: jinja2.Environment,
    *,
    base_url: str,
    date: datetime,
    expiry_seconds: int,
) -> MmsRender:
    """The MMS edition for one carrier (cover, then a page per article), fitted into its size
    limit, and the WAP Push that announces it. ``date`` is the MMS Date header (aware)."""
    context = content.template_context()
    subject = render_lines(environment, MMS_SUBJECT_TEMPLATE, **context).replace("\n", " ")
    cover = MmsPage(text=render_lines(environment, MMS_COVER_TEMPLATE,
                                      articles=content.articles, **context))
    pages = [cover]
    for article in content.articles:
        text = render_lines(environment, MMS_PAGE_TEMPLATE, article=article, **context)
        duration = min(PAGE_MAX_MS, max(PAGE_MIN_MS, len(text) * PAGE_MS_PER_CHAR))
        pages.append(MmsPage(text=text, image=article.image, duration_ms=duration))
    sender = f"{target.short_code}/TYPE=PLMN"
    transaction_id = f"sdgw-{content.edition_id}-{target.carrier}"
    headers = MmsHeaders(transaction_id=transaction_id, date=date, subject=subject, from_=sender)
    try:
        fitted = fit_mms(headers, pages, max_bytes=target.max_mms_bytes)
    except MmsTooLargeError as exc:
        raise EditionError(f"{target.carrier}: {exc}") from None
    content_location = f"{base_url.rstrip('/')}/mms/{content.edition_id}/{target.carrier}"
    notification = encode_mms_notification_ind(
        transaction_id=transaction_id,
        content_location=content_location,
        message_size=len(fitted.pdu),
        expiry_seconds=expiry_seconds,
        subject=subject,
        from_=sender,
    )
    push = wap_push_segments(wrap_wap_push(notification),
                             reference=push_reference(content.edition_id))
    return MmsRender(
        pdu=fitted.pdu,
        pages=_page_summaries(content, pages, fitted.pages, fitted.dropped_images),
        content_location=content_location,
        notification=notification,
        push_segments=tuple(push),
        fitting={
            "max_bytes": target.max_mms_bytes,
            "text_limit": fitted.text_limit,
            "shortened_pages": [i + 1 for i in fitted.shortened_pages],
            "image_step": list(fitted.image_step) if fitted.image_step else None,
            "dropped_images": [i + 1 for i in fitted.dropped_images],
        },
    )


def _page_summaries(
    content: EditionContent,
    originals: Sequence[MmsPage],
    fitted: Sequence[MmsPage],
    dropped_images: Sequence[int],
) -> tuple[dict[str, Any], ...]:
    # Every page has a text, so fitting never removes one: fitted[i] is originals[i].
    summaries = []
    for index, (original, page) in enumerate(zip(originals, fitted, strict=True)):
        article = content.articles[index - 1] if index else None
        if page.image is not None:
            image = "original" if page.image == original.image else "scaled"
        else:
            image = "dropped" if index in dropped_images else None
        summaries.append({
            "number": index + 1,
            "kind": "article" if article else "cover",
            "article_id": article.article_id if article else None,
            "title": article.title if article else None,
            "text_chars": len(page.text),
            "text_bytes": len(page.text.encode("utf-8")),
            "text_shortened": len(page.text) < len(original.text),
            "image_bytes": len(page.image.data) if page.image is not None else 0,
            "image_type": page.image.content_type if page.image is not None else None,
            "image": image,
        })
    return tuple(summaries)


#: A dateline or byline in front of a news lead: "大众网讯(记者 …)", "新华社北京11月18日电（…）",
#: "大众网·海报新闻记者 刘晨 菏泽报道". They say nothing a one-line summary needs.
_LEAD_PREFIXES = (
    re.compile(r"^[^，。,：:]{0,40}?[讯电]\s*[（(][^（()）]{0,40}[）)]\s*"),
    re.compile(r"^[^，。,：:]{0,40}?[讯电][\s\u3000]+"),
    re.compile(r"^[^，。,：:]{0,30}?记者[^，。,：:]{1,30}?报道[\s\u3000]*"),
)
_SENTENCE_END = re.compile(r"[。！？!?]")


def one_line_summary(paragraphs: Sequence[str]) -> str:
    """The first sentence of the lead paragraph, without dateline, byline or final stop."""
    lead = paragraphs[0].strip() if paragraphs else ""
    for prefix in _LEAD_PREFIXES:
        stripped = prefix.sub("", lead, count=1)
        if stripped != lead:
            lead = stripped.strip() or lead
            break
    match = _SENTENCE_END.search(lead)
    sentence = lead[: match.start()] if match else lead
    return sentence.strip() or lead


# ---------------------------------------------------------------------------------------------
# Building and storing


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


def build_edition(
    session: Session,
    settings: EditionSettings,
    *,
    newspaper_date: date,
    slot: str,
    now: datetime,
    explicit_order: Sequence[int] | None = None,
    environment: jinja2.Environment | None = None,
) -> BuiltEdition:
    """Build (or rebuild) the edition ``newspaper_date``/``slot`` and store its renders.

    The explicit order is ``explicit_order`` when given, else ``editions.order`` for this
    edition. Raises :class:`EditionFrozenError` for a frozen edition and
    :class:`EditionError` for an unknown slot, a day without articles or content that cannot
    fit a carrier's limits.
    """
    if slot not in settings.slot_labels:
        known = ", ".join(settings.slot_labels)
        raise EditionError(f"unknown slot {slot!r}; editions.slots has {known}")
    key = f"{newspaper_date.isoformat()}/{slot}"
    edition = session.scalars(
        select(Edition)
        .where(Edition.newspaper_date == newspaper_date, Edition.slot == slot)
        .with_for_update()
    ).first()
    if edition is not None and edition.status == EDITION_FROZEN:
        raise EditionFrozenError(
            f"edition {key} (#{edition.id}) is frozen since {utc_text(edition.frozen_at)}: "
            "its dispatch has started, so it is never rebuilt"
        )
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
    if edition is None:
        edition = Edition(newspaper_date=newspaper_date, slot=slot, status=EDITION_BUILDING,
                          created_at=now)
        session.add(edition)
        session.flush()
    else:
        _delete_build(session, edition.id)
        edition.status = EDITION_BUILDING
    by_id = {article.id: article for article in articles}
    skipped: list[str] = []
    contents = []
    for placement in placements:
        article = by_id[placement.article_id]
        session.add(EditionArticle(edition_id=edition.id, article_id=article.id,
                                   position=placement.position, priority=placement.priority))
        image, notes = load_article_image(article.images, article.source_file)
        skipped.extend(f"article #{article.id}: {note}" for note in notes)
        contents.append(ArticleContent(
            article_id=article.id,
            title=article.title,
            summary=one_line_summary(article.paragraphs),
            paragraphs=tuple(article.paragraphs),
            priority=placement.priority,
            source=article.source,
            editor=article.editor,
            image=image,
        ))
    for note in skipped:
        log.info("%s", note)
    content = EditionContent(
        edition_id=edition.id,
        newspaper_date=newspaper_date,
        slot=slot,
        slot_label=settings.slot_labels[slot],
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
    edition.article_order = list(order) or None
    session.flush()
    return BuiltEdition(
        edition_id=edition.id,
        newspaper_date=newspaper_date,
        slot=slot,
        article_ids=tuple(p.article_id for p in placements),
        renders=tuple(summary),
        skipped_images=tuple(skipped),
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


# ---------------------------------------------------------------------------------------------
# Article images (local files only)

_IMAGE_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_REMOTE_SCHEMES = frozenset({"http", "https", "ftp", "data"})


def load_article_image(
    images: Sequence[Mapping[str, Any]], source_file: str | None
) -> tuple[MmsImage | None, list[str]]:
    """The article's first usable image, and a note for each image passed over.

    Only local files are used (a path relative to the article's file, an absolute path or a
    ``file:`` URL); remote images are not fetched. Pictures that are not JPEG, PNG or GIF are
    converted to JPEG; files that are missing or not pictures are passed over.
    """
    notes: list[str] = []
    for image in images:
        src = image.get("src")
        if not src:
            continue
        parts = urlsplit(src)
        if parts.scheme.lower() in _REMOTE_SCHEMES or src.startswith("//"):
            notes.append(f"image {src} is remote; not fetched, the page goes without it")
            continue
        path = Path(unquote(parts.path)) if parts.scheme.lower() == "file" else Path(src)
        if not path.is_absolute():
            if source_file is None:
                notes.append(f"image {src} is relative but the article has no file to resolve "
                             "it against; skipped")
                continue
            path = Path(source_file).parent / path
        try:
            data = path.read_bytes()
        except OSError as exc:
            notes.append(f"image {path} cannot be read ({exc.strerror or exc}); skipped")
            continue
        loaded = _as_mms_image(data)
        if loaded is None:
            notes.append(f"image {path} is not a picture Pillow can read; skipped")
            continue
        return loaded, notes
    return None, notes


def _as_mms_image(data: bytes) -> MmsImage | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as probe:
            probe.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None
    for signature, content_type in _IMAGE_SIGNATURES:
        if data.startswith(signature):
            return MmsImage(data=data, content_type=content_type)
    try:
        with Image.open(io.BytesIO(data)) as picture:
            buffer = io.BytesIO()
            picture.convert("RGB").save(buffer, format="JPEG", quality=85)
    except (OSError, ValueError):
        return None
    return MmsImage(data=buffer.getvalue(), content_type="image/jpeg")
