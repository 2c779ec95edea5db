"""A BrokerActor restarted by the supervisor keeps what belongs to the process (BrokerMemory):
first-connect rules are not applied again mid-run, and dry-run shadow orders live on."""

from __future__ import annotations

from broker_harness import bracket, near_the_money

from actors.broker.memory import BrokerMemory
from bot import messages as m

S = m.OrderStatus


def test_a_restarted_broker_does_not_publish_a_first_snapshot_again(gateway, broker) -> None:
    gw = gateway(speed=1.0)
    memory = BrokerMemory()
    first, probe = broker(gw, kind="ib", dry_run=False, client_id=41, memory=memory)
    assert probe.expect(m.BrokerSnapshot, timeout=15).first is True
    first.stop(timeout=10)

    _, again = broker(gw, kind="ib", dry_run=False, client_id=41, memory=memory)

    assert again.expect(m.BrokerSnapshot, timeout=15).first is False


def test_shadow_orders_survive_a_broker_restart(gateway, broker) -> None:
    # Arrange: a dry-run bracket whose entry rests in the shadow book, then the actor dies
    gw = gateway(speed=1.0)
    memory = BrokerMemory()
    first, probe = broker(gw, kind="ib", dry_run=True, memory=memory)
    probe.expect(m.BrokerSnapshot, timeout=15)
    first.tell(bracket("R1", near_the_money(gw, "SPY"), entry=0.05, take_profit=50.0, stop=0.01))
    probe.expect(m.OrderStatusChanged, lambda e: e.client_order_id == "R1-entry")
    first.stop(timeout=10)

    # Act: the restarted actor is asked to cancel the resting entry
    ref, again = broker(gw, kind="ib", dry_run=True, memory=memory)
    again.expect(m.BrokerSnapshot, timeout=15)
    ref.tell(m.CancelOrder("c-R1", "R1-entry"))

    # Assert: the shadow book still knew it: the entry and its children are cancelled
    cancelled = {
        again.expect(m.OrderStatusChanged,
                     lambda e, r=ref_: e.client_order_id == r and e.status is S.CANCELLED).client_order_id
        for ref_ in ("R1-entry", "R1-tp", "R1-stop")
    }
    assert cancelled == {"R1-entry", "R1-tp", "R1-stop"}
    assert gw.counters().get("orders.placed", 0) == 0


def test_orders_left_in_a_stopped_brokers_mailbox_are_handled_by_the_next_one(gateway, broker):
    # Arrange: what a broker that died with mail waiting leaves in the process's memory
    gw = gateway(speed=1.0)
    option = near_the_money(gw, "SPY")
    memory = BrokerMemory()
    exit_order = m.SubmitOrder("c-R2", "R2", option,
                               m.OrderSpec("R2.sl1", m.Side.SELL, 1, m.OrderType.STOP,
                                           stop_price=0.01))
    entry = bracket("R3", option, entry=0.05, take_profit=50.0, stop=0.01)
    memory.kept.extend([exit_order, entry])

    # Act: the next broker actor connects
    _, probe = broker(gw, kind="ib", dry_run=False, client_id=43, memory=memory)
    probe.expect(m.BrokerSnapshot, timeout=15)

    # Assert: the exit is placed, the stale entry answered rejected, nothing kept any more
    # acked: the gateway has placed it (the broker's own SUBMITTED comes before IB sees it)
    probe.expect(m.OrderStatusChanged,
                 lambda e: e.client_order_id == "R2.sl1" and e.status is S.ACKED, timeout=10)
    rejected = {probe.expect(m.OrderRejected, lambda e, r=r: e.client_order_id == r).client_order_id
                for r in ("R3-entry", "R3-tp", "R3-stop")}
    assert rejected == {"R3-entry", "R3-tp", "R3-stop"}
    assert gw.counters()["orders.placed"] == 1
    assert memory.kept == []
