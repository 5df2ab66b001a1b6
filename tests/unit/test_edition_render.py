"""Rendering an edition (pure): the SMS digest and the MMS edition from the shipped templates."""

from __future__ import annotations

import io
import random
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from carriers.codings import sending_codings
from carriers.messages import TextCoding
from gateway.editions.images import load_article_image
from gateway.editions.mms import MmsImage
from gateway.editions.rendering import (
    ArticleContent,
    CarrierTarget,
    EditionContent,
    EditionError,
    one_line_summary,
    push_reference,
    render_mms,
    render_sms,
    sms_reference,
)
from gateway.editions.wsp import decode_uintvar
from gateway.templating import make_environment
from tests.conftest import REPO_ROOT

Image = pytest.importorskip("PIL.Image")

ENVIRONMENT = make_environment(REPO_ROOT / "templates")
NEWSPAPER = {"name": "山东手机报", "signature": "山东手机报", "price": "3元/月"}
TARGET = CarrierTarget(carrier="china_mobile", short_code="10658000", max_sms_segments=8,
                       max_mms_bytes=100 * 1024)
BUILT_AT = datetime(2020, 11, 17, 22, 0, tzinfo=UTC)


def jpeg(width: int = 320, height: int = 240, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    picture = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def article(number: int, *, body_chars: int = 300, image: MmsImage | None = None,
            priority: int = 1) -> ArticleContent:  # fmt: skip
    lead = f"第{number}条新闻的导语写在这里，说明发生了什么事情。后面还有更多内容。"
    filler = "正文内容" * (body_chars // 4)
    return ArticleContent(
        article_id=number,
        title=f"第{number}条新闻标题",
        summary=one_line_summary([lead]),
        paragraphs=(lead, filler),
        priority=priority,
        source="大众报业·大众网",
        editor="刘佳琦",
        image=image,
    )


def content(count: int = 3, **kwargs: object) -> EditionContent:
    return EditionContent(
        edition_id=7,
        newspaper_date=date(2020, 11, 18),
        slot="morning",
        slot_label="早报",
        newspaper=NEWSPAPER,
        articles=tuple(article(n, priority=count - n + 1, **kwargs)  # type: ignore[arg-type]
                       for n in range(1, count + 1)),
    )


# --- summaries --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lead", "summary"),
    [
        ("大众网教育·海报新闻讯(记者 姚辉省 )16日下午,沙坪坝区召开推进会。会上……",
         "16日下午,沙坪坝区召开推进会"),
        ("大众网·海报新闻记者 刘晨 菏泽报道 11月17日上午,学生们上了一堂英语课。",
         "11月17日上午,学生们上了一堂英语课"),
        ("新华社北京11月18日电（记者 王某）教育部今天发布通知！其他。", "教育部今天发布通知"),
        ("山东电视台报道了这件事。", "山东电视台报道了这件事"),
        ("没有句号的一句话", "没有句号的一句话"),
    ],
)
def test_one_line_summary_drops_datelines_and_keeps_the_first_sentence(
    lead: str, summary: str
) -> None:
    assert one_line_summary([lead, "第二段。"]) == summary


# --- SMS ---------------------------------------------------------------------------------------


def reassemble(render_message: object) -> str:
    segments = render_message.segments  # type: ignore[attr-defined]
    return "".join(segment.payload.decode("utf-16-be") for segment in segments)


def test_digest_has_signature_first_items_and_unsubscribe_last() -> None:
    sms = render_sms(content(3), TARGET, ENVIRONMENT)
    lines = sms.text.split("\n")
    assert lines[0] == "【山东手机报】11月18日早报"
    assert lines[1] == "1.第1条新闻标题：第1条新闻的导语写在这里，说明发生了什么事情"
    assert lines[-1] == "回复TD退订"
    assert len(lines) == 5
    assert sms.kept == (1, 2, 3) and sms.dropped == () and sms.shortened == ()
    assert sms.message.coding == TextCoding.UCS2
    assert reassemble(sms.message) == sms.text


def test_digest_segments_carry_a_reference_derived_from_the_edition() -> None:
    sms = render_sms(content(3), TARGET, ENVIRONMENT)
    total = len(sms.message.segments)
    assert total == 2
    assert sms.reference == sms_reference(7, 8) == 7
    for number, segment in enumerate(sms.message.segments, start=1):
        assert segment.udh == bytes((0x05, 0x00, 0x03, 7, total, number))
        assert len(segment.payload) <= 134
    wide = render_sms(content(3), TARGET, ENVIRONMENT, reference_bits=16)
    assert wide.message.segments[0].udh == bytes((0x06, 0x08, 0x04, 0, 7, 2, 1))
    assert push_reference(7) != sms_reference(7, 8)


def test_a_tight_limit_shortens_summaries_then_drops_the_lowest_priority() -> None:
    one = CarrierTarget(carrier="china_unicom", short_code="106558000678", max_sms_segments=1,
                        max_mms_bytes=100 * 1024)
    sms = render_sms(content(3), one, ENVIRONMENT)
    assert len(sms.message.segments) == 1 and sms.message.segments[0].udh == b""
    assert len(sms.text) <= 70
    assert sms.text.startswith("【山东手机报】") and sms.text.endswith("回复TD退订")
    assert sms.dropped, "three items cannot fit in 70 characters"
    assert sms.dropped[0] == 3  # the lowest priority goes first
    three = CarrierTarget(carrier="china_unicom", short_code="106558000678", max_sms_segments=2,
                          max_mms_bytes=100 * 1024)
    many = render_sms(content(6), three, ENVIRONMENT)
    assert len(many.message.segments) <= 2
    assert many.shortened or many.dropped


def test_an_impossible_limit_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "sms").mkdir()
    for name in ("digest.txt.j2", "digest_footer.txt.j2"):
        (tmp_path / "sms" / name).write_text(
            (REPO_ROOT / "templates" / "sms" / name).read_text("utf-8"), "utf-8")
    (tmp_path / "sms" / "digest_header.txt.j2").write_text("【" + "很长的报头" * 20 + "】", "utf-8")
    one = CarrierTarget(carrier="china_unicom", short_code="1", max_sms_segments=1,
                        max_mms_bytes=100 * 1024)
    with pytest.raises(EditionError, match="china_unicom: the digest does not fit"):
        render_sms(content(1), one, make_environment(tmp_path))


