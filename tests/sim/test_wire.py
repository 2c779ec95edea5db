"""The wire layer against the real client libraries: framing, version choice, field formatting,
placeOrder decoded field-exact as both clients encode it, and our outgoing messages decoded
by both clients' decoders at every version they may negotiate."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import ib_insync
import pytest

from bot.sim import encode_orders, protocol_out, wire
from bot.sim.decode_order import decode_place_order
from bot.sim.protocol_in import Fields, MalformedRequest

ib_async = pytest.importorskip("ib_async", reason="ib_async 2.1 is a dev extra")

OPT = SimpleNamespace(
    con_id=42191176,
    symbol="SPY",
    sec_type="OPT",
    expiry="20261120",
    strike=594.0,
    right="C",
    multiplier="100",
    exchange="SMART",
    primary_exchange="",
    currency="USD",
    local_symbol="SPY   261120C00594000",
    trading_class="SPY",
    min_tick=0.01,
    long_name="SPY Nov20'26 594 Call",
)
ORDER = SimpleNamespace(
    order_id=7,
    client_id=1,
    perm_id=1000007,
    action="SELL",
    total_qty=2.0,
    order_type="STP",
    lmt_price=0.0,
    aux_price=1.15,
    tif="GTC",
    oca_group="oca-1",
    oca_type=1,
    account="DU1234567",
    order_ref="intent-42",
    outside_rth=False,
    parent_id=5,
    trigger_method=0,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v157..176", 176),
        ("v157..178", 178),
        ("v100..157", 157),
        ("v176", 176),
        ("v100..156", None),
        ("v179..200", None),
        ("v157..176 +PACEAPI", 176),
    ],
)
def test_negotiate_picks_the_highest_common_version(text, expected):
    assert wire.negotiate(wire.parse_handshake(text)) == expected


@pytest.mark.parametrize("text", ["157..176", "vabc", "v176..157", ""])
def test_bad_handshakes_are_framing_errors(text):
    with pytest.raises(wire.FramingError):
        wire.parse_handshake(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "1"),
        (False, "0"),
        (None, ""),
        (590.0, "590"),
        (1.25, "1.25"),
        (0.1 + 0.2, "0.3"),
        (-2, "-2"),
        ("SPY", "SPY"),
        (1.7976931348623157e308, "1.7976931348623157E308"),  # unset, as Java writes it
    ],
)
def test_field_formatting(value, text):
    assert wire.format_field(value) == text


def test_frame_reader_handles_split_and_coalesced_chunks():
    stream = (
        wire.encode_handshake(wire.Handshake(157, 176))
        + wire.encode([71, 2, 1, ""])
        + wire.encode([49, 1])
    )
    reader = wire.FrameReader()
    got = []
    for i in range(0, len(stream), 3):  # three bytes at a time
        got += reader.feed(stream[i : i + 3])
    assert got == [wire.Handshake(157, 176), ["71", "2", "1", ""], ["49", "1"]]


def test_absurd_frame_length_is_a_framing_error():
    with pytest.raises(wire.FramingError):
        wire.FrameReader(expect_handshake=False).feed(b"\x7f\xff\xff\xff")


def _client_fields(lib, version: int, contract, order) -> list[str]:
    """What ``lib``'s Client.placeOrder writes at ``version``, as our FrameReader splits it."""
    client = lib.client.Client(SimpleNamespace())
    client.connState = client.CONNECTED
    client._serverVersion = version
    sent: list[str] = []
    client.sendMsg = sent.append
    client.placeOrder(order.orderId, contract, order)
    return wire.split_frames(wire.frame(sent[0].encode()))[0]


