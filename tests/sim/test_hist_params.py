"""reqHistoricalData parameters: where a duration's window starts ("N D" in trading days)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.sim.hist_params import window_start


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


MONDAY_0935 = utc(2026, 11, 23, 14, 35)


@pytest.mark.parametrize(
    ("text", "end", "expected"),
    [
        ("1 D", MONDAY_0935, utc(2026, 11, 23, 14, 30)),  # Monday's open
        ("2 D", MONDAY_0935, utc(2026, 11, 20, 14, 30)),  # Friday's open, not Saturday
        ("1 D", utc(2026, 11, 23, 13, 0), utc(2026, 11, 20, 14, 30)),  # Monday pre-market
        ("1 D", utc(2026, 11, 28, 15, 0), utc(2026, 11, 27, 14, 30)),  # Saturday: Friday
        ("1800 S", MONDAY_0935, utc(2026, 11, 23, 14, 5)),  # seconds stay wall seconds
        ("1 W", MONDAY_0935, utc(2026, 11, 16, 14, 35)),
        ("0 D", MONDAY_0935, MONDAY_0935),
        ("1 X", MONDAY_0935, None),
        ("D", MONDAY_0935, None),
    ],
)
def test_window_start(text, end, expected):
    assert window_start(text, end) == expected
