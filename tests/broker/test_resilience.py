"""Lost connections, refusals, 326, connectivity codes, unanswered requests and the circuit."""

from __future__ import annotations

import pytest
from broker_harness import SYMBOLS, barrier, bracket, near_the_money, ready, stats

from bot import messages as m


def connected(probe, reason: str = "", timeout: float = 10.0) -> m.ConnectionChanged:
    return probe.expect(
        m.ConnectionChanged,
        lambda e: e.state == "connected" and reason in e.reason,
        timeout=timeout,
    )


def test_dropped_and_refused_connection_reconnects_restores_and_never_resends(
    gateway, broker
) -> None:
    # Arrange: connected, bars flowing, a bracket working at the gateway
    gw = gateway()
    ref, probe = broker(gw)
    ready(probe, SYMBOLS)
    ref.tell(bracket("I9", near_the_money(gw, "SPY"), entry=0.05, take_profit=50.0, stop=0.01))
    probe.expect(
        m.OrderStatusChanged,
        lambda e: e.client_order_id == "I9-stop" and e.status is m.OrderStatus.ACKED,
    )
    before = gw.counters()
    # Act: the gateway restarts: every socket dropped, new ones refused for a while
    gw.faults.refuse_connections(1.5)
    gw.faults.drop_all_connections()
    # Assert: lost, back by itself, every subscription restored with a fresh backfill
    probe.expect(m.ConnectionChanged, lambda e: e.state == "disconnected")
    back = connected(probe, "reconnected", timeout=15)
    for symbol in SYMBOLS:  # today's bars only come as backfill from the new subscription
        probe.expect(
            m.BarClosed,
            lambda e, s=symbol: e.bar.symbol == s and e.backfill and e.bar.start >= gw.epoch,
        )
        probe.expect(
            m.QuoteUpdated,
            lambda e, s=symbol, t=back.ts: e.quote.instrument == m.Stock(s) and e.quote.ts > t,
        )
    # the working orders were re-adopted, and a repeated command sends nothing
    ref.tell(bracket("I9", near_the_money(gw, "SPY"), entry=0.05, take_profit=50.0, stop=0.01))
    barrier(ref, probe, "QQQ")
    after = gw.counters()
    assert after["orders.placed"] == before["orders.placed"] == 3
    assert after["req.reqHistoricalData"] == before["req.reqHistoricalData"] + len(SYMBOLS)
    assert after["req.reqMktData"] == before["req.reqMktData"] + len(SYMBOLS)
    assert after["sessions.opened"] == 2
    figures = stats(ref, probe)
    assert (figures["reconnects"], figures["connection"], figures["client_id"]) == (
        1,
        "connected",
        17,
    )


def test_a_socket_closed_while_connecting_fails_the_attempt_at_once_not_at_its_timeout(
    gateway, broker
) -> None:
    # Arrange: connected; then the gateway restarts and its API hangs up on every new
    # connection for a while (accepted, closed before the handshake is answered)
    gw = gateway()
    ref, probe = broker(gw, connect_timeout_s=60.0, reconnect_min_s=0.1, reconnect_max_s=0.2)
    ready(probe, SYMBOLS)
    gw.faults.hang_up_connections(1.0)

    # Act
    gw.faults.drop_all_connections()

    # Assert: back within seconds, well before one 60-second connect timeout ran out
    probe.expect(m.ConnectionChanged, lambda e: e.state == "disconnected")
    connected(probe, "reconnected", timeout=15)
    assert gw.counters()["sessions.refused"] >= 1


def test_client_id_in_use_moves_to_the_next_id(gateway, broker) -> None:
    gw = gateway()
    gw.faults.hold_client_id(17)
    ref, probe = broker(gw, client_id_wait_s=0)
    event = connected(probe)
    assert event.client_id == 18
    assert stats(ref, probe)["client_id"] == 18
    assert gw.counters()["violation.client_id_in_use"] == 1
    assert probe.expect(m.BrokerErrorReported, lambda e: e.code == 326).request_id == -1


def test_client_id_in_use_is_waited_for_before_moving(gateway, broker) -> None:
    # Arrange: the old session still holds 17 (IB frees it about a minute after a crash)
    gw = gateway()
    gw.faults.hold_client_id(17)
    ref, probe = broker(gw, client_id_wait_s=30)

    # Act: IB refuses 17 once, then frees it
    probe.expect(m.BrokerErrorReported, lambda e: e.code == 326)
    gw.faults.release_client_id(17)

    # Assert: the bot came back as 17, so it can still cancel the orders it placed as 17
    assert connected(probe).client_id == 17
    assert stats(ref, probe)["client_id"] == 17


def test_1101_resubmits_every_bar_and_quote_subscription(gateway, broker) -> None:
    gw = gateway()
    ref, probe = broker(gw)
    ready(probe, SYMBOLS)
    before = gw.counters()
    gw.faults.connectivity(1101)
    restored = probe.expect(m.ConnectionChanged, lambda e: e.state == "restored")
    barrier(ref, probe, "IWM")
    after = gw.counters()
    assert restored.reason.startswith("1101")
    assert after["req.reqHistoricalData"] - before["req.reqHistoricalData"] == len(SYMBOLS)
    assert after["req.reqMktData"] - before["req.reqMktData"] == len(SYMBOLS)
    assert after["req.cancelMktData"] - before.get("req.cancelMktData", 0) == len(SYMBOLS)
    assert after["sessions.opened"] == 1


