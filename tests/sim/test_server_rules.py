"""IB's rules enforced on the wire: message rate (error 100, third breach closes), historical
pacing (error 162), market data lines (error 101) and client ids in use (error 326)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ib_insync import IB, Stock

END = datetime(2026, 11, 17, 21, 0, tzinfo=UTC)  # the close before the start day
STILL = dict(speed=1e-4)
"""Pacing windows run on the simulated clock: at 1e-4 a 2 s window lasts 5.5 wall hours, so a
slow machine cannot let a window expire mid-test; tests move time with clock.jump()."""
PACING_TEXT = (
    "Historical Market Data Service error message:Historical data request pacing violation"
)


def _errors(ib) -> list[tuple[int, int, str]]:
    seen: list[tuple[int, int, str]] = []
    ib.errorEvent += lambda req_id, code, text, contract: seen.append((req_id, code, text))
    return seen


def test_message_rate_errors_then_closes_on_the_third_breach(gateway, raw_client):
    client = raw_client(gateway)
    client.start_api(1)
    errors: list[list[str]] = []
    closed = False
    for _ in range(400):  # bursts of 60 requests until the gateway hangs up (about 2 s)
        for _ in range(60):
            client.send([49, 1])
        msgs, closed = client.drain(timeout=0.05)
        errors += [m for m in msgs if m[0] == "4" and m[3] == "100"]
        if closed:
            break
    assert closed
    assert len(errors) == 3
    assert errors[0][4].startswith(
        "Max rate of messages per second has been exceeded:max=50 rec=51 (1)"
    )
    counters = gateway.counters()
    assert counters["violation.msg_rate"] == 3
    assert counters["sessions.closed"] == 1


def test_identical_historical_request_within_15_s_is_a_pacing_violation(make_gateway, make_ib):
    gateway = make_gateway(**STILL)
    ib = make_ib(gateway)
    errors = _errors(ib)
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    first = ib.reqHistoricalData(spy, END, "1 D", "1 min", "TRADES", True)
    gateway.clock.jump(14.9)
    second = ib.reqHistoricalData(spy, END, "1 D", "1 min", "TRADES", True)
    gateway.clock.jump(0.2)  # 15.1 s after the first: allowed again
    third = ib.reqHistoricalData(spy, END, "1 D", "1 min", "TRADES", True)
    assert (len(first), len(second), len(third)) == (390, 0, 390)
    assert [(code, text) for _, code, text in errors] == [(162, PACING_TEXT)]
    assert gateway.counters()["violation.hist_identical"] == 1
    assert gateway.pacing_violations() == 1


def test_sixth_request_for_one_contract_within_2_s_is_a_pacing_violation(make_gateway, make_ib):
    gateway = make_gateway(**STILL)
    ib = make_ib(gateway)
    errors = _errors(ib)
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    sizes = [
        ib.reqHistoricalData(spy, END, f"{s} S", "1 min", "TRADES", True)
        for s in range(600, 4200, 600)
    ]
    assert [len(bars) > 0 for bars in sizes] == [True] * 5 + [False]
    assert [code for _, code, _ in errors] == [162]
    assert gateway.counters()["violation.hist_same_contract"] == 1


def test_more_than_60_historical_requests_in_10_minutes_is_a_pacing_violation(
    make_gateway, make_ib
):
    gateway = make_gateway(**STILL)
    ib = make_ib(gateway)
    errors = _errors(ib)
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    answered = []
    for i in range(61):  # 2.5 simulated seconds apart: only the 10-minute budget can trip
        answered.append(
            len(ib.reqHistoricalData(spy, END, f"{600 + 60 * i} S", "1 min", "TRADES", True))
        )
        gateway.clock.jump(2.5)
    assert all(answered[:60]) and answered[60] == 0
    assert [(code, text) for _, code, text in errors] == [(162, PACING_TEXT)]
    assert gateway.counters()["violation.hist_10min"] == 1


def test_market_data_lines_past_the_limit_get_error_101(make_gateway, make_ib, until):
    gateway = make_gateway(market_data_lines=2)
    ib = make_ib(gateway)
    errors = _errors(ib)
    spy, qqq, iwm = (Stock(s, "SMART", "USD") for s in ("SPY", "QQQ", "IWM"))
    ib.qualifyContracts(spy, qqq, iwm)
    tickers = [ib.reqMktData(c) for c in (spy, qqq, iwm)]
    assert until(ib, lambda: errors, 5)
    assert [(code, text) for _, code, text in errors] == [
        (101, "Max number of tickers has been reached")
    ]
    assert tickers[0].bid > 0 and tickers[1].bid > 0
    ib.cancelMktData(spy)
    again = ib.reqMktData(iwm)
    assert until(ib, lambda: again.bid > 0, 5)
    assert gateway.counters()["violation.mkt_data_lines"] == 1


def test_second_connection_with_a_client_id_in_use_gets_326(gateway, ib):
    other = IB()
    errors = _errors(other)
    with pytest.raises((ConnectionError, TimeoutError, OSError)):
        other.connect("127.0.0.1", gateway.port, clientId=1, timeout=1)  # ib_insync waits it out
    assert (-1, 326) in [(req_id, code) for req_id, code, _ in errors]
    assert gateway.counters()["violation.client_id_in_use"] == 1
    assert ib.isConnected() and ib.reqCurrentTime() is not None


def test_a_hung_up_client_can_still_write_and_then_reads_a_clean_end(gateway, ib, raw_client):
    # Arrange: client id 1 is held by `ib`
    late = raw_client(gateway)
    late.read_until(lambda m: len(m) == 2)
    # Act: IB answers 326 and hangs up; the client, not yet aware, keeps sending
    late.send([71, 2, 1, ""])
    assert late.read_until(lambda m: m[0] == "4")[-1][3] == "326"
    for _ in range(50):
        late.send([49, 1])  # a reset (socket closed with unread input) would fail these writes
    msgs, closed = late.drain(timeout=5)
    # Assert: the late requests are discarded unanswered, the stream ends cleanly
    assert (msgs, closed) == ([], True)
    assert ib.isConnected()
