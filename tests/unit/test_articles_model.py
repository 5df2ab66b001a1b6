"""ParsedArticle, its content hash, and URL canonicalisation."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.articles import ArticleError, ImageRef, ParsedArticle, canonical_url
from gateway.errors import GatewayError


def article(**changes: object) -> ParsedArticle:
    fields: dict[str, object] = {
        "title": "沙坪坝区:中小学“一校一品”",
        "published": date(2020, 11, 18),
        "paragraphs": ("第一段,正文。", "第二段。"),
        "origin": "x.txt",
    }
    fields.update(changes)
    return ParsedArticle(**fields)  # type: ignore[arg-type]


def test_article_is_frozen_slotted_and_keyword_only() -> None:
    value = article()

    with pytest.raises(dataclasses.FrozenInstanceError):
        value.title = "x"  # type: ignore[misc]
    assert not hasattr(value, "__dict__")
    with pytest.raises(TypeError):
        ParsedArticle("t", date(2020, 1, 1))  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "changes", [{"title": "  "}, {"paragraphs": ()}, {"paragraphs": ("a", " ")}]
)
def test_article_needs_title_and_body(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        article(**changes)


def test_content_hash_ignores_whitespace_width_and_metadata() -> None:
    reference = article().content_hash

    assert len(reference) == 64
    assert article(title=" 沙坪坝区：中小学“一校一品” ").content_hash == reference
    assert article(paragraphs=("第一段，正文。", "第二段。 ")).content_hash == reference
    assert (
        article(
            source="大众网",
            author="甲",
            editor="乙",
            channel=("教育",),
            url="http://a/",
            images=(ImageRef(src="http://a/1.jpg"),),
            origin="other.html",
        ).content_hash
        == reference
    )


def test_content_hash_follows_title_date_and_body() -> None:
    reference = article().content_hash

    assert article(title="别的标题").content_hash != reference
    assert article(published=date(2020, 11, 19)).content_hash != reference
    assert article(paragraphs=("第一段,正文。",)).content_hash != reference
    assert article(paragraphs=("第一段,正文。第二段。",)).content_hash != reference


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://Edu.DZWWW.com/a/b.htm#top", "http://edu.dzwww.com/a/b.htm"),
        (
            "https://x.com/p?id=7&utm_source=wx&UTM_Medium=s&fbclid=1&spm=a.b&page=2",
            "https://x.com/p?id=7&page=2",
        ),
        ("https://x.com:443/a", "https://x.com/a"),
        ("http://x.com:8080", "http://x.com:8080/"),
        ("  http://x.com/a?utm_source=rss  ", "http://x.com/a"),
        ("http://x.com/a?from=timeline&isappinstalled=0", "http://x.com/a?from=timeline"),
        ("http://user@X.com/A", "http://user@x.com/A"),
        ("http://[::1]:80/a", "http://[::1]/a"),
        ("/relative/path#frag", "/relative/path"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize("url", ["", "   ", "http://x.com:99999/"])
def test_canonical_url_rejects(url: str) -> None:
    with pytest.raises(ValueError):
        canonical_url(url)


@given(
    host=st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,10}\.(com|cn)", fullmatch=True),
    path=st.from_regex(r"(/[a-z0-9_]{1,8}){0,3}", fullmatch=True),
    query=st.lists(
        st.tuples(
            st.sampled_from(["id", "page", "utm_source", "utm_x", "fbclid", "q"]),
            st.from_regex(r"[a-z0-9]{0,5}", fullmatch=True),
        ),
        max_size=4,
    ),
    fragment=st.from_regex(r"[a-z]{0,5}", fullmatch=True),
)
def test_canonical_url_is_idempotent_and_drops_tracking(
    host: str, path: str, query: list[tuple[str, str]], fragment: str
) -> None:
    query_text = "&".join(f"{k}={v}" for k, v in query)
    url = f"HTTPS://{host}{path}?{query_text}#{fragment}"

    once = canonical_url(url)

    assert canonical_url(once) == once
    assert "utm_" not in once and "fbclid" not in once and "#" not in once
    assert once.startswith(f"https://{host.lower()}")


def test_article_error_message_and_tree() -> None:
    error = ArticleError("articles/foo.txt", "no title found")

    assert str(error) == "articles/foo.txt: no title found"
    assert (error.path, error.reason) == ("articles/foo.txt", "no title found")
    assert isinstance(error, GatewayError)
