"""whatIfOrder through real clients: one openOrder answers it with the order state's margin
and commission figures from the simulator's Reg T model, and the order is never placed."""

from __future__ import annotations

import asyncio

import pytest
from ib_insync import LimitOrder, Option, Stock

FROZEN = dict(tick_interval_s=30.0)
"""A 30 s tick keeps the market at the start for the whole test."""


def _atm_call(gateway, ib):
    expiry = sorted(gateway.contracts.chain_params("SPY", gateway.clock.now().date())[0][3])[1]
    opt = Option("SPY", expiry, float(round(gateway.market.spot("SPY"))), "C", "SMART")
    ib.qualifyContracts(opt)
    return opt


def test_stock_what_if_reports_reg_t_margin_and_commission_without_placing(
        make_gateway, make_ib):
    # Arrange
    gateway = make_gateway(**FROZEN)
    ib = make_ib(gateway)
    ib.RequestTimeout = 5
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    price = gateway.market.quote("SPY").bid
    # Act
    state = ib.whatIfOrder(spy, LimitOrder("BUY", 100, price))
    # Assert: Reg T initial 50%, maintenance 25% of the value; the commission is IB's minimum
    assert state.status == "PreSubmitted"
    assert float(state.initMarginBefore) == 0.0
    assert float(state.initMarginChange) == pytest.approx(0.5 * 100 * price, abs=0.01)
    assert float(state.maintMarginAfter) == pytest.approx(0.25 * 100 * price, abs=0.01)
    assert float(state.equityWithLoanBefore) == 100_000.0
    assert float(state.equityWithLoanChange) == pytest.approx(-1.0)
    assert (state.commission, state.commissionCurrency) == (1.0, "USD")
    assert ib.reqAllOpenOrders() == [] and gateway.account.positions() == []


def test_long_option_what_if_costs_its_premium_out_of_equity(make_gateway, make_ib):
    # Arrange
    gateway = make_gateway(**FROZEN)
    ib = make_ib(gateway)
    ib.RequestTimeout = 5
    opt = _atm_call(gateway, ib)
    ask = gateway.market.option_quote(gateway.contracts.by_con_id(opt.conId)).ask
    # Act
    state = ib.whatIfOrder(opt, LimitOrder("BUY", 2, ask))
    # Assert: a long option needs no margin; its premium and commission leave the equity
    assert float(state.initMarginChange) == 0.0
    assert float(state.equityWithLoanChange) == pytest.approx(-(2 * 100 * ask + 1.30), abs=0.01)
    assert state.commission == pytest.approx(1.30)
    assert gateway.engine.open_orders() == [] and gateway.account.cash == 100_000.0


def test_what_if_id_counts_as_used(make_gateway, make_ib):
    gateway = make_gateway(**FROZEN)
    ib = make_ib(gateway)
    ib.RequestTimeout = 5
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    used = ib.client._reqIdSeq
    ib.whatIfOrder(spy, LimitOrder("BUY", 1, 100.0))
    assert gateway.next_order_id(client_id=1) == used + 1


def test_ib_async_what_if_is_answered(make_gateway):
    ib_async = pytest.importorskip("ib_async", reason="ib_async 2.1 is not installed (dev extra)")
    gateway = make_gateway(**FROZEN)

    async def scenario():
        ib = ib_async.IB()
        await ib.connectAsync("127.0.0.1", gateway.port, clientId=7, timeout=5)
        try:
            spy = ib_async.Stock("SPY", "SMART", "USD")
            await ib.qualifyContractsAsync(spy)
            order = ib_async.LimitOrder("BUY", 10, 100.0)
            return await asyncio.wait_for(ib.whatIfOrderAsync(spy, order), 5)
        finally:
            ib.disconnect()

    loop = asyncio.new_event_loop()  # not asyncio.run: ib_insync in other tests needs the loop
    try:
        state = loop.run_until_complete(scenario())
    finally:
        loop.close()
    assert float(state.initMarginChange) == pytest.approx(500.0)
    assert state.commission == 1.0
