"""Specification of what the simulator's matching engine keeps (bot.sim.matching, "What is
kept"): on_market() looks at working orders only, finished orders and executions are kept for
their exchange day up to a maximum count, and a day change forgets the previous day's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ib_insync import MarketOrder, Stock

from bot.sim.account import Account
from bot.sim.contracts import SimContract
from bot.sim.matching import (
    ExecutionEvent,
    Kept,
    MatchingEngine,
    OrderRejectedEvent,
    OrderStatusEvent,
    SimOrder,
)

MONDAY = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)  # 10:30 New York
OPT = SimContract(con_id=901, symbol="SPY", sec_type="OPT", multiplier="100",
                  expiry="20260320", strike=500.0, right="C")


class Clock:
    """The engine's clock; tests move it forward by assigning `now`."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(MONDAY)


@pytest.fixture
def quote() -> list[tuple[float, float, float]]:
    """The option's (bid, ask, last) the engine reads; tests move it by assigning quote[0]."""
    return [(2.00, 2.10, 2.05)]


@pytest.fixture
def make_engine(clock, quote):
    def make(**limits) -> MatchingEngine:
        return MatchingEngine(Account(), lambda c: quote[0], clock, **limits)

    return make


def order(oid: int, action: str, qty: float, order_type: str = "MKT", **fields) -> SimOrder:
    return SimOrder(order_id=oid, client_id=1, perm_id=1000 + oid, action=action,
                    total_qty=qty, order_type=order_type, **fields)


def fill_one(engine: MatchingEngine, oid: int) -> None:
    """A market order that fills at once (alternating sides keeps the position small)."""
    engine.place(order(oid, "BUY" if oid % 2 else "SELL", 1), OPT)


def cancel_one(engine: MatchingEngine, oid: int) -> None:
    """A resting limit order, cancelled."""
    engine.place(order(oid, "BUY", 1, "LMT", lmt_price=1.00), OPT)
    engine.cancel(oid, 1)


def rest_one(engine: MatchingEngine, oid: int) -> None:
    """A limit order below the bid: stays working."""
    engine.place(order(oid, "BUY", 1, "LMT", lmt_price=1.00), OPT)


def test_on_market_looks_only_at_working_orders(make_engine):
    engine = make_engine()
    for oid in range(1, 601):
        (fill_one if oid % 2 else cancel_one)(engine, oid)
    for oid in range(601, 606):
        rest_one(engine, oid)

    events = engine.on_market()

    assert events == []
    assert engine.kept() == Kept(working=5, finished=600, executions=300, last_scan=5)
    assert [o.order.order_id for o in engine.open_orders()] == [601, 602, 603, 604, 605]


def test_finished_orders_are_kept_up_to_the_maximum_newest_first(make_engine):
    engine = make_engine(max_finished_orders=10)
    for oid in range(1, 31):
        (fill_one if oid % 2 else cancel_one)(engine, oid)
    rest_one(engine, 31)

    completed = [(o.order.order_id, o.status) for o in engine.completed_orders()]

    assert engine.kept().finished == 10
    assert completed == [(oid, "Filled" if oid % 2 else "Cancelled") for oid in range(21, 31)]
    [recent] = engine.cancel(30, 1)
    [forgotten] = engine.cancel(20, 1)
    assert (recent.code, recent.message) == (
        10148, "OrderId 30 that needs to be cancelled cannot be cancelled, state: Cancelled.")
    assert (forgotten.code, forgotten.message) == (
        10147, "OrderId 20 that needs to be cancelled is not found.")
    assert engine.kept().working == 1


def test_a_forgotten_order_id_is_not_placed_again(make_engine):
    engine = make_engine(max_finished_orders=2)
    for oid in range(1, 6):
        fill_one(engine, oid)

    again = engine.place(order(3, "BUY", 1), OPT)
    modify = engine.place(order(5, "BUY", 2), OPT)

    assert again == [OrderRejectedEvent(3, 1, 103, "Duplicate order id")]
    assert [(e.code, e.message) for e in modify] == [(104, "Can't modify a filled order.")]
    assert len(engine.executions()) == 5


def test_executions_of_the_current_day_are_answered(clock, make_engine):
    engine = make_engine()
    for oid in range(1, 41):
        fill_one(engine, oid)
        clock.now += timedelta(minutes=5)  # 10:30 .. 13:45 New York, one session

    executions = engine.executions()

    assert [e.order_id for e in executions] == list(range(1, 41))
    assert all(engine.commission_of(e.exec_id).commission == 1.00 for e in executions)


