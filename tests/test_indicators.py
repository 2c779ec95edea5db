"""Specification of bot.trading.indicators: whole-series references and published worksheet values."""

from __future__ import annotations

import itertools
import math
import random
import sys
from datetime import date, timedelta

import pytest
from pure_helpers import bar, minute_bars, ny, strategy

from bot.messages import Bar
from bot.trading.indicators import Ema, IndicatorSet, SessionVwap, Snapshot, WilderRsi, warmup_bars
from bot.trading.market_hours import trading_day

# StockCharts ChartSchool RSI worksheet (14 periods): closes and the published RSI column.
CHARTSCHOOL_CLOSES = [
    44.3389, 44.0902, 44.1497, 43.6124, 44.3278, 44.8264, 45.0955, 45.4245, 45.8433, 46.0826,
    45.8931, 46.0328, 45.6140, 46.2820, 46.2820, 46.0028, 46.0328, 46.4116, 46.2222, 45.6439,
    46.2122, 46.2521, 45.7137, 46.4515, 45.7835, 45.3548, 44.0288, 44.1783, 44.2181, 44.5672,
    43.4205, 42.6628, 43.1314,
]
CHARTSCHOOL_RSI = [
    70.53, 66.32, 66.55, 69.41, 66.36, 57.97, 62.93, 63.26, 56.06, 62.38, 54.71, 50.42, 39.99,
    41.46, 41.87, 45.46, 37.30, 33.08, 37.77,
]
# StockCharts ChartSchool 10-day EMA worksheet: closes and the EMA column rounded to cents.
CHARTSCHOOL_EMA_CLOSES = [
    22.27, 22.19, 22.08, 22.17, 22.18, 22.13, 22.23, 22.43, 22.24, 22.29, 22.15, 22.39, 22.38,
    22.61, 23.36, 24.05, 23.75, 23.83, 23.95, 23.63, 23.82, 23.87, 23.65, 23.19, 23.10, 23.33,
    22.68, 23.10, 22.40, 22.17,
]
CHARTSCHOOL_EMA10 = [
    22.22, 22.21, 22.24, 22.27, 22.33, 22.52, 22.80, 22.97, 23.13, 23.28, 23.34, 23.43, 23.51,
    23.53, 23.47, 23.40, 23.39, 23.26, 23.23, 23.08, 22.92,
]
MONDAY_OPEN = ny(2024, 6, 10, 9, 30)


def random_walk(seed: int, n: int, start: float = 500.0) -> list[float]:
    rng = random.Random(seed)
    closes = [start]
    for _ in range(n - 1):
        closes.append(round(closes[-1] + rng.uniform(-0.5, 0.5), 2))
    return closes


def reference_ema(values: list[float], period: int) -> list[float | None]:
    """EMA by its recursive definition over the whole list, seeded with the first SMA."""
    alpha = 2 / (period + 1)
    out: list[float | None] = [None] * (period - 1)
    out.append(sum(values[:period]) / period)
    for x in values[period:]:
        out.append(alpha * x + (1 - alpha) * out[-1])
    return out


def reference_rsi(closes: list[float], period: int) -> list[float | None]:
    """Wilder's textbook RSI over the whole series."""
    changes = [b - a for a, b in itertools.pairwise(closes)]
    gains = [max(c, 0) for c in changes]
    losses = [max(-c, 0) for c in changes]
    out: list[float | None] = [None] * period
    avg_gain, avg_loss = sum(gains[:period]) / period, sum(losses[:period]) / period
    for i in range(period - 1, len(changes)):
        if i >= period:
            avg_gain = (avg_gain * (period - 1) + gains[i]) / period
            avg_loss = (avg_loss * (period - 1) + losses[i]) / period
        out.append(100.0 if avg_loss == 0 else 100 - 100 / (1 + avg_gain / avg_loss))
    return out


def reference_vwap(bars: list[Bar]) -> list[float | None]:
    """VWAP recomputed from scratch for every bar over the bars of its New York day."""
    out: list[float | None] = []
    for i, b in enumerate(bars):
        day = [x for x in bars[: i + 1] if trading_day(x.start) == trading_day(b.start)]
        volume = sum(x.volume for x in day)
        pv = sum((x.high + x.low + x.close) / 3 * x.volume for x in day)
        out.append(pv / volume if volume else None)
    return out


