"""Regular trading hours of US equity options, on the New York clock.

The exchange date (America/New_York) decides the trading day, never the host's date: a bar at
23:30 New York time on Monday is Monday's, although it is already Tuesday in UTC. Daylight
saving time is handled by ``zoneinfo``. The session is half open, [09:30, 16:00): 16:00:00
itself is after the close. Exchange holidays and early closes are not modelled here (the
simulator's calendar knows them); on such days the broker simply sends no bars.

All functions take aware datetimes (any zone) and return aware UTC datetimes; a naive datetime
is a programming error and raises ``ValueError``.
"""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

NY = ZoneInfo("America/New_York")
REGULAR_OPEN = time(9, 30)
REGULAR_CLOSE = time(16, 0)
LAST_WEEKDAY = 4  # Friday (Monday is 0)


def _aware(ts: datetime) -> datetime:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"naive datetime {ts.isoformat()}: pass an aware datetime")
    return ts


def trading_day(ts: datetime) -> date:
    """The New York calendar date of ``ts``."""
    return _aware(ts).astimezone(NY).date()


def _ny_instant(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=NY).astimezone(timezone.utc)


def session_open(day: date) -> datetime:
    """09:30 New York on ``day``, as an aware UTC datetime."""
    return _ny_instant(day, REGULAR_OPEN)


def session_close(day: date) -> datetime:
    """16:00 New York on ``day``, as an aware UTC datetime."""
    return _ny_instant(day, REGULAR_CLOSE)


def is_regular_hours(ts: datetime) -> bool:
    """True on a weekday between 09:30 (inclusive) and 16:00 (exclusive) New York time."""
    day = trading_day(ts)
    return day.weekday() <= LAST_WEEKDAY and session_open(day) <= ts < session_close(day)


def minutes_to_close(ts: datetime) -> float:
    """Minutes from ``ts`` until 16:00 New York on its trading day (negative after the close)."""
    return (session_close(trading_day(ts)) - ts).total_seconds() / 60.0
