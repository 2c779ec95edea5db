"""The NYSE calendar: which New York dates hold a regular session, and when it opens and closes.

One set of rules for the bot (``bot.trading.market_hours``) and the simulator (``bot.sim.calendar``).
The exchange day is the America/New_York date; instants returned are aware UTC datetimes.
Holidays follow the NYSE rules (observed dates, Good Friday via Easter, Juneteenth since 2022)
and are computed per year, so no table goes stale; early closes (July 3rd, the day after
Thanksgiving, Christmas Eve) end the regular session at 13:00 instead of 16:00. Pure: no I/O,
no broker import, time passed in.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

NY = ZoneInfo("America/New_York")
REGULAR_OPEN = time(9, 30)
REGULAR_CLOSE = time(16, 0)
EARLY_CLOSE = time(13, 0)
MAX_SCAN_DAYS = 30  # no gap between two sessions is longer than this
ONE_OFF_CLOSURES = frozenset({date(2025, 1, 9)})  # national day of mourning
SATURDAY, SUNDAY = 5, 6  # date.weekday(), Monday is 0


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
    shift = {SATURDAY: -1, SUNDAY: 1}.get(day.weekday(), 0)
    return day + timedelta(days=shift)


def _thanksgiving(year: int) -> date:
    return _nth_weekday(year, 11, 3, 4)


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
        _thanksgiving(year),
        _observed(date(year, 12, 25)),
    }
    if date(year, 1, 1).weekday() != SATURDAY:  # NYSE skips a Saturday New Year's Day
        days.add(_observed(date(year, 1, 1)))
    if year >= 2022:
        days.add(_observed(date(year, 6, 19)))
    days |= {d for d in ONE_OFF_CLOSURES if d.year == year}
    return frozenset(days)


@lru_cache(maxsize=64)
def early_closes(year: int) -> frozenset[date]:
    """Days whose regular session ends at 13:00 New York.

    July 3rd and Christmas Eve only from Monday to Thursday (on a Friday they are the observed
    holiday, at the weekend there is no session); the day after Thanksgiving is always a Friday.
    """
    candidates = {
        date(year, 7, 3),
        _thanksgiving(year) + timedelta(days=1),
        date(year, 12, 24),
    }
    return frozenset(d for d in candidates if d.weekday() < 4 or d.month == 11)


def is_session_day(day: date) -> bool:
    """True when the exchange holds a regular session on `day` (a weekday, not a holiday)."""
    return day.weekday() < SATURDAY and day not in holidays(day.year)


def is_early_close(day: date) -> bool:
    """True when `day` holds a session that closes at 13:00 New York."""
    return is_session_day(day) and day in early_closes(day.year)


def ny_instant(day: date, clock: time) -> datetime:
    """The New York wall-clock time `clock` on `day`, as an aware UTC datetime."""
    return datetime.combine(day, clock, tzinfo=NY).astimezone(UTC)


def session_bounds(day: date) -> tuple[datetime, datetime] | None:
    """Regular hours (09:30-16:00 New York, 13:00 on early closes) as aware UTC; None if closed."""
    if not is_session_day(day):
        return None
    close = EARLY_CLOSE if day in early_closes(day.year) else REGULAR_CLOSE
    return ny_instant(day, REGULAR_OPEN), ny_instant(day, close)


def exchange_date(t: datetime) -> date:
    """The New York calendar date of the instant `t` (aware, any zone; naive: ValueError)."""
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"naive datetime {t.isoformat()}: pass an aware datetime")
    return t.astimezone(NY).date()


def is_open(t: datetime) -> bool:
    """True while a regular session is running (open inclusive, close exclusive)."""
    bounds = session_bounds(exchange_date(t))
    return bounds is not None and bounds[0] <= t < bounds[1]


def _first_session(day: date, step: int) -> date:
    for offset in range(1, MAX_SCAN_DAYS):
        candidate = day + timedelta(days=step * offset)
        if is_session_day(candidate):
            return candidate
    where = "after" if step > 0 else "before"
    raise RuntimeError(f"no session within {MAX_SCAN_DAYS} days {where} {day}")


def next_session_day(day: date) -> date:
    """The first session day strictly after `day`."""
    return _first_session(day, 1)


def previous_session_day(day: date) -> date:
    """The last session day strictly before `day`."""
    return _first_session(day, -1)
