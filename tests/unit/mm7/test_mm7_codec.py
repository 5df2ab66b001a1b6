"""The MM7 codec: envelopes checked against the MM7 schema (tests/data/mm7, see its
PROVENANCE.md), the multipart body parsed back with Python's email package, the MMSC's
answers and requests read, and status codes classified."""

from __future__ import annotations

import email.parser
import email.policy
from datetime import UTC, datetime

import pytest
from lxml import etree

from carriers.mm7 import statuses
from carriers.mm7.codec import (
    DeliverRequest,
    DeliveryReportRequest,
    MmStatus,
    SubmitRequest,
    build_deliver_request,
    build_delivery_report_request,
    build_response,
    build_submit_request,
    parse_mmsc_request,
    parse_submit_request,
    parse_submit_response,
)
from carriers.mm7.mime import (
    ContentPart,
    MmsContent,
    RequestTemplate,
    build_request_body,
    content_message,
    parse_request_body,
    text_parts,
)
from carriers.mm7.soap import SOAP_ENV, Mm7Error, build_fault, namespace_of
from tests.conftest import REPO_ROOT

RELEASE = "REL-6-MM7-1-4"
NS = namespace_of(RELEASE)
SCHEMA = etree.XMLSchema(etree.parse(str(REPO_ROOT / "tests/data/mm7/REL-6-MM7-1-4.xsd")))
WHEN = datetime(2020, 11, 18, 7, 0, tzinfo=UTC)
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4 + b"\xff\xd9"


def submit_request(**changes: object) -> SubmitRequest:
    values: dict[str, object] = dict(
        transaction_id="sdgw-1-1", release=RELEASE, vasp_id="901234", vas_id="SDSJB",
        service_code="SDSJB", sender_address="10658000", recipients=("13912345678",),
        subject="山东手机报 早报", timestamp=WHEN, expiry=WHEN.replace(day=21))
    values.update(changes)
    return SubmitRequest(**values)  # type: ignore[arg-type]


def content() -> MmsContent:
    return MmsContent(subject="早报", parts=(
        ContentPart(content_type="application/smil", content_id="smil", location="smil.xml",
                    data=b'<smil><body><par dur="8000ms"><img src="cid:image1"/>'
                         b'<text src="cid:text1"/></par></body></smil>'),
        ContentPart(content_type="image/jpeg", content_id="image1", location="image1.jpg",
                    data=JPEG),
        ContentPart(content_type="text/plain; charset=utf-8", content_id="text1",
                    location="text1.txt", data="今天的新闻：教育热点。".encode()),
    ))


def body_element(envelope: bytes) -> etree._Element:
    """The envelope checked by hand (SOAP 1.1 structure), its Body's element returned."""
    root = etree.fromstring(envelope)
    assert root.tag == f"{{{SOAP_ENV}}}Envelope"
    header, body = list(root)
    assert header.tag == f"{{{SOAP_ENV}}}Header" and body.tag == f"{{{SOAP_ENV}}}Body"
    (transaction,) = list(header)
    SCHEMA.assertValid(etree.ElementTree(transaction))
    assert transaction.get(f"{{{SOAP_ENV}}}mustUnderstand") == "1"
    (element,) = list(body)
    return element


def test_submit_req_is_valid_against_the_mm7_schema() -> None:
    element = body_element(build_submit_request(submit_request()))
    SCHEMA.assertValid(etree.ElementTree(element))
    assert element.tag == f"{{{NS}}}SubmitReq"
    assert element.findtext(f"{{{NS}}}MM7Version") == "6.8.0"
    ident = element.find(f"{{{NS}}}SenderIdentification")
    assert ident.findtext(f"{{{NS}}}VASPID") == "901234"
    assert ident.findtext(f"{{{NS}}}VASID") == "SDSJB"
    assert ident.findtext(f"{{{NS}}}SenderAddress/{{{NS}}}ShortCode") == "10658000"
    assert element.findtext(f"{{{NS}}}Recipients/{{{NS}}}To/{{{NS}}}Number") == "13912345678"
    assert element.findtext(f"{{{NS}}}DeliveryReport") == "true"
    assert element.find(f"{{{NS}}}Content").get("href") == "cid:mms-content"


