"""The figures of a backtest report, as pure functions of the fills the simulated gateway made.

No clock, no I/O: the backtest records every execution (``Fill``: price, commission and the
option's mid when it filled) and the bot's own exit reasons, and everything here derives from
those. Money is in dollars; a trade's P&L is net of its commissions.

- A trade is one intent (the ``<intent>`` of our ``orderRef``): its buys and sells.
- Equity moves when a trade closes (realised P&L), at the exit's time.
- Drawdown is the fall from the highest equity so far; max drawdown the deepest one (dollars,
  and percent of that peak).
- Sharpe is annualised from daily returns (P&L of the exchange day / equity at its start,
  every backtest day counted, days without trades as 0): mean / sample std x sqrt(252); None
  with fewer than two days or no variation.
- Slippage vs mid is what each fill paid beyond the option's mid when it filled (a buy above
  the mid, a sell below it), in dollars: positive is a cost.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

NY = ZoneInfo("America/New_York")
TRADING_DAYS_PER_YEAR = 252


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution as the simulated gateway made it."""

    time: datetime
    intent_id: str
    role: str  # entry, tp, sl, exit ... (our orderRef's role)
    symbol: str
    contract: str  # the option's local symbol
    side: str  # BOT or SLD
    quantity: float
    price: float
    commission: float
    mid: float
    source: str  # "recorded" or "modelled": where the option's quote came from
    multiplier: float = 100.0


@dataclass(frozen=True, slots=True)
class Trade:
    """One intent's round trip; ``exit_time`` is None while still open at the end."""

    symbol: str
    contract: str
    entry_time: datetime
    exit_time: datetime | None
    quantity: float
    entry_price: float
    exit_price: float | None
    gross_pnl: float
    fees: float
    slippage: float
    reason: str
    sources: str  # recorded, modelled or mixed

    @property
    def pnl(self) -> float:
        return self.gross_pnl - self.fees

    @property
    def closed(self) -> bool:
        return self.exit_time is not None


def _avg(fills: Sequence[Fill]) -> float | None:
    qty = sum(f.quantity for f in fills)
    return sum(f.price * f.quantity for f in fills) / qty if qty else None


def fill_slippage(fill: Fill) -> float:
    """Dollars the fill paid beyond the mid (a buy above it, a sell below it)."""
    sign = 1.0 if fill.side == "BOT" else -1.0
    return sign * (fill.price - fill.mid) * fill.quantity * fill.multiplier


def trades_from(fills: Iterable[Fill], reasons: dict[str, str] | None = None) -> list[Trade]:
    """Trades by intent, ordered by entry time then symbol; ``reasons`` are the bot's exit
    reasons by intent (else the closing fill's role)."""
    reasons = reasons or {}
    by_intent: dict[str, list[Fill]] = {}
    for f in sorted(fills, key=lambda f: f.time):
        by_intent.setdefault(f.intent_id, []).append(f)
    trades = []
    for intent, group in by_intent.items():
        buys = [f for f in group if f.side == "BOT"]
        sells = [f for f in group if f.side == "SLD"]
        bought, sold = sum(f.quantity for f in buys), sum(f.quantity for f in sells)
        closed = bool(sells) and abs(bought - sold) < 1e-9
        gross = sum((f.price if f.side == "SLD" else -f.price) * f.quantity * f.multiplier
                    for f in group) if closed else 0.0
        sources = {f.source for f in group}
        first = group[0]
        trades.append(Trade(
            symbol=first.symbol, contract=first.contract, entry_time=first.time,
            exit_time=sells[-1].time if closed else None, quantity=bought,
            entry_price=_avg(buys) or 0.0, exit_price=_avg(sells),
            gross_pnl=round(gross, 6), fees=round(sum(f.commission for f in group), 6),
            slippage=round(sum(fill_slippage(f) for f in group), 6),
            reason=reasons.get(intent) or (sells[-1].role if closed else "open at end"),
            sources=sources.pop() if len(sources) == 1 else "mixed"))
    return sorted(trades, key=lambda t: (t.entry_time, t.symbol))


