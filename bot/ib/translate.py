"""Translation between the IB client's live objects and the bot's frozen messages: tables only.

The client is ib_insync or ib_async (``bot/ib/client.py`` chooses; both have the same classes
and fields), so this module takes its classes from ``client.library()``. With
``actors/broker`` it is the only code that touches a client library. Everything here is a pure
function of its arguments (no connection, no clock), so it is unit tested on hand-built client
objects. Nothing that leaves this module holds a client object.

Empty values: a price or size read here may be nan (unset), -1 (IB's "no value"), None,
``UNSET_DOUBLE`` or ``Decimal``; ``price`` and ``size`` turn them into None / 0.0 and floats.

Tables: IB order status strings -> ``OrderStatus``; error codes -> ``ErrorKind`` and, for the
connectivity codes, the ``ConnectionChanged`` state; execution sides -> ``Side``; our order
types -> the ib_insync ``Order`` fields they set.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

from bot import messages as m
from bot.ib import client

_ib = client.library()
Contract, Option, Order, Stock = _ib.Contract, _ib.Option, _ib.Order, _ib.Stock
Ticker, Trade, IbOptionChain = _ib.Ticker, _ib.Trade, _ib.OptionChain
BarData, Fill = client.objects().BarData, client.objects().Fill
UNSET_DOUBLE = client.unset_double()
"""The clients' marker of an unset double (float max): never a price or a size."""

# -- order status -------------------------------------------------------------------------------

IB_STATUS: dict[str, m.OrderStatus] = {
    "PendingSubmit": m.OrderStatus.SUBMITTED,
    "ApiPending": m.OrderStatus.SUBMITTED,
    "PreSubmitted": m.OrderStatus.ACKED,
    "Submitted": m.OrderStatus.ACKED,
    "PendingCancel": m.OrderStatus.ACKED,
    "Filled": m.OrderStatus.FILLED,
    "Cancelled": m.OrderStatus.CANCELLED,
    "ApiCancelled": m.OrderStatus.CANCELLED,
    "Inactive": m.OrderStatus.REJECTED,
}
"""IB's status strings; a working order with a partial fill becomes PARTIAL (see below)."""


def order_status(ib_status: str, filled: float, remaining: float) -> m.OrderStatus:
    """Our status for IB's; unknown strings count as SUBMITTED (a request is not an ack)."""
    status = IB_STATUS.get(ib_status, m.OrderStatus.SUBMITTED)
    if status is m.OrderStatus.ACKED and filled > 0 and remaining > 0:
        return m.OrderStatus.PARTIAL
    return status


# -- error codes --------------------------------------------------------------------------------


class ErrorKind(str, Enum):
    CONNECTIVITY = "connectivity"
    """The gateway's link to IB (1100/1101/1102/2110) or its socket port (1300)."""
    FARM = "farm"
    """A data farm came or went: logged, never treated as a lost socket."""
    ORDER = "order"
    """An order was rejected or cancelled by IB."""
    REQUEST = "request"
    """A request failed (pacing, no security definition, not subscribed, ...)."""
    INFO = "info"
    """Informational warnings (2100-2199 not listed above)."""


_KINDS: dict[ErrorKind, frozenset[int]] = {
    ErrorKind.CONNECTIVITY: frozenset({1100, 1101, 1102, 1300, 2110}),
    ErrorKind.FARM: frozenset({2103, 2104, 2105, 2106, 2107, 2108, 2119, 2157, 2158}),
    ErrorKind.ORDER: frozenset(
        {
            103,
            104,
            105,
            106,
            107,
            109,
            110,
            111,
            113,
            116,
            117,
            118,
            119,
            135,
            136,
            161,
            163,
            164,
            201,
            202,
            203,
            383,
            387,
            388,
            399,
            10147,
            10148,
            10149,
        }
    ),
}
ERROR_KINDS: dict[int, ErrorKind] = {code: kind for kind, codes in _KINDS.items() for code in codes}

