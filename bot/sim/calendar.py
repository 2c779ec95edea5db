"""US equity exchange calendar: regular sessions, NYSE holidays and early closes, IB hour strings.

All instants returned are aware UTC datetimes; the exchange day is the America/New_York date.
Holidays follow the NYSE rules (observed dates, Good Friday, Juneteenth since 2022) and are
computed per year, so no table goes stale; early closes end the regular session at 13:00.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

NY = ZoneInfo("America/New_York")
REGULAR_OPEN = time(9, 30)
REGULAR_CLOSE = time(16, 0)
EARLY_CLOSE = time(13, 0)
EXTENDED_OPEN = time(4, 0)
EXTENDED_CLOSE = time(20, 0)
EARLY_EXTENDED_CLOSE = time(17, 0)
MAX_SCAN_DAYS = 30  # no gap between two sessions is longer than this
ONE_OFF_CLOSURES = frozenset({date(2025, 1, 9)})  # national day of mourning


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th (1-based) `weekday` (Mon=0) of a month; n=-1 is the last one."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month = (h + l_ - 7 * m + 114) // 31
    return date(year, month, (h + l_ - 7 * m + 114) % 31 + 1)


def _observed(day: date) -> date:
    """Saturday holidays are observed on Friday, Sunday ones on Monday."""
    shift = {5: -1, 6: 1}.get(day.weekday(), 0)
    return day + timedelta(days=shift)


@lru_cache(maxsize=64)
def holidays(year: int) -> frozenset[date]:
    """NYSE full-day closures of `year`."""
    days = {
        _nth_weekday(year, 1, 0, 3),  # Martin Luther King Jr. Day
        _nth_weekday(year, 2, 0, 3),  # Washington's Birthday
        _easter(year) - timedelta(days=2),  # Good Friday
        _nth_weekday(year, 5, 0, -1),  # Memorial Day
        _observed(date(year, 7, 4)),
        _nth_weekday(year, 9, 0, 1),  # Labor Day
        _nth_weekday(year, 11, 3, 4),  # Thanksgiving
        _observed(date(year, 12, 25)),
    }
    if date(year, 1, 1).weekday() != 5:  # NYSE skips a Saturday New Year's Day
        days.add(_observed(date(year, 1, 1)))
    if year >= 2022:
        days.add(_observed(date(year, 6, 19)))
    days |= {d for d in ONE_OFF_CLOSURES if d.year == year}
    return frozenset(days)


@lru_cache(maxsize=64)
def early_closes(year: int) -> frozenset[date]:
    """Days whose regular session ends at 13:00 New York."""
    candidates = {
        date(year, 7, 3),
        _nth_weekday(year, 11, 3, 4) + timedelta(days=1),  # day after Thanksgiving
        date(year, 12, 24),
    }
    return frozenset(d for d in candidates if d.weekday() < 4 or d.month == 11)


def is_session_day(day: date) -> bool:
    """True when the exchange holds a regular session on `day`."""
    return day.weekday() < 5 and day not in holidays(day.year)


def _at(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, tzinfo=NY).astimezone(timezone.utc)


def session_bounds(day: date) -> tuple[datetime, datetime] | None:
    """Regular hours (09:30-16:00 New York, 13:00 on early closes) as aware UTC; None if closed."""
    if not is_session_day(day):
        return None
    close = EARLY_CLOSE if day in early_closes(day.year) else REGULAR_CLOSE
    return _at(day, REGULAR_OPEN), _at(day, close)


def exchange_date(t: datetime) -> date:
    """The New York calendar date of the instant `t`."""
    return t.astimezone(NY).date()


def is_open(t: datetime) -> bool:
    """True while a regular session is running (open inclusive, close exclusive)."""
    bounds = session_bounds(exchange_date(t))
    return bounds is not None and bounds[0] <= t < bounds[1]


def next_session_day(day: date) -> date:
    """The first session day strictly after `day`."""
    for offset in range(1, MAX_SCAN_DAYS):
        candidate = day + timedelta(days=offset)
        if is_session_day(candidate):
            return candidate
    raise RuntimeError(f"no session within {MAX_SCAN_DAYS} days after {day}")


def previous_session_day(day: date) -> date:
    """The last session day strictly before `day`."""
    for offset in range(1, MAX_SCAN_DAYS):
        candidate = day - timedelta(days=offset)
        if is_session_day(candidate):
            return candidate
    raise RuntimeError(f"no session within {MAX_SCAN_DAYS} days before {day}")


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
    close = EARLY_EXTENDED_CLOSE if day in early_closes(day.year) else EXTENDED_CLOSE
    return _at(day, EXTENDED_OPEN), _at(day, close)


def liquid_hours(day: date, days: int = 3) -> str:
    """IB liquidHours from `day` on in New York time, e.g.
    "20261120:0930-20261120:1600;20261121:CLOSED"."""
    return _hours(day, days, session_bounds)


def trading_hours(day: date, days: int = 3) -> str:
    """IB tradingHours for stocks (04:00-20:00 New York; 17:00 on early closes)."""
    return _hours(day, days, _extended_bounds)
