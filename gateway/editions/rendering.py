"""Rendering an edition: its content and a carrier's limits in, octets out. Pure: no session,
no files, no clock (the MMS ``Date`` is given).

:func:`render_sms` fits the SMS digest into the carrier's segments, :func:`render_mms` the MMS
edition into its size limit with the WAP Push announcing it; :func:`one_line_summary` is an
article's line in the digest. Wording comes only from the templates (``sms/digest*.txt.j2``,
``mms/*.txt.j2``). Images come in already loaded (``images.load_article_image``, before the
build's transaction); storing the renders is ``build``'s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import jinja2

from carriers.messages import TextCoding
from gateway.editions.mms import MmsHeaders, MmsImage, MmsPage, MmsTooLargeError, fit_mms
from gateway.editions.segmentation import (
    DEFAULT_CODINGS,
    ReferenceBits,
    SegmentedMessage,
    segment_text,
)
from gateway.editions.sms_digest import DigestError, DigestItem, fit_digest
from gateway.editions.subscriber_notice import (
    SPECIMEN_TOKEN,
    SPECIMEN_TRANSACTION_ID,
    TRANSACTION_ID_CHARS,
    EditionAnnouncement,
    content_location,
)
from gateway.errors import GatewayError

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
    """The specimen's: every subscriber's has its own token in place of the zeros."""
    notification: bytes
    """A specimen m-notification-ind (inside the WAP Push below), in every subscriber's shape:
    each subscriber gets one with its own transaction id and content location
    (``editions/subscriber_notice.py``), of the same length."""
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
    limit, and a specimen of the WAP Push that announces it to each subscriber. ``date`` is
    the MMS Date header (aware); the specimen expires ``expiry_seconds`` after it."""
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
    # Served, it carries a subscriber's transaction id, which may be longer than this one.
    slack = max(0, TRANSACTION_ID_CHARS - len(transaction_id))
    try:
        fitted = fit_mms(headers, pages, max_bytes=target.max_mms_bytes - slack)
    except MmsTooLargeError as exc:
        raise EditionError(f"{target.carrier}: {exc}") from None
    announcement = EditionAnnouncement.from_retrieve_conf(
        fitted.pdu, push_reference=push_reference(content.edition_id))
    expires_at = date + timedelta(seconds=expiry_seconds)
    location = content_location(base_url, SPECIMEN_TOKEN)
    push = announcement.specimen(base_url=base_url, expires_at=expires_at)
    return MmsRender(
        pdu=fitted.pdu,
        pages=_page_summaries(content, pages, fitted.pages, fitted.dropped_images),
        content_location=location,
        notification=announcement.notification(
            transaction_id=SPECIMEN_TRANSACTION_ID, location=location,
            expires_at=expires_at),
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
