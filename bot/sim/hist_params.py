"""Parsing of reqHistoricalData parameters: bar size, duration and end time (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.sim import calendar

NY = ZoneInfo("America/New_York")
DAY_S = 86_400
WEEK_S = 7 * DAY_S
MONTH_S = 31 * DAY_S
"""Bar sizes of one bar per session, per calendar week and per calendar month (as seconds)."""
SMALL_BAR_S = 30
"""Bars of this size or smaller fall under IB's hard pacing rules; larger ones are soft."""
UNIT_SECONDS: dict[str, int] = {
    "sec": 1,
    "secs": 1,
    "min": 60,
    "mins": 60,
    "hour": 3600,
    "hours": 3600,
    "day": 86_400,
    "week": WEEK_S,
    "month": MONTH_S,
}
DURATION_SECONDS: dict[str, int] = {
    "S": 1,
    "D": 86_400,
    "W": 7 * 86_400,
    "M": 30 * 86_400,
    "Y": 365 * 86_400,
}
BAR_SIZES = frozenset({1, 5, 10, 15, 30, 60, 120, 180, 300, 600, 900, 1200, 1800, 3600, 7200,
                       10_800, 14_400, 28_800, DAY_S, WEEK_S, MONTH_S})
"""The bar sizes IB lists as legal (1 secs ... 1 month), in seconds."""
WHAT_TO_SHOW = frozenset({"TRADES", "MIDPOINT", "BID", "ASK", "BID_ASK", "ADJUSTED_LAST",
                          "HISTORICAL_VOLATILITY", "OPTION_IMPLIED_VOLATILITY"})
"""whatToShow values served for stocks and indexes."""
OPTION_WHAT_TO_SHOW = frozenset({"TRADES", "MIDPOINT"})
"""whatToShow values served for (unexpired) options."""
REAL_TIME_WHAT = frozenset({"TRADES", "MIDPOINT", "BID", "ASK"})
"""whatToShow values of reqRealTimeBars."""


def bar_seconds(text: str) -> int | None:
    """``'1 min'`` -> 60, ``'5 secs'`` -> 5, ``'1 day'`` -> DAY_S; None when not a bar size IB
    lists as legal."""
    parts = text.split()
    if len(parts) != 2 or not parts[0].isdigit() or parts[1] not in UNIT_SECONDS:
        return None
    seconds = int(parts[0]) * UNIT_SECONDS[parts[1]]
    return seconds if seconds in BAR_SIZES else None


def duration_seconds(text: str) -> int | None:
    """``'1 D'`` -> 86400, ``'1800 S'`` -> 1800; None when malformed."""
    parts = text.split()
    if len(parts) != 2 or not parts[0].isdigit() or parts[1] not in DURATION_SECONDS:
        return None
    return int(parts[0]) * DURATION_SECONDS[parts[1]]


def window_start(text: str, end: datetime) -> datetime | None:
    """Where a request for duration ``text`` ending at ``end`` begins. ``"N D"`` counts trading
    days as IB does: the open of the N-th most recent session that opened by ``end`` ("1 D" on
    a Monday before the open is Friday's session, at 09:35 it is Monday so far, never the
    weekend); other units are plain seconds back from ``end``. None when malformed."""
    seconds = duration_seconds(text)
    if seconds is None:
        return None
    count, unit = text.split()
    if unit == "D":
        return calendar.duration_start(end, int(count)) if int(count) > 0 else end
    return end - timedelta(seconds=seconds)


def end_time(text: str, now: datetime) -> datetime | None:
    """The request's end: '' means now; ``YYYYMMDD-HH:MM:SS`` is UTC; ``YYYYMMDD HH:MM:SS [tz]``
    is in the given zone (US/Eastern when absent, TWS's zone here); None when malformed."""
    text = text.strip()
    if not text:
        return now
    try:
        if "-" in text[8:9]:
            return datetime.strptime(text, "%Y%m%d-%H:%M:%S").replace(tzinfo=UTC)
        date_part, _, rest = text.partition(" ")
        clock, _, zone = rest.strip().partition(" ")
        if not clock:
            return datetime.strptime(date_part, "%Y%m%d").replace(hour=23, minute=59, tzinfo=NY)
        tz = ZoneInfo(zone.strip()) if zone.strip() else NY
        return datetime.strptime(f"{date_part} {clock}", "%Y%m%d %H:%M:%S").replace(tzinfo=tz)
    except (ValueError, KeyError, OSError):
        return None
