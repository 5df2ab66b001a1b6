"""Quiet hours: when no digest may be pushed (default 21:00–08:00 Asia/Shanghai). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


def parse_clock(text: str) -> time:
    """``"21:00"`` → ``time(21, 0)``; raises ValueError with the expected form."""
    try:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"expected a time of day as HH:MM, got {text!r}") from None


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window in a time zone; it may wrap past midnight (start > end)."""

    start: time
    end: time
    zone: ZoneInfo

    def is_quiet(self, now: datetime) -> bool:
        if self.start == self.end:
            return False
        local = now.astimezone(self.zone).time()
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def ends_after(self, now: datetime) -> datetime:
        """The first moment at or after ``now`` that is outside the window."""
        if not self.is_quiet(now):
            return now
        local = now.astimezone(self.zone)
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0,
                            microsecond=0)
        if end <= local:
            end += timedelta(days=1)
        # Re-attach the zone so a DST change between now and then is accounted for.
        end = end.replace(tzinfo=None).replace(tzinfo=self.zone)
        return end.astimezone(now.tzinfo)
