"""Dividends of the simulated underlyings (bot.sim.dividends): the schedule, the present value
an option's computations carry as pvDividend, and the value of IB's dividends tick (456)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import pytest

from bot.sim import dividends

WEDNESDAY_OPEN = datetime(2026, 11, 18, 14, 30, tzinfo=UTC)  # 09:30 New York
SPY_EX = datetime(2026, 12, 18, 14, 30, tzinfo=UTC)  # the third Friday of December, at the open
RATE = 0.045


@pytest.mark.parametrize("symbol, start, end, expected", [
    ("SPY", date(2026, 11, 1), date(2027, 3, 31), [(date(2026, 12, 18), 1.78),
                                                   (date(2027, 3, 19), 1.78)]),
    ("QQQ", date(2026, 12, 1), date(2026, 12, 31), [(date(2026, 12, 21), 0.72)]),  # a Monday
    ("SPY", date(2026, 12, 18), date(2026, 12, 31), []),  # the start itself is excluded
    ("TSLA", date(2026, 1, 1), date(2027, 12, 31), []),  # pays none
    ("SIMCO", date(2026, 1, 1), date(2027, 12, 31), []),  # an unlisted symbol pays none
])
def test_ex_dates_follow_each_payers_schedule(symbol, start, end, expected) -> None:
    assert dividends.ex_dates(symbol, start, end) == expected


@pytest.mark.parametrize("until, expected", [
    (datetime(2026, 12, 17, 21, 0, tzinfo=UTC), 0.0),  # expires the day before the ex-date
    (datetime(2026, 12, 18, 21, 0, tzinfo=UTC),  # expires on the ex-date: the stock went ex
     1.78 * math.exp(-RATE * (SPY_EX - WEDNESDAY_OPEN).total_seconds() / (365 * 86400))),
])
def test_the_present_value_counts_the_dividends_going_ex_before_expiry(until, expected) -> None:
    assert dividends.pv_dividends("SPY", WEDNESDAY_OPEN, until, RATE) == pytest.approx(expected)


def test_an_ex_date_already_passed_at_the_open_no_longer_counts() -> None:
    after_open = datetime(2026, 12, 18, 15, 0, tzinfo=UTC)
    until = datetime(2027, 1, 15, 21, 0, tzinfo=UTC)
    assert dividends.pv_dividends("SPY", after_open, until, RATE) == 0.0


@pytest.mark.parametrize("symbol, now, tick", [
    ("SPY", WEDNESDAY_OPEN, "7.12,7.12,20261218,1.78"),
    ("SPY", datetime(2026, 12, 21, 15, 0, tzinfo=UTC), "7.12,7.12,20270319,1.78"),  # after ex
    ("QQQ", WEDNESDAY_OPEN, "2.88,2.88,20261221,0.72"),
    ("TSLA", WEDNESDAY_OPEN, "0,0,,"),
])
def test_the_dividends_tick_is_past_next_twelve_months_next_date_and_amount(
    symbol, now, tick
) -> None:
    assert dividends.dividends_tick(symbol, now) == tick
