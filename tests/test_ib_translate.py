"""Translation tables between the IB client's objects and our frozen messages, without a
connection; built from the chosen client's classes (ib_insync, or ib_async when CI runs this
file again with ``BOT__BROKER__CLIENT=ib_async``)."""

from __future__ import annotations

import math
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from bot import messages as m
from bot.ib import client
from bot.ib import translate as t

_ib, _objects = client.library(), client.objects()
Contract, Option, OptionChain, OrderStatus = _ib.Contract, _ib.Option, _ib.OptionChain, _ib.OrderStatus
Ticker, Trade, Order = _ib.Ticker, _ib.Trade, _ib.Order
BarData, CommissionReport, Execution = _objects.BarData, _objects.CommissionReport, _objects.Execution
Fill, OptionComputation, TradeLogEntry = _objects.Fill, _objects.OptionComputation, _objects.TradeLogEntry


def ticker_with(**fields: float) -> Ticker:
    """A ticker as the client's wrapper fills it: created empty, then its fields set (ib_async's
    ``Ticker.__post_init__`` resets constructor values to ``IBDefaults.unset``)."""
    ticker = Ticker()
    for name, value in fields.items():
        setattr(ticker, name, value)
    return ticker


TS = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
SPY_CALL = m.OptionContract(
    "SPY", "20261127", 600.0, m.Right.CALL, con_id=4711, trading_class="SPY"
)


@pytest.mark.parametrize(
    ("ib_status", "filled", "remaining", "ours"),
    [
        ("PendingSubmit", 0, 2, m.OrderStatus.SUBMITTED),
        ("ApiPending", 0, 2, m.OrderStatus.SUBMITTED),
        ("PreSubmitted", 0, 2, m.OrderStatus.ACKED),
        ("Submitted", 0, 2, m.OrderStatus.ACKED),
        ("Submitted", 1, 1, m.OrderStatus.PARTIAL),
        ("PendingCancel", 0, 2, m.OrderStatus.ACKED),
        ("Filled", 2, 0, m.OrderStatus.FILLED),
        ("Cancelled", 0, 2, m.OrderStatus.CANCELLED),
        ("Cancelled", 1, 1, m.OrderStatus.CANCELLED),
        ("ApiCancelled", 0, 2, m.OrderStatus.CANCELLED),
        ("Inactive", 0, 2, m.OrderStatus.REJECTED),
        ("SomethingNew", 0, 2, m.OrderStatus.SUBMITTED),
    ],
)
def test_order_status_table(
    ib_status: str, filled: float, remaining: float, ours: m.OrderStatus
) -> None:
    assert t.order_status(ib_status, filled, remaining) is ours


@pytest.mark.parametrize(
    ("code", "kind", "rejection"),
    [
        (1100, t.ErrorKind.CONNECTIVITY, False),
        (1101, t.ErrorKind.CONNECTIVITY, False),
        (1102, t.ErrorKind.CONNECTIVITY, False),
        (2110, t.ErrorKind.CONNECTIVITY, False),
        (2103, t.ErrorKind.FARM, False),
        (2104, t.ErrorKind.FARM, False),
        (2105, t.ErrorKind.FARM, False),
        (2106, t.ErrorKind.FARM, False),
        (2158, t.ErrorKind.FARM, False),
        (201, t.ErrorKind.ORDER, True),
        (202, t.ErrorKind.ORDER, False),
        (399, t.ErrorKind.ORDER, False),
        (110, t.ErrorKind.ORDER, True),
        (100, t.ErrorKind.REQUEST, False),
        (162, t.ErrorKind.REQUEST, False),
        (200, t.ErrorKind.REQUEST, False),
        (354, t.ErrorKind.REQUEST, False),
        (2150, t.ErrorKind.INFO, False),
    ],
)
def test_error_kinds(code: int, kind: t.ErrorKind, rejection: bool) -> None:
    assert (t.error_kind(code), t.is_order_rejection(code)) == (kind, rejection)


@pytest.mark.parametrize(
    ("code", "state"), [(1100, "stale"), (2110, "stale"), (1101, "restored"), (1102, "restored")]
)
def test_connectivity_states(code: int, state: str) -> None:
    assert t.CONNECTIVITY_STATE[code] == state
    assert (code in t.RESUBSCRIBE_CODES) is (code == 1101)


