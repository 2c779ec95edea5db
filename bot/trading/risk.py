"""Daily risk limits and the kill switch as pure state transitions.

``RiskState`` is immutable; every event returns a new one, so the risk actor only swaps one
reference. Money is in dollars (account currency); percentages are percent (3.0 = 3 %).

Invariant: approved exposure (realised loss + reserved worst case of open and pending entries)
never exceeds the daily loss cap. Every entry reserves its worst case when it is approved
(``worst_case_loss``: (entry - stop) x quantity x multiplier + estimated round-trip
commissions), and the gate (``gate_entry``) approves only when the day's realised loss, the
reservations of every open and pending entry and the new entry's worst case together stay
within the cap. Realised profits never enlarge the budget. The reservation is released when
the position closes (its realised P&L replaces it) or the entry expires unfilled. It is an
estimate: a stop filled through a gap loses more than it, and the realised loss then blocks
entries by itself.

Approvals are serial (one actor, one state): an approved entry counts at once against the trade
count, the open positions and the loss budget, and as a possible loss against the losing
streak, so a burst of proposals cannot pass a limit that each one alone would respect.

Life of one entry: ``gate_entry`` approves and sizes it -> ``on_approved`` (pending, reserved)
-> either ``on_opened`` (the entry filled: it becomes an open position and counts as a trade)
or ``on_expired`` (it never filled; released) -> ``on_closed`` with the realized P&L
(released). A symbol is held at most once: a pending or open symbol denies another entry on it.

No entry is taken inside the flat-before-close window (``flat_before_close_minutes`` before the
close, 16:00 New York or 13:00 on an early-close day), after the close, or on a day without a
session, judged on the proposal's market time (never the host clock).

The trading day is the New York date; ``roll_day`` starts a new one: realized P&L, the trade
count and the loss streak restart, and today's start equity is the current equity. Open and
pending positions carry over (they still exist, and so do their reservations).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from math import isfinite

from bot.app.config import RiskSettings
from bot.trading import brackets, sizing
from bot.trading.market_hours import NY, is_session_day, minutes_to_close, session_close, trading_day

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
    reserved: tuple[tuple[str, float], ...] = ()
    """(symbol, worst-case loss in dollars), sorted by symbol; only the entries of open and
    pending symbols count (``reserved_total``)."""


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


def _commission(quantity: int, cfg: RiskSettings) -> Decimal:
    """Estimated commission of one order of ``quantity`` contracts (dollars)."""
    per_contract = Decimal(repr(cfg.commission_per_contract)) * quantity
    return max(per_contract, Decimal(repr(cfg.commission_min_per_order)))


def worst_case_loss(symbol: str, premium: float, quantity: int, multiplier: int,
                    cfg: RiskSettings) -> float:
    """Dollars lost if ``quantity`` contracts bought at ``premium`` leave at their stop.

    (entry - stop) x quantity x multiplier + the estimated commissions of the entry and the
    exit, with entry and stop exactly as ``brackets.bracket_prices`` puts them on the tick grid.
    A premium too small to leave room for a stop counts as lost whole. Zero for no contracts.
    """
    if quantity <= 0:
        return 0.0
    try:
        prices = brackets.bracket_prices(symbol, premium, cfg.take_profit_pct, cfg.stop_loss_pct)
        per_share = Decimal(repr(prices.entry)) - Decimal(repr(prices.stop))
    except ValueError:
        per_share = Decimal(repr(premium)) if isfinite(premium) and premium > 0 else Decimal(0)
    return float(per_share * quantity * multiplier + 2 * _commission(quantity, cfg))


def _reservation(state: RiskState, symbol: str) -> float:
    """The worst case reserved for ``symbol`` (0 when none)."""
    return next((amount for held, amount in state.reserved if held == symbol), 0.0)


def reserved_total(state: RiskState) -> float:
    """The worst case reserved for every open and pending entry, in dollars."""
    live = state.open_symbols | state.pending_symbols
    return sum(amount for symbol, amount in state.reserved if symbol in live)


def _reserve(state: RiskState, symbol: str, amount: float) -> RiskState:
    others = tuple(item for item in state.reserved if item[0] != symbol)
    return replace(state, reserved=tuple(sorted(others + ((symbol, amount),))))


def _release(state: RiskState, symbol: str) -> RiskState:
    return replace(state, reserved=tuple(item for item in state.reserved if item[0] != symbol))


def _realized_loss(state: RiskState) -> float:
    return max(0.0, -state.realized_pnl)


def _loss_cap_reason(state: RiskState, cfg: RiskSettings) -> str | None:
    if state.start_equity <= 0:
        return "account equity unknown"
    cap = loss_cap(state, cfg)
    if state.realized_pnl > -cap + EPSILON:
        return None
    return (f"daily loss cap reached: realized {state.realized_pnl:.2f} <= {-cap:.2f} "
            f"({cfg.max_daily_loss_pct:.1f}% of {state.start_equity:.2f})")


def _closing_window_reason(now: datetime, cfg: RiskSettings) -> str | None:
    """Why ``now`` (market time) is too late for an entry: inside the flat-before-close window
    or after the close; None before it."""
    left = minutes_to_close(now)
    if left > cfg.flat_before_close_minutes:
        return None
    day = trading_day(now)
    if not is_session_day(day) or left <= 0:
        return "market closed: no entries after the close"
    close = session_close(day).astimezone(NY)
    return (f"flat before close: {left:.1f} min to the {close:%H:%M} New York close, entries stop "
            f"{cfg.flat_before_close_minutes} min before it")


def entry_denial(state: RiskState, cfg: RiskSettings, symbol: str, *, now: datetime,
                 kill_switch: bool, paused_reason: str | None = None) -> str | None:
    """Why an entry on ``symbol`` at market time ``now`` is refused (the first failing rule), or
    None to allow (the loss budget of its size is checked by ``gate_entry``).

    Pending entries count against the trade and position limits, and open and pending ones as
    possible losses against the losing streak, so two quick signals cannot both pass while
    the first is still working.
    """
    if kill_switch:
        return "kill switch engaged"
    if paused_reason:
        return paused_reason
    if symbol in state.open_symbols or symbol in state.pending_symbols:
        return f"already holding {symbol}"
    closing = _closing_window_reason(now, cfg)
    if closing:
        return closing
    cap_reason = _loss_cap_reason(state, cfg)
    if cap_reason:
        return cap_reason
    in_flight = state.open_positions + state.pending
    limits = (
        ("trades per day", state.trades + state.pending, cfg.max_trades_per_day, ""),
        ("open positions", in_flight, cfg.max_open_positions, ""),
        ("consecutive losses", state.consecutive_losses + in_flight, cfg.max_consecutive_losses,
         f" ({state.consecutive_losses} lost + {in_flight} open or pending that may lose)"
         if in_flight else ""),
    )
    for name, used, limit, detail in limits:
        if used >= limit:
            return f"{name}: {used} of {limit}{detail}"
    return None


def budget_denial(state: RiskState, cfg: RiskSettings, worst_case: float) -> str | None:
    """Why an entry whose worst case is ``worst_case`` dollars would break the daily loss cap:
    realised loss + reserved + this entry > cap. None when it fits."""
    cap = loss_cap(state, cfg)
    loss, held = _realized_loss(state), reserved_total(state)
    if loss + held + worst_case <= cap + EPSILON:
        return None
    return (f"daily loss cap: realized loss {loss:.2f} + reserved {held:.2f} + this entry's worst "
            f"case {worst_case:.2f} = {loss + held + worst_case:.2f} > cap {cap:.2f} "
            f"({cfg.max_daily_loss_pct:.1f}% of {state.start_equity:.2f})")


@dataclass(frozen=True, slots=True)
class EntryGate:
    """The gate's answer to one proposal: contracts to buy (0 = denied), the worst case to
    reserve (dollars) and the reason (the denial, or the sizing figures)."""

    quantity: int
    worst_case: float
    reason: str


def gate_entry(state: RiskState, cfg: RiskSettings, symbol: str, premium: float, multiplier: int,
               *, now: datetime, kill_switch: bool, paused_reason: str | None = None) -> EntryGate:
    """Approve and size an entry, or deny it: the rules of ``entry_denial``, then the size
    from the per-trade budget, then that size's worst case against the daily loss budget."""
    denial = entry_denial(state, cfg, symbol, now=now, kill_switch=kill_switch,
                          paused_reason=paused_reason)
    if denial:
        return EntryGate(0, 0.0, denial)
    size = sizing.size_entry(state.equity, cfg.max_risk_pct_per_trade, premium, cfg.stop_loss_pct,
                             cfg.max_contracts, multiplier)
    if size.quantity <= 0:
        return EntryGate(0, 0.0, size.reason)
    worst = worst_case_loss(symbol, premium, size.quantity, multiplier, cfg)
    over = budget_denial(state, cfg, worst)
    if over:
        return EntryGate(0, worst, over)
    return EntryGate(size.quantity, worst, f"{size.reason}, worst case {worst:.2f}")


