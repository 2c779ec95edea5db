"""Cancel, modify and execution ids through the real ib_insync client, as IB answers them:
cancelling a filled order is error 10148 and leaves it Filled, an unknown id is 10147; a modify
(placeOrder again with the same id) changes a working order in place and is refused for a
finished one; exec ids never repeat, not even after the gateway restarts."""

from __future__ import annotations

from ib_insync import LimitOrder, MarketOrder, Order, Stock

STILL = dict(speed=0.001, tick_interval_s=0.05)
"""The market stays on one simulated second for the whole test (known prices)."""


def _spy(ib):
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    return spy


def _errors(ib) -> list[tuple[int, int, str]]:
    """Every error/warning the client receives, as (reqId, code, text)."""
    seen: list[tuple[int, int, str]] = []
    ib.errorEvent += lambda req_id, code, text, contract: seen.append((req_id, code, text))
    return seen


def test_cancelling_a_filled_order_is_error_10148_and_it_stays_filled(make_gateway, make_ib,
                                                                        until):
    gateway = make_gateway(**STILL)
    ib = make_ib(gateway)
    spy = _spy(ib)
    trade = ib.placeOrder(spy, MarketOrder("BUY", 1))
    assert until(ib, lambda: trade.isDone(), 5)
    errors = _errors(ib)

    ib.cancelOrder(trade.order)
    assert until(ib, lambda: errors, 5)

    oid = trade.order.orderId
    assert errors == [(oid, 10148, f"OrderId {oid} that needs to be cancelled cannot be "
                                   "cancelled, state: Filled.")]
    assert (trade.orderStatus.status, trade.orderStatus.filled) == ("Filled", 1)
    assert [t.orderStatus.status for t in ib.reqCompletedOrders(apiOnly=True)] == ["Filled"]


def test_cancelling_an_unknown_order_is_error_10147(gateway, ib, until):
    errors = _errors(ib)

    ib.cancelOrder(Order(orderId=4242))
    assert until(ib, lambda: errors, 5)

    assert errors == [(4242, 10147, "OrderId 4242 that needs to be cancelled is not found.")]


def test_cancelling_a_working_order_is_confirmed_with_202(make_gateway, make_ib, until):
    gateway = make_gateway(**STILL)
    ib = make_ib(gateway)
    spy = _spy(ib)
    trade = ib.placeOrder(spy, LimitOrder("BUY", 1, round(gateway.market.quote("SPY").bid - 5, 2)))
    assert until(ib, lambda: trade.orderStatus.status == "Submitted", 5)
    errors = _errors(ib)

    ib.cancelOrder(trade.order)
    assert until(ib, lambda: trade.isDone() and errors, 5)

    assert trade.orderStatus.status == "Cancelled"
    assert errors == [(trade.order.orderId, 202, "Order Canceled - reason:")]


def test_modify_changes_a_working_order_in_place(make_gateway, make_ib, until):
    # Arrange
    gateway = make_gateway(**STILL)
    ib = make_ib(gateway)
    spy = _spy(ib)
    bid = gateway.market.quote("SPY").bid
    trade = ib.placeOrder(spy, LimitOrder("BUY", 2, round(bid - 5, 2), orderRef="m-1"))
    assert until(ib, lambda: trade.orderStatus.status == "Submitted", 5)
    oid, perm_id = trade.order.orderId, trade.order.permId
    # Act: a new price and quantity on the same order id
    trade.order.lmtPrice, trade.order.totalQuantity = round(bid - 4, 2), 3
    again = ib.placeOrder(spy, trade.order)
    assert until(ib, lambda: trade.orderStatus.remaining == 3, 5)
    # Assert: one order, same ids, still working with the new terms
    assert again is trade
    [working] = gateway.engine.open_orders()
    assert (working.order.order_id, working.order.perm_id) == (oid, perm_id)
    assert (working.order.lmt_price, working.order.total_qty) == (round(bid - 4, 2), 3)
    assert (trade.orderStatus.status, trade.order.permId) == ("Submitted", perm_id)
    assert "Modify" in [entry.message for entry in trade.log]  # ib_insync logged it as one


def test_modifying_a_filled_order_is_error_104(make_gateway, make_ib, until):
    gateway = make_gateway(**STILL)
    ib = make_ib(gateway)
    spy = _spy(ib)
    trade = ib.placeOrder(spy, LimitOrder("BUY", 1, round(gateway.market.quote("SPY").ask + 1, 2)))
    assert until(ib, lambda: trade.isDone(), 5)
    errors = _errors(ib)

    trade.order.lmtPrice -= 2
    ib.client.placeOrder(trade.order.orderId, spy, trade.order)  # ib.placeOrder refuses a done one
    assert until(ib, lambda: errors, 5)

    assert errors == [(trade.order.orderId, 104, "Can't modify a filled order.")]
    assert (trade.orderStatus.status, trade.orderStatus.filled) == ("Filled", 1)


def test_exec_ids_are_never_reused_by_a_restarted_gateway(make_gateway, make_ib, until):
    def fill_once() -> str:
        gateway = make_gateway(**STILL)
        ib = make_ib(gateway)
        trade = ib.placeOrder(_spy(ib), MarketOrder("BUY", 1))
        assert until(ib, lambda: trade.fills, 5)
        ib.disconnect()
        gateway.stop()
        return trade.fills[0].execution.execId

    first, restarted = fill_once(), fill_once()

    assert first != restarted


def _spy_on(ib, name: str) -> list[tuple]:
    """Record the arguments of one of ib_insync's wrapper callbacks, then let it run."""
    calls: list[tuple] = []
    original = getattr(ib.wrapper, name)

    def record(*args):
        calls.append(args)
        return original(*args)

    setattr(ib.wrapper, name, record)
    return calls


def test_a_filled_order_is_sent_again_as_open_order_with_status_filled(make_gateway, make_ib,
                                                                       until):
    gateway = make_gateway(**STILL)
    ib = make_ib(gateway)
    spy = _spy(ib)
    opened = _spy_on(ib, "openOrder")

    trade = ib.placeOrder(spy, MarketOrder("BUY", 1))
    assert until(ib, lambda: trade.isDone() and len(opened) >= 2, 5)

    assert [(oid, state.status) for oid, _, _, state in opened] == [
        (trade.order.orderId, "Submitted"), (trade.order.orderId, "Filled")]


def test_completed_orders_say_filled_or_cancelled_by_trader(make_gateway, make_ib, until):
    # Arrange: one order filled, one cancelled by the client, a minute apart
    gateway = make_gateway(**STILL)
    ib = make_ib(gateway)
    spy = _spy(ib)
    filled = ib.placeOrder(spy, MarketOrder("BUY", 1))
    assert until(ib, lambda: filled.isDone(), 5)
    gateway.clock.jump(60)
    resting = ib.placeOrder(spy, LimitOrder("BUY", 1, round(gateway.market.quote("SPY").bid - 5,
                                                             2)))
    assert until(ib, lambda: resting.orderStatus.status == "Submitted", 5)
    ib.cancelOrder(resting.order)
    assert until(ib, lambda: resting.isDone(), 5)
    completed = _spy_on(ib, "completedOrder")
    # Act
    ib.reqCompletedOrders(apiOnly=True)
    # Assert
    states = [(order.permId, state.status, state.completedStatus, state.completedTime)
              for _, order, state in completed]  # completedOrder carries no orderId, as at IB
    assert [s[:3] for s in states] == [
        (filled.order.permId, "Filled", "Filled"),
        (resting.order.permId, "Cancelled", "Cancelled by Trader")]
    assert states[0][3] != states[1][3]  # each stamped when it finished
