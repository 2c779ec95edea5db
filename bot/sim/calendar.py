"""The simulator's exchange calendar: the NYSE rules of ``bot.trading.exchange_calendar`` plus what the
simulated gateway needs on top (next open and close, IB durations in trading days, IB hour
strings, extended hours).

All instants returned are aware UTC datetimes; the exchange day is the America/New_York date.
Holidays, observed dates, Good Friday and the 13:00 early closes are decided in
``bot.trading.exchange_calendar`` alone (the bot's market hours use the same rules); the names are
re-exported here for the simulator's modules.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from bot.trading.exchange_calendar import (
    EARLY_CLOSE,
    MAX_SCAN_DAYS,
    NY,
    ONE_OFF_CLOSURES,
    REGULAR_CLOSE,
    REGULAR_OPEN,
    early_closes,
    exchange_date,
    holidays,
    is_early_close,
    is_open,
    is_session_day,
    next_session_day,
    ny_instant,
    previous_session_day,
    session_bounds,
)

__all__ = [
    "EARLY_CLOSE", "EARLY_EXTENDED_CLOSE", "EXTENDED_CLOSE", "EXTENDED_OPEN", "MAX_SCAN_DAYS", "NY",
    "ONE_OFF_CLOSURES", "REGULAR_CLOSE", "REGULAR_OPEN", "current_session_day", "default_start",
    "duration_start", "early_closes", "exchange_date", "holidays", "is_early_close", "is_open",
    "is_session_day", "liquid_hours", "next_close", "next_open", "next_session_day",
    "previous_session_day", "session_bounds", "session_days", "trading_hours",
]

EXTENDED_OPEN = time(4, 0)
EXTENDED_CLOSE = time(20, 0)
EARLY_EXTENDED_CLOSE = time(17, 0)


def next_open(t: datetime) -> datetime:
    """The next regular-session open at or after `t`."""
    day = exchange_date(t)
    bounds = session_bounds(day)
    if bounds is not None and bounds[0] >= t:
        return bounds[0]
    return session_bounds(next_session_day(day))[0]


def next_close(t: datetime) -> datetime:
    """The first regular-session close strictly after `t`."""
    day = exchange_date(t)
    bounds = session_bounds(day)
    if bounds is not None and t < bounds[1]:
        return bounds[1]
    return session_bounds(next_session_day(day))[1]


def current_session_day(t: datetime) -> date:
    """The session running at `t`, or else the most recent one that already opened."""
    day = exchange_date(t)
    bounds = session_bounds(day)
    if bounds is not None and bounds[0] <= t:
        return day
    return previous_session_day(day)


def default_start(now: datetime) -> datetime:
    """The open of the current or most recent regular session (Saturday -> Friday 09:30 NY)."""
    return session_bounds(current_session_day(now))[0]


def session_days(last: date, count: int) -> list[date]:
    """The `count` most recent session days up to `last` (inclusive), oldest first."""
    days = [last] if is_session_day(last) else []
    while len(days) < count:
        days.insert(0, previous_session_day(days[0] if days else last))
    return days[-count:] if count > 0 else []


def duration_start(end: datetime, days: int) -> datetime:
    """Where IB's duration "N D" begins for a request ending at `end`: N trading days, i.e. the
    open of the N-th most recent session that opened at or before `end` (1 D on a Monday
    morning is Monday so far, not Sunday)."""
    return session_bounds(session_days(current_session_day(end), days)[0])[0]


def _hours(day: date, days: int, bounds_of) -> str:
    parts = []
    for offset in range(days):
        current = day + timedelta(days=offset)
        bounds = bounds_of(current)
        stamp = current.strftime("%Y%m%d")
        if bounds is None:
            parts.append(f"{stamp}:CLOSED")
            continue
        start, end = (b.astimezone(NY).strftime("%Y%m%d:%H%M") for b in bounds)
        parts.append(f"{start}-{end}")
    return ";".join(parts)


def _extended_bounds(day: date) -> tuple[datetime, datetime] | None:
    if not is_session_day(day):
        return None
    close = EARLY_EXTENDED_CLOSE if is_early_close(day) else EXTENDED_CLOSE
    return ny_instant(day, EXTENDED_OPEN), ny_instant(day, close)


def liquid_hours(day: date, days: int = 3) -> str:
    """IB liquidHours from `day` on in New York time, e.g.
    "20261120:0930-20261120:1600;20261121:CLOSED"."""
    return _hours(day, days, session_bounds)


def trading_hours(day: date, days: int = 3) -> str:
    """IB tradingHours for stocks (04:00-20:00 New York; 17:00 on early closes)."""
    return _hours(day, days, _extended_bounds)
