"""Modifying a working order in place against the simulated gateway: the same order id with new
terms, its OCA group untouched, and a modification IB refuses never taken for the order's end."""

from __future__ import annotations

from broker_harness import barrier, near_the_money

from bot import messages as m

S = m.OrderStatus
GROUP = "M-exits"


def held_with_a_close_in_the_stops_group(gateway, broker):
    """2 contracts bought; a far stop and a far closing limit in one OCA group of type 3."""
    gw = gateway(speed=1.0)
    ref, probe = broker(gw)
    probe.expect(m.ConnectionChanged, lambda e: e.state == "connected")
    option = near_the_money(gw, "SPY")
    ask = gw.market.option_quote(gw.contracts.by_con_id(option.con_id)).ask
    buy = m.OrderSpec("M.entry", m.Side.BUY, 2, m.OrderType.LIMIT, limit_price=round(ask + 0.5, 2))
    ref.tell(m.SubmitOrder("c-M", "M", option, buy))
    probe.expect(m.OrderFilled, lambda e: e.client_order_id == "M.entry", timeout=10)
    stop = m.OrderSpec("M.sl1", m.Side.SELL, 2, m.OrderType.STOP, stop_price=0.01,
                       oca_group=GROUP, oca_type=3)
    close = m.OrderSpec("M.exit1", m.Side.SELL, 2, m.OrderType.LIMIT, limit_price=50.0,
                        oca_group=GROUP, oca_type=3)
    for spec in (stop, close):
        ref.tell(m.SubmitOrder("c-M", "M", option, spec))
        probe.expect(m.OrderStatusChanged, lambda e, s=spec: e.client_order_id == s.client_order_id
                     and e.status is S.ACKED, timeout=10)
    return gw, ref, probe, option, close


def repriced(option: m.OptionContract, price: float, quantity: int = 2) -> m.ModifyOrder:
    """The close ``M.exit1`` modified to ``price`` (and ``quantity``), still in the group."""
    return m.ModifyOrder("c-M", "M", option, m.OrderSpec(
        "M.exit1", m.Side.SELL, quantity, m.OrderType.LIMIT, limit_price=price,
        oca_group=GROUP, oca_type=3))


def at_the_gateway(gw) -> dict[str, tuple[int, float, str]]:
    """The gateway's working orders by orderRef: (order id, limit price, status)."""
    return {o.order.order_ref: (o.order.order_id, o.order.lmt_price, o.status)
            for o in gw.engine.open_orders()}


def ended(probe, ref_id: str) -> list:
    return [e for e in probe.drain()
            if getattr(e, "client_order_id", "") == ref_id
            and (isinstance(e, m.OrderRejected)
                 or isinstance(e, m.OrderStatusChanged) and e.status in (S.CANCELLED, S.REJECTED))]


def test_a_close_in_the_stops_oca_group_is_repriced_in_place_and_the_stop_keeps_working(
        gateway, broker) -> None:
    gw, ref, probe, option, close = held_with_a_close_in_the_stops_group(gateway, broker)
    before = at_the_gateway(gw)

    ref.tell(repriced(option, 49.0, quantity=2))
    barrier(ref, probe, "QQQ")

    after = at_the_gateway(gw)
    assert after["M.exit1"][0] == before["M.exit1"][0]  # the same order, not a new one
    assert after["M.exit1"][1] == 49.0
    assert after["M.sl1"] == before["M.sl1"]  # a cancel would have taken the stop with it
    assert ended(probe, "M.exit1") == [] and ended(probe, "M.sl1") == []


def test_a_modification_ib_refuses_leaves_the_order_working_and_never_reported_ended(
        gateway, broker) -> None:
    gw, ref, probe, option, close = held_with_a_close_in_the_stops_group(gateway, broker)
    before = at_the_gateway(gw)

    # IB refuses it (a zero quantity: error 201): ib_insync marks the order Cancelled
    ref.tell(repriced(option, 49.0, quantity=0))
    barrier(ref, probe, "QQQ")
    refused_reports = ended(probe, "M.exit1")
    # and a price off the tick grid (110, a warning to ib_insync)
    ref.tell(repriced(option, 49.003, quantity=2))
    barrier(ref, probe, "IWM")
    off_grid_reports = ended(probe, "M.exit1")

    assert at_the_gateway(gw) == before  # IB kept the order as it was
    assert refused_reports == [] and off_grid_reports == []
    # the bot still knows it as working: a good modification goes through
    ref.tell(repriced(option, 48.0, quantity=2))
    barrier(ref, probe, "SPY")
    assert at_the_gateway(gw)["M.exit1"][1] == 48.0


def test_placing_again_an_order_the_gateway_never_got_places_it_under_its_own_id(
        gateway, broker) -> None:
    gw = gateway(speed=1.0)
    ref, probe = broker(gw)
    probe.expect(m.ConnectionChanged, lambda e: e.state == "connected")
    option = near_the_money(gw, "SPY")
    gw.faults.drop_next("placeOrder")  # lost on its way
    close = m.OrderSpec("L.exit1", m.Side.SELL, 1, m.OrderType.LIMIT, limit_price=50.0)
    ref.tell(m.SubmitOrder("c-L", "L", option, close))
    barrier(ref, probe, "QQQ")
    assert "L.exit1" not in at_the_gateway(gw)

    ref.tell(m.ModifyOrder("c-L", "L", option, close))  # the same terms, the same order id

    acked = probe.expect(m.OrderStatusChanged, lambda e: e.client_order_id == "L.exit1"
                         and e.status is S.ACKED, timeout=10)
    assert acked.correlation_id == "c-L"
    assert list(at_the_gateway(gw)) == ["L.exit1"]  # one order, never two
