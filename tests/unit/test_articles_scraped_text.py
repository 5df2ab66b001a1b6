"""The scraped-text parser, on the real 大众网 sample and on small variations of it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from gateway.articles import (
    ArticleError,
    ImageRef,
    ParsedArticle,
    parse_path,
    parse_scraped_text,
)

SAMPLE = Path(__file__).parents[2] / "data" / "articles" / "dzwww-2020-11-18-shapingba.txt"
FURNITURE_WORDS = ("扫描有惊喜", "10658000", "相关推荐", "手机查看", "山东手机报", "初审编辑")


@pytest.fixture(scope="module")
def sample_text() -> str:
    return SAMPLE.read_text(encoding="utf-8")


def parse(text: str) -> ParsedArticle:
    return parse_scraped_text(text, origin="page.txt")


def test_sample_metadata(sample_text: str) -> None:
    article = parse_scraped_text(sample_text, origin="dzwww-2020-11-18-shapingba.txt")

    assert article.title == "沙坪坝区:中小学“一校一品”创新党建特色品牌"
    assert article.published == date(2020, 11, 18)
    assert article.source == "大众报业·大众网"
    assert article.author is None  # "作者:" is followed by "手机查看", i.e. left empty
    assert article.editor == "刘佳琦"
    assert article.channel == ("教育新闻", "教育热点")
    assert article.url is None
    assert article.origin == "dzwww-2020-11-18-shapingba.txt"


def test_sample_body_starts_with_the_lede_and_has_no_furniture(sample_text: str) -> None:
    article = parse_scraped_text(sample_text, origin="x.txt")

    assert article.paragraphs[0].startswith("大众网教育·海报新闻讯(记者 姚辉省 )16日下午")
    assert article.paragraphs[-1].startswith("区委教育工委专职副书记江小波主持会议")
    body = "\n".join(article.paragraphs)
    for word in FURNITURE_WORDS:
        assert word not in body


def test_sample_subheadings_stay_in_the_body(sample_text: str) -> None:
    paragraphs = parse_scraped_text(sample_text, origin="x.txt").paragraphs

    assert "构建“一校一品” 打造党建特色品牌" in paragraphs
    assert "以高质量党建引领全区教育高质量发展" in paragraphs


def test_sample_photo_captions_become_images_without_source(sample_text: str) -> None:
    article = parse_scraped_text(sample_text, origin="x.txt")

    assert article.images == (
        ImageRef(src=None, caption="新时代“一校一品”党建品牌创建工作现场"),
        ImageRef(src=None, caption="实地参观重庆七中党建品牌创建"),
        ImageRef(src=None, caption="实地参观南开小学党建品牌创建"),
        ImageRef(
            src=None,
            caption="沙坪坝区委教育工作领导小组秘书组组长、区委教育工委书记、教委主任向斌",
        ),
    )
    for image in article.images:
        assert image.caption not in article.paragraphs


def test_sample_through_parse_path_matches_direct_parse(sample_text: str) -> None:
    (from_file,) = parse_path(SAMPLE)

    assert from_file == parse_scraped_text(sample_text, origin=SAMPLE.name)


def test_header_without_breadcrumb_still_finds_the_title(sample_text: str) -> None:
    text = sample_text.replace("首页 >教育新闻 >教育热点", "")

    article = parse(text)

    assert article.title == "沙坪坝区:中小学“一校一品”创新党建特色品牌"
    assert article.channel == ()


def test_metadata_on_one_line_and_fullwidth_colons() -> None:
    text = (
        "首页 > 社会\n标题在这里\n2020-11-18 09:30:00 来源：大众网 作者：王五\n"
        "  正文第一段。\n  正文第二段。\n责任编辑：赵六\n"
    )

    article = parse(text)

    assert (article.title, article.published) == ("标题在这里", date(2020, 11, 18))
    assert (article.source, article.author, article.editor) == ("大众网", "王五", "赵六")
    assert article.paragraphs == ("正文第一段。", "正文第二段。")


def test_values_on_the_next_line() -> None:
    text = (
        "首页 > 社会\n标题\n2020年11月18日\n来源:\n大众网\n作者:\n张三\n  正文。\n责任编辑:\n李四\n"
    )

    article = parse(text)

    assert (article.source, article.author, article.editor) == ("大众网", "张三", "李四")
    assert article.paragraphs == ("正文。",)


def test_a_sentence_mentioning_an_outlet_is_not_furniture() -> None:
    text = "首页 > 社会\n标题\n2020-11-18\n  本文已在山东手机报和海报新闻同步刊发。\n海报新闻\n"

    assert parse(text).paragraphs == ("本文已在山东手机报和海报新闻同步刊发。",)


def test_numbered_headings_are_never_captions() -> None:
    text = "首页 > 社会\n标题\n2020-11-18\n一、总体要求\n二、主要任务\n  正文。\n"

    article = parse(text)

    assert article.paragraphs == ("一、总体要求", "二、主要任务", "正文。")
    assert article.images == ()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2020-11-18\n  只有正文。\n", "no title found"),
        ("首页 > 社会\n标题\n  正文。\n", "no publication date found"),
        ("首页 > 社会\n标题\n2020/02/30\n  正文。\n", "unparseable publication date"),
        ("首页 > 社会\n标题\n2020\n  正文。\n", "unparseable publication date '2020'"),
        ("首页 > 社会\n标题\n2020-11-18\n相关推荐\n别的文章\n", "no body text found"),
    ],
)
def test_rejections(text: str, reason: str) -> None:
    with pytest.raises(ArticleError) as caught:
        parse(text)

    assert caught.value.path == "page.txt"
    assert caught.value.reason.startswith(reason)
    assert str(caught.value).startswith(f"page.txt: {reason}")