def _orders(lib):
    """Orders built from ``lib``'s own classes (each client only serialises its own types)."""
    bracket_child = lib.LimitOrder(
        "SELL",
        2,
        1.65,
        orderId=9,
        parentId=7,
        ocaGroup="oca-1",
        ocaType=1,
        orderRef="intent-42",
        transmit=False,
        tif="GTC",
    )
    conditioned = lib.MarketOrder("BUY", 1, orderId=11)
    conditioned.conditions = [lib.PriceCondition(price=600.0, conId=10001, exch="SMART")]
    pegged = lib.Order(orderId=12, action="BUY", totalQuantity=1, orderType="PEG MID", lmtPrice=1.0)
    return [lib.MarketOrder("BUY", 3, orderId=5, orderRef="r"), bracket_child, conditioned, pegged]


@pytest.mark.parametrize("version", [157, 163, 166, 170, 176, 177, 178])
@pytest.mark.parametrize("order_index", range(4))
def test_place_order_decodes_field_exact_from_both_clients(version, order_index):
    libs = [ib_async] + ([ib_insync] if version <= 176 else [])
    for lib in libs:
        order = _orders(lib)[order_index]
        contract = lib.Option("SPY", "20261120", 594.0, "C", "SMART", conId=42191176)
        fields = Fields(_client_fields(lib, version, contract, order))
        placed = decode_place_order(fields, version)
        assert fields.remaining() == 0, lib.__name__
        assert (placed.order_id, placed.action, placed.total_qty, placed.order_type) == (
            order.orderId,
            order.action,
            order.totalQuantity,
            order.orderType,
        )
        assert (
            placed.order_ref,
            placed.parent_id,
            placed.transmit,
            placed.oca_group,
            placed.oca_type,
        ) == (order.orderRef, order.parentId, order.transmit, order.ocaGroup, order.ocaType)
        assert placed.contract.con_id == 42191176 and placed.contract.strike == 594.0


def test_truncated_place_order_is_malformed():
    fields = _client_fields(
        ib_insync,
        176,
        ib_insync.Stock("SPY", "SMART", "USD"),
        ib_insync.MarketOrder("BUY", 1, orderId=3),
    )
    with pytest.raises(MalformedRequest):
        decode_place_order(Fields(fields[:40]), 176)


class _Recorder:
    """A wrapper stand-in that records every callback."""

    def __init__(self):
        self.calls = []
        self.ib = SimpleNamespace(TimezoneTWS="")
        self.defaultTimezone = UTC

    def __getattr__(self, name):
        return lambda *args: self.calls.append((name, args))


def _decode(lib, version: int, msg: list):
    recorder = _Recorder()
    lib.decoder.Decoder(recorder, version).interpret(wire.split_frames(wire.encode(msg))[0])
    return recorder.calls


def _decoders(version: int):
    return [ib_async] + ([ib_insync] if version <= 176 else [])


@pytest.mark.parametrize("version", [157, 163, 164, 170, 176, 177, 178])
def test_open_order_decodes_in_both_clients(version):
    for lib in _decoders(version):
        [(name, (order_id, contract, order, state))] = _decode(
            lib, version, encode_orders.open_order(version, ORDER, OPT, "PreSubmitted")
        )
        assert (name, order_id, contract.conId, contract.localSymbol) == (
            "openOrder",
            7,
            42191176,
            OPT.local_symbol,
        )
        assert (order.action, order.totalQuantity, order.orderType, order.auxPrice) == (
            "SELL",
            2.0,
            "STP",
            1.15,
        )
        assert (order.orderRef, order.parentId, order.ocaGroup, order.permId) == (
            "intent-42",
            5,
            "oca-1",
            1000007,
        )
        assert (order.tif, order.clientId, state.status) == ("GTC", 1, "PreSubmitted")