CONNECTIVITY_STATE: dict[int, str] = {
    1100: "stale",
    2110: "stale",
    1101: "restored",
    1102: "restored",
    1300: "disconnected",
}
"""ConnectionChanged state per connectivity code."""
RESUBSCRIBE_CODES = frozenset({1101})
"""Data was lost: every market data and bar subscription must be submitted again."""
ORDER_CANCELLED = 202
ORDER_WARNINGS = frozenset({399})
"""Order codes that are warnings about a still-working order, never a rejection."""


def error_kind(code: int) -> ErrorKind:
    if code in ERROR_KINDS:
        return ERROR_KINDS[code]
    return ErrorKind.INFO if 2100 <= code < 2200 else ErrorKind.REQUEST


def is_order_rejection(code: int) -> bool:
    """An order error after which the order is dead (202 is a cancel, 399 a warning)."""
    return (
        error_kind(code) is ErrorKind.ORDER
        and code not in ORDER_WARNINGS
        and code != ORDER_CANCELLED
    )


# -- contracts ----------------------------------------------------------------------------------


def stock_contract(symbol: str, con_id: int = 0) -> Stock:
    stock = Stock(symbol, "SMART", "USD")
    stock.conId = con_id
    return stock


def option_contract(option: m.OptionContract) -> Option:
    return Option(
        symbol=option.symbol,
        lastTradeDateOrContractMonth=option.expiry,
        strike=option.strike,
        right=option.right.value,
        exchange=option.exchange,
        multiplier=str(option.multiplier),
        currency="USD",
        tradingClass=option.trading_class,
        conId=option.con_id,
    )


def ib_contract(instrument: m.Instrument) -> Contract:
    if isinstance(instrument, m.Stock):
        return stock_contract(instrument.symbol, instrument.con_id)
    return option_contract(instrument)


def option_from_ib(contract: Contract) -> m.OptionContract:
    return m.OptionContract(
        symbol=contract.symbol,
        expiry=contract.lastTradeDateOrContractMonth.split()[0]
        if contract.lastTradeDateOrContractMonth
        else "",
        strike=float(contract.strike),
        right=m.Right(contract.right[:1].upper()),
        multiplier=int(float(contract.multiplier or 100)),
        con_id=contract.conId,
        trading_class=contract.tradingClass,
        exchange=contract.exchange or "SMART",
    )


def instrument_from_ib(contract: Contract) -> m.Instrument:
    if contract.secType == "OPT":
        return option_from_ib(contract)
    return m.Stock(contract.symbol, contract.conId)


def pick_chain(symbol: str, chains: Iterable[IbOptionChain]) -> m.OptionChain | None:
    """The SMART entry whose trading class is the symbol, else the first entry."""
    chains = list(chains)
    if not chains:
        return None
    preferred = [c for c in chains if c.exchange == "SMART" and c.tradingClass == symbol]
    chosen = (preferred or chains)[0]
    return m.OptionChain(
        symbol=symbol,
        expirations=tuple(sorted(chosen.expirations)),
        strikes=tuple(sorted(float(s) for s in chosen.strikes)),
        multiplier=int(float(chosen.multiplier or 100)),
        trading_class=chosen.tradingClass,
        exchange=chosen.exchange,
    )


# -- market data --------------------------------------------------------------------------------


def as_utc(value: date | datetime) -> datetime:
    """IB bar times: aware datetimes to UTC, naive ones taken as UTC, dates as midnight UTC."""
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def bar_from_ib(symbol: str, bar: BarData) -> m.Bar:
    return m.Bar(
        symbol, as_utc(bar.date), bar.open, bar.high, bar.low, bar.close, float(bar.volume)
    )


def price(value: Any) -> float | None:
    """A usable price, or None for a client's "no value": None, nan, -1 (IB's empty price and
    ib_async's ``IBDefaults.emptyPrice``), 0, infinity or ``UNSET_DOUBLE``. Decimals become floats."""
    if value is None:
        return None
    number = float(value)
    if not math.isfinite(number) or number <= 0 or number >= UNSET_DOUBLE:
        return None
    return number


