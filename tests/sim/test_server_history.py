"""Specification of what the simulated gateway keeps per order (bot.sim.server, module
docstring): nothing that grows with the orders ever placed. Owners and permIds come from the
matching engine's kept orders, the last orderStatus is kept for live orders only, and order ids
and permIds keep counting after the engine forgets the orders that used them."""

from __future__ import annotations

import pytest
from ib_insync import IB, LimitOrder, MarketOrder, Stock, Trade

from bot.sim.server import GatewayKept, SimGateway

FROZEN_AND_UNPACED = {"tick_interval_s": 30.0, "msg_rate_limit": 100_000}
"""No market step during the test (fills at the starting quotes) and no pacing of the burst."""
ONE_DAY_S = 24 * 3600  # Wednesday 09:30 New York -> Thursday 09:30


@pytest.fixture
def gateway(make_gateway) -> SimGateway:
    return make_gateway(**FROZEN_AND_UNPACED)


@pytest.fixture
def ib(gateway, make_ib) -> IB:
    client = make_ib(gateway)
    client.client.MaxRequests = 0  # ib_insync's own throttle would spread 600 orders over 15 s
    return client


@pytest.fixture
def spy(ib) -> Stock:
    contract = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(contract)
    return contract


def trade_a_day(ib: IB, spy: Stock, low: float, pairs: int, until) -> list[Trade]:
    """`pairs` market orders that fill (alternating sides) and as many resting limits, cancelled."""
    filled = [ib.placeOrder(spy, MarketOrder("BUY" if i % 2 else "SELL", 1)) for i in range(pairs)]
    resting = [ib.placeOrder(spy, LimitOrder("BUY", 1, low)) for _ in range(pairs)]
    assert until(ib, lambda: all(t.orderStatus.status == "Submitted" for t in resting), 10)
    for trade in resting:
        ib.cancelOrder(trade.order)
    trades = filled + resting
    assert until(ib, lambda: all(t.isDone() for t in trades), 10)
    return trades


def test_per_order_state_stays_bounded_over_600_orders_across_a_day_change(
    gateway, ib, spy, until
):
    # Arrange: a GTC order rests through both days
    low = round(gateway.market.quote("SPY").bid - 5, 2)
    gtc = ib.placeOrder(spy, LimitOrder("BUY", 1, low, tif="GTC"))
    # Act: 300 orders on Wednesday, 300 on Thursday
    wednesday = trade_a_day(ib, spy, low, 150, until)
    gateway.clock.jump(ONE_DAY_S)
    thursday = trade_a_day(ib, spy, low, 150, until)
    # Assert: the engine keeps Thursday's, the gateway only the live order's status
    kept = gateway.engine.kept()
    assert (kept.working, kept.finished, kept.executions) == (1, 300, 150)
    assert gateway.kept() == GatewayKept(statuses=1, unrouted_commissions=0)
    assert [gateway.order_kept(1, t.order.orderId) for t in (gtc, wednesday[0], thursday[0])] == [
        True, False, True]
    assert [(t.order.orderId, t.orderStatus.status) for t in ib.reqAllOpenOrders()] == [
        (gtc.order.orderId, "Submitted")]
    perm_ids = [t.order.permId for t in [gtc, *wednesday, *thursday]]
    assert perm_ids == sorted(set(perm_ids))  # one each, never reused after forgetting
    assert len(perm_ids) == 601


def test_next_valid_id_stays_above_a_forgotten_order_id(gateway, ib, spy, until, raw_client):
    # Arrange: order 5000 fills on Wednesday; the engine forgets it on Thursday
    order = MarketOrder("BUY", 1)
    order.orderId = 5000
    trade = ib.placeOrder(spy, order)
    assert until(ib, trade.isDone, 5)
    gateway.clock.jump(ONE_DAY_S)
    assert not gateway.order_kept(1, 5000)
    ib.disconnect()
    # Act: the client starts again, then asks again with reqIds
    other = raw_client(gateway)
    at_start = other.start_api(1)[-1]
    other.send([8, 1, 1])
    on_request = other.read_until(lambda m: m[0] == "9")[-1]
    # Assert
    assert at_start == on_request == ["9", "1", "5001"]


def test_a_forgotten_order_id_is_refused_to_its_client_only(
    gateway, ib, spy, until, make_ib
):
    # Arrange: order 7 of client 1 fills on Wednesday; Thursday a second client connects
    order = MarketOrder("BUY", 1)
    order.orderId = 7
    assert until(ib, ib.placeOrder(spy, order).isDone, 5)
    gateway.clock.jump(ONE_DAY_S)
    other = make_ib(gateway, client_id=2)
    errors: list[tuple[int, int, int]] = []
    for client_id, client in ((1, ib), (2, other)):
        client.errorEvent += lambda req_id, code, text, c, who=client_id: req_id == 7 and (
            errors.append((who, req_id, code)))  # not the farm notices a connect brings
    # Act: both place order id 7 again; client 1 cancels its 7 (ib_insync's own Trade would
    # refuse to touch an order it saw filled, so the requests go out directly)
    for client in (ib, other):  # GTC: the gateway's first step after the jump expires DAY orders
        client.client.placeOrder(7, spy, LimitOrder("SELL", 1, 9999.0, tif="GTC"))
    ib.client.cancelOrder(7, "")
    assert until(ib, lambda: len(errors) >= 2, 5)
    assert until(other, lambda: [(t.order.orderId, t.orderStatus.status) for t in other.trades()]
                 == [(7, "Submitted")], 5)  # the gateway has sent (and kept) its status
    # Assert: order ids are per client: 7 is client 1's duplicate, client 2's first order
    assert sorted(errors) == [(1, 7, 103), (1, 7, 10147)]
    assert [(e.order.client_id, e.order.order_id) for e in gateway.engine.open_orders()] == [(2, 7)]
    assert gateway.kept() == GatewayKept(statuses=1, unrouted_commissions=0)
