"""The line-level rules shared by the parsers: dates, furniture, bylines, breadcrumbs, captions."""

from __future__ import annotations

from datetime import date

import pytest

from gateway.articles.body_text import clean_body, split_captions, split_plain_paragraphs
from gateway.articles.dates import parse_date
from gateway.articles.furniture import FURNITURE_RULES, FurnitureAction, match_furniture
from gateway.articles.metadata_lines import parse_breadcrumb, parse_byline_line
from gateway.articles.model import ImageRef


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-11-18", date(2020, 11, 18)),
        ("2020 / 11/18", date(2020, 11, 18)),
        ("2020年11月18日 09:30", date(2020, 11, 18)),
        ("2020.11.18", date(2020, 11, 18)),
        ("发布时间:2020-11-18 10:25 来源:大众网", date(2020, 11, 18)),
        ("2020-11-18T09:30:00+08:00", date(2020, 11, 18)),
        ("2020-11-17T16:30:00Z", date(2020, 11, 18)),
        ("2020-11-18T23:30:00+08:00", date(2020, 11, 18)),
        ("2020-11-17 23:00 -0500", date(2020, 11, 18)),
        ("Wed, 18 Nov 2020 09:30:00 +0800", date(2020, 11, 18)),
        ("Tue, 17 Nov 2020 20:00:00 GMT", date(2020, 11, 18)),
        ("", None),
        ("2020", None),
        ("no date here", None),
    ],
)
def test_parse_date(text: str, expected: date | None) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["2020-13-01", "2020/02/30", "2020年11月31日"])
def test_impossible_dates_raise(text: str) -> None:
    with pytest.raises(ValueError, match="is not a real date"):
        parse_date(text)


@pytest.mark.parametrize(
    ("line", "action"),
    [
        ("扫描有惊喜!", FurnitureAction.DROP),
        ("扫描有惊喜！", FurnitureAction.DROP),
        ("  • 大众网官方微信", FurnitureAction.DROP),
        ("• 山东手机报", FurnitureAction.DROP),
        ("山东手机报订阅方式:", FurnitureAction.DROP),
        ("移动用户发送短信SD到10658000", FurnitureAction.DROP),
        ("联通用户发送短信SD到106558000678", FurnitureAction.DROP),
        ("手机查看", FurnitureAction.DROP),
        ("搜索 海报新闻 媒体矩阵", FurnitureAction.DROP),
        ("矩\u00a0\u00a0\u00a0阵", FurnitureAction.DROP),
        ("分享到:微信 微博", FurnitureAction.DROP),
        ("【纠错】", FurnitureAction.DROP),
        ("相关推荐 换一换", FurnitureAction.STOP),
        ("相关新闻", FurnitureAction.STOP),
    ],
)
def test_furniture_lines(line: str, action: FurnitureAction) -> None:
    rule = match_furniture(line)

    assert rule is not None and rule.action is action


@pytest.mark.parametrize(
    "line",
    [
        "大众网教育·海报新闻讯(记者 姚辉省 )16日下午,沙坪坝区教育系统召开推进会。",
        "市民可通过山东手机报订阅每日新闻。",
        "相关推荐工作正在进行中,预计年底完成。",
        "构建“一校一品” 打造党建特色品牌",
    ],
)
def test_body_lines_are_not_furniture(line: str) -> None:
    assert match_furniture(line) is None


def test_every_rule_documents_itself() -> None:
    assert all(rule.what for rule in FURNITURE_RULES)


@pytest.mark.parametrize(
    ("line", "values", "prefix"),
    [
        ("来源:", (("来源", ""),), ""),
        ("来源：大众报业·大众网", (("来源", "大众报业·大众网"),), ""),
        ("初审编辑:", (("初审编辑", ""),), ""),
        ("(责任编辑:刘佳琦)", (("责任编辑", "刘佳琦"),), ""),
        (
            "2020-11-18 10:25 来源: 大众网 | 作者: 王晓 手机查看",
            (("来源", "大众网"), ("作者", "王晓")),
            "2020-11-18 10:25",
        ),
    ],
)
def test_byline_lines(line: str, values: tuple[tuple[str, str], ...], prefix: str) -> None:
    parsed = parse_byline_line(line)

    assert parsed is not None
    assert (parsed.values, parsed.prefix) == (values, prefix)


@pytest.mark.parametrize(
    "line",
    [
        "据介绍,来源:当地教育局的数据显示入学人数增加。",
        "大众网教育·海报新闻讯(记者 姚辉省 )16日下午",
        "来源:" + "很长" * 50,
    ],
)
def test_not_byline_lines(line: str) -> None:
    assert parse_byline_line(line) is None


@pytest.mark.parametrize(
    ("line", "channel"),
    [
        ("首页 >教育新闻 >教育热点", ("教育新闻", "教育热点")),
        ("当前位置:首页 » 社会 » 正文", ("社会",)),
        ("大众网首页 > 济南", ("济南",)),
        ("首页 > 沙坪坝区:中小学“一校一品”" + "很长" * 40, None),
        ("首页", None),
        ("这是首页内容", None),
    ],
)
def test_breadcrumbs(line: str, channel: tuple[str, ...] | None) -> None:
    assert parse_breadcrumb(line) == channel


def test_captions_need_a_neighbour_or_an_echo() -> None:
    paragraphs = [
        "校长在会上介绍了学校种植园的建设情况。",
        "一个独立的小标题",
        "种植园建在教学楼后面,面积约两百平方米。",
        "种植园全景",
        "学生在浇水",
        "校长介绍种植园",
        "最后一段正文。",
    ]

    kept, captions = split_captions(paragraphs)

    assert kept == [paragraphs[0], "一个独立的小标题", paragraphs[2], "最后一段正文。"]
    assert captions == [
        ImageRef(src=None, caption="种植园全景"),
        ImageRef(src=None, caption="学生在浇水"),
        ImageRef(src=None, caption="校长介绍种植园"),
    ]


def test_clean_body_reads_dangling_labels_and_stops_at_related() -> None:
    body = clean_body(
        ["正文。", "来源:", "大众网", "初审编辑:", "责任编辑:刘佳琦", "相关推荐", "作者:别人"]
    )

    assert body.paragraphs == ("正文。",)
    assert (body.bylines.source, body.bylines.editor) == ("大众网", "刘佳琦")
    assert body.bylines.author is None


def test_split_plain_paragraphs() -> None:
    assert split_plain_paragraphs("一行\r\n续行\r\n \r\n第二段\n\n\n第三段 \nand more") == [
        "一行续行",
        "第二段",
        "第三段 and more",
    ]