def test_gsm_7_bit_when_the_templates_and_articles_allow(tmp_path: Path) -> None:
    (tmp_path / "sms").mkdir()
    (tmp_path / "sms" / "digest_header.txt.j2").write_text("[{{ newspaper.name }}]", "utf-8")
    (tmp_path / "sms" / "digest_footer.txt.j2").write_text("Reply TD to stop", "utf-8")
    (tmp_path / "sms" / "digest.txt.j2").write_text(
        (REPO_ROOT / "templates" / "sms" / "digest.txt.j2").read_text("utf-8")
        .replace("：", ": "), "utf-8")
    english = EditionContent(
        edition_id=300, newspaper_date=date(2020, 11, 18), slot="morning", slot_label="AM",
        newspaper={"name": "Daily", "signature": "Daily", "price": "3"},
        articles=tuple(
            ArticleContent(article_id=n, title=f"Story {n}", summary="Something happened " * 8,
                           paragraphs=("Body.",), priority=1)
            for n in range(1, 4)),
    )
    sms = render_sms(english, TARGET, make_environment(tmp_path))
    assert sms.message.coding == TextCoding.GSM7
    assert sms.reference == 300 % 256
    assert all(len(s.payload) <= 153 for s in sms.message.segments)

    # A CMPP carrier has no GSM 7-bit: the same digest goes as ASCII, fitted in its capacity.
    cmpp = replace(TARGET, codings=sending_codings("cmpp"))
    sms = render_sms(english, cmpp, make_environment(tmp_path))
    assert sms.message.coding == TextCoding.ASCII
    assert all(len(s.payload) <= 134 for s in sms.message.segments)
    assert b"".join(s.payload for s in sms.message.segments).decode("ascii") == sms.text


# --- MMS ---------------------------------------------------------------------------------------


