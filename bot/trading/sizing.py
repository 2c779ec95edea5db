"""Position size from the risk budget: how many option contracts one trade may buy.

Units: ``equity`` and the results ``budget`` / ``risk_per_contract`` are dollars; ``premium``
is the option price per share (dollars), so one contract costs ``premium * multiplier``;
``risk_pct`` and ``stop_pct`` are percent (1.0 means 1 %, not 0.01).

The size is never forced up to one contract: when the budget cannot carry the risk of one
contract the answer is zero, with the figures in the reason. Arithmetic is done in Decimal on
the shortest decimal form of each float, so a budget of exactly two contracts' risk buys two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from bot.trading.decimals import to_decimal

CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class SizeDecision:
    """Contracts to buy, the figures behind it (dollars) and a one-line reason."""

    quantity: int
    budget: float
    risk_per_contract: float
    reason: str


def _cents(x: Decimal, rounding: str) -> str:
    return f"{x.quantize(CENT, rounding=rounding)}"


def _plural(n: int) -> str:
    return f"{n} contract" if n == 1 else f"{n} contracts"


def _invalid(equity: float, risk_pct: float, premium: float, stop_pct: float,
             max_contracts: int, multiplier: int) -> str | None:
    checks = (("equity", equity), ("risk pct", risk_pct), ("premium", premium),
              ("stop pct", stop_pct), ("max contracts", max_contracts), ("multiplier", multiplier))
    for name, value in checks:
        if not (math.isfinite(value) and value > 0):
            return f"invalid {name} {value}"
    return None


def size_entry(equity: float, risk_pct: float, premium: float, stop_pct: float,
               max_contracts: int, multiplier: int = 100) -> SizeDecision:
    """Contracts = floor(budget / risk per contract), capped at ``max_contracts``.

    budget = equity * risk_pct / 100; risk per contract = premium * multiplier * stop_pct / 100
    (the loss if the stop fills at its price). Invalid input (non-positive or not finite)
    gives zero contracts and names the bad field.
    """
    problem = _invalid(equity, risk_pct, premium, stop_pct, max_contracts, multiplier)
    if problem:
        return SizeDecision(0, 0.0, 0.0, problem)
    budget = to_decimal(equity) * to_decimal(risk_pct) / 100
    risk = to_decimal(premium) * multiplier * to_decimal(stop_pct) / 100
    affordable = int((budget / risk).to_integral_value(rounding=ROUND_FLOOR))
    quantity = min(affordable, int(max_contracts))
    # Shown in cents, the budget rounded down and the risk up, so "<" in the text stays true.
    shown_budget, shown_risk = _cents(budget, ROUND_FLOOR), _cents(risk, ROUND_CEILING)
    if affordable < 1:
        reason = f"risk budget {shown_budget} < {shown_risk} risk per contract"
    else:
        reason = f"risk budget {shown_budget} / {shown_risk} per contract = {_plural(affordable)}"
        if quantity < affordable:
            reason += f", capped at {max_contracts}"
    return SizeDecision(quantity, float(budget), float(risk), reason)
