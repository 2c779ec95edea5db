"""Bracket and exit orders priced on the option premium (never on the underlying).

Prices are dollars per share of the option (premium), always on the option's tick grid and
computed in Decimal, so a price is 1.3 and never 1.3000000000000003. Percentages are percent
(30.0 = 30 %).

Rounding: the entry goes to the nearest tick. Both exits are rounded toward the entry, the
conservative side: the take-profit down (it triggers no later than asked, and a limit one tick
nearer is likelier to fill) and the stop up (the loss is at most the configured share, which
the size was computed from). Each exit stays at least one tick away from the entry, and the
stop at least one tick above zero.

Tick sizes follow the options Penny Interval Program: SPY, QQQ and IWM quote in 0.01 at every
price; other classes (AAPL, ...) in 0.01 below 3.00 and 0.05 from 3.00. Classes outside the
program (0.05 / 0.10) are not modelled: IB rejects an off-grid price, it never fills a wrong one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from bot.messages import OptionContract, OrderSpec, OrderType, Side
from bot.trading.decimals import to_decimal

PENNY_PILOT: frozenset[str] = frozenset({"SPY", "QQQ", "IWM"})
"""Option classes quoted in 0.01 at every price."""
PENNY = Decimal("0.01")
NICKEL = Decimal("0.05")
NICKEL_FROM = Decimal("3.00")
NOISE = Decimal("1e-6")
"""Fractions of a tick below this are float noise, not price."""
_ROUNDING = {"down": ROUND_FLOOR, "up": ROUND_CEILING, "nearest": ROUND_HALF_UP}
EXIT_OCA_TYPE = 3
"""IB's OCA type for every exit pair: a fill (even partial) of one member reduces the others by
the filled quantity. Type 1 would cancel the whole stop on a partial take-profit (the rest of the
position unprotected); no type (0) is not OCA at all (both legs could fill: short)."""


def _tick(symbol: str, price: Decimal) -> Decimal:
    return PENNY if symbol in PENNY_PILOT or price < NICKEL_FROM else NICKEL


def tick_size(symbol: str, price: float) -> float:
    """The minimum price step for ``symbol``'s options at ``price`` (0.01 or 0.05)."""
    return float(_tick(symbol, to_decimal(price)))


def _round(price: Decimal, tick: Decimal, mode: str) -> Decimal:
    if mode not in _ROUNDING:
        raise ValueError(f"rounding mode must be one of {sorted(_ROUNDING)}, got {mode!r}")
    if tick <= 0:
        raise ValueError(f"tick must be positive, got {tick}")
    steps = (price / tick).quantize(NOISE)  # float noise such as 0.1 + 0.2 is not a tick
    return steps.to_integral_value(rounding=_ROUNDING[mode]) * tick


def round_to_tick(price: float, tick: float, mode: str) -> float:
    """``price`` on the ``tick`` grid: "down", "up" or "nearest" (a half tick rounds up).

    A price within a millionth of a tick of a grid point is that point, so float noise
    (0.1 + 0.2 = 0.30000000000000004) never moves a price by a whole tick.
    """
    return float(_round(to_decimal(price), to_decimal(tick), mode))


def _on_grid(symbol: str, price: Decimal, mode: str) -> Decimal:
    return _round(price, _tick(symbol, price), mode)


def _tick_above(symbol: str, price: Decimal) -> Decimal:
    return price + _tick(symbol, price)


def _tick_below(symbol: str, price: Decimal) -> Decimal:
    return _on_grid(symbol, price - PENNY, "down")


@dataclass(frozen=True, slots=True)
class BracketPrices:
    """Entry limit, take-profit limit and stop trigger, premium per share."""

    entry: float
    take_profit: float
    stop: float


def bracket_prices(symbol: str, entry: float, take_profit_pct: float,
                   stop_loss_pct: float) -> BracketPrices:
    """Exit prices ``take_profit_pct`` above and ``stop_loss_pct`` below the entry premium.

    Raises ValueError for a non-positive entry or percentage, and for an entry too small to
    leave a stop between it and zero (0.01).
    """
    if not (take_profit_pct > 0 and stop_loss_pct > 0):
        raise ValueError(f"percentages must be positive, got {take_profit_pct}, {stop_loss_pct}")
    price = _on_grid(symbol, to_decimal(entry), "nearest")
    if price <= 0:
        raise ValueError(f"entry must be positive, got {entry}")
    take_profit = _on_grid(symbol, price * (1 + to_decimal(take_profit_pct) / 100), "down")
    take_profit = max(take_profit, _tick_above(symbol, price))
    stop = _on_grid(symbol, price * (1 - to_decimal(stop_loss_pct) / 100), "up")
    stop = max(min(stop, _tick_below(symbol, price)), PENNY)
    if stop >= price:
        raise ValueError(f"entry {price} leaves no room for a stop above zero")
    return BracketPrices(float(price), float(take_profit), float(stop))


def build_bracket(intent_id: str, contract: OptionContract, quantity: int,
                  prices: BracketPrices) -> tuple[OrderSpec, OrderSpec, OrderSpec]:
    """Parent BUY limit, take-profit SELL limit and stop SELL stop, day orders.

    The children share the OCA group ``oca-<intent_id>`` of type ``EXIT_OCA_TYPE`` (3: a partial
    fill of one reduces the other); client order ids are
    ``<intent_id>.entry``, ``.tp`` and ``.sl``. ``contract`` is what the orders are for (the
    caller sends it alongside); it is not copied into the specs.
    """
    if quantity < 1:
        raise ValueError(f"quantity must be at least 1, got {quantity} for {contract.key}")
    oca = f"oca-{intent_id}"
    parent = OrderSpec(f"{intent_id}.entry", Side.BUY, quantity, OrderType.LIMIT,
                       limit_price=prices.entry)
    take_profit = OrderSpec(f"{intent_id}.tp", Side.SELL, quantity, OrderType.LIMIT,
                            limit_price=prices.take_profit, oca_group=oca,
                            oca_type=EXIT_OCA_TYPE)
    stop = OrderSpec(f"{intent_id}.sl", Side.SELL, quantity, OrderType.STOP,
                     stop_price=prices.stop, oca_group=oca, oca_type=EXIT_OCA_TYPE)
    return parent, take_profit, stop


def exit_order(intent_id: str, leg: str, symbol: str, quantity: int, bid: float) -> OrderSpec:
    """A SELL limit at the bid rounded down to the tick (emulated OCO legs, time exits).

    A bid below one tick (or 0) gives 0.01, the lowest valid limit. Client order id is
    ``<intent_id>.<leg>``.
    """
    if quantity < 1:
        raise ValueError(f"quantity must be at least 1, got {quantity}")
    price = max(_on_grid(symbol, to_decimal(bid), "down"), PENNY)
    return OrderSpec(f"{intent_id}.{leg}", Side.SELL, quantity, OrderType.LIMIT,
                     limit_price=float(price))
