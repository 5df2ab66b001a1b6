"""The MMS edition: SMIL, the m-retrieve-conf PDU and fitting it to a size limit.

The PDU is decoded by python-messaging and, when installed, by Wireshark (WSP + MMSE + multipart
+ SMIL dissectors), neither of which shares code with the encoder.
"""

from __future__ import annotations

import array
import io
import random
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from gateway.editions.mms import (
    IMAGE_LADDER,
    FittedMms,
    MmsHeaders,
    MmsImage,
    MmsPage,
    MmsTooLargeError,
    SmilLayout,
    build_smil,
    encode_retrieve_conf,
    fit_mms,
    scale_image,
)
from gateway.editions.wsp import encode_uintvar

try:  # tests/unit is on sys.path when it has no __init__.py, the repository root when it has one
    from tshark_decoder import dissect, udp_packet
except ImportError:  # pragma: no cover
    from tests.unit.tshark_decoder import dissect, udp_packet

Image = pytest.importorskip("PIL.Image", reason="Pillow scales images for fit_mms")
mms_pdu = pytest.importorskip("messaging.mms.mms_pdu", reason="python-messaging MMS decoder")
wsp_pdu = pytest.importorskip("messaging.mms.wsp_pdu")

BEIJING = timezone(timedelta(hours=8))
HEADERS = MmsHeaders(
    transaction_id="T1",
    date=datetime(2024, 5, 1, 8, 0, tzinfo=BEIJING),  # 2024-05-01T00:00Z = 0x66318600
    subject="某某手机报 早报",
    from_="10658000/TYPE=PLMN",
    message_class="informational",
)


def picture(width: int, height: int, fmt: str = "JPEG", *, seed: int = 1, mode: str = "RGB"
            ) -> bytes:  # fmt: skip
    """A noisy picture (noise compresses badly, like a photo at its worst)."""
    rng = random.Random(seed)
    image = Image.frombytes(mode, (width, height), rng.randbytes(width * height * len(mode)))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def jpeg(width: int = 64, height: int = 48, seed: int = 1) -> MmsImage:
    return MmsImage(data=picture(width, height, seed=seed), content_type="image/jpeg")


def edition() -> list[MmsPage]:
    return [
        MmsPage(text="某某手机报 2024年5月1日 早报", image=jpeg(seed=1)),
        MmsPage(text="第一条新闻：今天天气晴。" * 3),
        MmsPage(text="第二条新闻：城市新闻。", image=jpeg(seed=2), duration_ms=12000),
    ]


def decode_with_python_messaging(pdu: bytes, monkeypatch: pytest.MonkeyPatch):
    # python-messaging reads part headers with the WSP 1.2 header table by default; Content-ID
    # (0x40) is a WSP 1.3 header, so select the 1.3 table.
    default_table = wsp_pdu.get_header_field_names
    monkeypatch.setattr(
        wsp_pdu, "get_header_field_names", lambda version="1.3": default_table(version)
    )
    return mms_pdu.MMSDecoder().decode_data(array.array("B", pdu))


# --- SMIL ---------------------------------------------------------------------------------------


def test_smil_has_one_par_per_page_and_images_only_where_present() -> None:
    smil = ET.fromstring(build_smil(edition(), SmilLayout(width=320, height=480, image_height=240)))
    assert smil.tag == "smil"
    root_layout = smil.find("head/layout/root-layout")
    assert root_layout is not None
    assert (root_layout.get("width"), root_layout.get("height")) == ("320", "480")
    regions = {r.get("id"): r.attrib for r in smil.iterfind("head/layout/region")}
    assert regions["Image"]["top"] == "0" and regions["Image"]["height"] == "240"
    assert regions["Text"]["top"] == "240" and regions["Text"]["height"] == "240"
    pars = smil.findall("body/par")
    assert [par.get("dur") for par in pars] == ["8000ms", "8000ms", "12000ms"]
    assert [[(c.tag, c.get("src"), c.get("region")) for c in par] for par in pars] == [
        [("img", "cid:image1", "Image"), ("text", "cid:text1", "Text")],
        [("text", "cid:text2", "Text")],
        [("img", "cid:image3", "Image"), ("text", "cid:text3", "Text")],
    ]


