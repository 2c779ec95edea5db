"""Orders against the simulated gateway: a bracket's whole life, rejects, cancels, no duplicates."""

from __future__ import annotations

import pytest
from broker_harness import barrier, bracket, near_the_money

from bot import messages as m

S = m.OrderStatus


def status_of(
    probe, ref_id: str, status: m.OrderStatus, timeout: float = 10.0
) -> m.OrderStatusChanged:
    return probe.expect(
        m.OrderStatusChanged,
        lambda e: e.client_order_id == ref_id and e.status is status,
        timeout=timeout,
    )


def test_bracket_full_life_take_profit_fills_and_stop_is_cancelled(gateway, broker) -> None:
    # Arrange: an entry that crosses the ask, a take-profit below the bid, a stop far away
    gw = gateway(speed=1.0)
    ref, probe = broker(gw)
    probe.expect(m.ConnectionChanged, lambda e: e.state == "connected")
    option = near_the_money(gw, "SPY")
    ask = gw.market.option_quote(gw.contracts.by_con_id(option.con_id)).ask
    cmd = bracket("I1", option, entry=round(ask + 0.5, 2), take_profit=0.05, stop=0.01)
    # Act
    ref.tell(cmd)
    # Assert: acks, the parent's fill, the take-profit's fill, the stop cancelled by OCA
    for leg in ("I1-entry", "I1-tp", "I1-stop"):
        assert (
            probe.expect(
                m.OrderStatusChanged, lambda e, r=leg: e.client_order_id == r
            ).correlation_id
            == "c-I1"
        )
    entry_fill = probe.expect(m.OrderFilled, lambda e: e.client_order_id == "I1-entry")
    tp_fill = probe.expect(m.OrderFilled, lambda e: e.client_order_id == "I1-tp")
    stop_done = status_of(probe, "I1-stop", S.CANCELLED)
    entry_done = status_of(probe, "I1-entry", S.FILLED)
    assert (entry_fill.side, entry_fill.quantity, entry_fill.contract.key) == (
        m.Side.BUY,
        2.0,
        option.key,
    )
    assert entry_fill.price == pytest.approx(ask, abs=0.05)
    assert (tp_fill.side, tp_fill.quantity, tp_fill.correlation_id) == (m.Side.SELL, 2.0, "c-I1")
    assert 0.05 <= tp_fill.price < entry_fill.price
    assert entry_fill.commission > 0 and tp_fill.commission > 0
    assert (entry_done.filled, entry_done.remaining, entry_done.avg_fill_price) == (
        2.0,
        0.0,
        entry_fill.price,
    )
    assert stop_done.correlation_id == "c-I1"
    assert probe.history.index(entry_fill) < probe.history.index(
        entry_done
    )  # fills first, then the status
    assert gw.counters()["orders.placed"] == 3


def test_the_same_client_order_ids_are_never_sent_twice(gateway, broker) -> None:
    gw = gateway(speed=1.0)
    ref, probe = broker(gw)
    probe.expect(m.ConnectionChanged, lambda e: e.state == "connected")
    cmd = bracket("I2", near_the_money(gw, "SPY"), entry=0.05, take_profit=50.0, stop=0.01)
    ref.tell(cmd)
    status_of(probe, "I2-stop", S.ACKED)
    ref.tell(cmd)
    barrier(ref, probe, "QQQ")
    assert gw.counters()["orders.placed"] == 3


def test_cancelling_the_parent_cancels_the_whole_bracket(gateway, broker) -> None:
    gw = gateway(speed=1.0)
    ref, probe = broker(gw)
    probe.expect(m.ConnectionChanged, lambda e: e.state == "connected")
    ref.tell(bracket("I3", near_the_money(gw, "SPY"), entry=0.05, take_profit=50.0, stop=0.01))
    status_of(probe, "I3-entry", S.ACKED)
    ref.tell(m.CancelOrder("c-cancel", "I3-entry"))
    for leg in ("I3-entry", "I3-tp", "I3-stop"):
        assert status_of(probe, leg, S.CANCELLED).correlation_id == "c-I3"
    barrier(ref, probe, "QQQ")
    probe.drain()
    assert probe.of(m.BrokerErrorReported) == []  # IB's 202 confirms our own cancel: no error