def on_approved(state: RiskState, symbol: str, worst_case: float) -> RiskState:
    """An entry on ``symbol`` was approved and is being sent: pending, ``worst_case`` reserved."""
    state = _reserve(state, symbol, worst_case)
    return replace(state, pending=state.pending + 1,
                   pending_symbols=state.pending_symbols | {symbol})


def on_opened(state: RiskState, symbol: str, worst_case: float) -> RiskState:
    """The entry on ``symbol`` filled: pending becomes open, and it counts as a trade.

    The reservation stays the one already held (the whole approved size may still fill) unless
    ``worst_case`` (from the fill) is larger. A fill that was not pending (e.g. a position
    adopted after a restart) only adds the position, the trade and its reservation. Opening a
    symbol already open changes nothing (a second partial).
    """
    if symbol in state.open_symbols:
        return state
    was_pending = symbol in state.pending_symbols
    state = _reserve(state, symbol, max(worst_case, _reservation(state, symbol)))
    return replace(
        state,
        pending=state.pending - 1 if was_pending else state.pending,
        pending_symbols=state.pending_symbols - {symbol},
        open_positions=state.open_positions + 1,
        open_symbols=state.open_symbols | {symbol},
        trades=state.trades + 1,
    )


def on_expired(state: RiskState, symbol: str) -> RiskState:
    """The entry on ``symbol`` never filled: released; unchanged if it was not pending."""
    if symbol not in state.pending_symbols:
        return state
    return replace(_release(state, symbol), pending=state.pending - 1,
                   pending_symbols=state.pending_symbols - {symbol})


