"""OCA groups, brackets and transmit through the real ib_insync client, as IB defines them:
ocaType 1 cancels the other members on any fill (a partial one too), 2 and 3 reduce them by the
filled quantity and cancel them once a member is complete, 0 is no group at all; cancelling a
member cancels the group; a held (transmit=False) order never works until its family is
transmitted; children wait PreSubmitted for their parent's fill and work its filled quantity."""

from __future__ import annotations

import pytest
from ib_insync import LimitOrder, MarketOrder, Order, Stock, StopOrder

STILL = dict(speed=0.001, tick_interval_s=0.05)
"""The market stays on one simulated second for the whole test while the engine matches every
50 ms, so prices are known and partial fills progress one chunk per tick."""


def _spy(ib):
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    return spy


def _ticks_pass(gateway, ib, until, n: int = 2) -> bool:
    """Wait until the engine matched at least n more times (to show that nothing happened)."""
    start = gateway.counters().get("tick.steps", 0)
    return until(ib, lambda: gateway.counters().get("tick.steps", 0) >= start + n, 5)


def _long(ib, until, spy, qty: int) -> None:
    """Buy qty shares and wait until they are all held."""
    trade = ib.placeOrder(spy, MarketOrder("BUY", qty))
    assert until(ib, lambda: trade.isDone() and [p.position for p in ib.positions()] == [qty], 10)


def _changes(values: list) -> list:
    """values without consecutive repeats (one openOrder per change)."""
    return [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]


def _group(order: Order, name: str, oca_type: int) -> Order:
    order.ocaGroup, order.ocaType = name, oca_type
    return order


@pytest.mark.parametrize(
    ("oca_type", "stop_sizes", "stop_status"),
    [
        (1, [3], "Cancelled"),  # the first partial fill of the take-profit cancels the stop
        (2, [3, 2, 1], "Cancelled"),  # reduced by each partial fill, cancelled at the end
        (3, [3, 2, 1], "Cancelled"),
    ],
)
def test_partial_fills_of_an_oca_member_cancel_or_reduce_the_others(
    make_gateway, make_ib, until, oca_type, stop_sizes, stop_status
):
    # Arrange: long 3, a resting stop, then a take-profit that fills one share per tick
    gateway = make_gateway(partial_fills=True, **STILL)
    ib = make_ib(gateway)
    spy = _spy(ib)
    _long(ib, until, spy, 3)
    bid = gateway.market.quote("SPY").bid
    stop = ib.placeOrder(spy, _group(StopOrder("SELL", 3, round(bid - 20, 2)), "G", oca_type))
    assert until(ib, lambda: stop.orderStatus.status == "Submitted", 5)
    sizes = [stop.order.totalQuantity]
    ib.openOrderEvent += lambda t: t is stop and sizes.append(t.order.totalQuantity)
    # Act
    profit = ib.placeOrder(spy, _group(LimitOrder("SELL", 3, round(bid - 1, 2)), "G", oca_type))
    assert until(ib, lambda: profit.isDone() and stop.isDone(), 10)
    # Assert
    assert (profit.orderStatus.status, profit.orderStatus.filled) == ("Filled", 3)
    assert [f.execution.shares for f in profit.fills] == [1, 1, 1]
    assert (stop.orderStatus.status, stop.fills) == (stop_status, [])
    assert _changes(sizes) == stop_sizes
    assert ib.positions() == []


def test_oca_type_1_partial_take_profit_fill_cancels_the_bracket_stop(make_gateway, make_ib, until):
    # Arrange: a bracket whose children share an ocaType 1 group; the take-profit is marketable
    gateway = make_gateway(partial_fills=True, **STILL)
    ib = make_ib(gateway)
    spy = _spy(ib)
    q = gateway.market.quote("SPY")
    parent, profit, stop = ib.bracketOrder("BUY", 3, round(q.ask + 1, 2), round(q.bid - 1, 2),
                                           round(q.bid - 20, 2))
    for child in (profit, stop):
        _group(child, "bracket-1", 1)
    # Act
    trades = [ib.placeOrder(spy, o) for o in (parent, profit, stop)]
    assert until(ib, lambda: all(t.isDone() for t in trades), 10)
    # Assert: the parent filled 1 + 1 + 1; the take-profit's first share cancelled the stop
    p, tp, sl = trades
    assert (p.orderStatus.status, p.orderStatus.filled) == ("Filled", 3)
    assert (tp.orderStatus.status, sl.orderStatus.status) == ("Filled", "Cancelled")
    assert sl.fills == []
    assert sum(f.execution.shares for f in tp.fills) == 3


