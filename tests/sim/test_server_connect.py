"""Connecting to the simulated gateway: handshake, version choice, connect-time sync, ids, time,
and how unknown or malformed requests are answered (an error, never a crash or a hang)."""

from __future__ import annotations

import time

import pytest
from ib_insync import IB, LimitOrder, Stock


def test_ib_insync_connect_syncs_quickly_with_an_empty_account(gateway):
    # Arrange
    ib = IB()
    # Act
    started = time.perf_counter()
    ib.connect("127.0.0.1", gateway.port, clientId=1, timeout=5)
    elapsed = time.perf_counter() - started
    # Assert
    try:
        assert elapsed < 5.0  # sanity bound only; the benchmark reports the real figure
        assert ib.client.serverVersion() == 176
        assert ib.managedAccounts() == ["DU1234567"]
        assert ib.positions() == [] and ib.openTrades() == [] and ib.fills() == []
        tags = {v.tag: v.value for v in ib.accountValues()}
        assert tags["NetLiquidation"] == "100000.00"
        assert tags["TotalCashValue"] == "100000.00"
        counters = gateway.counters()
        for name in (
            "reqPositions",
            "reqOpenOrders",
            "reqCompletedOrders",
            "reqAccountUpdates",
            "reqAccountUpdatesMulti",
            "reqExecutions",
        ):
            assert counters[f"req.{name}"] == 1
    finally:
        ib.disconnect()


@pytest.mark.parametrize(
    ("offered", "expected"),
    [("v157..176", 176), ("v157..178", 178), ("v100..160", 160), ("v176", 176), ("v170..190", 178)],
)
def test_server_picks_highest_common_version(gateway, raw_client, offered, expected):
    client = raw_client(gateway, offered)
    reply = client.read_until(lambda m: len(m) == 2)
    assert int(reply[-1][0]) == expected


def test_version_range_without_overlap_is_refused(gateway, raw_client):
    client = raw_client(gateway, "v100..150")
    assert client.closed_by_peer()
    assert gateway.counters()["sessions.version_mismatch"] == 1


def test_start_api_sends_accounts_next_id_and_farm_status(gateway, raw_client):
    client = raw_client(gateway)
    client.read_until(lambda m: len(m) == 2)
    client.send([71, 2, 5, ""])
    msgs = client.read_until(lambda m: m[:1] == ["4"] and m[3] == "2158")
    assert ["15", "1", "DU1234567"] in msgs
    assert ["9", "1", "1"] in msgs
    codes = [m[3] for m in msgs if m[0] == "4"]
    assert codes == ["2104", "2106", "2158"]


def test_current_time_is_the_simulated_clock(gateway, ib):
    before = gateway.clock.now().replace(microsecond=0)  # IB's time is whole seconds
    t = ib.reqCurrentTime()
    after = gateway.clock.now()
    assert before <= t <= after


@pytest.mark.parametrize(("client_id", "next_id"), [
    (1, "42"),  # the client that used 41 continues above it, after a reconnect too
    (2, "1"),  # another client id has its own sequence, as at IB
])
def test_next_valid_id_is_above_every_order_id_the_client_used(
    make_gateway, make_ib, raw_client, until, client_id, next_id
):
    # Arrange: client 1 rests an order under the id it chose, 41, and disconnects
    gateway = make_gateway(tick_interval_s=30.0)
    ib = make_ib(gateway)
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    order = LimitOrder("BUY", 1, 1.00)
    order.orderId = 41
    trade = ib.placeOrder(spy, order)
    assert until(ib, lambda: trade.orderStatus.status == "Submitted", 5)
    ib.disconnect()
    # Act: a client starts, then asks again with reqIds
    other = raw_client(gateway)
    at_start = other.start_api(client_id)[-1]
    other.send([8, 1, 1])
    on_request = other.read_until(lambda m: m[0] == "9")[-1]
    # Assert
    assert at_start == on_request == ["9", "1", next_id]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ([999, 1, 2], "505"),  # unknown message id
        (["abc", 1], "505"),  # message id is not a number
        ([9, 8, "notanint"], "320"),  # reqContractDetails with a malformed request id
        ([1, 11, 7], "320"),  # reqMktData cut short
        ([52, 2, 1], "321"),  # reqFundamentalData: known but not simulated
    ],
)
def test_bad_requests_get_an_error_and_the_session_keeps_serving(gateway, raw_client, fields, code):
    client = raw_client(gateway)
    client.start_api(1)
    client.send(fields)
    msgs = client.read_until(lambda m: m[0] == "4" and m[3] not in ("2104", "2106", "2158"))
    assert msgs[-1][3] == code
    client.send([49, 1])  # reqCurrentTime still answered
    assert client.read_until(lambda m: m[0] == "49")[-1][2].isdigit()


def test_garbage_stream_closes_only_that_session(gateway, raw_client, make_ib):
    bad = raw_client(gateway)
    bad.sock.sendall(b"\xff\xff\xff\xff")  # a 4 GiB frame length: a corrupt stream
    assert bad.closed_by_peer()
    ib = make_ib(gateway, client_id=2)
    assert ib.qualifyContracts(Stock("SPY", "SMART", "USD"))[0].conId > 0


def test_request_before_start_api_is_refused_with_an_error(gateway, raw_client):
    client = raw_client(gateway)
    client.read_until(lambda m: len(m) == 2)
    client.send([49, 1])
    assert client.read_until(lambda m: m[0] == "4")[-1][3] == "321"
