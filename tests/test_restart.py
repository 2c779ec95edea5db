"""Restart safety end to end: the real bot as a subprocess (so SIGKILL really kills it) against
the simulated gateway running in this test process (so its counters prove what was sent).

States are detected by polling the journal file (read-only) and ``logs/heartbeat.json`` with a
bounded loop; the wait between polls is the bot process's own ``wait(timeout)``, so a bot that
dies early fails the test at once with its output.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.journal.schema import SCHEMA_VERSION
from bot.sim.server import SimGateway

ROOT = Path(__file__).resolve().parent.parent
WAIT_S = 30.0
CRASH_AFTER_INTENT = (str(ROOT / "tests" / "crash_after_intent.py"),)
POLL_S = 0.05


@pytest.fixture
def gateway(start_gateway):
    return lambda **options: start_gateway(**{"symbols": ("SPY",), "speed": 60.0, "seed": 7,
                                              **options})


class BotProcess:
    """``python -m bot --config <tmp>`` pointed at a gateway; one journal and log dir per test."""

    def __init__(self, tmp: Path, port: int, **sections: Any) -> None:
        self.tmp = tmp
        self.runs = 0
        self.proc: subprocess.Popen[bytes] | None = None
        config: dict[str, Any] = {
            "dry_run": False,
            "symbols": ["SPY"],
            "broker": {
                "kind": "ib",
                "host": "127.0.0.1",
                "port": port,
                "reconnect_min_s": 0.2,
                "reconnect_max_s": 1.0,
            },
            "strategy": {
                "ema_fast": 3,
                "ema_slow": 5,
                "rsi_period": 3,
                "rsi_call_min": 50,
                "rsi_overbought": 100,
                "rsi_put_max": 40,
                "rsi_oversold": 0,
                "require_vwap": False,
                "cooldown_bars": 0,
            },
            "risk": {
                "take_profit_pct": 300,
                "stop_loss_pct": 90,
                "max_hold_minutes": 390,
                "flat_before_close_minutes": 0,
                "max_consecutive_losses": 10,
                # One trade a day: whatever the market does during a test, the orders at the
                # gateway all belong to the one intent under test.
                "max_trades_per_day": 1,
                "kill_switch_path": str(tmp / "KILL"),
            },
            "journal": {"dir": str(tmp / "data")},
            "logging": {"dir": str(tmp / "logs")},
            "health": {"heartbeat_seconds": 1},
        }
        for name, values in sections.items():
            config[name] = (
                {**config.get(name, {}), **values} if isinstance(values, dict) else values
            )
        self.config = tmp / "settings.yaml"
        self.config.write_text(yaml.safe_dump(config))

    def start(self, *args: str, entry: tuple[str, ...] = ("-m", "bot"), **env: str) -> BotProcess:
        """``entry``: how Python starts the bot (``CRASH_AFTER_INTENT`` for the crash test)."""
        self.runs += 1
        self.out = self.tmp / f"bot-{self.runs}.out"
        with self.out.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, *entry, "--config", str(self.config), *args],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env},
            )
        return self

    def journal(self, mode: str = "paper") -> Path:
        return self.tmp / "data" / f"journal-{mode}.sqlite3"

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float = WAIT_S) -> Any:
        """Poll ``check`` until it returns something truthy; fail if the bot exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            try:
                code = self.proc.wait(timeout=POLL_S)
            except subprocess.TimeoutExpired:
                continue
            raise AssertionError(f"bot exited ({code}) before {what}:\n{self.tail()}")
        raise AssertionError(f"no {what} within {timeout}s:\n{self.tail()}")

    def exit_code(self, timeout: float = WAIT_S) -> int:
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(timeout=10) == -signal.SIGKILL

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=20)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.out.read_text(errors="replace").splitlines()[-lines:])

    def heartbeat(self) -> dict[str, Any] | None:
        try:
            beat = json.loads((self.tmp / "logs" / "heartbeat.json").read_text())
        except (OSError, ValueError):
            return None
        return beat if beat.get("pid") == self.proc.pid else None


@pytest.fixture
def bots(tmp_path):
    made: list[BotProcess] = []

    def make(port: int, **sections: Any) -> BotProcess:
        bot = BotProcess(tmp_path, port, **sections)
        made.append(bot)
        return bot

    yield make
    for bot in made:
        if bot.proc is not None and bot.proc.poll() is None:
            bot.proc.kill()
            bot.proc.wait(timeout=10)


