"""Specification of bot.trading.exits: time exits (on the NYSE calendar), emulated OCO triggers and
realized P&L."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from pure_helpers import ny, risk_cfg

from bot.trading.brackets import BracketPrices
from bot.trading.exits import closing_terms, emulated_exit, market_clock, time_exit_reason

CFG = risk_cfg()


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)  # max hold 20 min, flat 10 min before the close


@pytest.mark.parametrize(
    ("opened_at", "now", "expected"),
    [
        (ny(2024, 6, 10, 10, 0), ny(2024, 6, 10, 10, 19, 59), None),
        (ny(2024, 6, 10, 10, 0), ny(2024, 6, 10, 10, 20), "max hold 20 min reached"),
        (ny(2024, 6, 10, 10, 0), ny(2024, 6, 10, 11, 0), "max hold 20 min reached"),
        (ny(2024, 6, 10, 15, 45), ny(2024, 6, 10, 15, 49, 59), None),
        (ny(2024, 6, 10, 15, 45), ny(2024, 6, 10, 15, 50), "flat 10 min before the close"),
        (ny(2024, 6, 10, 15, 55), ny(2024, 6, 10, 16, 5), "flat 10 min before the close"),
        # both apply: the max hold is named first
        (ny(2024, 6, 10, 15, 20), ny(2024, 6, 10, 15, 55), "max hold 20 min reached"),
        # winter (EST): 20:50 UTC is 15:50 New York
        (utc(2024, 1, 16, 20, 45), utc(2024, 1, 16, 20, 50), "flat 10 min before the close"),
        # summer (EDT): 19:50 UTC is 15:50 New York, 18:50 UTC is 14:50
        (utc(2024, 6, 10, 18, 45), utc(2024, 6, 10, 18, 50), None),
        (utc(2024, 6, 10, 19, 45), utc(2024, 6, 10, 19, 50), "flat 10 min before the close"),
    ],
)
def test_time_exit_reason(opened_at: datetime, now: datetime, expected: str | None) -> None:
    assert time_exit_reason(opened_at, now, CFG) == expected


@pytest.mark.parametrize(
    ("hold", "flat", "held_min", "now", "expected"),
    [
        (5, 0, 4, ny(2024, 6, 10, 15, 59), None),
        (5, 0, 5, ny(2024, 6, 10, 12, 0), "max hold 5 min reached"),
        (390, 0, 30, ny(2024, 6, 10, 16, 0), "flat 0 min before the close"),
        (390, 30, 10, ny(2024, 6, 10, 15, 31), "flat 30 min before the close"),
        (390, 30, 10, ny(2024, 6, 10, 15, 29), None),
    ],
)
def test_time_exit_reason_follows_the_settings(hold, flat, held_min, now, expected) -> None:
    cfg = risk_cfg(max_hold_minutes=hold, flat_before_close_minutes=flat)

    assert time_exit_reason(now - timedelta(minutes=held_min), now, cfg) == expected


@pytest.mark.parametrize(
    ("opened_at", "now", "expected"),
    [
        # Day after Thanksgiving 2026: the session ends at 13:00, so flat from 12:50 New York.
        (ny(2026, 11, 27, 12, 35), ny(2026, 11, 27, 12, 49, 59), None),
        (ny(2026, 11, 27, 12, 35), ny(2026, 11, 27, 12, 50), "flat 10 min before the close"),
        (ny(2026, 11, 27, 12, 55), ny(2026, 11, 27, 13, 0), "flat 10 min before the close"),
        # in UTC (EST): 17:50 UTC is 12:50 New York
        (utc(2026, 11, 27, 17, 45), utc(2026, 11, 27, 17, 50), "flat 10 min before the close"),
        # Christmas Eve (Thursday) and July 3rd 2025 (Thursday, EDT) close at 13:00 too.
        (ny(2026, 12, 24, 12, 45), ny(2026, 12, 24, 12, 50), "flat 10 min before the close"),
        (utc(2025, 7, 3, 16, 45), utc(2025, 7, 3, 16, 50), "flat 10 min before the close"),
        # The same wall-clock time on a regular day is hours before its 16:00 close.
        (ny(2026, 11, 25, 12, 45), ny(2026, 11, 25, 12, 50), None),
        # A position seen on a holiday: there is no close to wait for.
        (ny(2026, 11, 26, 10, 0), ny(2026, 11, 26, 10, 5), "flat 10 min before the close"),
    ],
)
def test_flat_before_close_follows_the_nyse_calendar(opened_at: datetime, now: datetime,
                                                     expected: str | None) -> None:
    assert time_exit_reason(opened_at, now, CFG) == expected


PRICES = BracketPrices(entry=1.60, take_profit=2.08, stop=1.28)


@pytest.mark.parametrize(
    ("bid", "expected"),
    [
        (2.08, "take_profit"), (2.50, "take_profit"), (2.07, None), (1.60, None), (1.29, None),
        (1.28, "stop"), (0.90, "stop"), (0.0, "stop"), (math.nan, None),
    ],
)
def test_emulated_exit(bid: float, expected: str | None) -> None:
    assert emulated_exit(bid, PRICES) == expected


@pytest.mark.parametrize(
    ("step", "bid", "minutes_left", "expected"),
    [
        (0, 1.70, 60, 1.70),          # at the bid
        (1, 1.70, 60, 1.69),          # one tick lower per step
        (2, 1.70, 60, 1.68),
        (3, 1.70, 60, 1.65),          # reprice_steps done: marketable, 5 ticks under the bid
        (9, 1.70, 60, 1.65),          # bounded: never lower than that
        (9, 1.50, 60, 1.45),          # follows the bid down
        (9, 0.03, 60, 0.01),          # never under one tick
        (0, 1.70, 2, None),           # market order within 2 min of the close
        (0, 1.70, None, 1.70),        # no market time known yet: a limit
        (0, 0.0, 60, None),           # no usable bid: market
        (0, math.nan, 60, None),
        (0, None, 60, None),
    ],
)
def test_closing_terms_escalate_from_the_bid_to_a_bounded_marketable_limit_then_market(
        step, bid, minutes_left, expected) -> None:
    got = closing_terms(step, bid, 0.01, reprice_steps=3, marketable_ticks=5,
                        minutes_left=minutes_left, market_before_close_min=2)
    assert got == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(("elapsed_s", "speed", "expected_min"), [
    (0, 60, 0), (30, 60, 30), (90, 1, 1.5), (-5, 60, 0),
])
def test_market_clock_runs_on_from_the_last_bar_at_the_feeds_speed(elapsed_s, speed, expected_min):
    bar_end, received = ny(2026, 11, 18, 10, 0), utc(2026, 11, 18, 15, 0, 2)

    now = market_clock(bar_end, received, received + timedelta(seconds=elapsed_s), speed)

    assert now == bar_end + timedelta(minutes=expected_min)


def test_market_clock_is_unknown_before_the_first_bar() -> None:
    assert market_clock(None, None, utc(2026, 11, 18, 15, 0), 60) is None
