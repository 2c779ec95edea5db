"""Daily risk limits and the kill switch as pure state transitions.

``RiskState`` is immutable; every event returns a new one, so the risk actor only swaps one
reference. Money is in dollars (account currency); percentages are percent (3.0 = 3 %).

Life of one entry: ``entry_denial`` says None -> ``on_approved`` (pending) -> either
``on_opened`` (the entry filled: it becomes an open position and counts as a trade) or
``on_expired`` (it never filled) -> ``on_closed`` with the realized P&L. A symbol is held at
most once: a pending or open symbol denies another entry on it.

The trading day is the New York date; ``roll_day`` starts a new one: realized P&L, the trade
count and the loss streak restart, and today's start equity is the current equity. Open and
pending positions carry over (they still exist).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from math import isfinite

from bot.app.config import RiskSettings
from bot.trading.market_hours import trading_day

EPSILON = 1e-9  # dollars: float noise never decides whether the loss cap is reached


@dataclass(frozen=True, slots=True)
class RiskState:
    """The figures the entry gate decides on (dollars, counts, symbols)."""

    day: date
    """New York trading day the counters belong to."""
    start_equity: float
    """Equity at the start of ``day`` (the first known figure); the loss cap is a share of it."""
    equity: float
    realized_pnl: float
    """Realized P&L of ``day``, after commissions."""
    trades: int
    """Entries that filled on ``day``."""
    pending: int
    """Approved entries not yet filled or expired."""
    open_positions: int
    consecutive_losses: int
    open_symbols: frozenset[str] = frozenset()
    pending_symbols: frozenset[str] = frozenset()


def initial_state(ts: datetime, equity: float) -> RiskState:
    """A fresh state for the trading day of ``ts`` (equity 0 means "not known yet")."""
    return RiskState(day=trading_day(ts), start_equity=equity, equity=equity, realized_pnl=0.0,
                     trades=0, pending=0, open_positions=0, consecutive_losses=0)


def roll_day(state: RiskState, ts: datetime) -> RiskState:
    """Start a new trading day when ``ts`` falls on a later New York date; else unchanged."""
    day = trading_day(ts)
    if day <= state.day:
        return state
    return replace(state, day=day, start_equity=state.equity, realized_pnl=0.0, trades=0,
                   consecutive_losses=0)


def with_equity(state: RiskState, equity: float) -> RiskState:
    """The account's latest net liquidation value.

    A value that is not a positive number (a glitch) is ignored. The first real figure of a day
    whose start equity is unknown (0) also becomes the start equity.
    """
    if not (isfinite(equity) and equity > 0):
        return state
    start = state.start_equity if state.start_equity > 0 else equity
    return replace(state, equity=equity, start_equity=start)


def loss_cap(state: RiskState, cfg: RiskSettings) -> float:
    """Today's loss cap in dollars (positive)."""
    return state.start_equity * cfg.max_daily_loss_pct / 100.0


def _loss_cap_reason(state: RiskState, cfg: RiskSettings) -> str | None:
    if state.start_equity <= 0:
        return "account equity unknown"
    cap = loss_cap(state, cfg)
    if state.realized_pnl > -cap + EPSILON:
        return None
    return (f"daily loss cap reached: realized {state.realized_pnl:.2f} <= {-cap:.2f} "
            f"({cfg.max_daily_loss_pct:.1f}% of {state.start_equity:.2f})")


def entry_denial(state: RiskState, cfg: RiskSettings, symbol: str, *, kill_switch: bool,
                 paused_reason: str | None = None) -> str | None:
    """Why an entry on ``symbol`` is refused now (the first failing rule), or None to allow.

    Pending entries count against the trade and position limits, so two quick signals
    cannot both pass while the first is still working.
    """
    if kill_switch:
        return "kill switch engaged"
    if paused_reason:
        return paused_reason
    if symbol in state.open_symbols or symbol in state.pending_symbols:
        return f"already holding {symbol}"
    cap_reason = _loss_cap_reason(state, cfg)
    if cap_reason:
        return cap_reason
    limits = (
        ("trades per day", state.trades + state.pending, cfg.max_trades_per_day),
        ("open positions", state.open_positions + state.pending, cfg.max_open_positions),
        ("consecutive losses", state.consecutive_losses, cfg.max_consecutive_losses),
    )
    for name, used, limit in limits:
        if used >= limit:
            return f"{name}: {used} of {limit}"
    return None


def on_approved(state: RiskState, symbol: str) -> RiskState:
    """An entry on ``symbol`` was approved and is being sent."""
    return replace(state, pending=state.pending + 1,
                   pending_symbols=state.pending_symbols | {symbol})


def on_opened(state: RiskState, symbol: str) -> RiskState:
    """The entry on ``symbol`` filled: pending becomes open, and it counts as a trade.

    A fill that was not pending (e.g. a position adopted after a restart) only adds the
    position and the trade. Opening a symbol already open changes nothing (a second partial).
    """
    if symbol in state.open_symbols:
        return state
    was_pending = symbol in state.pending_symbols
    return replace(
        state,
        pending=state.pending - 1 if was_pending else state.pending,
        pending_symbols=state.pending_symbols - {symbol},
        open_positions=state.open_positions + 1,
        open_symbols=state.open_symbols | {symbol},
        trades=state.trades + 1,
    )


def on_expired(state: RiskState, symbol: str) -> RiskState:
    """The entry on ``symbol`` never filled; unchanged if it was not pending."""
    if symbol not in state.pending_symbols:
        return state
    return replace(state, pending=state.pending - 1,
                   pending_symbols=state.pending_symbols - {symbol})


def on_closed(state: RiskState, symbol: str, pnl: float) -> RiskState:
    """The position on ``symbol`` is flat with ``pnl`` dollars realized (after commissions).

    A loss extends the losing streak; a win or a scratch (0) ends it.
    """
    was_open = symbol in state.open_symbols
    return replace(
        state,
        open_positions=state.open_positions - 1 if was_open else state.open_positions,
        open_symbols=state.open_symbols - {symbol},
        realized_pnl=state.realized_pnl + pnl,
        equity=state.equity + pnl,
        consecutive_losses=state.consecutive_losses + 1 if pnl < 0 else 0,
    )


def budget_used_pct(state: RiskState, cfg: RiskSettings) -> float:
    """Share of today's loss cap used by realized losses, in percent (0 with a profit)."""
    cap = loss_cap(state, cfg)
    if cap <= 0:
        return 0.0
    return max(0.0, -state.realized_pnl) / cap * 100.0


def restore(state: RiskState, day: date, start_equity: float, realized_pnl: float, trades: int,
            consecutive_losses: int) -> RiskState:
    """Today's counters as saved before a restart, so the daily limits still hold.

    Ignored when ``day`` is older than the state's day (the saved day is over: it resets).
    The saved start equity wins over the first figure seen after the restart, which already
    carries the day's losses."""
    if day < state.day:
        return state
    start = start_equity if start_equity > 0 else state.start_equity
    return replace(state, day=day, start_equity=start, realized_pnl=realized_pnl, trades=trades,
                   consecutive_losses=consecutive_losses)


def on_recovered(state: RiskState, symbol: str) -> RiskState:
    """A position held before the restart is managed again: open, but not a new trade."""
    return replace(state, open_symbols=state.open_symbols | {symbol},
                   open_positions=state.open_positions + (symbol not in state.open_symbols))