def test_option_round_trip_keeps_every_field() -> None:
    ib = t.option_contract(SPY_CALL)
    assert (ib.secType, ib.symbol, ib.lastTradeDateOrContractMonth, ib.strike, ib.right) == (
        "OPT",
        "SPY",
        "20261127",
        600.0,
        "C",
    )
    assert (ib.multiplier, ib.exchange, ib.currency, ib.conId, ib.tradingClass) == (
        "100",
        "SMART",
        "USD",
        4711,
        "SPY",
    )
    assert t.option_from_ib(ib) == SPY_CALL


def test_qualified_option_with_time_in_expiry_and_long_right() -> None:
    ib = Option("QQQ", "20261127 16:00:00 US/Eastern", 500.5, "PUT", "SMART", "100", conId=9)
    assert t.option_from_ib(ib) == m.OptionContract("QQQ", "20261127", 500.5, m.Right.PUT, con_id=9)


@pytest.mark.parametrize(
    ("contract", "instrument"),
    [
        (Contract(secType="STK", symbol="IWM", conId=3), m.Stock("IWM", 3)),
        (t.option_contract(SPY_CALL), SPY_CALL),
    ],
)
def test_instrument_from_ib(contract: Contract, instrument: m.Instrument) -> None:
    assert t.instrument_from_ib(contract) == instrument
    assert t.ib_contract(instrument).secType == contract.secType


def test_pick_chain_prefers_smart_with_the_symbols_trading_class() -> None:
    chains = [
        OptionChain("CBOE", 1, "SPY", "100", ["20261127"], [600.0]),
        OptionChain("SMART", 1, "SPXW", "100", ["20261127"], [600.0]),
        OptionChain("SMART", 1, "SPY", "100", ["20261204", "20261127"], [601.0, 599.0, 600.0]),
    ]
    chain = t.pick_chain("SPY", chains)
    assert chain == m.OptionChain(
        "SPY", ("20261127", "20261204"), (599.0, 600.0, 601.0), 100, "SPY", "SMART"
    )


def test_pick_chain_falls_back_to_the_first_and_none_when_empty() -> None:
    chains = [OptionChain("CBOE", 1, "XYZ1", "100", ["20261127"], [10.0])]
    assert t.pick_chain("XYZ", chains).trading_class == "XYZ1"
    assert t.pick_chain("XYZ", []) is None


@pytest.mark.parametrize(
    "when",
    [
        datetime(2026, 11, 20, 15, 31, tzinfo=UTC),
        datetime(2026, 11, 20, 10, 31, tzinfo=timezone(timedelta(hours=-5))),
        datetime(2026, 11, 20, 15, 31),
    ],
)
def test_bar_times_become_aware_utc(when: datetime) -> None:
    bar = t.bar_from_ib("SPY", BarData(when, 600.1, 600.5, 599.9, 600.2, 1234, 600.2, 17))
    assert bar == m.Bar(
        "SPY", datetime(2026, 11, 20, 15, 31, tzinfo=UTC), 600.1, 600.5, 599.9, 600.2, 1234.0
    )


def test_daily_bar_date_is_midnight_utc() -> None:
    assert t.as_utc(date(2026, 11, 20)) == datetime(2026, 11, 20, tzinfo=UTC)


def test_quote_from_option_ticker_with_greeks() -> None:
    ticker = ticker_with(
        contract=t.option_contract(SPY_CALL),
        bid=2.10,
        ask=2.15,
        last=2.12,
        bidSize=10,
        askSize=12,
        volume=345,
    )
    ticker.modelGreeks = OptionComputation(0, 0.21, 0.45, 2.13, 0.0, 0.02, 0.1, -0.05, 600.0)
    quote = t.quote_from_ticker(SPY_CALL, ticker, TS)
    assert quote == m.Quote(SPY_CALL, 2.10, 2.15, 2.12, TS, 10.0, 12.0, 345.0, delta=0.45, iv=0.21,
                            gamma=0.02, theta=-0.05, vega=0.1, und_price=600.0)


