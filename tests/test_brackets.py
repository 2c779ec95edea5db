"""Specification of bot.trading.brackets: tick grids, rounding edges and the order specs."""

from __future__ import annotations

import math

import pytest
from pure_helpers import option

from bot.messages import OrderSpec, OrderType, Side
from bot.trading.brackets import (
    PENNY_PILOT,
    BracketPrices,
    bracket_prices,
    build_bracket,
    exit_order,
    round_to_tick,
    tick_size,
)


@pytest.mark.parametrize(
    ("symbol", "price", "tick"),
    [
        ("SPY", 0.05, 0.01), ("SPY", 2.99, 0.01), ("SPY", 3.00, 0.01), ("QQQ", 12.37, 0.01),
        ("IWM", 3.50, 0.01),
        ("AAPL", 2.99, 0.01), ("AAPL", 3.00, 0.05), ("AAPL", 7.40, 0.05), ("TSLA", 0.45, 0.01),
    ],
)
def test_tick_size(symbol: str, price: float, tick: float) -> None:
    assert tick_size(symbol, price) == tick


def test_penny_pilot_names() -> None:
    assert {"SPY", "QQQ", "IWM"} <= PENNY_PILOT
    assert "AAPL" not in PENNY_PILOT


@pytest.mark.parametrize(
    ("price", "tick", "mode", "expected"),
    [
        (1.234, 0.01, "down", 1.23), (1.234, 0.01, "up", 1.24), (1.234, 0.01, "nearest", 1.23),
        (1.235, 0.01, "nearest", 1.24),            # half a tick rounds up
        (1.23, 0.01, "down", 1.23), (1.23, 0.01, "up", 1.23),   # on the grid: unchanged
        (0.1 + 0.2, 0.01, "up", 0.3),              # 0.30000000000000004 is 0.30, not 0.31
        (0.1 + 0.2, 0.01, "down", 0.3),
        (3.12, 0.05, "down", 3.10), (3.12, 0.05, "up", 3.15), (3.12, 0.05, "nearest", 3.10),
        (3.125, 0.05, "nearest", 3.15), (3.175, 0.05, "nearest", 3.20),
        (1.7999999999999998, 0.01, "down", 1.8),   # what 1.5 * 1.2 gives in floats
        (0.004, 0.01, "down", 0.0),
        (1.2300001, 0.01, "up", 1.24),              # a hundred-thousandth of a tick is real
        (1.23000000001, 0.01, "up", 1.23),          # a millionth of a tick or less is noise
    ],
)
def test_round_to_tick_is_exact(price: float, tick: float, mode: str, expected: float) -> None:
    got = round_to_tick(price, tick, mode)

    assert got == expected
    assert repr(got) == repr(expected)


@pytest.mark.parametrize(
    ("price", "tick", "mode", "match"),
    [(1.0, 0.01, "sideways", "rounding mode"), (1.0, 0.0, "down", "tick"),
     (math.nan, 0.01, "down", "finite")],
)
def test_round_to_tick_refuses_bad_input(price, tick, mode, match) -> None:
    with pytest.raises(ValueError, match=match):
        round_to_tick(price, tick, mode)


