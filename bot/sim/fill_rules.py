"""Pure fill rules of the simulated gateway: when an order triggers, at what price it fills,
what it costs, and which new orders are refused. No state; the matching engine calls these.

Prices are per share (stocks) or per option (before the multiplier). A price of 0, a negative
price or NaN means "no quote": nothing ever fills or triggers against it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.sim.order_events import SimOrder


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


def stop_triggered(action: str, aux: float, bid: float, ask: float, last: float) -> bool:
    """A buy stop triggers when the ask or last reaches aux from below; a sell stop when the
    bid or last reaches it from above."""
    if action == "BUY":
        return any(has_price(p) and p >= aux for p in (ask, last))
    return any(has_price(p) and p <= aux for p in (bid, last))


def fill_price(action: str, limit: float | None, bid: float, ask: float) -> float | None:
    """The price a (triggered) order fills at now, or None.

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


def rejection(order: SimOrder) -> tuple[int, str] | None:
    """(201, IB-style text) when the order's fields are unacceptable, else None."""
    reason = _invalid_reason(order)
    return (201, rejected_text(reason)) if reason else None


def rejected_text(reason: str) -> str:
    """IB's text of error 201."""
    return f"Order rejected - reason:{reason}"