def test_quote_missing_sides_are_zero_and_no_price_is_none() -> None:
    stock = m.Stock("SPY")
    half = ticker_with(bid=600.0, ask=math.nan, last=-1.0, bidSize=math.nan)
    assert t.quote_from_ticker(stock, half, TS) == m.Quote(stock, 600.0, 0.0, 0.0, TS)
    assert t.quote_from_ticker(stock, Ticker(), TS) is None
    assert t.is_two_sided(half) is False
    assert t.is_two_sided(ticker_with(bid=1.0, ask=1.1)) is True


UNSET_DOUBLE = sys.float_info.max
"""Both clients' marker of an unset double (``util.UNSET_DOUBLE``)."""


@pytest.mark.parametrize(
    ("value", "as_price", "as_size"),
    [
        (2.15, 2.15, 2.15),
        (Decimal("3"), 3.0, 3.0),
        (7, 7.0, 7.0),
        (None, None, 0.0),
        (math.nan, None, 0.0),  # unset (both clients' IBDefaults.unset)
        (-1.0, None, 0.0),  # IB's empty price (ib_async's IBDefaults.emptyPrice)
        (0.0, None, 0.0),  # an empty size (IBDefaults.emptySize); never a price
        (math.inf, None, 0.0),
        (UNSET_DOUBLE, None, 0.0),  # an unset order or tick field
    ],
)
def test_every_empty_value_of_either_client_reads_as_no_price_and_no_size(
    value: object, as_price: float | None, as_size: float
) -> None:
    assert (t.price(value), t.size(value)) == (as_price, as_size)


def test_a_quote_with_unset_double_sides_has_no_price() -> None:
    stock = m.Stock("SPY")
    unset = ticker_with(bid=UNSET_DOUBLE, ask=UNSET_DOUBLE, last=600.0, bidSize=UNSET_DOUBLE)

    quote = t.quote_from_ticker(stock, unset, TS)

    assert (quote.bid, quote.ask, quote.last, quote.bid_size) == (0.0, 0.0, 600.0, 0.0)
    assert t.is_two_sided(unset) is False


@pytest.mark.parametrize(
    ("tag", "value", "currency", "expected"),
    [
        ("NetLiquidation", "100000.50", "USD", 100000.5),
        ("NetLiquidation", "9", "BASE", 9.0),
        ("NetLiquidation", "x", "USD", None),
        ("TotalCashValue", "5", "USD", None),
        ("NetLiquidation", "5", "EUR", None),
    ],
)
def test_net_liquidation(tag: str, value: str, currency: str, expected: float | None) -> None:
    assert t.net_liquidation(tag, value, currency) == expected


SPECS = {
    "parent": m.OrderSpec("I1-entry", m.Side.BUY, 3, m.OrderType.LIMIT, limit_price=2.15),
    "tp": m.OrderSpec("I1-tp", m.Side.SELL, 3, m.OrderType.LIMIT, limit_price=2.80,
                      oca_group="oca-I1", oca_type=3),
    "stop": m.OrderSpec("I1-stop", m.Side.SELL, 3, m.OrderType.STOP, stop_price=1.72,
                        oca_group="oca-I1", oca_type=3),
}


