"""How often an unrecognised MO gets a help reply.

A help reply goes to anything that is not a keyword, so two auto-responders (or a
user's phone set to auto-reply) could ping-pong forever. :func:`help_allowed`
limits help replies to one per ``period`` per number. The caller stores the time
of the last help reply it actually sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = ["help_allowed"]


def help_allowed(last_help_at: datetime | None, now: datetime, period: timedelta) -> bool:
    """Whether a help reply may be sent at ``now``.

    Allowed when no help was sent before, or when at least ``period`` has passed
    since the last one (inclusive: exactly ``period`` later is allowed). A ``now``
    earlier than ``last_help_at`` (clock skew) is allowed too, so a clock that
    jumped back cannot silence a number for long. A zero ``period`` always allows;
    a negative one is a :class:`ValueError`.
    """
    if period < timedelta(0):
        raise ValueError(f"period must not be negative, got {period}")
    if last_help_at is None or now < last_help_at:
        return True
    return now - last_help_at >= period
