"""The simulated account: cash, positions, realized and unrealized P&L, net liquidation.

IB's conventions, which every fill keeps consistent:
- ``avg_cost`` is per share for stocks and per contract for options (price * multiplier), and
  includes commissions: a buy adds its commission to the cost, a sell (opening a short)
  subtracts it from the proceeds.
- Realized P&L of a closing fill = closed qty * (close unit value - avg_cost), where the close
  unit value is price * multiplier net of this fill's commission. Both commissions are
  therefore inside realized P&L, as in IB's commissionReport.realizedPNL.
- Unrealized P&L = position * mark * multiplier - position * avg_cost.
- Hence, at every moment: starting cash + realized + unrealized == net liquidation, where net
  liquidation = cash + sum(position * mark * multiplier). Commissions are already inside the
  first two terms (opening ones in avg_cost, closing ones in realized).

Thread rule: every public method takes the account's lock, so the server's loop thread may
apply fills while another thread reads values.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from bot.sim.contracts import SimContract
from bot.sim.order_events import PositionEvent

SIGN_OF_SIDE = {"BOT": 1, "BUY": 1, "SLD": -1, "SELL": -1}
INITIAL_MARGIN_STOCK = 0.25
"""Fraction of long or short stock value held as margin (a simple Reg T-like model)."""
BUYING_POWER_LEVERAGE = 4.0
"""Buying power = available funds * this (IB's intraday leverage of a margin account)."""


def multiplier_of(contract: SimContract) -> float:
    """The contract multiplier as a number: 100 for options, 1 when empty."""
    return float(contract.multiplier or 1)


@dataclass(slots=True)
class _Holding:
    """One position (mutable, private to the account)."""

    contract: SimContract
    position: float = 0.0
    avg_cost: float = 0.0
    realized: float = 0.0


@dataclass(frozen=True, slots=True)
class PortfolioRow:
    """One ``updatePortfolio`` row: a position marked at market."""

    account: str
    contract: SimContract
    position: float
    market_price: float
    market_value: float
    avg_cost: float
    unrealized_pnl: float
    realized_pnl: float


class Account:
    """Cash, positions (avg cost incl. commissions, as IB), realized and unrealized P&L, net
    liquidation; consistent with every fill."""

    def __init__(self, account_id: str = "DU1234567", cash: float = 100_000.0):
        self.account_id = account_id
        self.starting_cash = cash
        self._cash = cash
        self._realized = 0.0
        self._commissions = 0.0
        self._holdings: dict[int, _Holding] = {}
        self._lock = threading.RLock()

    @property
    def cash(self) -> float:
        """Cash in USD after every fill and commission."""
        return self._cash

    @property
    def realized_pnl(self) -> float:
        """Realized P&L of the run, net of commissions on the closed quantity."""
        return self._realized

    @property
    def commissions(self) -> float:
        """All commissions paid."""
        return self._commissions

    def apply_fill(
        self,
        contract: SimContract,
        side: str,
        qty: float,
        price: float,
        commission: float,
        multiplier: float,
    ) -> float:
        """Book one execution; return its realized P&L (0 for a purely opening fill).

        A fill larger than the opposite position closes it and opens the rest the other way;
        its commission is split pro rata between the two parts.
        """
        sign = SIGN_OF_SIDE[side]
        unit = price * multiplier + sign * commission / qty
        with self._lock:
            holding = self._holdings.setdefault(contract.con_id, _Holding(contract))
            old = holding.position
            closing = min(qty, abs(old)) if old * sign < 0 else 0.0
            realized = closing * (holding.avg_cost - unit) * sign
            opening = qty - closing
            after_close = old + sign * closing
            holding.position = old + sign * qty
            if holding.position == 0:
                holding.avg_cost = 0.0
            elif opening:
                cost = abs(after_close) * holding.avg_cost + opening * unit
                holding.avg_cost = cost / abs(holding.position)
            holding.realized += realized
            self._cash -= sign * qty * unit
            self._realized += realized
            self._commissions += commission
            return realized

    def position(self, con_id: int) -> float:
        """Signed position in a contract (0 when none)."""
        with self._lock:
            holding = self._holdings.get(con_id)
            return holding.position if holding else 0.0

    def position_event(self, contract: SimContract) -> PositionEvent:
        """The current position in one contract as a PositionEvent (position 0 when flat)."""
        with self._lock:
            holding = self._holdings.get(contract.con_id) or _Holding(contract)
            return PositionEvent(
                self.account_id, contract, holding.position, holding.avg_cost
            )

    def positions(self) -> list[PositionEvent]:
        """Every non-zero position, in the order the contracts were first traded."""
        with self._lock:
            return [
                PositionEvent(self.account_id, h.contract, h.position, h.avg_cost)
                for h in self._holdings.values()
                if h.position
            ]

    def portfolio(self, mark: Callable[[SimContract], float]) -> list[PortfolioRow]:
        """Every non-zero position marked with mark(contract) (price per share or option).

        A contract without a usable mark (<= 0 or NaN) is marked at its own avg cost, so it
        shows no unrealized P&L rather than a fake loss.
        """
        with self._lock:
            return [self._row(h, mark) for h in self._holdings.values() if h.position]

    def _row(self, holding: _Holding, mark: Callable[[SimContract], float]) -> PortfolioRow:
        mult = multiplier_of(holding.contract)
        price = mark(holding.contract)
        if not (price == price and price > 0):
            price = holding.avg_cost / mult
        value = holding.position * price * mult
        return PortfolioRow(
            account=self.account_id,
            contract=holding.contract,
            position=holding.position,
            market_price=price,
            market_value=value,
            avg_cost=holding.avg_cost,
            unrealized_pnl=value - holding.position * holding.avg_cost,
            realized_pnl=holding.realized,
        )

    def values(self, mark: Callable[[SimContract], float]) -> dict[str, str]:
        """IB account value keys (all USD, formatted with 2 decimals) marked with mark().

        Margin is a simple model: 25% of gross stock value plus the full value of short
        options; maintenance margin equals initial margin.
        """
        with self._lock:
            rows = self.portfolio(mark)
            cash, realized = self._cash, self._realized
        stock = sum(r.market_value for r in rows if r.contract.sec_type != "OPT")
        option = sum(r.market_value for r in rows if r.contract.sec_type == "OPT")
        gross = sum(abs(r.market_value) for r in rows)
        short_options = sum(-r.market_value for r in rows if r.contract.sec_type == "OPT"
                            and r.position < 0)
        margin = INITIAL_MARGIN_STOCK * sum(
            abs(r.market_value) for r in rows if r.contract.sec_type != "OPT"
        ) + short_options
        net_liq = cash + stock + option
        available = net_liq - margin
        numbers = {
            "NetLiquidation": net_liq,
            "TotalCashValue": cash,
            "CashBalance": cash,
            "SettledCash": cash,
            "EquityWithLoanValue": net_liq,
            "GrossPositionValue": gross,
            "StockMarketValue": stock,
            "OptionMarketValue": option,
            "InitMarginReq": margin,
            "MaintMarginReq": margin,
            "AvailableFunds": available,
            "ExcessLiquidity": available,
            "BuyingPower": available * BUYING_POWER_LEVERAGE,
            "RealizedPnL": realized,
            "UnrealizedPnL": sum(r.unrealized_pnl for r in rows),
        }
        return {key: f"{round(value, 2) + 0.0:.2f}" for key, value in numbers.items()}  # no -0.00
