"""Historical data as IB serves it, through ib_insync: extended hours with useRTH=0, every
bar size IB lists as legal, every whatToShow of a stock, option bars while unexpired, and
IB's pacing (hard for bars of 30 seconds or less, soft above; all hard with --pacing strict)."""

from __future__ import annotations

from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import START
from ib_insync import Option, Stock

from bot.sim import options
from bot.sim.market import profile

SPY = Stock("SPY", "SMART", "USD")
NY = ZoneInfo("America/New_York")


def _bars(ib, contract, duration="1800 S", size="1 min", what="TRADES", rth=True, end=""):
    """The bars as a plain list (ib_insync's BarDataList compares by identity)."""
    return list(ib.reqHistoricalData(contract, end, duration, size, what, rth))


def test_the_half_hour_before_the_open_has_thin_pre_market_bars_with_use_rth_0(gateway, ib):
    # Arrange: the gateway starts at the 09:30 open; SPY's average regular volume per minute
    ib.qualifyContracts(SPY)
    regular_per_minute = profile("SPY")[1] / 390
    # Act
    extended = _bars(ib, SPY, rth=False, end="20261118 09:30:00 US/Eastern")
    regular = _bars(ib, SPY, rth=True, end="20261118 09:30:00 US/Eastern")
    # Assert: 09:00..09:29 at the previous close, a small share of the regular volume
    prior_close = gateway.market.prior_close("SPY", START.date())
    assert [b.date.astimezone(UTC) for b in extended] == [
        START - timedelta(minutes=30 - i) for i in range(30)]
    assert {b.close for b in extended} == {prior_close}
    assert 0 < sum(b.volume for b in extended) < 30 * regular_per_minute * 0.05
    assert regular == []


def test_after_hours_bars_run_to_20_00(make_gateway, make_ib):
    # Arrange: 20:30 New York, after the session of Wednesday
    gateway = make_gateway(start=START + timedelta(hours=11))
    ib = make_ib(gateway)
    ib.qualifyContracts(SPY)
    # Act
    bars = _bars(ib, SPY, duration="1 D", size="1 hour", rth=False)
    # Assert: 04:00 .. 19:00 bars, hourly on the clock; the 09:00 bar holds the open's half hour
    assert [b.date.astimezone(NY).hour for b in bars] == list(range(4, 20))
    assert all(b.volume > 0 for b in bars)


@pytest.mark.parametrize(
    ("size", "duration", "spacing"),
    [("2 hours", "1 D", 7200), ("3 hours", "1 D", 10800), ("4 hours", "1 D", 14400),
     ("8 hours", "1 D", 28800), ("1 day", "3 D", None), ("1 week", "1 M", None),
     ("1 month", "1 M", None)],
)
def test_every_bar_size_ib_lists_is_served(make_gateway, make_ib, size, duration, spacing):
    gateway = make_gateway(start=START + timedelta(hours=7))  # after Wednesday's close
    ib = make_ib(gateway)
    ib.qualifyContracts(SPY)
    bars = _bars(ib, SPY, duration=duration, size=size)
    assert bars, size
    assert all(b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high for b in bars)
    if spacing:
        assert all(int(b.date.timestamp()) % spacing == 0 for b in bars[1:])
    if size == "1 week":
        assert len(bars) == 2  # the kept sessions: Fri 11-13 and Mon-Wed 11-16..18
    if size == "1 month":
        assert len(bars) == 1 and bars[0].volume > 0


