"""After every connect the broker publishes the mode, then what IB holds (for reconciliation)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from broker_harness import bracket, near_the_money

from bot import messages as m

S = m.OrderStatus


def test_a_new_client_id_sees_the_orders_fills_and_positions_of_the_previous_one(gateway, broker):
    # Arrange: one session buys with a bracket whose exits stay working, then goes away
    gw = gateway(speed=1.0)
    first, probe = broker(gw, kind="ib", dry_run=False, client_id=17)
    assert probe.expect(m.ModeDecided).mode == "paper"
    option = near_the_money(gw, "SPY")
    ask = gw.market.option_quote(gw.contracts.by_con_id(option.con_id)).ask
    first.tell(
        bracket("I1", option, entry=round(ask + 0.5, 2), take_profit=round(ask * 3, 2), stop=0.01)
    )
    fill = probe.expect(m.OrderFilled, lambda e: e.client_order_id == "I1-entry", timeout=10)
    probe.expect(m.OrderStatusChanged, lambda e: e.client_order_id == "I1-stop", timeout=10)
    first.stop(timeout=10)

    # Act: the restarted bot comes back under another client id (326 after a crash)
    _, again = broker(gw, kind="ib", dry_run=False, client_id=18)
    mode = again.expect(m.ModeDecided)
    snapshot = again.expect(m.BrokerSnapshot, timeout=10)

    # Assert
    assert (mode.mode, mode.account, snapshot.first) == ("paper", "DU1234567", True)
    working = {o.client_order_id: o for o in snapshot.orders if o.status not in m.DONE_STATUSES}
    assert set(working) == {"I1-tp", "I1-stop"}
    assert working["I1-tp"].contract_key == option.key
    assert [(f.client_order_id, f.exec_id, f.quantity, f.side) for f in snapshot.fills] == [
        ("I1-entry", fill.exec_id, 2.0, m.Side.BUY)
    ]
    assert snapshot.fills[0].commission > 0
    assert [(p.description, p.quantity) for p in snapshot.positions] == [(option.key, 2.0)]
    assert again.history.index(mode) < again.history.index(snapshot)


def test_shadow_mode_is_decided_without_sending_anything(gateway, broker):
    gw = gateway(speed=1.0)
    _, probe = broker(gw, kind="ib", dry_run=True)

    mode = probe.expect(m.ModeDecided)
    snapshot = probe.expect(m.BrokerSnapshot, timeout=10)

    assert (mode.mode, snapshot.orders, snapshot.positions) == ("shadow", (), ())
    assert gw.counters().get("orders.placed", 0) == 0


def test_the_snapshot_carries_ibs_server_time_not_the_hosts(gateway, broker):
    # the simulated exchange starts at a session open days before, and runs 60x the host's pace
    gw = gateway(speed=60.0, start=datetime(2026, 11, 20, 14, 30, tzinfo=UTC))
    _, probe = broker(gw, kind="ib", dry_run=False)

    snapshot = probe.expect(m.BrokerSnapshot, timeout=10)

    gateway_now = gw.clock.now()
    assert snapshot.market_ts is not None
    assert abs((gateway_now - snapshot.market_ts).total_seconds()) < 600  # 10 s of host time
    assert snapshot.market_ts.date() == date(2026, 11, 20)  # the exchange's, not the host's
    assert snapshot.ts.date() != date(2026, 11, 20)
