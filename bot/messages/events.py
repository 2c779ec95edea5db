"""Events (past tense): from the broker side, and from strategy, risk and execution."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.messages.values import (
    Bar,
    Direction,
    OptionChain,
    OptionContract,
    OrderStatus,
    Quote,
    Side,
)

_frozen = dataclass(frozen=True, slots=True)


@_frozen
class BarClosed:
    """A 1-minute bar of the underlying completed."""

    bar: Bar
    backfill: bool = False
    """True for history sent at (re)subscription: it warms indicators but is never traded."""


@_frozen
class QuoteUpdated:
    """The latest quote of an instrument; ``seq`` grows per instrument (conflation)."""

    quote: Quote
    seq: int = 0


@_frozen
class WarmQuoteUpdated:
    """The latest quote of an option its strategy keeps warm (``KeepOptionsWarm``); ``seq``
    grows per option. Only the strategy hears it: execution hears ``QuoteUpdated`` of the
    options it asked for itself."""

    quote: Quote
    seq: int = 0


@_frozen
class ChainReceived:
    correlation_id: str
    chain: OptionChain


@_frozen
class OptionsQuoted:
    """Answer to ``QuoteOptions``: quotes for the candidates that could be quoted."""

    correlation_id: str
    symbol: str
    quotes: tuple[Quote, ...]
    missing: tuple[OptionContract, ...] = ()


@_frozen
class OrderStatusChanged:
    """An order moved in its life cycle (the broker's view, translated)."""

    correlation_id: str
    client_order_id: str
    status: OrderStatus
    filled: float
    remaining: float
    avg_fill_price: float
    ts: datetime
    broker_order_id: int = 0
    reason: str = ""


@_frozen
class OrderFilled:
    """One execution (a partial or the last part of a fill)."""

    correlation_id: str
    client_order_id: str
    exec_id: str
    contract: OptionContract
    side: Side
    quantity: float
    price: float
    ts: datetime
    commission: float = 0.0


@_frozen
class CommissionReported:
    """IB's commission for an execution already published as ``OrderFilled`` without one (its
    report came after the broker stopped waiting): the journal updates the fill, execution
    adds it to the trade's commissions."""

    correlation_id: str
    client_order_id: str
    exec_id: str
    commission: float
    ts: datetime


@_frozen
class OrderRejected:
    """The broker refused an order (IB's error ``code``), or the bot's own side did (code 0:
    the journal could not record an entry, read-only, not connected: ``NOT_CONNECTED``)."""

    correlation_id: str
    client_order_id: str
    code: int
    reason: str
    ts: datetime


NOT_CONNECTED = "broker not connected"
"""OrderRejected's reason (code 0) for an order refused because the socket to the gateway is
down: it never left the bot, so it is no rejection by IB."""


@_frozen
class BrokerErrorReported:
    """An error or status message from IB that is not an order rejection."""

    code: int
    message: str
    request_id: int
    ts: datetime


@_frozen
class ConnectionChanged:
    """The broker link changed: ``state`` is connected, disconnected, stale or restored."""

    state: str
    client_id: int
    ts: datetime
    reason: str = ""


@_frozen
class StartRefused:
    """The safety gate refused to trade (e.g. a live account without ``--live``): stop."""

    reason: str
    ts: datetime


@_frozen
class AccountUpdated:
    """Account figures the risk budget is computed from."""

    account: str
    net_liquidation: float
    ts: datetime


@_frozen
class RequestTimedOut:
    """A request got no answer in time; ``request`` names it (e.g. ``reqSecDefOptParams``)."""

    correlation_id: str
    request: str
    timeout_s: float
    ts: datetime
    symbol: str = ""
    """The symbol the request was for, when there is one."""


@_frozen
class ActorFaulted:
    """An exception inside an actor (or its event loop) that did not stop it."""

    actor: str
    error: str
    ts: datetime


@_frozen
class SignalRaised:
    """The scalp rules fired for a symbol; an option is about to be chosen."""

    correlation_id: str
    symbol: str
    direction: Direction
    reasons: tuple[str, ...]
    ts: datetime


@_frozen
class EntryProposed:
    """Strategy -> risk: buy ``contract`` (chosen from the chain) at about ``premium``."""

    correlation_id: str
    intent_id: str
    symbol: str
    direction: Direction
    contract: OptionContract
    premium: float
    """Price the entry limit is placed at (the ask, or mid if configured)."""
    bid: float
    ask: float
    ts: datetime
    reasons: tuple[str, ...] = ()


@_frozen
class EntryApproved:
    """Risk -> execution: enter ``quantity`` contracts."""

    correlation_id: str
    intent_id: str
    symbol: str
    contract: OptionContract
    quantity: int
    premium: float
    ts: datetime


@_frozen
class EntryDenied:
    """Risk -> strategy (and the log): the entry was refused, and why."""

    correlation_id: str
    intent_id: str
    symbol: str
    reason: str
    ts: datetime


@_frozen
class EntryAbandoned:
    """Strategy: a signal led to no entry (no option qualified, quotes missing, ...)."""

    correlation_id: str
    symbol: str
    reason: str
    ts: datetime


@_frozen
class PositionOpened:
    """Execution -> risk and strategy: the entry filled (in part or whole)."""

    correlation_id: str
    intent_id: str
    symbol: str
    contract: OptionContract
    quantity: float
    avg_price: float
    ts: datetime


@_frozen
class PositionUnprotected:
    """Execution -> alerts: a held position has had no working stop or closing order for its
    whole quantity past ``execution.protect_within_s`` (invariant 1); the bot keeps acting."""

    intent_id: str
    symbol: str
    quantity: float
    why: str
    ts: datetime


@_frozen
class PositionClosed:
    """Execution -> risk and strategy: the position is flat; ``realized_pnl`` in dollars."""

    correlation_id: str
    intent_id: str
    symbol: str
    contract: OptionContract
    quantity: float
    entry_price: float
    exit_price: float
    realized_pnl: float
    reason: str
    ts: datetime


@_frozen
class PnlCorrected:
    """Execution -> risk and journal: a closed position's realized P&L changed by ``amount``
    dollars after ``PositionClosed`` went out (IB reported a commission late)."""

    correlation_id: str
    intent_id: str
    symbol: str
    amount: float
    reason: str
    ts: datetime


@_frozen
class EntryExpired:
    """Execution -> risk and strategy: the entry never filled and was cancelled or rejected."""

    correlation_id: str
    intent_id: str
    symbol: str
    reason: str
    ts: datetime


@_frozen
class TimerFired:
    """A periodic timer of the receiving actor fired (wall clock)."""

    name: str
    ts: datetime
