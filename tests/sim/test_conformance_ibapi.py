"""Conformance of the simulator's messages, per server version it speaks, field by field.

One scenario (connect, contracts, market data with generic ticks, bars, historical ticks,
orders that fill and one cancelled, what-if, account, positions, P&L, executions, depth,
tick-by-tick, real-time bars, reference requests) runs against the gateway through a real
client, while every message the gateway sends is captured as the list of values it meant to
send (before encoding). Each captured message is then decoded offline:

- Server version 157 with IB's own decoder, ``ibapi.decoder.Decoder`` from the ``ibapi``
  distribution on the package index (9.81.1.post1, IB's last release there; it speaks server
  versions up to 157, the simulator's lowest). Field by field: every field the decoder reads
  through ``ibapi.utils.decode`` must hold a value of the kind it reads, equal to what the
  simulator meant (a number read as a number, a flag as 0/1, a text as that text, an empty
  field as IB's unset); no field may be left over and none missing (the decoder must read
  exactly the message's fields), and the message must reach its ``EWrapper`` callback.
- The versions above 157, which that ``ibapi`` cannot decode (the fields IB added after 157
  would be left over), with the clients that speak them: ib_insync 0.9.86's decoder at 176,
  and ib_async 2.1's at every version where the simulator's encoders change (157 to 178).
  Those decoders unpack most messages into a fixed number of names, so a missing or extra
  field raises; the check there is "decodes without an error", not ibapi's field-by-field
  comparison.
"""

from __future__ import annotations

import inspect
import math
from collections import Counter
from datetime import UTC, timedelta
from types import SimpleNamespace

import ib_insync
import pytest
from conftest import START

from bot.sim import protocol_out as out
from bot.sim import wire

ibapi_decoder = pytest.importorskip("ibapi.decoder", reason="ibapi (dev extra) is not installed")
from ibapi import utils as ibapi_utils  # noqa: E402
from ibapi.common import UNSET_DOUBLE, UNSET_INTEGER  # noqa: E402
from ibapi.wrapper import EWrapper  # noqa: E402

FROZEN = dict(tick_interval_s=0.5, msg_rate_limit=100_000)
"""Slow market steps (a few during the scenario) and no message-rate pacing of its burst."""
SCENARIO_IDS = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 15, 17, 21, 45, 46, 49, 50, 52, 53, 54, 55,
                59, 61, 62, 63, 64, 71, 72, 73, 74, 75, 76, 80, 81, 88, 93, 94, 95, 96, 97, 98,
                99, 101, 102}
"""Message ids the scenario must make the gateway send (so the checks cover them)."""


class Capture:
    """Every message the gateway encodes, as the values it meant to send."""

    def __init__(self) -> None:
        self.messages: list[list] = []

    def encode(self, fields):
        self.messages.append(list(fields))
        return ORIGINAL_ENCODE(fields)


ORIGINAL_ENCODE = wire.encode


@pytest.fixture
def capture(monkeypatch) -> Capture:
    cap = Capture()
    monkeypatch.setattr(wire, "encode", cap.encode)
    return cap