def test_the_schema_catches_a_submit_req_out_of_order() -> None:
    """The schema is a real check: the same request with two children swapped fails it."""
    element = body_element(build_submit_request(submit_request()))
    service_code = element.find(f"{{{NS}}}ServiceCode")
    element.remove(service_code)
    element.append(service_code)  # after Content
    assert not SCHEMA.validate(etree.ElementTree(element))


@pytest.mark.parametrize("envelope", [
    build_response(RELEASE, "t", "SubmitRsp", 1000, message_id="CM1"),
    build_response(RELEASE, "t", "DeliveryReportRsp", 1000),
    build_response(RELEASE, "t", "DeliverRsp", 1000, service_code="SDSJB"),
    build_delivery_report_request(release=RELEASE, transaction_id="t", message_id="CM1",
                                  recipient="13912345678", sender="10658000",
                                  status=MmStatus.RETRIEVED, date=WHEN),
    build_deliver_request(release=RELEASE, transaction_id="t", sender="13912345678",
                          recipient="10658000", subject="SD", content_id="c", timestamp=WHEN),
])
def test_every_envelope_the_codec_builds_is_valid(envelope: bytes) -> None:
    SCHEMA.assertValid(etree.ElementTree(body_element(envelope)))


def test_fault_detail_is_a_valid_error_response() -> None:
    root = etree.fromstring(build_fault(namespace=NS, server=False, reason="bad",
                                        status_code=4004, transaction_id="t"))
    fault = root.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert fault.findtext("faultcode") == "env:Client"
    (error,) = list(fault.find("detail"))
    SCHEMA.assertValid(etree.ElementTree(error))
    assert error.findtext(f"{{{NS}}}Status/{{{NS}}}StatusCode") == "4004"


def test_multipart_body_parses_back_with_email() -> None:
    envelope = build_submit_request(submit_request())
    content_type, body = build_request_body(envelope, content_message(content()))
    message = email.parser.BytesParser(policy=email.policy.default).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    assert message.get_content_type() == "multipart/related"
    assert message.get_param("type") == "text/xml"
    soap, mms = list(message.iter_parts())
    assert message.get_param("start") == soap["Content-ID"] == "<mm7-soap>"
    assert soap.get_content_type() == "text/xml"
    assert etree.fromstring(soap.get_payload(decode=True)).tag == f"{{{SOAP_ENV}}}Envelope"
    assert mms["Content-ID"] == "<mms-content>"  # what Content href="cid:mms-content" names
    assert mms.get_content_type() == "multipart/related"
    assert mms.get_param("start") == "<smil>" and mms.get_param("type") == "application/smil"
    smil, image, text = list(mms.iter_parts())
    assert smil.get_content_type() == "application/smil" and smil["Content-ID"] == "<smil>"
    assert image.get_payload(decode=True) == JPEG
    assert image["Content-Location"] == "image1.jpg"
    assert text.get_content() == "今天的新闻：教育热点。"


def test_request_body_round_trip_and_text_parts() -> None:
    envelope = build_submit_request(submit_request())
    content_type, body = build_request_body(envelope, content_message(content()))
    parsed = parse_request_body(content_type, body)
    received = parse_submit_request(parsed.envelope)
    assert received.recipients == ("13912345678",)
    assert received.vasp_id == "901234" and received.sender_address == "10658000"
    assert received.content_href == "cid:mms-content"
    assert text_parts(parsed, received.content_href) == ["今天的新闻：教育热点。"]


def test_submit_rsp_success_and_fault() -> None:
    ok = parse_submit_response(build_response(RELEASE, "t9", "SubmitRsp", 1000,
                                              message_id="CM000001"))
    assert (ok.transaction_id, ok.status_code, ok.message_id) == ("t9", 1000, "CM000001")
    assert ok.status_class is statuses.StatusClass.ACCEPTED
    throttled = parse_submit_response(build_fault(
        namespace=NS, server=True, reason="busy", status_code=4006,
        detail_element="RSErrorRsp"))
    assert throttled.status_code == 4006
    assert throttled.status_class is statuses.StatusClass.TRANSIENT
    with pytest.raises(Mm7Error):  # success without a MessageID
        parse_submit_response(build_response(RELEASE, "t", "SubmitRsp", 1000))


