"""RSS and Atom feeds: one file, many articles."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from gateway.articles import ArticleError, ImageRef, parse_feed, parse_path

SAMPLE = Path(__file__).parents[2] / "data" / "articles" / "dzwww-2020-11-18-education.rss"

ATOM = """<?xml version="1.0" encoding="gb2312"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>示例</title>
  <id>urn:example:feed</id>
  <updated>2020-11-18T02:00:00Z</updated>
  <entry>
    <title type="html">夜间&lt;b&gt;施工&lt;/b&gt;公告</title>
    <id>urn:example:1</id>
    <link rel="alternate" href="https://Example.com/a?id=1&amp;utm_source=feed#c"/>
    <updated>2020-11-17T16:30:00Z</updated>
    <author><name>王五</name></author>
    <category term="城市"/>
    <content type="html">&lt;p&gt;来源:大众网&lt;/p&gt;&lt;p&gt;第一段。&lt;/p&gt;
      &lt;p&gt;手机查看&lt;/p&gt;&lt;p&gt;第二段。&lt;/p&gt;</content>
  </entry>
  <entry>
    <title>纯文本条目</title>
    <id>urn:example:2</id>
    <published>2020-11-18</published>
    <content type="text">第一段。

第二段。</content>
  </entry>
</feed>
"""


def test_rss_sample_gives_two_articles() -> None:
    first, second = parse_feed(SAMPLE.read_text(encoding="utf-8"), origin=SAMPLE.name)

    assert first.title == "菏泽牡丹区:乡村学校用上“空中课堂”"
    assert first.published == date(2020, 11, 18)
    assert first.source == "大众报业·大众网"  # the item's <source>
    assert first.author == "记者 刘晨"  # dc:creator
    assert first.editor == "赵琳"  # 责任编辑 line inside the content
    assert first.channel == ("教育新闻", "基础教育")
    assert first.url == "http://edu.dzwww.com/jcjy/202011/t20201118_7001301.htm"
    assert first.origin == "dzwww-edu-7001301"
    assert first.images == (
        ImageRef(
            src="http://edu.dzwww.com/images/2020/11/18/classroom.jpg",
            caption="乡村学生通过“空中课堂”与城区学校同步上课",
        ),
    )
    assert len(first.paragraphs) == 3
    assert not any("扫描有惊喜" in p or "责任编辑" in p for p in first.paragraphs)

    assert second.title == "淄博开展中小学生冬季安全教育周活动"
    assert second.channel == ("教育新闻", "教育热点")
    assert second.source is None
    assert second.paragraphs == (
        "淄博市教育部门从11月16日起在全市中小学开展冬季安全教育周活动,"
        "内容涵盖防火、防煤气中毒、交通安全和防溺冰等方面。",
        "各学校通过主题班会、应急疏散演练和家长会等形式,把安全知识送到学生和家长身边。",
    )


def test_atom_feed() -> None:
    first, second = parse_feed(ATOM, origin="city.atom")

    assert first.title == "夜间施工公告"
    assert first.published == date(2020, 11, 18)  # 16:30 UTC is past midnight in Beijing
    assert (first.source, first.author) == ("大众网", "王五")
    assert first.channel == ("城市",)
    assert first.url == "https://example.com/a?id=1"
    assert first.paragraphs == ("第一段。", "第二段。")
    assert first.origin == "urn:example:1"

    assert second.paragraphs == ("第一段。", "第二段。")
    assert second.published == date(2020, 11, 18)


def test_items_without_an_id_are_numbered_after_the_feed() -> None:
    feed = (
        "<rss version='2.0'><channel><title>t</title>"
        "<item><title>甲</title><pubDate>Wed, 18 Nov 2020 09:00:00 +0800</pubDate>"
        "<description>正文。</description></item></channel></rss>"
    )

    (article,) = parse_feed(feed, origin="x.rss")

    assert article.origin == "x.rss#1"
    assert article.url is None


@pytest.mark.parametrize(
    ("feed", "reason"),
    [
        ("<catalog><book/></catalog>", "not an RSS/Atom feed"),
        ("<rss version='2.0'><channel><title>t</title></channel></rss>", "feed has no items"),
        (
            "<rss version='2.0'><channel><item><guid>g1</guid><description>x</description>"
            "<pubDate>Wed, 18 Nov 2020 09:00:00 +0800</pubDate></item></channel></rss>",
            "item 1 (g1): no title found",
        ),
        (
            "<rss version='2.0'><channel><item><title>t</title><description>x</description>"
            "<pubDate>someday</pubDate></item></channel></rss>",
            "item 1: unparseable publication date 'someday'",
        ),
        (
            "<rss version='2.0'><channel><item><title>t</title>"
            "<pubDate>Wed, 18 Nov 2020 09:00:00 +0800</pubDate></item></channel></rss>",
            "item 1: no body text found",
        ),
    ],
)
def test_rejections(feed: str, reason: str) -> None:
    with pytest.raises(ArticleError) as caught:
        parse_feed(feed, origin="bad.rss")

    assert str(caught.value).startswith(f"bad.rss: {reason}")


def test_sample_through_parse_path() -> None:
    articles = parse_path(SAMPLE)

    assert [a.origin for a in articles] == ["dzwww-edu-7001301", "dzwww-edu-7001322"]
