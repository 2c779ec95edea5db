"""Pure fill rules of the simulated gateway: when an order triggers, at what price it fills,
what it costs, and which new orders are refused. No state; the matching engine calls these.

Prices are per share (stocks) or per option (before the multiplier). A price of 0, a negative
price or NaN means "no quote": nothing ever fills or triggers against it.

- An order that is marketable when it starts to work (placed, modified, a child activated by
  its parent's fill, a stop limit just triggered) fills at the touch: a buy at the ask, a sell
  at the bid, never better than the quote and never worse than its limit.
- A limit order that rested (was not marketable when it was checked) fills at its own limit
  once the market trades through it (``resting_fill_price``).
- A limit or stop price off the contract's tick grid is refused with error 110
  (``off_grid``), as IB refuses it; it is never rounded and filled.
- Stops trigger by IB's trigger methods (``stop_reached``); the default is double bid/ask for
  US options (two consecutive market steps with the bid, for a sell, at or below the stop) and
  last for stocks. A triggered stop stays triggered and fills as a market (STP) or limit
  (STP LMT) order arriving at that moment.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.sim.contracts import SimContract
from bot.sim.options import option_tick
from bot.sim.order_events import SimOrder

PRICE_VARIATION = (110, "The price does not conform to the minimum price variation for this "
                        "contract.")
"""IB's error for a limit or stop price off the contract's tick grid."""


@dataclass(frozen=True, slots=True)
class OrderKind:
    """How an order type behaves: waits for a stop trigger first, and/or is bounded by a limit."""

    stop: bool
    limit: bool


ORDER_KINDS: dict[str, OrderKind] = {
    "MKT": OrderKind(stop=False, limit=False),
    "LMT": OrderKind(stop=False, limit=True),
    "STP": OrderKind(stop=True, limit=False),
    "STP LMT": OrderKind(stop=True, limit=True),
}

SIDE_OF_ACTION = {"BUY": "BOT", "SELL": "SLD"}


def has_price(price: float | None) -> bool:
    """True for a usable quote price (positive, not NaN, not None)."""
    return price is not None and price == price and price > 0


TRIGGER_METHODS = {0: "default", 1: "double bid/ask", 2: "last", 3: "double last",
                   4: "bid/ask", 7: "last or bid/ask", 8: "mid-point"}
"""IB's Order.triggerMethod values (how a stop decides that its price was reached)."""
DOUBLE_TRIGGERS = frozenset({1, 3})
"""Methods that need two consecutive observations at or through the stop price."""


def trigger_method(method: int, sec_type: str) -> int:
    """The method that applies: an explicit one as given; the default (0, or a value IB does
    not define) is double bid/ask for US options and last for everything else, as at IB."""
    if method in TRIGGER_METHODS and method != 0:
        return method
    return 1 if sec_type == "OPT" else 2


def stop_reached(action: str, aux: float, method: int, bid: float, ask: float,
                 last: float) -> bool:
    """One observation: the price(s) that `method` watches are at or through the stop price
    (a buy stop at or above it, a sell stop at or below it). Bid/ask methods watch the ask
    for a buy and the bid for a sell."""
    buy = action == "BUY"

    def through(price: float | None) -> bool:
        return has_price(price) and (price >= aux if buy else price <= aux)

    touch = ask if buy else bid
    if method in (1, 4):
        return through(touch)
    if method in (2, 3):
        return through(last)
    if method == 7:
        return through(last) or through(touch)
    mid = (bid + ask) / 2 if has_price(bid) and has_price(ask) else None
    return through(mid)


def fill_price(action: str, limit: float | None, bid: float, ask: float) -> float | None:
    """The price a (triggered) order arriving now fills at, or None.

    Always the touch: a buy takes the ask, a sell hits the bid. With a limit the touch must be
    at or better than the limit (buy: ask <= limit; sell: bid >= limit), so a marketable limit
    fills at the touch and never worse than its limit.
    """
    touch = ask if action == "BUY" else bid
    if not has_price(touch):
        return None
    if limit is None:
        return touch
    acceptable = touch <= limit if action == "BUY" else touch >= limit
    return touch if acceptable else None


