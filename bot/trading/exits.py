"""When and how to leave a position: time exits, the emulated stop, and the closing order's
escalation (bid, then lower, then marketable, then market near the close).

Premiums are dollars per share of the option; times are aware datetimes and minutes.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from bot.app.config import RiskSettings
from bot.trading.brackets import BracketPrices
from bot.trading.market_hours import minutes_to_close


def time_exit_reason(opened_at: datetime, now: datetime, cfg: RiskSettings) -> str | None:
    """Why the position must be closed at ``now`` for time reasons, or None.

    "max hold N min reached" once held ``max_hold_minutes`` or longer; otherwise "flat N min
    before the close" once ``now`` is within ``flat_before_close_minutes`` of (or past) the
    close of its trading day on the NYSE calendar: 16:00 New York, 13:00 on an early-close day,
    and at once on a day without a session (``market_hours.minutes_to_close``).
    """
    held_min = (now - opened_at).total_seconds() / 60.0
    if held_min >= cfg.max_hold_minutes:
        return f"max hold {cfg.max_hold_minutes} min reached"
    if minutes_to_close(now) <= cfg.flat_before_close_minutes:
        return f"flat {cfg.flat_before_close_minutes} min before the close"
    return None


def emulated_exit(bid: float, prices: BracketPrices) -> str | None:
    """The exit leg an emulated OCO fires at this bid: "take_profit", "stop" or None.

    Exits sell, so they are judged on the bid. A NaN bid (no quote) fires nothing.
    """
    if math.isnan(bid):
        return None
    if bid >= prices.take_profit:
        return "take_profit"
    if bid <= prices.stop:
        return "stop"
    return None


def closing_terms(step: int, bid: float | None, tick: float, *, reprice_steps: int,
                  marketable_ticks: int, minutes_left: float | None,
                  market_before_close_min: float) -> float | None:
    """The limit of a closing SELL at escalation ``step``, or None for a market order.

    Step 0 sells at the bid; each later step one tick lower, until ``reprice_steps`` steps have
    passed: from then on a marketable limit ``marketable_ticks`` ticks under the bid (the price
    is bounded: never lower than that). A market order when there is no usable bid, or when
    ``minutes_left`` to the close is within ``market_before_close_min``. Never under one tick.
    """
    if bid is None or math.isnan(bid) or bid <= 0:
        return None
    if minutes_left is not None and minutes_left <= market_before_close_min:
        return None
    ticks = step if step < reprice_steps else marketable_ticks
    return max(bid - min(ticks, marketable_ticks) * tick, tick)


def market_clock(last_bar_end: datetime | None, received_at: datetime | None, wall: datetime,
                 speed: float) -> datetime | None:
    """Exchange time now, extrapolated from the last live bar: its end plus the wall time
    elapsed since it arrived times ``speed`` (the simulator's clock rate; 1 for a real
    gateway). So time exits still fire when bars stall. None before the first bar."""
    if last_bar_end is None or received_at is None:
        return None
    elapsed = max((wall - received_at).total_seconds(), 0.0)
    return last_bar_end + timedelta(seconds=elapsed * speed)
