"""Orders through the real ib_insync client: fills at the touch, limits, stops, brackets with
OCA siblings, orderRef round trips, executions/commissions, positions and account values
consistent with the fills, and order ids owned per client."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ib_insync import IB, LimitOrder, MarketOrder, Option, Stock, StopOrder

FROZEN = dict(tick_interval_s=30.0)
"""The market only steps on ticks: with a 30 s tick it stays at the start for the whole test."""
WORKING_BRACKET_AND_LONE = ["Submitted", "PreSubmitted", "PreSubmitted", "Submitted"]


def _spy(ib):
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    return spy


def _atm_call(gateway, ib):
    expiry = sorted(gateway.contracts.chain_params("SPY", gateway.clock.now().date())[0][3])[1]
    strike = float(round(gateway.market.spot("SPY")))
    opt = Option("SPY", expiry, strike, "C", "SMART")
    ib.qualifyContracts(opt)
    return opt


@pytest.mark.parametrize(
    ("action", "side", "touch"), [("BUY", "BOT", "ask"), ("SELL", "SLD", "bid")]
)
def test_market_order_fills_at_the_touch(make_gateway, make_ib, until, action, side, touch):
    # Arrange
    gateway = make_gateway(**FROZEN)
    ib = make_ib(gateway)
    opt = _atm_call(gateway, ib)
    quote = gateway.market.option_quote(gateway.contracts.by_con_id(opt.conId))
    # Act
    trade = ib.placeOrder(opt, MarketOrder(action, 2, orderRef="intent-7"))
    assert until(ib, lambda: trade.isDone() and ib.positions(), 5)  # a fill ends with its position
    # Assert
    fill = trade.fills[0]
    assert trade.orderStatus.status == "Filled"
    assert (fill.execution.side, fill.execution.shares) == (side, 2.0)
    assert fill.execution.price == getattr(quote, touch)
    assert fill.execution.orderRef == "intent-7"
    assert fill.commissionReport.commission == pytest.approx(1.30)  # 2 contracts x 0.65
    [position] = ib.positions()
    sign = 1 if action == "BUY" else -1
    assert position.position == sign * 2
    assert position.avgCost == pytest.approx(getattr(quote, touch) * 100 + sign * 0.65)


def test_positions_and_cash_follow_fills(make_gateway, make_ib, until):
    gateway = make_gateway(**FROZEN)
    ib = make_ib(gateway)
    spy = _spy(ib)
    ask = gateway.market.quote("SPY").ask
    trade = ib.placeOrder(spy, MarketOrder("BUY", 100))
    assert until(
        ib,
        lambda: trade.isDone() and ib.portfolio() and trade.fills[0].commissionReport.commission,
        5,
    )
    commission = trade.fills[0].commissionReport.commission
    assert commission == pytest.approx(1.0)  # 100 shares x 0.005 = 0.50 -> minimum 1.00
    values = {
        v.tag: float(v.value)
        for v in ib.accountValues()
        if v.currency == "USD" and v.tag in ("TotalCashValue", "NetLiquidation")
    }
    assert values["TotalCashValue"] == pytest.approx(100_000 - 100 * ask - commission)
    [item] = ib.portfolio()
    assert (item.position, item.averageCost) == (100, pytest.approx(ask + commission / 100))
    summary = {v.tag: v.value for v in ib.accountSummary()}
    assert float(summary["TotalCashValue"]) == pytest.approx(values["TotalCashValue"])


def test_limit_away_from_market_works_then_cancels(make_gateway, make_ib, until):
    gateway = make_gateway(**FROZEN)
    ib = make_ib(gateway)
    spy = _spy(ib)
    bid = gateway.market.quote("SPY").bid
    trade = ib.placeOrder(spy, LimitOrder("BUY", 10, round(bid - 5, 2), orderRef="low-bid"))
    assert until(ib, lambda: trade.orderStatus.status == "Submitted", 5)
    assert trade.order.permId > 0
    ib.cancelOrder(trade.order)
    assert until(ib, lambda: trade.orderStatus.status == "Cancelled", 5)
    assert trade.fills == [] and ib.positions() == []


def test_open_orders_are_adopted_with_their_order_ref_after_reconnect(make_gateway, until):
    gateway = make_gateway(**FROZEN)
    first = IB()
    first.connect("127.0.0.1", gateway.port, clientId=1, timeout=5)
    spy = _spy(first)
    bid = gateway.market.quote("SPY").bid
    placed = first.placeOrder(spy, LimitOrder("BUY", 3, round(bid - 3, 2), orderRef="intent-42"))
    assert until(first, lambda: placed.orderStatus.status == "Submitted", 5)
    first.disconnect()
    second = IB()
    try:
        second.connect("127.0.0.1", gateway.port, clientId=1, timeout=5)
        [adopted] = second.openTrades()
        assert (adopted.order.orderId, adopted.order.orderRef) == (
            placed.order.orderId,
            "intent-42",
        )
        assert (adopted.order.lmtPrice, adopted.order.totalQuantity) == (round(bid - 3, 2), 3)
        assert adopted.orderStatus.status == "Submitted"
    finally:
        second.disconnect()


def test_sell_stop_triggers_and_fills_at_the_bid(make_gateway, make_ib, until):
    gateway = make_gateway(**FROZEN)
    ib = make_ib(gateway)
    spy = _spy(ib)
    quote = gateway.market.quote("SPY")
    trade = ib.placeOrder(spy, StopOrder("SELL", 10, round(quote.bid + 0.5, 2)))  # already through
    assert until(ib, lambda: trade.isDone() and ib.positions(), 5)
    assert trade.fills[0].execution.price == quote.bid
    assert ib.positions()[0].position == -10


def test_bracket_fills_and_its_sibling_is_cancelled(make_gateway, make_ib, until):
    # Arrange: the take-profit is marketable as soon as the parent fills
    gateway = make_gateway(speed=1.0)
    ib = make_ib(gateway)
    spy = _spy(ib)
    q = gateway.market.quote("SPY")
    bracket = ib.bracketOrder(
        "BUY",
        10,
        limitPrice=round(q.ask + 0.5, 2),
        takeProfitPrice=round(q.bid - 0.5, 2),
        stopLossPrice=round(q.bid - 10, 2),
    )
    # Act
    parent, profit, stop = [ib.placeOrder(spy, o) for o in bracket]
    assert until(  # the position update (flat again) follows the profit's commission report
        ib,
        lambda: (
            all(t.isDone() for t in (parent, profit, stop))
            and profit.fills
            and profit.fills[0].commissionReport.commission
            and not ib.positions()
        ),
        5,
    )
    # Assert
    assert [t.orderStatus.status for t in (parent, profit, stop)] == [
        "Filled",
        "Filled",
        "Cancelled",
    ]
    assert parent.fills[0].execution.price <= bracket[0].lmtPrice
    assert profit.fills[0].execution.price >= bracket[1].lmtPrice
    assert stop.fills == [] and ib.positions() == []
    assert {t.order.parentId for t in (profit, stop)} == {parent.order.orderId}
    pnl = (profit.fills[0].execution.price - parent.fills[0].execution.price) * 10
    realized = profit.fills[0].commissionReport.realizedPNL
    assert realized == pytest.approx(pnl - 2.0)  # minus both 1.00 commissions
    assert gateway.counters()["orders.filled"] == 2


def test_executions_and_completed_orders_are_served_on_request(make_gateway, make_ib, until):
    gateway = make_gateway(**FROZEN)
    ib = make_ib(gateway)
    spy = _spy(ib)
    trade = ib.placeOrder(spy, MarketOrder("BUY", 5, orderRef="exec-check"))
    assert until(ib, lambda: trade.isDone(), 5)
    ib = make_ib(gateway, 2)  # a fresh client: its connect-time reqExecutions brings the fills
    fills = ib.fills()
    assert [(f.execution.orderRef, f.execution.shares) for f in fills] == [("exec-check", 5.0)]
    assert fills[0].commissionReport.commission == pytest.approx(1.0)
    completed = ib.reqCompletedOrders(apiOnly=False)
    assert [(t.order.orderRef, t.orderStatus.status) for t in completed] == [
        ("exec-check", "Filled")
    ]


def test_the_same_order_id_from_two_clients_is_two_orders(make_gateway, make_ib, until):
    """Order ids are per client at IB: (clientId, orderId) names an order, permId is global."""
    # Arrange: client 1 rests order id N
    gateway = make_gateway(**FROZEN)
    one, two = make_ib(gateway, 1), make_ib(gateway, 2)
    spy = _spy(one)
    low = round(gateway.market.quote("SPY").bid - 5, 2)
    mine = one.placeOrder(spy, LimitOrder("BUY", 1, low))
    assert until(one, lambda: mine.orderStatus.status == "Submitted", 5)
    errors: list[tuple[int, int]] = []
    two.errorEvent += lambda req_id, code, text, c: errors.append((req_id, code))
    # Act: client 2 places its own order under the same id, then cancels it
    same = LimitOrder("BUY", 2, low)
    same.orderId = mine.order.orderId
    theirs = two.placeOrder(spy, same)
    assert until(two, lambda: theirs.orderStatus.status == "Submitted", 5)
    two.cancelOrder(theirs.order)
    assert until(two, lambda: theirs.isDone(), 5)
    # Assert: two orders with distinct permIds; the cancel took only client 2's
    assert [code for _, code in errors] == [202]  # only the cancel's notice, no 103
    assert theirs.order.permId != mine.order.permId > 0
    assert (theirs.orderStatus.status, mine.orderStatus.status) == ("Cancelled", "Submitted")
    assert [(e.order.client_id, e.order.order_id, e.order.total_qty)
            for e in gateway.engine.open_orders()] == [(1, mine.order.orderId, 1)]


def test_an_id_below_one_the_client_used_is_refused_with_103_and_others_may_use_it(
    make_gateway, make_ib, until
):
    """IB wants every new order id above all the client's previous ones (an id of a kept
    order of its own is a modification; a forgotten one is refused too, see
    test_server_history)."""
    # Arrange: client 1 places orders under ids 20 and 22 (the first one filled, done)
    gateway = make_gateway(**FROZEN)
    one, two = make_ib(gateway, 1), make_ib(gateway, 2)
    spy = _spy(one)
    low = round(gateway.market.quote("SPY").bid - 5, 2)
    first = MarketOrder("BUY", 1)
    first.orderId = 20
    assert until(one, one.placeOrder(spy, first).isDone, 5)
    second = LimitOrder("BUY", 1, low)
    second.orderId = 22
    assert until(one, lambda: one.placeOrder(spy, second).orderStatus.status == "Submitted", 5)
    reused = 21  # never used, but below 22
    # Act: client 1 and client 2 each place a new order under that id
    trades = []
    for client in (one, two):
        order = LimitOrder("BUY", 1, low)
        order.orderId = reused
        trades.append(client.placeOrder(spy, order))
    assert until(one, lambda: trades[0].isDone() and trades[1].orderStatus.status == "Submitted",
                 5)
    # Assert: a duplicate within client 1's ids only
    assert [e.errorCode for e in trades[0].log if e.errorCode] == [103]
    assert trades[0].log[-1].message.endswith("Duplicate order id")
    assert [(e.order.client_id, e.order.order_id) for e in gateway.engine.open_orders()] == [
        (1, 22), (2, reused)]


def test_rejected_contract_gets_error_200_and_no_order(make_gateway, make_ib, until):
    gateway = make_gateway(**FROZEN)
    ib = make_ib(gateway)
    trade = ib.placeOrder(Stock("NOPE", "SMART", "USD"), MarketOrder("BUY", 1))
    assert until(ib, lambda: trade.isDone(), 5)
    assert trade.orderStatus.status == "Cancelled"
    assert trade.log[-1].errorCode == 200
    assert "orders.placed" not in gateway.counters()


def test_global_cancel_cancels_every_order_once(make_gateway, make_ib, until):
    # Arrange: a resting bracket (children wait for the parent) and a lone resting order
    gateway = make_gateway(**FROZEN)
    ib = make_ib(gateway)
    spy = _spy(ib)
    bid = gateway.market.quote("SPY").bid
    bracket = ib.bracketOrder("BUY", 5, round(bid - 5, 2), round(bid + 5, 2), round(bid - 10, 2))
    trades = [ib.placeOrder(spy, o) for o in bracket]
    trades.append(ib.placeOrder(spy, LimitOrder("SELL", 1, round(bid + 20, 2))))
    assert until(ib, lambda: [t.orderStatus.status for t in trades] == WORKING_BRACKET_AND_LONE, 5)
    codes: list[int] = []
    ib.errorEvent += lambda req_id, code, text, contract: codes.append(code)
    # Act
    ib.reqGlobalCancel()
    assert until(ib, lambda: all(t.isDone() for t in trades) and len(codes) >= 4, 5)
    # Assert: one "cancelled" notice per order, no 10148 for children the parent took along
    assert [t.orderStatus.status for t in trades] == ["Cancelled"] * 4
    assert codes == [202] * 4
    assert gateway.engine.open_orders() == []


def test_day_orders_expire_at_the_close_and_gtc_orders_stay(make_gateway, make_ib, until):
    # Arrange: two resting buys far below the market, one DAY (the default) and one GTC
    gateway = make_gateway(speed=1.0)
    ib = make_ib(gateway)
    spy = _spy(ib)
    low = round(gateway.market.quote("SPY").bid - 30, 2)
    day = ib.placeOrder(spy, LimitOrder("BUY", 1, low))
    gtc = ib.placeOrder(spy, LimitOrder("BUY", 1, low, tif="GTC"))
    assert until(ib, lambda: [t.orderStatus.status for t in (day, gtc)] == ["Submitted"] * 2, 5)
    # Act: from Wednesday 09:30 to past the 16:00 close
    gateway.clock.jump(6.5 * 3600 + 1)
    assert until(ib, lambda: day.isDone(), 5)
    # Assert
    assert (day.orderStatus.status, gtc.orderStatus.status) == ("Cancelled", "Submitted")
    assert [e.order.order_id for e in gateway.engine.open_orders()] == [gtc.order.orderId]
    assert gateway.counters()["session.closes"] == 1
    assert gateway.next_close == datetime(2026, 11, 19, 21, 0, tzinfo=UTC)



@pytest.mark.parametrize("asked_all, new_id, refused", [
    (False, 10, False),  # another client's order id 50 is not one of its ids
    (True, 10, True),  # once reqAllOpenOrders returned order 50, ids up to 50 are taken
    (True, 50, True),
    (True, 51, False),
])
def test_ids_returned_by_req_all_open_orders_count_as_the_clients_own(
    make_gateway, make_ib, until, asked_all, new_id, refused
):
    """IB: a client that used reqAllOpenOrders must place ids above those of every order it
    returned (ib_insync raises its own id sequence on every openOrder for that reason)."""
    # Arrange: client 1 rests order 50; client 2 maybe asks for everyone's open orders
    gateway = make_gateway(**FROZEN)
    one, two = make_ib(gateway, 1), make_ib(gateway, 2)
    spy = _spy(one)
    low = round(gateway.market.quote("SPY").bid - 5, 2)
    first = LimitOrder("BUY", 1, low)
    first.orderId = 50
    assert until(one, lambda: one.placeOrder(spy, first).orderStatus.status == "Submitted", 5)
    if asked_all:
        assert [t.order.orderId for t in two.reqAllOpenOrders()] == [50]
    # Act: client 2 sends a new order under new_id (straight to the socket: ib_insync's own
    # Trade for order 50 would make it a modification)
    codes: list[int] = []
    two.errorEvent += lambda req_id, code, text, c: req_id == new_id and codes.append(code)
    two.client.placeOrder(new_id, spy, LimitOrder("BUY", 1, low))
    assert until(two, lambda: codes or gateway.order_kept(2, new_id), 5)
    # Assert
    assert (codes == [103]) == refused and gateway.order_kept(2, new_id) == (not refused)
