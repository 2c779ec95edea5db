"""reqHeadTimeStamp, calculateImpliedVolatility and calculateOptionPrice through ib_insync:
answered from the simulator's kept history and its Black-Scholes model (bot.sim.options)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ib_insync import Option, Stock

from bot.sim import options


def _atm_call(gateway, ib):
    expiry = sorted(gateway.contracts.chain_params("SPY", gateway.clock.now().date())[0][3])[1]
    opt = Option("SPY", expiry, float(round(gateway.market.spot("SPY"))), "C", "SMART")
    ib.qualifyContracts(opt)
    return opt


@pytest.mark.parametrize("format_date", [1, 2])
def test_head_time_stamp_is_the_oldest_kept_session_open(gateway, ib, format_date):
    # Arrange
    ib.RequestTimeout = 5
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    # Act
    head = ib.reqHeadTimeStamp(spy, "TRADES", useRTH=True, formatDate=format_date)
    # Assert: three sessions back from Wednesday 2026-11-18: Friday 11-13 at 09:30 New York
    assert head.astimezone(UTC) == datetime(2026, 11, 13, 14, 30, tzinfo=UTC)
    assert head == gateway.market.head_time("SPY")


def test_option_price_then_implied_volatility_round_trip(gateway, ib):
    # Arrange
    ib.RequestTimeout = 5
    opt = _atm_call(gateway, ib)
    spot = 590.0
    # Act
    priced = ib.calculateOptionPrice(opt, 0.2, spot)
    solved = ib.calculateImpliedVolatility(opt, priced.optPrice, spot)
    # Assert: the model's price at 20%, and back to 20% from that price
    contract = gateway.contracts.by_con_id(opt.conId)
    t = options.years_to_expiry(contract.expiry, gateway.market.now())
    expected = options.bs_price(spot, contract.strike, t, options.RATE, 0.2, "C")
    assert priced.optPrice == pytest.approx(expected, rel=1e-3)
    assert priced.undPrice == spot and 0 < priced.delta < 1 and priced.vega > 0
    assert solved.impliedVol == pytest.approx(0.2, abs=1e-4)
    assert solved.delta == pytest.approx(priced.delta, abs=1e-3)


def test_implied_volatility_of_an_impossible_price_is_not_computed(gateway, ib):
    ib.RequestTimeout = 5
    opt = _atm_call(gateway, ib)
    result = ib.calculateImpliedVolatility(opt, 600.0, 590.0)  # a call worth more than its stock
    assert (result.impliedVol, result.delta, result.optPrice) == (None, None, 600.0)


def test_solve_vol_inverts_black_scholes():
    for vol in (0.05, 0.2, 0.8):
        for right in ("C", "P"):
            price = options.bs_price(100.0, 105.0, 0.25, options.RATE, vol, right)
            assert options.solve_vol(price, 100.0, 105.0, 0.25, options.RATE, right) == (
                pytest.approx(vol, abs=1e-5))


def test_head_time_stamp_outside_regular_hours_is_the_pre_market_open(gateway, ib):
    ib.RequestTimeout = 5
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    head = ib.reqHeadTimeStamp(spy, "TRADES", useRTH=False, formatDate=2)
    assert head == datetime(2026, 11, 13, 9, 0, tzinfo=UTC)  # 04:00 New York


def test_solve_vol_from_a_guess_agrees_with_bisection():
    for guess in (0.1, 0.25, 1.5):
        price = options.bs_price(100.0, 95.0, 0.1, options.RATE, 0.3, "P")
        assert options.solve_vol(price, 100.0, 95.0, 0.1, options.RATE, "P", guess=guess) == (
            pytest.approx(options.solve_vol(price, 100.0, 95.0, 0.1, options.RATE, "P"),
                          abs=1e-6))