@pytest.mark.parametrize(
    ("symbol", "entry", "tp_pct", "sl_pct", "expected"),
    [
        ("SPY", 1.60, 30, 20, BracketPrices(1.60, 2.08, 1.28)),
        ("SPY", 1.50, 20, 20, BracketPrices(1.50, 1.80, 1.20)),     # 1.5 * 1.2 is exactly 1.80
        # entry to the nearest tick; 1.599 down to 1.59; 0.984 up to 0.99
        ("SPY", 1.234, 30, 20, BracketPrices(1.23, 1.59, 0.99)),
        # half a tick rounds the entry up; 1.612 down to 1.61; 0.992 up to 1.00
        ("SPY", 1.235, 30, 20, BracketPrices(1.24, 1.61, 1.00)),
        ("SPY", 4.37, 25, 15, BracketPrices(4.37, 5.46, 3.72)),     # 5.4625 down; 3.7145 up
        # non-pilot class: exits cross the 3.00 boundary onto the nickel grid
        ("AAPL", 2.50, 30, 20, BracketPrices(2.50, 3.25, 2.00)),
        ("AAPL", 2.40, 30, 20, BracketPrices(2.40, 3.10, 1.92)),    # 3.12 down to 3.10
        ("AAPL", 3.20, 30, 20, BracketPrices(3.20, 4.15, 2.56)),    # 4.16 down; 2.56 in pennies
        ("AAPL", 3.02, 30, 20, BracketPrices(3.00, 3.90, 2.40)),    # entry to the nearest nickel
        ("AAPL", 4.00, 30, 24.5, BracketPrices(4.00, 5.20, 3.05)),  # 3.02 up to 3.05
        # tiny percentages: still one tick away from the entry
        ("SPY", 1.00, 0.1, 0.1, BracketPrices(1.00, 1.01, 0.99)),
        ("AAPL", 3.00, 0.1, 0.1, BracketPrices(3.00, 3.05, 2.99)),  # 3.05 above, 2.99 below
        ("AAPL", 3.05, 1, 1, BracketPrices(3.05, 3.10, 3.00)),
        # cheap options: the stop stays at least one tick above zero
        ("SPY", 0.05, 30, 20, BracketPrices(0.05, 0.06, 0.04)),
        ("SPY", 0.02, 30, 90, BracketPrices(0.02, 0.03, 0.01)),
        ("SPY", 0.50, 30, 99, BracketPrices(0.50, 0.65, 0.01)),
    ],
)
def test_bracket_prices(symbol, entry, tp_pct, sl_pct, expected: BracketPrices) -> None:
    got = bracket_prices(symbol, entry, tp_pct, sl_pct)

    assert got == expected
    assert got.stop < got.entry < got.take_profit


@pytest.mark.parametrize(
    ("entry", "tp_pct", "sl_pct"),
    [(0.01, 30, 20), (0.004, 30, 20), (0.0, 30, 20), (-1.0, 30, 20), (math.nan, 30, 20),
     (1.0, 0, 20), (1.0, 30, 0)],
)
def test_bracket_prices_refuses_impossible_brackets(entry, tp_pct, sl_pct) -> None:
    with pytest.raises(ValueError):
        bracket_prices("SPY", entry, tp_pct, sl_pct)


def test_build_bracket_children_reduce_each_other_oca_type_3() -> None:
    prices = BracketPrices(1.60, 2.08, 1.28)

    parent, take_profit, stop = build_bracket("i-42", option(590), 7, prices)

    assert parent == OrderSpec("i-42.entry", Side.BUY, 7, OrderType.LIMIT, limit_price=1.60,
                               stop_price=None, tif="DAY", oca_group="")
    assert take_profit == OrderSpec("i-42.tp", Side.SELL, 7, OrderType.LIMIT, limit_price=2.08,
                                    tif="DAY", oca_group="oca-i-42", oca_type=3)
    assert stop == OrderSpec("i-42.sl", Side.SELL, 7, OrderType.STOP, limit_price=None,
                             stop_price=1.28, tif="DAY", oca_group="oca-i-42", oca_type=3)


def test_build_bracket_refuses_zero_contracts() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        build_bracket("i-42", option(590), 0, BracketPrices(1.60, 2.08, 1.28))


@pytest.mark.parametrize(
    ("symbol", "bid", "limit"),
    [
        ("SPY", 1.57, 1.57), ("SPY", 1.579, 1.57), ("SPY", 3.33, 3.33),
        ("AAPL", 3.33, 3.30), ("AAPL", 2.999, 2.99),
        ("SPY", 0.0, 0.01), ("SPY", 0.004, 0.01),  # no real bid: the lowest valid limit
    ],
)
def test_exit_order_sells_at_the_bid_rounded_down(symbol: str, bid: float, limit: float) -> None:
    order = exit_order("i-42", "time", symbol, 3, bid)

    assert order == OrderSpec("i-42.time", Side.SELL, 3, OrderType.LIMIT, limit_price=limit)


@pytest.mark.parametrize(("quantity", "bid"), [(0, 1.5), (2, math.nan)])
def test_exit_order_refuses_bad_input(quantity: int, bid: float) -> None:
    with pytest.raises(ValueError):
        exit_order("i-42", "stop", "SPY", quantity, bid)