@pytest.mark.parametrize(("group", "oca_type"), [("G", 0), ("", 1)])
def test_orders_outside_an_oca_group_can_both_fill(make_gateway, make_ib, until, group, oca_type):
    # Arrange: long 2, a resting sell, then a marketable sell "in the same group"
    gateway = make_gateway(**STILL)
    ib = make_ib(gateway)
    spy = _spy(ib)
    _long(ib, until, spy, 2)
    bid = gateway.market.quote("SPY").bid
    resting = ib.placeOrder(spy, _group(LimitOrder("SELL", 2, round(bid + 5, 2)), group, oca_type))
    assert until(ib, lambda: resting.orderStatus.status == "Submitted", 5)
    # Act: the marketable one fills; then the resting one is made marketable too
    filled = ib.placeOrder(spy, _group(LimitOrder("SELL", 2, round(bid - 1, 2)), group, oca_type))
    assert until(ib, lambda: filled.isDone(), 5)
    assert resting.orderStatus.status == "Submitted"
    resting.order.lmtPrice = round(bid - 2, 2)
    ib.placeOrder(spy, resting.order)
    assert until(ib, lambda: resting.isDone(), 5)
    # Assert: both sold, the account is short 2
    assert [t.orderStatus.status for t in (filled, resting)] == ["Filled", "Filled"]
    assert until(ib, lambda: [p.position for p in ib.positions()] == [-2], 5)


@pytest.mark.parametrize("oca_type", [1, 2, 3])
def test_cancelling_one_oca_member_cancels_the_others(make_gateway, make_ib, until, oca_type):
    gateway = make_gateway(**STILL)
    ib = make_ib(gateway)
    spy = _spy(ib)
    bid = gateway.market.quote("SPY").bid
    low = ib.placeOrder(spy, _group(LimitOrder("BUY", 1, round(bid - 5, 2)), "G", oca_type))
    lower = ib.placeOrder(spy, _group(LimitOrder("BUY", 1, round(bid - 6, 2)), "G", oca_type))
    alone = ib.placeOrder(spy, LimitOrder("BUY", 1, round(bid - 7, 2)))
    assert until(ib, lambda: all(t.orderStatus.status == "Submitted"
                                 for t in (low, lower, alone)), 5)

    ib.cancelOrder(low.order)
    assert until(ib, lambda: low.isDone() and lower.isDone(), 5)

    assert [t.orderStatus.status for t in (low, lower, alone)] == [
        "Cancelled", "Cancelled", "Submitted"]


def test_held_parent_does_not_work_until_the_last_child_transmits(make_gateway, make_ib, until):
    # Arrange: a marketable parent placed with transmit=False
    gateway = make_gateway(**STILL)
    ib = make_ib(gateway)
    spy = _spy(ib)
    q = gateway.market.quote("SPY")
    parent, profit, stop = ib.bracketOrder("BUY", 2, round(q.ask + 1, 2), round(q.bid + 30, 2),
                                           round(q.bid - 30, 2))
    held = ib.placeOrder(spy, parent)
    held_child = ib.placeOrder(spy, profit)
    # Act 1: the engine matches several times; a later transmitted order does fill
    other = ib.placeOrder(spy, MarketOrder("BUY", 1))
    assert until(ib, lambda: other.isDone(), 5) and _ticks_pass(gateway, ib, until)
    # Assert 1: nothing about the held orders reached the client, nothing filled
    assert [t.orderStatus.status for t in (held, held_child)] == ["PendingSubmit"] * 2
    assert held.fills == [] and len(gateway.engine.open_orders()) == 0
    # Act 2: the last child transmits the family (under a fresh id: IB refuses with 103 an
    # id below one the client already used, here the other order's)
    stop.orderId = ib.client.getReqId()
    last = ib.placeOrder(spy, stop)
    assert until(ib, lambda: held.isDone() and held_child.orderStatus.status == "Submitted"
                 and last.orderStatus.status == "Submitted", 5)
    # Assert 2
    assert (held.orderStatus.status, held.orderStatus.filled) == ("Filled", 2)