def test_bracket_is_parent_lmt_then_oca_children_of_their_spec_type_last_transmits() -> None:
    cmd = m.SubmitBracket("c-1", "I1", SPY_CALL, SPECS["parent"], SPECS["tp"], SPECS["stop"])
    parent, tp, stop = t.bracket_orders(cmd, (101, 102, 103), account="DU1")
    rows = [
        (
            o.orderId,
            o.action,
            o.totalQuantity,
            o.orderType,
            o.lmtPrice if o.orderType == "LMT" else o.auxPrice,
            o.parentId,
            o.transmit,
            o.ocaGroup,
            o.ocaType,
            o.orderRef,
            o.account,
        )
        for o in (parent, tp, stop)
    ]
    assert rows == [
        (101, "BUY", 3.0, "LMT", 2.15, 0, False, "", 0, "I1-entry", "DU1"),
        (102, "SELL", 3.0, "LMT", 2.80, 101, False, "oca-I1", 3, "I1-tp", "DU1"),
        (103, "SELL", 3.0, "STP", 1.72, 101, True, "oca-I1", 3, "I1-stop", "DU1"),
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (m.OrderSpec("x", m.Side.BUY, 1, m.OrderType.LIMIT), "needs limit_price"),
        (m.OrderSpec("x", m.Side.SELL, 1, m.OrderType.STOP), "needs stop_price"),
    ],
)
def test_order_without_its_price_is_refused(spec: m.OrderSpec, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        t.ib_order(spec)


@pytest.mark.parametrize("oca_type", [1, 2, 3])
def test_a_single_order_carries_its_spec_oca_type(oca_type: int) -> None:
    order = t.ib_order(m.OrderSpec("I2.sl2", m.Side.SELL, 2, m.OrderType.STOP, stop_price=1.0,
                                   oca_group="oca-I2-2", oca_type=oca_type))
    assert (order.ocaGroup, order.ocaType) == ("oca-I2-2", oca_type)


def test_market_order_with_its_own_oca_group() -> None:
    order = t.ib_order(
        m.OrderSpec("I2-exit", m.Side.SELL, 2, m.OrderType.MARKET, tif="GTC", oca_group="g")
    )
    assert (order.orderType, order.tif, order.ocaGroup, order.ocaType, order.orderRef) == (
        "MKT",
        "GTC",
        "g",
        0,
        "I2-exit",
    )


def make_fill(exec_id: str = "0001.01", report_exec_id: str = "0001.01", side: str = "SLD") -> Fill:
    execution = Execution(
        execId=exec_id, time=TS, side=side, shares=2.0, price=2.8, orderId=102, orderRef="I1-tp"
    )
    report = CommissionReport(execId=report_exec_id, commission=1.3)
    return Fill(t.option_contract(SPY_CALL), execution, report, TS)


@pytest.mark.parametrize(
    ("report_id", "side", "commission", "ours"),
    [("0001.01", "SLD", 1.3, m.Side.SELL), ("", "BOT", 0.0, m.Side.BUY)],
)
def test_fill_event(report_id: str, side: str, commission: float, ours: m.Side) -> None:
    event = t.fill_event(make_fill(report_exec_id=report_id, side=side), "c-1", "I1-tp")
    assert event == m.OrderFilled(
        "c-1", "I1-tp", "0001.01", SPY_CALL, ours, 2.0, 2.8, TS, commission
    )


def test_fill_time_is_the_executions_time_not_the_local_receive_time() -> None:
    # Arrange: ib_insync stamps a live Fill with the moment its socket read the message
    received_late = TS + timedelta(seconds=7)
    fill = make_fill()
    fill = Fill(fill.contract, fill.execution, fill.commissionReport, received_late)

    # Act
    event = t.fill_event(fill, "c-1", "I1-tp")

    # Assert: the exchange's execution time is what max-hold and the journal see
    assert event.ts == TS


def make_trade(status: str, filled: float, remaining: float, log: str = "") -> Trade:
    order = Order(orderId=101, orderRef="I1-entry", totalQuantity=3)
    trade = Trade(
        contract=t.option_contract(SPY_CALL),
        order=order,
        orderStatus=OrderStatus(
            orderId=101,
            status=status,
            filled=filled,
            remaining=remaining,
            avgFillPrice=2.15 if filled else 0.0,
        ),
    )
    if log:
        trade.log.append(TradeLogEntry(TS, status, log, 201))
    return trade


@pytest.mark.parametrize(
    ("status", "filled", "remaining", "rejected", "ours", "reason"),
    [
        ("Submitted", 0, 3, False, m.OrderStatus.ACKED, ""),
        ("Submitted", 1, 2, False, m.OrderStatus.PARTIAL, ""),
        ("Filled", 3, 0, False, m.OrderStatus.FILLED, ""),
        ("Cancelled", 0, 3, True, m.OrderStatus.REJECTED, "Order rejected - reason: no funds"),
        ("Cancelled", 0, 3, False, m.OrderStatus.CANCELLED, "Order rejected - reason: no funds"),
    ],
)
def test_status_event(
    status: str, filled: float, remaining: float, rejected: bool, ours: m.OrderStatus, reason: str
) -> None:
    event = t.status_event(
        make_trade(status, filled, remaining, "Order rejected - reason: no funds"),
        "c-1",
        TS,
        rejected,
    )
    assert event == m.OrderStatusChanged(
        "c-1",
        "I1-entry",
        ours,
        float(filled),
        float(remaining),
        2.15 if filled else 0.0,
        TS,
        101,
        reason,
    )
