"""Publication dates as pages and feeds write them."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

#: The newspaper's day is the Beijing day: a feed item stamped ``2020-11-17T23:30:00Z`` was
#: published on 2020-11-18.  China has no daylight saving time, so a fixed offset is exact.
NEWSROOM_TZ = timezone(timedelta(hours=8), "CST")

# 2020-11-18, 2020/11/18, 2020.11.18, 2020年11月18日, with stray spaces around the
# separators ("2020 / 11/18" is what the scraped page leaves when the year sits on its own
# line), optionally followed by a time and a UTC offset.
_NUMERIC_DATE = re.compile(
    r"(?<!\d)(?P<year>\d{4})\s*[-/.年]\s*(?P<month>\d{1,2})\s*[-/.月]\s*(?P<day>\d{1,2})(?!\d)"
    r"\s*日?"
    r"(?:[\sT]*(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.\d+)?)?"
    r"\s*(?P<offset>Z|[+-]\d{2}:?\d{2})?)?"
)

#: A line made only of date characters, e.g. "2020" or "/ 11/18" or "09:30".
DATE_FRAGMENT = re.compile(r"[\d\s/\-.:年月日T]*\d[\d\s/\-.:年月日T]*")


def parse_date(text: str) -> date | None:
    """Return the publication date written in ``text``.

    Understands ISO 8601 (``2020-11-18``, ``2020-11-18T09:30:00+08:00``), RFC 2822
    (``Wed, 18 Nov 2020 09:30:00 +0800``) and the Chinese numeric forms (``2020/11/18``,
    ``2020年11月18日 09:30``), also embedded in a longer line.  A time with a UTC offset is
    converted to Beijing time first.  Returns ``None`` when ``text`` holds no date at all;
    raises :class:`ValueError` when it holds one that cannot exist (``2020-13-45``).
    """
    stripped = text.strip()
    if not stripped:
        return None
    whole = _parse_whole(stripped)
    if whole is not None:
        return whole
    match = _NUMERIC_DATE.search(stripped)
    if match is None:
        return None
    return _date_from_match(match)


def _parse_whole(text: str) -> date | None:
    stamp: datetime | None
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        stamp = _parse_rfc2822(text)
    return None if stamp is None else _newsroom_day(stamp)


def _parse_rfc2822(text: str) -> datetime | None:
    if not text[:1].isalpha() and not text[:2].strip().isdigit():
        return None
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None


def _date_from_match(match: re.Match[str]) -> date:
    try:
        day = date(int(match["year"]), int(match["month"]), int(match["day"]))
    except ValueError:
        raise ValueError(f"{match.group(0).strip()!r} is not a real date") from None
    offset = match["offset"]
    if match["hour"] is None or offset is None:
        return day
    try:
        stamp = datetime.fromisoformat(
            f"{day.isoformat()}T{int(match['hour']):02d}:{match['minute']}"
            f":{match['second'] or '00'}{_iso_offset(offset)}"
        )
    except ValueError:
        raise ValueError(f"{match.group(0).strip()!r} is not a real time") from None
    return _newsroom_day(stamp)


def _iso_offset(offset: str) -> str:
    if offset == "Z":
        return "+00:00"
    return offset if ":" in offset else f"{offset[:3]}:{offset[3:]}"


def _newsroom_day(stamp: datetime) -> date:
    if stamp.tzinfo is None:
        return stamp.date()
    return stamp.astimezone(NEWSROOM_TZ).date()
