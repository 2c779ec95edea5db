"""Specification of bot.trading.signals: hand-built snapshots in, direction and reasons out."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pure_helpers import minute_bars, ny, strategy

from bot.messages import Direction
from bot.trading.indicators import IndicatorSet, Snapshot
from bot.trading.signals import Signal, evaluate

CFG = strategy()  # ema 9/21, rsi 14, call rsi [55, 75], put rsi [25, 45], require_vwap

# An up-trend bar where the fast EMA has just crossed above the slow one.
CROSS_UP = Snapshot(close=591.40, ema_fast=591.20, ema_slow=590.95, prev_ema_fast=590.90,
                    prev_ema_slow=590.93, rsi=58.1, vwap=590.80, prev_close=591.00,
                    prev_vwap=590.70, bars=40)
# The mirror image: fast EMA has just crossed below the slow one.
CROSS_DOWN = Snapshot(close=589.60, ema_fast=589.80, ema_slow=590.05, prev_ema_fast=590.10,
                      prev_ema_slow=590.07, rsi=41.9, vwap=590.20, prev_close=590.00,
                      prev_vwap=590.30, bars=40)
# Fast above slow for a while; the close crosses above VWAP on this bar.
VWAP_UP = replace(CROSS_UP, prev_ema_fast=591.10, prev_ema_slow=590.94, prev_close=590.60)
VWAP_DOWN = replace(CROSS_DOWN, prev_ema_fast=589.90, prev_ema_slow=590.06, prev_close=590.40)
# Nothing crossed: fast above slow and the close above VWAP on both bars.
QUIET = replace(VWAP_UP, prev_close=591.00)

CALL_FILTERS = ("ema9 591.20 > ema21 590.95", "close 591.40 > vwap 590.80", "rsi 58.1 in [55, 75]")
NO_TRIGGER = "no trigger on this bar: no ema or vwap cross"
UP, DOWN = "trigger: ema cross up", "trigger: ema cross down"
PUT_FILTERS = ("ema9 589.80 < ema21 590.05", "close 589.60 < vwap 590.20", "rsi 41.9 in [25, 45]")


@pytest.mark.parametrize(
    ("snap", "direction", "reasons"),
    [
        (CROSS_UP, Direction.CALL, ("trigger: ema cross up", *CALL_FILTERS)),
        (VWAP_UP, Direction.CALL, ("trigger: close crossed above vwap", *CALL_FILTERS)),
        (replace(CROSS_UP, prev_close=590.60), Direction.CALL,
         ("trigger: ema cross up", "trigger: close crossed above vwap", *CALL_FILTERS)),
        (CROSS_DOWN, Direction.PUT, ("trigger: ema cross down", *PUT_FILTERS)),
        (VWAP_DOWN, Direction.PUT, ("trigger: close crossed below vwap", *PUT_FILTERS)),
        # RSI band edges are inclusive.
        (replace(CROSS_UP, rsi=55.0), Direction.CALL,
         ("trigger: ema cross up", *CALL_FILTERS[:2], "rsi 55.0 in [55, 75]")),
        (replace(CROSS_UP, rsi=75.0), Direction.CALL,
         ("trigger: ema cross up", *CALL_FILTERS[:2], "rsi 75.0 in [55, 75]")),
        (replace(CROSS_DOWN, rsi=25.0), Direction.PUT,
         ("trigger: ema cross down", *PUT_FILTERS[:2], "rsi 25.0 in [25, 45]")),
        # A previous fast EMA equal to the slow one counts as "not above": this is a cross.
        (replace(CROSS_UP, prev_ema_fast=590.93), Direction.CALL,
         ("trigger: ema cross up", *CALL_FILTERS)),
    ],
)
def test_entries(snap: Snapshot, direction: Direction, reasons: tuple[str, ...]) -> None:
    assert evaluate(snap, CFG) == Signal(direction, reasons)


@pytest.mark.parametrize(
    ("snap", "reasons"),
    [
        (QUIET, (NO_TRIGGER,)),
        # Fast was already above slow: no EMA cross, and the close stayed above VWAP.
        (replace(CROSS_UP, prev_ema_fast=591.00), (NO_TRIGGER,)),
        # The close crosses VWAP upward while fast < slow: not a call trigger.
        (replace(CROSS_DOWN, close=590.40, prev_close=590.10, ema_fast=590.00,
                 prev_ema_fast=589.90), (NO_TRIGGER,)),
        (replace(CROSS_UP, rsi=78.2), (UP, "call blocked: rsi 78.2 not in [55, 75]")),
        (replace(CROSS_UP, rsi=54.9), (UP, "call blocked: rsi 54.9 not in [55, 75]")),
        (replace(CROSS_UP, vwap=591.50),
         ("trigger: ema cross up", "call blocked: close 591.40 <= vwap 591.50")),
        (replace(CROSS_UP, vwap=591.40, rsi=80.0),
         ("trigger: ema cross up", "call blocked: close 591.40 <= vwap 591.40",
          "call blocked: rsi 80.0 not in [55, 75]")),
        (replace(CROSS_DOWN, rsi=22.0), (DOWN, "put blocked: rsi 22.0 not in [25, 45]")),
        (replace(CROSS_DOWN, vwap=589.00),
         ("trigger: ema cross down", "put blocked: close 589.60 >= vwap 589.00")),
        (replace(CROSS_UP, vwap=None, prev_vwap=None),
         ("trigger: ema cross up", "call blocked: vwap unavailable: no volume this session")),
        (replace(CROSS_UP, bars=12, ema_slow=None, prev_ema_slow=None),
         ("warming up: 12/22 bars",)),
        (replace(CROSS_UP, bars=15, rsi=None), ("warming up: 15/22 bars",)),
    ],
)
def test_holds_say_why(snap: Snapshot, reasons: tuple[str, ...]) -> None:
    assert evaluate(snap, CFG) == Signal(Direction.HOLD, reasons)


@pytest.mark.parametrize(
    ("snap", "direction", "reasons"),
    [
        # Without the VWAP requirement a close below VWAP no longer blocks a call.
        (replace(CROSS_UP, vwap=591.50), Direction.CALL,
         ("trigger: ema cross up", "ema9 591.20 > ema21 590.95", "rsi 58.1 in [55, 75]")),
        (replace(CROSS_UP, vwap=None, prev_vwap=None), Direction.CALL,
         ("trigger: ema cross up", "ema9 591.20 > ema21 590.95", "rsi 58.1 in [55, 75]")),
        # The VWAP cross still triggers when VWAP is known.
        (VWAP_DOWN, Direction.PUT,
         ("trigger: close crossed below vwap", *PUT_FILTERS[::2])),
    ],
)
def test_vwap_filter_can_be_switched_off(snap: Snapshot, direction: Direction,
                                         reasons: tuple[str, ...]) -> None:
    assert evaluate(snap, strategy(require_vwap=False)) == Signal(direction, reasons)


def test_reasons_name_the_configured_periods_and_bands() -> None:
    cfg = strategy(ema_fast=5, ema_slow=13, rsi_call_min=52.5, rsi_overbought=80)

    signal = evaluate(CROSS_UP, cfg)

    assert signal.reasons[1:] == ("ema5 591.20 > ema13 590.95", "close 591.40 > vwap 590.80",
                                  "rsi 58.1 in [52.5, 80]")


def test_a_real_indicator_set_warms_up_then_signals_a_call() -> None:
    cfg = strategy(ema_fast=2, ema_slow=3, rsi_period=2, rsi_call_min=55, rsi_overbought=100)
    indicators = IndicatorSet(cfg)
    closes = [100.0, 99.0, 98.0, 97.0, 96.0, 99.0]

    bars = minute_bars(closes, ny(2024, 6, 10, 9, 30))

    signals = [evaluate(indicators.update(b), cfg) for b in bars]

    assert [s.direction for s in signals] == [Direction.HOLD] * 5 + [Direction.CALL]
    assert signals[0].reasons == ("warming up: 1/4 bars",)
    assert signals[-1].reasons[0] == "trigger: ema cross up"
