"""Restart safety: the broker's view after a connect, journal outcomes, reconciliation, kill switch.

Flow after every connect: the broker publishes ``ModeDecided`` (the journal opens the file of
that mode) and then ``BrokerSnapshot`` (what IB holds: orders with their orderRef, executions,
positions). The journal reconciles it against its records and answers with ``TradeRecovered``
per own intent still alive, ``ReconcileMismatch`` per disagreement and ``RiskRestored`` plus
``ReconcileFinished`` once done; risk takes no entry before that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from bot.messages.events import OrderFilled
from bot.messages.values import OptionContract, OrderSpec, OrderStatus

_frozen = dataclass(frozen=True, slots=True)


@_frozen
class BrokerOrder:
    """One order IB knows (open or completed today), by the client order id in its orderRef."""

    client_order_id: str
    """IB's orderRef; empty for an order that is not ours (manual, another program)."""
    broker_order_id: int
    status: OrderStatus
    filled: float
    remaining: float
    avg_fill_price: float
    contract_key: str = ""


@_frozen
class BrokerPosition:
    """One position IB reports; ``avg_cost`` per contract as IB gives it (premium x multiplier)."""

    contract: OptionContract | None
    """None for anything that is not an option (the bot trades options only)."""
    description: str
    quantity: float
    avg_cost: float


@_frozen
class PositionChanged:
    """Broker: IB reported a position of the account (at every change, after the snapshot)."""

    position: BrokerPosition
    ts: datetime


@_frozen
class ModeDecided:
    """Broker: the safety gate's mode for this connection (sim, shadow, paper, live)."""

    mode: str
    account: str
    ts: datetime


@_frozen
class BrokerSnapshot:
    """Broker, after every connect: what IB holds, published only once the answer is complete.
    ``first`` marks the first snapshot this process publishes (the day is restored once)."""

    first: bool
    orders: tuple[BrokerOrder, ...]
    fills: tuple[OrderFilled, ...]
    positions: tuple[BrokerPosition, ...]
    ts: datetime
    market_ts: datetime | None = None
    """IB's server time (the exchange's clock) when the snapshot was built; None if unknown."""
    handled: frozenset[str] = frozenset()
    """Every client order id this process's broker had handled (placed, shadowed or refused)
    when the snapshot was built. A leg the journal forwarded that is not in here was still on
    its way to the broker: the snapshot cannot say it is gone."""


@_frozen
class TradeRecovered:
    """Journal -> execution: rebuild the trade of an intent from the journal and the broker.

    ``legs`` are the orders the journal wrote for the intent (entry first) with the broker's
    status for each (CREATED when the broker never heard of it); ``fills`` are every execution
    known for the intent. ``resend`` asks execution to send the legs again (the process died
    between writing the intent and sending it); ``opened`` says PositionOpened was already
    published (risk counted the trade) before the restart."""

    correlation_id: str
    intent_id: str
    symbol: str
    contract: OptionContract
    premium: float
    legs: tuple[tuple[OrderSpec, OrderStatus, float], ...]
    """(spec, broker status, filled quantity the broker reports)."""
    fills: tuple[OrderFilled, ...]
    opened: bool
    resend: bool
    ts: datetime
    adopted: bool = False
    """A position the journal never knew, taken over because the config says so."""
    held: float | None = None
    """What the broker holds for this trade when that is less than its fills say (closed in
    part outside the bot): exits are armed for this quantity only. None: the fills hold."""


@_frozen
class PositionRecovered:
    """Execution -> risk: a position held before the restart is managed again (not a new trade)."""

    intent_id: str
    symbol: str
    contract: OptionContract
    quantity: float
    ts: datetime


@_frozen
class ReconcileMismatch:
    """Journal: the journal and the broker disagree (or the broker holds something unknown)."""

    kind: str
    """unknown_position, unknown_order, status_differs, fills_while_down, resent, expired ..."""
    key: str
    """What it is about: an intent, a client order id or a contract."""
    detail: str
    ts: datetime


@_frozen
class ReconcileFinished:
    """Journal: a broker snapshot was reconciled; entries may be taken again."""

    first: bool
    recovered: int
    resent: int
    expired: int
    mismatches: int
    ts: datetime


@_frozen
class BuyBacksNumbered:
    """Journal -> execution, at the first snapshot of a process: the highest buy-back number
    (``<intent>.coverN``) each intent has used, as the journal wrote them, so a restarted
    process numbers on from there and never sends a ref twice; and the buy-backs IB still
    works. Execution buys back no short before it has heard this."""

    highest: tuple[tuple[str, int], ...]
    ts: datetime
    working: tuple[tuple[str, str], ...] = ()
    """Buy-backs IB still works, as (contract key, ref): execution waits for IB's word on each
    before it sends another (never two at once, across restarts too)."""


@_frozen
class RiskRestored:
    """Journal -> risk: the saved daily state of the current New York trading day, if any."""

    day: date
    found: bool
    start_equity: float
    realized_pnl: float
    trades: int
    consecutive_losses: int
    ts: datetime


@_frozen
class RiskStateChanged:
    """Risk -> journal: the daily risk state after a change (saved at once)."""

    day: date
    start_equity: float
    realized_pnl: float
    trades: int
    consecutive_losses: int
    kill_switch: bool
    ts: datetime


@_frozen
class JournalFailed:
    """Journal: a write failed; risk stops opening positions until the bot is restarted."""

    reason: str
    ts: datetime


@_frozen
class KillSwitchChanged:
    """Risk: the kill-switch file appeared (``engaged``) or was removed."""

    engaged: bool
    reason: str
    ts: datetime
