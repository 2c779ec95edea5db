"""reqMktData ticks as IB streams them, through ib_insync: option computations with the
implied volatility of each price and the dividends' present value, generic ticks (incl. 456
dividends) only when asked, and IB's market data types
(live data served whatever was asked when the account has it; delayed tick ids without)."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest
from conftest import START
from ib_insync import Dividends, Option, Stock

from bot.sim import options

SPY = Stock("SPY", "SMART", "USD")
FROZEN = dict(tick_interval_s=30.0)
"""A 30 s tick keeps the market at the start for the whole test."""


def _atm_call(gateway, ib):
    expiry = sorted(gateway.contracts.chain_params("SPY", gateway.clock.now().date())[0][3])[1]
    opt = Option("SPY", expiry, float(round(gateway.market.spot("SPY"))), "C", "SMART")
    ib.qualifyContracts(opt)
    return opt


def test_each_option_price_carries_its_own_implied_volatility(make_gateway, make_ib, until):
    # Arrange
    gateway = make_gateway(**FROZEN)
    ib = make_ib(gateway)
    opt = _atm_call(gateway, ib)
    # Act
    ticker = ib.reqMktData(opt)
    assert until(ib, lambda: None not in (ticker.bidGreeks, ticker.askGreeks,
                                          ticker.modelGreeks), 5)
    # Assert: the bid's volatility prices the option at the bid, the ask's at the ask
    contract = gateway.contracts.by_con_id(opt.conId)
    t = options.years_to_expiry(contract.expiry, gateway.market.now())
    bid, ask = ticker.bidGreeks, ticker.askGreeks
    assert bid.impliedVol < ticker.modelGreeks.impliedVol < ask.impliedVol
    for greeks, price in ((bid, ticker.bid), (ask, ticker.ask)):
        assert greeks.optPrice == price
        value = options.bs_price(greeks.undPrice, contract.strike, t, options.RATE,
                                 greeks.impliedVol, "C")
        assert value == pytest.approx(price, abs=1e-3)


def test_generic_ticks_are_sent_only_when_asked(make_gateway, make_ib, until):
    # Arrange
    gateway = make_gateway(**FROZEN)
    ib = make_ib(gateway)
    opt = _atm_call(gateway, ib)
    ib.qualifyContracts(SPY)
    # Act
    plain = ib.reqMktData(opt)
    asked = ib.reqMktData(SPY, "100,101,104,106")
    assert until(ib, lambda: plain.bid > 0 and not math.isnan(asked.impliedVolatility), 5)
    # Assert
    assert math.isnan(plain.callOpenInterest) and math.isnan(plain.impliedVolatility)
    assert asked.callOpenInterest > 0 and asked.putOpenInterest > 0
    assert asked.callVolume >= 0 and asked.putVolume >= 0
    assert asked.histVolatility == pytest.approx(0.15)
    assert asked.impliedVolatility == pytest.approx(0.165, abs=0.01)


def test_an_option_asked_for_open_interest_gets_its_own(make_gateway, make_ib, until):
    gateway = make_gateway(**FROZEN)
    ib = make_ib(gateway)
    opt = _atm_call(gateway, ib)
    ticker = ib.reqMktData(opt, "101")
    quote = gateway.market.option_quote(gateway.contracts.by_con_id(opt.conId))
    assert until(ib, lambda: ticker.callOpenInterest == quote.open_interest, 5)


def test_a_live_account_gets_live_data_when_delayed_is_asked(gateway, ib, until):
    ib.reqMarketDataType(3)
    ib.qualifyContracts(SPY)
    ticker = ib.reqMktData(SPY)
    assert until(ib, lambda: ticker.bid > 0, 5)
    assert ticker.marketDataType == 1


def test_an_account_without_live_data_gets_delayed_tick_ids(make_gateway, raw_client):
    # Arrange: an hour into the session, the market frozen there
    gateway = make_gateway(market_data="delayed", start=START + timedelta(hours=1), **FROZEN)
    client = raw_client(gateway)
    client.start_api(1)
    con_id = gateway.contracts.stock("SPY").con_id
    contract = [con_id, "SPY", "STK", "", 0.0, "", "", "SMART", "", "USD", "", ""]
    # Act: live first (refused), then delayed
    client.send([1, 11, 5, *contract, 0, "", 0, 0, ""])
    refused = client.read_until(lambda m: m[0] == "4" and m[2] == "5")[-1]
    client.send([59, 1, 3])
    client.send([1, 11, 6, *contract, 0, "", 0, 0, ""])
    msgs = client.read_until(lambda m: m[0] == "1" and m[2] == "6" and m[3] == "67")
    # Assert
    assert refused[3] == "354"
    assert ["58", "1", "6", "3"] in msgs
    assert any(m[0] == "4" and m[2:4] == ["6", "10167"] for m in msgs)
    prices = {m[3]: float(m[4]) for m in msgs if m[0] == "1" and m[2] == "6"}
    assert set(prices) <= {"66", "67", "68"} and {"66", "67"} <= set(prices)
    then = gateway.market.quote("SPY", lag_s=15 * 60)  # the quote of 15 minutes before
    live = gateway.market.quote("SPY")
    assert (prices["66"], prices["67"]) == (then.bid, then.ask) != (live.bid, live.ask)


def test_a_stock_quote_carries_the_days_open_high_low_and_the_prior_close(make_gateway,
                                                                         make_ib, until):
    # Arrange: two hours into Wednesday's session, the market frozen there
    gateway = make_gateway(start=START + timedelta(hours=2), **FROZEN)
    ib = make_ib(gateway)
    ib.qualifyContracts(SPY)
    # Act
    ticker = ib.reqMktData(SPY)
    assert until(ib, lambda: not math.isnan(ticker.close) and not math.isnan(ticker.open), 5)
    # Assert
    day = gateway.market.bars("SPY", gateway.market.now(), 3 * 3600, 60)
    assert ticker.open == day[0].open
    assert ticker.low <= min(b.low for b in day) and ticker.high >= max(b.high for b in day)
    assert ticker.close == gateway.market.prior_close("SPY", START.date())


def _option(ib, symbol: str, expiry: str, strike: float, right: str = "C") -> Option:
    opt = Option(symbol, expiry, strike, right, "SMART")
    ib.qualifyContracts(opt)
    return opt


@pytest.mark.parametrize("symbol, expiry, pays", [
    ("SPY", "20261218", True),  # SPY goes ex on 18 Dec at the open, before this expiry
    ("SPY", "20261217", False),  # expires the day before: no dividend within its life
    ("TSLA", "20261218", False),  # pays none
])
def test_option_computations_carry_the_dividends_present_value(
    make_gateway, make_ib, until, symbol, expiry, pays
):
    # Arrange
    gateway = make_gateway(symbols=("SPY", "TSLA"), **FROZEN)
    ib = make_ib(gateway)
    strike = float(round(gateway.market.spot(symbol) / 5) * 5)
    opt = _option(ib, symbol, expiry, strike)
    contract = gateway.contracts.by_con_id(opt.conId)
    expected = options.dividend_pv(contract, gateway.market.now())
    # Act
    ticker = ib.reqMktData(opt)
    assert until(ib, lambda: None not in (ticker.bidGreeks, ticker.askGreeks,
                                          ticker.lastGreeks, ticker.modelGreeks), 5)
    # Assert: every computation carries it; a payer's is the discounted 1.78
    assert (expected > 1.77) == pays and (expected == 0.0) == (not pays)
    for greeks in (ticker.bidGreeks, ticker.askGreeks, ticker.lastGreeks, ticker.modelGreeks):
        assert greeks.pvDividend == pytest.approx(expected, abs=1e-6)  # as the wire rounds


def test_the_model_prices_calls_and_puts_on_the_spot_less_the_dividends(
    make_gateway, make_ib, until
):
    """Put-call parity with dividends: C - P = S - PV(dividends) - K exp(-rT)."""
    # Arrange: an at-the-money call and put of an expiry after SPY's ex-date
    gateway = make_gateway(**FROZEN)
    ib = make_ib(gateway)
    strike = float(round(gateway.market.spot("SPY")))
    call, put = (_option(ib, "SPY", "20270115", strike, right) for right in "CP")
    # Act
    tickers = [ib.reqMktData(c) for c in (call, put)]
    assert until(ib, lambda: all(t.modelGreeks is not None for t in tickers), 5)
    # Assert
    c, p = (t.modelGreeks for t in tickers)
    t = options.years_to_expiry("20270115", gateway.market.now())
    assert c.pvDividend > 1.7
    assert c.optPrice - p.optPrice == pytest.approx(
        c.undPrice - c.pvDividend - strike * math.exp(-options.RATE * t), abs=1e-6)


def test_the_dividends_tick_456_is_sent_only_when_asked(make_gateway, make_ib, until):
    # Arrange: two clients (ib_insync keeps one ticker per contract and client)
    gateway = make_gateway(symbols=("SPY", "TSLA"), **FROZEN)
    ib, other = make_ib(gateway, 1), make_ib(gateway, 2)
    tsla = Stock("TSLA", "SMART", "USD")
    ib.qualifyContracts(SPY, tsla)
    # Act
    plain = other.reqMktData(SPY)
    asked = ib.reqMktData(SPY, "456")
    none_paid = ib.reqMktData(tsla, "456")
    assert until(ib, lambda: asked.dividends and none_paid.dividends, 5)
    assert until(other, lambda: plain.bid > 0 and plain.high > 0, 5)
    # Assert: SPY's last four and next four quarters of 1.78; TSLA pays nothing
    assert plain.dividends is None
    assert asked.dividends == Dividends(7.12, 7.12, date(2026, 12, 18), 1.78)
    assert none_paid.dividends == Dividends(0.0, 0.0, None, None)
