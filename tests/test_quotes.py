"""Specification of bot.trading.quotes: which quotes and bars are dropped, and how drops are counted."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from pure_helpers import bar, ny, option_quote

from bot.messages import Bar, Quote, Stock
from bot.trading.quotes import DropCounter, bar_problem, quote_problem

NOW = ny(2024, 6, 10, 10, 0)


@pytest.mark.parametrize(
    ("bid", "ask", "age_s", "expected"),
    [
        (1.50, 1.55, 0.0, None),
        (1.50, 1.50, 0.0, None),            # locked market is fine
        (1.50, 1.55, 30.0, None),           # exactly max age is still fresh
        (1.50, 1.55, -2.0, None),           # a quote stamped slightly ahead of our clock
        (1.50, 1.55, 30.5, "stale"),
        (-1.0, 1.55, 0.0, "missing"),       # IB's "no bid"
        (1.50, -1.0, 0.0, "missing"),
        (math.nan, 1.55, 0.0, "nan"),
        (1.50, math.inf, 0.0, "nan"),
        (-0.05, 1.55, 0.0, "negative"),
        (0.0, 0.05, 0.0, "zero"),           # nobody bids for the option
        (1.50, 0.0, 0.0, "zero"),
        (1.60, 1.55, 0.0, "crossed"),
        (1.60, 1.55, 99.0, "crossed"),      # malformed wins over stale
        (math.nan, 0.0, 0.0, "nan"),        # the bid is checked first
    ],
)
def test_quote_problem(bid: float, ask: float, age_s: float, expected: str | None) -> None:
    quote = option_quote(590, bid, ask, NOW - timedelta(seconds=age_s))

    assert quote_problem(quote, NOW, max_age_s=30.0) == expected


def test_missing_fields_and_stock_quotes() -> None:
    absent = Quote(instrument=Stock("SPY"), bid=None, ask=591.0, last=591.0,  # type: ignore[arg-type]
                   ts=NOW)
    stock = Quote(instrument=Stock("SPY"), bid=590.99, ask=591.01, last=math.nan, ts=NOW)

    assert quote_problem(absent, NOW, 5.0) == "missing"
    assert quote_problem(stock, NOW, 5.0) is None  # no trade yet (last NaN) is fine


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, None),
        ({"open": 590.0, "high": 592.0, "low": 589.0, "close": 591.0, "volume": 0.0}, None),
        ({"close": math.nan}, "nan"),
        ({"volume": math.inf}, "nan"),
        ({"low": -1.0}, "negative"),
        ({"volume": -5.0}, "negative"),
        ({"open": 0.0, "low": 0.0}, "zero"),
        ({"high": 589.0, "low": 592.0}, "inverted"),
        ({"close": 593.0}, "outside range"),
        ({"open": 588.0}, "outside range"),
    ],
)
def test_bar_problem(fields: dict, expected: str | None) -> None:
    base = bar(590.0, NOW, high=591.0, low=589.0)
    candidate = Bar(**{**{f: getattr(base, f) for f in Bar.__slots__}, **fields})

    assert bar_problem(candidate) == expected


def test_drop_counter_counts_per_reason_and_in_total() -> None:
    counter = DropCounter()

    for reason in ("stale", "crossed", "stale", "nan", "stale"):
        counter.count(reason)
    snap = counter.snapshot()
    counter.count("zero")

    assert snap == {"crossed": 1, "nan": 1, "stale": 3}
    assert list(snap) == ["crossed", "nan", "stale"]
    assert counter.total == 6
    assert counter.snapshot()["zero"] == 1


def test_a_new_counter_is_empty() -> None:
    counter = DropCounter()

    assert (counter.snapshot(), counter.total) == ({}, 0)
