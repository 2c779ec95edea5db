"""Option math: Black-Scholes against textbook values, parity, finite differences; the smile;
and the deterministic quote built around the model price."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from bot.sim.contracts import SimContract
from bot.sim.options import (
    RATE,
    Greeks,
    bs_greeks,
    bs_price,
    implied_vol,
    option_quote,
    years_to_expiry,
)

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # Friday 10:00 New York
SPOT = 590.0


def opt(strike: float, right: str, expiry: str = "20261127", symbol: str = "SPY") -> SimContract:
    con_id = 1_000_000 + int(strike * 10) * 2 + (right == "P")
    return SimContract(con_id=con_id, symbol=symbol, sec_type="OPT", strike=strike, right=right,
                       expiry=expiry, multiplier="100")  # fmt: skip


@pytest.mark.parametrize(
    ("spot", "strike", "t", "rate", "vol", "right", "expected"),
    [
        (100, 100, 1.0, 0.05, 0.2, "C", 10.4506),  # the classic textbook case
        (100, 100, 1.0, 0.05, 0.2, "P", 5.5735),
        (42, 40, 0.5, 0.10, 0.2, "C", 4.7594),  # Hull, Options Futures and Other Derivatives
        (42, 40, 0.5, 0.10, 0.2, "P", 0.8086),
        (49, 50, 20 / 52, 0.05, 0.2, "C", 2.4005),
        (110, 100, 0.0, 0.05, 0.2, "C", 10.0),  # expired: intrinsic
        (110, 100, 0.0, 0.05, 0.2, "P", 0.0),
        (90, 100, -0.1, 0.05, 0.2, "P", 10.0),
    ],
)
def test_bs_price_matches_reference_values(spot, strike, t, rate, vol, right, expected):
    assert bs_price(spot, strike, t, rate, vol, right) == pytest.approx(expected, abs=5e-4)


@pytest.mark.parametrize(
    ("args", "delta", "gamma", "vega", "theta"),
    [
        ((100, 100, 1.0, 0.05, 0.2, "C"), 0.6368, 0.018762, 0.37524, -6.4140 / 365),
        ((100, 100, 1.0, 0.05, 0.2, "P"), -0.3632, 0.018762, 0.37524, -1.6579 / 365),
        ((49, 50, 20 / 52, 0.05, 0.2, "C"), 0.522, 0.066, 0.121, -4.31 / 365),  # Hull's example
    ],
)
def test_bs_greeks_match_reference_values(args, delta, gamma, vega, theta):
    greeks = bs_greeks(*args)

    assert greeks.delta == pytest.approx(delta, abs=1e-3)
    assert greeks.gamma == pytest.approx(gamma, abs=1e-3)
    assert greeks.vega == pytest.approx(vega, abs=1e-3)
    assert greeks.theta == pytest.approx(theta, abs=1e-4)


@pytest.mark.parametrize("strike", [500.0, 570.0, 590.0, 610.0, 700.0])
@pytest.mark.parametrize("t", [1 / 365, 7 / 365, 0.5])
def test_put_call_parity(strike, t):
    vol = 0.18

    call = bs_price(SPOT, strike, t, RATE, vol, "C")
    put = bs_price(SPOT, strike, t, RATE, vol, "P")

    assert call - put == pytest.approx(SPOT - strike * math.exp(-RATE * t), abs=1e-9)


@pytest.mark.parametrize("right", ["C", "P"])
@pytest.mark.parametrize(("strike", "t"), [(590.0, 7 / 365), (560.0, 30 / 365), (620.0, 0.25)])
def test_greeks_agree_with_finite_differences(right, strike, t):
    vol, h = 0.2, 0.01

    def price(s=SPOT, tt=t, v=vol):
        return bs_price(s, strike, tt, RATE, v, right)

    greeks = bs_greeks(SPOT, strike, t, RATE, vol, right)

    assert greeks.delta == pytest.approx((price(SPOT + h) - price(SPOT - h)) / (2 * h), abs=1e-6)
    assert greeks.gamma == pytest.approx(
        (price(SPOT + h) - 2 * price() + price(SPOT - h)) / h**2, abs=1e-4
    )
    vega = (price(v=vol + 1e-4) - price(v=vol - 1e-4)) / 2e-2  # per vol point
    assert greeks.vega == pytest.approx(vega, abs=1e-6)
    dt = 1e-6  # years
    assert greeks.theta == pytest.approx((price(tt=t - dt) - price()) / (dt * 365), rel=1e-4)


@pytest.mark.parametrize(
    ("right", "spot", "delta"), [("C", 110, 1.0), ("C", 90, 0.0), ("P", 90, -1.0), ("P", 110, 0.0)]
)
def test_expired_greeks_are_degenerate(right, spot, delta):
    assert bs_greeks(spot, 100, 0.0, RATE, 0.2, right) == Greeks(delta, 0.0, 0.0, 0.0)


def test_implied_vol_has_a_put_skew_and_a_floor_at_the_money():
    t = 30 / 365
    strikes = [500.0, 530.0, 560.0, 590.0]

    vols = [implied_vol("SPY", SPOT, k, t) for k in strikes]

    assert vols == sorted(vols, reverse=True)
    assert implied_vol("SPY", SPOT, SPOT, t) == pytest.approx(0.15 * 1.10)
    assert implied_vol("SPY", SPOT, 700.0, t) > implied_vol("SPY", SPOT, 640.0, t) * 0.9


@pytest.mark.parametrize("symbol", ["SPY", "TSLA", "ZZZZ"])
def test_implied_vol_stays_in_bounds(symbol):
    vols = [implied_vol(symbol, 100.0, k, t) for k in (1, 50, 100, 150, 1000) for t in (0, 1e-6, 2)]

    assert all(0.05 <= v <= 3.0 for v in vols)


def test_years_to_expiry_ends_at_four_pm_new_york():
    assert years_to_expiry("20261120", NOW) == pytest.approx(6 / (365 * 24))
    assert years_to_expiry("20261119", NOW) < 0


@pytest.mark.parametrize("right", ["C", "P"])
@pytest.mark.parametrize("strike", [450.0, 560.0, 585.0, 590.0, 595.0, 620.0, 740.0])
@pytest.mark.parametrize("expiry", ["20261120", "20261127", "20261218", "20261119"])
def test_quote_is_sane(right, strike, expiry):
    q = option_quote(opt(strike, right, expiry), SPOT, NOW, seed=7)

    assert q.bid >= 0.01 and q.ask > q.bid
    assert round(q.bid, 2) == q.bid and round(q.ask, 2) == q.ask and round(q.last, 2) == q.last
    assert q.bid <= q.last <= q.ask
    assert q.bid - 0.01 <= q.model_price <= q.ask
    assert q.bid_size >= 1 and q.ask_size >= 1 and q.volume >= 0 and q.open_interest >= 0
    assert q.und_price == SPOT


def test_quote_greeks_are_those_of_the_model():
    contract = opt(585.0, "P")
    t = years_to_expiry(contract.expiry, NOW)

    q = option_quote(contract, SPOT, NOW, seed=7)
    greeks = bs_greeks(SPOT, 585.0, t, RATE, q.iv, "P")

    assert q.iv == implied_vol("SPY", SPOT, 585.0, t)
    assert q.model_price == pytest.approx(bs_price(SPOT, 585.0, t, RATE, q.iv, "P"))
    assert (q.delta, q.gamma, q.vega, q.theta) == pytest.approx(
        (greeks.delta, greeks.gamma, greeks.vega, greeks.theta)
    )


@pytest.mark.parametrize(
    ("strike", "expiry"), [(590.0, "20261120"), (590.0, "20261123"), (593.0, "20261124"),
                           (588.0, "20261127")],
)  # fmt: skip
def test_atm_weekly_of_a_few_dollars_quotes_a_few_cents_wide(strike, expiry):
    friday_noon = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)

    q = option_quote(opt(strike, "C", expiry), SPOT, friday_noon, seed=7)

    assert 0.5 <= (q.bid + q.ask) / 2 <= 7.0
    assert 0.02 <= round(q.ask - q.bid, 2) <= 0.05


def test_spread_widens_away_from_the_money_and_near_expiry():
    def relative_spread(strike, expiry):
        q = option_quote(opt(strike, "C", expiry), SPOT, NOW, seed=7)
        return (q.ask - q.bid) / ((q.ask + q.bid) / 2)

    atm_month = relative_spread(590.0, "20261218")
    otm_month = relative_spread(640.0, "20261218")
    atm_today = relative_spread(590.0, "20261120")

    assert otm_month > 2 * atm_month
    assert atm_today > 2 * atm_month


def test_activity_decays_away_from_the_money():
    quotes = [option_quote(opt(k, "C", "20261218"), SPOT, NOW, seed=7) for k in (590, 620, 700)]

    assert quotes[0].volume > quotes[1].volume > quotes[2].volume
    assert quotes[0].open_interest > quotes[1].open_interest > quotes[2].open_interest


def test_quote_is_deterministic_per_seed_and_has_no_volume_before_the_open():
    contract = opt(590.0, "C")
    pre_market = datetime(2026, 11, 20, 13, 0, tzinfo=UTC)

    first = option_quote(contract, SPOT, NOW, seed=7)
    again = option_quote(contract, SPOT, NOW, seed=7)
    other = option_quote(contract, SPOT, NOW, seed=8)

    assert first == again
    assert (first.bid_size, first.volume) != (other.bid_size, other.volume)
    assert option_quote(contract, SPOT, pre_market, seed=7).volume == 0


@pytest.mark.parametrize("strike", [150.0, 200.0, 230.0, 260.0])
def test_options_outside_the_penny_program_quote_in_nickels_from_three_dollars(strike):
    contract = SimContract(con_id=77, symbol="AAPL", sec_type="OPT", multiplier="100",
                           expiry="20261218", strike=strike, right="C")

    q = option_quote(contract, 230.0, NOW, seed=7)

    for price in (q.bid, q.ask, q.last):
        tick = 0.05 if price >= 3.0 else 0.01
        assert abs(price / tick - round(price / tick)) < 1e-6, (price, tick)
    assert q.bid <= q.last <= q.ask
