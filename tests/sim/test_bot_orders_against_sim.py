"""The bot's own IB orders (bot.ib.translate) against the simulator's IB order semantics.

These tests place exactly the ib_insync orders the bot builds and check that IB (as the
simulator enforces it) does what the bot relies on. A failure here is a bot defect, marked
xfail(strict=True) until the bot is fixed: the simulator must not be made kinder."""

from __future__ import annotations

import pytest
from ib_insync import MarketOrder, Stock

from bot import messages as m
from bot.ib import translate as tr

STILL = dict(speed=0.001, tick_interval_s=0.05)


@pytest.mark.xfail(
    strict=True,
    reason="bot defect: bot.ib.translate.ib_order sends a spec's oca_group with ocaType 0 "
    "(its oca_type parameter defaults to 0 and actors/broker/orders.py submits SubmitOrder "
    "without one), and IB treats ocaType 0 as no OCA group: the re-armed take-profit and stop "
    "of execution._arm can both fill and leave the account short",
)
def test_re_armed_exits_in_one_oca_group_cancel_each_other(make_gateway, make_ib, until):
    # Arrange: long 2, then the two exits the bot re-arms with one shared oca_group
    gateway = make_gateway(**STILL)
    ib = make_ib(gateway)
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    bought = ib.placeOrder(spy, MarketOrder("BUY", 2))
    assert until(ib, lambda: bought.isDone(), 5)
    q = gateway.market.quote("SPY")
    profit = m.OrderSpec("intent-1.tp2", m.Side.SELL, 2, m.OrderType.LIMIT,
                         limit_price=round(q.bid + 1, 2), oca_group="oca-intent-1-2")
    stop = m.OrderSpec("intent-1.sl2", m.Side.SELL, 2, m.OrderType.STOP,
                       stop_price=round(q.bid - 1, 2), oca_group="oca-intent-1-2")
    tp, sl = (ib.placeOrder(spy, tr.ib_order(spec)) for spec in (profit, stop))
    assert until(ib, lambda: tp.orderStatus.status == sl.orderStatus.status == "Submitted", 5)
    # Act: the market trades through the take-profit
    gateway.market.pin_quote("SPY", q.bid + 2, q.bid + 2.01, q.bid + 2)
    assert until(ib, lambda: tp.isDone(), 5)
    # Assert: IB cancelled the stop with the fill (one position, one exit)
    ticks = gateway.counters().get("tick.steps", 0)
    assert until(ib, lambda: sl.isDone() or gateway.counters()["tick.steps"] >= ticks + 3, 5)
    assert sl.orderStatus.status == "Cancelled"
