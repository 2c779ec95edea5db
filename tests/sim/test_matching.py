"""Specification of the simulator's matching engine (bot.sim.matching): the event order the
server encodes, brackets, transmit, faults, modify/cancel, listings and exec ids. Fill rules are
in test_matching_fills.py, OCA groups in test_matching_oca.py."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from engine_helpers import NOW, OPT, STK, fills, kinds, order, place_bracket, states

from bot.sim.account import Account
from bot.sim.matching import (
    UNSET_DOUBLE,
    MatchingEngine,
    OpenOrderEvent,
    OrderRejectedEvent,
    OrderStatusEvent,
    PositionEvent,
)


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

    cancelled = engine.cancel(1, 1)

    assert (held, cancelled, engine.open_orders(), engine.completed_orders()) == ([], [], [], [])
    assert engine.executions() == []


def test_cancelling_a_parent_cancels_its_children(engine):
    place_bracket(engine, parent_price=1.50)

    events = engine.cancel(1, 1)

    assert kinds(events) == ["OrderStatus", "OrderRejected"] * 3
    assert states(events) == [(1, "Cancelled", 0, 2), (2, "Cancelled", 0, 2),
                              (3, "Cancelled", 0, 2)]
    assert {(e.order_id, e.code) for e in events if isinstance(e, OrderRejectedEvent)} == {
        (1, 202), (2, 202), (3, 202)}
    assert engine.open_orders() == []
    assert [(o.order.order_id, o.status) for o in engine.completed_orders()] == [
        (1, "Cancelled"), (2, "Cancelled"), (3, "Cancelled")]


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
        engine.cancel(1, 1)

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

    events = engine.cancel(1, 1)

    assert [(e.code, e.message) for e in events] == [(code, message)]


def test_listings_of_executions_and_orders(engine):
    engine.place(order(1, "BUY", 2, order_ref="intent-1"), OPT)
    engine.place(order(2, "SELL", 1, order_ref="intent-2"), OPT)
    engine.place(order(3, "BUY", 1, "LMT", lmt_price=1.00), OPT)
    engine.place(order(4, "BUY", 1, "LMT", lmt_price=1.00), OPT)
    engine.cancel(4, 1)

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

    events = engine.cancel(1, 1)

    assert states(events) == [(1, "Cancelled", 1, 2)]
    assert [(o.order.order_id, o.order.total_qty, o.status) for o in engine.open_orders()] == [
        (2, 1, "Submitted"), (3, 1, "Submitted")]


def test_position_event_follows_each_fill(engine):
    events = engine.place(order(1, "BUY", 2), OPT) + engine.place(order(2, "SELL", 3), OPT)

    positions = [(e.position, e.avg_cost) for e in events if isinstance(e, PositionEvent)]

    assert positions == [(2, pytest.approx(210.65)), (-1, pytest.approx(199.35))]




def test_two_clients_brackets_under_the_same_ids_stay_apart(engine, quotes):
    """Order ids are per client: client 2's bracket under ids 1-3 is its own family, so client
    1's parent filling activates only client 1's children and a cancel reaches one client's."""
    # Arrange: the same resting bracket (parent BUY LMT 1.90 below the ask) for clients 1 and 2
    place_bracket(engine, parent_price=1.90)
    for oid, fields in ((1, {"lmt_price": 1.90}), (2, {"lmt_price": 2.60, "parent_id": 1}),
                        (3, {"aux_price": 1.60, "parent_id": 1})):
        theirs = order(oid, "BUY" if oid == 1 else "SELL", 2, ("LMT", "LMT", "STP")[oid - 1],
                       **fields)
        engine.place(replace(theirs, client_id=2, perm_id=2000 + oid), OPT)
    # Act: client 2 cancels its parent, then the ask drops through the parents' limit
    cancelled = engine.cancel(1, 2)
    quotes[OPT.con_id] = (1.80, 1.85, 1.85)
    filled = engine.on_market()
    # Assert
    assert {(e.client_id, e.order_id, e.status) for e in cancelled
            if isinstance(e, OrderStatusEvent)} == {(2, 1, "Cancelled"), (2, 2, "Cancelled"),
                                                    (2, 3, "Cancelled")}
    assert [(e.client_id, e.order_id, e.status) for e in filled
            if isinstance(e, OrderStatusEvent)] == [(1, 1, "Filled"), (1, 2, "Submitted"),
                                                   (1, 3, "Submitted")]
    assert sorted((e.order.client_id, e.order.order_id) for e in engine.open_orders()) == [
        (1, 2), (1, 3)]