def test_children_stay_presubmitted_and_unmatched_until_the_parent_fills(
    make_gateway, make_ib, until
):
    # Arrange: a resting parent; its take-profit would be marketable at once if it worked
    gateway = make_gateway(**STILL)
    ib = make_ib(gateway)
    spy = _spy(ib)
    q = gateway.market.quote("SPY")
    orders = ib.bracketOrder("BUY", 2, round(q.bid - 5, 2), round(q.bid - 1, 2),
                             round(q.bid - 30, 2))
    parent, profit, stop = [ib.placeOrder(spy, o) for o in orders]
    assert until(ib, lambda: profit.orderStatus.status == "PreSubmitted", 5)
    assert _ticks_pass(gateway, ib, until)
    assert [t.orderStatus.status for t in (parent, profit, stop)] == [
        "Submitted", "PreSubmitted", "PreSubmitted"]
    assert profit.fills == []
    # Act: the parent is made marketable (a modify)
    parent.order.lmtPrice = round(q.ask + 1, 2)
    ib.placeOrder(spy, parent.order)
    assert until(ib, lambda: all(t.isDone() for t in (parent, profit, stop)), 5)
    # Assert
    assert [t.orderStatus.status for t in (parent, profit, stop)] == [
        "Filled", "Filled", "Cancelled"]


def test_children_work_the_parents_filled_quantity(make_gateway, make_ib, until):
    gateway = make_gateway(partial_fills=True, **STILL)
    ib = make_ib(gateway)
    spy = _spy(ib)
    q = gateway.market.quote("SPY")
    orders = ib.bracketOrder("BUY", 3, round(q.ask + 1, 2), round(q.bid + 30, 2),
                             round(q.bid - 30, 2))
    sizes: list[tuple[int, float]] = []
    ib.openOrderEvent += lambda t: sizes.append((t.order.orderId, t.order.totalQuantity))

    parent, profit, stop = [ib.placeOrder(spy, o) for o in orders]
    assert until(ib, lambda: parent.isDone() and profit.order.totalQuantity == 3
                 and stop.order.totalQuantity == 3, 10)

    profit_sizes = [qty for oid, qty in sizes if oid == profit.order.orderId]
    assert _changes(profit_sizes) == [3, 1, 2, 3]  # full size while waiting, then the fills
    assert [t.orderStatus.status for t in (profit, stop)] == ["Submitted", "Submitted"]


def test_a_child_transmits_its_held_siblings_under_a_working_parent(make_gateway, make_ib, until):
    gateway = make_gateway(**STILL)
    ib = make_ib(gateway)
    spy = _spy(ib)
    bid = gateway.market.quote("SPY").bid
    parent = ib.placeOrder(spy, LimitOrder("BUY", 1, round(bid - 5, 2)))
    assert until(ib, lambda: parent.orderStatus.status == "Submitted", 5)
    first = LimitOrder("SELL", 1, round(bid + 5, 2), parentId=parent.order.orderId,
                       transmit=False)
    second = StopOrder("SELL", 1, round(bid - 30, 2), parentId=parent.order.orderId)

    held, last = ib.placeOrder(spy, first), ib.placeOrder(spy, second)
    assert until(ib, lambda: held.orderStatus.status == last.orderStatus.status
                 == "PreSubmitted", 5)

    ib.cancelOrder(parent.order)
    assert until(ib, lambda: all(t.isDone() for t in (parent, held, last)), 5)
    assert [t.orderStatus.status for t in (parent, held, last)] == ["Cancelled"] * 3
