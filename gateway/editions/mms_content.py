"""The stored m-retrieve-conf read back into its parts, for MM7 (pure).

The WAP Push mode serves the edition's m-retrieve-conf as built; the MM7 mode submits the
same edition to the carrier's MMSC as MIME parts (SMIL first, then images and texts). This
reads the octets :func:`gateway.editions.mms.encode_retrieve_conf` wrote — headers skipped by
the generic WSP value rules (WAP-230 §8.4.1.2), the Subject kept, then the multipart body —
so both modes send exactly the same edition.
"""

from __future__ import annotations

from carriers.mm7.mime import ContentPart, MmsContent
from gateway.editions.mms import (
    FIELD_CONTENT_TYPE,
    FIELD_SUBJECT,
    SMIL_CONTENT_TYPE,
)
from gateway.editions.wsp import QUOTE, QUOTED_STRING_START, decode_uintvar

_WELL_KNOWN_TYPES = {0x03: "text/plain", 0x1D: "image/gif", 0x1E: "image/jpeg",
                     0x20: "image/png", 0x33: "application/vnd.wap.multipart.related"}
_CHARSETS = {106: "utf-8", 3: "us-ascii", 4: "iso-8859-1"}
_PART_CONTENT_ID = 0xC0
_PART_CONTENT_LOCATION = 0x8E
_PARAM_CHARSET = 0x81


class MmsContentError(ValueError):
    """The stored octets are not an m-retrieve-conf this reader understands."""


def read_retrieve_conf(pdu: bytes) -> MmsContent:
    """The Subject and the parts of an m-retrieve-conf (SMIL first)."""
    try:
        return _read(pdu)
    except IndexError:
        raise MmsContentError("the m-retrieve-conf ends early") from None


def _read(pdu: bytes) -> MmsContent:
    offset = 0
    subject = ""
    while True:
        if offset >= len(pdu):
            raise MmsContentError("no Content-Type header")
        field = pdu[offset]
        offset += 1
        if field == FIELD_CONTENT_TYPE:
            _, offset = _skip_value(pdu, offset)
            break
        start = offset
        _, offset = _skip_value(pdu, offset)
        if field == FIELD_SUBJECT:
            subject = _encoded_string(pdu[start:offset])
    count, offset = decode_uintvar(pdu, offset)
    parts: list[ContentPart] = []
    for _ in range(count):
        headers_length, offset = decode_uintvar(pdu, offset)
        data_length, offset = decode_uintvar(pdu, offset)
        headers = pdu[offset:offset + headers_length]
        data = pdu[offset + headers_length:offset + headers_length + data_length]
        if len(headers) != headers_length or len(data) != data_length:
            raise MmsContentError("a part runs past the end of the PDU")
        offset += headers_length + data_length
        parts.append(_part(headers, data))
    if not parts or not parts[0].content_type.startswith(SMIL_CONTENT_TYPE):
        raise MmsContentError("the first part is not the SMIL presentation")
    return MmsContent(subject=subject, parts=tuple(parts))


def _skip_value(data: bytes, offset: int) -> tuple[bytes, int]:
    """One header value by the generic rules: 0-30 short length, 31 uintvar length,
    32-127 text up to NUL, 128-255 one octet."""
    first = data[offset]
    if first <= 30:
        end = offset + 1 + first
        return data[offset + 1:end], end
    if first == 31:
        length, start = decode_uintvar(data, offset + 1)
        return data[start:start + length], start + length
    if first <= 127:
        end = data.index(0, offset)
        return data[offset:end], end + 1
    return data[offset:offset + 1], offset + 1


def _text(raw: bytes) -> str:
    raw = raw.rstrip(b"\x00")
    if raw[:1] in (bytes((QUOTE,)), bytes((QUOTED_STRING_START,))):
        raw = raw[1:]
    return raw.decode("utf-8", errors="replace")


def _encoded_string(raw: bytes) -> str:
    """An Encoded-string-value as written by the encoder (length, charset, text) or a bare
    Text-string."""
    if raw and raw[0] <= 31:
        value, _ = _skip_value(raw, 0)
        if value and value[0] >= 0x80:
            value = value[1:]
        return _text(value)
    return _text(raw)


def _part(headers: bytes, data: bytes) -> ContentPart:
    content_type, offset = _content_type(headers)
    content_id = location = ""
    while offset < len(headers):
        field = headers[offset]
        value, offset = _skip_value(headers, offset + 1)
        if field == _PART_CONTENT_ID:
            content_id = _text(value).strip("<>")
        elif field == _PART_CONTENT_LOCATION:
            location = _text(value)
    return ContentPart(content_type=content_type, content_id=content_id, location=location,
                       data=data)


def _content_type(headers: bytes) -> tuple[str, int]:
    first = headers[0]
    if first >= 0x80:
        return _well_known(first & 0x7F), 1
    if first >= 32:
        end = headers.index(0)
        return _text(headers[:end]), end + 1
    value, offset = _skip_value(headers, 0)
    kind = value[0]
    if kind >= 0x80:
        name, rest = _well_known(kind & 0x7F), value[1:]
    else:
        end = value.index(0)
        name, rest = _text(value[:end]), value[end + 1:]
    if len(rest) >= 2 and rest[0] == _PARAM_CHARSET and rest[1] >= 0x80:
        name += f"; charset={_CHARSETS.get(rest[1] & 0x7F, 'utf-8')}"
    return name, offset


def _well_known(code: int) -> str:
    if code not in _WELL_KNOWN_TYPES:
        raise MmsContentError(f"content type code 0x{code:02X} is not one the encoder writes")
    return _WELL_KNOWN_TYPES[code]
