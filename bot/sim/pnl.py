"""Daily, unrealized and realized P&L as reqPnL / reqPnLSingle report them. Pure.

IB's figures: unrealized P&L is the open positions' (since they were opened); realized P&L and
daily P&L are the exchange day's. Here the day's baseline is taken at the first look on each
exchange date (``DayBaseline.roll``): per contract, its unrealized plus realized P&L so far,
and the account's total of both. Then, for the account and for each contract:

- daily = (unrealized + realized now) - (the same at the baseline), so a position held
  overnight counts its move since the day began and one opened today all of its P&L;
- realized = realized now - realized at the baseline.

``PnLSub`` is one subscription: it pushes its message when the figures changed, at most once
per ``INTERVAL_S`` wall seconds (IB updates P&L about once a second), until cancelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

INTERVAL_S = 1.0
"""Wall seconds between two updates of one P&L subscription."""


@dataclass(frozen=True, slots=True)
class Figures:
    """One P&L answer; position and value only for a single contract."""

    daily: float
    unrealized: float
    realized: float
    position: float = 0.0
    value: float = 0.0


@dataclass(slots=True)
class DayBaseline:
    """What the P&L stood at when the current exchange day was first looked at."""

    day: date | None = None
    total: float = 0.0  # unrealized + realized of the whole account
    realized: float = 0.0
    per_contract: dict[int, tuple[float, float]] = field(default_factory=dict)  # (unreal, real)

    def roll(self, today: date, rows: Sequence, realized_total: float) -> None:
        """Take a new baseline from the portfolio ``rows`` (``PortfolioRow``) on a new day."""
        if today == self.day:
            return
        self.day = today
        self.realized = realized_total
        self.total = sum(r.unrealized_pnl for r in rows) + realized_total
        self.per_contract = {r.contract.con_id: (r.unrealized_pnl, r.realized_pnl) for r in rows}

    def account(self, rows: Sequence, realized_total: float) -> Figures:
        """The account's figures now."""
        unrealized = sum(r.unrealized_pnl for r in rows)
        return Figures(daily=unrealized + realized_total - self.total,
                       unrealized=unrealized, realized=realized_total - self.realized)

    def single(self, con_id: int, rows: Sequence, realized_of: float) -> Figures:
        """One contract's figures now; ``realized_of`` is its realized P&L so far (a closed
        position has no portfolio row but keeps what it realized today)."""
        row = next((r for r in rows if r.contract.con_id == con_id), None)
        unreal0, real0 = self.per_contract.get(con_id, (0.0, 0.0))
        unrealized = row.unrealized_pnl if row else 0.0
        return Figures(
            daily=unrealized + realized_of - unreal0 - real0,
            unrealized=unrealized,
            realized=realized_of - real0,
            position=row.position if row else 0.0,
            value=row.market_value if row else 0.0,
        )


@dataclass(slots=True)
class PnLSub:
    """A reqPnL (con_id None) or reqPnLSingle subscription: the last message and when."""

    req_id: int
    con_id: int | None = None
    last: list | None = None
    sent_at: float = float("-inf")

    def due(self, wall_t: float) -> bool:
        return wall_t - self.sent_at >= INTERVAL_S

    def take(self, msg: list, wall_t: float) -> list[list]:
        """[msg] when it differs from the last one sent (then remembered), else []."""
        if msg == self.last:
            return []
        self.last, self.sent_at = msg, wall_t
        return [msg]
