"""Regular trading hours of US equity options, on the New York clock and the NYSE calendar.

The exchange date (America/New_York) decides the trading day, never the host's date: a bar at
23:30 New York time on Monday is Monday's, although it is already Tuesday in UTC. Daylight
saving time is handled by ``zoneinfo``. Which days hold a session and when it ends come from
``bot.trading.exchange_calendar``, the rules the simulator uses too: no session at weekends and on NYSE
holidays; 09:30 to 16:00, or to 13:00 on an early-close day (July 3rd, the day after
Thanksgiving, Christmas Eve). The session is half open, [09:30, close): the close itself is
after the close.

All functions take aware datetimes (any zone) and return aware UTC datetimes; a naive datetime
is a programming error and raises ``ValueError``. So is asking for the open or close of a day
without a session: ask ``is_session_day`` first.
"""

from __future__ import annotations

from datetime import date, datetime

from bot.trading.exchange_calendar import (
    EARLY_CLOSE,
    NY,
    REGULAR_CLOSE,
    REGULAR_OPEN,
    exchange_date,
    is_early_close,
    is_open,
    is_session_day,
    next_session_day,
    previous_session_day,
    session_bounds,
)

__all__ = [
    "EARLY_CLOSE", "NY", "REGULAR_CLOSE", "REGULAR_OPEN", "close_passed", "is_early_close",
    "is_regular_hours",
    "is_session_day", "minutes_to_close", "session_close", "session_open", "trading_day",
]


def trading_day(ts: datetime) -> date:
    """The New York calendar date of ``ts`` (whether or not it holds a session)."""
    return exchange_date(ts)


def _bounds(day: date) -> tuple[datetime, datetime]:
    bounds = session_bounds(day)
    if bounds is None:
        raise ValueError(f"no session on {day.isoformat()}: a weekend or an exchange holiday")
    return bounds


def session_open(day: date) -> datetime:
    """09:30 New York on the session day ``day``, as an aware UTC datetime."""
    return _bounds(day)[0]


def session_close(day: date) -> datetime:
    """The close of the session day ``day`` as an aware UTC datetime: 16:00 New York, 13:00 on
    an early-close day."""
    return _bounds(day)[1]


def close_passed(before: datetime, now: datetime) -> bool:
    """True when a session's close lies in (``before``, ``now``]: the exchange expired every
    DAY order still working then (IB cancels them at the close)."""
    day = exchange_date(before)
    bounds = session_bounds(day)
    if bounds is None or before >= bounds[1]:
        bounds = session_bounds(next_session_day(day))
    return bounds is not None and bounds[1] <= now


def is_regular_hours(ts: datetime) -> bool:
    """True from the open (inclusive) to the close (exclusive) of a session day, New York time;
    never at weekends or on exchange holidays."""
    return is_open(ts)


def minutes_to_close(ts: datetime) -> float:
    """Minutes from ``ts`` until the close of its trading day (negative after the close).

    The close is 16:00 New York, 13:00 on an early-close day. On a day without a session
    (weekend, holiday) the close that counts is the last one before it, so the result is
    negative: the market is shut, and a "flat before the close" exit fires rather than wait for
    a close that never comes.
    """
    day = trading_day(ts)
    if not is_session_day(day):
        day = previous_session_day(day)
    return (session_close(day) - ts).total_seconds() / 60.0
