"""When to leave a position.

Premiums are dollars per share of the option; times are aware datetimes and minutes.
"""

from __future__ import annotations

import math
from datetime import datetime

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
