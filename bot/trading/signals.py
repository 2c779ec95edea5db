"""The scalp rules: on each completed 1-minute bar, call, put or hold, with the reasons.

A side fires when a trigger happened on THIS bar and every filter of that side holds:

| | call | put |
|---|---|---|
| trigger | fast EMA crossed above slow EMA | crossed below |
| trigger | close crossed above VWAP while fast > slow | below, while fast < slow |
| filter | fast EMA > slow EMA | fast EMA < slow EMA |
| filter (if ``require_vwap``) | close > VWAP | close < VWAP |
| filter | ``rsi_call_min <= rsi <= rsi_overbought`` | ``rsi_oversold <= rsi <= rsi_put_max`` |

A cross means "not beyond on the previous bar, strictly beyond now" (equal values are not
beyond). Every trigger needs its side's EMA order, so at most one side can trigger on a bar.
Reasons carry the figures (prices in dollars with 2 decimals, RSI with 1) so a log line alone
explains the decision; a hold lists why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.app.config import StrategySettings
from bot.messages import Direction
from bot.trading.indicators import Snapshot, warmup_bars


@dataclass(frozen=True, slots=True)
class Signal:
    """What the rules say for one bar; ``reasons`` explain it, in evaluation order."""

    direction: Direction
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Check:
    ok: bool
    text: str


@dataclass(frozen=True, slots=True)
class _Side:
    """The numbers that make the put rules the mirror image of the call rules."""

    direction: Direction
    sign: float          # +1: "beyond" means above; -1: below
    above: str           # word for "beyond" in reasons
    cross: str           # "up" / "down"
    rsi_band: Callable[[StrategySettings], tuple[float, float]]


CALL = _Side(Direction.CALL, 1.0, "above", "up", lambda c: (c.rsi_call_min, c.rsi_overbought))
PUT = _Side(Direction.PUT, -1.0, "below", "down", lambda c: (c.rsi_oversold, c.rsi_put_max))


def _beyond(side: _Side, a: float, b: float) -> bool:
    return side.sign * (a - b) > 0


def _crossed(side: _Side, prev_a: float | None, prev_b: float | None, a: float, b: float) -> bool:
    if prev_a is None or prev_b is None:
        return False
    return not _beyond(side, prev_a, prev_b) and _beyond(side, a, b)


def _triggers(snap: Snapshot, side: _Side) -> list[str]:
    fast, slow = snap.ema_fast, snap.ema_slow
    found = []
    if _crossed(side, snap.prev_ema_fast, snap.prev_ema_slow, fast, slow):
        found.append(f"trigger: ema cross {side.cross}")
    if (snap.vwap is not None and _beyond(side, fast, slow)
            and _crossed(side, snap.prev_close, snap.prev_vwap, snap.close, snap.vwap)):
        found.append(f"trigger: close crossed {side.above} vwap")
    return found


_OPERATORS = {(True, 1.0): ">", (False, 1.0): "<=", (True, -1.0): "<", (False, -1.0): ">="}


def _beyond_check(side: _Side, name_a: str, a: float, name_b: str, b: float) -> _Check:
    """``a`` must be beyond ``b`` (above for calls, below for puts)."""
    ok = _beyond(side, a, b)
    return _Check(ok, f"{name_a} {a:.2f} {_OPERATORS[(ok, side.sign)]} {name_b} {b:.2f}")


def _filters(snap: Snapshot, side: _Side, cfg: StrategySettings) -> list[_Check]:
    fast, slow = f"ema{cfg.ema_fast}", f"ema{cfg.ema_slow}"
    checks = [_beyond_check(side, fast, snap.ema_fast, slow, snap.ema_slow)]
    if cfg.require_vwap and snap.vwap is None:
        checks.append(_Check(False, "vwap unavailable: no volume this session"))
    elif cfg.require_vwap:
        checks.append(_beyond_check(side, "close", snap.close, "vwap", snap.vwap))
    low, high = side.rsi_band(cfg)
    rsi_ok = low <= snap.rsi <= high
    band = f"[{low:g}, {high:g}]"
    checks.append(_Check(rsi_ok, f"rsi {snap.rsi:.1f} {'in' if rsi_ok else 'not in'} {band}"))
    return checks


def evaluate(snap: Snapshot, cfg: StrategySettings) -> Signal:
    """Apply the scalp rules to the snapshot of the bar that just closed."""
    if not snap.ready:
        return Signal(Direction.HOLD, (f"warming up: {snap.bars}/{warmup_bars(cfg)} bars",))
    for side in (CALL, PUT):
        triggers = _triggers(snap, side)
        if not triggers:
            continue
        checks = _filters(snap, side, cfg)
        if all(c.ok for c in checks):
            return Signal(side.direction, (*triggers, *(c.text for c in checks)))
        blocked = tuple(f"{side.direction.value} blocked: {c.text}" for c in checks if not c.ok)
        return Signal(Direction.HOLD, (*triggers, *blocked))
    return Signal(Direction.HOLD, ("no trigger on this bar: no ema or vwap cross",))