def test_an_image_only_page_has_no_text_element() -> None:
    smil = ET.fromstring(build_smil([MmsPage(image=jpeg())]))
    assert [child.tag for child in smil.find("body/par")] == ["img"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "make",
    [
        lambda: MmsPage(),
        lambda: MmsPage(text="x", duration_ms=0),
        lambda: MmsImage(data=b"", content_type="image/bmp"),
        lambda: MmsHeaders(transaction_id="T", date=datetime(2024, 5, 1), subject="s"),
    ],
)
def test_invalid_inputs_are_refused(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        make()


# --- m-retrieve-conf ----------------------------------------------------------------------------


def test_retrieve_conf_golden_bytes() -> None:
    pages = [MmsPage(text="封面")]
    pdu = encode_retrieve_conf(HEADERS, pages)
    subject = "某某手机报 早报".encode()
    headers = (
        b"\x8c\x84"  # m-retrieve-conf
        + b"\x98T1\x00"  # Transaction-Id
        + b"\x8d\x92"  # MMS-Version 1.2
        + b"\x85\x04\x66\x31\x86\x00"  # Date, Long-integer seconds
        + b"\x89\x14\x80" + b"10658000/TYPE=PLMN\x00"  # From, address present
        + b"\x96" + bytes((len(subject) + 3, 0xEA, 0x7F)) + subject + b"\x00"  # Subject, UTF-8
        + b"\x8a\x82"  # Message-Class informational
        + b"\x84\x1b\xb3"  # Content-Type, length 27, multipart.related
        + b"\x89application/smil\x00"  # Type parameter
        + b"\x8a<smil>\x00"  # Start parameter
    )  # fmt: skip
    assert pdu.startswith(headers)
    body = pdu[len(headers) :]
    smil = build_smil(pages).encode()
    smil_headers = b"application/smil\x00" + b'\xc0"<smil>\x00' + b"\x8esmil.xml\x00"
    smil_entry = encode_uintvar(len(smil_headers)) + encode_uintvar(len(smil)) + smil_headers + smil
    text_headers = b"\x03\x83\x81\xea" + b'\xc0"<text1>\x00' + b"\x8etext1.txt\x00"
    text = "封面".encode()
    text_entry = bytes((len(text_headers), len(text))) + text_headers + text
    assert body == b"\x02" + smil_entry + text_entry


def test_optional_headers() -> None:
    headers = MmsHeaders(
        transaction_id="T2",
        date=datetime(2024, 5, 1, tzinfo=UTC),
        subject="s",
        from_=None,
        to=("8613800138000/TYPE=PLMN",),
        message_id="M-1",
    )
    pdu = encode_retrieve_conf(headers, [MmsPage(text="x")])
    assert b"\x8bM-1\x00\x85" in pdu  # Message-ID before Date
    assert b"\x89\x01\x81" in pdu  # From: insert-address token
    assert b"\x978613800138000/TYPE=PLMN\x00" in pdu


def test_python_messaging_decodes_the_retrieve_conf(monkeypatch: pytest.MonkeyPatch) -> None:
    pages = edition()
    message = decode_with_python_messaging(encode_retrieve_conf(HEADERS, pages), monkeypatch)
    assert message.headers["Message-Type"] == "m-retrieve-conf"
    assert message.headers["Transaction-Id"] == "T1"
    assert message.headers["MMS-Version"] == "1.2"
    assert message.headers["From"] == "10658000/TYPE=PLMN"
    assert message.headers["Subject"] == "某某手机报 早报"
    assert message.headers["Message-Class"] == "Informational"
    assert message.headers["Content-Type"] == (
        "application/vnd.wap.multipart.related",
        {"Type": "application/smil", "Start": "<smil>"},
    )
    parts = message.data_parts
    expected = [
        ("application/smil", '"<smil>', build_smil(pages).encode()),
        ("image/jpeg", '"<image1>', pages[0].image.data),  # type: ignore[union-attr]
        ("text/plain", '"<text1>', pages[0].text.encode()),
        ("text/plain", '"<text2>', pages[1].text.encode()),
        ("image/jpeg", '"<image3>', pages[2].image.data),  # type: ignore[union-attr]
        ("text/plain", '"<text3>', pages[2].text.encode()),
    ]
    assert [(p.content_type, p.headers.get("Content-ID"), bytes(p.data)) for p in parts] == expected
    assert parts[2].headers["Content-Type"][1] == {"Charset": "utf-8"}


def test_wireshark_decodes_the_retrieve_conf(tmp_path: Path) -> None:
    pages = [
        *edition(),
        MmsPage(image=MmsImage(data=picture(8, 8, "PNG"), content_type="image/png")),
    ]
    headers = MmsHeaders(
        transaction_id="T-0501-morning",
        date=datetime(2024, 5, 1, 8, 0, tzinfo=BEIJING),
        subject="Morning edition " * 3,  # ASCII: Wireshark ignores the charset; > 30 octets
        from_="10658000/TYPE=PLMN",
        to=("8613800138000/TYPE=PLMN",),
        message_id="M20240501",
    )
    pdu = encode_retrieve_conf(headers, pages)
    # The handset fetches the PDU with a WSP GET; the MMSC answers with a connectionless Reply.
    reply = b"\x01\x04\x20" + encode_uintvar(1) + b"\xbe" + pdu
    frame = udp_packet(reply, src_port=9200, dst_port=40000)
    dissection = dissect(tmp_path, [frame])

    assert dissection.first("mmse.message_type") == "0x84"
    assert dissection.first("mmse.transaction_id") == "T-0501-morning"
    assert dissection.first("mmse.mms_version") == "1.2"
    assert dissection.first("mmse.date").startswith("May  1, 2024 00:00:00")
    assert dissection.first("mmse.from") == "10658000/TYPE=PLMN"
    assert dissection.first("mmse.to") == "8613800138000/TYPE=PLMN"
    assert dissection.first("mmse.message_id") == "M20240501"
    assert dissection.first("mmse.subject") == headers.subject
    assert dissection.first("mmse.message_class.id") == "0x80"  # personal, the default
    content_types = dissection.shows("wsp.header.content_type")
    assert content_types[:2] == [
        "application/vnd.wap.mms-message",
        "application/vnd.wap.multipart.related",
    ]
    assert dissection.first("wsp.parameter.upart.type") == "application/smil"
    assert dissection.first("wsp.parameter.start") == "<smil>"

    parts = dissection.fields("wsp.multipart")
    assert [part.get("show") for part in parts] == [str(n) for n in range(1, 8)]
    assert content_types[2:] == [
        "application/smil",
        "image/jpeg", "text/plain", "text/plain", "image/jpeg", "text/plain", "image/png",
    ]  # fmt: skip
    assert dissection.shows("wsp.header.content_id") == [
        f'"<{name}>"' for name in ("smil", "image1", "text1", "text2", "image3", "text3", "image4")
    ]
    assert dissection.shows("wsp.header.content_location") == [
        "smil.xml", "image1.jpg", "text1.txt", "text2.txt", "image3.jpg", "text3.txt",
        "image4.png",
    ]  # fmt: skip
    assert dissection.shows("wsp.parameter.charset") == ["UTF-8"] * 3

    # The SMIL part is dissected as SMIL and names every other part.
    assert dissection.shows("smil.img.src") == ["cid:image1", "cid:image3", "cid:image4"]
    assert dissection.shows("smil.text.src") == ["cid:text1", "cid:text2", "cid:text3"]
    assert len(dissection.fields("smil.par")) == len(pages)

    # Each part's data, located by Wireshark, is exactly what was put in.
    datas = [dissection.span(next(iter(part.iter("proto")))) for part in parts]
    assert datas == [
        build_smil(pages).encode(),
        pages[0].image.data,  # type: ignore[union-attr]
        pages[0].text.encode(),
        pages[1].text.encode(),
        pages[2].image.data,  # type: ignore[union-attr]
        pages[2].text.encode(),
        pages[3].image.data,  # type: ignore[union-attr]
    ]


# --- fitting ------------------------------------------------------------------------------------


def size_of(pages: tuple[MmsPage, ...] | list[MmsPage]) -> int:
    return len(encode_retrieve_conf(HEADERS, pages))


def long_text_edition() -> list[MmsPage]:
    return [MmsPage(text="封面")] + [
        MmsPage(text=f"第{n}条：" + "新闻内容，" * 400) for n in range(1, 4)
    ]


def test_an_edition_within_the_limit_is_untouched() -> None:
    pages = edition()
    fitted = fit_mms(HEADERS, pages, max_bytes=100_000)
    assert fitted.pdu == encode_retrieve_conf(HEADERS, pages)
    assert fitted.pages == tuple(pages)
    assert (fitted.text_limit, fitted.image_step, fitted.dropped_images) == (None, None, ())
    assert fitted.shortened_pages == ()


def test_texts_are_shortened_to_the_longest_common_length_that_fits() -> None:
    pages = long_text_edition()
    assert size_of(pages) > 12_000
    fitted = fit_mms(HEADERS, pages, max_bytes=12_000)
    assert len(fitted.pdu) <= 12_000
    assert fitted.image_step is None and fitted.dropped_images == ()
    assert fitted.shortened_pages == (1, 2, 3)
    limit = fitted.text_limit
    assert limit is not None and limit >= 60
    for original, page in zip(pages, fitted.pages, strict=True):
        assert len(page.text) <= limit
        if page.text != original.text:
            assert page.text.endswith("…")
            assert original.text.startswith(page.text[:-1])
    # One more character per page would not fit.
    roomier = fit_mms(HEADERS, pages, max_bytes=10**9).pages
    assert size_of([_cut(p, limit + 1) for p in roomier]) > 12_000


def _cut(page: MmsPage, limit: int) -> MmsPage:
    from gateway.editions.sms_digest import shorten_text

    return MmsPage(text=shorten_text(page.text, limit), image=page.image)


def test_images_are_scaled_down_when_texts_cannot_make_room() -> None:
    big = MmsImage(data=picture(400, 300), content_type="image/jpeg")
    pages = [MmsPage(text="封面", image=big), MmsPage(text="新闻" * 50)]
    assert size_of(pages) > 100_000
    fitted = fit_mms(HEADERS, pages, max_bytes=60_000)
    assert len(fitted.pdu) <= 60_000
    assert fitted.image_step is not None and fitted.image_step != (1.0, 75)
    assert fitted.dropped_images == ()
    assert fitted.text_limit is None  # texts got all their characters back
    scaled = fitted.pages[0].image
    assert scaled is not None and scaled.content_type == "image/jpeg"
    with Image.open(io.BytesIO(scaled.data)) as decoded:
        assert decoded.format == "JPEG"
        assert decoded.width == round(400 * fitted.image_step[0])


def test_images_are_dropped_last_page_first_when_scaling_is_not_enough() -> None:
    pages = [
        MmsPage(text="封面", image=MmsImage(data=picture(400, 300), content_type="image/jpeg")),
        MmsPage(
            text="一", image=MmsImage(data=picture(400, 300, seed=2), content_type="image/jpeg")
        ),
        MmsPage(image=MmsImage(data=picture(400, 300, seed=3), content_type="image/jpeg")),
    ]
    harshest = IMAGE_LADDER[-1]
    all_at_harshest = size_of(
        [
            MmsPage(text=p.text, image=scale_image(p.image, scale=harshest[0], quality=harshest[1]))
            for p in pages
            if p.image is not None
        ]
    )
    budget = all_at_harshest - 1
    fitted = fit_mms(HEADERS, pages, max_bytes=budget)
    assert len(fitted.pdu) <= budget
    assert fitted.dropped_images[0] == 2  # the last page's image goes first
    assert len(fitted.pages) == 2  # page 3 had only an image, so it went with it


def test_png_and_gif_are_re_encoded_as_jpeg_when_scaled() -> None:
    pages = [
        MmsPage(text="a", image=MmsImage(data=picture(300, 200, "PNG", mode="RGBA"),
                                         content_type="image/png")),
        MmsPage(text="b", image=MmsImage(data=picture(300, 200, "GIF", mode="L"),
                                         content_type="image/gif")),
    ]  # fmt: skip
    budget = size_of(pages) // 3
    fitted = fit_mms(HEADERS, pages, max_bytes=budget)
    assert len(fitted.pdu) <= budget
    kept = [page.image for page in fitted.pages if page.image is not None]
    assert kept and all(image.content_type == "image/jpeg" for image in kept)


def test_too_large_even_without_images_raises_a_clear_error() -> None:
    with pytest.raises(MmsTooLargeError, match="even without images"):
        fit_mms(HEADERS, [*long_text_edition(), MmsPage(image=jpeg())], max_bytes=600)


def test_fitted_edition_decodes(monkeypatch: pytest.MonkeyPatch) -> None:
    pages = [
        MmsPage(text="封面", image=MmsImage(data=picture(300, 200), content_type="image/jpeg"))
    ]
    pages += long_text_edition()[1:]
    fitted: FittedMms = fit_mms(HEADERS, pages, max_bytes=30_000)
    message = decode_with_python_messaging(fitted.pdu, monkeypatch)
    texts = [bytes(p.data).decode() for p in message.data_parts if p.content_type == "text/plain"]
    assert texts == [page.text for page in fitted.pages]


def test_an_edition_of_images_only_that_cannot_fit_raises() -> None:
    only_image = MmsPage(image=MmsImage(data=picture(400, 300), content_type="image/jpeg"))
    with pytest.raises(MmsTooLargeError, match="only images"):
        fit_mms(HEADERS, [only_image], max_bytes=300)