@pytest.mark.parametrize(("code", "state"), [(1100, "stale"), (2110, "stale"), (1102, "restored")])
def test_connectivity_codes_change_state_without_dropping_the_socket(
    gateway, broker, code: int, state: str
) -> None:
    gw = gateway()
    ref, probe = broker(gw)
    ready(probe, SYMBOLS)
    before = gw.counters()
    gw.faults.connectivity(code)
    event = probe.expect(m.ConnectionChanged, lambda e: e.state == state)
    barrier(ref, probe, "SPY")
    after = gw.counters()
    assert event.reason.startswith(str(code))
    assert (after["sessions.opened"], after["req.reqHistoricalData"]) == (
        1,
        before["req.reqHistoricalData"],
    )
    assert stats(ref, probe)["connection"] == ("stale" if state == "stale" else "connected")


def test_farm_status_is_only_logged(gateway, broker) -> None:
    gw = gateway()
    ref, probe = broker(gw)
    connected(probe)
    gw.faults.farm_status(2103)
    barrier(ref, probe, "SPY")
    probe.drain()
    assert probe.of(m.BrokerErrorReported) == []
    assert [e.state for e in probe.of(m.ConnectionChanged)] == ["connected"]


def test_unanswered_requests_time_out_open_the_circuit_which_closes_on_success(
    gateway, broker
) -> None:
    # Arrange: two failures open the circuit; short timeouts and cooldown keep the test quick
    gw = gateway()
    ref, probe = broker(gw, request_timeout_s=0.6, circuit_failures=2, circuit_cooldown_s=0.5)
    connected(probe)
    barrier(ref, probe, "QQQ")  # also learns SPY's neighbour's conId; SPY's is learned below
    gw.faults.never_answer("reqSecDefOptParams")
    # Act: the same chain twice, never answered
    for cid in ("c-1", "c-2"):
        ref.tell(m.RequestChain(cid, "SPY"))
        timed_out = probe.expect(
            m.RequestTimedOut, lambda e, c=cid: e.correlation_id == c, timeout=5
        )
        assert (timed_out.request, timed_out.symbol, timed_out.timeout_s) == (
            "reqSecDefOptParams",
            "SPY",
            0.6,
        )
    opened = stats(ref, probe)
    # the gateway answers again: after the cooldown one trial goes out and its success closes it
    gw.faults.answer_again("reqSecDefOptParams")
    ref.tell(m.RequestChain("c-3", "SPY"))
    chain = probe.expect(m.ChainReceived, lambda e: e.correlation_id == "c-3", timeout=5)
    closed = stats(ref, probe)
    # Assert
    assert (opened["circuit"], opened["circuit_failures"], opened["timeouts"]) == ("open", 2, 2)
    assert (closed["circuit"], closed["circuit_failures"]) == ("closed", 0)
    assert chain.chain.symbol == "SPY" and len(chain.chain.expirations) > 0


def test_a_bar_subscription_that_got_no_answer_is_tried_again(gateway, broker) -> None:
    gw = gateway()
    gw.faults.never_answer("reqHistoricalData")
    # the retry comes one timeout after the failure: the gateway must answer again before that
    ref, probe = broker(gw, request_timeout_s=1.0)
    timed_out = probe.expect(m.RequestTimedOut, lambda e: e.symbol == "SPY", timeout=5)
    gw.faults.answer_again("reqHistoricalData")
    for symbol in SYMBOLS:
        probe.expect(m.BarClosed, lambda e, s=symbol: e.bar.symbol == s and e.backfill, timeout=10)
    assert timed_out.request == "reqHistoricalData"
    assert gw.counters()["req.reqHistoricalData"] >= 2 * len(SYMBOLS)


def test_an_unanswered_underlying_lookup_times_out_every_waiter_and_is_asked_again(
    gateway, broker
) -> None:
    # Arrange: IB names no contract at first; the quote streams and bars ask for the conIds
    gw = gateway()
    gw.faults.never_answer("reqContractDetails")
    ref, probe = broker(gw, request_timeout_s=1.0)
    connected(probe)

    # Act: a chain waits on the same SPY lookup the stream and bars started
    ref.tell(m.RequestChain("c-1", "SPY"))
    timed_out = probe.expect(m.RequestTimedOut, lambda e: e.correlation_id == "c-1", timeout=5)
    gw.faults.answer_again("reqContractDetails")

    # Assert: the chain heard of its timeout; once IB answers, every symbol is qualified and
    # its bars arrive (no reqMktData or bars went out for an unqualified underlying)
    assert (timed_out.request, timed_out.symbol) == ("reqContractDetails", "SPY")
    for symbol in SYMBOLS:
        probe.expect(m.BarClosed, lambda e, s=symbol: e.bar.symbol == s and e.backfill, timeout=10)
    assert gw.counters()["req.reqContractDetails"] >= 2 * len(SYMBOLS)
