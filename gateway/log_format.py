"""How log records are written (``logging.format``): a readable line, or one JSON object per
line for a log collector.

The gateway's log lines about traffic (an MO, a reply, a throttling episode, a reconnect, a
dispatch starting or finishing) carry their facts twice: in the message, for a person, and
as fields of the record (``logger.info(..., extra=fields(...))``), which the JSON form writes
as keys of its own: ``event``, ``carrier``, ``number`` (always masked), ``message_id``,
``subscriber_id``, ``dispatch_id``, ``edition_id`` …  The text form writes the message only.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from carriers.numbers import mask_msisdn

TEXT_LAYOUT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName"}
"""What every record has; anything else on a record came from ``extra=``."""


def fields(event: str, *, number: str | None = None, **values: Any) -> dict[str, Any]:
    """The ``extra=`` of a traffic line: its kind, the number masked, the other values as
    given (``None`` left out)."""
    entry: dict[str, Any] = {"event": event}
    if number is not None:
        entry["number"] = mask_msisdn(number)
    entry.update((key, value) for key, value in values.items() if value is not None)
    return entry


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a record was given with ``extra=``."""
    return {key: value for key, value in vars(record).items()
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_")}


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record, on one line: ``time`` (UTC, ISO 8601, milliseconds),
    ``level``, ``logger``, ``message``, then the record's own fields, and ``exception`` (the
    traceback) when there is one. Text is written as UTF-8 characters, not escapes."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record_fields(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def formatter_for(layout: str) -> logging.Formatter:
    """The formatter of ``logging.format``: ``"text"`` or ``"json"``."""
    if layout == "json":
        return JsonLineFormatter()
    if layout == "text":
        return logging.Formatter(TEXT_LAYOUT)
    raise ValueError(f"unknown log format {layout!r}; expected text or json")
