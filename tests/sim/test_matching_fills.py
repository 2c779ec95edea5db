"""Specification of the matching engine's fill rules (bot.sim.matching, bot.sim.fill_rules):
marketable and resting limits, stop trigger methods, missing quotes, partial fills and the
price grid (error 110)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from engine_helpers import OPT, STK, fills, order, states

from bot.sim.account import Account
from bot.sim.contracts import SimContract
from bot.sim.matching import (
    CommissionEvent,
    MatchingEngine,
    OrderRejectedEvent,
    OrderStatusEvent,
)


@pytest.mark.parametrize(
    "action, limit, moved_quote",
    [
        ("BUY", 2.05, (1.98, 2.04, 2.00)),  # the ask went through the limit
        ("BUY", 2.05, (1.99, 2.05, 2.02)),  # a trade printed below it
        ("SELL", 2.15, (2.16, 2.20, 2.18)),
        ("SELL", 2.15, (2.15, 2.25, 2.20)),
    ],
)
def test_resting_limit_fills_at_its_limit_once_the_market_trades_through(
        engine, quotes, action, limit, moved_quote):
    placed = engine.place(order(1, action, 1, "LMT", lmt_price=limit), OPT)
    unchanged = engine.on_market()
    quotes[OPT.con_id] = moved_quote

    events = engine.on_market()

    assert states(placed) == [(1, "Submitted", 0, 1)]
    assert unchanged == []
    assert fills(events) == [(1, 1, limit)]  # never the better quote: the resting order's price
    assert states(events) == [(1, "Filled", 1, 0)]


@pytest.mark.parametrize(
    "action, limit, moved_quote",
    [("BUY", 2.05, (1.99, 2.05, 2.05)), ("SELL", 2.15, (2.15, 2.20, 2.15))],
)
def test_resting_limit_merely_touched_does_not_fill(engine, quotes, action, limit, moved_quote):
    engine.place(order(1, action, 1, "LMT", lmt_price=limit), OPT)
    quotes[OPT.con_id] = moved_quote

    events = engine.on_market() + engine.on_market()

    assert events == []
    assert [o.status for o in engine.open_orders()] == ["Submitted"]


@pytest.mark.parametrize("action, limit, price", [("BUY", 2.50, 2.10), ("SELL", 1.50, 2.00)])
def test_marketable_limit_fills_at_the_touch_not_at_its_limit(engine, action, limit, price):
    events = engine.place(order(1, action, 2, "LMT", lmt_price=limit), OPT)

    assert fills(events) == [(1, 2, price)]


@pytest.mark.parametrize(
    "action, order_type, aux, lmt, method, moves, price",
    [
        # default for options: double bid/ask, two looks in a row with the bid at the stop
        ("SELL", "STP", 1.90, 0.0, 0, [(1.85, 1.95, 1.95)] * 2, 1.85),
        ("BUY", "STP", 2.20, 0.0, 0, [(2.15, 2.25, 2.20)] * 2, 2.25),
        ("SELL", "STP", 1.90, 0.0, 1, [(1.85, 1.95, 1.95), (1.88, 1.95, 1.95)], 1.88),
        ("SELL", "STP", 1.90, 0.0, 4, [(1.85, 1.95, 1.95)], 1.85),  # bid/ask: one look
        ("SELL", "STP", 1.90, 0.0, 2, [(1.92, 2.00, 1.89)], 1.92),  # last reaches it
        ("BUY", "STP", 2.20, 0.0, 2, [(2.10, 2.19, 2.21)], 2.19),
        ("SELL", "STP", 1.90, 0.0, 8, [(1.80, 1.98, 1.95)], 1.80),  # mid-point 1.89
        # triggered at bid 1.85 but below the 1.88 limit; the trigger persists once the bid
        # recovers above the stop, and the order fills at the limit-bounded bid
        ("SELL", "STP LMT", 1.90, 1.88, 4, [(1.85, 1.95, 1.95), (1.91, 1.96, 1.95)], 1.88),
    ],
)
def test_stop_triggers_by_its_method_then_fills(engine, quotes, action, order_type, aux, lmt,
                                                method, moves, price):
    placed = engine.place(order(1, action, 1, order_type, aux_price=aux, lmt_price=lmt,
                                trigger_method=method), OPT)
    events = []
    for move in moves:
        assert fills(events) == []
        quotes[OPT.con_id] = move
        events = engine.on_market()

    assert fills(placed) == []
    assert fills(events) == [(1, 1, price)]


def test_double_bid_ask_stop_needs_two_looks_in_a_row(engine, quotes):
    engine.place(order(1, "SELL", 1, "STP", aux_price=1.90), OPT)
    looks = []
    for quote in [(1.85, 1.95, 1.95), (1.95, 2.00, 1.95), (1.89, 1.95, 1.95),
                  (1.85, 1.95, 1.95)]:
        quotes[OPT.con_id] = quote
        looks.append(fills(engine.on_market()))

    assert looks == [[], [], [], [(1, 1, 1.85)]]


@pytest.mark.parametrize("quote", [(0.0, 0.0, 0.0), (math.nan, math.nan, math.nan),
                                   (2.00, 0.0, 2.05), (2.00, -1.0, 2.05)])
def test_buy_never_fills_against_a_missing_ask(engine, quotes, quote):
    quotes[OPT.con_id] = quote

    events = engine.place(order(1, "BUY", 1), OPT) + engine.on_market()

    assert states(events) == [(1, "Submitted", 0, 1)]
    assert engine.executions() == []


def test_partial_fills_report_filled_remaining_and_average_at_every_step(engine, quotes):
    engine.set_partial_fills(True, chunk=2)
    events = [engine.place(order(1, "BUY", 5), OPT)]
    for ask in (2.20, 2.30):
        quotes[OPT.con_id] = (ask - 0.10, ask, ask)
        events.append(engine.on_market())

    steps = [[s for s in states(step) if s[2] > 0] for step in events]
    averages = [e.avg_fill_price for step in events for e in step
                if isinstance(e, OrderStatusEvent) and e.filled > 0]
    commissions = [e.commission for step in events for e in step
                   if isinstance(e, CommissionEvent)]
    assert steps == [[(1, "Submitted", 2, 3)], [(1, "Submitted", 4, 1)], [(1, "Filled", 5, 0)]]
    assert averages == pytest.approx([2.10, 2.15, 2.18])
    assert commissions == pytest.approx([1.30, 1.30, 1.00])
    assert [(e.shares, e.cum_qty) for e in engine.executions()] == [(2, 2), (2, 4), (1, 5)]
    assert engine.account.position(OPT.con_id) == 5


AAPL_OPT = SimContract(con_id=902, symbol="AAPL", sec_type="OPT", multiplier="100",
                       expiry="20260320", strike=230.0, right="C")


@pytest.mark.parametrize(
    "contract, fields, refused",
    [
        (OPT, dict(order_type="LMT", lmt_price=2.05), False),  # SPY: pennies at every price
        (OPT, dict(order_type="LMT", lmt_price=5.07), False),
        (OPT, dict(order_type="LMT", lmt_price=2.055), True),
        (OPT, dict(order_type="STP", aux_price=1.605), True),
        (OPT, dict(order_type="STP LMT", aux_price=1.60, lmt_price=1.585), True),
        (AAPL_OPT, dict(order_type="LMT", lmt_price=2.97), False),  # pennies below 3.00
        (AAPL_OPT, dict(order_type="LMT", lmt_price=3.05), False),
        (AAPL_OPT, dict(order_type="LMT", lmt_price=3.07), True),  # nickels from 3.00
        (STK, dict(order_type="LMT", lmt_price=0.5001), False),  # sub-dollar stock: 0.0001
        (STK, dict(order_type="LMT", lmt_price=12.345), True),
        (OPT, dict(order_type="LMT", lmt_price=0.1 + 0.2), False),  # float noise is no error
    ],
)
def test_prices_off_the_tick_grid_are_refused_with_110(engine, quotes, contract, fields,
                                                       refused):
    quotes[AAPL_OPT.con_id] = (2.90, 3.10, 3.00)
    priced = replace(order(1, "BUY", 1), **fields)

    events = engine.place(priced, contract)

    errors = [(e.code, e.message) for e in events if isinstance(e, OrderRejectedEvent)]
    if refused:
        assert errors == [(110, "The price does not conform to the minimum price variation "
                                "for this contract.")]
        assert states(events) == [(1, "Cancelled", 0, 1)]
    else:
        assert all(code != 110 for code, _ in errors)


def test_an_off_grid_modify_is_refused_and_the_order_keeps_working(engine):
    engine.place(order(1, "BUY", 1, "LMT", lmt_price=1.50), OPT)

    events = engine.place(order(1, "BUY", 1, "LMT", lmt_price=1.505), OPT)

    assert [(e.order_id, e.code) for e in events] == [(1, 110)]
    [working] = engine.open_orders()
    assert (working.order.lmt_price, working.status) == (1.50, "Submitted")


@pytest.mark.parametrize(
    "now, fills_now",
    [
        (datetime(2026, 3, 2, 14, 29, tzinfo=UTC), False),  # Monday 09:29 New York
        (datetime(2026, 3, 2, 14, 30, tzinfo=UTC), True),  # the open
        (datetime(2026, 3, 2, 21, 0, tzinfo=UTC), False),  # the close
        (datetime(2026, 3, 7, 15, 30, tzinfo=UTC), False),  # Saturday
    ],
)
def test_nothing_fills_outside_the_regular_session(quotes, now, fills_now):
    clock = [now]
    engine = MatchingEngine(Account(), lambda c: quotes[c.con_id], lambda: clock[0])

    placed = engine.place(order(1, "BUY", 1), OPT)
    clock[0] = datetime(2026, 3, 9, 14, 30, tzinfo=UTC)  # the next Monday's open
    later = engine.on_market()

    assert fills(placed) == ([(1, 1, 2.10)] if fills_now else [])
    assert fills(later) == ([] if fills_now else [(1, 1, 2.10)])


def test_a_stock_order_with_outside_rth_fills_outside_the_session(quotes):
    engine = MatchingEngine(Account(), lambda c: quotes[c.con_id],
                            lambda: datetime(2026, 3, 2, 22, 0, tzinfo=UTC))  # 17:00 New York

    events = engine.place(order(1, "BUY", 10, outside_rth=True), STK)

    assert fills(events) == [(1, 10, 500.01)]
