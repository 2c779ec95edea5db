"""Margin of the simulated (Reg T margin) account and IB's pre-trade check. Pure functions.

Figures, from cash and the positions marked at market (``PortfolioRow``):
- NetLiquidation = cash + stock value + option value (long options count here only).
- EquityWithLoanValue = cash + stock value: US options are no margin collateral, so a long
  option adds nothing to it (its premium left the cash), and a short option's liability is
  covered by its margin requirement instead.
- Initial margin: 50% of the gross stock value (Reg T) plus each short option's requirement;
  maintenance margin: 25% of the gross stock value plus the same option requirement. A short
  option requires its market value plus max(20% of the underlying - the out-of-the-money
  amount, 10% of the underlying for a call or of the strike for a put), per share, times the
  multiplier; without an underlying price, its market value alone.
- AvailableFunds = EquityWithLoanValue - initial margin; ExcessLiquidity =
  EquityWithLoanValue - maintenance margin; BuyingPower = 4 x AvailableFunds (IB's intraday
  leverage of a margin account).

Pre-trade check (``order_check``): IB refuses an order whose resulting position would leave
the equity with loan value below the initial margin, with error 201 "Order rejected -
reason:YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED POSITION YOUR EQUITY WITH
LOAN VALUE [x USD] MUST EXCEED THE INITIAL MARGIN [y USD]". So a long option costs its full
premium out of AvailableFunds. An order that only reduces a position is never refused.

What-if (``figures_after``): the same figures once an order has filled, which is what IB's
what-if order state reports (before, change, after). A long option adds no margin
requirement; its premium and commission leave the equity with loan value. A stock order
requires Reg T's 50% of its value; a short option the requirement above.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.sim.contracts import SimContract

INITIAL_MARGIN_STOCK = 0.50
"""Reg T initial margin: fraction of the gross stock value."""
MAINT_MARGIN_STOCK = 0.25
"""Maintenance margin: fraction of the gross stock value."""
BUYING_POWER_LEVERAGE = 4.0
"""Buying power = available funds x this (IB's intraday leverage of a margin account)."""
SHORT_OPTION_RATE, SHORT_OPTION_FLOOR = 0.20, 0.10
"""A short option's requirement beyond its value: 20% of the underlying less the
out-of-the-money amount, at least 10% of the underlying (call) or of the strike (put)."""


@dataclass(frozen=True, slots=True)
class Holding:
    """A position as the margin rules see it: contract, signed quantity, price per unit."""

    contract: SimContract
    position: float
    price: float
    multiplier: float

    @property
    def value(self) -> float:
        return self.position * self.price * self.multiplier


@dataclass(frozen=True, slots=True)
class Figures:
    """The account's margin figures in USD (see the module docstring)."""

    net_liquidation: float
    equity_with_loan: float
    stock_value: float
    option_value: float
    gross_value: float
    initial_margin: float
    maintenance_margin: float

    @property
    def available_funds(self) -> float:
        return self.equity_with_loan - self.initial_margin

    @property
    def excess_liquidity(self) -> float:
        return self.equity_with_loan - self.maintenance_margin

    @property
    def buying_power(self) -> float:
        return self.available_funds * BUYING_POWER_LEVERAGE


def short_option_requirement(h: Holding, spot: float | None) -> float:
    """The margin a short option position requires (0 for a long one)."""
    if h.position >= 0:
        return 0.0
    contracts = -h.position
    value = contracts * h.price * h.multiplier
    if spot is None or not spot > 0:
        return value
    c = h.contract
    out_of_money = max(c.strike - spot, 0.0) if c.right == "C" else max(spot - c.strike, 0.0)
    floor = SHORT_OPTION_FLOOR * (spot if c.right == "C" else c.strike)
    extra = max(SHORT_OPTION_RATE * spot - out_of_money, floor)
    return value + contracts * extra * h.multiplier


def figures(cash: float, holdings: Sequence[Holding],
            spot: Callable[[str], float | None]) -> Figures:
    """The margin figures of cash plus these positions."""
    stocks = [h for h in holdings if h.contract.sec_type != "OPT"]
    options = [h for h in holdings if h.contract.sec_type == "OPT"]
    stock = sum(h.value for h in stocks)
    gross_stock = sum(abs(h.value) for h in stocks)
    option_margin = sum(short_option_requirement(h, spot(h.contract.symbol)) for h in options)
    return Figures(
        net_liquidation=cash + stock + sum(h.value for h in options),
        equity_with_loan=cash + stock,
        stock_value=stock,
        option_value=sum(h.value for h in options),
        gross_value=sum(abs(h.value) for h in holdings),
        initial_margin=INITIAL_MARGIN_STOCK * gross_stock + option_margin,
        maintenance_margin=MAINT_MARGIN_STOCK * gross_stock + option_margin,
    )


def figures_after(cash: float, holdings: Sequence[Holding], order: Holding, commission: float,
                  spot: Callable[[str], float | None]) -> Figures:
    """The margin figures once the order (a Holding of the signed quantity it adds, at its
    price) has filled and its commission is paid; the position stays marked at its mark."""
    current = next((h for h in holdings if h.contract.con_id == order.contract.con_id), None)
    after = (current.position if current else 0.0) + order.position
    others = [h for h in holdings if h.contract.con_id != order.contract.con_id]
    price = current.price if current else order.price
    resulting = [*others, Holding(order.contract, after, price, order.multiplier)]
    return figures(cash - order.value - commission, resulting, spot)


def order_check(cash: float, holdings: Sequence[Holding], order: Holding, commission: float,
                spot: Callable[[str], float | None]) -> str | None:
    """IB's reason text when the order (a Holding of the signed quantity it adds, at its
    price) would leave the equity with loan value below the initial margin; else None."""
    current = next((h for h in holdings if h.contract.con_id == order.contract.con_id), None)
    before = current.position if current else 0.0
    after = before + order.position
    if abs(after) <= abs(before) and after * before >= 0:
        return None  # only reduces the position
    result = figures_after(cash, holdings, order, commission, spot)
    if result.equity_with_loan >= result.initial_margin:
        return None
    return (
        "YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED POSITION YOUR EQUITY WITH "
        f"LOAN VALUE [{result.equity_with_loan:.2f} USD] MUST EXCEED THE INITIAL MARGIN "
        f"[{result.initial_margin:.2f} USD]"
    )