def run_scenario(lib, ib, gateway, until, capture: Capture) -> None:
    """Make the gateway send every kind of message it can (see SCENARIO_IDS) through client
    library ``lib`` (ib_insync or ib_async); returns once it sent each of them (or fails after
    a bounded wait)."""
    ib.RequestTimeout = 10
    spy = lib.Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    expiry = sorted(gateway.contracts.chain_params("SPY", gateway.clock.now().date())[0][3])[1]
    opt = lib.Option("SPY", expiry, float(round(gateway.market.spot("SPY"))), "C", "SMART")
    ib.qualifyContracts(opt)
    ib.reqCurrentTime()
    ib.reqSecDefOptParams("SPY", "", "STK", spy.conId)
    option_ticker = ib.reqMktData(opt, "100,101,104,106")
    stock_ticker = ib.reqMktData(spy, "456")
    assert until(ib, lambda: option_ticker.modelGreeks is not None
                 and stock_ticker.dividends is not None, 10)
    ib.reqHistoricalData(spy, "", "1800 S", "1 min", "TRADES", True)
    ib.reqHeadTimeStamp(spy, "TRADES", True)
    start = gateway.market.now() - timedelta(minutes=5)
    for what in ("TRADES", "BID_ASK", "MIDPOINT"):
        assert ib.reqHistoricalTicks(spy, start, "", 20, what, True)
    ib.calculateImpliedVolatility(opt, option_ticker.modelGreeks.optPrice,
                                  gateway.market.spot("SPY"))
    ib.whatIfOrder(opt, lib.LimitOrder("BUY", 1, option_ticker.ask))
    filled = ib.placeOrder(spy, lib.MarketOrder("BUY", 10))
    resting = ib.placeOrder(spy, lib.LimitOrder("BUY", 1, round(gateway.market.spot("SPY") - 20, 2)))
    assert until(ib, lambda: filled.isDone() and resting.orderStatus.status == "Submitted", 10)
    ib.cancelOrder(resting.order)
    assert until(ib, resting.isDone, 10)
    ib.reqAllOpenOrders()
    ib.reqCompletedOrders(False)
    ib.reqExecutions()
    ib.reqPositions()
    ib.accountSummary()
    account = gateway.account.account_id
    ib.client.reqPositionsMulti(ib.client.getReqId(), account, "")
    ib.reqAccountUpdatesMulti(account)
    pnl = ib.reqPnL(account)
    single = ib.reqPnLSingle(account, "", spy.conId)
    assert until(ib, lambda: not math.isnan(pnl.dailyPnL) and not math.isnan(single.dailyPnL), 10)
    ib.reqMarketRule(1)
    ib.reqMktDepthExchanges()
    depth = ib.reqMktDepth(spy, 5)
    tbt = ib.reqTickByTickData(spy, "BidAsk")
    bars = ib.reqRealTimeBars(spy, 5, "TRADES", True)
    assert until(ib, lambda: depth.domBids and tbt.tickByTicks and len(bars) > 0, 15)
    assert until(ib, lambda: {int(m[0]) for m in capture.messages[1:]} >= SCENARIO_IDS, 10)


# ---- IB's own decoder (ibapi 9.81.1.post1) at server version 157 ------------------------------


class RecordingWrapper(EWrapper):
    """An EWrapper that records every callback it receives, with its arguments by name."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.arguments: list[dict] = []


def _recorder(name: str):
    signature = inspect.signature(getattr(EWrapper, name))

    def record(self, *args, **kwargs):
        self.calls.append(name)
        bound = signature.bind(self, *args, **kwargs).arguments
        self.arguments.append({k: v for k, v in bound.items() if k != "self"})
    return record


for _name in [n for n in dir(EWrapper) if not n.startswith("_") and callable(getattr(EWrapper, n))]:
    setattr(RecordingWrapper, _name, _recorder(_name))


class CountingFields:
    """The message's fields as ibapi reads them (bytes after the socket), counting reads."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.read = 0

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        if self.read >= len(self.texts):
            raise StopIteration
        self.read += 1
        return self.texts[self.read - 1].encode()


def _expected_problem(meant, kind, show_unset: bool, got) -> str | None:
    """Why the decoded value ``got`` (read as ``kind``) is not what the simulator meant."""
    text = wire.format_field(meant)
    if kind is str:
        if isinstance(meant, float) and not (meant == UNSET_DOUBLE or meant == int(meant)):
            return f"a price {meant!r} read as text"
        return None if got == text else f"text {got!r} != {text!r}"
    if meant is None or meant == "":
        unset = {float: UNSET_DOUBLE, int: UNSET_INTEGER}.get(kind) if show_unset else 0
        return None if got == unset or (kind is bool and got is False) else f"unset read as {got!r}"
    if isinstance(meant, str):
        return f"text {meant!r} read as {kind.__name__}"
    if kind is bool:
        return None if got == bool(meant) and meant in (0, 1) else f"{meant!r} read as flag {got!r}"
    if kind is int:
        if isinstance(meant, float) and meant != int(meant):
            return f"{meant!r} read as an integer"
        return None if got == int(meant) else f"{got!r} != {meant!r}"
    if kind is float:
        if isinstance(meant, bool):
            return f"flag {meant!r} read as a number"
        return None if math.isclose(got, float(text), rel_tol=1e-12) else f"{got!r} != {meant!r}"
    return f"unexpected kind {kind!r}"


