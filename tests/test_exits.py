"""Specification of bot.trading.exits: time exits (on the NYSE calendar), emulated OCO triggers and
realized P&L."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from pure_helpers import ny, risk_cfg

from bot.trading.brackets import BracketPrices
from bot.trading.exits import emulated_exit, time_exit_reason

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
