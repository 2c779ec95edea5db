"""Executions as TWS reports them, through ib_insync: reqExecutions honours every field of
the ExecutionFilter, execDetails and position contracts carry the venue / listing exchange
(not SMART), and commissionReport writes unset doubles as TWS does."""

from __future__ import annotations

import pytest
from ib_insync import ExecutionFilter, MarketOrder, Option, Stock

from bot.sim import encode_orders as eo
from bot.sim import wire
from bot.sim.order_events import CommissionEvent

FROZEN = dict(tick_interval_s=30.0)
"""A 30 s tick keeps the market at the start for the whole test."""


@pytest.fixture
def traded(make_gateway, make_ib, until):
    """A gateway where client 1 bought 10 SPY and sold 5, and client 2 bought one SPY call."""
    gateway = make_gateway(**FROZEN)
    first = make_ib(gateway, 1)
    spy = Stock("SPY", "SMART", "USD")
    first.qualifyContracts(spy)
    for order in (MarketOrder("BUY", 10), MarketOrder("SELL", 5)):
        trade = first.placeOrder(spy, order)
        assert until(first, lambda t=trade: t.orderStatus.status == "Filled", 5), trade.log
    second = make_ib(gateway, 2)  # connects after: its next valid id is above client 1's
    expiry = sorted(gateway.contracts.chain_params("SPY", gateway.clock.now().date())[0][3])[1]
    call = Option("SPY", expiry, float(round(gateway.market.spot("SPY"))), "C", "SMART")
    second.qualifyContracts(call)
    trade = second.placeOrder(call, MarketOrder("BUY", 1))
    assert until(second, lambda: trade.orderStatus.status == "Filled", 5), trade.log
    return gateway, first


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (ExecutionFilter(), [("SPY", "BOT"), ("SPY", "SLD"), ("SPY", "BOT")]),
        (ExecutionFilter(side="SELL"), [("SPY", "SLD")]),
        (ExecutionFilter(side="BUY", secType="STK"), [("SPY", "BOT")]),
        (ExecutionFilter(secType="OPT"), [("SPY", "BOT")]),
        (ExecutionFilter(clientId=2), [("SPY", "BOT")]),
        (ExecutionFilter(acctCode="DU1234567", symbol="SPY", exchange="ARCA"),
         [("SPY", "BOT"), ("SPY", "SLD")]),
        (ExecutionFilter(acctCode="DU0000000"), []),
        (ExecutionFilter(exchange="CBOE"), [("SPY", "BOT")]),
        (ExecutionFilter(symbol="QQQ"), []),
        (ExecutionFilter(time="20261118 09:00:00"), [("SPY", "BOT"), ("SPY", "SLD"),
                                                     ("SPY", "BOT")]),
        (ExecutionFilter(time="20261118-23:00:00"), []),
    ],
)
def test_req_executions_honours_every_filter_field(traded, flt, expected):
    _, ib = traded
    fills = ib.reqExecutions(flt)
    assert [(f.contract.symbol, f.execution.side) for f in fills] == expected


def test_exec_details_and_positions_carry_the_venue_not_smart(traded, raw_client):
    # Arrange: a raw client (ib_insync puts its own order's contract into its fills)
    gateway, ib = traded
    client = raw_client(gateway)
    client.start_api(3)
    # Act
    client.send([7, 3, 9, 0, "", "", "", "", "", ""])  # reqExecutions 9, empty filter
    msgs = client.read_until(lambda m: m[0] == "55")  # execDetailsEnd
    ib.reqPositions()
    positions = ib.positions()  # one per contract (the request's list may repeat an update)
    # Assert: execDetails field 10 is the contract's exchange
    assert [m[10] for m in msgs if m[0] == "11"] == ["ARCA", "ARCA", "CBOE"]
    assert sorted(p.contract.exchange for p in positions) == ["ARCA", "CBOE"], positions


def test_commission_report_writes_unset_doubles_as_tws():
    opening = CommissionEvent("0001.01", 1.0, "USD")
    fields = wire.encode(eo.commission_report(opening)).split(b"\0")
    assert fields[-4:] == [b"1.7976931348623157E308", b"1.7976931348623157E308", b"", b""]
