"""``python -m bot status``: where the bot stands, from the journal and the last heartbeat.

Reads only: the journal through a read-only SQLite connection (WAL lets it read while the bot
writes) and ``<logs>/heartbeat.json``. Works whether the bot runs or not, and says plainly
when there is no journal yet. ``collect`` gathers a plain dict (``--json`` prints it);
``render`` makes the one screen a person reads at a glance.

Working orders are the journal's, less those the last reconciliation reported missing at the
broker (``order_missing``): the broker's word wins. In a sim run "today" is the simulated
exchange day.

Which journal: ``--mode`` names it; otherwise the most recently written ``journal-*.sqlite3``
in ``journal.dir`` (the mode the bot last ran in).

Which bot: the one holding ``journal.dir``'s lock (``bot/ops/instance_lock.py``), whose lock
file names the kill-switch path it watches and its heartbeat file, so ``status`` shows what
that bot sees even when it was started from another directory. Without a running bot, the
paths of the settings given.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.app.config import Settings
from bot.journal.read import fact, open_readonly, rows
from bot.journal.schema import JournalError
from bot.journal.write import journal_path
from bot.ops.instance_lock import running_bot
from bot.trading.market_hours import trading_day

MODES = ("sim", "shadow", "paper", "live")
WORKING = ("SUBMITTED", "ACKED", "PARTIAL")
STALE_HEARTBEAT_FACTOR = 3
"""A heartbeat older than this many heartbeat periods means the bot is not running (or stuck)."""


def _find_journal(directory: Path, mode: str | None = None) -> Path | None:
    if mode:
        return journal_path(directory, mode)
    found = [p for p in (journal_path(directory, m) for m in MODES) if p.exists()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def collect(settings: Settings, now: datetime, mode: str | None = None) -> dict[str, Any]:
    """Everything ``status`` shows, as plain data."""
    path = _find_journal(settings.journal.dir, mode)
    holder = running_bot(settings.journal.dir) or {}
    kill_path = Path(holder.get("kill_switch") or settings.risk.kill_switch_path)
    beat_path = Path(holder.get("heartbeat") or settings.logging.dir / "heartbeat.json")
    out: dict[str, Any] = {
        "ts": now.isoformat(),
        "journal": str(path) if path else None,
        "running": holder or None,
        "kill_switch": _kill_switch(kill_path),
        "heartbeat": _heartbeat(beat_path, settings, now),
    }
    if path is None:
        out["problem"] = f"no journal yet in {settings.journal.dir} (the bot has not run there)"
        return out
    try:
        conn = open_readonly(path)
    except JournalError as exc:
        out["problem"] = str(exc)
        return out
    try:
        out.update(_from_journal(conn, settings, now))
    except sqlite3.Error as exc:
        out["problem"] = f"cannot read {path}: {exc}"
    finally:
        conn.close()
    return out


def _today(conn: sqlite3.Connection, mode: dict[str, Any] | None, now: datetime) -> str:
    """The exchange day ``today`` means: the wall clock's, but in a sim run the simulated
    exchange's (the latest day the sim journal's risk state was saved for: that journal is
    new on every run, so its days are all simulated ones)."""
    if (mode or {}).get("mode") == "sim":
        row = conn.execute("SELECT MAX(day) FROM daily_risk").fetchone()
        if row and row[0]:
            return str(row[0])
    return trading_day(now).isoformat()


def _from_journal(conn: sqlite3.Connection, settings: Settings, now: datetime) -> dict[str, Any]:
    mode = fact(conn, "mode")
    day = _today(conn, mode, now)
    risk_row = conn.execute("SELECT * FROM daily_risk WHERE day=?", (day,)).fetchone()
    reconcile = fact(conn, "reconcile")
    since = reconcile["ts"] if reconcile else ""
    return {
        "mode": mode,
        "positions": rows(
            conn,
            """
            SELECT i.intent_id, i.symbol, i.contract,
                   SUM(CASE WHEN f.side='BUY' THEN f.quantity ELSE -f.quantity END) AS quantity,
                   ROUND(SUM(CASE WHEN f.side='BUY' THEN f.quantity*f.price END)
                     / SUM(CASE WHEN f.side='BUY' THEN f.quantity END), 4) AS entry_price
            FROM intents i JOIN fills f ON f.intent_id = i.intent_id
            WHERE i.status = 'open' GROUP BY i.intent_id ORDER BY i.created_at""",
        ),
        "working_orders": rows(
            conn,
            f"""
            SELECT o.client_order_id, o.status, json_extract(o.spec,'$.side') AS side,
                   json_extract(o.spec,'$.quantity') AS quantity, o.filled,
                   COALESCE(json_extract(o.spec,'$.limit_price'), json_extract(o.spec,'$.stop_price'))
                     AS price
            FROM orders o JOIN intents i ON i.intent_id = o.intent_id
            WHERE i.status IN ('sent','open') AND o.status IN ({",".join("?" * len(WORKING))})
              AND NOT EXISTS (SELECT 1 FROM mismatches mm WHERE mm.kind = 'order_missing'
                              AND mm.key = o.client_order_id AND mm.ts >= ?
                              AND mm.ts >= o.updated_at)
            ORDER BY o.rowid""",
            *WORKING,
            since,
        ),
        "today": _day_figures(dict(risk_row) if risk_row else None, settings, day),
        "reconcile": reconcile,
        "mismatches": rows(
            conn,
            "SELECT kind, key, detail, ts FROM mismatches WHERE ts >= ? ORDER BY id DESC LIMIT 20",
            since,
        ),
        "broker_positions": rows(
            conn, "SELECT description, quantity, avg_cost FROM broker_positions"
        ),
    }


def _day_figures(row: dict[str, Any] | None, settings: Settings, day: str) -> dict[str, Any]:
    risk = settings.risk
    if row is None:
        return {
            "day": day,
            "realized_pnl": 0.0,
            "trades": 0,
            "consecutive_losses": 0,
            "loss_budget_used_pct": 0.0,
            "limits_hit": [],
            "saved": False,
        }
    cap = row["start_equity"] * risk.max_daily_loss_pct / 100.0
    used = max(0.0, -row["realized_pnl"]) / cap * 100.0 if cap > 0 else 0.0
    limits = [
        ("daily loss cap", used >= 100.0),
        (
            f"trades {row['trades']}/{risk.max_trades_per_day}",
            row["trades"] >= risk.max_trades_per_day,
        ),
        (
            f"losses in a row {row['consecutive_losses']}/{risk.max_consecutive_losses}",
            row["consecutive_losses"] >= risk.max_consecutive_losses,
        ),
    ]
    return {
        "day": day,
        "start_equity": row["start_equity"],
        "realized_pnl": row["realized_pnl"],
        "trades": row["trades"],
        "consecutive_losses": row["consecutive_losses"],
        "loss_cap": round(cap, 2),
        "loss_budget_used_pct": round(used, 1),
        "limits_hit": [name for name, hit in limits if hit],
        "saved": True,
        "updated_at": row["updated_at"],
    }


def _kill_switch(path: Path) -> dict[str, Any]:
    try:
        return {
            "engaged": True,
            "path": str(path),
            "reason": Path(path).read_text(encoding="utf-8").strip()[:200],
        }
    except FileNotFoundError:
        return {"engaged": False, "path": str(path)}
    except OSError as exc:
        return {"engaged": True, "path": str(path), "reason": f"unreadable: {exc}"}


def _heartbeat(path: Path, settings: Settings, now: datetime) -> dict[str, Any] | None:
    try:
        beat = json.loads(path.read_text(encoding="utf-8"))
        age = (now - datetime.fromisoformat(beat["ts"])).total_seconds()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    pid = beat.get("pid")
    return {
        "age_s": round(age, 1),
        "pid": pid,
        "pid_alive": _alive(pid),
        "stale": age > STALE_HEARTBEAT_FACTOR * settings.health.heartbeat_seconds,
        "broker": (beat.get("broker") or {}).get("state"),
        "alarms": beat.get("alarms", []),
        "journal": (beat.get("journal") or {}).get("state"),
        "journal_reason": (beat.get("journal") or {}).get("reason"),
        "orders_working": beat.get("orders_working"),
        "positions": beat.get("positions"),
    }


def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (TypeError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


# -- the screen -----------------------------------------------------------------------------


def render(s: dict[str, Any]) -> str:
    lines = [f"config    {s['config']}"] if s.get("config") else []
    lines.append(f"journal   {s['journal'] or '-'}")
    held = s.get("running")
    if held:
        lines.append(f"lock      held by pid {held.get('pid')} since {str(held.get('started'))[:19]}, "
                     f"config {held.get('config')}")
    beat = s.get("heartbeat")
    if beat is None:
        lines.append("bot       no heartbeat yet (never ran with these logs)")
    else:
        running = "running" if beat["pid_alive"] and not beat["stale"] else "NOT running"
        lines.append(
            f"bot       {running}: last heartbeat {beat['age_s']:.0f}s ago, pid {beat['pid']}, "
            f"broker {beat['broker']}" + (f", ALARMS {beat['alarms']}" if beat["alarms"] else "")
        )
    if beat is not None and beat.get("journal") == "failed":
        lines.append(f"ALARM     journal=failed: {beat.get('journal_reason')} "
                     f"(new entries refused until a restart)")
    ks = s["kill_switch"]
    lines.append(
        f"kill      {'ENGAGED: ' + ks.get('reason', '') if ks['engaged'] else 'off'} ({ks['path']})"
    )
    if s.get("problem"):
        return "\n".join(lines + [f"journal   {s['problem']}"])
    mode = s.get("mode") or {}
    lines.append(f"mode      {mode.get('mode', '?')} account {mode.get('account', '?')}")
    t = s["today"]
    pnl = f"today     {t['day']}: P&L {t['realized_pnl']:+.2f}, {t['trades']} trades, "
    pnl += f"{t['consecutive_losses']} losses in a row, loss budget used {t['loss_budget_used_pct']:.0f}%"
    lines.append(pnl + (f" of {t['loss_cap']:.2f}" if t.get("loss_cap") else ""))
    lines.append(f"limits    {', '.join(t['limits_hit']) or 'none hit'}")
    lines.append(f"positions {len(s['positions']) or 'none'}")
    for p in s["positions"]:
        contract = json.loads(p["contract"])
        lines.append(
            f"  {p['intent_id']}  {contract['symbol']} {contract['expiry']} "
            f"{contract['strike']:g}{contract['right']}  qty {p['quantity']:g} @ {p['entry_price']:.2f}"
        )
    lines.append(f"orders    {len(s['working_orders']) or 'none'} working")
    for o in s["working_orders"]:
        lines.append(
            f"  {o['client_order_id']}  {o['status']} {o['side']} {o['quantity']} @ {o['price']}"
        )
    rec = s.get("reconcile")
    if rec:
        lines.append(
            f"restart   last reconcile {rec['ts'][:19]}: recovered {rec['recovered']}, resent "
            f"{rec['resent']}, expired {rec['expired']}, mismatches {rec['mismatches']}"
        )
    for mm in s["mismatches"]:
        lines.append(f"  MISMATCH {mm['kind']} {mm['key']}: {mm['detail']}")
    return "\n".join(lines)
