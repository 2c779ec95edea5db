"""Cancels are kept until IB confirms them: sent again after a reconnect and after a broker
restart, withheld in read-only, and never sent under a client id that did not place the order."""

from __future__ import annotations

from broker_harness import barrier, bracket, near_the_money, stats
from loguru import logger

from actors.broker.cancels import NEVER_REACHED_IB
from actors.broker.memory import BrokerMemory
from bot import messages as m

S = m.OrderStatus


def resting_bracket(gw, intent: str) -> m.SubmitBracket:
    """A bracket whose entry rests far below the market (never fills; its children wait)."""
    return bracket(intent, near_the_money(gw, "SPY"), entry=0.05, take_profit=50.0, stop=0.01)


def acked(probe, ref: str) -> m.OrderStatusChanged:
    return probe.expect(
        m.OrderStatusChanged, lambda e: e.client_order_id == ref and e.status is S.ACKED
    )


def test_a_cancel_asked_while_disconnected_is_sent_after_the_reconnect(gateway, broker) -> None:
    # Arrange: a working entry, then the socket drops and the gateway refuses for a while
    gw = gateway(speed=1.0)
    ref, probe = broker(gw, kind="ib", dry_run=False, client_id=21)
    probe.expect(m.BrokerSnapshot)
    ref.tell(resting_bracket(gw, "K1"))
    acked(probe, "K1-entry")
    gw.faults.refuse_connections(1.0)
    gw.faults.drop_all_connections()
    probe.expect(m.ConnectionChanged, lambda e: e.state == "disconnected")

    # Act: execution cancels the entry while there is no socket
    ref.tell(m.CancelOrder("c-K1", "K1-entry"))

    # Assert: after the reconnect IB confirms the cancel, and nothing is left pending
    probe.expect(m.ConnectionChanged, lambda e: e.state == "connected", timeout=15)
    again = probe.expect(m.BrokerSnapshot, lambda e: not e.first, timeout=15)
    assert {"K1-entry", "K1-tp", "K1-stop"} <= again.handled  # what the journal may judge
    probe.expect(
        m.OrderStatusChanged,
        lambda e: e.client_order_id == "K1-entry" and e.status is S.CANCELLED,
        timeout=15,
    )
    assert gw.counters()["req.cancelOrder"] >= 1
    assert stats(ref, probe)["pending_cancels"] == []


def test_a_pending_cancel_survives_a_broker_restart(gateway, broker) -> None:
    # Arrange: the cancel arrives while the gateway refuses connections, then the actor stops
    gw = gateway(speed=1.0)
    memory = BrokerMemory()
    first, probe = broker(gw, kind="ib", dry_run=False, client_id=22, memory=memory)
    probe.expect(m.BrokerSnapshot)
    first.tell(resting_bracket(gw, "K2"))
    acked(probe, "K2-entry")
    gw.faults.refuse_connections(60.0)
    gw.faults.drop_all_connections()
    probe.expect(m.ConnectionChanged, lambda e: e.state == "disconnected")
    first.tell(m.CancelOrder("c-K2", "K2-entry"))
    assert stats(first, probe)["pending_cancels"] == ["K2-entry"]
    first.stop(timeout=10)
    gw.faults.refuse_connections(0.0)

    # Act: the supervisor's restart, with the process's memory
    second, again = broker(gw, kind="ib", dry_run=False, client_id=22, memory=memory)

    # Assert: the new actor sends the cancel and IB confirms it
    snapshot = again.expect(m.BrokerSnapshot, timeout=15)
    again.expect(
        m.OrderStatusChanged,
        lambda e: e.client_order_id == "K2-entry" and e.status is S.CANCELLED,
        timeout=15,
    )
    assert snapshot.first is False  # the process published its first snapshot already
    assert stats(second, again)["pending_cancels"] == []


