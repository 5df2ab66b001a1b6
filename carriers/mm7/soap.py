"""The SOAP 1.1 envelope MM7 travels in, and SOAP faults, built and read with lxml.

Every MM7 message is ``Envelope/Header/TransactionID`` (in the MM7 namespace,
``mustUnderstand="1"``) and ``Envelope/Body/<request or response>``. Reading is strict and
safe: no DTDs, no entities, no network, a depth and size the caller already bounded; any
problem is an :class:`Mm7Error` carrying the MM7 status to answer with.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from carriers.errors import ProtocolError
from carriers.mm7 import statuses

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SCHEMA_BASE = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/"
RELEASES: dict[str, str] = {
    "REL-6-MM7-1-4": "6.8.0",
    "REL-5-MM7-1-0": "5.3.0",
}
"""MM7 schema releases this codec speaks → the ``MM7Version`` each one's messages carry."""
DEFAULT_RELEASE = "REL-6-MM7-1-4"
MAX_DEPTH = 32
"""Deeper XML than this is refused (MM7 messages are a few levels deep)."""


def namespace_of(release: str) -> str:
    if release not in RELEASES:
        raise ValueError(f"unknown MM7 release {release!r}; expected one of {sorted(RELEASES)}")
    return SCHEMA_BASE + release


def release_of(namespace: str) -> str | None:
    """The release a namespace names, or None when it is none this codec speaks."""
    if namespace.startswith(SCHEMA_BASE) and namespace[len(SCHEMA_BASE):] in RELEASES:
        return namespace[len(SCHEMA_BASE):]
    return None


class Mm7Error(ProtocolError):
    """An MM7 message that cannot be read, and the MM7 status to answer it with
    (``2007`` malformed, ``4004`` a required element missing or wrong, ``4002`` another
    release's namespace, ``4003`` an operation this side does not take)."""

    def __init__(self, reason: str, *, status: int = statuses.VALIDATION_ERROR,
                 transaction_id: str | None = None) -> None:
        super().__init__(f"{reason} ({statuses.describe(status)})")
        self.reason = reason
        self.status = status
        self.transaction_id = transaction_id


@dataclass(frozen=True, slots=True)
class Envelope:
    """A read envelope: its transaction id, the body's one element and its release."""

    transaction_id: str
    body: etree._Element
    release: str

    @property
    def namespace(self) -> str:
        return SCHEMA_BASE + self.release

    @property
    def operation(self) -> str:
        return etree.QName(self.body).localname


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                          dtd_validation=False, huge_tree=False, remove_comments=True,
                          remove_pis=True)


def build_envelope(namespace: str, transaction_id: str, body: etree._Element) -> bytes:
    """``body`` (an element in ``namespace``) in an envelope with the transaction id."""
    envelope = etree.Element(etree.QName(SOAP_ENV, "Envelope"),
                             nsmap={"env": SOAP_ENV, "mm7": namespace})
    header = etree.SubElement(envelope, etree.QName(SOAP_ENV, "Header"))
    tid = etree.SubElement(header, etree.QName(namespace, "TransactionID"))
    tid.set(etree.QName(SOAP_ENV, "mustUnderstand"), "1")
    tid.text = transaction_id
    etree.SubElement(envelope, etree.QName(SOAP_ENV, "Body")).append(body)
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def parse_envelope(data: bytes) -> Envelope:
    """Read an envelope; raise :class:`Mm7Error` for anything that is not one MM7 message."""
    try:
        root = etree.fromstring(data, _PARSER)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise Mm7Error(f"malformed XML: {exc}",
                       status=statuses.MESSAGE_FORMAT_CORRUPT) from None
    if root is None:
        raise Mm7Error("empty document", status=statuses.MESSAGE_FORMAT_CORRUPT)
    tree = root.getroottree()
    if tree.docinfo.doctype:
        raise Mm7Error("a DOCTYPE is not allowed", status=statuses.MESSAGE_FORMAT_CORRUPT)
    if _depth(root) > MAX_DEPTH:
        raise Mm7Error(f"nested deeper than {MAX_DEPTH}", status=statuses.MESSAGE_FORMAT_CORRUPT)
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise Mm7Error(f"not a SOAP 1.1 envelope: {_tag(root)}")
    header = root.find(f"{{{SOAP_ENV}}}Header")
    body = root.find(f"{{{SOAP_ENV}}}Body")
    if body is None:
        raise Mm7Error("the envelope has no Body")
    children = [child for child in body if isinstance(child.tag, str)]
    if len(children) != 1:
        raise Mm7Error(f"the Body holds {len(children)} elements, not 1")
    content = children[0]
    if content.tag == f"{{{SOAP_ENV}}}Fault":
        raise Mm7Error("a SOAP Fault where a request was expected")
    namespace = etree.QName(content).namespace or ""
    release = release_of(namespace)
    transaction_id = None
    if header is not None:
        for child in header:
            if isinstance(child.tag, str) and etree.QName(child).localname == "TransactionID":
                transaction_id = (child.text or "").strip()
    if release is None:
        status = (statuses.UNSUPPORTED_VERSION if namespace.startswith(SCHEMA_BASE)
                  else statuses.VALIDATION_ERROR)
        raise Mm7Error(f"{_tag(content)} is not in an MM7 namespace this gateway speaks",
                       status=status, transaction_id=transaction_id)
    if header is None or not transaction_id:
        raise Mm7Error("no TransactionID in the SOAP Header")
    if header.find(f"{{{namespace}}}TransactionID") is None:
        raise Mm7Error("the TransactionID is not in the body's MM7 namespace",
                       transaction_id=transaction_id)
    return Envelope(transaction_id=transaction_id, body=content, release=release)