def equity_curve(start_equity: float, trades: Sequence[Trade]) -> list[tuple[datetime, float]]:
    """Equity after each closed trade, in exit order (realised P&L only)."""
    equity, curve = start_equity, []
    for t in sorted((t for t in trades if t.closed), key=lambda t: t.exit_time):
        equity += t.pnl
        curve.append((t.exit_time, round(equity, 6)))
    return curve


def drawdown_curve(start_equity: float, curve: Sequence[tuple[datetime, float]]
                   ) -> list[tuple[datetime, float]]:
    """The fall from the highest equity so far (dollars, <= 0) at each point of the curve."""
    peak, out = start_equity, []
    for t, equity in curve:
        peak = max(peak, equity)
        out.append((t, round(equity - peak, 6)))
    return out


def max_drawdown(start_equity: float, curve: Sequence[tuple[datetime, float]]) -> tuple[float, float]:
    """(deepest fall in dollars as a positive number, that fall in % of its peak)."""
    peak, worst, worst_pct = start_equity, 0.0, 0.0
    for _, equity in curve:
        peak = max(peak, equity)
        if peak - equity > worst:
            worst, worst_pct = peak - equity, (peak - equity) / peak * 100 if peak > 0 else 0.0
    return round(worst, 6), round(worst_pct, 6)


def exchange_day(t: datetime) -> date:
    return t.astimezone(NY).date()


def pnl_by(trades: Sequence[Trade], key: Callable[[Trade], str]) -> dict[str, dict[str, float]]:
    """Per key: closed trades, wins, net P&L, fees; keys sorted."""
    out: dict[str, dict[str, float]] = {}
    for t in (t for t in trades if t.closed):
        row = out.setdefault(key(t), {"trades": 0, "wins": 0, "pnl": 0.0, "fees": 0.0})
        row["trades"] += 1
        row["wins"] += t.pnl > 0
        row["pnl"] = round(row["pnl"] + t.pnl, 6)
        row["fees"] = round(row["fees"] + t.fees, 6)
    return dict(sorted(out.items()))


def daily_pnl(trades: Sequence[Trade], days: Sequence[date]) -> dict[date, float]:
    """Net P&L per exchange day (by exit day), every one of ``days`` listed."""
    out = {d: 0.0 for d in days}
    for t in (t for t in trades if t.closed):
        d = exchange_day(t.exit_time)
        out[d] = round(out.get(d, 0.0) + t.pnl, 6)
    return dict(sorted(out.items()))


def sharpe(start_equity: float, daily: dict[date, float]) -> float | None:
    """Annualised Sharpe of the daily returns (no risk-free rate); None when undefined."""
    equity, returns = start_equity, []
    for pnl in daily.values():
        returns.append(pnl / equity if equity > 0 else 0.0)
        equity += pnl
    if len(returns) < 2:
        return None
    mean = sum(returns) / len(returns)
    var = sum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
    if var <= 0:
        return None
    return round(mean / math.sqrt(var) * math.sqrt(TRADING_DAYS_PER_YEAR), 6)


def summary(start_equity: float, trades: Sequence[Trade], fills: Sequence[Fill],
            days: Sequence[date]) -> dict[str, float | int | None]:
    """The headline figures of a report."""
    closed = [t for t in trades if t.closed]
    wins = [t for t in closed if t.pnl > 0]
    net = round(sum(t.pnl for t in closed), 6)
    curve = equity_curve(start_equity, trades)
    dd, dd_pct = max_drawdown(start_equity, curve)
    sources = [f.source for f in fills]
    return {
        "start_equity": round(start_equity, 2),
        "end_equity": round(start_equity + net, 2),
        "net_pnl": round(net, 2),
        "trades": len(closed),
        "open_at_end": len(trades) - len(closed),
        "win_rate_pct": round(len(wins) / len(closed) * 100, 2) if closed else None,
        "expectancy": round(net / len(closed), 2) if closed else None,
        "max_drawdown": round(dd, 2),
        "max_drawdown_pct": round(dd_pct, 4),
        "sharpe": sharpe(start_equity, daily_pnl(trades, days)),
        "fees": round(sum(f.commission for f in fills), 2),
        "slippage_vs_mid": round(sum(fill_slippage(f) for f in fills), 2),
        "fills": len(fills),
        "fills_recorded_prices": sources.count("recorded"),
        "fills_modelled_prices": sources.count("modelled"),
    }
