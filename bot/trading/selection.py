"""Choosing the option to buy: the expiry from the chain, the candidate strikes, then the one
quote that passes every filter and ranks first.

Prices are dollars per share (option premium per share); spreads are percent of the mid
((ask - bid) / mid * 100); days to expiry (DTE) are calendar days from the New York trading
date passed in as ``today``.

Ranking (lowest tuple wins, so the choice is deterministic):

| mode | key |
|---|---|
| ``strike_window`` | (abs(strike - spot), spread %, -volume, strike) |
| ``delta`` | (abs(abs(delta) - target_delta), spread %, -volume, strike) |

so two strikes equally far from spot go to the tighter spread, then the busier contract, then
the lower strike. Distances are rounded to 1e-6 first so float noise never decides a tie.

Deadlines (``stage_timeout_s``): a strategy waiting for an answer never waits forever (a broker
restart can lose any answer). Wall seconds from entering the stage:

| stage | deadline |
|---|---|
| ``selecting`` (candidates' quotes asked) | ``strategy.selection_timeout_s`` |
| ``proposed`` (risk, then the entry) | that + execution ack, entry and cancel timeouts |
| ``holding`` (a position open) | the ``proposed`` deadline + ``risk.max_hold_minutes`` |

Risk still refuses a second entry on a symbol held or pending, so giving up waiting is safe.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.app.config import OptionSettings, Settings
from bot.messages import OptionChain, OptionContract, Quote, Right
from bot.trading import exchange_calendar
from bot.trading.quotes import quote_problem

FRIDAY = 4
DELTA_WINDOW_FACTOR = 3
"""Delta mode looks at this many times ``strike_window`` strikes each side of spot."""
TIE_DIGITS = 6


def _parse_expiry(text: str) -> date | None:
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None


def is_monthly(expiry: date) -> bool:
    """True for the standard monthly expiry: the third Friday of the month, or the session day
    before it when that Friday is an exchange holiday (Good Friday, Juneteenth 2026)."""
    first = expiry.replace(day=1)
    third_friday = first + timedelta(days=(FRIDAY - first.weekday()) % 7 + 14)
    if exchange_calendar.is_session_day(third_friday):
        return expiry == third_friday
    return expiry == exchange_calendar.previous_session_day(third_friday)


@functools.lru_cache(maxsize=64)
def _dated(expirations: tuple[str, ...]) -> tuple[tuple[date, str], ...]:
    """Expiries parsed and sorted once per chain (a chain is immutable; malformed dropped)."""
    return tuple(sorted((d, text) for text in expirations if (d := _parse_expiry(text))))


@functools.lru_cache(maxsize=64)
def _valid_strikes(strikes: tuple[float, ...]) -> tuple[float, ...]:
    """Positive finite strikes, sorted and de-duplicated once per chain."""
    return tuple(sorted({s for s in strikes if math.isfinite(s) and s > 0}))


def valid_strikes(strikes: tuple[float, ...]) -> tuple[float, ...]:
    """Positive finite strikes, sorted and de-duplicated (cached per chain)."""
    return _valid_strikes(strikes)


def choose_expiry(chain: OptionChain, today: date, cfg: OptionSettings) -> str | None:
    """The nearest expiry with ``min_dte <= DTE <= max_dte`` (both inclusive), or None.

    ``nearest_weekly`` skips third-Friday monthlies when a non-monthly expiry is also in the
    window, and takes the monthly when it is the only choice. Malformed dates are ignored.
    """
    window = [(d, text) for d, text in _dated(chain.expirations)
              if cfg.min_dte <= (d - today).days <= cfg.max_dte]
    if cfg.expiry_rule == "nearest_weekly":
        window = [w for w in window if not is_monthly(w[0])] or window
    return window[0][1] if window else None


def candidate_contracts(chain: OptionChain, spot: float, right: Right, today: date,
                        cfg: OptionSettings) -> tuple[OptionContract, ...]:
    """The contracts worth quoting, in strike order, for the chosen expiry.

    ``strike_window`` mode: the ``strike_window`` strikes at or below spot and as many above
    (2 * N). ``delta`` mode: three times as many each side, to find the target delta. Empty
    when no expiry qualifies or spot is not a positive number.
    """
    expiry = choose_expiry(chain, today, cfg)
    if expiry is None or not (math.isfinite(spot) and spot > 0):
        return ()
    n = cfg.strike_window * (DELTA_WINDOW_FACTOR if cfg.selection == "delta" else 1)
    strikes = _valid_strikes(chain.strikes)
    at = bisect.bisect_right(strikes, spot)
    below, above = strikes[max(0, at - n):at], strikes[at:at + n]
    return tuple(
        OptionContract(symbol=chain.symbol, expiry=expiry, strike=s, right=right,
                       multiplier=chain.multiplier, trading_class=chain.trading_class,
                       exchange=chain.exchange)
        for s in below + above
    )


@dataclass(frozen=True, slots=True)
class Selection:
    """The chosen option and its quote (both None when nothing qualified).

    ``reason`` explains the choice or summarises why nothing qualified; ``rejected`` holds
    (contract key, why) for every candidate that failed a filter.
    """

    contract: OptionContract | None
    quote: Quote | None
    reason: str
    rejected: tuple[tuple[str, str], ...]


def _spread_pct(q: Quote) -> float:
    """(ask - bid) / mid in percent; infinite when the mid is not positive."""
    mid = q.mid
    return (q.ask - q.bid) / mid * 100.0 if mid > 0 else math.inf


def _rejection(q: Quote, right: Right, now: datetime, cfg: OptionSettings) -> tuple[str, str] | None:
    """(category for the summary, detail with figures), or None when the quote qualifies."""
    inst = q.instrument
    if not isinstance(inst, OptionContract):
        return "not an option", "not an option"
    if inst.right != right:
        return "wrong right", f"right {inst.right.value}, wanted {right.value}"
    problem = quote_problem(q, now, cfg.max_quote_age_s)
    if problem:
        return problem, problem
    spread = round(_spread_pct(q), TIE_DIGITS)  # a spread of exactly the limit passes
    if spread > cfg.max_spread_pct:
        return f"spread>{cfg.max_spread_pct:g}%", f"spread {spread:.1f}% > {cfg.max_spread_pct:g}%"
    if q.volume < cfg.min_volume:
        return f"volume<{cfg.min_volume}", f"volume {q.volume:g} < {cfg.min_volume}"
    if q.ask < cfg.min_premium:
        return (f"premium<{cfg.min_premium:.2f}",
                f"ask {q.ask:.2f} < min premium {cfg.min_premium:.2f}")
    if cfg.selection == "delta" and (q.delta is None or not math.isfinite(q.delta)):
        return "no delta", "no delta"
    return None


def _rank(q: Quote, spot: float, cfg: OptionSettings) -> tuple[float, float, float, float]:
    strike = q.instrument.strike
    if cfg.selection == "delta":
        distance = abs(abs(q.delta) - cfg.target_delta)
    else:
        distance = abs(strike - spot)
    return (round(distance, TIE_DIGITS), round(_spread_pct(q), TIE_DIGITS), -q.volume, strike)


def _why_chosen(q: Quote, spot: float, cfg: OptionSettings) -> str:
    inst = q.instrument
    if cfg.selection == "delta":
        nearest = f"delta {abs(q.delta):.2f} nearest to target {cfg.target_delta:.2f}"
    else:
        nearest = f"strike {inst.strike:g} nearest to spot {spot:.2f}"
    return (f"{inst.key}: {nearest}, spread {_spread_pct(q):.1f}%, volume {q.volume:g}, "
            f"ask {q.ask:.2f}")


def _summary(categories: list[str]) -> str:
    if not categories:
        return "no candidate passed: no quotes"
    counts = Counter(categories)  # keeps first-seen order for equal counts
    ordered = sorted(counts.items(), key=lambda item: -item[1])
    return "no candidate passed: " + ", ".join(f"{n} {category}" for category, n in ordered)


def select_option(quotes: Sequence[Quote], spot: float, right: Right, now: datetime,
                  cfg: OptionSettings) -> Selection:
    """Filter the candidates' quotes and pick the best one (see the module table)."""
    if not (math.isfinite(spot) and spot > 0):
        return Selection(None, None, f"invalid spot {spot}", ())
    passed: list[Quote] = []
    rejected: list[tuple[str, str]] = []
    categories: list[str] = []
    for q in quotes:
        why = _rejection(q, right, now, cfg)
        if why is None:
            passed.append(q)
        else:
            categories.append(why[0])
            rejected.append((q.instrument.key, why[1]))
    if not passed:
        return Selection(None, None, _summary(categories), tuple(rejected))
    best = min(passed, key=lambda q: _rank(q, spot, cfg))
    return Selection(best.instrument, best, _why_chosen(best, spot, cfg), tuple(rejected))


SELECTING, PROPOSED, HOLDING = "selecting", "proposed", "holding"


def stage_timeout_s(stage: str, settings: Settings) -> float | None:
    """Wall seconds the strategy may stay in ``stage`` (see the module table); None for idle."""
    selecting = settings.strategy.selection_timeout_s
    ex = settings.execution
    proposed = selecting + ex.ack_timeout_s + ex.entry_timeout_s + ex.cancel_timeout_s
    return {SELECTING: selecting, PROPOSED: proposed,
            HOLDING: proposed + settings.risk.max_hold_minutes * 60.0}.get(stage)


def stage_overdue_s(stage: str, since: datetime, now: datetime, settings: Settings) -> float | None:
    """Seconds spent in ``stage`` since ``since`` once its deadline passed (inclusive), else None."""
    limit = stage_timeout_s(stage, settings)
    spent = (now - since).total_seconds()
    return spent if limit is not None and spent >= limit else None