def test_a_malformed_order_is_rejected_before_it_reaches_ib(gateway, broker) -> None:
    gw = gateway(speed=1.0)
    ref, probe = broker(gw)
    probe.expect(m.ConnectionChanged, lambda e: e.state == "connected")
    spec = m.OrderSpec("I5-exit", m.Side.SELL, 1, m.OrderType.LIMIT)  # no limit price
    ref.tell(m.SubmitOrder("c-I5", "I5", near_the_money(gw, "SPY"), spec))
    rejected = probe.expect(m.OrderRejected)
    barrier(ref, probe, "QQQ")
    assert (rejected.client_order_id, rejected.code) == ("I5-exit", 0)
    assert "needs limit_price" in rejected.reason
    assert ref.is_alive()
    assert gw.counters().get("orders.placed", 0) == 0


def test_a_rejected_order_becomes_order_rejected_with_ibs_reason(gateway, broker) -> None:
    gw = gateway(speed=1.0)
    ref, probe = broker(gw)
    probe.expect(m.ConnectionChanged, lambda e: e.state == "connected")
    gw.faults.reject_next_order("Insufficient funds")
    spec = m.OrderSpec("I4-exit", m.Side.SELL, 1, m.OrderType.LIMIT, limit_price=9.99)
    ref.tell(m.SubmitOrder("c-I4", "I4", near_the_money(gw, "SPY"), spec))
    rejected = probe.expect(m.OrderRejected)
    assert (rejected.correlation_id, rejected.client_order_id, rejected.code) == (
        "c-I4",
        "I4-exit",
        201,
    )
    assert "Insufficient funds" in rejected.reason
    assert status_of(probe, "I4-exit", S.REJECTED).correlation_id == "c-I4"


def test_positions_arrive_as_events_when_a_fill_changes_them(gateway, broker) -> None:
    gw = gateway(speed=1.0)
    ref, probe = broker(gw)
    probe.expect(m.ConnectionChanged, lambda e: e.state == "connected")
    option = near_the_money(gw, "SPY")
    ask = gw.market.option_quote(gw.contracts.by_con_id(option.con_id)).ask

    ref.tell(bracket("P1", option, entry=round(ask + 0.5, 2), take_profit=50.0, stop=0.01))

    fill = probe.expect(m.OrderFilled, lambda e: e.client_order_id == "P1-entry")
    changed = probe.expect(m.PositionChanged, lambda e: e.position.quantity == 2.0)
    assert changed.position.contract is not None
    assert changed.position.contract.key == option.key
    # IB's avgCost of an option is per contract: premium x 100, plus the commission share
    assert changed.position.avg_cost == pytest.approx(fill.price * 100 + fill.commission / 2, abs=0.01)


def test_a_bracket_entry_cancelled_before_ibs_ack_is_reported_as_ib_says_not_cancelled(
        gateway, broker) -> None:
    # Arrange: a marketable entry whose placeOrder the gateway handles half a second late
    gw = gateway(speed=1.0)
    ref, probe = broker(gw)
    probe.expect(m.ConnectionChanged, lambda e: e.state == "connected")
    option = near_the_money(gw, "SPY")
    ask = gw.market.option_quote(gw.contracts.by_con_id(option.con_id)).ask
    gw.faults.delay_next("placeOrder", 0.5)
    ref.tell(bracket("I9", option, entry=round(ask + 0.5, 2), take_profit=50.0, stop=0.01))

    # Act: cancelled before IB acknowledged it (an ack timeout); IB fills it first
    ref.tell(m.CancelOrder("c-cancel", "I9-entry"))

    # Assert: the entry is reported filled, never cancelled (ib_insync's own guess for an
    # unacknowledged order sent with transmit=False is not IB's word)
    status_of(probe, "I9-entry", S.FILLED)
    barrier(ref, probe, "QQQ")
    probe.drain()
    assert [e.status for e in probe.of(m.OrderStatusChanged)
            if e.client_order_id == "I9-entry" and e.status is S.CANCELLED] == []