@pytest.mark.parametrize(("code", "expected"), [
    (1000, "accepted"), (1100, "accepted"), (2002, "permanent"), (2007, "permanent"),
    (3000, "transient"), (3001, "transient"), (3002, "permanent"), (4004, "permanent"),
    (4006, "transient"), (4007, "permanent"),
])
def test_status_classes(code: int, expected: str) -> None:
    assert statuses.classify(code).value == expected


def test_delivery_report_and_deliver_parsed() -> None:
    report = parse_mmsc_request(build_delivery_report_request(
        release=RELEASE, transaction_id="dr1", message_id="CM7", recipient="13912345678",
        sender="10658000", status=MmStatus.EXPIRED, date=WHEN))
    assert isinstance(report, DeliveryReportRequest)
    assert (report.message_id, report.recipient, report.status) == (
        "CM7", "13912345678", MmStatus.EXPIRED)
    mo = parse_mmsc_request(build_deliver_request(
        release=RELEASE, transaction_id="mo1", sender="13912345678", recipient="10658000",
        subject="", content_id="c1"))
    assert isinstance(mo, DeliverRequest)
    assert (mo.sender, mo.recipients, mo.content_href) == ("13912345678", ("10658000",), "cid:c1")


def _report_without(name: str) -> bytes:
    envelope = etree.fromstring(build_delivery_report_request(
        release=RELEASE, transaction_id="dr1", message_id="CM7", recipient="139",
        sender="106", status=MmStatus.RETRIEVED, date=WHEN))
    element = envelope.find(f".//{{{NS}}}{name}")
    element.getparent().remove(element)
    return etree.tostring(envelope)


@pytest.mark.parametrize(("data", "status"), [
    (b"<env:Envelope", statuses.MESSAGE_FORMAT_CORRUPT),
    (b"not xml at all", statuses.MESSAGE_FORMAT_CORRUPT),
    (b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', statuses.MESSAGE_FORMAT_CORRUPT),
    (build_delivery_report_request(release=RELEASE, transaction_id="t", message_id="m",
                                   recipient="1", sender="2", status=MmStatus.RETRIEVED,
                                   date=WHEN).replace(NS.encode(), b"urn:example:other"),
     statuses.VALIDATION_ERROR),
    (build_delivery_report_request(release=RELEASE, transaction_id="t", message_id="m",
                                   recipient="1", sender="2", status=MmStatus.RETRIEVED,
                                   date=WHEN).replace(b"REL-6-MM7-1-4", b"REL-9-MM7-9-9"),
     statuses.UNSUPPORTED_VERSION),
    (_report_without("MessageID"), statuses.VALIDATION_ERROR),
    (_report_without("MMStatus"), statuses.VALIDATION_ERROR),
    (build_submit_request(submit_request()), statuses.UNSUPPORTED_OPERATION),
])
def test_bad_requests_carry_the_status_to_answer(data: bytes, status: int) -> None:
    with pytest.raises(Mm7Error) as caught:
        parse_mmsc_request(data)
    assert caught.value.status == status


def test_template_body_equals_the_email_package_body() -> None:
    """The per-edition template gives the same MIME as building each body in full."""
    mms = content_message(content())
    template = RequestTemplate(mms)
    for number in ("13912345678", "13800000001"):
        envelope = build_submit_request(submit_request(recipients=(number,)))
        full_type, full = build_request_body(envelope, mms)
        fast_type, fast = template.render(envelope)
        boundary = lambda t: t.partition('boundary="')[2].partition('"')[0]  # noqa: E731
        assert fast == full.replace(boundary(full_type).encode(), boundary(fast_type).encode())
        parsed = parse_request_body(fast_type, fast)
        assert parse_submit_request(parsed.envelope).recipients == (number,)