_PACE = threading.Event()  # never set: its wait paces a bounded poll, it synchronises nothing


def poll(what: str, check: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    """Poll ``check`` (the gateway runs in its own thread) until truthy, at most ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        _PACE.wait(POLL_S)
    raise AssertionError(f"no {what} within {timeout}s")


def query(path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows from the journal, read-only; [] while it does not exist or is being created."""
    if not path.exists():
        return []
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return []


def open_intent(bot: BotProcess) -> str | None:
    """An intent whose entry filled and whose two exits are acknowledged at the broker."""
    rows = query(
        bot.journal(),
        """
        SELECT i.intent_id FROM intents i JOIN orders o ON o.intent_id = i.intent_id
        WHERE i.status = 'open' AND o.status = 'ACKED' GROUP BY i.intent_id HAVING count(*) = 2""",
    )
    return rows[0][0] if rows else None


def reconciled(bot: BotProcess, after: str = "") -> dict[str, Any] | None:
    rows = query(bot.journal(), "SELECT value FROM facts WHERE name = 'reconcile'")
    value = json.loads(rows[0][0]) if rows else None
    return value if value and value["ts"] > after else None


def placed(gw: SimGateway) -> int:
    return gw.counters().get("orders.placed", 0)


def working_refs(gw: SimGateway) -> set[str]:
    return {e.order.order_ref for e in gw.engine.open_orders()}


def sent_refs(gw: SimGateway) -> list[str]:
    """The orderRef of every order the gateway ever accepted (working or done), sorted: a count
    that is off then names the extra order."""
    return sorted(e.order.order_ref for e in gw.engine.open_orders() + gw.engine.completed_orders())


def bracket_refs(intent: str) -> list[str]:
    return [f"{intent}.entry", f"{intent}.sl", f"{intent}.tp"]


def test_after_sigkill_with_a_bracket_working_the_restart_adopts_it_and_sends_nothing_again(
    gateway, bots
):
    gw = gateway()
    bot = bots(gw.port).start()
    intent = bot.wait_for("an open position with its bracket working", lambda: open_intent(bot))
    first = reconciled(bot)
    sent_before = placed(gw)
    bot.kill()

    bot.start()
    again = bot.wait_for("the restart's reconciliation", lambda: reconciled(bot, first["ts"]))
    beat = bot.wait_for(
        "a heartbeat showing the adopted trade",
        lambda: (b := bot.heartbeat()) and b["positions"] == 1 and b["orders_working"] == 2 and b,
    )
    status = subprocess.run(
        [sys.executable, "-m", "bot", "status", "--json", "--config", str(bot.config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert bot.stop() == 0

    summary = json.loads(status.stdout)
    assert (sent_before, placed(gw)) == (3, 3)  # entry + take-profit + stop, never again
    assert sent_refs(gw) == bracket_refs(intent)
    assert working_refs(gw) == {f"{intent}.tp", f"{intent}.sl"}
    assert (again["recovered"], again["resent"], again["mismatches"]) == (1, 0, 0)
    assert (beat["positions"], beat["orders_working"]) == (1, 2)
    held = query(
        bot.journal(),
        "SELECT sum(CASE side WHEN 'BUY' THEN quantity ELSE -quantity END) "
        "FROM fills WHERE intent_id = ?",
        intent,
    )[0][0]
    assert [p.position for p in gw.account.positions()] == [held]
    assert [p["intent_id"] for p in summary["positions"]] == [intent]
    assert sorted(o["client_order_id"] for o in summary["working_orders"]) == [
        f"{intent}.sl",
        f"{intent}.tp",
    ]


def test_killed_between_writing_an_intent_and_sending_it_it_is_sent_exactly_once(gateway, bots):
    gw = gateway()
    # The resend is re-priced from a fresh quote; whatever the simulated market did meanwhile,
    # it is allowed to go out (this test counts the sends; pricing: test_restart_trades.py).
    # The resend window is market time: at 60x, 1800 s of market are 30 s of this test's time.
    bot = bots(gw.port, execution={"resend_max_rise_pct": 1000, "entry_timeout_s": 1800}).start(
        entry=CRASH_AFTER_INTENT)
    assert bot.exit_code() == -signal.SIGKILL
    ((intent, status),) = query(
        bot.journal(), "SELECT intent_id, status FROM intents WHERE status = 'sent'"
    )
    assert placed(gw) == 0

    bot.start()
    second = bot.wait_for("the resend", lambda: (r := reconciled(bot)) and r["resent"] == 1 and r)
    bot.wait_for("the resent bracket at the gateway", lambda: placed(gw) == 3)
    bot.kill()
    bot.start()
    third = bot.wait_for("the third start's reconciliation", lambda: reconciled(bot, second["ts"]))
    bot.wait_for("a heartbeat of the third start", bot.heartbeat)
    assert bot.stop() == 0

    assert (placed(gw), sent_refs(gw)) == (3, bracket_refs(intent))
    assert query(bot.journal(), "SELECT resends FROM intents WHERE intent_id = ?", intent) == [(1,)]
    assert (third["recovered"], third["resent"]) == (1, 0)


def test_fills_that_happen_while_the_bot_is_down_are_picked_up(gateway, bots):
    gw = gateway()
    bot = bots(gw.port, risk={"take_profit_pct": 8, "stop_loss_pct": 8}).start()
    intent = bot.wait_for("an open position", lambda: open_intent(bot), timeout=WAIT_S)
    first = reconciled(bot)
    bot.kill()
    filled_before = gw.counters().get("orders.filled", 0)

    poll(
        "an exit filled at the gateway while the bot is down",
        lambda: gw.counters().get("orders.filled", 0) > filled_before,
    )

    bot.start()
    bot.wait_for("the restart's reconciliation", lambda: reconciled(bot, first["ts"]))
    closed = bot.wait_for(
        "the position closed in the journal",
        lambda: query(
            bot.journal(),
            "SELECT reason, realized FROM positions WHERE intent_id = ? AND event = 'closed'",
            intent,
        ),
    )
    mismatch = query(bot.journal(), "SELECT kind FROM mismatches WHERE key = ?", intent)
    assert bot.stop() == 0

    ((reason, pnl),) = closed
    assert reason in ("take profit", "stop") and pnl != 0
    assert ("fills_while_down",) in mismatch
    assert query(bot.journal(), "SELECT count(*) FROM fills WHERE intent_id = ?", intent)[0][0] >= 2
    day_pnl = query(bot.journal(), "SELECT realized_pnl FROM daily_risk")
    assert day_pnl and day_pnl[-1][0] == pytest.approx(pnl)


def test_dry_run_against_a_gateway_sends_zero_orders(gateway, bots):
    gw = gateway()
    bot = bots(gw.port, dry_run=True).start()

    bot.wait_for(
        "a shadow entry in the shadow journal",
        lambda: query(
            bot.journal("shadow"),
            "SELECT intent_id FROM intents WHERE status IN ('open', 'closed')",
        ),
    )
    assert bot.stop() == 0

    assert placed(gw) == 0
    assert not bot.journal("paper").exists()


def test_a_live_looking_account_without_live_refuses_to_start(gateway, bots):
    gw = gateway(account="U1234567")
    bot = bots(gw.port).start()

    code = bot.exit_code()

    assert code == 3
    assert "not a paper account" in bot.tail(200)
    assert not list((bot.tmp / "data").glob("journal-*"))  # only the instance lock is there


def test_a_journal_from_a_newer_schema_stops_the_bot_and_says_why(gateway, bots):
    gw = gateway()
    bot = bots(gw.port)
    bot.journal().parent.mkdir(parents=True)
    conn = sqlite3.connect(bot.journal())
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()

    code = bot.start().exit_code()

    assert code == 3
    assert (
        f"has journal schema v{SCHEMA_VERSION + 1}, newer than this bot's v{SCHEMA_VERSION}"
        in bot.tail(200)
    )
    assert placed(gw) == 0
    assert query(bot.journal(), "SELECT count(*) FROM sqlite_master") == [(0,)]


def test_the_production_code_holds_no_test_only_crash_hook():
    sources = [*ROOT.joinpath("bot").rglob("*.py"), *ROOT.joinpath("actors").rglob("*.py")]

    hooked = [str(p.relative_to(ROOT)) for p in sources if "BOT_TEST_" in p.read_text()]

    assert hooked == []  # the crash is injected by tests/crash_after_intent.py