def test_mms_has_a_cover_then_one_page_per_article_and_announces_its_url() -> None:
    picture = MmsImage(data=jpeg(), content_type="image/jpeg")
    edition = content(3)
    edition = replace(edition, articles=(article(1, image=picture), *edition.articles[1:]))
    mms = render_mms(edition, TARGET, ENVIRONMENT, base_url="http://mms.example:8081/",
                     date=BUILT_AT, expiry_seconds=3 * 86400)
    # A specimen: each subscriber's notification has its own token in place of the zeros.
    assert mms.content_location == "http://mms.example:8081/mms/" + "0" * 24
    assert [page["kind"] for page in mms.pages] == ["cover", "article", "article", "article"]
    assert [page["article_id"] for page in mms.pages] == [None, 1, 2, 3]
    assert mms.pages[1]["image"] == "original" and mms.pages[1]["image_bytes"] == len(picture.data)
    assert mms.pages[2]["image"] is None
    assert len(mms.pdu) <= TARGET.max_mms_bytes
    assert mms.pdu.startswith(b"\x8c\x84\x98sdgw-7-china_mobile\x00")
    # The notification (inside the push) gives the size of the PDU as served (with a
    # subscriber's 24-character transaction id) and the content URL.
    assert b"http://mms.example:8081/mms/" + b"0" * 24 + b"\x00" in mms.notification
    size_at = mms.notification.index(b"\x8e") + 1
    length = mms.notification[size_at]
    served = len(mms.pdu) - len("sdgw-7-china_mobile") + 24
    assert int.from_bytes(mms.notification[size_at + 1 : size_at + 1 + length]) == served
    assert served <= TARGET.max_mms_bytes
    push = b"".join(segment[1 + segment[0]:] for segment in mms.push_segments)
    assert push[:2] == b"\x00\x06"
    headers_length, offset = decode_uintvar(push, 2)
    assert push[offset + headers_length:] == mms.notification
    for segment in mms.push_segments:
        assert segment[1:7] == bytes.fromhex("05040b8423f0") and len(segment) <= 140


def test_mms_cover_keeps_the_unsubscribe_line_when_texts_are_cut() -> None:
    edition = content(4, body_chars=3000)
    small = CarrierTarget(carrier="china_telecom", short_code="106597009", max_sms_segments=8,
                          max_mms_bytes=3000)
    mms = render_mms(edition, small, ENVIRONMENT, base_url="http://x", date=BUILT_AT,
                     expiry_seconds=60)
    assert len(mms.pdu) <= 3000
    assert mms.fitting["text_limit"] is not None
    assert all(page["text_chars"] <= mms.fitting["text_limit"] for page in mms.pages)
    cover_text = "【山东手机报】2020年11月18日早报\n回复TD退订"
    assert cover_text.encode() in mms.pdu


def test_mms_that_cannot_fit_is_a_clear_error() -> None:
    tiny = CarrierTarget(carrier="china_telecom", short_code="106597009", max_sms_segments=8,
                         max_mms_bytes=500)
    with pytest.raises(EditionError, match="china_telecom: the MMS edition needs"):
        render_mms(content(6), tiny, ENVIRONMENT, base_url="http://x", date=BUILT_AT,
                   expiry_seconds=60)


# --- article images ----------------------------------------------------------------------------


def test_images_are_read_relative_to_the_article_file_and_remote_ones_are_skipped(
    tmp_path: Path,
) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.jpg").write_bytes(jpeg(16, 16))
    (tmp_path / "not-a-picture.png").write_bytes(b"hello")
    article_file = str(tmp_path / "article.txt")
    images = [
        {"src": None, "caption": "only a caption"},
        {"src": "http://example.com/remote.jpg", "caption": None},
        {"src": "missing.jpg", "caption": None},
        {"src": "not-a-picture.png", "caption": None},
        {"src": "img/a.jpg", "caption": None},
    ]
    image, notes = load_article_image(images, article_file)
    assert image is not None and image.content_type == "image/jpeg"
    assert image.data == (tmp_path / "img" / "a.jpg").read_bytes()
    assert len(notes) == 3
    assert "remote; not fetched" in notes[0]
    assert "cannot be read" in notes[1]
    assert "not a picture" in notes[2]
    uri, _ = load_article_image([{"src": (tmp_path / "img" / "a.jpg").as_uri()}], None)
    assert uri == image


def test_other_picture_formats_become_jpeg(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buffer, format="BMP")
    (tmp_path / "p.bmp").write_bytes(buffer.getvalue())
    image, notes = load_article_image([{"src": "p.bmp"}], str(tmp_path / "a.html"))
    assert notes == [] and image is not None
    assert image.content_type == "image/jpeg" and image.data.startswith(b"\xff\xd8\xff")