def on_closed(state: RiskState, symbol: str, pnl: float) -> RiskState:
    """The position on ``symbol`` is flat with ``pnl`` dollars realized (after commissions):
    the realized figure replaces its reservation.

    A loss extends the losing streak; a win or a scratch (0) ends it.
    """
    was_open = symbol in state.open_symbols
    return replace(
        _release(state, symbol),
        open_positions=state.open_positions - 1 if was_open else state.open_positions,
        open_symbols=state.open_symbols - {symbol},
        realized_pnl=state.realized_pnl + pnl,
        equity=state.equity + pnl,
        consecutive_losses=state.consecutive_losses + 1 if pnl < 0 else 0,
    )


def on_pnl_corrected(state: RiskState, amount: float) -> RiskState:
    """A closed position's realized P&L changed by ``amount`` (a late commission): the day's
    realized P&L and equity follow. The losing streak stays as the close decided it."""
    return replace(state, realized_pnl=state.realized_pnl + amount, equity=state.equity + amount)


def budget_used_pct(state: RiskState, cfg: RiskSettings) -> float:
    """Share of today's loss cap used by realized losses, in percent (0 with a profit); the
    reservations are not in it (``reserved_total``)."""
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


def on_recovered_trade(state: RiskState, symbol: str, worst_case: float, *,
                       pending: bool) -> RiskState:
    """The journal recovered a trade of ``symbol`` after a restart or reconnect.

    ``pending``: its entry was sent and has not filled yet, so it is pending again (until it
    fills or expires). Otherwise its worst case is noted, and counts once the position is known
    held (``on_recovered``); a larger reservation already held for the symbol is kept.
    """
    if pending:
        return on_approved(state, symbol, worst_case)
    return _reserve(state, symbol, max(worst_case, _reservation(state, symbol)))


def on_recovered(state: RiskState, symbol: str) -> RiskState:
    """A position held before the restart is managed again: open, but not a new trade. Its
    reservation is the one ``on_recovered_trade`` noted."""
    return replace(state, open_symbols=state.open_symbols | {symbol},
                   open_positions=state.open_positions + (symbol not in state.open_symbols))
