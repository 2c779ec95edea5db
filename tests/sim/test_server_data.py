"""Reference and market data through the real ib_insync client: contract details, option
chains, quotes and greeks, snapshots, historical bars (1 min / 5 s, TRADES / MIDPOINT,
keepUpToDate) and real-time bars, each checked against the gateway's own market model."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from ib_insync import Contract, Option, Stock

TODAY = "20261118"  # the fixed start day (conftest.START)
PREVIOUS_CLOSE = datetime(2026, 11, 17, 21, 0, tzinfo=UTC)  # Tuesday 16:00 New York


def _weekly_call(gateway, ib):
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    [chain] = [
        c for c in ib.reqSecDefOptParams("SPY", "", "STK", spy.conId) if c.exchange == "SMART"
    ]
    expiry = sorted(chain.expirations)[1]
    strike = min(chain.strikes, key=lambda k: abs(k - gateway.market.spot("SPY")))
    opt = Option("SPY", expiry, strike, "C", "SMART")
    assert ib.qualifyContracts(opt) == [opt]
    return spy, opt


def test_qualify_stock_fills_every_field_qualification_uses(gateway, ib):
    # Act
    [details] = ib.reqContractDetails(Stock("SPY", "SMART", "USD"))
    # Assert
    c = details.contract
    expected = gateway.contracts.stock("SPY")
    assert (c.conId, c.symbol, c.secType, c.primaryExchange, c.currency, c.localSymbol) == (
        expected.con_id,
        "SPY",
        "STK",
        "ARCA",
        "USD",
        "SPY",
    )
    assert details.minTick == 0.01
    assert details.timeZoneId == "US/Eastern"
    assert details.liquidHours.startswith(f"{TODAY}:0930-{TODAY}:1600")
    assert details.tradingHours.startswith(f"{TODAY}:0400-{TODAY}:2000")
    assert details.longName == expected.long_name


def test_qualify_option_and_chain_params(gateway, ib):
    spy, opt = _weekly_call(gateway, ib)
    [details] = ib.reqContractDetails(opt)
    assert details.contract.multiplier == "100"
    assert details.underConId == spy.conId
    assert opt.localSymbol.startswith("SPY   ") and opt.localSymbol[12] == "C"
    assert (
        opt.conId
        == gateway.contracts.option("SPY", opt.lastTradeDateOrContractMonth, opt.strike, "C").con_id
    )
    chains = ib.reqSecDefOptParams("SPY", "", "STK", spy.conId)
    assert {c.exchange for c in chains} == {"SMART", "CBOE"}
    assert all(c.multiplier == "100" and c.tradingClass == "SPY" for c in chains)


@pytest.mark.parametrize(
    "contract",
    [
        Stock("NOPE", "SMART", "USD"),
        Option("SPY", "20261118", 1.5, "C", "SMART"),
        Contract(conId=12345),
    ],
)
def test_unknown_contract_gets_error_200(ib, contract):
    errors = []
    ib.errorEvent += lambda req_id, code, text, c: errors.append((code, text))
    assert ib.qualifyContracts(contract) == []
    assert errors == [(200, "No security definition has been found for the request")]


def test_stock_quote_streams_the_models_prices(gateway, ib, until):
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    ticker = ib.reqMktData(spy)
    assert until(ib, lambda: ticker.volume > 0 and ticker.bid > 0, 5)
    q = gateway.market.quote("SPY")
    assert 0 < ticker.ask - ticker.bid < 0.10
    assert abs(ticker.last - q.last) < 1.0  # the stream lags the model by at most a tick
    assert ticker.bidSize > 0 and ticker.askSize > 0
    assert ticker.halted == 0.0  # tickGeneric 49
    first = ticker.volume
    assert until(ib, lambda: ticker.volume > first, 5)  # volume keeps growing while open
    assert gateway.counters()["stream.messages"] > 0


def test_option_quote_carries_model_greeks(gateway, ib, until):
    _, opt = _weekly_call(gateway, ib)
    ticker = ib.reqMktData(opt)
    assert until(ib, lambda: ticker.modelGreeks is not None and ticker.bid > 0, 5)
    q = gateway.market.option_quote(gateway.contracts.by_con_id(opt.conId))
    g = ticker.modelGreeks
    assert 0.2 < g.delta < 0.8  # near the money call
    assert g.gamma > 0 and g.vega > 0 and g.theta < 0
    assert abs(g.impliedVol - q.iv) < 0.05
    assert abs(g.undPrice - gateway.market.spot("SPY")) < 2.0
    assert ticker.bid < g.optPrice < ticker.ask or math.isclose(
        g.optPrice, ticker.bid, abs_tol=0.05
    )
    assert ticker.bidGreeks is not None and ticker.askGreeks is not None


def test_snapshot_ends_with_tick_snapshot_end(gateway, ib):
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    [ticker] = ib.reqTickers(spy)
    q = gateway.market.quote("SPY")
    assert abs(ticker.bid - q.bid) < 1.0 and ticker.ask > ticker.bid
    assert gateway.lines.in_use == 0  # a snapshot holds no market data line


@pytest.mark.parametrize(
    ("duration", "bar_size", "what", "count", "step"),
    [
        ("1 D", "1 min", "TRADES", 390, 60),  # the previous full session
        ("1 D", "1 min", "MIDPOINT", 390, 60),
        ("1800 S", "5 secs", "TRADES", 360, 5),  # the last half hour of the previous session
        ("3600 S", "5 secs", "MIDPOINT", 720, 5),
    ],
)
def test_historical_bars_match_the_model(gateway, ib, duration, bar_size, what, count, step):
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    end = PREVIOUS_CLOSE
    bars = ib.reqHistoricalData(spy, end, duration, bar_size, what, True)
    assert len(bars) == count
    assert (bars[1].date - bars[0].date).total_seconds() == step
    seconds = 86_400 if duration == "1 D" else int(duration.split()[0])
    model = gateway.market.bars("SPY", end, seconds, step, what)
    assert [round(b.close, 2) for b in bars] == [round(b.close, 2) for b in model]
    assert all(b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high for b in bars)


def ny(day: int, hour: int, minute: int) -> datetime:
    """An instant of November 2026 in New York time (EST, UTC-5), as aware UTC."""
    return datetime(2026, 11, day, hour + 5, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "duration", "bars_per_day"),
    [
        (ny(23, 9, 35), "1 D", {23: 5}),  # Monday 09:35: Monday so far
        (ny(23, 9, 35), "2 D", {20: 390, 23: 5}),  # Friday's session, then Monday's
        (ny(23, 8, 0), "1 D", {20: 390}),  # Monday before the open: Friday, not the weekend
        (ny(23, 8, 0), "2 D", {19: 390, 20: 390}),  # Thursday and Friday
    ],
)
def test_days_of_history_count_trading_sessions(
    make_gateway, make_ib, start, duration, bars_per_day
):
    # Arrange: a clock that all but stands still at the start
    gateway = make_gateway(start=start, speed=1e-4)
    ib = make_ib(gateway)
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    # Act
    bars = ib.reqHistoricalData(spy, "", duration, "1 min", "TRADES", True, formatDate=2)
    # Assert: whole sessions from their 09:30 open, minute by minute
    days = Counter((b.date - timedelta(hours=5)).day for b in bars)
    assert dict(days) == bars_per_day
    assert bars[0].date == ny(min(bars_per_day), 9, 30)
    assert len({b.date for b in bars}) == len(bars) and all(b.date.second == 0 for b in bars)


def test_keep_up_to_date_pushes_the_forming_bar(gateway, ib, until):
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    # "2 D": the previous session and today so far, so the backfill is never empty at the open
    bars = ib.reqHistoricalData(spy, "", "2 D", "5 secs", "TRADES", True, keepUpToDate=True)
    assert len(bars) >= 4680  # 6.5 hours of 5-second bars
    initial_last = bars[-1].date
    assert until(ib, lambda: bars[-1].date > initial_last and len(bars) > 3, 5)
    forming = gateway.market.partial_bar("SPY", 5)
    assert bars[-1].date.timestamp() <= forming.time.timestamp()
    assert abs(bars[-1].close - forming.close) < 1.0


def test_real_time_bars_arrive_every_five_simulated_seconds(gateway, ib, until):
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    bars = ib.reqRealTimeBars(spy, 5, "TRADES", True)
    assert until(ib, lambda: len(bars) >= 3, 5)
    gaps = {(b.time - a.time).total_seconds() for a, b in itertools.pairwise(bars)}
    assert gaps == {5.0}
    model = {b.time: b for b in gateway.market.bars("SPY", gateway.market.now(), 600, 5)}
    assert (model[bars[0].time].close, model[bars[0].time].volume) == (
        bars[0].close,
        bars[0].volume,
    )