@dataclass(frozen=True, slots=True)
class Fault:
    """A SOAP Fault: its code and string, and the MM7 status in its detail when it has one."""

    fault_code: str
    fault_string: str
    status_code: int | None = None
    status_text: str = ""


def build_fault(
    *, namespace: str, server: bool, reason: str, status_code: int, status_text: str = "",
    transaction_id: str = "", detail_element: str = "VASPErrorRsp",
) -> bytes:
    """A SOAP 1.1 Fault whose detail carries an MM7 error response (``VASPErrorRsp`` from
    the VASP, ``RSErrorRsp`` from the MMSC) with ``status_code``."""
    release = release_of(namespace)
    envelope = etree.Element(etree.QName(SOAP_ENV, "Envelope"),
                             nsmap={"env": SOAP_ENV, "mm7": namespace})
    if transaction_id:
        header = etree.SubElement(envelope, etree.QName(SOAP_ENV, "Header"))
        tid = etree.SubElement(header, etree.QName(namespace, "TransactionID"))
        tid.set(etree.QName(SOAP_ENV, "mustUnderstand"), "1")
        tid.text = transaction_id
    body = etree.SubElement(envelope, etree.QName(SOAP_ENV, "Body"))
    fault = etree.SubElement(body, etree.QName(SOAP_ENV, "Fault"))
    # faultcode/faultstring/detail are unqualified in SOAP 1.1.
    etree.SubElement(fault, "faultcode").text = "env:Server" if server else "env:Client"
    etree.SubElement(fault, "faultstring").text = reason
    detail = etree.SubElement(fault, "detail")
    error = etree.SubElement(detail, etree.QName(namespace, detail_element))
    etree.SubElement(error, etree.QName(namespace, "MM7Version")).text = RELEASES.get(
        release or "", RELEASES[DEFAULT_RELEASE])
    status = etree.SubElement(error, etree.QName(namespace, "Status"))
    etree.SubElement(status, etree.QName(namespace, "StatusCode")).text = str(status_code)
    etree.SubElement(status, etree.QName(namespace, "StatusText")).text = (
        status_text or statuses.NAMES.get(status_code, "error"))
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def parse_fault(data: bytes) -> Fault | None:
    """The Fault in a SOAP answer, or None when it holds none (or is not XML)."""
    try:
        root = etree.fromstring(data, _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return None
    if root is None or root.tag != f"{{{SOAP_ENV}}}Envelope":
        return None
    fault = root.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    if fault is None:
        return None
    code: int | None = None
    text = ""
    for element in fault.iter():
        if not isinstance(element.tag, str):
            continue
        name = etree.QName(element).localname
        if name == "StatusCode" and code is None:
            code = _int_or_none(element.text)
        elif name == "StatusText" and not text:
            text = (element.text or "").strip()
    return Fault(fault_code=(fault.findtext("faultcode") or "").strip(),
                 fault_string=(fault.findtext("faultstring") or "").strip(),
                 status_code=code, status_text=text)


def child(parent: etree._Element, namespace: str, name: str) -> etree._Element | None:
    return parent.find(f"{{{namespace}}}{name}")


def text_of(parent: etree._Element, namespace: str, name: str, *, required: bool = False,
            transaction_id: str | None = None) -> str | None:
    """The stripped text of ``parent``'s child ``name``; a required one missing or empty is
    an :class:`Mm7Error` (4004)."""
    element = parent.find(f"{{{namespace}}}{name}")
    value = (element.text or "").strip() if element is not None else ""
    if not value:
        if required:
            raise Mm7Error(f"{etree.QName(parent).localname} has no {name}",
                           transaction_id=transaction_id)
        return None
    return value


def _int_or_none(text: str | None) -> int | None:
    value = (text or "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 9 else None


def _tag(element: etree._Element) -> str:
    return str(element.tag) if isinstance(element.tag, str) else "(not an element)"


def _depth(root: etree._Element) -> int:
    deepest = 0
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        stack.extend((c, depth + 1) for c in element)
    return deepest
