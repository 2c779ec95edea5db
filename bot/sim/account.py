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
- Margin (equity with loan value, margin requirements, available funds, buying power) and
  IB's pre-trade check follow bot.sim.margin: long options are not margin collateral.

Thread rule: every public method takes the account's lock, so the server's loop thread may
apply fills while another thread reads values.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from bot.sim.contracts import SimContract
from bot.sim.margin import Figures, Holding, figures, figures_after, order_check
from bot.sim.order_events import PositionEvent

SIGN_OF_SIDE = {"BOT": 1, "BUY": 1, "SLD": -1, "SELL": -1}


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

    def realized_of(self, con_id: int) -> float:
        """Realized P&L of one contract so far (0 when never traded)."""
        with self._lock:
            holding = self._holdings.get(con_id)
            return holding.realized if holding else 0.0

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

    def holdings(self, mark: Callable[[SimContract], float]) -> list[Holding]:
        """Every non-zero position at its mark, as the margin rules see it."""
        return [Holding(r.contract, r.position, r.market_price, multiplier_of(r.contract))
                for r in self.portfolio(mark)]

    def margin(self, mark: Callable[[SimContract], float],
               spot: Callable[[str], float | None] = lambda symbol: None) -> Figures:
        """The margin figures now (bot.sim.margin)."""
        with self._lock:
            return figures(self._cash, self.holdings(mark), spot)

    def order_check(self, contract: SimContract, side: str, qty: float, price: float,
                    commission: float, mark: Callable[[SimContract], float],
                    spot: Callable[[str], float | None] = lambda symbol: None) -> str | None:
        """IB's reason text if an order of qty at price would leave too little margin."""
        order = Holding(contract, SIGN_OF_SIDE[side] * qty, price, multiplier_of(contract))
        with self._lock:
            return order_check(self._cash, self.holdings(mark), order, commission, spot)

    def what_if(self, contract: SimContract, side: str, qty: float, price: float,
                commission: float, mark: Callable[[SimContract], float],
                spot: Callable[[str], float | None] = lambda symbol: None
                ) -> tuple[Figures, Figures]:
        """The margin figures now and once an order of qty at price has filled."""
        order = Holding(contract, SIGN_OF_SIDE[side] * qty, price, multiplier_of(contract))
        with self._lock:
            cash, holdings = self._cash, self.holdings(mark)
            return figures(cash, holdings, spot), figures_after(cash, holdings, order,
                                                                 commission, spot)

    def values(self, mark: Callable[[SimContract], float],
               spot: Callable[[str], float | None] = lambda symbol: None) -> dict[str, str]:
        """IB account value keys (all USD, formatted with 2 decimals) marked with mark();
        spot(symbol) is the underlying's price for short option margin (bot.sim.margin)."""
        with self._lock:
            rows = self.portfolio(mark)
            cash, realized = self._cash, self._realized
            f = self.margin(mark, spot)
        numbers = {
            "NetLiquidation": f.net_liquidation,
            "TotalCashValue": cash,
            "CashBalance": cash,
            "SettledCash": cash,
            "EquityWithLoanValue": f.equity_with_loan,
            "GrossPositionValue": f.gross_value,
            "StockMarketValue": f.stock_value,
            "OptionMarketValue": f.option_value,
            "InitMarginReq": f.initial_margin,
            "MaintMarginReq": f.maintenance_margin,
            "AvailableFunds": f.available_funds,
            "ExcessLiquidity": f.excess_liquidity,
            "BuyingPower": f.buying_power,
            "RealizedPnL": realized,
            "UnrealizedPnL": sum(r.unrealized_pnl for r in rows),
        }
        return {key: f"{round(value, 2) + 0.0:.2f}" for key, value in numbers.items()}  # no -0.00