def test_bid_ask_adjusted_last_and_volatility_bars(make_gateway, make_ib):
    # Arrange
    gateway = make_gateway(start=START + timedelta(hours=2), tick_interval_s=30.0)  # frozen
    ib = make_ib(gateway)
    ib.qualifyContracts(SPY)
    # Act
    trades = _bars(ib, SPY, size="5 mins", duration="3600 S")
    adjusted = _bars(ib, SPY, size="5 mins", duration="3600 S", what="ADJUSTED_LAST")
    bid_ask = _bars(ib, SPY, size="5 mins", duration="3600 S", what="BID_ASK")
    hv = _bars(ib, SPY, size="30 mins", duration="3600 S", what="HISTORICAL_VOLATILITY")
    iv = _bars(ib, SPY, size="30 mins", duration="3600 S", what="OPTION_IMPLIED_VOLATILITY")
    # Assert
    assert adjusted == trades and len(trades) == 12
    assert len(bid_ask) == 12
    for b in bid_ask:  # avg bid, max ask, min bid, avg ask; no volume
        assert b.low <= b.open < b.close <= b.high and b.volume == -1
    assert len(hv) == 2 and all(0.05 < b.close < 0.5 for b in hv)
    assert len(iv) == 2 and all(b.close == pytest.approx(0.15 * 1.1, abs=0.01) for b in iv)


def test_an_unexpired_option_has_trades_and_midpoint_bars(make_gateway, make_ib):
    gateway = make_gateway(start=START + timedelta(hours=2))
    ib = make_ib(gateway)
    expiry = sorted(gateway.contracts.chain_params("SPY", gateway.clock.now().date())[0][3])[1]
    opt = Option("SPY", expiry, float(round(gateway.market.spot("SPY"))), "C", "SMART")
    ib.qualifyContracts(opt)
    trades = _bars(ib, opt, size="5 mins", duration="3600 S")
    mids = _bars(ib, opt, size="5 mins", duration="3600 S", what="MIDPOINT")
    bid = _bars(ib, opt, size="5 mins", duration="3600 S", what="BID")
    assert len(trades) == len(mids) == 12 and bid == []
    assert all(b.close > 0 and b.low <= b.high for b in trades + mids)
    assert all(abs(b.close * 100 - round(b.close * 100)) < 1e-6 for b in trades)  # tick grid
    quote = gateway.market.option_quote(gateway.contracts.by_con_id(opt.conId))
    assert quote.bid * 0.9 < mids[-1].close < quote.ask * 1.1


def test_an_option_has_no_bars_once_expired(make_gateway, make_ib, until):
    # Arrange: 15:58 on the expiry day of a same-day SPY option, the clock at 600x
    gateway = make_gateway(start=START + timedelta(hours=6, minutes=28), speed=600.0)
    ib = make_ib(gateway)
    errors = []
    ib.errorEvent += lambda req_id, code, text, contract: errors.append((code, text))
    opt = Option("SPY", "20261118", float(round(gateway.market.spot("SPY"))), "C", "SMART")
    ib.qualifyContracts(opt)
    before = _bars(ib, opt, duration="1800 S", size="5 mins")
    # Act: the 16:00 close passes
    assert until(ib, lambda: options.years_to_expiry(opt.lastTradeDateOrContractMonth,
                                                     gateway.market.now()) < 0, 5)
    after = _bars(ib, opt, duration="1 D", size="5 mins")
    # Assert
    assert before and after == []
    assert errors[-1][0] == 162 and "no data" in errors[-1][1]


@pytest.mark.parametrize(
    ("pacing", "size", "answered"),
    [("ib", "1 min", True), ("ib", "30 secs", False), ("strict", "1 min", False)],
)
def test_pacing_is_hard_for_small_bars_and_soft_for_larger_ones(
        make_gateway, make_ib, pacing, size, answered):
    # Arrange
    gateway = make_gateway(pacing=pacing)
    ib = make_ib(gateway)
    ib.qualifyContracts(SPY)
    ib.RequestTimeout = 5
    end = "20261117 10:00:00 US/Eastern"
    first = _bars(ib, SPY, duration="300 S", size=size, end=end)
    # Act: the identical request again within 15 seconds
    again = _bars(ib, SPY, duration="300 S", size=size, end=end)
    # Assert
    assert first
    assert (again == first) is answered
    counters = gateway.counters()
    assert counters.get("violation.hist_identical", 0) == (0 if answered else 1)
    assert counters.get("pacing.soft.hist_identical", 0) == (1 if answered else 0)
