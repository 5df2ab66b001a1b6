"""The HTML page parser (trafilatura plus our own 大众网-style metadata) and fragment cleaning."""

from __future__ import annotations

import socket
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import trafilatura

from gateway.articles import ArticleError, ImageRef, parse_html_page, parse_path
from gateway.articles.html_page import clean_html_fragment

SAMPLE = Path(__file__).parents[2] / "data" / "articles" / "dzwww-2020-11-18-licheng-garden.html"
FURNITURE_WORDS = ("扫描有惊喜", "10658000", "相关推荐", "手机查看", "山东手机报", "初审编辑")
SHARE_PROMPT = "扫一扫"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach the network fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture(scope="module")
def sample_html() -> str:
    return SAMPLE.read_text(encoding="utf-8")


def page(body: str, head: str = "") -> str:
    head = f"<meta charset='utf-8'>{head}"
    return f"<!DOCTYPE html><html><head>{head}</head><body>{body}</body></html>"


def test_sample_page_metadata(sample_html: str) -> None:
    article = parse_html_page(sample_html, origin=SAMPLE.name)

    assert article.title == "历城区:校园“微菜园”让劳动教育落地生根"
    assert article.published == date(2020, 11, 18)
    assert article.source == "大众报业·大众网"
    assert article.author == "王晓"
    assert article.editor == "孙明"
    assert article.channel == ("教育新闻", "基础教育")
    # From <link rel=canonical>: host lower-cased, utm_* and fragment dropped.
    assert article.url == "http://edu.dzwww.com/jcjy/202011/t20201118_7001234.htm"
    assert article.origin == SAMPLE.name


def test_sample_page_body_and_images(sample_html: str) -> None:
    article = parse_html_page(sample_html, origin="x.html")

    assert article.paragraphs[0].startswith("大众网·海报新闻记者 王晓 济南报道 初冬时节")
    assert "从“看课本”到“下地干”" in article.paragraphs
    assert article.paragraphs[-1].endswith("让劳动教育真正落地生根。")
    body = "\n".join(article.paragraphs)
    for word in (*FURNITURE_WORDS, SHARE_PROMPT):
        assert word not in body
    assert article.images == (
        ImageRef(
            src="http://edu.dzwww.com/images/2020/11/18/garden-01.jpg",
            caption="学生们在“微菜园”里为白菜浇水",
        ),
        ImageRef(
            src="https://edu.dzwww.com/images/2020/11/18/garden-02.jpg",
            caption="学生们展示亲手种出的萝卜",
        ),
    )
    assert "学生们在“微菜园”里为白菜浇水" not in article.paragraphs


def test_own_extraction_takes_over_when_the_library_finds_nothing(
    sample_html: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = parse_html_page(sample_html, origin="x.html")
    monkeypatch.setattr(trafilatura, "bare_extraction", lambda *a, **k: None)

    assert parse_html_page(sample_html, origin="x.html") == expected


def test_a_failing_library_is_not_fatal(sample_html: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("library bug")

    monkeypatch.setattr(trafilatura, "bare_extraction", explode)

    assert parse_html_page(sample_html, origin="x.html").title.startswith("历城区")


def test_metadata_flattened_into_one_block() -> None:
    html = page(
        "<h1>济南发布降温提示</h1>"
        "<div>2020年11月18日 08:00 来源:大众网 作者:张三 手机查看</div>"
        "<div><p>受冷空气影响,济南未来三天气温明显下降,请市民注意添衣保暖。</p>"
        "<p>(责任编辑:李四)</p></div>"
    )

    article = parse_html_page(html, origin="x.html")

    assert article.title == "济南发布降温提示"
    assert article.published == date(2020, 11, 18)
    assert (article.source, article.author, article.editor) == ("大众网", "张三", "李四")
    assert article.paragraphs == ("受冷空气影响,济南未来三天气温明显下降,请市民注意添衣保暖。",)


def test_date_from_meta_and_title_from_the_title_element() -> None:
    html = page(
        "<div><p>正文只有一段,没有显眼的标题元素。</p></div>",
        head="<title>一则短讯_社会_大众网</title>"
        "<meta property='article:published_time' content='2020-11-17T23:30:00Z'>",
    )

    article = parse_html_page(html, origin="x.html")

    assert article.title == "一则短讯"
    assert article.published == date(2020, 11, 18)  # 07:30 in Beijing


def test_a_logo_heading_is_not_the_title() -> None:
    html = page(
        "<h1><a href='/'>大众网</a></h1><h1 class='site'>海报新闻·教育频道</h1>"
        "<div class='box-title'>教育</div>"
        "<h2 class='article-title'>全省中小学开展冬季长跑</h2><div class='time'>2020-11-18</div>"
        "<div><p>冬季长跑活动从本周开始,持续到明年三月,每天大课间进行。</p></div>",
        head="<title>全省中小学开展冬季长跑_教育_大众网</title>",
    )

    assert parse_html_page(html, origin="x.html").title == "全省中小学开展冬季长跑"


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        (page("<div class='time'>2020-11-18</div><p>没有标题。</p>"), "no title found"),
        (page("<h1>没有日期的页面</h1><p>正文。</p>"), "no publication date found"),
        (page("<h1>日期错误</h1><div class='date'>2020-02-31</div><p>正文。</p>"), "unparseable"),
        (page("<h1>没有正文</h1><div class='date'>2020-11-18</div>"), "no body text found"),
    ],
)
def test_rejections(html: str, reason: str) -> None:
    with pytest.raises(ArticleError) as caught:
        parse_html_page(html, origin="bad.html")

    assert caught.value.path == "bad.html"
    assert caught.value.reason.startswith(reason)


def test_sample_through_parse_path(sample_html: str) -> None:
    assert parse_path(SAMPLE) == [parse_html_page(sample_html, origin=SAMPLE.name)]


def test_fragment_line_breaks_figures_and_decorative_images() -> None:
    html = (
        "<p>第一行<br>第二行</p>"
        "<p align='center'><img src='/a.jpg'></p><p align='center'>图片说明</p>"
        "<figure><img src='b.jpg' alt='备用说明'><figcaption>图注</figcaption></figure>"
        "<p><img src='/static/qrcode.png'></p>"
        "<p><img src='c.jpg' alt='现场照片'></p>"
        "<p>扫描有惊喜!</p><p>责任编辑:王五</p>"
    )

    body = clean_html_fragment(html, base_url="http://example.com/news/1.htm")

    assert body.paragraphs == ("第一行", "第二行")
    assert body.images == (
        ImageRef(src="http://example.com/a.jpg", caption="图片说明"),
        ImageRef(src="http://example.com/news/b.jpg", caption="图注"),
        ImageRef(src="http://example.com/news/c.jpg", caption="现场照片"),
    )
    assert body.bylines.editor == "王五"


def test_a_centred_sentence_after_an_image_is_not_a_caption() -> None:
    html = "<p><img src='a.jpg'></p><p align='center'>这是一句完整的话。</p>"

    body = clean_html_fragment(html)

    assert body.images == (ImageRef(src="a.jpg", caption=None),)
    assert body.paragraphs == ("这是一句完整的话。",)
