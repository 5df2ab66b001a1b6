"""``logging.format``: the text and JSON line formats, the traffic fields, masking, and the
configuration key."""

from __future__ import annotations

import io
import json
import logging
import sys
from pathlib import Path

import pytest

from carriers.numbers import mask_msisdn
from gateway.config import load_config
from gateway.errors import ConfigError
from gateway.log_format import JsonLineFormatter, fields, formatter_for, record_fields

REPO = Path(__file__).resolve().parents[2]


def _record(message: str, *args: object, level: int = logging.INFO,
            extra: dict[str, object] | None = None) -> logging.LogRecord:
    logger = logging.getLogger("sdgw.test")
    return logger.makeRecord(logger.name, level, __file__, 1, message, args, None,
                             extra=extra)


@pytest.mark.parametrize(("number", "masked"), [
    ("13800138000", "138****8000"),
    ("+8613800138000", "+86****8000"),
    ("12345678", "123****5678"),
    ("1234567", "*******"),
    ("", ""),
])
def test_mask_msisdn(number: str, masked: str) -> None:
    assert mask_msisdn(number) == masked


def test_fields_mask_the_number_and_leave_out_what_is_unknown() -> None:
    assert fields("mo", carrier="china_mobile", number="13800138000", message_id=7,
                  subscriber_id=None) == {
        "event": "mo", "carrier": "china_mobile", "number": "138****8000", "message_id": 7}


def test_json_line_has_time_level_logger_message_and_the_fields() -> None:
    record = _record("MO #%d on %s from %s: %s", 7, "china_mobile", "138****8000",
                     "subscribe", extra=fields("mo", carrier="china_mobile",
                                               number="13800138000", message_id=7,
                                               subscriber_id=3))
    line = JsonLineFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "info" and entry["logger"] == "sdgw.test"
    assert entry["message"] == "MO #7 on china_mobile from 138****8000: subscribe"
    assert entry["time"].endswith("+00:00") and "T" in entry["time"]
    assert {k: entry[k] for k in ("event", "carrier", "number", "message_id", "subscriber_id")
            } == {"event": "mo", "carrier": "china_mobile", "number": "138****8000",
                  "message_id": 7, "subscriber_id": 3}
    assert record_fields(record) == {"event": "mo", "carrier": "china_mobile",
                                     "number": "138****8000", "message_id": 7,
                                     "subscriber_id": 3}


def test_json_line_keeps_chinese_text_and_carries_the_traceback() -> None:
    try:
        raise ValueError("坏了")
    except ValueError:
        logger = logging.getLogger("sdgw.test")
        record = logger.makeRecord(logger.name, logging.ERROR, __file__, 1, "失败: %s",
                                   ("山东手机报",), sys.exc_info())
    line = JsonLineFormatter().format(record)
    assert "山东手机报" in line  # UTF-8 text, not \\u escapes
    entry = json.loads(line)
    assert entry["level"] == "error" and "ValueError: 坏了" in entry["exception"]


def test_json_line_of_an_odd_field_value_still_parses() -> None:
    record = _record("x", extra={"event": "mo", "when": object(), "path": Path("/tmp")})
    entry = json.loads(JsonLineFormatter().format(record))
    assert entry["path"] == "/tmp" and entry["when"].startswith("<object")


def test_text_line_is_the_message_without_the_fields() -> None:
    record = _record("reply #%d on %s to %s: %s", 9, "china_unicom", "130****5678",
                     "accepted", extra=fields("reply", carrier="china_unicom",
                                              number="13012345678", message_id=9))
    line = formatter_for("text").format(record)
    assert line.endswith("INFO    sdgw.test: reply #9 on china_unicom to 130****5678: accepted")
    assert "event" not in line


def test_a_handler_in_json_writes_one_parsable_object_per_line() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter_for("json"))
    logger = logging.getLogger("sdgw.test.lines")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        logger.warning("one", extra=fields("throttled", carrier="china_mobile", pause=1.0))
        logger.info("two\nlines", extra=fields("reconnect", carrier="china_telecom"))
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["throttled", "reconnect"]
    assert json.loads(lines[1])["message"] == "two\nlines"


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="xml"):
        formatter_for("xml")


@pytest.mark.parametrize("name", ["gateway.toml", "native.toml"])
def test_shipped_configs_log_text(name: str) -> None:
    assert load_config(REPO / "config" / name).logging.format == "text"


def test_config_takes_json(tmp_path: Path) -> None:
    path = _config(tmp_path, 'format = "json"')
    assert load_config(path).logging.format == "json"


@pytest.mark.parametrize(("line", "expected"), [
    ('format = "yaml"', 'expected "text" or "json"'),
    ("format = 1", "expected a string"),
])
def test_config_errors_name_file_and_key(tmp_path: Path, line: str, expected: str) -> None:
    path = _config(tmp_path, line)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value) and "logging.format" in str(caught.value)
    assert expected in str(caught.value)


def _config(tmp_path: Path, logging_line: str) -> Path:
    text = (REPO / "config" / "gateway.toml").read_text(encoding="utf-8")
    text = text.replace('format = "text"\n', f"{logging_line}\n")
    assert logging_line in text
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return path