def size(value: Any) -> float:
    """A size as a float, 0.0 for "no value" (None, nan, negative, infinity, ``UNSET_DOUBLE``).
    Neither ib_insync 0.9.86 nor ib_async 2.1 sends ``Decimal`` sizes (both decode floats);
    one would still become a float here."""
    if value is None:
        return 0.0
    number = float(value)
    return number if math.isfinite(number) and 0 <= number < UNSET_DOUBLE else 0.0


def is_two_sided(ticker: Ticker) -> bool:
    return price(ticker.bid) is not None and price(ticker.ask) is not None


def quote_from_ticker(instrument: m.Instrument, ticker: Ticker, ts: datetime) -> m.Quote | None:
    """Our quote of a ticker, or None while it has no price at all. Missing sides are 0.0."""
    bid, ask, last = price(ticker.bid), price(ticker.ask), price(ticker.last)
    if bid is None and ask is None and last is None:
        return None
    greeks = ticker.modelGreeks
    return m.Quote(
        instrument=instrument,
        bid=bid or 0.0,
        ask=ask or 0.0,
        last=last or 0.0,
        ts=ts,
        bid_size=size(ticker.bidSize),
        ask_size=size(ticker.askSize),
        volume=size(ticker.volume),
        delta=_greek(greeks, "delta"),
        iv=_greek(greeks, "impliedVol"),
        gamma=_greek(greeks, "gamma"),
        theta=_greek(greeks, "theta"),
        vega=_greek(greeks, "vega"),
        und_price=price(getattr(greeks, "undPrice", None)),
    )


def _greek(greeks: Any, name: str) -> float | None:
    """One model figure of a ticker's ``modelGreeks`` as a float; None when absent or not finite
    (IB sends UNSET_DOUBLE or nothing for a figure it has not computed)."""
    value = getattr(greeks, name, None) if greeks is not None else None
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) and abs(number) < UNSET_DOUBLE else None


def net_liquidation(tag: str, value: str, currency: str) -> float | None:
    """The NetLiquidation figure of an account value update, None for any other value."""
    if tag != "NetLiquidation" or currency not in ("USD", "BASE"):
        return None
    try:
        return float(value)
    except ValueError:
        return None


# -- orders -------------------------------------------------------------------------------------

SIDE_OF_EXEC: dict[str, m.Side] = {"BOT": m.Side.BUY, "SLD": m.Side.SELL}


def ib_order(
    spec: m.OrderSpec,
    *,
    order_id: int = 0,
    parent_id: int = 0,
    transmit: bool = True,
    account: str = "",
) -> Order:
    """The ib_insync Order for one of our specs; ``orderRef`` carries the client order id.

    The OCA group and type come from the spec (``OrderSpec.oca_type``); no group is no OCA."""
    order = Order(
        orderId=order_id,
        action=spec.side.value,
        totalQuantity=float(spec.quantity),
        orderType=spec.order_type.value,
        tif=spec.tif,
        orderRef=spec.client_order_id,
        parentId=parent_id,
        transmit=transmit,
        ocaGroup=spec.oca_group,
        ocaType=spec.oca_type if spec.oca_group else 0,
        account=account,
    )
    if spec.order_type is m.OrderType.LIMIT:
        order.lmtPrice = _required(spec.limit_price, spec, "limit_price")
    elif spec.order_type is m.OrderType.STOP:
        order.auxPrice = _required(spec.stop_price, spec, "stop_price")
    return order


def _required(value: float | None, spec: m.OrderSpec, name: str) -> float:
    if value is None:
        raise ValueError(f"{spec.order_type.value} order {spec.client_order_id} needs {name}")
    return value


