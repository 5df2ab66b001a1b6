"""The MM7 keys of the configuration: native.toml's MM7 carrier, and each mistake refused
with the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.errors import ConfigError
from tests.conftest import REPO_ROOT

NATIVE = REPO_ROOT / "config" / "native.toml"


def native_with(tmp_path: Path, old: str, new: str) -> Path:
    text = NATIVE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "native.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_native_config_sends_china_mobile_mms_over_mm7() -> None:
    config = load_config(NATIVE)
    mm7 = config.carriers["china_mobile"].mm7
    assert mm7 is not None and mm7.release == "REL-6-MM7-1-4"
    assert mm7.simulator is not None and mm7.url.endswith(f":{mm7.simulator.port}/mm7")
    assert config.carriers["china_unicom"].mm7 is None  # WAP Push
    assert config.mm7_endpoint.username and config.mm7_endpoint.port == 8092
    assert load_config(REPO_ROOT / "config" / "gateway.toml").carriers[
        "china_mobile"].mms.mode == "wap_push"


@pytest.mark.parametrize(("old", "new", "key", "expected"), [
    ('mode = "mm7"', 'mode = "mms7"', "carriers.china_mobile.mms.mode", '"wap_push" or "mm7"'),
    ('release = "REL-6-MM7-1-4"', 'release = "REL-9"', "carriers.china_mobile.mms.mm7.release",
     "expected one of"),
    ('url = "http://127.0.0.1:17892/mm7"', 'url = "ftp://x"', "carriers.china_mobile.mms.mm7.url",
     "http://"),
    ('vasp_id = "901234"', 'vasp_id = ""', "carriers.china_mobile.mms.mm7.vasp_id", "VASP id"),
    ("window = 16\n\n[carriers.china_mobile.mms.mm7.simulator]",
     "window = 0\n\n[carriers.china_mobile.mms.mm7.simulator]",
     "carriers.china_mobile.mms.mm7.window", "from 1"),
    ("Retrieved = 0.9", "Delivered = 0.9", "carriers.china_mobile.mms.mm7.simulator.report_mix"
     ".Delivered", "unknown MMStatus"),
    ("report_delay = 1.0\nreport_mix", "error_rate = 2\nreport_mix",
     "carriers.china_mobile.mms.mm7.simulator.error_rate", "0 to 1"),
    ('username = "cm_mmsc"', 'username = ""', "mm7_endpoint.username", "required"),
    ('allowed_addresses = ["127.0.0.1", "::1"]', 'allowed_addresses = ["localhost"]',
     "mm7_endpoint.allowed_addresses[0]", "an IP address"),
    ("max_body_bytes = 2000000", "max_body_bytes = 10", "mm7_endpoint.max_body_bytes", "from"),
    ("[carriers.china_mobile.mms.mm7]", "[carriers.china_mobile.mms.mm77]",
     "carriers.china_mobile.mms.mm77", "unknown key"),
])
def test_mistakes_name_file_and_key(tmp_path: Path, old: str, new: str, key: str,
                                    expected: str) -> None:
    path = native_with(tmp_path, old, new)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message and key in message and expected in message, message


def test_mm7_mode_without_its_table(tmp_path: Path) -> None:
    text = NATIVE.read_text(encoding="utf-8")
    start = text.index("[carriers.china_mobile.mms.mm7]")
    end = text.index("[carriers.china_unicom]")
    path = tmp_path / "native.toml"
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    with pytest.raises(ConfigError, match=r"carriers\.china_mobile\.mms\.mm7.*required when"):
        load_config(path)
