"""``python -m bot status``: one screen (or JSON) from the journal and the last heartbeat."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from actor_harness import make_settings

from bot import messages as m
from bot.journal.schema import SCHEMA_VERSION
from bot.journal.write import Journal, journal_path
from bot.ops.instance_lock import acquire
from bot.ops.status import collect, render

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)  # 11:00 New York
CONTRACT = m.OptionContract("SPY", "20261120", 598.0, m.Right.CALL, con_id=42)
IID = "SPY-202611201455-abc123"
ENTRY = m.OrderSpec(f"{IID}.entry", m.Side.BUY, 3, m.OrderType.LIMIT, limit_price=1.60)
TP = m.OrderSpec(f"{IID}.tp", m.Side.SELL, 3, m.OrderType.LIMIT, limit_price=2.08, oca_group="o")
SL = m.OrderSpec(f"{IID}.sl", m.Side.SELL, 3, m.OrderType.STOP, stop_price=1.28, oca_group="o")


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, journal={"dir": str(tmp_path / "data")})


def write_journal(settings, realized_pnl: float = -150.0, trades: int = 2) -> None:
    j = Journal(journal_path(settings.journal.dir, "paper"))
    for message in (
        m.ModeDecided("paper", "DU1234567", NOW),
        m.EntryProposed("c1", IID, "SPY", m.Direction.CALL, CONTRACT, 1.60, 1.55, 1.60, NOW),
        m.EntryApproved("c1", IID, "SPY", CONTRACT, 3, 1.60, NOW),
        m.SubmitBracket("c1", IID, CONTRACT, ENTRY, TP, SL),
        m.OrderStatusChanged("c1", ENTRY.client_order_id, m.OrderStatus.FILLED, 3, 0, 1.60, NOW),
        m.OrderStatusChanged("c1", TP.client_order_id, m.OrderStatus.ACKED, 0, 3, 0.0, NOW),
        m.OrderFilled("c1", ENTRY.client_order_id, "e1", CONTRACT, m.Side.BUY, 3, 1.60, NOW, 1.95),
        m.PositionOpened("c1", IID, "SPY", CONTRACT, 3, 1.60, NOW),
        m.ReconcileMismatch(
            "unknown_position", "QQQ 20261120 511P", "broker holds 2: left alone", NOW
        ),
        m.ReconcileFinished(True, 1, 0, 0, 1, NOW),
        m.RiskStateChanged(date(2026, 11, 20), 10_000.0, realized_pnl, trades, 1, False, NOW),
    ):
        j.record(message, NOW)
    j.close()


def write_heartbeat(settings, age_s: float, pid: int) -> None:
    settings.logging.dir.mkdir(parents=True, exist_ok=True)
    beat = {
        "ts": (NOW - timedelta(seconds=age_s)).isoformat(),
        "pid": pid,
        "broker": {"state": "connected"},
        "alarms": [],
        "orders_working": 2,
        "positions": 1,
    }
    (settings.logging.dir / "heartbeat.json").write_text(json.dumps(beat))


def test_without_a_journal_it_says_so_plainly(settings):
    summary = collect(settings, NOW)

    assert (
        summary["problem"]
        == f"no journal yet in {settings.journal.dir} (the bot has not run there)"
    )
    assert "no heartbeat yet" in render(summary)


def test_the_summary_holds_positions_orders_pnl_budget_and_mismatches(settings):
    write_journal(settings)
    write_heartbeat(settings, age_s=2.0, pid=2**22 + 12345)  # no such process

    s = collect(settings, NOW)

    assert s["mode"]["mode"] == "paper"
    assert [(p["intent_id"], p["quantity"], p["entry_price"]) for p in s["positions"]] == [
        (IID, 3, 1.60)
    ]
    assert [(o["client_order_id"], o["status"], o["price"]) for o in s["working_orders"]] == [
        (TP.client_order_id, "ACKED", 2.08),
        (SL.client_order_id, "SUBMITTED", 1.28),
    ]
    assert (
        s["today"]["realized_pnl"],
        s["today"]["loss_cap"],
        s["today"]["loss_budget_used_pct"],
    ) == (-150.0, 200.0, 75.0)
    assert s["today"]["limits_hit"] == []
    assert [(x["kind"], x["key"]) for x in s["mismatches"]] == [
        ("unknown_position", "QQQ 20261120 511P")
    ]
    assert (s["heartbeat"]["age_s"], s["heartbeat"]["pid_alive"]) == (2.0, False)
    screen = render(s)
    assert "bot       NOT running: last heartbeat 2s ago" in screen
    assert (
        "today     2026-11-20: P&L -150.00, 2 trades, 1 losses in a row, loss budget used 75% of 200.00"
        in screen
    )
    assert f"  {IID}  SPY 20261120 598C  qty 3 @ 1.60" in screen
    assert "  MISMATCH unknown_position QQQ 20261120 511P: broker holds 2: left alone" in screen


@pytest.mark.parametrize(
    ("pnl", "trades", "hit"),
    [
        (-200.0, 1, ["daily loss cap"]),
        (-10.0, 3, ["trades 3/3"]),
    ],
)
def test_limits_hit_are_named(settings, pnl, trades, hit):
    write_journal(settings, realized_pnl=pnl, trades=trades)

    assert collect(settings, NOW)["today"]["limits_hit"] == hit


def test_the_kill_switch_and_its_reason_are_shown(settings):
    write_journal(settings)
    settings.risk.kill_switch_path.write_text("2026-11-20T15:59:00+00:00 SIGUSR1\n")

    screen = render(collect(settings, NOW))

    assert "kill      ENGAGED: 2026-11-20T15:59:00+00:00 SIGUSR1" in screen


def test_a_journal_from_a_newer_schema_is_refused_with_the_reason(settings):
    path = journal_path(settings.journal.dir, "live")
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()

    summary = collect(settings, NOW)

    assert summary["problem"].endswith(
        f"has journal schema v{SCHEMA_VERSION + 1}, newer than this "
        f"bot's v{SCHEMA_VERSION}: upgrade the bot to read it"
    )


def test_the_command_reads_the_journal_or_says_there_is_none_yet(settings, tmp_path):
    # (How fast it answers is measured by scripts/bench_status.py, not asserted here.)
    config = tmp_path / "settings.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "journal": {"dir": str(settings.journal.dir)},
                "logging": {"dir": str(settings.logging.dir)},
                "risk": {"kill_switch_path": str(tmp_path / "KILL")},
            }
        )
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", "status", *args, "--config", str(config)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    empty = run()
    write_journal(settings)
    full = run("--json")

    assert (empty.returncode, full.returncode) == (1, 0)
    assert "no journal yet" in empty.stdout
    assert json.loads(full.stdout)["positions"][0]["intent_id"] == IID


def test_orders_the_last_reconciliation_found_missing_are_not_listed_as_working(settings):
    write_journal(settings)
    later = NOW + timedelta(minutes=5)
    j = Journal(journal_path(settings.journal.dir, "paper"))
    for message in (
        m.ReconcileMismatch("order_missing", TP.client_order_id,
                            "journal says ACKED, the broker has no such order", later),
        m.ReconcileMismatch("order_missing", SL.client_order_id,
                            "journal says SUBMITTED, the broker has no such order", later),
        m.ReconcileFinished(False, 1, 0, 0, 2, later),
    ):
        j.record(message, later)
    j.close()

    s = collect(settings, later)

    assert s["working_orders"] == []
    assert "orders    none working" in render(s)
    assert f"  MISMATCH order_missing {TP.client_order_id}" in render(s)


def test_in_a_sim_run_today_is_the_simulated_exchange_day(settings):
    simulated = date(2026, 11, 13)  # the simulator's market, a week before the wall clock
    j = Journal(journal_path(settings.journal.dir, "sim"))
    for message in (
        m.ModeDecided("sim", "DU1234567", NOW),
        m.RiskStateChanged(simulated, 10_000.0, -50.0, 1, 1, False, NOW),
    ):
        j.record(message, NOW)
    j.close()

    today = collect(settings, NOW)["today"]

    assert (today["day"], today["realized_pnl"], today["trades"]) == ("2026-11-13", -50.0, 1)


def test_a_failed_journal_in_the_heartbeat_is_an_alarm_in_status(settings):
    write_journal(settings)
    settings.logging.dir.mkdir(parents=True, exist_ok=True)
    beat = {"ts": NOW.isoformat(), "pid": 2**22 + 12345, "broker": {"state": "connected"},
            "alarms": ["journal=failed"],
            "journal": {"state": "failed", "reason": "database or disk is full"}}
    (settings.logging.dir / "heartbeat.json").write_text(json.dumps(beat))

    s = collect(settings, NOW)
    screen = render(s)

    assert s["heartbeat"]["journal"] == "failed"
    assert "ALARMS ['journal=failed']" in screen
    assert "ALARM     journal=failed: database or disk is full" in screen


def test_status_prints_the_effective_config_path(settings, tmp_path):
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump({"journal": {"dir": str(settings.journal.dir)},
                                      "logging": {"dir": str(settings.logging.dir)}}))

    done = subprocess.run([sys.executable, "-m", "bot", "status", "--config", str(config)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)

    assert done.stdout.splitlines()[0] == f"config    {config}"


def test_status_reads_the_kill_switch_and_heartbeat_of_the_bot_holding_the_lock(settings,
                                                                                tmp_path):
    write_journal(settings)
    elsewhere = tmp_path / "started-elsewhere"  # the running bot's own working directory
    elsewhere.mkdir()
    (elsewhere / "KILL").write_text("2026-11-20T15:59:00+00:00 from the other directory\n")
    (elsewhere / "heartbeat.json").write_text(json.dumps(
        {"ts": NOW.isoformat(), "pid": 4242, "broker": {"state": "connected"}, "alarms": []}))
    lock = acquire(settings.journal.dir, {
        "config": "/etc/ibkr-bot/settings.yaml", "kill_switch": str(elsewhere / "KILL"),
        "heartbeat": str(elsewhere / "heartbeat.json"), "started": NOW.isoformat()})
    try:
        s = collect(settings, NOW)
    finally:
        lock.release()

    assert s["running"]["config"] == "/etc/ibkr-bot/settings.yaml"
    assert s["kill_switch"] == {"engaged": True, "path": str(elsewhere / "KILL"),
                                "reason": "2026-11-20T15:59:00+00:00 from the other directory"}
    assert s["heartbeat"]["pid"] == 4242
    assert "lock      held by pid" in render(s)
