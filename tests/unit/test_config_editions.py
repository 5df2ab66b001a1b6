"""The [editions] and [content] configuration sections: defaults and one-line mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_config, parse_article_ids
from gateway.errors import ConfigError
from tests.conftest import REPO_ROOT

MINIMAL = """
[newspaper]
name = "测试手机报"
price = "3元/月"
signature = "测试手机报"
[carriers.china_mobile]
short_code = "10658000"
[carriers.china_mobile.link]
port = 2775
system_id = "gw"
password = "pw"
"""


def write(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "gw.toml"
    path.write_text(MINIMAL + extra, encoding="utf-8")
    return path


def test_defaults_without_the_sections(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    slots = config.editions.slots
    assert {name: (slot.label, slot.time) for name, slot in slots.items()} == {
        "morning": ("早报", "07:00"),
        "evening": ("晚报", "18:00"),
    }
    assert config.editions.channel_weights == {}
    assert config.editions.max_articles == 8
    assert config.editions.mms_max_bytes == {}
    assert config.editions.sms_reference_bits == 8
    assert (config.content.host, config.content.port) == ("127.0.0.1", 8081)
    assert config.content.base_url == "http://127.0.0.1:8081"


def test_the_shipped_config_sets_the_sections() -> None:
    config = load_config(REPO_ROOT / "config" / "gateway.toml")
    assert config.editions.channel_weights["教育新闻/教育热点"] == 2.0
    assert config.content.port == 8081


def test_sections_are_read(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """
[editions]
max_articles = 5
order = { "2020-11-18/noon" = "3, 1" }
mms_max_bytes = { china_mobile = 307200 }
sms_reference_bits = 16
[editions.slots.noon]
label = "午报"
time = "12:00"
[editions.channel_weights]
"体育" = 0.5
[content]
port = 9000
base_url = "https://mms.example.com"
"""))
    assert list(config.editions.slots) == ["noon"]
    assert config.editions.order == {"2020-11-18/noon": "3, 1"}
    assert config.editions.mms_max_bytes == {"china_mobile": 307200}
    assert config.editions.channel_weights == {"体育": 0.5}
    assert config.content.port == 9000


@pytest.mark.parametrize(
    ("extra", "key", "expected"),
    [
        ("[editions]\nmax_articles = 0", "editions.max_articles", "from 1 to 50"),
        ("[editions]\nmax_articles = \"8\"", "editions.max_articles", "an integer"),
        ("[editions.slots.morning]\nlabel = \"早报\"\ntime = \"7am\"",
         "editions.slots.morning.time", '"HH:MM"'),
        ("[editions.slots.Morning]\nlabel = \"早报\"\ntime = \"07:00\"",
         "editions.slots.Morning", "lower-case"),
        ("[editions.slots.morning]\ntime = \"07:00\"", "editions.slots.morning.label", "missing"),
        ("[editions]\nslots = {}", "editions.slots", "at least one slot"),
        ("[editions.order]\n\"2020-11-18/noon\" = \"1\"", "editions.order.2020-11-18/noon",
         "configured slot"),
        ("[editions.order]\n\"2020-11-18/morning\" = \"1,x\"",
         "editions.order.2020-11-18/morning", "article ids separated by commas"),
        ("[editions.order]\n\"2020-13-18/morning\" = \"1\"",
         "editions.order.2020-13-18/morning", "month must be"),
        ("[editions.mms_max_bytes]\nchina_mobil = 300000", "editions.mms_max_bytes.china_mobil",
         "unknown carrier"),
        ("[editions.mms_max_bytes]\nchina_mobile = 100", "editions.mms_max_bytes.china_mobile",
         "from 1024"),
        ("[editions]\nsms_reference_bits = 12", "editions.sms_reference_bits", "8 or 16"),
        ("[editions]\nmms_expiry_hours = 0", "editions.mms_expiry_hours", "hours > 0"),
        ("[editions.channel_weights]\n\"体育\" = \"heavy\"", "editions.channel_weights.体育",
         "a number"),
        ("[content]\nport = 70000", "content.port", "from 1 to 65535"),
        ("[content]\nbase_url = \"mms.example.com\"", "content.base_url", "http://"),
        ("[content]\nhots = \"x\"", "content.hots", "unknown key"),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, extra: str, key: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, extra))
    assert caught.value.key == key
    assert expected in caught.value.expected


def test_parse_article_ids() -> None:
    assert parse_article_ids("12, 7,9") == [12, 7, 9]
    for bad in ("", "1,,2", "0", "1,1", "-3", "a"):
        with pytest.raises(ValueError):
            parse_article_ids(bad)