def ibapi_problems(messages: list[list], version: int,
                   wrapper: RecordingWrapper | None = None) -> tuple[list[str], Counter]:
    """Decode each message with IB's Decoder; every disagreement, and the message ids seen."""
    wrapper = wrapper or RecordingWrapper()
    decoder = ibapi_decoder.Decoder(wrapper, version)
    problems: list[str] = []
    seen: Counter = Counter()
    real_decode = ibapi_utils.decode
    for meant in messages:
        texts = [wire.format_field(v) for v in meant]
        fields = CountingFields(texts)
        reads: list[tuple[int, type, bool, object]] = []

        def decode(kind, it, show_unset=False, _fields=fields, _reads=reads):
            value = real_decode(kind, it, show_unset)
            _reads.append((_fields.read - 1, kind, show_unset, value))
            return value

        msg_id = int(meant[0])
        seen[msg_id] += 1
        before = len(wrapper.calls)
        ibapi_decoder.decode = decode
        ibapi_decoder.OrderDecoder.__init__.__globals__["decode"] = decode
        try:
            handler = decoder.msgId2handleInfo.get(msg_id)
            if handler is None:
                problems.append(f"{msg_id}: unknown to ibapi at {version}")
                continue
            if handler.wrapperMeth is not None:  # fields map one to one onto the callback
                decoder.interpretWithSignature([t.encode() for t in texts], handler)
                fields.read = len(texts)
            else:
                handler.processMeth(decoder, fields)
        except Exception as exc:  # noqa: BLE001 - a decoder failure is the finding
            problems.append(f"{msg_id}: decoder raised {exc!r} on {texts}")
            continue
        finally:
            ibapi_decoder.decode = real_decode
            ibapi_decoder.OrderDecoder.__init__.__globals__["decode"] = real_decode
        if fields.read != len(texts):
            problems.append(f"{msg_id}: {len(texts) - fields.read} field(s) left over: {texts}")
        if len(wrapper.calls) == before:
            problems.append(f"{msg_id}: no EWrapper callback for {texts}")
        for index, kind, show_unset, value in reads:
            why = _expected_problem(meant[index], kind, show_unset, value)
            if why:
                problems.append(f"{msg_id} field {index}: {why} in {texts}")
    return problems, seen


def test_every_message_at_server_version_157_decodes_field_by_field_with_ibapi(
    make_gateway, capture, until
) -> None:
    # Arrange: a client that offers only 157 (ib_insync, its highest version capped)
    gateway = make_gateway(start=START + timedelta(hours=1), **FROZEN)
    ib = ib_insync.IB()
    ib.client.MaxClientVersion = 157
    try:
        ib.connect("127.0.0.1", gateway.port, clientId=3, timeout=5)
        assert ib.client.serverVersion() == 157
        # Act
        run_scenario(ib_insync, ib, gateway, until, capture)
    finally:
        ib.disconnect()
    # Assert
    problems, seen = ibapi_problems(capture.messages[1:], 157)  # [0]: the handshake reply
    assert problems == []
    assert set(seen) >= SCENARIO_IDS, sorted(SCENARIO_IDS - set(seen))


def test_the_checker_catches_a_shifted_a_missing_and_a_surplus_field() -> None:
    """The field-by-field check itself: what a broken encoder would send is reported."""
    good = [21, 7, 13, 1, 0.2, 0.5, 2.5, 0.0, 0.01, 0.1, -0.05, 590.0]  # tickOptionComputation
    shifted = [21, 7, 13, 1, "SMART", 0.2, 0.5, 2.5, 0.01, 0.1, -0.05, 590.0]
    missing = good[:-1]
    surplus = [*good, 1.0]
    assert ibapi_problems([good], 157)[0] == []
    for broken in (shifted, missing, surplus):
        assert ibapi_problems([broken], 157)[0] != []


T = 1_795_000_000  # an epoch second