def test_read_only_never_cancels_and_says_what_it_would_do(gateway, broker) -> None:
    # Arrange: a position's protection works at IB, placed by an earlier session of ours
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(message.record["message"]), level="INFO")
    gw = gateway(speed=1.0)
    first, probe = broker(gw, kind="ib", dry_run=False, client_id=23)
    probe.expect(m.BrokerSnapshot)
    first.tell(resting_bracket(gw, "K3"))
    acked(probe, "K3-entry")
    first.stop(timeout=10)
    ref, again = broker(gw, kind="ib", dry_run=False, client_id=23, read_only=True)
    again.expect(m.BrokerSnapshot, timeout=15)

    # Act
    ref.tell(m.CancelOrder("c-K3", "K3-entry"))
    barrier(ref, again, "QQQ")
    logger.remove(sink)

    # Assert: no cancel reached IB, the order still works, and the log says what was withheld
    assert gw.counters().get("req.cancelOrder", 0) == 0
    assert any(o.order.order_ref == "K3-entry" for o in gw.engine.open_orders())
    assert [line for line in lines if line.startswith("order_withheld")] == [
        "order_withheld reason=read_only action=cancel client_order_id=K3-entry sent=no"
    ]


def test_orders_of_an_earlier_client_id_are_reported_and_never_cancelled_under_another(
    gateway, broker
) -> None:
    # Arrange: client 24 placed a bracket; the bot comes back as client 25 (after a 326)
    gw = gateway(speed=1.0)
    first, probe = broker(gw, kind="ib", dry_run=False, client_id=24)
    probe.expect(m.BrokerSnapshot)
    first.tell(resting_bracket(gw, "K4"))
    acked(probe, "K4-entry")
    first.stop(timeout=10)
    ref, again = broker(gw, kind="ib", dry_run=False, client_id=25)
    again.expect(m.BrokerSnapshot, timeout=15)

    # Act
    ref.tell(m.CancelOrder("c-K4", "K4-entry"))
    barrier(ref, again, "QQQ")

    # Assert: reported as orphans of client 24, the cancel kept (IB would refuse it, or take
    # the order id for one of client 25's own orders), nothing sent
    figures = stats(ref, again)
    assert figures["orphan_orders"] == {"24": ["K4-entry", "K4-tp", "K4-stop"]}
    assert figures["pending_cancels"] == ["K4-entry"]
    assert gw.counters().get("req.cancelOrder", 0) == 0


def test_an_order_lost_with_the_connection_is_reported_cancelled_once_the_snapshot_is_complete(
    gateway, broker
) -> None:
    # Arrange: the bracket's three placeOrder messages are lost, then the socket drops
    gw = gateway(speed=1.0)
    ref, probe = broker(gw, kind="ib", dry_run=False, client_id=26)
    probe.expect(m.BrokerSnapshot)
    gw.faults.drop_next("placeOrder", 3)
    ref.tell(resting_bracket(gw, "K5"))
    barrier(ref, probe, "QQQ")
    gw.faults.drop_all_connections()
    probe.expect(m.ConnectionChanged, lambda e: e.state == "disconnected")

    # Act: execution cancels the entry it never heard acknowledged
    ref.tell(m.CancelOrder("c-K5", "K5-entry"))

    # Assert: after the reconnect's complete snapshot IB has no such order: it is done
    again = probe.expect(m.BrokerSnapshot, lambda e: not e.first, timeout=15)
    assert again.orders == ()  # IB holds none of the three
    done = probe.expect(
        m.OrderStatusChanged,
        lambda e: e.client_order_id == "K5-entry" and e.status is S.CANCELLED,
        timeout=15,
    )
    assert done.reason == NEVER_REACHED_IB
    assert gw.counters().get("req.cancelOrder", 0) == 0
    assert stats(ref, probe)["pending_cancels"] == []


def test_a_cancel_of_an_order_ib_already_ended_repeats_ibs_final_status(gateway, broker) -> None:
    # Arrange: an entry IB has cancelled already (whoever asks again missed that status)
    gw = gateway(speed=1.0)
    ref, probe = broker(gw, kind="ib", dry_run=False, client_id=25)
    probe.expect(m.BrokerSnapshot)
    ref.tell(resting_bracket(gw, "K5"))
    acked(probe, "K5-entry")
    ref.tell(m.CancelOrder("c-K5", "K5-entry"))
    probe.expect(m.OrderStatusChanged,
                 lambda e: e.client_order_id == "K5-entry" and e.status is S.CANCELLED)

    # Act
    ref.tell(m.CancelOrder("c-K5", "K5-entry"))

    # Assert: IB's final word again, and nothing left pending
    again = probe.expect(m.OrderStatusChanged,
                         lambda e: e.client_order_id == "K5-entry" and e.status is S.CANCELLED)
    assert again.correlation_id == "c-K5"
    assert stats(ref, probe)["pending_cancels"] == []


