"""The message catalogue: everything that crosses an actor boundary.

All messages are frozen, slotted dataclasses holding plain values (str, int, float, tuples,
aware UTC datetimes, enums): never an ib_insync object, never a list or dict. Commands are
imperative (``SubmitBracket``); events are past tense (``OrderFilled``). Every command carries
a ``correlation_id``; the events it causes echo it, so a log search for one id shows the whole
story of one decision.

Value records (contracts, bars, order specs) come first, then commands, then events grouped by
the actor that emits them.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

_frozen = dataclass(frozen=True, slots=True)
_counter = itertools.count(1)


def new_correlation_id(prefix: str = "c") -> str:
    """A short id unique in this process and across restarts (random part)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}-{next(_counter)}"


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------


class Right(str, Enum):
    CALL = "C"
    PUT = "P"


class Side(str, Enum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(str, Enum):
    MARKET = "MKT"
    LIMIT = "LMT"
    STOP = "STP"


class OrderStatus(str, Enum):
    """Our order state machine; IB's status strings are translated to these."""

    CREATED = "CREATED"
    SUBMITTED = "SUBMITTED"
    ACKED = "ACKED"
    PARTIAL = "PARTIAL"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"


DONE_STATUSES = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED})


class Direction(str, Enum):
    """What the signal rules say for a symbol on one bar."""

    CALL = "call"
    PUT = "put"
    HOLD = "hold"


@_frozen
class Stock:
    """An underlying."""

    symbol: str
    con_id: int = 0
    """IB's contract id once known, 0 before."""

    @property
    def key(self) -> str:
        return self.symbol


@_frozen
class OptionContract:
    """One listed option (equity options: 100 shares per contract)."""

    symbol: str
    expiry: str
    """Last trade date, ``YYYYMMDD``."""
    strike: float
    right: Right
    multiplier: int = 100
    con_id: int = 0
    trading_class: str = ""
    exchange: str = "SMART"

    @property
    def key(self) -> str:
        """Stable text id, independent of whether the con_id is known yet."""
        return f"{self.symbol} {self.expiry} {self.strike:g}{self.right.value}"


Instrument = Stock | OptionContract


@_frozen
class Bar:
    """One completed bar of the underlying."""

    symbol: str
    start: datetime
    """Bar start, aware UTC."""
    open: float
    high: float
    low: float
    close: float
    volume: float


@_frozen
class Quote:
    """Top of book (and greeks for options) at ``ts``."""

    instrument: Instrument
    bid: float
    ask: float
    last: float
    ts: datetime
    bid_size: float = 0.0
    ask_size: float = 0.0
    volume: float = 0.0
    delta: float | None = None
    """Model delta for options when the broker sends greeks."""
    iv: float | None = None

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2.0


@_frozen
class OptionChain:
    """Expiries and strikes listed for one underlying (from reqSecDefOptParams)."""

    symbol: str
    expirations: tuple[str, ...]
    strikes: tuple[float, ...]
    multiplier: int = 100
    trading_class: str = ""
    exchange: str = "SMART"


@_frozen
class OrderSpec:
    """One order as the bot means it; ``client_order_id`` travels in IB's orderRef."""

    client_order_id: str
    side: Side
    quantity: int
    order_type: OrderType
    limit_price: float | None = None
    stop_price: float | None = None
    tif: str = "DAY"
    oca_group: str = ""


# ---------------------------------------------------------------------------------------------
# Commands (imperative): told to the broker side
# ---------------------------------------------------------------------------------------------


@_frozen
class RequestChain:
    """Strategy -> broker: send the option chain of ``symbol`` (cached per trading day)."""

    correlation_id: str
    symbol: str


@_frozen
class QuoteOptions:
    """Strategy -> broker: qualify these candidates and answer with one quote each."""

    correlation_id: str
    symbol: str
    contracts: tuple[OptionContract, ...]


@_frozen
class SubscribeQuotes:
    """Execution -> broker: stream quotes for an instrument (an open position's option)."""

    correlation_id: str
    instrument: Instrument


@_frozen
class UnsubscribeQuotes:
    """Execution -> broker: the quotes of ``instrument`` are no longer needed."""

    correlation_id: str
    instrument: Instrument


@_frozen
class SubmitBracket:
    """Execution -> broker: parent plus take-profit and stop children in one OCA group."""

    correlation_id: str
    intent_id: str
    contract: OptionContract
    parent: OrderSpec
    take_profit: OrderSpec
    stop: OrderSpec


@_frozen
class SubmitOrder:
    """Execution -> broker: a single order (emulated OCO entries and exits, time exits)."""

    correlation_id: str
    intent_id: str
    contract: OptionContract
    order: OrderSpec


@_frozen
class CancelOrder:
    """Execution -> broker: cancel the working order with this client order id."""

    correlation_id: str
    client_order_id: str


# ---------------------------------------------------------------------------------------------
# Events from the broker side (BrokerActor or StubBroker)
# ---------------------------------------------------------------------------------------------


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
class OrderRejected:
    correlation_id: str
    client_order_id: str
    code: int
    reason: str
    ts: datetime


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


# ---------------------------------------------------------------------------------------------
# Strategy, risk and execution events
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Health
# ---------------------------------------------------------------------------------------------


@_frozen
class Ping:
    """Health -> any actor: answer with ``Pong`` to ``reply_to`` (an actor ref)."""

    correlation_id: str
    sent_at: float
    """``time.monotonic()`` when sent."""
    reply_to: Any


@_frozen
class Pong:
    correlation_id: str
    actor: str
    sent_at: float
    stats: tuple[tuple[str, Any], ...] = ()
    """Actor-specific figures for the heartbeat, as (name, value) pairs."""


@_frozen
class AlarmRaised:
    """Health -> supervisor: an actor is not answering or its mailbox keeps growing."""

    actor: str
    reason: str
    ts: datetime