@pytest.mark.parametrize("version", [157, 170, 176, 177, 178])
def test_completed_order_exec_details_and_commission_decode(version):
    execution = SimpleNamespace(
        order_id=7,
        client_id=1,
        perm_id=1000007,
        contract=OPT,
        exec_id="0000e0d5.6745b1f2.01.01",
        time=datetime(2026, 11, 20, 15, 0, tzinfo=UTC),
        account="DU1234567",
        exchange="CBOE",
        side="SLD",
        shares=2.0,
        price=1.15,
        cum_qty=2.0,
        avg_price=1.15,
        order_ref="intent-42",
        liquidation=0,
    )
    commission = SimpleNamespace(
        exec_id=execution.exec_id, commission=1.3, currency="USD", realized_pnl=-12.5
    )
    for lib in _decoders(version):
        [(_, (contract, order, state))] = _decode(
            lib,
            version,
            encode_orders.completed_order(
                version, ORDER, OPT, "Filled", "20261120 10:00:00 US/Eastern"
            ),
        )
        assert (contract.conId, order.orderRef, state.status, state.completedStatus) == (
            42191176,
            "intent-42",
            "Filled",
            "Filled",
        )
        [(_, (req_id, _, ex))] = _decode(
            lib, version, encode_orders.exec_details(version, -1, execution)
        )
        assert (req_id, ex.execId, ex.side, ex.shares, ex.price, ex.orderRef) == (
            -1,
            execution.exec_id,
            "SLD",
            2.0,
            1.15,
            "intent-42",
        )
        assert ex.time == execution.time
        [(_, (report,))] = _decode(lib, version, encode_orders.commission_report(commission))
        assert (report.commission, report.realizedPNL) == (1.3, -12.5)


@pytest.mark.parametrize("version", [157, 163, 164, 176, 178])
def test_contract_details_decode_in_both_clients(version):
    extra = {
        "liquidHours": "20261120:0930-20261120:1600",
        "tradingHours": "20261120:0930-20261120:1600",
        "underConId": 10001,
    }
    for lib in _decoders(version):
        [(_, (req_id, cd))] = _decode(
            lib, version, protocol_out.contract_details(version, 4, OPT, extra)
        )
        c = cd.contract
        assert (req_id, c.conId, c.secType, c.lastTradeDateOrContractMonth, c.strike, c.right) == (
            4,
            42191176,
            "OPT",
            "20261120",
            594.0,
            "C",
        )
        assert (c.multiplier, c.tradingClass, c.localSymbol, cd.minTick) == (
            "100",
            "SPY",
            OPT.local_symbol,
            0.01,
        )
        assert (cd.timeZoneId, cd.liquidHours, cd.underConId, cd.longName) == (
            "US/Eastern",
            extra["liquidHours"],
            10001,
            OPT.long_name,
        )


@pytest.mark.parametrize(
    ("msg", "callback", "args"),
    [
        (protocol_out.tick_price(3, 1, 594.45, 2700), "priceSizeTick", (3, 1, 594.45, 2700.0)),
        (protocol_out.tick_size(3, 8, 1499), "tickSize", (3, 8, 1499.0)),
        (
            protocol_out.tick_option_computation(3, 13, 0.17, 0.57, 1.34, 0.14, 0.06, -2.0, 594.46),
            "tickOptionComputation",
            (3, 13, 1, 0.17, 0.57, 1.34, 0.0, 0.14, 0.06, -2.0, 594.46),
        ),
        (protocol_out.position("DU1", OPT, 2, 137.0), "position", None),
        (
            protocol_out.historical_data_update(
                5,
                SimpleNamespace(
                    time=datetime(2026, 11, 20, 15, 0, tzinfo=UTC),
                    open=1.0,
                    high=2.0,
                    low=0.5,
                    close=1.5,
                    volume=10,
                    wap=1.2,
                    count=3,
                ),
                2,
            ),
            "historicalDataUpdate",
            None,
        ),
        (
            protocol_out.error(176, 9, 201, "Order rejected"),
            "error",
            (9, 201, "Order rejected", ""),
        ),
    ],
)
def test_plain_messages_decode_to_the_expected_callbacks(msg, callback, args):
    [(name, got)] = _decode(ib_insync, 176, msg)
    assert name == callback
    if args is not None:
        assert got == args