def test_a_day_change_forgets_the_previous_days_orders_and_executions(clock, make_engine):
    engine = make_engine()
    for oid in range(1, 21):
        (fill_one if oid % 2 else cancel_one)(engine, oid)
    rest_one(engine, 21)
    monday_exec = engine.executions()[0].exec_id

    clock.now = MONDAY + timedelta(days=1)  # Tuesday 10:30 New York
    fill_one(engine, 23)

    assert [e.order_id for e in engine.executions()] == [23]
    assert engine.commission_of(monday_exec) is None
    assert [o.order.order_id for o in engine.completed_orders()] == [23]
    assert [o.order.order_id for o in engine.open_orders()] == [21]
    assert engine.kept() == Kept(working=1, finished=1, executions=1, last_scan=0)


def test_exec_ids_keep_counting_after_executions_are_forgotten(make_engine):
    engine = make_engine(max_executions=2, exec_id_prefix=0xE0D5)
    for oid in range(1, 5):
        fill_one(engine, oid)

    exec_ids = [e.exec_id for e in engine.executions()]

    assert exec_ids == ["0000e0d5.00000003.01.01", "0000e0d5.00000004.01.01"]


def test_a_parent_stays_while_its_children_work_its_filled_quantity(clock, quote, make_engine):
    """A parent filled 1 of 3 and cancelled on Monday; on Tuesday its children still work 1
    (derived from the parent's fill), the stop fills 1 and its sibling is cancelled; the parent
    is forgotten with the last of its children."""
    engine = make_engine(max_finished_orders=1)
    engine.set_partial_fills(True, chunk=1)
    engine.place(order(1, "BUY", 3, transmit=False), OPT)
    engine.place(order(2, "SELL", 3, "LMT", lmt_price=2.60, parent_id=1, tif="GTC",
                       transmit=False), OPT)
    engine.place(order(3, "SELL", 3, "STP", aux_price=1.60, parent_id=1, tif="GTC",
                       trigger_method=4), OPT)  # bid/ask: triggers on the first look
    engine.cancel(1, 1)
    engine.set_partial_fills(False)
    clock.now = MONDAY + timedelta(days=1)
    for oid in range(4, 8):
        fill_one(engine, oid)

    working = [(o.order.order_id, o.order.total_qty) for o in engine.open_orders()]
    kept_for_children = engine.kept().finished
    quote[0] = (1.50, 1.55, 1.50)  # through the stop
    events = engine.on_market()

    assert working == [(2, 1), (3, 1)]
    assert kept_for_children == 2  # order 7 and the parent
    assert [(e.order_id, e.shares) for e in events if isinstance(e, ExecutionEvent)] == [(3, 1)]
    assert [(e.order_id, e.status) for e in events if isinstance(e, OrderStatusEvent)] == [
        (3, "Filled"), (2, "Cancelled")]
    clock.now = MONDAY + timedelta(days=2)
    assert engine.kept() == Kept(working=0, finished=0, executions=0, last_scan=2)


def test_gateway_answers_reqexecutions_with_the_current_days_only(make_gateway, make_ib, until):
    gateway = make_gateway(tick_interval_s=30.0)  # no market step during the test
    ib = make_ib(gateway)
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    trade = ib.placeOrder(spy, MarketOrder("BUY", 100))
    assert until(ib, trade.isDone, 5)

    today = [f.execution.execId for f in ib.reqExecutions()]
    completed_today = [t.order.permId for t in ib.reqCompletedOrders(apiOnly=True)]
    gateway.clock.jump(24 * 3600)
    tomorrow = ib.reqExecutions()
    completed_tomorrow = ib.reqCompletedOrders(apiOnly=True)

    assert today == [trade.fills[0].execution.execId]
    assert completed_today == [trade.order.permId]
    assert (tomorrow, completed_tomorrow) == ([], [])


def test_order_of_answers_for_the_kept_orders_only(make_engine):
    """The server reads an order's client and permId here; a forgotten or dropped id is None."""
    engine = make_engine(max_finished_orders=2)
    for oid in range(1, 4):
        fill_one(engine, oid)
    engine.place(order(4, "BUY", 1, transmit=False), OPT)  # held, then dropped untransmitted
    engine.cancel(4, 1)
    rest_one(engine, 5)

    kept = {oid: engine.order_of(oid, 1) for oid in range(1, 7)}

    assert {oid: (o.client_id, o.perm_id) for oid, o in kept.items() if o} == {
        2: (1, 1002), 3: (1, 1003), 5: (1, 1005)}
    assert [oid for oid, o in kept.items() if o is None] == [1, 4, 6]
