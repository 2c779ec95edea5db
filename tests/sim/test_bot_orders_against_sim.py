"""The bot's own IB orders (bot.ib.translate) against the simulator's IB order semantics.

These tests place exactly the ib_insync orders the bot builds and check that IB (as the
simulator enforces it) does what the bot relies on. A failure here is a bot defect: fix the bot,
never make the simulator kinder."""

from __future__ import annotations

from ib_insync import MarketOrder, Stock

from bot import messages as m
from bot.ib import translate as tr
from bot.trading.brackets import EXIT_OCA_TYPE

STILL = dict(speed=0.001, tick_interval_s=0.05)


def test_re_armed_exits_in_one_oca_group_cancel_each_other(make_gateway, make_ib, until):
    # Arrange: long 2, then the two exits the bot re-arms: one group of the bot's exit OCA type
    gateway = make_gateway(**STILL)
    ib = make_ib(gateway)
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    bought = ib.placeOrder(spy, MarketOrder("BUY", 2))
    assert until(ib, lambda: bought.isDone(), 5)
    q = gateway.market.quote("SPY")
    profit = m.OrderSpec("intent-1.tp2", m.Side.SELL, 2, m.OrderType.LIMIT,
                         limit_price=round(q.bid + 1, 2), oca_group="oca-intent-1-2",
                         oca_type=EXIT_OCA_TYPE)
    stop = m.OrderSpec("intent-1.sl2", m.Side.SELL, 2, m.OrderType.STOP,
                       stop_price=round(q.bid - 1, 2), oca_group="oca-intent-1-2",
                       oca_type=EXIT_OCA_TYPE)
    tp, sl = (ib.placeOrder(spy, tr.ib_order(spec)) for spec in (profit, stop))
    assert until(ib, lambda: tp.orderStatus.status == sl.orderStatus.status == "Submitted", 5)
    # Act: the market trades through the take-profit
    gateway.market.pin_quote("SPY", q.bid + 2, q.bid + 2.01, q.bid + 2)
    assert until(ib, lambda: tp.isDone(), 5)
    # Assert: IB cancelled the stop with the fill (one position, one exit)
    ticks = gateway.counters().get("tick.steps", 0)
    assert until(ib, lambda: sl.isDone() or gateway.counters().get("tick.steps", 0) >= ticks + 3, 5)
    assert sl.orderStatus.status == "Cancelled"
