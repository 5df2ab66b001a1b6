"""`sdgw ingest`, `sdgw edition build` and `sdgw edition preview` as a user runs them."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.db.engine import make_engine, make_session_factory
from gateway.editions.build import freeze_edition
from gateway.editions.stored import load_edition
from tests.conftest import REPO_ROOT, free_port

SAMPLES = REPO_ROOT / "data" / "articles"
BAD = REPO_ROOT / "tests" / "data" / "articles"
CARRIERS = {"china_mobile": "10658000", "china_unicom": "106558000678",
            "china_telecom": "106597009"}


def write_config(tmp_path: Path) -> Path:
    carriers = "".join(f"""
[carriers.{carrier}]
short_code = "{code}"
[carriers.{carrier}.link]
port = 2775
system_id = "gw"
password = "pw"
""" for carrier, code in CARRIERS.items())
    path = tmp_path / "gateway.toml"
    path.write_text(f"""
[database]
url = "sqlite:///{tmp_path / 'gw.db'}"
[console]
port = {free_port()}
[metrics]
port = {free_port()}
[newspaper]
name = "山东手机报"
price = "3元/月"
signature = "山东手机报"
[editions.channel_weights]
"教育新闻/教育热点" = 2.0
[editions.mms_max_bytes]
china_telecom = 51200
[content]
base_url = "http://mms.example.com:8081"
{carriers}
""", encoding="utf-8")
    return path


def sdgw(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(config), *args],
        capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = write_config(tmp_path)
    upgraded = sdgw(path, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    return path


def test_ingest_reports_each_article_and_each_bad_file(config: Path) -> None:
    result = sdgw(config, "ingest", str(SAMPLES), str(BAD / "empty.txt"),
                  str(BAD / "no-title.txt"), str(BAD / "undecodable.txt"))
    assert result.returncode == 1
    new = [line for line in result.stdout.splitlines() if line.startswith("new ")]
    assert len(new) == 6
    assert any("沙坪坝区:中小学“一校一品”创新党建特色品牌" in line
               and "dzwww-2020-11-18-shapingba.txt" in line for line in new)
    assert result.stderr.splitlines() == [
        f"failed     {BAD / 'empty.txt'}: empty file",
        f"failed     {BAD / 'no-title.txt'}: no title found",
        f"failed     {BAD / 'undecodable.txt'}: undecodable text (neither UTF-8 nor "
        "GB18030/GBK)",
    ]
    assert result.stdout.splitlines()[-1] == "6 article(s): 6 new; 3 file(s) failed"

    again = sdgw(config, "ingest", str(SAMPLES))
    assert again.returncode == 0, again.stderr
    assert [line.split()[0] for line in again.stdout.splitlines()[:-1]] == ["unchanged"] * 6
    assert again.stdout.splitlines()[-1] == "6 article(s): 6 unchanged; 0 file(s) failed"


def test_a_folder_without_articles_is_a_failure(config: Path, tmp_path: Path) -> None:
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    result = sdgw(config, "ingest", str(empty))
    assert result.returncode == 1
    assert f"failed     {empty}: no article files in this folder" in result.stderr


def test_build_then_preview_shows_what_each_carrier_receives(config: Path) -> None:
    assert sdgw(config, "ingest", str(SAMPLES)).returncode == 0
    built = sdgw(config, "edition", "build", "--date", "2020-11-18", "--slot", "morning")
    assert built.returncode == 0, built.stderr
    assert built.stdout.startswith("edition 2020-11-18/morning (#1) built: articles #")
    assert "is remote; not fetched" in built.stderr  # the samples' images are remote URLs

    preview = sdgw(config, "edition", "preview", "--date", "2020-11-18", "--slot", "morning")
    assert preview.returncode == 0, preview.stderr
    out = preview.stdout
    assert out.startswith("edition 2020-11-18/morning (早报) #1: built ")
    engine = make_engine(f"sqlite:///{config.parent / 'gw.db'}")
    with make_session_factory(engine).begin() as session:
        edition = load_edition(session, datetime(2020, 11, 18).date(), "morning")
    engine.dispose()
    assert edition is not None
    for carrier in CARRIERS:
        sms = next(r for r in edition.renders if r.carrier == carrier and r.format == "sms")
        section = out.split(f"== {carrier}: SMS digest")[1].split("--- end ---")[0]
        boundaries = re.findall(r"--- segment (\d+)/(\d+) \(UCS2, (\d+) chars\) ---\n", section)
        assert len(boundaries) == len(sms.segments)
        assert [int(n) for n, _, _ in boundaries] == list(range(1, len(sms.segments) + 1))
        pieces = re.split(r"--- segment \d+/\d+ \(UCS2, \d+ chars\) ---\n", section)[1:]
        texts = [piece[:-1] for piece in pieces]  # each printed with a final newline
        assert [len(t) for t in texts] == [int(c) for _, _, c in boundaries]
        assert "".join(texts) == sms.sms_text
        assert all(int(c) <= 67 for _, _, c in boundaries)
        mms = next(r for r in edition.renders if r.carrier == carrier and r.format == "mms")
        assert mms.content_location == "http://mms.example.com:8081/mms/" + "0" * 24
        assert f"content location: {mms.content_location} (each subscriber's own token" in out
        assert f"== {carrier}: MMS edition, 7 page(s), {mms.mms_size:,} octets; " in out
    assert "limit 51,200 ==" in out and "limit 102,400 ==" in out
    assert out.count("  page  1 ") == 3
    assert re.search(r"total [\d,]+ B = pages [\d,]+ B \+ SMIL", out)
    assert "notification: m-notification-ind in a WAP Push, " in out

    one = sdgw(config, "edition", "preview", "--date", "2020-11-18", "--slot", "morning",
               "--carrier", "china_unicom")
    assert one.returncode == 0
    assert "china_unicom: SMS" in one.stdout and "china_mobile:" not in one.stdout


def test_build_with_an_explicit_order(config: Path) -> None:
    sdgw(config, "ingest", str(SAMPLES))
    built = sdgw(config, "edition", "build", "--date", "2020-11-18", "--slot", "evening",
                 "--order", "5,2")
    assert built.returncode == 0, built.stderr
    assert "built: articles #5, #2, " in built.stdout
    wrong = sdgw(config, "edition", "build", "--date", "2020-11-18", "--slot", "evening",
                 "--order", "5,77")
    assert wrong.returncode == 2
    assert wrong.stderr.startswith("sdgw: edition 2020-11-18/evening: the explicit order names "
                                   "article 77, not among")
    bad = sdgw(config, "edition", "build", "--date", "2020-11-18", "--slot", "evening",
               "--order", "5,x")
    assert bad.returncode == 2 and "article ids separated by commas" in bad.stderr


def test_a_frozen_edition_is_refused(config: Path) -> None:
    sdgw(config, "ingest", str(SAMPLES))
    assert sdgw(config, "edition", "build", "--date", "2020-11-18", "--slot",
                "morning").returncode == 0
    engine = make_engine(f"sqlite:///{config.parent / 'gw.db'}")
    with make_session_factory(engine).begin() as session:
        freeze_edition(session, 1, now=datetime(2020, 11, 17, 23, 0, tzinfo=UTC))
    engine.dispose()
    again = sdgw(config, "edition", "build", "--date", "2020-11-18", "--slot", "morning")
    assert again.returncode == 2
    assert again.stderr == ("sdgw: edition 2020-11-18/morning (#1) is frozen since 2020-11-17 "
                            "23:00 UTC: its dispatch has started, so it is never rebuilt\n")
    preview = sdgw(config, "edition", "preview", "--date", "2020-11-18", "--slot", "morning")
    assert preview.returncode == 0
    assert ", frozen 2020-11-17 23:00 UTC" in preview.stdout.splitlines()[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("edition", "preview", "--date", "2020-11-18", "--slot", "morning"),
         "sdgw: there is no edition 2020-11-18/morning; build it with `sdgw edition build "
         "--date 2020-11-18 --slot morning`"),
        (("edition", "build", "--date", "2020-11-18", "--slot", "noon"),
         "sdgw: unknown slot 'noon'; editions.slots has morning, evening"),
        (("edition", "build", "--date", "2020-11-19", "--slot", "morning"),
         "sdgw: no articles dated 2020-11-19; store some with `sdgw ingest`"),
        (("edition", "build", "--date", "18/11/2020", "--slot", "morning"),
         "expected a date YYYY-MM-DD"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(
    config: Path, args: tuple[str, ...], message: str
) -> None:
    result = sdgw(config, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_commands_refuse_an_out_of_date_schema(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = sdgw(config, "ingest", str(SAMPLES))
    assert result.returncode == 2 and "db upgrade" in result.stderr


def test_an_article_changed_after_the_build_asks_for_a_rebuild(
    config: Path, tmp_path: Path
) -> None:
    article = tmp_path / "article.json"
    shutil.copy(SAMPLES / "dzwww-2020-11-18-briefs.json", article)
    sdgw(config, "ingest", str(article))
    sdgw(config, "edition", "build", "--date", "2020-11-18", "--slot", "morning")
    article.write_text(article.read_text("utf-8").replace("年底前", "明年年底前"), "utf-8")
    changed = sdgw(config, "ingest", str(article))
    assert changed.returncode == 0
    expected = "updated    #1     济南将新增三处青少年科普研学基地 — rebuild edition "
    expected += "2020-11-18/morning"
    assert expected in changed.stdout
    preview = sdgw(config, "edition", "preview", "--date", "2020-11-18", "--slot", "morning")
    assert preview.returncode == 2 and "is not built" in preview.stderr
