"""Incremental indicators for 1-minute bars: EMA, Wilder's RSI and the session VWAP.

Every update is O(1) in time and memory: each indicator keeps a fixed handful of numbers, never
the price history, so a bot running for weeks uses the same memory as on its first bar. All
values are in the units of the prices fed in (dollars per share of the underlying); RSI is on
the 0..100 scale. Feed only finite prices: a NaN would poison an average forever, so
``IndicatorSet.update`` refuses it (drop bad bars first with ``bot.trading.quotes.bar_problem``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from bot.app.config import StrategySettings
from bot.messages import Bar
from bot.trading.market_hours import trading_day


class Ema:
    """Exponential moving average, alpha = 2 / (period + 1).

    Seeded with the simple average of the first ``period`` values (the textbook convention), so
    ``value`` is None until ``period`` values have been seen.
    """

    __slots__ = ("period", "alpha", "value", "_count", "_seed_sum")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError(f"EMA period must be >= 1, got {period}")
        self.period = period
        self.alpha = 2.0 / (period + 1)
        self.value: float | None = None
        self._count = 0
        self._seed_sum = 0.0

    def update(self, x: float) -> float | None:
        """Add one value; return the EMA (None while seeding)."""
        if self.value is not None:
            self.value += self.alpha * (x - self.value)
            return self.value
        self._count += 1
        self._seed_sum += x
        if self._count == self.period:
            self.value = self._seed_sum / self.period
        return self.value


class WilderRsi:
    """Relative Strength Index with Wilder's smoothing (alpha = 1 / period).

    The first value needs ``period`` price changes, i.e. ``period + 1`` closes: the average gain
    and loss start as simple averages of those changes, then each new change is blended in as
    ``avg = (avg * (period - 1) + change) / period``. RSI = 100 - 100 / (1 + gain / loss), and
    100 when there were no losses at all (including a flat series).
    """

    __slots__ = ("period", "value", "_prev_close", "_changes", "_avg_gain", "_avg_loss")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError(f"RSI period must be >= 1, got {period}")
        self.period = period
        self.value: float | None = None
        self._prev_close: float | None = None
        self._changes = 0
        self._avg_gain = 0.0
        self._avg_loss = 0.0

    def update(self, close: float) -> float | None:
        """Add one close; return the RSI (None until ``period + 1`` closes)."""
        prev, self._prev_close = self._prev_close, close
        if prev is None:
            return None
        change = close - prev
        gain, loss = max(change, 0.0), max(-change, 0.0)
        self._changes += 1
        n = self.period
        if self._changes <= n:  # still collecting the first simple averages
            self._avg_gain += gain / n
            self._avg_loss += loss / n
            if self._changes < n:
                return None
        else:
            self._avg_gain = (self._avg_gain * (n - 1) + gain) / n
            self._avg_loss = (self._avg_loss * (n - 1) + loss) / n
        self.value = _rsi(self._avg_gain, self._avg_loss)
        return self.value


def _rsi(avg_gain: float, avg_loss: float) -> float:
    if avg_loss == 0.0:
        return 100.0
    return 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)


class SessionVwap:
    """Volume-weighted average price of the current New York trading day.

    sum(typical price * volume) / sum(volume), typical price = (high + low + close) / 3. Both
    sums restart when a bar's New York trading day differs from the previous bar's. ``value``
    is None while the day's cumulative volume is 0.
    """

    __slots__ = ("value", "day", "_pv", "_volume")

    def __init__(self) -> None:
        self.value: float | None = None
        self.day: date | None = None
        self._pv = 0.0
        self._volume = 0.0

    def update(self, bar: Bar) -> float | None:
        """Add one bar; return the session VWAP so far (None without volume)."""
        day = trading_day(bar.start)
        if day != self.day:
            self.day, self._pv, self._volume, self.value = day, 0.0, 0.0, None
        if bar.volume > 0:
            self._pv += (bar.high + bar.low + bar.close) / 3.0 * bar.volume
            self._volume += bar.volume
            self.value = self._pv / self._volume
        return self.value


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The indicators after one bar, plus their values after the bar before (for crosses).

    Prices in dollars per share of the underlying; ``rsi`` on 0..100. ``prev_vwap`` is None on
    the first bar of a session, so a VWAP cross never compares against yesterday's VWAP.
    """

    close: float
    ema_fast: float | None
    ema_slow: float | None
    prev_ema_fast: float | None
    prev_ema_slow: float | None
    rsi: float | None
    vwap: float | None
    prev_close: float | None
    prev_vwap: float | None
    bars: int
    """Bars seen so far (across sessions)."""

    @property
    def ready(self) -> bool:
        """True once both EMAs have a current and a previous value and RSI has a value.

        VWAP is not part of it: it restarts every session and is checked by the signal rules.
        """
        needed = (self.ema_fast, self.ema_slow, self.prev_ema_fast, self.prev_ema_slow,
                  self.rsi, self.prev_close)
        return all(v is not None for v in needed)


def warmup_bars(cfg: StrategySettings) -> int:
    """Bars needed before ``Snapshot.ready``: a previous slow EMA, and the RSI's period + 1."""
    return max(cfg.ema_slow + 1, cfg.rsi_period + 1)


class IndicatorSet:
    """The indicators the scalp rules read, updated once per completed bar of one symbol."""

    __slots__ = ("fast", "slow", "rsi", "vwap", "bars", "_prev_close")

    def __init__(self, cfg: StrategySettings) -> None:
        self.fast = Ema(cfg.ema_fast)
        self.slow = Ema(cfg.ema_slow)
        self.rsi = WilderRsi(cfg.rsi_period)
        self.vwap = SessionVwap()
        self.bars = 0
        self._prev_close: float | None = None

    def update(self, bar: Bar) -> Snapshot:
        """Fold in one bar and return the new snapshot; a non-finite price raises ValueError."""
        values = (bar.open, bar.high, bar.low, bar.close, bar.volume)
        if not all(math.isfinite(v) for v in values):
            when = bar.start.isoformat()
            raise ValueError(f"non-finite bar for {bar.symbol} at {when}: {values}")
        prev_fast, prev_slow = self.fast.value, self.slow.value
        same_session = self.vwap.day == trading_day(bar.start)
        prev_vwap = self.vwap.value if same_session else None
        prev_close, self._prev_close = self._prev_close, bar.close
        self.bars += 1
        return Snapshot(
            close=bar.close,
            ema_fast=self.fast.update(bar.close),
            ema_slow=self.slow.update(bar.close),
            prev_ema_fast=prev_fast,
            prev_ema_slow=prev_slow,
            rsi=self.rsi.update(bar.close),
            vwap=self.vwap.update(bar),
            prev_close=prev_close,
            prev_vwap=prev_vwap,
            bars=self.bars,
        )
