"""Specification of bot.trading.market_hours: the New York date and session, across DST, on the NYSE
calendar (holidays have no session, early-close days end at 13:00)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from pure_helpers import ny

from bot.trading.market_hours import (
    NY,
    is_regular_hours,
    is_session_day,
    minutes_to_close,
    session_close,
    session_open,
    trading_day,
)

UTC = UTC


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        # 23:30 New York on Monday 2024-06-10 is 03:30 UTC on Tuesday: still Monday.
        (datetime(2024, 6, 11, 3, 30, tzinfo=UTC), date(2024, 6, 10)),
        (ny(2024, 6, 10, 23, 30), date(2024, 6, 10)),
        (ny(2024, 6, 10, 0, 0), date(2024, 6, 10)),
        # 04:00 UTC on Tuesday in summer (EDT, UTC-4) is midnight New York: Tuesday.
        (datetime(2024, 6, 11, 4, 0, tzinfo=UTC), date(2024, 6, 11)),
        # In winter (EST, UTC-5) 04:30 UTC is still the previous New York day.
        (datetime(2024, 1, 16, 4, 30, tzinfo=UTC), date(2024, 1, 15)),
        # Another zone is converted too: 09:00 in Tokyo on Tuesday is 20:00 New York Monday.
        (datetime(2024, 6, 11, 9, 0, tzinfo=timezone(timedelta(hours=9))), date(2024, 6, 10)),
    ],
)
def test_trading_day_is_the_new_york_date(ts: datetime, expected: date) -> None:
    assert trading_day(ts) == expected


@pytest.mark.parametrize(
    ("day", "open_utc", "close_utc"),
    [
        (date(2024, 6, 10), utc(2024, 6, 10, 13, 30), utc(2024, 6, 10, 20, 0)),
        (date(2024, 1, 16), utc(2024, 1, 16, 14, 30), utc(2024, 1, 16, 21, 0)),
        # DST starts on Sunday 2024-03-10: Friday before is EST, Monday after is EDT.
        (date(2024, 3, 8), utc(2024, 3, 8, 14, 30), utc(2024, 3, 8, 21, 0)),
        (date(2024, 3, 11), utc(2024, 3, 11, 13, 30), utc(2024, 3, 11, 20, 0)),
        # DST ends on Sunday 2024-11-03.
        (date(2024, 11, 1), utc(2024, 11, 1, 13, 30), utc(2024, 11, 1, 20, 0)),
        (date(2024, 11, 4), utc(2024, 11, 4, 14, 30), utc(2024, 11, 4, 21, 0)),
    ],
)
def test_session_bounds_are_utc_and_follow_dst(day: date, open_utc: datetime,
                                               close_utc: datetime) -> None:
    assert session_open(day) == open_utc
    assert session_close(day) == close_utc
    assert session_open(day).utcoffset() == timedelta(0)
    assert session_close(day).astimezone(NY).hour == 16


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (ny(2024, 6, 10, 9, 29, 59), False),
        (ny(2024, 6, 10, 9, 30), True),
        (ny(2024, 6, 10, 12, 0), True),
        (ny(2024, 6, 10, 15, 59, 59), True),
        (ny(2024, 6, 10, 16, 0), False),
        (ny(2024, 6, 10, 23, 30), False),
        (ny(2024, 6, 14, 10, 0), True),    # Friday
        (ny(2024, 6, 15, 10, 0), False),   # Saturday
        (ny(2024, 6, 16, 10, 0), False),   # Sunday
        (datetime(2024, 3, 11, 13, 45, tzinfo=UTC), True),   # 09:45 EDT
        (datetime(2024, 3, 8, 14, 15, tzinfo=UTC), False),   # 09:15 EST
    ],
)
def test_is_regular_hours(ts: datetime, expected: bool) -> None:
    assert is_regular_hours(ts) is expected


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (ny(2024, 6, 10, 15, 50), 10.0),
        (ny(2024, 6, 10, 15, 59, 30), 0.5),
        (ny(2024, 6, 10, 9, 30), 390.0),
        (ny(2024, 6, 10, 16, 0), 0.0),
        (ny(2024, 6, 10, 16, 15), -15.0),
        # 03:30 UTC Tuesday is Monday 23:30 New York: 450 minutes after Monday's close.
        (datetime(2024, 6, 11, 3, 30, tzinfo=UTC), -450.0),
        (ny(2024, 11, 4, 15, 0), 60.0),
    ],
)
def test_minutes_to_close(ts: datetime, expected: float) -> None:
    assert minutes_to_close(ts) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    ("day", "close_utc"),
    [
        (date(2026, 11, 27), utc(2026, 11, 27, 18, 0)),  # day after Thanksgiving, EST: 13:00
        (date(2026, 12, 24), utc(2026, 12, 24, 18, 0)),  # Christmas Eve, a Thursday
        (date(2025, 7, 3), utc(2025, 7, 3, 17, 0)),      # July 3rd, a Thursday, EDT: 13:00
        (date(2026, 11, 25), utc(2026, 11, 25, 21, 0)),  # the day before Thanksgiving: 16:00
        (date(2026, 11, 30), utc(2026, 11, 30, 21, 0)),  # the Monday after: 16:00
    ],
)
def test_early_close_days_end_at_13_new_york(day: date, close_utc: datetime) -> None:
    assert session_open(day).astimezone(NY).time() == time(9, 30)
    assert session_close(day) == close_utc


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 11, 26),  # Thanksgiving
        date(2026, 12, 25),  # Christmas
        date(2026, 4, 3),    # Good Friday
        date(2026, 7, 3),    # Independence Day observed (July 4th is a Saturday)
        date(2026, 11, 28),  # Saturday
    ],
)
def test_holidays_and_weekends_have_no_session(day: date) -> None:
    assert is_session_day(day) is False
    for fn in (session_open, session_close):
        with pytest.raises(ValueError, match=f"no session on {day.isoformat()}"):
            fn(day)
    assert not any(is_regular_hours(ny(day.year, day.month, day.day, hour)) for hour in range(24))


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (ny(2026, 11, 27, 9, 30), True),
        (ny(2026, 11, 27, 12, 59, 59), True),
        (ny(2026, 11, 27, 13, 0), False),
        (ny(2026, 11, 27, 15, 0), False),
        (ny(2026, 11, 25, 15, 0), True),
        (ny(2026, 11, 26, 10, 0), False),   # Thanksgiving
        (ny(2026, 12, 25, 10, 0), False),   # Christmas
    ],
)
def test_is_regular_hours_follows_the_calendar(ts: datetime, expected: bool) -> None:
    assert is_regular_hours(ts) is expected


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (ny(2026, 11, 27, 12, 50), 10.0),
        (ny(2026, 11, 27, 9, 30), 210.0),
        (ny(2026, 11, 27, 14, 0), -60.0),
        (ny(2026, 11, 25, 12, 50), 190.0),
        # No session: the last close has passed (Wednesday 16:00 -> Thursday 10:00 is 18 h).
        (ny(2026, 11, 26, 10, 0), -1080.0),
        # Christmas after the 13:00 close of Christmas Eve: 21 h.
        (ny(2026, 12, 25, 10, 0), -1260.0),
        # Saturday: Friday's 16:00 close was 18 h ago.
        (ny(2024, 6, 15, 10, 0), -1080.0),
    ],
)
def test_minutes_to_close_follows_the_calendar(ts: datetime, expected: float) -> None:
    assert minutes_to_close(ts) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("fn", [trading_day, is_regular_hours, minutes_to_close])
def test_naive_datetimes_are_refused(fn) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        fn(datetime(2024, 6, 10, 12, 0))