def check_price(order: SimOrder, bid: float, ask: float, last: float) -> float | None:
    """The price IB's pre-trade check values an order at: its limit, else its stop price, else
    the touch it would take (the last trade without one); None when there is none."""
    kind = ORDER_KINDS[order.order_type]
    touch = ask if order.action == "BUY" else bid
    price = (order.lmt_price if kind.limit else order.aux_price if kind.stop
             else touch if has_price(touch) else last)
    return price if has_price(price) else None


def mark_price(bid: float, ask: float, last: float) -> float:
    """What a position is valued at: the quote's mid, else the last trade."""
    return (bid + ask) / 2 if has_price(bid) and has_price(ask) else last


def resting_fill_price(action: str, limit: float, bid: float, ask: float,
                       last: float) -> float | None:
    """The price a resting limit order fills at now: its own limit, once the market trades
    through it (a buy: the ask or a trade strictly below the limit; a sell: the bid or a trade
    strictly above it), else None. A touch merely equal to the limit does not fill it (the
    queue ahead of it is unknown), and it never fills better than its limit."""
    if action == "BUY":
        crossed = any(has_price(p) and p < limit for p in (ask, last))
    else:
        crossed = any(has_price(p) and p > limit for p in (bid, last))
    return limit if crossed else None


@dataclass(frozen=True, slots=True)
class CommissionSchedule:
    """IBKR Pro fixed pricing. The minimum applies per execution (IB applies it per order; with
    partial fills the simulator therefore charges a little more). No 1%-of-value cap."""

    per_contract: float = 0.65
    per_share: float = 0.005
    minimum: float = 1.0

    def of(self, sec_type: str, qty: float) -> float:
        """Commission in USD for one execution of qty shares or contracts."""
        rate = self.per_contract if sec_type == "OPT" else self.per_share
        return round(max(rate * qty, self.minimum), 4)


def _invalid_reason(order: SimOrder) -> str:
    """Why IB would refuse this order's fields, or "" when it is acceptable."""
    kind = ORDER_KINDS.get(order.order_type)
    checks = (
        (order.action not in SIDE_OF_ACTION, f"Invalid action {order.action!r}"),
        (kind is None, f"Unsupported order type {order.order_type!r}"),
        (not order.total_qty > 0, "Order quantity must be positive"),
        (bool(kind and kind.limit) and not has_price(order.lmt_price), "Missing limit price"),
        (bool(kind and kind.stop) and not has_price(order.aux_price), "Missing stop price"),
    )
    return next((reason for bad, reason in checks if bad), "")


def price_tick(contract: SimContract, price: float) -> float:
    """The minimum price variation at `price`: options by their class (0.01, or 0.05 from 3.00
    outside the Penny Interval Program), stocks 0.01 from 1.00 and 0.0001 below."""
    if contract.sec_type == "OPT":
        return option_tick(contract.symbol, price)
    return 0.01 if price >= 1.0 else 0.0001


def off_grid(contract: SimContract, order: SimOrder) -> tuple[int, str] | None:
    """IB's error 110 when the order's limit or stop price is not on the contract's tick grid
    (float noise below a millionth of a tick is no error)."""
    kind = ORDER_KINDS[order.order_type]
    prices = ([order.lmt_price] if kind.limit else []) + ([order.aux_price] if kind.stop else [])
    for price in prices:
        steps = price / price_tick(contract, price)
        if abs(steps - round(steps)) > 1e-6:
            return PRICE_VARIATION
    return None


def rejection(order: SimOrder) -> tuple[int, str] | None:
    """(201, IB-style text) when the order's fields are unacceptable, else None."""
    reason = _invalid_reason(order)
    return (201, rejected_text(reason)) if reason else None


def rejected_text(reason: str) -> str:
    """IB's text of error 201."""
    return f"Order rejected - reason:{reason}"
