"""Storing articles (``gateway.articles.ingest``) on SQLite and, in CI, PostgreSQL."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from gateway.articles import ArticleError
from gateway.articles.ingest import DuplicateArticleError, IngestOutcome, ingest_file
from gateway.db.edition_models import (
    EDITION_BUILDING,
    EDITION_BUILT,
    EDITION_FROZEN,
    Article,
    Edition,
    EditionArticle,
)
from gateway.db.engine import make_session_factory
from tests.conftest import REPO_ROOT

NOW = datetime(2020, 11, 18, 6, 0, tzinfo=UTC)
SAMPLES = REPO_ROOT / "data" / "articles"
SHAPINGBA = SAMPLES / "dzwww-2020-11-18-shapingba.txt"
FIRST_PARAGRAPH = (
    "大众网教育·海报新闻讯(记者 姚辉省 )16日下午,沙坪坝区教育系统召开新时代“一校一品”"
    "党建品牌创建工作现场推进会。"
)


def ingest(engine: Engine, path: Path, now: datetime = NOW) -> list[tuple[str, int, str]]:
    with make_session_factory(engine).begin() as session:
        return [(r.outcome.value, r.article_id, r.title)
                for r in ingest_file(session, path, now=now)]


def stored(engine: Engine) -> list[Article]:
    with make_session_factory(engine).begin() as session:
        return list(session.scalars(select(Article).order_by(Article.id)))


def test_the_sample_page_is_stored_with_exactly_its_fields(engine: Engine) -> None:
    assert ingest(engine, SHAPINGBA) == [
        ("new", 1, "沙坪坝区:中小学“一校一品”创新党建特色品牌"),
    ]
    [article] = stored(engine)
    assert article.title == "沙坪坝区:中小学“一校一品”创新党建特色品牌"
    assert article.published == date(2020, 11, 18)
    assert article.source == "大众报业·大众网"
    assert article.editor == "刘佳琦"
    assert article.author is None
    assert article.channel == ["教育新闻", "教育热点"]
    assert " › ".join(article.channel) == "教育新闻 › 教育热点"
    assert article.paragraphs[0] == FIRST_PARAGRAPH
    body = "\n".join(article.paragraphs)
    for furniture in ("扫描有惊喜", "10658000", "相关推荐", "换一换", "订阅", "手机查看"):
        assert furniture not in body
    assert article.url is None and article.canonical_url is None
    assert len(article.content_hash) == 64
    assert article.origin == SHAPINGBA.name
    assert article.source_file == str(SHAPINGBA.resolve())
    assert article.ingested_at is not None and article.updated_at is None
    assert article.images[0] == {"src": None, "caption": "新时代“一校一品”党建品牌创建工作现场"}


def test_every_sample_goes_in_once_and_again_is_unchanged(engine: Engine) -> None:
    first = [line for path in sorted(SAMPLES.iterdir()) for line in ingest(engine, path)]
    assert [outcome for outcome, _, _ in first] == ["new"] * 6
    again = [line for path in sorted(SAMPLES.iterdir()) for line in ingest(engine, path)]
    assert [outcome for outcome, _, _ in again] == ["unchanged"] * 6
    assert [article_id for _, article_id, _ in again] == [article_id for _, article_id, _ in first]
    assert len(stored(engine)) == 6
    by_title = {a.title: a for a in stored(engine)}
    # The JSON URL carried utm_medium, which identifies nothing.
    science = by_title["济南将新增三处青少年科普研学基地"]
    assert science.canonical_url == "http://edu.dzwww.com/jyrd/202011/t20201118_7001350.htm"


def test_same_text_elsewhere_is_one_article(engine: Engine, tmp_path: Path) -> None:
    copy = tmp_path / "copy-of-shapingba.txt"
    shutil.copy(SHAPINGBA, copy)
    ingest(engine, SHAPINGBA)
    assert ingest(engine, copy)[0][0] == "unchanged"
    assert len(stored(engine)) == 1


def json_article(tmp_path: Path, name: str = "a.json", **changes: object) -> Path:
    item = {
        "id": "x-1",
        "title": "示例新闻标题",
        "date": "2020-11-18T08:00:00+08:00",
        "source": "大众报业·大众网",
        "editor": "孙明",
        "channel": "教育新闻 > 教育热点",
        "url": "http://edu.dzwww.com/jyrd/x1.htm?spm=abc",
        "body": "第一段正文。\n\n第二段正文。",
    }
    item.update(changes)
    path = tmp_path / name
    path.write_text(json.dumps([item], ensure_ascii=False), encoding="utf-8")
    return path


def test_a_changed_article_at_the_same_url_is_updated(engine: Engine, tmp_path: Path) -> None:
    assert ingest(engine, json_article(tmp_path))[0][0] == "new"
    changed = json_article(tmp_path, "b.json", url="HTTP://EDU.dzwww.com:80/jyrd/x1.htm#top",
                           body="第一段正文，改过了。\n\n第二段正文。")
    later = NOW + timedelta(hours=1)
    assert ingest(engine, changed, later)[0][:2] == ("updated", 1)
    [article] = stored(engine)
    assert article.paragraphs[0] == "第一段正文，改过了。"
    assert article.updated_at is not None
    updated = article.updated_at
    assert (updated if updated.tzinfo else updated.replace(tzinfo=UTC)) == later  # SQLite: naive
    assert ingest(engine, changed, later)[0][0] == "unchanged"


def test_a_copy_with_the_same_text_only_fills_in_what_is_missing(
    engine: Engine, tmp_path: Path
) -> None:
    ingest(engine, json_article(tmp_path, url=None, editor=None))
    assert ingest(engine, json_article(tmp_path, "b.json", editor="孙明"))[0][0] == "updated"
    [article] = stored(engine)
    assert article.editor == "孙明"
    assert article.canonical_url == "http://edu.dzwww.com/jyrd/x1.htm"
    # A third copy with another editor and URL does not take over.
    third = json_article(tmp_path, "c.json", editor="别人", url="http://other.example/x")
    assert ingest(engine, third)[0][0] == "unchanged"
    assert stored(engine)[0].editor == "孙明"


def put_in_edition(engine: Engine, article_id: int, status: str) -> int:
    with make_session_factory(engine).begin() as session:
        edition = Edition(newspaper_date=date(2020, 11, 18), slot="morning", status=status,
                          created_at=NOW, built_at=NOW,
                          frozen_at=NOW if status == EDITION_FROZEN else None)
        session.add(edition)
        session.flush()
        session.add(EditionArticle(edition_id=edition.id, article_id=article_id, position=1,
                                   priority=1))
        return edition.id


def test_an_article_of_a_frozen_edition_is_kept_as_sent(engine: Engine, tmp_path: Path) -> None:
    ingest(engine, json_article(tmp_path))
    put_in_edition(engine, 1, EDITION_FROZEN)
    changed = json_article(tmp_path, "b.json", body="完全不同的正文。")
    with make_session_factory(engine).begin() as session:
        [result] = ingest_file(session, changed, now=NOW)
    assert result.outcome is IngestOutcome.FROZEN
    assert result.frozen_editions == ("2020-11-18/morning",)
    assert stored(engine)[0].paragraphs[0] == "第一段正文。"


def test_updating_an_article_of_a_built_edition_asks_for_a_rebuild(
    engine: Engine, tmp_path: Path
) -> None:
    ingest(engine, json_article(tmp_path))
    edition_id = put_in_edition(engine, 1, EDITION_BUILT)
    with make_session_factory(engine).begin() as session:
        [result] = ingest_file(session, json_article(tmp_path, "b.json", title="新标题"), now=NOW)
        assert result.outcome is IngestOutcome.UPDATED
        assert result.editions_to_rebuild == ("2020-11-18/morning",)
        edition = session.get(Edition, edition_id)
        assert edition is not None and edition.status == EDITION_BUILDING


def test_changing_into_another_articles_text_is_refused(engine: Engine, tmp_path: Path) -> None:
    ingest(engine, json_article(tmp_path))
    ingest(engine, json_article(tmp_path, "other.json", url="http://edu.dzwww.com/other.htm",
                                body="另一篇的正文。"))
    clash = json_article(tmp_path, "clash.json", body="另一篇的正文。")
    with pytest.raises(DuplicateArticleError, match="changed into the text of article #2"), \
            make_session_factory(engine).begin() as session:
        ingest_file(session, clash, now=NOW)
    assert len(stored(engine)) == 2


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty.txt", "empty file"),
        ("nul-bytes.txt", "binary content"),
        ("undecodable.txt", "undecodable text"),
        ("no-title.txt", "title"),
        ("impossible-date.txt", "date"),
    ],
)
def test_a_bad_file_stores_nothing(engine: Engine, name: str, reason: str) -> None:
    path = REPO_ROOT / "tests" / "data" / "articles" / name
    with pytest.raises(ArticleError) as caught, make_session_factory(engine).begin() as session:
        ingest_file(session, path, now=NOW)
    assert caught.value.path == str(path)
    assert reason in caught.value.reason
    with make_session_factory(engine).begin() as session:
        assert session.scalar(select(func.count()).select_from(Article)) == 0
