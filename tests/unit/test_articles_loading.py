"""Reading article files: decoding, format detection, rejections and folder expansion."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from gateway.articles import (
    ArticleError,
    ArticleFormat,
    detect_format,
    iter_article_files,
    parse_bytes,
    parse_path,
)

REPO = Path(__file__).parents[2]
SAMPLES = REPO / "data" / "articles"
SAMPLE = SAMPLES / "dzwww-2020-11-18-shapingba.txt"
BAD = REPO / "tests" / "data" / "articles"


@pytest.fixture(scope="module")
def sample_text() -> str:
    return SAMPLE.read_text(encoding="utf-8")


def parse_copy(tmp_path: Path, data: bytes) -> list[object]:
    copy = tmp_path / SAMPLE.name
    copy.write_bytes(data)
    return list(parse_path(copy))


def test_gbk_copy_parses_identically(sample_text: str, tmp_path: Path) -> None:
    # GBK has no "•" and no no-break space; both occur only in the site header,
    # which the parser skips, so swapping them for GBK characters changes nothing.
    gbk_text = sample_text.replace("\u2022", "·").replace("\u00a0", " ")

    assert parse_copy(tmp_path, gbk_text.encode("gbk")) == parse_path(SAMPLE)


def test_gb18030_copy_parses_identically(sample_text: str, tmp_path: Path) -> None:
    assert parse_copy(tmp_path, sample_text.encode("gb18030")) == parse_path(SAMPLE)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_byte_order_marks(sample_text: str, tmp_path: Path, encoding: str) -> None:
    assert parse_copy(tmp_path, sample_text.encode(encoding)) == parse_path(SAMPLE)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty.txt", "empty file"),
        ("blank-lines-only.txt", "empty file"),
        ("nul-bytes.txt", "binary content (NUL bytes), not a text file"),
        ("control-characters.txt", "binary content (mostly control characters), not a text file"),
        ("undecodable.txt", "undecodable text (neither UTF-8 nor GB18030/GBK)"),
        ("damaged-utf8.txt", "undecodable text (invalid UTF-8 at byte 63)"),
        ("no-title.txt", "no title found"),
        ("no-title.html", "no title found"),
        ("no-date.txt", "no publication date found"),
        ("impossible-date.txt", "unparseable publication date: '2020/13/45' is not a real date"),
        ("no-body.txt", "no body text found"),
        (
            "broken.json",
            "not valid JSON (line 1 column 38: Expecting property name enclosed in double quotes)",
        ),
        ("title-not-string.json", "item 2: key 'title' must be a string, not a number"),
        ("not-a-feed.xml", "not an RSS/Atom feed (unknown root element)"),
        ("feed-item-without-date.rss", "item 1: no publication date found"),
    ],
)
def test_bad_files_are_rejected_with_their_reason(name: str, reason: str) -> None:
    path = BAD / name

    with pytest.raises(ArticleError) as caught:
        parse_path(path)

    assert caught.value.path == str(path)
    assert caught.value.reason == reason
    assert str(caught.value) == f"{path}: {reason}"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArticleError, match=r"missing\.txt: cannot read the file"):
        parse_path(tmp_path / "missing.txt")


def test_error_path_is_the_name_given() -> None:
    with pytest.raises(ArticleError) as caught:
        parse_bytes(b"", name="articles/foo.txt")

    assert str(caught.value) == "articles/foo.txt: empty file"


@pytest.mark.parametrize(
    ("name", "head", "expected"),
    [
        ("a.txt", "首页 > 教育", ArticleFormat.SCRAPED_TEXT),
        ("a", "首页 > 教育", ArticleFormat.SCRAPED_TEXT),
        ("a.txt", "[图]某某", ArticleFormat.SCRAPED_TEXT),
        ("a.txt", "<!DOCTYPE html><html>", ArticleFormat.HTML),
        ("a.dat", "\ufeff  <html lang='zh'>", ArticleFormat.HTML),
        ("a.htm", "<div>片段</div>", ArticleFormat.HTML),
        ("a.xml", "<?xml version='1.0'?><rss version='2.0'>", ArticleFormat.FEED),
        ("a.txt", "<feed xmlns='http://www.w3.org/2005/Atom'>", ArticleFormat.FEED),
        ("a.xml", "<catalog/>", ArticleFormat.FEED),
        ("a.txt", '{"title": "x"}', ArticleFormat.JSON),
        ("a", '[\n  {"title": "x"}]', ArticleFormat.JSON),
        ("a.json", "oops", ArticleFormat.JSON),
    ],
)
def test_detect_format(name: str, head: str, expected: ArticleFormat) -> None:
    assert detect_format(name, head) is expected


def test_iter_article_files_expands_folders(tmp_path: Path) -> None:
    for relative in [
        "b.txt",
        "a.html",
        "sub/z.json",
        "sub/deeper/y.rss",
        "sub/.hidden.txt",
        ".git/config.txt",
        "page_files/style.css",
        "page_files/photo.jpg",
    ]:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("x", encoding="utf-8")
    single = tmp_path / "sub" / "z.json"
    missing = tmp_path / "missing.txt"

    found = list(iter_article_files([tmp_path, single, missing]))

    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a.html",
        "b.txt",
        "sub/deeper/y.rss",
        "sub/z.json",
        "sub/z.json",
        "missing.txt",
    ]


def test_demo_folder_has_several_articles_for_one_day() -> None:
    articles = [a for path in iter_article_files([SAMPLES]) for a in parse_path(path)]

    assert len(articles) == 6
    assert {a.published for a in articles} == {date(2020, 11, 18)}
    assert len({a.content_hash for a in articles}) == 6
    assert len({a.origin for a in articles}) == 6