def approx_series(values: list[float | None]) -> list:
    return [None if v is None else pytest.approx(v, rel=1e-12, abs=1e-9) for v in values]


@pytest.mark.parametrize(("period", "seed"), [(2, 1), (9, 2), (21, 3), (50, 4)])
def test_ema_matches_the_recursive_definition(period: int, seed: int) -> None:
    closes = random_walk(seed, 300)
    ema = Ema(period)

    got = [ema.update(c) for c in closes]

    assert got == approx_series(reference_ema(closes, period))
    assert ema.value == got[-1]


def test_ema_is_none_until_period_values_then_the_sma() -> None:
    ema = Ema(3)

    got = [ema.update(x) for x in (1.0, 2.0, 6.0, 11.0)]

    assert got == [None, None, 3.0, 7.0]  # seed (1+2+6)/3 = 3; then 3 + 0.5 * (11 - 3)


def test_ema_reproduces_the_chartschool_worksheet() -> None:
    ema = Ema(10)

    got = [ema.update(c) for c in CHARTSCHOOL_EMA_CLOSES][9:]

    assert [round(v, 2) for v in got] == CHARTSCHOOL_EMA10


@pytest.mark.parametrize(("period", "seed"), [(2, 5), (5, 6), (14, 7), (30, 8)])
def test_rsi_matches_wilders_formula(period: int, seed: int) -> None:
    closes = random_walk(seed, 300)
    rsi = WilderRsi(period)

    got = [rsi.update(c) for c in closes]

    assert got == approx_series(reference_rsi(closes, period))


def test_rsi_reproduces_the_chartschool_worksheet() -> None:
    rsi = WilderRsi(14)

    got = [rsi.update(c) for c in CHARTSCHOOL_CLOSES]

    assert got[:14] == [None] * 14
    assert [round(v, 2) for v in got[14:]] == CHARTSCHOOL_RSI


@pytest.mark.parametrize(
    ("closes", "expected"),
    [
        ([1.0, 2.0, 3.0, 4.0], 100.0),        # only gains
        ([5.0, 5.0, 5.0, 5.0], 100.0),        # flat: no losses
        ([4.0, 3.0, 2.0, 1.0], 0.0),          # only losses
        ([10.0, 11.0, 10.0, 11.0], 200 / 3),  # gains 2/3, losses 1/3 -> RS 2 -> 66.67
    ],
)
def test_rsi_edge_series(closes: list[float], expected: float) -> None:
    rsi = WilderRsi(3)

    got = [rsi.update(c) for c in closes]

    assert got[:3] == [None, None, None]
    assert got[3] == pytest.approx(expected)


@pytest.mark.parametrize("cls", [Ema, WilderRsi])
def test_periods_below_one_are_refused(cls) -> None:
    with pytest.raises(ValueError, match="period"):
        cls(0)


def test_vwap_matches_a_per_day_recomputation_across_sessions() -> None:
    rng = random.Random(11)
    starts = [MONDAY_OPEN + timedelta(minutes=i) for i in range(60)]
    starts += [ny(2024, 6, 10, 23, 30), ny(2024, 6, 11, 0, 0)]  # Monday late, then Tuesday
    starts += [ny(2024, 6, 11, 9, 30) + timedelta(minutes=i) for i in range(60)]
    bars = []
    for s in starts:
        close = rng.uniform(500, 510)
        bars.append(bar(close, s, high=close + rng.uniform(0, 1), low=close - rng.uniform(0, 1),
                        volume=rng.choice([0.0, 100.0, 2500.0])))
    vwap = SessionVwap()

    got = [vwap.update(b) for b in bars]

    assert got == approx_series(reference_vwap(bars))


def test_vwap_figures_and_reset_on_the_new_york_date() -> None:
    vwap = SessionVwap()
    monday_late = ny(2024, 6, 10, 23, 30)  # already Tuesday 03:30 in UTC

    first = vwap.update(bar(100.0, MONDAY_OPEN, high=103.0, low=97.0, volume=100))
    second = vwap.update(bar(110.0, monday_late, volume=300))
    tuesday = vwap.update(bar(50.0, ny(2024, 6, 11, 9, 30), volume=0))
    tuesday_next = vwap.update(bar(52.0, ny(2024, 6, 11, 9, 31), volume=10))

    assert first == 100.0                                 # typical (103+97+100)/3
    assert second == pytest.approx((100 * 100 + 110 * 300) / 400)  # still Monday: 107.5
    assert (tuesday, vwap.day) == (None, date(2024, 6, 11))  # new day, no volume yet
    assert tuesday_next == 52.0