def test_a_cancel_ib_never_answered_on_a_live_socket_is_sent_again(gateway, broker) -> None:
    # Arrange: a working entry; the gateway will lose the next cancel (no answer at all)
    gw = gateway(speed=1.0)
    ref, probe = broker(gw, kind="ib", dry_run=False, client_id=24,
                        execution={"cancel_timeout_s": 0.5})
    probe.expect(m.BrokerSnapshot)
    ref.tell(resting_bracket(gw, "K5"))
    acked(probe, "K5-entry")
    gw.faults.drop_next("cancelOrder")

    # Act: a cancel nobody else will repeat (the journal's, for an intent already finished)
    ref.tell(m.CancelOrder("c-K5", "K5-entry"))

    # Assert: sent again after twice the cancel timeout, and IB confirms it
    probe.expect(
        m.OrderStatusChanged,
        lambda e: e.client_order_id == "K5-entry" and e.status is S.CANCELLED,
        timeout=10,
    )
    assert gw.counters()["req.cancelOrder"] == 2  # the lost one and the one sent again
    assert stats(ref, probe)["pending_cancels"] == []


def test_an_order_ib_never_got_is_found_by_asking_ib_when_its_cancels_go_unanswered(
    gateway, broker
) -> None:
    # Arrange: the gateway loses our next order on its way, and the next cancels too
    stop = m.OrderSpec("K6.sl1", m.Side.SELL, 1, m.OrderType.STOP, stop_price=0.05)
    gw, ref, probe = placed_and_lost(gateway, broker, stop, cancels_lost=2)

    # Act: execution cancels it (no answer) and sends the cancel again (no answer)
    ref.tell(m.CancelOrder("c-K6", "K6.sl1"))
    ref.tell(m.CancelOrder("c-K6", "K6.sl1"))

    # Assert: IB's open orders do not list it and IB never acknowledged it: it never reached
    # IB, so it cannot fill; the trade waiting on it hears so without waiting for a reconnect
    assert_never_reached(ref, probe, "K6.sl1")
    assert gw.counters()["sessions.opened"] == 1


def test_an_order_ib_never_got_is_found_missing_at_its_first_cancel_even_if_that_is_lost(
    gateway, broker
) -> None:
    # Arrange: the gateway loses our next order on its way, and the cancel after it
    buy_back = m.OrderSpec("K7.cover1", m.Side.BUY, 1, m.OrderType.MARKET)
    _, ref, probe = placed_and_lost(gateway, broker, buy_back, cancels_lost=1)

    # Act: execution cancels it once (it was never acknowledged); that cancel is lost too
    ref.tell(m.CancelOrder("c-K7", "K7.cover1"))

    # Assert: asked at once, IB does not list it: it never reached IB, and the next buy-back
    # need not wait for a cancel answer that will never come (chaos seed 97030)
    assert_never_reached(ref, probe, "K7.cover1")


def placed_and_lost(gateway, broker, spec: m.OrderSpec, cancels_lost: int):
    """A connected broker (client id 25) whose gateway loses ``spec`` on its way and the next
    ``cancels_lost`` cancels; ``spec`` is sent under the intent its client order id names."""
    gw = gateway(speed=1.0)
    ref, probe = broker(gw, kind="ib", dry_run=False, client_id=25,
                        execution={"cancel_timeout_s": 30.0})
    probe.expect(m.BrokerSnapshot)
    gw.faults.drop_next("placeOrder")
    gw.faults.drop_next("cancelOrder", cancels_lost)
    intent = m.intent_of(spec.client_order_id)
    ref.tell(m.SubmitOrder(f"c-{intent}", intent, near_the_money(gw, "SPY"), spec))
    return gw, ref, probe


def assert_never_reached(ref, probe, client_order_id: str) -> None:
    """The order is reported cancelled as one that never reached IB, its cancel settled."""
    done = probe.expect(
        m.OrderStatusChanged,
        lambda e: e.client_order_id == client_order_id and e.status is S.CANCELLED,
        timeout=10,
    )
    assert done.reason == NEVER_REACHED_IB
    assert stats(ref, probe)["pending_cancels"] == []