def bracket_orders(
    cmd: m.SubmitBracket, ids: tuple[int, int, int], account: str = ""
) -> tuple[Order, ...]:
    """Parent (held, transmit False) + take-profit + stop children in one OCA group.

    The last child transmits the whole bracket, so IB never sees a parent without its exits.
    The children's OCA group and type are their specs' (``brackets.build_bracket``: type 3, so a
    partial take-profit reduces the stop instead of cancelling it).
    """
    parent_id, tp_id, stop_id = ids

    def child(spec: m.OrderSpec, order_id: int, transmit: bool) -> Order:
        return ib_order(spec, order_id=order_id, parent_id=parent_id, transmit=transmit,
                        account=account)

    return (
        ib_order(cmd.parent, order_id=parent_id, transmit=False, account=account),
        child(cmd.take_profit, tp_id, transmit=False),
        child(cmd.stop, stop_id, transmit=True),
    )


def fill_event(fill: Fill, correlation_id: str, client_order_id: str) -> m.OrderFilled:
    """One execution as ``OrderFilled`` (commission 0.0 until IB reports it).

    ``ts`` is the execution's own time (IB's ``Execution.time``, the exchange's report), not
    ``Fill.time``: for a live execution ib_insync sets that to the moment its socket read the
    message, a host clock that max-hold and the journal must not mix with market time."""
    execution, report = fill.execution, fill.commissionReport
    commission = report.commission if report.execId == execution.execId else 0.0
    return m.OrderFilled(
        correlation_id=correlation_id,
        client_order_id=client_order_id,
        exec_id=execution.execId,
        contract=option_from_ib(fill.contract),
        side=SIDE_OF_EXEC.get(execution.side, m.Side.BUY),
        quantity=float(execution.shares),
        price=float(execution.price),
        ts=as_utc(execution.time or fill.time),
        commission=float(commission),
    )


def status_event(
    trade: Trade, correlation_id: str, ts: datetime, rejected: bool = False
) -> m.OrderStatusChanged:
    """The order's current status as ``OrderStatusChanged``; ``rejected`` when IB refused it.

    ib_insync marks an order that got an error as Cancelled; when that error was a rejection
    the event says REJECTED, with IB's text (the last trade log entry) as the reason.
    """
    st = trade.orderStatus
    status = (
        m.OrderStatus.REJECTED if rejected else order_status(st.status, st.filled, st.remaining)
    )
    done = status in (m.OrderStatus.CANCELLED, m.OrderStatus.REJECTED)
    return m.OrderStatusChanged(
        correlation_id=correlation_id,
        client_order_id=trade.order.orderRef,
        status=status,
        filled=float(st.filled),
        remaining=float(st.remaining),
        avg_fill_price=float(st.avgFillPrice),
        ts=ts,
        broker_order_id=trade.order.orderId,
        reason=trade.log[-1].message if done and trade.log else "",
    )


# -- what IB holds after a connect (restart reconciliation) ---------------------------------------


def broker_order(trade: Trade) -> m.BrokerOrder:
    """An order IB knows (open or completed) as ``BrokerOrder``; orderRef is our client id."""
    st = trade.orderStatus
    contract = trade.contract
    key = option_from_ib(contract).key if contract.secType == "OPT" else contract.symbol
    return m.BrokerOrder(
        client_order_id=trade.order.orderRef or "",
        broker_order_id=trade.order.orderId,
        status=order_status(st.status, st.filled, st.remaining),
        filled=float(st.filled),
        remaining=float(st.remaining),
        avg_fill_price=float(st.avgFillPrice),
        contract_key=key,
    )


def broker_position(position: Any) -> m.BrokerPosition:
    """An ib_insync ``Position`` (account, contract, position, avgCost) as ``BrokerPosition``."""
    contract = position.contract
    option = option_from_ib(contract) if contract.secType == "OPT" else None
    return m.BrokerPosition(
        contract=option,
        description=option.key if option else f"{contract.secType} {contract.symbol}",
        quantity=float(position.position),
        avg_cost=float(position.avgCost),
    )
