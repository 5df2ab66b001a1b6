"""The HTTP body of an MM7 request: ``multipart/related`` with the SOAP envelope first and
the MMS content after it (itself ``multipart/related`` with the SMIL as its start), built
and read with Python's ``email`` package (pure).
"""

from __future__ import annotations

import email.policy
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.parser import BytesParser

from carriers.mm7 import statuses
from carriers.mm7.soap import Mm7Error

SOAP_CONTENT_ID = "mm7-soap"
CONTENT_ID = "mms-content"
_HTTP = email.policy.HTTP
_PARSER = BytesParser(policy=email.policy.compat32)
"""compat32 reads a 40 KB MMS about five times faster than the header-registry policies."""
_ENVELOPE_SLOT = b"<!--sdgw:mm7-envelope-->"


@dataclass(frozen=True, slots=True, kw_only=True)
class ContentPart:
    """One part of an MMS: its type (with parameters, e.g. ``text/plain; charset=utf-8``),
    Content-ID (without the angle brackets) and Content-Location."""

    content_type: str
    content_id: str
    location: str
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class MmsContent:
    """An MMS: its parts, the first the SMIL presentation (the multipart's start)."""

    subject: str
    parts: tuple[ContentPart, ...]

    @property
    def size(self) -> int:
        return sum(len(p.data) for p in self.parts)


def content_message(content: MmsContent, content_id: str = CONTENT_ID) -> Message:
    """The MMS as one MIME part (``multipart/related``, start = the first part)."""
    if not content.parts:
        raise ValueError("an MMS needs at least one part")
    start = content.parts[0]
    related = MIMEMultipart("related", type=start.content_type.split(";")[0].strip(),
                            start=f"<{start.content_id}>")
    for part in content.parts:
        related.attach(_mime_part(part))
    related["Content-ID"] = f"<{content_id}>"
    return related


def _mime_part(part: ContentPart) -> Message:
    maintype, _, rest = part.content_type.partition("/")
    subtype, _, params = rest.partition(";")
    mime: Message
    if maintype == "application":
        mime = MIMEApplication(part.data, subtype.strip())
    else:
        mime = MIMENonMultipart(maintype.strip(), subtype.strip())
        mime.set_payload(part.data)
        email.encoders.encode_base64(mime)
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip() and value.strip():
            mime.set_param(name.strip(), value.strip().strip('"'))
    mime["Content-ID"] = f"<{part.content_id}>"
    mime["Content-Location"] = part.location
    return mime


def build_request_body(envelope: bytes, content: Message | None) -> tuple[str, bytes]:
    """The HTTP Content-Type and body of an MM7 request: the envelope alone (``text/xml``)
    when there is no content, else ``multipart/related`` (type text/xml, start the
    envelope) with the content after it."""
    if content is None:
        return 'text/xml; charset="utf-8"', envelope
    soap = MIMEBase("text", "xml", charset="utf-8")
    soap.set_payload(envelope)
    soap["Content-Transfer-Encoding"] = "8bit"
    soap["Content-ID"] = f"<{SOAP_CONTENT_ID}>"
    outer = MIMEMultipart("related", type="text/xml", start=f"<{SOAP_CONTENT_ID}>")
    outer.attach(soap)
    outer.attach(content)
    flat = outer.as_bytes(policy=_HTTP)
    head, _, body = flat.partition(b"\r\n\r\n")
    content_type = _PARSER.parsebytes(head + b"\r\n\r\n")["Content-Type"]
    return " ".join(str(content_type).split()), body


class RequestTemplate:
    """:func:`build_request_body` for many requests with the same content: the email package
    builds the whole multipart once, with a slot where the SOAP part's payload goes, and each
    request puts its envelope in the slot (the MIME is the email package's; serialising a
    40 KB MMS for every subscriber would cost ~10 ms each)."""

    def __init__(self, content: Message) -> None:
        self.content_type, body = build_request_body(_ENVELOPE_SLOT, content)
        head, slot, tail = body.partition(_ENVELOPE_SLOT)
        if not slot or _ENVELOPE_SLOT in tail:
            raise ValueError("the envelope slot is not in the serialised body exactly once")
        self._head, self._tail = head, tail
        self._boundary = self.content_type.partition('boundary="')[2].partition('"')[0]
        self._content = content

    def render(self, envelope: bytes) -> tuple[str, bytes]:
        """The Content-Type and body with ``envelope`` as the SOAP part."""
        if self._boundary.encode() in envelope or b"\r" in envelope:
            return build_request_body(envelope, self._content)  # cannot go in the slot as is
        # Line ends as the generator writes them (policy HTTP: CRLF).
        return self.content_type, self._head + envelope.replace(b"\n", b"\r\n") + self._tail


@dataclass(frozen=True, slots=True)
class ParsedBody:
    envelope: bytes
    parts: dict[str, Message]
    """Content-ID (no brackets) → MIME part, for every part after the envelope."""


def parse_request_body(content_type: str, body: bytes) -> ParsedBody:
    """The envelope and the parts of an MM7 HTTP body; :class:`Mm7Error` (2007) when it is
    neither XML nor a multipart with an XML start."""
    kind = content_type.split(";")[0].strip().lower()
    if kind in ("text/xml", "application/xml", "application/soap+xml"):
        return ParsedBody(body, {})
    if kind != "multipart/related":
        raise Mm7Error(f"unexpected Content-Type {content_type[:80]!r}",
                       status=statuses.MESSAGE_FORMAT_CORRUPT)
    try:
        message = _PARSER.parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    except (ValueError, TypeError, UnicodeError, LookupError) as exc:
        raise Mm7Error(f"unreadable multipart body: {exc}",
                       status=statuses.MESSAGE_FORMAT_CORRUPT) from None
    payload = message.get_payload() if message.is_multipart() else None
    parts = [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []
    if not parts:
        raise Mm7Error("multipart/related without parts", status=statuses.MESSAGE_FORMAT_CORRUPT)
    start = _cid(message.get_param("start", header="content-type"))
    soap = next((p for p in parts if start and _cid(p.get("Content-ID")) == start), parts[0])
    envelope = _payload(soap)
    others = {_cid(p.get("Content-ID")): p for p in parts if p is not soap}
    return ParsedBody(envelope, {cid: p for cid, p in others.items() if cid})


def text_parts(parsed: ParsedBody, href: str | None) -> list[str]:
    """The text/plain parts of the content ``href`` names (``cid:…``), in order; every
    text/plain part after the envelope when ``href`` names none we have."""
    roots: Sequence[Message]
    target = parsed.parts.get(_cid(href[4:] if href and href.startswith("cid:") else href))
    roots = [target] if target is not None else list(parsed.parts.values())
    texts: list[str] = []
    for root in roots:
        for part in root.walk():
            if part.get_content_type() != "text/plain" or part.is_multipart():
                continue
            data = _payload(part)
            charset = part.get_content_charset() or "utf-8"
            try:
                texts.append(data.decode(charset, errors="replace"))
            except LookupError:
                texts.append(data.decode("utf-8", errors="replace"))
    return texts


def _payload(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _cid(value: object) -> str:
    text = str(value or "").strip()
    if isinstance(value, tuple):  # an RFC 2231 parameter
        text = str(value[2] or "")
    return text.strip().removeprefix("<").removesuffix(">")
