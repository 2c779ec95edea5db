"""Value records carried inside messages: instruments, bars, quotes, chains, order specs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

_frozen = dataclass(frozen=True, slots=True)


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
    gamma: float | None = None
    theta: float | None = None
    vega: float | None = None
    und_price: float | None = None
    """The underlying's price the model greeks were computed from (recorded with the quote)."""

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
    oca_type: int = 0
    """IB's ocaType for ``oca_group``: 1 a fill (even partial) cancels the other members, 2 and 3
    reduce them by the filled quantity (2 with overfill protection, 3 without); 0 or no group is
    not OCA at all (every member may fill)."""
