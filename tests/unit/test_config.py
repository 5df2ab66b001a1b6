"""Configuration loading and validation: one clear line for every mistake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import config_path_from, load_config, resolve_database_url
from gateway.errors import ConfigError
from tests.conftest import REPO_ROOT

DEFAULT = REPO_ROOT / "config" / "gateway.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gw.toml"
    path.write_text(text, encoding="utf-8")
    return path


def default_with(tmp_path: Path, old: str, new: str) -> Path:
    text = DEFAULT.read_text(encoding="utf-8")
    assert old in text
    return write(tmp_path, text.replace(old, new, 1))


def test_default_config_is_valid() -> None:
    config = load_config(DEFAULT)
    assert set(config.carriers) == {"china_mobile", "china_unicom", "china_telecom"}
    assert config.carriers["china_unicom"].short_code == "106558000678"
    assert config.carriers["china_mobile"].link.window == 16
    assert config.database_url.startswith("sqlite:////")
    assert config.database_url.endswith("/var/sdgw.db")


@pytest.mark.parametrize(
    ("old", "new", "key", "expected"),
    [
        ("window = 16", "window = 16\nwindoww = 3", "carriers.china_mobile.link.windoww",
         "unknown key"),
        ("window = 16", 'window = "16"', "carriers.china_mobile.link.window", "an integer"),
        ('short_code = "10658000"', "short_code = 10658000", "carriers.china_mobile.short_code",
         "a string"),
        ("port = 12775\nsystem_id", "system_id", "carriers.china_mobile.link.port", "missing"),
        ('name = "山东手机报"\n', "", "newspaper.name", "missing"),
        ("tps = 100", "tps = -1", "carriers.china_mobile.link.tps", "from 0"),
        ("enabled = true", 'enabled = "yes"', "carriers.china_mobile.simulator.enabled",
         "true or false"),
        ('password = "cm-pass1"', 'password = "far-too-long-password"',
         "carriers.china_mobile.link.password", "at most 8"),
        ("[carriers.china_mobile]", "[carriers.china_mobil]", "carriers.china_mobil",
         "unknown carrier"),
        ("receipt_delay = 1.0", "receipt_delay = 1.0\nreceipt_mix = { DELIVERED = 1.0 }",
         "carriers.china_mobile.simulator.receipt_mix.DELIVERED", "unknown receipt stat"),
        ('timezone = "Asia/Shanghai"', 'timezone = "Mars/Olympus"',
         "newspaper.timezone", "'Mars/Olympus'"),
        ('timezone = "Asia/Shanghai"', 'timezone = "/etc/passwd"',
         "newspaper.timezone", "IANA time zone"),
        ('timezone = "Asia/Shanghai"', 'timezone = ""',
         "newspaper.timezone", "IANA time zone"),
        ("sms_only_prefixes = []", 'sms_only_prefixes = ["1700", "17O9"]',
         "carriers.china_telecom.mms.sms_only_prefixes[1]", "digits of a national number"),
        ("sms_only_prefixes = []", 'sms_only_prefixes = "1700"',
         "carriers.china_telecom.mms.sms_only_prefixes", "an array"),
        ("enabled = true\nsms_only", 'enabled = 1\nsms_only',
         "carriers.china_telecom.mms.enabled", "true or false"),
        ("port = 9464", "port = 0", "metrics.port", "from 1 to 65535"),
        ("port = 9464", 'port = "9464"', "metrics.port", "an integer"),
        ("refresh_seconds = 15", "refresh_seconds = 0", "metrics.refresh_seconds", "from 0.1"),
        ("link_grace_seconds = 60", "link_grace_seconds = -1", "metrics.link_grace_seconds",
         "from 0"),
        ("refresh_seconds = 15", "refresh_seconds = 15\nrefresh = 3", "metrics.refresh",
         "unknown key"),
        ('host = "127.0.0.1"\nport = 9464', 'host = ""\nport = 9464', "metrics.host",
         "an address"),
    ],
)
def test_mistakes_name_file_key_and_expectation(
    tmp_path: Path, old: str, new: str, key: str, expected: str
) -> None:
    path = default_with(tmp_path, old, new)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert expected in message
    assert "\n" not in message


def test_who_may_choose_the_mms_edition(tmp_path: Path) -> None:
    from gateway.app import subscription_settings

    assert all(c.mms.enabled and not c.mms.sms_only_prefixes
               for c in load_config(DEFAULT).carriers.values())
    path = default_with(tmp_path, "enabled = true\nsms_only_prefixes = []",
                        'enabled = false\nsms_only_prefixes = ["1700"]')
    text = path.read_text(encoding="utf-8").replace(
        "[carriers.china_unicom.simulator]",
        '[carriers.china_unicom.mms]\nsms_only_prefixes = ["1709", "1707"]\n\n'
        "[carriers.china_unicom.simulator]")
    settings = subscription_settings(load_config(write(tmp_path, text)))
    assert not settings.mms_available("china_telecom", "18900000000")
    assert not settings.mms_available("china_unicom", "17091234567")
    assert settings.mms_available("china_unicom", "13012345678")
    assert settings.mms_available("china_mobile", "17001234567")


def test_metrics_defaults_and_the_shipped_configs_ports() -> None:
    metrics = load_config(DEFAULT).metrics
    assert (metrics.enabled, metrics.host, metrics.port) == (True, "127.0.0.1", 9464)
    native = load_config(REPO_ROOT / "config" / "native.toml").metrics
    assert native.port == 9465  # both can run at once


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "missing.toml")


def test_not_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[newspaper\nname="))


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "gbk.toml"
    path.write_bytes('[newspaper]\nname = "山东"\n'.encode("gbk"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


def test_password_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = default_with(tmp_path, 'password = "cm-pass1"', 'password_env = "CM_PW"')
    config = load_config(path)
    monkeypatch.setenv("CM_PW", "s3cret")
    assert config.carriers["china_mobile"].resolved_secret() == "s3cret"
    monkeypatch.delenv("CM_PW")
    with pytest.raises(ConfigError, match="CM_PW"):
        config.carriers["china_mobile"].resolved_secret()


def test_config_path_precedence() -> None:
    assert config_path_from("a.toml", {"SDGW_CONFIG": "b.toml"}) == Path("a.toml")
    assert config_path_from(None, {"SDGW_CONFIG": "b.toml"}) == Path("b.toml")
    assert config_path_from(None, {}) == Path("config/gateway.toml")


def test_relative_sqlite_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    assert resolve_database_url("sqlite:///../var/x.db", tmp_path / "config") == (
        f"sqlite:///{tmp_path / 'var' / 'x.db'}")
    assert resolve_database_url("sqlite:////abs/x.db", tmp_path) == "sqlite:////abs/x.db"
    assert resolve_database_url("postgresql+psycopg://h/db", tmp_path) == (
        "postgresql+psycopg://h/db")


def test_config_check_command_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    bad = default_with(tmp_path, "window = 16", 'window = "sixteen"')
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(bad), "config", "check"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "carriers.china_mobile.link.window: expected an integer" in result.stderr
    good = subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(DEFAULT), "config", "check"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=60,
    )
    assert good.returncode == 0 and "OK" in good.stdout


NATIVE = REPO_ROOT / "config" / "native.toml"


def native_with(tmp_path: Path, old: str, new: str) -> Path:
    text = NATIVE.read_text(encoding="utf-8")
    assert old in text
    return write(tmp_path, text.replace(old, new, 1))


def test_native_config_puts_china_mobile_on_cmpp() -> None:
    config = load_config(NATIVE)
    link = config.carriers["china_mobile"].link
    assert (link.protocol, link.login, link.version) == ("cmpp", "901234", 0x30)
    assert config.carriers["china_mobile"].resolved_secret() == "cm-secret1"
    telecom = config.carriers["china_telecom"].link
    assert (telecom.protocol, telecom.login, telecom.login_mode) == ("smgp", "sdgw_ct", 2)
    unicom = config.carriers["china_unicom"].link
    assert (unicom.protocol, unicom.login, unicom.node_id) == ("sgip", "sdgw_cu", 3053112345)
    assert (unicom.listen_host, unicom.allowed_smg_addresses) == ("127.0.0.1", ())


@pytest.mark.parametrize(
    ("old", "new", "key", "expected"),
    [
        ('protocol = "cmpp"', 'protocol = "x25"', "carriers.china_mobile.link.protocol",
         'expected "smpp" or "cmpp" or "smgp" or "sgip"'),
        ('# allowed_smg_addresses = ["10.1.2.3"]', 'allowed_smg_addresses = ["10.1.2"]',
         "carriers.china_unicom.link.allowed_smg_addresses", "is not an IP address"),
        ('# allowed_smg_addresses = ["10.1.2.3"]', 'allowed_smg_addresses = "10.1.2.3"',
         "carriers.china_unicom.link.allowed_smg_addresses", "expected an array"),
        ('source_addr = "901234"', 'source_addr = "90123"',
         "carriers.china_mobile.link.source_addr", "6-digit SP code"),
        ("version = 0x30", "version = 0x31", "carriers.china_mobile.link.version",
         "0x30 (CMPP 3.0) or 0x20"),
        ('source_addr = "901234"', 'source_addr = "901234"\nsystem_id = "sdgw"',
         "carriers.china_mobile.link.system_id", "unknown key"),
        ('service_id = "SDSJB"', 'service_id = "TOO-LONG-SERVICE"',
         "carriers.china_mobile.link.service_id", "at most 10"),
        ('fee_type = "01"', 'fee_type = "05"', "carriers.china_mobile.link.fee_type",
         "one of 01, 02, 03"),
        ('shared_secret = "cm-secret1"', "", "carriers.china_mobile.link.shared_secret",
         "required (or link.shared_secret_env)"),
    ],
)
def test_cmpp_mistakes_are_checked_by_the_cmpp_table(
    tmp_path: Path, old: str, new: str, key: str, expected: str
) -> None:
    path = native_with(tmp_path, old, new)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert expected in message
