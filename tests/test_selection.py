"""Specification of bot.trading.selection: expiry choice, candidate strikes, filters and tie breaks."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest
from pure_helpers import ny, option, option_quote, options_cfg

from bot.messages import OptionChain, OptionContract, Quote, Right, Stock
from bot.trading.selection import (
    Selection,
    candidate_contracts,
    choose_expiry,
    is_monthly,
    select_option,
)

MONDAY = date(2024, 6, 10)           # Friday 2024-06-21 is June's third Friday (monthly)
NOW = ny(2024, 6, 10, 10, 0)
CHAIN = OptionChain(
    symbol="SPY",
    expirations=("20240621", "20240612", "20240610", "20240614", "20240619", "20240719", "junk"),
    strikes=(585.0, 586.0, 587.0, 588.0, 589.0, 590.0, 591.0, 592.0, 593.0, 594.0, 595.0,
             596.0, 597.0, 598.0, 599.0, 600.0, 580.0, 581.0, 582.0, 583.0, 584.0, math.nan),
    multiplier=100,
    trading_class="SPY",
)


@pytest.mark.parametrize(
    ("expirations", "min_dte", "max_dte", "rule", "expected"),
    [
        (CHAIN.expirations, 0, 7, "nearest", "20240610"),          # 0 DTE allowed
        (CHAIN.expirations, 1, 7, "nearest", "20240612"),
        (CHAIN.expirations, 3, 7, "nearest", "20240614"),
        (CHAIN.expirations, 5, 7, "nearest", None),                # nothing on 15..17
        (CHAIN.expirations, 11, 11, "nearest", "20240621"),        # inclusive bounds
        (CHAIN.expirations, 10, 14, "nearest", "20240621"),        # the monthly is nearest
        (CHAIN.expirations, 9, 14, "nearest_weekly", "20240619"),  # a weekly (Wed) comes first
        (("20240621", "20240624"), 10, 14, "nearest_weekly", "20240624"),  # monthly skipped
        (("20240621",), 10, 14, "nearest_weekly", "20240621"),     # only the monthly: take it
        (("20240607", "20240603"), 0, 7, "nearest", None),         # already expired
        ((), 0, 7, "nearest", None),
    ],
)
def test_choose_expiry(expirations, min_dte, max_dte, rule, expected) -> None:
    chain = OptionChain(symbol="SPY", expirations=expirations, strikes=(590.0,))
    cfg = options_cfg(min_dte=min_dte, max_dte=max_dte, expiry_rule=rule)

    assert choose_expiry(chain, MONDAY, cfg) == expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [(date(2024, 6, 21), True), (date(2024, 6, 14), False), (date(2024, 6, 28), False),
     (date(2024, 3, 15), True), (date(2024, 3, 14), False), (date(2024, 8, 16), True),
     # the third Friday is a holiday: the monthly expires the Thursday before
     (date(2026, 6, 18), True), (date(2026, 6, 19), False),   # Juneteenth
     (date(2025, 4, 17), True), (date(2025, 4, 18), False)],  # Good Friday
)
def test_is_monthly(day: date, expected: bool) -> None:
    assert is_monthly(day) is expected


@pytest.mark.parametrize(
    ("spot", "selection", "window", "expected_strikes"),
    [
        (590.40, "strike_window", 3, [588.0, 589.0, 590.0, 591.0, 592.0, 593.0]),
        (590.00, "strike_window", 3, [588.0, 589.0, 590.0, 591.0, 592.0, 593.0]),  # at-money below
        (590.00, "strike_window", 1, [590.0, 591.0]),
        (581.50, "strike_window", 3, [580.0, 581.0, 582.0, 583.0, 584.0]),  # chain edge: fewer
        (590.40, "delta", 2, [585.0, 586.0, 587.0, 588.0, 589.0, 590.0,
                              591.0, 592.0, 593.0, 594.0, 595.0, 596.0]),
        (620.00, "strike_window", 2, [599.0, 600.0]),
    ],
)
def test_candidate_contracts_window(spot, selection, window, expected_strikes) -> None:
    cfg = options_cfg(selection=selection, strike_window=window, min_dte=1)

    got = candidate_contracts(CHAIN, spot, Right.PUT, MONDAY, cfg)

    assert [c.strike for c in got] == expected_strikes
    assert got[0] == OptionContract(symbol="SPY", expiry="20240612", strike=expected_strikes[0],
                                    right=Right.PUT, multiplier=100, trading_class="SPY")


@pytest.mark.parametrize("spot", [math.nan, 0.0, -5.0])
def test_candidate_contracts_need_a_spot(spot: float) -> None:
    assert candidate_contracts(CHAIN, spot, Right.CALL, MONDAY, options_cfg()) == ()


def test_candidate_contracts_need_an_expiry() -> None:
    cfg = options_cfg(min_dte=15, max_dte=20)

    assert candidate_contracts(CHAIN, 590.0, Right.CALL, MONDAY, cfg) == ()


def q(strike: float, bid: float = 1.50, ask: float = 1.56, *, volume: float = 500,
      delta: float | None = None, age_s: float = 0.0, right: Right = Right.CALL) -> Quote:
    return option_quote(strike, bid, ask, NOW - timedelta(seconds=age_s), volume=volume,
                        delta=delta, right=right)


def keys(selection: Selection) -> str | None:
    return selection.contract.key if selection.contract else None


@pytest.mark.parametrize(
    ("quotes", "spot", "expected"),
    [
        ([q(589), q(590), q(591)], 590.40, "SPY 20240614 590C"),
        ([q(589), q(590), q(591)], 590.60, "SPY 20240614 591C"),
        # Equal distance: the tighter spread wins ...
        ([q(590, 1.50, 1.60), q(591, 1.20, 1.25)], 590.50, "SPY 20240614 591C"),
        ([q(590, 1.50, 1.55), q(591, 1.20, 1.30)], 590.50, "SPY 20240614 590C"),
        # ... then the higher volume ...
        ([q(590, volume=100), q(591, volume=900)], 590.50, "SPY 20240614 591C"),
        # ... then the lower strike.
        ([q(591), q(590)], 590.50, "SPY 20240614 590C"),
        # Float noise does not decide: 100.1 is 0.1 from both 100.0 and 100.2.
        ([q(100.2, 1.50, 1.56), q(100.0, 1.50, 1.56)], 100.1, "SPY 20240614 100C"),
    ],
)
def test_strike_window_picks_the_nearest_strike_with_tie_breaks(quotes, spot, expected) -> None:
    selection = select_option(quotes, spot, Right.CALL, NOW, options_cfg())

    assert keys(selection) == expected
    assert selection.rejected == ()


def test_the_reason_gives_the_figures() -> None:
    quotes = [q(590, 1.50, 1.56, volume=1200)]

    selection = select_option(quotes, 590.40, Right.CALL, NOW, options_cfg())

    assert selection.quote is not None and selection.quote.ask == 1.56
    assert selection.reason == ("SPY 20240614 590C: strike 590 nearest to spot 590.40, "
                                "spread 3.9%, volume 1200, ask 1.56")


@pytest.mark.parametrize(
    ("quote", "why"),
    [
        (q(590, 1.50, 1.70), "spread 12.5% > 10%"),
        (q(590, volume=9), "volume 9 < 10"),
        (q(590, 0.45, 0.48), "ask 0.48 < min premium 0.50"),
        (q(590, age_s=31), "stale"),
        (q(590, 1.60, 1.50), "crossed"),
        (q(590, 0.0, 0.05), "zero"),
        (q(590, math.nan, 1.50), "nan"),
        (q(590, right=Right.PUT), "right P, wanted C"),
    ],
)
def test_each_filter_rejects_with_its_figures(quote: Quote, why: str) -> None:
    selection = select_option([quote, q(595)], 590.0, Right.CALL, NOW, options_cfg(min_premium=0.5))

    assert keys(selection) == "SPY 20240614 595C"
    assert selection.rejected == ((quote.instrument.key, why),)


@pytest.mark.parametrize(
    "quote",
    [
        q(590, 0.95, 1.05),              # spread exactly 10% of the mid
        q(590, volume=10),               # volume exactly the minimum
        q(590, 0.10, 0.10),              # ask exactly the minimum premium (locked)
    ],
)
def test_the_filter_edges_pass(quote: Quote) -> None:
    selection = select_option([quote], 590.0, Right.CALL, NOW, options_cfg())

    assert (keys(selection), selection.rejected) == ("SPY 20240614 590C", ())


def test_nothing_qualifies_summarises_the_rejections() -> None:
    quotes = [q(588, 1.0, 1.2), q(589, 1.0, 1.3), q(590, volume=3), q(591, 1.0, 1.2),
              q(592, volume=0), q(593, age_s=90)]

    selection = select_option(quotes, 590.0, Right.CALL, NOW, options_cfg())

    assert (selection.contract, selection.quote) == (None, None)
    assert selection.reason == "no candidate passed: 3 spread>10%, 2 volume<10, 1 stale"
    assert [k for k, _ in selection.rejected] == [x.instrument.key for x in quotes]


@pytest.mark.parametrize(
    ("quotes", "spot", "reason"),
    [
        ([], 590.0, "no candidate passed: no quotes"),
        ([q(590)], math.nan, "invalid spot nan"),
        ([Quote(instrument=Stock("SPY"), bid=590.0, ask=590.1, last=590.0, ts=NOW)], 590.0,
         "no candidate passed: 1 not an option"),
    ],
)
def test_degenerate_inputs(quotes, spot, reason) -> None:
    selection = select_option(quotes, spot, Right.CALL, NOW, options_cfg())

    assert (selection.contract, selection.reason) == (None, reason)


DELTA = options_cfg(selection="delta", target_delta=0.40)


@pytest.mark.parametrize(
    ("quotes", "right", "expected"),
    [
        ([q(588, delta=0.62), q(590, delta=0.51), q(592, delta=0.41), q(594, delta=0.30)],
         Right.CALL, "SPY 20240614 592C"),
        # puts carry negative deltas: the absolute value is compared
        ([q(588, delta=-0.33, right=Right.PUT), q(590, delta=-0.49, right=Right.PUT),
          q(586, delta=-0.20, right=Right.PUT)], Right.PUT, "SPY 20240614 588P"),
        # 0.35 and 0.45 are equally far from 0.40: the tighter spread wins
        ([q(590, 1.50, 1.60, delta=0.45), q(592, 1.20, 1.25, delta=0.35)], Right.CALL,
         "SPY 20240614 592C"),
    ],
)
def test_delta_mode_targets_the_delta(quotes, right, expected) -> None:
    assert keys(select_option(quotes, 590.0, right, NOW, DELTA)) == expected


def test_delta_mode_rejects_quotes_without_delta() -> None:
    quotes = [q(590), q(591, delta=math.nan), q(592, delta=0.30)]

    selection = select_option(quotes, 590.0, Right.CALL, NOW, DELTA)

    assert keys(selection) == "SPY 20240614 592C"
    assert selection.rejected == (("SPY 20240614 590C", "no delta"),
                                  ("SPY 20240614 591C", "no delta"))
    assert selection.reason.startswith("SPY 20240614 592C: delta 0.30 nearest to target 0.40")


def test_option_helper_key_format() -> None:
    assert option(590.5, Right.PUT).key == "SPY 20240614 590.5P"
