"""Specification of the simulator's matching engine (bot.sim.matching): fills, triggers,
brackets, OCA, partial fills, faults, modify/cancel and the event order the server encodes."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.sim.account import Account
from bot.sim.contracts import SimContract
from bot.sim.matching import (
    UNSET_DOUBLE,
    CommissionEvent,
    ExecutionEvent,
    MatchingEngine,
    OpenOrderEvent,
    OrderRejectedEvent,
    OrderStatusEvent,
    PositionEvent,
    SimOrder,
)

NOW = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
OPT = SimContract(con_id=901, symbol="SPY", sec_type="OPT", multiplier="100",
                  expiry="20260320", strike=500.0, right="C")
STK = SimContract(con_id=11, symbol="SPY", sec_type="STK")
OPT_QUOTE = (2.00, 2.10, 2.05)


@pytest.fixture
def quotes() -> dict[int, tuple[float, float, float]]:
    """The quote table the engine reads; tests move prices by assigning to it."""
    return {OPT.con_id: OPT_QUOTE, STK.con_id: (500.00, 500.01, 500.00)}


@pytest.fixture
def engine(quotes) -> MatchingEngine:
    return MatchingEngine(Account(), lambda c: quotes[c.con_id], lambda: NOW)


def order(oid: int, action: str, qty: float, order_type: str = "MKT", **fields) -> SimOrder:
    return SimOrder(order_id=oid, client_id=1, perm_id=1000 + oid, action=action,
                    total_qty=qty, order_type=order_type, **fields)


def kinds(events) -> list[str]:
    return [type(e).__name__.removesuffix("Event") for e in events]


def states(events) -> list[tuple[int, str, float, float]]:
    return [(e.order_id, e.status, e.filled, e.remaining)
            for e in events if isinstance(e, OrderStatusEvent)]


def fills(events) -> list[tuple[int, float, float]]:
    return [(e.order_id, e.shares, e.price) for e in events if isinstance(e, ExecutionEvent)]


def place_bracket(engine, parent_type="LMT", parent_price=2.10, qty=2, oca="") -> list:
    """Parent BUY, take-profit SELL LMT 2.60, stop SELL STP 1.60; only the stop transmits."""
    held = engine.place(order(1, "BUY", qty, parent_type, lmt_price=parent_price,
                              transmit=False), OPT)
    held += engine.place(order(2, "SELL", qty, "LMT", lmt_price=2.60, parent_id=1,
                               oca_group=oca, oca_type=1, transmit=False), OPT)
    assert held == []
    return engine.place(order(3, "SELL", qty, "STP", aux_price=1.60, parent_id=1,
                              oca_group=oca, oca_type=1), OPT)


@pytest.mark.parametrize(
    "contract, action, qty, price, commission, position, avg_cost",
    [
        (STK, "BUY", 100, 500.01, 1.00, 100, 500.02),
        (STK, "SELL", 300, 500.00, 1.50, -300, 499.995),
        (OPT, "BUY", 3, 2.10, 1.95, 3, 210.65),
        (OPT, "SELL", 1, 2.00, 1.00, -1, 199.00),
    ],
)
def test_market_order_fills_at_the_touch_in_ib_event_order(
    engine, contract, action, qty, price, commission, position, avg_cost
):
    events = engine.place(order(1, action, qty), contract)

    assert kinds(events) == ["OpenOrder", "OrderStatus", "Execution", "OpenOrder", "OrderStatus",
                             "Commission", "Position"]
    assert states(events) == [(1, "Submitted", 0, qty), (1, "Filled", qty, 0)]
    assert (events[3].status, events[3].completed_status) == ("Filled", "Filled")
    execution, report, pos = events[2], events[5], events[6]
    assert (execution.side, execution.shares, execution.price) == (
        {"BUY": "BOT", "SELL": "SLD"}[action], qty, price)
    assert (execution.cum_qty, execution.avg_price, execution.time) == (qty, price, NOW)
    assert report.exec_id == execution.exec_id
    assert report.commission == pytest.approx(commission)
    assert report.realized_pnl == UNSET_DOUBLE
    assert (pos.position, pos.avg_cost) == (position, pytest.approx(avg_cost))


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


@pytest.mark.parametrize("oca", ["", "B1"])
def test_bracket_take_profit_closes_with_exact_pnl_and_cancels_the_stop(engine, quotes, oca):
    placed = place_bracket(engine, oca=oca)
    quotes[OPT.con_id] = (2.60, 2.65, 2.62)

    events = engine.on_market()

    assert kinds(placed) == ["OpenOrder", "OrderStatus"] * 3 + [
        "Execution", "OpenOrder", "OrderStatus", "Commission", "Position"] + [
        "OpenOrder", "OrderStatus"] * 2
    assert states(placed) == [(1, "Submitted", 0, 2), (2, "PreSubmitted", 0, 2),
                              (3, "PreSubmitted", 0, 2), (1, "Filled", 2, 0),
                              (2, "Submitted", 0, 2), (3, "Submitted", 0, 2)]
    assert fills(placed) == [(1, 2, 2.10)]
    assert kinds(events) == ["Execution", "OpenOrder", "OrderStatus", "Commission", "Position",
                             "OrderStatus"]
    assert fills(events) == [(2, 2, 2.60)]
    assert [s[:2] for s in states(events)] == [(2, "Filled"), (3, "Cancelled")]
    # bought 2 @ 2.10 (420 + 1.30), sold 2 @ 2.60 (520 - 1.30)
    assert events[3].realized_pnl == pytest.approx(97.40)
    assert (events[4].position, events[4].avg_cost) == (0, 0)
    assert engine.account.realized_pnl == pytest.approx(97.40)
    assert engine.account.cash == pytest.approx(100_097.40)
    assert engine.account.positions() == []
    assert engine.open_orders() == []


def test_bracket_stop_loss_closes_with_exact_loss_and_cancels_the_take_profit(engine, quotes):
    place_bracket(engine)
    quotes[OPT.con_id] = (1.55, 1.65, 1.58)

    first_look = engine.on_market()  # an option stop triggers on two bids in a row
    events = engine.on_market()

    assert first_look == []
    assert fills(events) == [(3, 2, 1.55)]
    assert [s[:2] for s in states(events)] == [(3, "Filled"), (2, "Cancelled")]
    # sold 2 @ 1.55 (310 - 1.30) against a cost of 421.30
    assert engine.account.realized_pnl == pytest.approx(-112.60)
    assert engine.account.commissions == pytest.approx(2.60)


def test_children_wait_presubmitted_while_the_parent_works(engine, quotes):
    quotes[OPT.con_id] = (2.60, 2.70, 2.65)  # would fill the take-profit if it were active

    events = place_bracket(engine, parent_price=2.00)

    assert states(events) == [(1, "Submitted", 0, 2), (2, "PreSubmitted", 0, 2),
                              (3, "PreSubmitted", 0, 2)]
    assert [(o.order.order_id, o.status) for o in engine.open_orders()] == [
        (1, "Submitted"), (2, "PreSubmitted"), (3, "PreSubmitted")]


def test_untransmitted_orders_are_silent_and_cancel_without_a_trace(engine):
    held = engine.place(order(1, "BUY", 1, "LMT", lmt_price=2.50, transmit=False), OPT)

    cancelled = engine.cancel(1)

    assert (held, cancelled, engine.open_orders(), engine.completed_orders()) == ([], [], [], [])
    assert engine.executions() == []


def test_cancelling_a_parent_cancels_its_children(engine):
    place_bracket(engine, parent_price=1.50)

    events = engine.cancel(1)

    assert kinds(events) == ["OrderStatus", "OrderRejected"] * 3
    assert states(events) == [(1, "Cancelled", 0, 2), (2, "Cancelled", 0, 2),
                              (3, "Cancelled", 0, 2)]
    assert {(e.order_id, e.code) for e in events if isinstance(e, OrderRejectedEvent)} == {
        (1, 202), (2, 202), (3, 202)}
    assert engine.open_orders() == []
    assert [(o.order.order_id, o.status) for o in engine.completed_orders()] == [
        (1, "Cancelled"), (2, "Cancelled"), (3, "Cancelled")]


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


def test_children_follow_a_partially_filled_parent(engine, quotes):
    engine.set_partial_fills(True, chunk=1)
    placed = place_bracket(engine, parent_type="MKT", qty=3)
    step2 = engine.on_market()
    quotes[OPT.con_id] = (2.60, 2.65, 2.62)

    step3 = engine.on_market()

    def child_sizes(events):
        return [(e.order.order_id, e.order.total_qty, e.status)
                for e in events if isinstance(e, OpenOrderEvent) and e.order.parent_id]

    assert child_sizes(placed)[-2:] == [(2, 1, "Submitted"), (3, 1, "Submitted")]
    assert child_sizes(step2) == [(2, 2, "Submitted"), (3, 2, "Submitted")]
    # the parent's last contract fills, then the take-profit sells one, cutting the stop to 2
    assert fills(step3) == [(1, 1, 2.65), (2, 1, 2.60)]
    assert child_sizes(step3) == [(2, 3, "Submitted"), (3, 3, "Submitted"),
                                  (3, 2, "Submitted")]
    assert states(step3)[-1] == (3, "Submitted", 0, 2)
    assert engine.account.position(OPT.con_id) == 2


def test_rejection_fault_rejects_only_the_next_new_order(engine, quotes):
    engine.reject_next(201, "Insufficient funds")

    rejected = engine.place(order(1, "BUY", 2), OPT)
    after = engine.on_market()
    accepted = engine.place(order(2, "BUY", 1), OPT)

    assert rejected == [
        OrderRejectedEvent(1, 1, 201, "Order rejected - reason:Insufficient funds"),
        OrderStatusEvent(1, 1, 1001, "Cancelled", 0, 2, 0.0, 0.0, 0),
    ]
    assert after == []
    assert fills(accepted) == [(2, 1, 2.10)]
    assert [o.status for o in engine.completed_orders()] == ["Cancelled", "Filled"]


@pytest.mark.parametrize(
    "fields, reason",
    [
        (dict(order_type="LMT"), "Missing limit price"),
        (dict(order_type="STP"), "Missing stop price"),
        (dict(total_qty=0), "Order quantity must be positive"),
        (dict(order_type="TRAIL"), "Unsupported order type 'TRAIL'"),
        (dict(action="SSHORT"), "Invalid action 'SSHORT'"),
        (dict(parent_id=77), None),
    ],
)
def test_invalid_orders_are_rejected_with_a_reason(engine, fields, reason):
    bad = replace(order(1, "BUY", 1), **fields)

    events = engine.place(bad, OPT)

    expected = (201, f"Order rejected - reason:{reason}") if reason else (
        135, "Can't find order with id =77")
    assert (events[0].code, events[0].message) == expected
    assert states(events) == [(1, "Cancelled", 0, bad.total_qty)]


def test_modify_a_working_order_changes_price_and_quantity(engine):
    engine.place(order(1, "BUY", 1, "LMT", lmt_price=1.90, order_ref="e-1"), OPT)

    resized = engine.place(order(1, "BUY", 3, "LMT", lmt_price=1.95), OPT)
    repriced = engine.place(order(1, "BUY", 3, "LMT", lmt_price=2.10), OPT)

    assert kinds(resized) == ["OpenOrder", "OrderStatus"]
    assert (resized[0].order.total_qty, resized[0].order.lmt_price) == (3, 1.95)
    assert states(resized) == [(1, "Submitted", 0, 3)]
    assert fills(repriced) == [(1, 3, 2.10)]
    assert states(repriced)[-1] == (1, "Filled", 3, 0)


@pytest.mark.parametrize(
    "finish, code, message",
    [
        ("fill", 104, "Can't modify a filled order."),
        ("cancel", 10148,
         "OrderId 1 that needs to be modified cannot be modified, state: Cancelled."),
    ],
)
def test_modifying_a_done_order_is_rejected(engine, finish, code, message):
    engine.place(order(1, "BUY", 1, "LMT", lmt_price=2.50 if finish == "fill" else 1.00), OPT)
    if finish == "cancel":
        engine.cancel(1)

    events = engine.place(order(1, "BUY", 2, "LMT", lmt_price=1.00), OPT)

    assert events == [OrderRejectedEvent(1, 1, code, message)]


@pytest.mark.parametrize(
    "setup, code, message",
    [
        (False, 10147, "OrderId 1 that needs to be cancelled is not found."),
        (True, 10148, "OrderId 1 that needs to be cancelled cannot be cancelled, state: Filled."),
    ],
)
def test_cancel_of_unknown_or_filled_order_is_an_error(engine, setup, code, message):
    if setup:
        engine.place(order(1, "BUY", 1), OPT)

    events = engine.cancel(1)

    assert [(e.code, e.message) for e in events] == [(code, message)]


@pytest.mark.parametrize(
    "oca_type, other_state",
    [(1, (2, "Cancelled", 0, 3)), (2, (2, "Submitted", 0, 2)), (3, (2, "Submitted", 0, 2))],
)
def test_oca_group_without_bracket(engine, quotes, oca_type, other_state):
    engine.place(order(9, "BUY", 3), OPT)
    engine.set_partial_fills(True, chunk=1)
    group = dict(oca_group="G", oca_type=oca_type)
    engine.place(order(1, "SELL", 3, "LMT", lmt_price=2.60, **group), OPT)
    engine.place(order(2, "SELL", 3, "STP", aux_price=1.60, **group), OPT)
    quotes[OPT.con_id] = (2.60, 2.65, 2.62)

    events = engine.on_market()

    assert fills(events) == [(1, 1, 2.60)]
    assert states(events) == [(1, "Submitted", 1, 2), other_state]


@pytest.mark.parametrize("oca_type", [2, 3])
def test_oca_reduce_types_cancel_the_others_once_a_member_is_complete(engine, quotes, oca_type):
    engine.place(order(9, "BUY", 3), OPT)
    group = dict(oca_group="G", oca_type=oca_type)
    engine.place(order(1, "SELL", 3, "LMT", lmt_price=2.60, **group), OPT)
    engine.place(order(2, "SELL", 5, "STP", aux_price=1.60, **group), OPT)
    quotes[OPT.con_id] = (2.60, 2.65, 2.62)

    events = engine.on_market()

    assert states(events) == [(1, "Filled", 3, 0), (2, "Cancelled", 0, 5)]


@pytest.mark.parametrize("oca_group, oca_type", [("G", 0), ("", 1)])
def test_orders_outside_an_oca_group_both_fill(engine, quotes, oca_group, oca_type):
    engine.place(order(9, "BUY", 3), OPT)
    group = dict(oca_group=oca_group, oca_type=oca_type)
    engine.place(order(1, "SELL", 3, "LMT", lmt_price=2.60, **group), OPT)
    engine.place(order(2, "SELL", 3, "LMT", lmt_price=2.70, **group), OPT)
    quotes[OPT.con_id] = (2.75, 2.80, 2.75)

    events = engine.on_market()

    assert fills(events) == [(1, 3, 2.60), (2, 3, 2.70)]
    assert engine.account.position(OPT.con_id) == -3


@pytest.mark.parametrize("oca_type", [1, 2, 3])
def test_cancelling_one_oca_member_cancels_the_group(engine, oca_type):
    group = dict(oca_group="G", oca_type=oca_type)
    engine.place(order(1, "SELL", 3, "LMT", lmt_price=2.60, **group), OPT)
    engine.place(order(2, "SELL", 3, "STP", aux_price=1.60, **group), OPT)
    engine.place(order(3, "SELL", 3, "STP", aux_price=1.50, oca_group="G"), OPT)  # ocaType 0

    events = engine.cancel(1)

    assert [s[:2] for s in states(events)] == [(1, "Cancelled"), (2, "Cancelled")]
    assert [(e.order_id, e.code) for e in events if isinstance(e, OrderRejectedEvent)] == [
        (1, 202)]
    assert [o.order.order_id for o in engine.open_orders()] == [3]


def test_cancelling_one_bracket_child_cancels_its_sibling(engine, quotes):
    place_bracket(engine)  # the parent fills at once, both children work

    events = engine.cancel(2)

    assert [s[:2] for s in states(events)] == [(2, "Cancelled"), (3, "Cancelled")]
    assert engine.open_orders() == []
    assert engine.account.position(OPT.con_id) == 2


def test_a_child_transmits_its_held_siblings_under_a_live_parent(engine):
    engine.place(order(1, "BUY", 2, "LMT", lmt_price=1.00), OPT)  # live, resting
    held = engine.place(order(2, "SELL", 2, "LMT", lmt_price=2.60, parent_id=1,
                              transmit=False), OPT)

    events = engine.place(order(3, "SELL", 2, "STP", aux_price=1.60, parent_id=1), OPT)

    assert held == []
    assert states(events) == [(2, "PreSubmitted", 0, 2), (3, "PreSubmitted", 0, 2)]


def test_listings_of_executions_and_orders(engine):
    engine.place(order(1, "BUY", 2, order_ref="intent-1"), OPT)
    engine.place(order(2, "SELL", 1, order_ref="intent-2"), OPT)
    engine.place(order(3, "BUY", 1, "LMT", lmt_price=1.00), OPT)
    engine.place(order(4, "BUY", 1, "LMT", lmt_price=1.00), OPT)
    engine.cancel(4)

    executions = engine.executions()

    assert [(e.order_id, e.side, e.shares, e.price, e.order_ref) for e in executions] == [
        (1, "BOT", 2, 2.10, "intent-1"), (2, "SLD", 1, 2.00, "intent-2")]
    reports = [engine.commission_of(e.exec_id) for e in executions]
    assert [(r.commission, r.realized_pnl) for r in reports] == [
        (1.30, UNSET_DOUBLE), (1.00, pytest.approx(200 - 1.00 - 210.65))]
    assert engine.commission_of("nope") is None
    assert [(o.order.order_id, o.status) for o in engine.completed_orders()] == [
        (1, "Filled"), (2, "Filled"), (4, "Cancelled")]
    assert [(o.order.order_id, o.status) for o in engine.open_orders()] == [(3, "Submitted")]


def test_exec_ids_look_like_ibs_and_count_from_the_engines_prefix(quotes):
    engine = MatchingEngine(Account(), lambda c: quotes[c.con_id], lambda: NOW,
                            exec_id_prefix=0x6745B1F2)
    engine.place(order(1, "BUY", 1), OPT)
    engine.place(order(2, "SELL", 1), OPT)

    ids = [e.exec_id for e in engine.executions()]

    assert ids == ["6745b1f2.00000001.01.01", "6745b1f2.00000002.01.01"]


def test_exec_ids_never_repeat_across_engines(quotes):
    def run() -> list[str]:
        engine = MatchingEngine(Account(), lambda c: quotes[c.con_id], lambda: NOW)
        engine.place(order(1, "BUY", 1), OPT)
        engine.place(order(2, "SELL", 1), OPT)
        return [e.exec_id for e in engine.executions()]

    ids = [x for _ in range(50) for x in run()]  # engines created within the same millisecond

    assert len(set(ids)) == len(ids) == 100
    assert all(re.fullmatch(r"[0-9a-f]{8}\.[0-9a-f]{8}\.01\.01", x) for x in ids)


def test_end_of_day_cancels_day_orders_with_their_children(engine):
    engine.place(order(1, "BUY", 1, "LMT", lmt_price=1.00), OPT)
    engine.place(order(2, "BUY", 1, "LMT", lmt_price=1.00, tif="GTC"), OPT)
    engine.place(order(3, "SELL", 1, "LMT", lmt_price=3.00, tif="GTC", parent_id=1), OPT)

    events = engine.end_of_day()

    assert states(events) == [(1, "Cancelled", 0, 1), (3, "Cancelled", 0, 1)]
    assert [o.order.order_id for o in engine.open_orders()] == [2]


def test_global_cancel_cancels_every_live_order_once(engine):
    place_bracket(engine, parent_price=1.50)
    engine.place(order(4, "BUY", 1, "LMT", lmt_price=1.00), OPT)

    events = engine.cancel_all()

    assert [s[:2] for s in states(events)] == [(1, "Cancelled"), (2, "Cancelled"),
                                               (3, "Cancelled"), (4, "Cancelled")]
    assert [e.code for e in events if isinstance(e, OrderRejectedEvent)] == [202] * 4
    assert engine.open_orders() == []


def test_cancelling_a_partially_filled_parent_keeps_children_for_the_filled_part(engine):
    engine.set_partial_fills(True, chunk=1)
    place_bracket(engine, parent_type="MKT", qty=3)

    events = engine.cancel(1)

    assert states(events) == [(1, "Cancelled", 1, 2)]
    assert [(o.order.order_id, o.order.total_qty, o.status) for o in engine.open_orders()] == [
        (2, 1, "Submitted"), (3, 1, "Submitted")]


def test_position_event_follows_each_fill(engine):
    events = engine.place(order(1, "BUY", 2), OPT) + engine.place(order(2, "SELL", 3), OPT)

    positions = [(e.position, e.avg_cost) for e in events if isinstance(e, PositionEvent)]

    assert positions == [(2, pytest.approx(210.65)), (-1, pytest.approx(199.35))]


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