def test_snapshot_becomes_ready_after_the_warmup() -> None:
    cfg = strategy(ema_fast=3, ema_slow=5, rsi_period=4)
    indicators = IndicatorSet(cfg)
    bars = minute_bars(random_walk(3, 10), MONDAY_OPEN)

    snaps = [indicators.update(b) for b in bars]

    assert warmup_bars(cfg) == 6
    assert [s.ready for s in snaps] == [False] * 5 + [True] * 5
    assert [s.bars for s in snaps] == list(range(1, 11))


def test_default_warmup_is_the_slow_ema_plus_one() -> None:
    assert warmup_bars(strategy()) == 22
    assert warmup_bars(strategy(rsi_period=30, ema_slow=21)) == 31


def test_snapshot_carries_the_previous_values() -> None:
    cfg = strategy(ema_fast=2, ema_slow=3, rsi_period=2)
    indicators = IndicatorSet(cfg)
    closes = [10.0, 11.0, 12.0, 11.0, 13.0]

    snaps = [indicators.update(b) for b in minute_bars(closes, MONDAY_OPEN, volume=100)]

    last, before = snaps[-1], snaps[-2]
    assert (last.close, last.prev_close) == (13.0, 11.0)
    assert (last.prev_ema_fast, last.prev_ema_slow) == (before.ema_fast, before.ema_slow)
    assert last.prev_vwap == before.vwap == pytest.approx(11.0)
    assert last.vwap == pytest.approx(57 / 5)
    assert last.ema_slow == pytest.approx(reference_ema(closes, 3)[-1])
    assert last.rsi == pytest.approx(reference_rsi(closes, 2)[-1])


def test_prev_vwap_is_none_on_the_first_bar_of_a_session() -> None:
    indicators = IndicatorSet(strategy())
    indicators.update(bar(100.0, ny(2024, 6, 10, 15, 59)))

    snap = indicators.update(bar(101.0, ny(2024, 6, 11, 9, 30)))

    assert (snap.prev_vwap, snap.vwap, snap.prev_close) == (None, 101.0, 100.0)


@pytest.mark.parametrize("field", ["open", "high", "low", "close", "volume"])
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_bars_are_refused_and_leave_the_state_alone(field: str, bad: float) -> None:
    indicators = IndicatorSet(strategy())
    indicators.update(bar(100.0, MONDAY_OPEN))
    good = bar(100.0, MONDAY_OPEN + timedelta(minutes=1))
    poisoned = Bar(**{**{f: getattr(good, f) for f in Bar.__slots__}, field: bad})

    with pytest.raises(ValueError, match="non-finite bar"):
        indicators.update(poisoned)

    assert (indicators.bars, indicators.fast.value, indicators.vwap.value) == (1, None, 100.0)


def _footprint(obj: object) -> int:
    """Bytes held by an object and, one level down, by each of its slot values."""
    total = sys.getsizeof(obj)
    for name in getattr(type(obj), "__slots__", ()):
        value = getattr(obj, name)
        total += _footprint(value) if hasattr(type(value), "__slots__") else sys.getsizeof(value)
    return total


def test_memory_stays_constant_over_100k_bars() -> None:
    indicators = IndicatorSet(strategy())
    rng = random.Random(42)
    start, price = MONDAY_OPEN, 500.0
    for i in range(100):
        indicators.update(bar(price, start + timedelta(minutes=i)))
    before = _footprint(indicators)

    for i in range(100, 100_100):
        price += rng.uniform(-0.2, 0.2)
        indicators.update(bar(price, start + timedelta(minutes=i), volume=100.0))

    assert _footprint(indicators) == before
    assert not hasattr(indicators, "__dict__")
    parts = (indicators.fast, indicators.slow, indicators.rsi, indicators.vwap)
    assert all(not hasattr(part, "__dict__") for part in parts)
    assert isinstance(indicators.update(bar(price, start)), Snapshot)
