"""Fill prices, stop triggers and displayed sizes through the real ib_insync client, as IB fills:
a marketable limit at the touch, a resting limit at its own limit once the market trades
through it, an option stop on two consecutive bids (IB's default double bid/ask method for US
options, not the last trade), and at most the displayed size per market step."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ib_insync import LimitOrder, MarketOrder, Option, Stock, StopOrder

STILL = dict(speed=0.001, tick_interval_s=0.05)
"""The market stays on one simulated second; each test pins the option's quote itself."""


@pytest.fixture
def still(make_gateway, make_ib):
    """(gateway, ib, option contract, conId) with the market held still."""
    gateway = make_gateway(**STILL)
    ib = make_ib(gateway)
    expiry = sorted(gateway.contracts.chain_params("SPY", gateway.clock.now().date())[0][3])[1]
    opt = Option("SPY", expiry, float(round(gateway.market.spot("SPY"))), "C", "SMART")
    ib.qualifyContracts(opt)
    gateway.market.pin_quote(opt.conId, 2.00, 2.10, 2.05, bid_size=50, ask_size=50)
    return gateway, ib, opt, opt.conId


def _ticks_pass(gateway, ib, until, n: int = 3) -> bool:
    """Wait until the engine looked at the orders at least n more times."""
    start = gateway.counters().get("tick.steps", 0)
    return until(ib, lambda: gateway.counters().get("tick.steps", 0) >= start + n, 5)


@pytest.mark.parametrize(("action", "limit", "touch"), [("BUY", 2.50, 2.10), ("SELL", 1.50, 2.00)])
def test_marketable_limit_fills_at_the_touch(still, until, action, limit, touch):
    gateway, ib, opt, _ = still

    trade = ib.placeOrder(opt, LimitOrder(action, 2, limit))
    assert until(ib, lambda: trade.isDone(), 5)

    assert [f.execution.price for f in trade.fills] == [touch]


@pytest.mark.parametrize(
    ("action", "limit", "through"),
    [("BUY", 2.05, (1.90, 1.95, 1.95)), ("SELL", 2.05, (2.15, 2.25, 2.20))],
)
def test_resting_limit_fills_at_its_limit_when_the_market_trades_through(
    still, until, action, limit, through
):
    gateway, ib, opt, con_id = still
    trade = ib.placeOrder(opt, LimitOrder(action, 1, limit))
    assert until(ib, lambda: trade.orderStatus.status == "Submitted", 5)

    gateway.market.pin_quote(con_id, *through)
    assert until(ib, lambda: trade.isDone(), 5)

    assert [f.execution.price for f in trade.fills] == [limit]  # never the better quote


def test_option_stop_ignores_the_last_trade_and_waits_for_two_bids(still, until):
    # Arrange: a sell stop at 1.90; a trade prints far below it while the bid stays above
    gateway, ib, opt, con_id = still
    stop = ib.placeOrder(opt, StopOrder("SELL", 1, 1.90))
    assert until(ib, lambda: stop.orderStatus.status == "Submitted", 5)
    gateway.market.pin_quote(con_id, 2.00, 2.10, 1.50)
    assert _ticks_pass(gateway, ib, until)
    assert stop.fills == []
    # Act: the bid reaches the stop and stays there
    gateway.market.pin_quote(con_id, 1.85, 1.95, 1.90)
    assert until(ib, lambda: stop.isDone(), 5)
    # Assert: sold at the bid
    assert [f.execution.price for f in stop.fills] == [1.85]


def test_option_stop_with_the_last_method_triggers_on_a_trade(still, until):
    gateway, ib, opt, con_id = still
    order = StopOrder("SELL", 1, 1.90)
    order.triggerMethod = 2  # "last"
    stop = ib.placeOrder(opt, order)
    assert until(ib, lambda: stop.orderStatus.status == "Submitted", 5)

    gateway.market.pin_quote(con_id, 2.00, 2.10, 1.50)
    assert until(ib, lambda: stop.isDone(), 5)

    assert [f.execution.price for f in stop.fills] == [2.00]


def test_an_order_fills_at_most_the_displayed_size_per_step(still, until):
    gateway, ib, opt, con_id = still
    gateway.market.pin_quote(con_id, 2.00, 2.10, 2.05, bid_size=40, ask_size=2)

    trade = ib.placeOrder(opt, MarketOrder("BUY", 5))
    assert until(ib, lambda: trade.isDone(), 5)

    assert [f.execution.shares for f in trade.fills] == [2, 2, 1]
    assert trade.orderStatus.filled == 5


def test_an_off_grid_limit_price_is_refused_with_110_not_rounded(still, until):
    gateway, ib, opt, _ = still
    errors: list[tuple[int, str]] = []
    ib.errorEvent += lambda req_id, code, text, contract: errors.append((code, text))

    trade = ib.placeOrder(opt, LimitOrder("BUY", 1, 2.105))  # marketable, but off the grid
    assert until(ib, lambda: trade.isDone(), 5)

    assert errors == [(110, "The price does not conform to the minimum price variation for "
                            "this contract.")]
    assert (trade.orderStatus.status, trade.fills) == ("Cancelled", [])


def test_an_order_placed_after_the_close_waits_for_the_next_open(make_gateway, make_ib, until):
    # Arrange: Wednesday 16:30 New York, half an hour after the close
    gateway = make_gateway(start=datetime(2026, 11, 18, 21, 30, tzinfo=UTC), **STILL)
    ib = make_ib(gateway)
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    trade = ib.placeOrder(spy, MarketOrder("BUY", 1))
    assert until(ib, lambda: trade.orderStatus.status == "Submitted", 5)
    assert _ticks_pass(gateway, ib, until)
    assert trade.fills == []
    # Act: Thursday's open
    gateway.clock.jump(17 * 3600)
    assert until(ib, lambda: trade.isDone(), 5)
    # Assert
    assert trade.orderStatus.status == "Filled"
    assert trade.fills[0].time >= datetime(2026, 11, 19, 14, 30, tzinfo=UTC)
