"""Specification of bot.trading.exchange_calendar: the NYSE early closes, and one set of rules for the
bot's market hours and the simulator's calendar."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from bot.sim import calendar as sim_calendar
from bot.trading import exchange_calendar as xc
from bot.trading import market_hours


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        # July 3rd on a Thursday, the Friday after Thanksgiving, Christmas Eve on a Wednesday.
        (2025, {date(2025, 7, 3), date(2025, 11, 28), date(2025, 12, 24)}),
        # July 3rd 2026 is a Friday: the observed Independence Day, not an early close.
        (2026, {date(2026, 11, 27), date(2026, 12, 24)}),
        # July 3rd 2027 is a Saturday; Christmas Eve a Friday: the observed Christmas.
        (2027, {date(2027, 11, 26)}),
        # July 3rd 2028 is a Monday; Christmas Eve a Sunday.
        (2028, {date(2028, 7, 3), date(2028, 11, 24)}),
    ],
)
def test_early_closes(year: int, expected: set[date]) -> None:
    assert xc.early_closes(year) == expected
    assert all(xc.is_early_close(day) and xc.is_session_day(day) for day in expected)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 11, 25), date(2026, 11, 27)),  # over Thanksgiving
        (date(2026, 12, 24), date(2026, 12, 28)),  # over Christmas and the weekend
        (date(2026, 4, 2), date(2026, 4, 6)),      # over Good Friday and the weekend
    ],
)
def test_next_and_previous_session_day_skip_holidays(day: date, expected: date) -> None:
    assert xc.next_session_day(day) == expected
    assert xc.previous_session_day(expected) == day


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        xc.exchange_date(datetime(2026, 11, 27, 12, 0))


@pytest.mark.parametrize("year", [2024, 2025, 2026, 2027, 2028])
def test_the_bot_and_the_simulator_see_the_same_sessions(year: int) -> None:
    first = date(year, 1, 1)
    for day in (first + timedelta(days=n) for n in range(366)):
        bounds = sim_calendar.session_bounds(day)
        assert market_hours.is_session_day(day) is (bounds is not None), day
        if bounds is not None:
            assert (market_hours.session_open(day), market_hours.session_close(day)) == bounds
