"""JSON articles: documented keys, strict types, errors that name the key."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from gateway.articles import ArticleError, ImageRef, parse_json_articles, parse_path

SAMPLE = Path(__file__).parents[2] / "data" / "articles" / "dzwww-2020-11-18-briefs.json"
MINIMAL: dict[str, Any] = {"title": "标题", "date": "2020-11-18", "body": "第一段。\n\n第二段。"}


def parse(document: object, origin: str = "a.json") -> list[Any]:
    return parse_json_articles(json.dumps(document, ensure_ascii=False), origin=origin)


def test_sample_list() -> None:
    first, second = parse_path(SAMPLE)

    assert first.title == "济南将新增三处青少年科普研学基地"
    assert first.published == date(2020, 11, 18)
    assert (first.source, first.author, first.editor) == ("大众报业·大众网", "记者 陈静", "孙明")
    assert first.channel == ("教育新闻", "教育热点")
    assert first.url == "http://edu.dzwww.com/jyrd/202011/t20201118_7001350.htm"
    assert first.images == (
        ImageRef(
            src="http://edu.dzwww.com/images/2020/11/18/science-base.jpg",
            caption="正在布展的科普研学基地",
        ),
    )
    assert len(first.paragraphs) == 3
    assert first.origin == "dzwww-edu-7001350"

    assert second.published == date(2020, 11, 18)
    assert second.author is None
    assert second.channel == ("教育新闻", "高校动态")
    assert len(second.paragraphs) == 2


def test_single_object_minimal() -> None:
    (article,) = parse(MINIMAL)

    assert article.paragraphs == ("第一段。", "第二段。")
    assert (article.source, article.channel, article.images, article.url) == (None, (), (), None)
    assert article.origin == "a.json"


def test_objects_without_id_are_numbered() -> None:
    articles = parse([MINIMAL, MINIMAL])

    assert [a.origin for a in articles] == ["a.json#1", "a.json#2"]


def test_published_key_and_image_strings() -> None:
    document = {**MINIMAL, "images": ["http://x/1.jpg", {"src": "http://x/2.jpg", "alt": "说明"}]}
    document["published"] = document.pop("date")

    (article,) = parse(document)

    assert article.images == (
        ImageRef(src="http://x/1.jpg"),
        ImageRef(src="http://x/2.jpg", caption="说明"),
    )


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ("not json", "not valid JSON (line 1 column 1"),
        (42, "expected a JSON object or a list of objects"),
        ([], "the list holds no articles"),
        ([MINIMAL, "x"], "item 2: expected an object, not a string"),
        ({**MINIMAL, "titel": "x"}, "key 'titel' is not a known article key"),
        ({"date": "2020-11-18", "body": "x"}, "key 'title' is missing"),
        ({**MINIMAL, "title": 42}, "key 'title' must be a string, not a number"),
        ({**MINIMAL, "title": "  "}, "key 'title' is empty"),
        ({"title": "t", "body": "x"}, "key 'date' is missing (no publication date found)"),
        ({**MINIMAL, "date": "2020-02-30"}, "key 'date' is an unparseable publication date"),
        ({**MINIMAL, "date": "soon"}, "key 'date' is an unparseable publication date: 'soon'"),
        ({**MINIMAL, "published": "2020-11-18"}, "key 'published' repeats 'date'"),
        ({**MINIMAL, "body": ["a", 1]}, "key 'body' item 1 must be a string, not a number"),
        ({**MINIMAL, "body": {"a": 1}}, "key 'body' must be a string or a list of strings"),
        ({**MINIMAL, "body": "  \n\n "}, "key 'body' holds no text"),
        ({**MINIMAL, "channel": 3}, "key 'channel' must be a string or a list of strings"),
        ({**MINIMAL, "url": "www.dzwww.com/a"}, "key 'url' is not an absolute http(s) URL"),
        ({**MINIMAL, "url": "http://x:99999/"}, "key 'url' is not a usable URL"),
        ({**MINIMAL, "images": "a.jpg"}, "key 'images' must be a list, not a string"),
        ({**MINIMAL, "images": [{"caption": "x"}]}, "key 'images' item 0 needs a string 'src'"),
        ({**MINIMAL, "images": [{"src": "a", "w": 1}]}, "key 'images' item 0 has unknown key 'w'"),
    ],
)
def test_rejections_name_the_key(document: object, reason: str) -> None:
    text = document if isinstance(document, str) else json.dumps(document, ensure_ascii=False)

    with pytest.raises(ArticleError) as caught:
        parse_json_articles(text, origin="bad.json")

    assert str(caught.value).startswith(f"bad.json: {reason}")


def test_list_errors_name_the_item() -> None:
    with pytest.raises(ArticleError) as caught:
        parse([MINIMAL, {**MINIMAL, "editor": ["x"]}], origin="bad.json")

    assert str(caught.value) == "bad.json: item 2: key 'editor' must be a string, not a list"
