"""Looking at captured log records the way an operator's log shows them: as the text line and
as the JSON line ``logging.format`` would write."""

from __future__ import annotations

import json
import logging
from typing import Any

from gateway.log_format import formatter_for


def traffic(records: list[logging.LogRecord], event: str) -> list[logging.LogRecord]:
    """The records of one kind of traffic line (their ``event`` field)."""
    return [record for record in records if getattr(record, "event", None) == event]


def as_text(record: logging.LogRecord) -> str:
    return formatter_for("text").format(record)


def as_json(record: logging.LogRecord) -> dict[str, Any]:
    line = formatter_for("json").format(record)
    assert "\n" not in line
    parsed: dict[str, Any] = json.loads(line)
    return parsed


def assert_no_whole_number(records: list[logging.LogRecord], *numbers: str) -> None:
    """No line, in either form, shows any of ``numbers`` unmasked."""
    for record in records:
        for line in (as_text(record), json.dumps(as_json(record), ensure_ascii=False)):
            for number in numbers:
                assert number not in line, line
