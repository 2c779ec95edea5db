"""Each safety gate mode against the simulator, proven by its order counter."""

from __future__ import annotations

import pytest
from broker_harness import barrier, bracket, near_the_money, stats
from loguru import logger

from bot import messages as m

S = m.OrderStatus
SENDS = [
    # kind, dry_run, account, --live, mode
    ("sim", True, "DU1234567", False, "sim"),
    ("ib", False, "DU1234567", False, "paper"),
    ("ib", False, "U1234567", True, "live"),
]


@pytest.mark.parametrize(("kind", "dry_run", "account", "live", "mode"), SENDS)
def test_modes_that_send_orders(
    gateway, broker, kind: str, dry_run: bool, account: str, live: bool, mode: str
) -> None:
    gw = gateway(account=account)
    ref, probe = broker(gw, kind=kind, dry_run=dry_run, live_opt_in=live)
    probe.expect(m.ConnectionChanged, lambda e: e.state == "connected")
    ref.tell(bracket("G1", near_the_money(gw, "SPY"), entry=0.05, take_profit=50.0, stop=0.01))
    probe.expect(
        m.OrderStatusChanged, lambda e: e.client_order_id == "G1-stop" and e.status is S.ACKED
    )
    assert stats(ref, probe)["mode"] == mode
    assert gw.counters()["orders.placed"] == 3


def test_ib_dry_run_never_sends_and_fills_in_shadow(gateway, broker) -> None:
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(message.record["message"]), level="INFO")
    gw = gateway(speed=1.0)
    ref, probe = broker(gw, kind="ib", dry_run=True)
    probe.expect(m.ConnectionChanged, lambda e: e.state == "connected")
    option = near_the_money(gw, "SPY")
    ask = gw.market.option_quote(gw.contracts.by_con_id(option.con_id)).ask
    ref.tell(
        bracket("G2", option, entry=round(ask + 0.5, 2), take_profit=round(ask * 3, 2), stop=0.01)
    )
    fill = probe.expect(m.OrderFilled, lambda e: e.client_order_id == "G2-entry")
    filled = probe.expect(
        m.OrderStatusChanged, lambda e: e.client_order_id == "G2-entry" and e.status is S.FILLED
    )
    barrier(ref, probe, "QQQ")
    assert fill.exec_id.startswith("shadow-")
    assert (fill.side, fill.quantity, fill.correlation_id) == (m.Side.BUY, 2.0, "c-G2")
    assert fill.price == pytest.approx(ask, abs=0.05)
    assert filled.avg_fill_price == fill.price
    assert stats(ref, probe)["mode"] == "shadow"
    assert gw.counters().get("orders.placed", 0) == 0
    logger.remove(sink)
    shadowed = [line.split()[1] for line in lines if line.startswith("order_shadowed")]
    assert shadowed == ["client_order_id=G2-entry", "client_order_id=G2-tp",
                        "client_order_id=G2-stop"]  # what a dry run would have sent, in the log


def test_live_looking_account_without_live_flag_refuses_to_start(gateway, broker) -> None:
    gw = gateway(account="U1234567")
    ref, probe = broker(gw, kind="ib", dry_run=False, live_opt_in=False)
    refused = probe.expect(m.StartRefused)
    ref.tell(bracket("G3", near_the_money(gw, "SPY"), entry=0.05, take_profit=50.0, stop=0.01))
    rejected = [
        probe.expect(m.OrderRejected, lambda e, r=leg: e.client_order_id == r)
        for leg in ("G3-entry", "G3-tp", "G3-stop")
    ]
    probe.drain()
    assert "U1234567" in refused.reason and "--live" in refused.reason
    assert all(r.reason.startswith("start refused") for r in rejected)
    assert [e.state for e in probe.of(m.ConnectionChanged)] in ([], ["disconnected"])
    assert probe.of(m.BarClosed) == []
    assert gw.counters().get("orders.placed", 0) == 0


READ_ONLY = [
    ("sim", True, "DU1234567", False),
    ("ib", True, "DU1234567", False),
    ("ib", False, "DU1234567", False),
    ("ib", False, "U1234567", True),
]


@pytest.mark.parametrize(("kind", "dry_run", "account", "live"), READ_ONLY)
def test_read_only_forbids_orders_in_every_mode(
    gateway, broker, kind: str, dry_run: bool, account: str, live: bool
) -> None:
    gw = gateway(account=account)
    ref, probe = broker(gw, kind=kind, dry_run=dry_run, live_opt_in=live, read_only=True)
    probe.expect(m.ConnectionChanged, lambda e: e.state == "connected")
    ref.tell(bracket("G4", near_the_money(gw, "SPY"), entry=0.05, take_profit=50.0, stop=0.01))
    rejected = [
        probe.expect(m.OrderRejected, lambda e, r=leg: e.client_order_id == r)
        for leg in ("G4-entry", "G4-tp", "G4-stop")
    ]
    barrier(ref, probe, "QQQ")
    assert [(r.code, r.reason, r.correlation_id) for r in rejected] == [
        (0, "read_only: orders are forbidden", "c-G4")
    ] * 3
    assert gw.counters().get("orders.placed", 0) == 0
