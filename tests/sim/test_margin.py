"""Specification of the simulated account's margin (bot.sim.margin) and IB's pre-trade check,
and the check through the real ib_insync client: an order the account cannot afford is
rejected with error 201 and IB's text, and a long option is no margin collateral."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ib_insync import LimitOrder, Option

from bot.sim.account import Account
from bot.sim.contracts import SimContract
from bot.sim.margin import Holding, figures, order_check, short_option_requirement
from bot.sim.matching import MatchingEngine, OrderRejectedEvent, OrderStatusEvent, SimOrder

STK = SimContract(con_id=11, symbol="SPY", sec_type="STK")
CALL = SimContract(con_id=901, symbol="SPY", sec_type="OPT", multiplier="100",
                   expiry="20260320", strike=500.0, right="C")
PUT = SimContract(con_id=902, symbol="SPY", sec_type="OPT", multiplier="100",
                  expiry="20260320", strike=500.0, right="P")
NO_SPOT = {}.get
NOW = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("holding", "spot", "requirement"),
    [
        (Holding(CALL, -1, 2.00, 100), 480.0, 200 + (0.20 * 480 - 20) * 100),  # 20% less OTM
        (Holding(CALL, -1, 2.00, 100), 400.0, 200 + 0.10 * 400 * 100),  # the 10% floor
        (Holding(PUT, -2, 3.00, 100), 500.0, 2 * (300 + 0.20 * 500 * 100)),
        (Holding(PUT, -1, 3.00, 100), 700.0, 300 + 0.10 * 500 * 100),  # floor on the strike
        (Holding(CALL, -1, 2.00, 100), None, 200),  # no underlying price: the value alone
        (Holding(CALL, 3, 2.00, 100), 480.0, 0),  # long options require nothing
    ],
)
def test_short_option_requirement(holding, spot, requirement):
    assert short_option_requirement(holding, spot) == pytest.approx(requirement)


def test_long_options_count_in_net_liquidation_but_not_as_collateral():
    result = figures(90_000.0, [Holding(CALL, 10, 10.00, 100)], NO_SPOT)

    assert (result.net_liquidation, result.equity_with_loan) == (100_000.0, 90_000.0)
    assert (result.available_funds, result.excess_liquidity) == (90_000.0, 90_000.0)
    assert result.buying_power == 360_000.0


@pytest.mark.parametrize(
    ("cash", "holdings", "order", "refused"),
    [
        (10_000.0, [], Holding(CALL, 40, 2.50, 100), False),  # 10,000 + 0 commission: exactly
        (10_000.0, [], Holding(CALL, 41, 2.50, 100), True),  # the premium beyond the cash
        (1_000.0, [Holding(CALL, 50, 2.50, 100)], Holding(CALL, -50, 2.40, 100), False),  # close
        (1_000.0, [Holding(CALL, 5, 2.50, 100)], Holding(CALL, -10, 2.40, 100), True),  # naked
        (100_000.0, [], Holding(STK, 400, 600.0, 1), True),  # 240,000 of stock: 120,000 margin
        (100_000.0, [], Holding(STK, 300, 600.0, 1), False),  # 180,000 of stock: 90,000
    ],
)
def test_order_check_refuses_what_the_equity_cannot_carry(cash, holdings, order, refused):
    reason = order_check(cash, holdings, order, 0.0, {"SPY": 500.0}.get)

    assert (reason is not None) == refused
    if refused:
        assert reason.startswith("YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED "
                                 "POSITION YOUR EQUITY WITH LOAN VALUE [")
        assert "USD] MUST EXCEED THE INITIAL MARGIN [" in reason


def _order(oid: int, action: str, qty: float, order_type: str, **fields) -> SimOrder:
    return SimOrder(order_id=oid, client_id=1, perm_id=1000 + oid, action=action,
                    total_qty=qty, order_type=order_type, **fields)


@pytest.fixture
def engine() -> MatchingEngine:
    """An engine on a 10,000 USD account; the call is quoted 2.00 / 2.10."""
    return MatchingEngine(Account(cash=10_000.0), lambda c: (2.00, 2.10, 2.05), lambda: NOW)


def test_an_unaffordable_bracket_parent_is_rejected_with_its_children(engine):
    engine.place(_order(1, "BUY", 50, "LMT", lmt_price=2.10, transmit=False), CALL)
    engine.place(_order(2, "SELL", 50, "LMT", lmt_price=2.60, parent_id=1, transmit=False), CALL)

    events = engine.place(_order(3, "SELL", 50, "STP", aux_price=1.60, parent_id=1), CALL)

    assert [(e.order_id, e.code) for e in events if isinstance(e, OrderRejectedEvent)] == [
        (1, 201)]
    assert [(e.order_id, e.status) for e in events if isinstance(e, OrderStatusEvent)] == [
        (1, "Cancelled"), (2, "Cancelled"), (3, "Cancelled")]
    assert engine.executions() == [] and engine.open_orders() == []


def test_a_modify_beyond_the_funds_is_refused_and_the_order_keeps_working(engine):
    engine.place(_order(1, "BUY", 10, "LMT", lmt_price=1.50), CALL)  # 1,500: rests

    events = engine.place(_order(1, "BUY", 80, "LMT", lmt_price=1.50), CALL)  # 12,000

    assert [(e.order_id, e.code) for e in events] == [(1, 201)]
    [working] = engine.open_orders()
    assert (working.order.total_qty, working.status) == (10, "Submitted")


@pytest.fixture
def option_client(make_gateway, make_ib):
    gateway = make_gateway(speed=0.001, tick_interval_s=0.05)
    ib = make_ib(gateway)
    expiry = sorted(gateway.contracts.chain_params("SPY", gateway.clock.now().date())[0][3])[1]
    opt = Option("SPY", expiry, float(round(gateway.market.spot("SPY"))), "C", "SMART")
    ib.qualifyContracts(opt)
    gateway.market.pin_quote(opt.conId, 2.00, 2.10, 2.05, bid_size=5000, ask_size=5000)
    return gateway, ib, opt


def test_an_option_buy_beyond_the_available_funds_is_rejected_with_201(option_client, until):
    gateway, ib, opt = option_client
    errors: list[tuple[int, str]] = []
    ib.errorEvent += lambda req_id, code, text, contract: errors.append((code, text))

    trade = ib.placeOrder(opt, LimitOrder("BUY", 500, 2.10))  # 105,000 of premium > 100,000
    assert until(ib, lambda: trade.isDone(), 5)

    assert trade.orderStatus.status == "Cancelled" and trade.fills == []
    [(code, text)] = errors
    assert code == 201
    assert text == (
        "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED "
        "POSITION YOUR EQUITY WITH LOAN VALUE [-5325.00 USD] MUST EXCEED THE INITIAL MARGIN "
        "[0.00 USD]")  # 100,000 - 500 x 210 - 325 commission
    assert ib.positions() == []


def test_a_long_option_is_paid_out_of_the_available_funds(option_client, until):
    gateway, ib, opt = option_client

    trade = ib.placeOrder(opt, LimitOrder("BUY", 100, 2.10))  # 21,000 + 65 commission
    assert until(ib, lambda: trade.isDone() and ib.positions(), 5)

    tags = ("NetLiquidation", "EquityWithLoanValue", "AvailableFunds", "BuyingPower")
    expected = {"NetLiquidation": "99435.00",  # marked at the 2.05 mid
                "EquityWithLoanValue": "78935.00", "AvailableFunds": "78935.00",
                "BuyingPower": "315740.00"}

    def values() -> dict[str, str]:
        return {v.tag: v.value for v in ib.accountValues() if v.tag in tags}

    # each account value is its own message: wait for the whole update, not its first keys
    until(ib, lambda: values() == expected, 5)
    assert values() == expected
