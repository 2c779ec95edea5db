"""Order records of the simulated gateway: the order the engine honours and the events it emits.

Plain frozen records, no behaviour. The matching engine (``bot.sim.matching``) takes a
``SimOrder`` and returns lists of the events below; the server encodes each event as the TWS
message named in its docstring. ``bot.sim.matching`` re-exports every name here.

Event order per action (the server encodes them in this order):
- placement / modify: OpenOrderEvent, OrderStatusEvent (per order going live), then any fills.
- fill: ExecutionEvent, OpenOrderEvent (only when the order is now Filled: TWS re-sends it),
  OrderStatusEvent, CommissionEvent, PositionEvent, then the resulting updates of other
  orders (children activated: OpenOrderEvent + OrderStatusEvent; OCA cancels: OrderStatusEvent
  "Cancelled").
- cancel(): OrderStatusEvent "Cancelled", OrderRejectedEvent 202 "Order Canceled - reason:"
  (a warning in ib_insync) for the order; OrderStatusEvent "Cancelled" for each other member
  of its OCA group and each sibling child; then the pair above per cancelled child.
- reject: OrderRejectedEvent (201, 110, 135 ...), OrderStatusEvent "Cancelled" (and
  "Cancelled" for each held child of a rejected parent).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.sim.contracts import SimContract

UNSET_DOUBLE = 1.7976931348623157e308
"""IB's "no value" for doubles (sys.float_info.max), e.g. realizedPNL of an opening trade."""


class Status:
    """IB's order status strings, exactly as ib_insync's ``OrderStatus`` spells them."""

    PRE_SUBMITTED = "PreSubmitted"
    SUBMITTED = "Submitted"
    FILLED = "Filled"
    CANCELLED = "Cancelled"
    API_CANCELLED = "ApiCancelled"
    INACTIVE = "Inactive"

    DONE = frozenset({FILLED, CANCELLED, API_CANCELLED, INACTIVE})
    LIVE = frozenset({PRE_SUBMITTED, SUBMITTED})


@dataclass(frozen=True, slots=True)
class SimOrder:
    """The fields of IB's Order that the engine honours (others are ignored)."""

    order_id: int
    client_id: int
    perm_id: int
    action: str
    """"BUY" or "SELL"."""
    total_qty: float
    order_type: str
    """"MKT", "LMT", "STP" or "STP LMT"."""
    lmt_price: float = 0.0
    aux_price: float = 0.0
    """Stop trigger price for STP and STP LMT."""
    tif: str = "DAY"
    parent_id: int = 0
    transmit: bool = True
    oca_group: str = ""
    oca_type: int = 0
    """1 cancels the other members on any fill; 2 and 3 reduce them by the filled amount."""
    order_ref: str = ""
    account: str = ""
    outside_rth: bool = False
    trigger_method: int = 0
    """IB's triggerMethod for stops: 0 default (double bid/ask for options, last for stocks)."""


@dataclass(frozen=True, slots=True)
class OrderStatusEvent:
    """An ``orderStatus`` message: the order's state after a placement, fill or cancel."""

    order_id: int
    client_id: int
    perm_id: int
    status: str
    filled: float
    remaining: float
    avg_fill_price: float
    last_fill_price: float
    parent_id: int
    why_held: str = ""


@dataclass(frozen=True, slots=True)
class OpenOrderEvent:
    """An ``openOrder`` message: the order as the engine holds it now (current total_qty); for
    a finished order also what reqCompletedOrders says about it."""

    order: SimOrder
    contract: SimContract
    status: str
    completed_status: str = ""
    """TWS's completedStatus: "Filled", "Cancelled by Trader" (a client's cancel), "Cancelled"."""
    completed_at: datetime | None = None
    """When the order finished (as far as the engine saw it)."""


@dataclass(frozen=True, slots=True)
class ExecutionEvent:
    """An ``execDetails`` message: one execution (a full or partial fill)."""

    exec_id: str
    order_id: int
    client_id: int
    perm_id: int
    contract: SimContract
    time: datetime
    account: str
    exchange: str
    side: str
    """"BOT" or "SLD"."""
    shares: float
    price: float
    cum_qty: float
    avg_price: float
    order_ref: str
    liquidation: int = 0


@dataclass(frozen=True, slots=True)
class CommissionEvent:
    """A ``commissionReport`` message for one execution."""

    exec_id: str
    commission: float
    currency: str = "USD"
    realized_pnl: float = UNSET_DOUBLE
    """Realized P&L of a closing execution (net of both commissions); UNSET_DOUBLE if opening."""


@dataclass(frozen=True, slots=True)
class OrderRejectedEvent:
    """An ``error`` message about an order (id = order_id): 201 rejected, 202 cancel confirmed
    (a warning in ib_insync), 104/10147/10148 bad modify/cancel, 135 unknown parent."""

    order_id: int
    client_id: int
    code: int
    message: str


@dataclass(frozen=True, slots=True)
class PositionEvent:
    """A ``position`` message: the account's position in a contract after a fill."""

    account: str
    contract: SimContract
    position: float
    avg_cost: float
    """Per share for stocks, per contract (price * multiplier) for options, incl. commissions."""


Event = (
    OrderStatusEvent
    | OpenOrderEvent
    | ExecutionEvent
    | CommissionEvent
    | OrderRejectedEvent
    | PositionEvent
)
