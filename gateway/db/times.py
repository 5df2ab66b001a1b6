"""Stored times: every timestamp is stored in UTC, but SQLite hands them back naive."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import overload


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime (naive values are UTC); None stays None."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def local_text(value: datetime | None, zone: tzinfo | None, *, missing: str = "-") -> str:
    """A stored time as ``YYYY-MM-DD HH:MM:SS`` in ``zone`` (UTC if None); ``missing`` for
    no time."""
    if value is None:
        return missing
    return as_utc(value).astimezone(zone or UTC).strftime("%Y-%m-%d %H:%M:%S")