@pytest.mark.parametrize("message, callback, expected", [
    (out.tick_option_computation(7, 13, 0.21, 0.52, 3.45, 0.031, 0.44, -0.09, 594.6, 1.77),
     "tickOptionComputation",
     dict(reqId=7, tickType=13, tickAttrib=1, impliedVol=0.21, delta=0.52, optPrice=3.45,
          pvDividend=1.77, gamma=0.031, vega=0.44, theta=-0.09, undPrice=594.6)),
    (out.tick_string(5, 59, "7.12,7.12,20261218,1.78"), "tickString",
     dict(reqId=5, tickType=59, value="7.12,7.12,20261218,1.78")),
    (out.pnl(8, 1.1, 2.2, 3.3), "pnl",
     dict(reqId=8, dailyPnL=1.1, unrealizedPnL=2.2, realizedPnL=3.3)),
    (out.pnl_single(9, 10, 1.5, 2.5, 3.5, 5950.0), "pnlSingle",
     dict(reqId=9, pos=10, dailyPnL=1.5, unrealizedPnL=2.5, realizedPnL=3.5, value=5950.0)),
    (out.head_timestamp(4, "20261116 09:30:00"), "headTimestamp",
     dict(reqId=4, headTimestamp="20261116 09:30:00")),
    (out.historical_ticks(3, "TRADES", [(T, 592.1, 300, "ARCA")]), "historicalTicksLast",
     dict(reqId=3, done=True, ticks=[dict(time=T, price=592.1, size=300, exchange="ARCA",
                                          specialConditions="")])),
    (out.historical_ticks(3, "BID_ASK", [(T, 592.0, 592.01, 500, 700)]), "historicalTicksBidAsk",
     dict(reqId=3, done=True, ticks=[dict(time=T, priceBid=592.0, priceAsk=592.01, sizeBid=500,
                                          sizeAsk=700)])),
    (out.historical_ticks(3, "MIDPOINT", [(T, 592.005)]), "historicalTicks",
     dict(reqId=3, done=True, ticks=[dict(time=T, price=592.005, size=0)])),
])
def test_each_encoder_puts_each_value_where_ibapi_reads_its_name(message, callback,
                                                                 expected) -> None:
    """What the simulator means by each field (its encoder's parameter) is what IB's decoder
    hands the EWrapper under that name."""
    wrapper = RecordingWrapper()
    problems, _ = ibapi_problems([message], 157, wrapper)
    assert problems == [] and wrapper.calls == [callback]
    got = wrapper.arguments[0]
    for name, value in expected.items():
        if name == "ticks":
            assert [{k: getattr(tick, k) for k in row} for tick, row in
                    zip(got["ticks"], value, strict=True)] == value
        else:
            assert got[name] == value, name


# ---- the clients' decoders at the versions ibapi 9.81 does not speak -------------------------


def _client_problems(decoder_module, wrapper, messages, version) -> tuple[list[str], set]:
    decoder = decoder_module.Decoder(wrapper, version)
    problems, seen = [], set()
    for meant in messages:
        texts = [wire.format_field(v) for v in meant]
        msg_id = int(texts[0])
        seen.add(msg_id)
        handler = decoder.handlers.get(msg_id)
        if handler is None:
            problems.append(f"{msg_id}: unknown to the decoder at {version}")
            continue
        try:
            handler(texts)
        except Exception as exc:  # noqa: BLE001 - a decoder failure is the finding
            problems.append(f"{msg_id}: raised {exc!r} on {texts}")
    return problems, seen


class _AnyWrapper:
    """Accepts every callback a decoder makes; the two settings ib_async's decoder reads."""

    defaultTimezone = UTC
    ib = SimpleNamespace(TimezoneTWS=None)

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def test_every_message_at_server_version_176_decodes_with_ib_insync(
    make_gateway, capture, until
) -> None:
    from ib_insync import decoder as insync_decoder

    gateway = make_gateway(start=START + timedelta(hours=1), **FROZEN)
    ib = ib_insync.IB()
    try:
        ib.connect("127.0.0.1", gateway.port, clientId=4, timeout=5)
        assert ib.client.serverVersion() == 176
        run_scenario(ib_insync, ib, gateway, until, capture)
    finally:
        ib.disconnect()
    problems, seen = _client_problems(insync_decoder, _AnyWrapper(), capture.messages[1:], 176)
    assert problems == []
    assert seen >= SCENARIO_IDS, sorted(SCENARIO_IDS - seen)


@pytest.mark.parametrize("version", [157, 159, 160, 162, 163, 164, 166, 170, 176, 177, 178])
def test_every_message_at_each_server_version_decodes_with_ib_async(
    make_gateway, capture, until, version
) -> None:
    """ib_async 2.1 speaks every version the simulator does (157..178) and branches where the
    simulator's encoders do (159, 160, 162, 164, 166, 170, 176, 177, 178): capped at each, the
    gateway answers at that version and every message must decode at it."""
    ib_async = pytest.importorskip("ib_async", reason="ib_async 2.1 is not installed (dev extra)")
    from ib_async import decoder as async_decoder

    gateway = make_gateway(start=START + timedelta(hours=1), **FROZEN)
    ib = ib_async.IB()
    ib.client.MaxClientVersion = version
    try:
        ib.connect("127.0.0.1", gateway.port, clientId=5, timeout=5)
        assert ib.client.serverVersion() == version
        run_scenario(ib_async, ib, gateway, until, capture)
    finally:
        ib.disconnect()
    problems, seen = _client_problems(async_decoder, _AnyWrapper(), capture.messages[1:], version)
    assert problems == []
    assert seen >= SCENARIO_IDS, sorted(SCENARIO_IDS - seen)
