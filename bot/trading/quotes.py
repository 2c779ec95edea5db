"""Market data sanity: a malformed quote or bar is named, dropped and counted, never traded on.

Problems are short fixed words so they can be counted and logged as ``drop reason=crossed``.
Prices are dollars per share (premium per share for options); ages are seconds.
"""

from __future__ import annotations

import math
from datetime import datetime

from bot.messages import Bar, Quote

IB_NO_PRICE = -1.0
"""The price IB sends when there is no bid or ask (ib_insync passes it through)."""


def _price_problem(price: float | None) -> str | None:
    """The problem with one bid or ask, checked in this order."""
    if price is None or price == IB_NO_PRICE:
        return "missing"
    if not math.isfinite(price):
        return "nan"
    if price < 0:
        return "negative"
    if price == 0:
        return "zero"
    return None


def quote_problem(q: Quote, now: datetime, max_age_s: float) -> str | None:
    """Why ``q`` must not be used at ``now``, or None when it is good.

    In order: "missing" (bid or ask absent, or IB's -1 "no price"), "nan" (NaN or infinite),
    "negative", "zero" (a 0 bid means nobody buys the option: no exit price), "crossed"
    (bid > ask), "stale" (older than ``max_age_s`` seconds). A locked market (bid == ask) is
    good. ``last`` is not checked: options often have no trade yet.
    """
    for price in (q.bid, q.ask):
        problem = _price_problem(price)
        if problem:
            return problem
    if q.bid > q.ask:
        return "crossed"
    if (now - q.ts).total_seconds() > max_age_s:
        return "stale"
    return None


def bar_problem(bar: Bar) -> str | None:
    """Why ``bar`` must not reach the indicators, or None when it is good.

    "nan", "negative" (a price or the volume), "zero" (a price), "inverted" (high < low),
    "outside range" (open or close beyond high/low).
    """
    prices = (bar.open, bar.high, bar.low, bar.close)
    if not all(math.isfinite(v) for v in (*prices, bar.volume)):
        return "nan"
    if min(prices) < 0 or bar.volume < 0:
        return "negative"
    if min(prices) == 0:
        return "zero"
    if bar.high < bar.low:
        return "inverted"
    if not all(bar.low <= v <= bar.high for v in (bar.open, bar.close)):
        return "outside range"
    return None


class DropCounter:
    """Counts dropped data by reason; mutable, owned by a single actor (not thread safe)."""

    __slots__ = ("_counts", "total")

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self.total = 0

    def count(self, reason: str) -> None:
        """Record one drop for ``reason``."""
        self._counts[reason] = self._counts.get(reason, 0) + 1
        self.total += 1

    def snapshot(self) -> dict[str, int]:
        """A copy of the counts, reasons in alphabetical order (for the heartbeat)."""
        return dict(sorted(self._counts.items()))
