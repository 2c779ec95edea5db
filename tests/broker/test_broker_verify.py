"""The periodic check of invariant 3 in the BrokerActor: ib_insync's held data against what the
broker reported, without a request to IB, never read as empty while it is unknown."""

from __future__ import annotations

from broker_harness import bracket, near_the_money, stats

from bot import messages as m

S = m.OrderStatus


def filled_bracket(gw, ref, probe) -> m.OptionContract:
    option = near_the_money(gw, "SPY")
    ask = gw.market.option_quote(gw.contracts.by_con_id(option.con_id)).ask
    ref.tell(bracket("V1", option, entry=round(ask + 0.5, 2), take_profit=round(ask * 3, 2),
                     stop=0.01))
    probe.expect(m.OrderStatusChanged,
                 lambda e: e.client_order_id == "V1-entry" and e.status is S.FILLED, timeout=10)
    probe.expect(m.PositionChanged, lambda e: e.position.quantity == 2, timeout=10)
    return option


def test_a_clean_session_verifies_without_a_mismatch_and_without_a_request(gateway, broker):
    gw = gateway(speed=1.0)
    ref, probe = broker(gw, kind="ib", dry_run=False, execution={"verify_every_s": 600})
    probe.expect(m.BrokerSnapshot, timeout=10)
    filled_bracket(gw, ref, probe)
    probe.expect(m.OrderStatusChanged, lambda e: e.client_order_id == "V1-stop", timeout=10)
    requests = {k: v for k, v in gw.counters().items() if k.startswith("req.")}

    for _ in range(3):
        ref.proxy().verify_now().get(timeout=5)

    figures = stats(ref, probe)["verify"]
    assert figures == {"checks": 3, "mismatches": 0, "last": "ok"}
    probe.drain()
    assert probe.of(m.ReconcileMismatch) == []
    assert {k: v for k, v in gw.counters().items() if k.startswith("req.")} == requests


def test_the_check_runs_by_itself_every_verify_every_s(gateway, broker):
    gw = gateway(speed=1.0)
    ref, probe = broker(gw, kind="ib", dry_run=False, execution={"verify_every_s": 0.1})
    probe.expect(m.BrokerSnapshot, timeout=10)

    for _ in range(50):  # bounded: at most 50 heartbeats' figures
        if stats(ref, probe)["verify"]["checks"] >= 3:
            break
        probe.expect(m.QuoteUpdated, timeout=5)  # paced by the market's own events

    assert stats(ref, probe)["verify"]["checks"] >= 3


def test_a_position_change_the_broker_never_reported_is_found_and_published(gateway, broker):
    # Arrange: a position of 2, then its PositionChanged is lost (the reported view forgets it)
    gw = gateway(speed=1.0)
    ref, probe = broker(gw, kind="ib", dry_run=False, execution={"verify_every_s": 600})
    probe.expect(m.BrokerSnapshot, timeout=10)
    option = filled_bracket(gw, ref, probe)
    ref.proxy().reported_positions = {}

    # Act
    ref.proxy().verify_now().get(timeout=5)

    # Assert: reported as a mismatch (journaled), and the broker's quantity published
    mismatch = probe.expect(m.ReconcileMismatch, lambda e: e.kind == "verify_position")
    assert (mismatch.key, mismatch.detail) == (option.key, "IB holds 2, reported 0")
    published = probe.expect(m.PositionChanged, lambda e: e.position.description == option.key)
    assert published.position.quantity == 2


def test_while_disconnected_the_check_is_skipped_never_read_as_empty(gateway, broker):
    gw = gateway(speed=1.0)
    ref, probe = broker(gw, kind="ib", dry_run=False, execution={"verify_every_s": 600})
    probe.expect(m.BrokerSnapshot, timeout=10)
    filled_bracket(gw, ref, probe)
    gw.faults.refuse_connections(60.0)
    gw.faults.drop_all_connections()
    probe.expect(m.ConnectionChanged, lambda e: e.state == "disconnected")

    ref.proxy().verify_now().get(timeout=5)

    assert stats(ref, probe)["verify"]["last"] == "skipped: not connected"
    probe.drain()
    assert probe.of(m.ReconcileMismatch) == []
    assert [e for e in probe.of(m.PositionChanged) if e.position.quantity == 0] == []
