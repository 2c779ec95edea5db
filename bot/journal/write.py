"""The durable journal: what the bot decided and did, in SQLite (WAL mode).

One ``Journal`` belongs to one thread (the actor that owns it); SQLite connections are not
shared. ``record`` takes any message of the catalogue and writes what it means, each in its own
transaction (or as one write of a group commit: ``bot/journal/group.py``); a failed write
raises ``JournalError`` so the owner can stop opening positions rather than trade unrecorded.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bot import messages as m
from bot.journal.group import GroupCommit
from bot.journal.schema import IntentStatus, JournalError, migrate, rank_sql
from bot.trading.order_state import advance

__all__ = ["Journal", "JournalError", "journal_path"]


def journal_path(directory: Path, mode: str) -> Path:
    return Path(directory) / f"journal-{mode}.sqlite3"


def _plain(value: Any) -> str:
    return value.isoformat() if isinstance(value, (date, datetime)) else str(value)


def _json(value: Any) -> str:
    return json.dumps(asdict(value) if hasattr(value, "__dataclass_fields__") else value,
                      default=_plain, separators=(",", ":"))


def _ts(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


class Journal(GroupCommit):
    """Writes and reads the journal; every public write is one transaction, or one write of
    the open group (``GroupCommit``)."""

    def __init__(self, path: Path, timer: Callable[[], float] = time.perf_counter) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.path, timeout=2.0, isolation_level=None)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.found_version = migrate(self.conn, str(self.path))
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open journal {self.path}: {exc}") from exc
        GroupCommit.__init__(self, self.conn, timer)

    def close(self) -> None:
        self.conn.close()

    # -- writing ------------------------------------------------------------------------------

    def record(self, message: Any, now: datetime, market: datetime | None = None) -> bool:
        """Write what ``message`` means; False for a message the journal does not keep.

        ``now`` stamps commands, which carry no time of their own; ``market`` (the exchange's
        clock, when known) is kept as the intent's first send time on that clock."""
        writer = _WRITERS.get(type(message))
        if writer is None:
            return False

        def write(conn: sqlite3.Connection, msg: Any) -> None:
            writer(conn, msg, now)
            if market is not None and isinstance(msg, m.SubmitBracket | m.SubmitOrder):
                conn.execute("UPDATE intents SET sent_market_at=COALESCE(sent_market_at, ?) "
                             "WHERE intent_id=?", (_ts(market), msg.intent_id))
        self._write(write, message)
        return True

    def save_daily_risk(self, day: date, start_equity: float, realized_pnl: float, trades: int,
                        consecutive_losses: int, kill_switch: bool, ts: datetime) -> None:
        self.record(m.RiskStateChanged(day, start_equity, realized_pnl, trades, consecutive_losses,
                                       kill_switch, ts), ts)

    def set_intent(self, intent_id: str, now: datetime, *, status: IntentStatus | None = None,
                   resent: bool = False) -> None:
        """Mark an intent during reconciliation (expired, or counted as sent once more)."""
        def write(conn: sqlite3.Connection, _: Any) -> None:
            if status is not None:
                _advance_intent(conn, intent_id, status, now)
            conn.execute("UPDATE intents SET resends=resends+?, updated_at=? WHERE intent_id=?",
                         (int(resent), _ts(now), intent_id))
        self._write(write, None)

    def record_adopted(self, trade: m.TradeRecovered, now: datetime) -> None:
        """An unknown broker position taken over: an intent row (open) with its synthetic entry."""
        def write(conn: sqlite3.Connection, _: Any) -> None:
            conn.execute("INSERT OR IGNORE INTO intents (intent_id, correlation_id, symbol, direction, "
                         "contract, premium, quantity, reasons, status, created_at, updated_at, sent_at) "
                         "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                         (trade.intent_id, trade.correlation_id, trade.symbol, "adopted",
                          _json(trade.contract), trade.premium, int(trade.legs[0][0].quantity),
                          _json(["adopted at restart: manage_unknown_positions"]), IntentStatus.OPEN.value,
                          _ts(now), _ts(now), _ts(now)))
            for spec, status, _filled_qty in trade.legs:
                conn.execute("INSERT OR IGNORE INTO orders (client_order_id, intent_id, spec, status, "
                             "updated_at) VALUES (?,?,?,?,?)", (spec.client_order_id, trade.intent_id,
                                                                _json(spec), status.value, _ts(now)))
            for fill in trade.fills:
                _filled(conn, fill, now)
        self._write(write, trade)

    def set_fact(self, name: str, value: Any, now: datetime) -> None:
        self._write(lambda conn, _: _fact(name, lambda _e: value)(conn, None, now), None)

    # -- reading ------------------------------------------------------------------------------

    def intent(self, intent_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM intents WHERE intent_id=?", (intent_id,)).fetchone()
        return dict(row) if row else None

    def intents(self, *statuses: IntentStatus) -> list[dict[str, Any]]:
        marks = ",".join("?" * len(statuses))
        rows = self.conn.execute(f"SELECT * FROM intents WHERE status IN ({marks}) ORDER BY created_at",
                                 [s.value for s in statuses])
        return [dict(r) for r in rows]

    def orders(self, intent_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT * FROM orders WHERE intent_id=? ORDER BY rowid", (intent_id,))
        return [dict(r) for r in rows]

    def fills(self, intent_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT * FROM fills WHERE intent_id=? ORDER BY ts", (intent_id,))
        return [dict(r) for r in rows]

    def daily_risk(self, day: date) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM daily_risk WHERE day=?", (day.isoformat(),)).fetchone()
        return dict(row) if row else None


_ADVANCE = (f"UPDATE intents SET status=CASE WHEN {rank_sql('?')} > {rank_sql('status')} "
            "THEN ? ELSE status END, updated_at=? WHERE intent_id=?")


def _advance_intent(conn: sqlite3.Connection, intent_id: str, status: IntentStatus,
                    ts: datetime) -> None:
    """Move an intent's status up ``INTENT_RANK``, never down (a late message changes nothing)."""
    conn.execute(_ADVANCE, (status.value, status.value, _ts(ts), intent_id))


def _ensure_intent(conn: sqlite3.Connection, e: Any, premium: float, ts: datetime) -> None:
    """The intent's row, if its EntryProposed has not been written yet (another actor's message
    came first): what ``e`` knows, completed when the proposal arrives."""
    conn.execute("INSERT OR IGNORE INTO intents (intent_id, correlation_id, symbol, direction, "
                 "contract, premium, quantity, reasons, status, created_at, updated_at) "
                 "VALUES (?,?,?,'',?,?,NULL,'[]',?,?,?)",
                 (e.intent_id, getattr(e, "correlation_id", e.intent_id),
                  getattr(e, "symbol", e.contract.symbol),
                  _json(e.contract), premium, IntentStatus.PROPOSED.value, _ts(ts), _ts(ts)))


def _proposed(conn: sqlite3.Connection, e: m.EntryProposed, now: datetime) -> None:
    conn.execute("INSERT INTO intents (intent_id, correlation_id, symbol, direction, "
                 "contract, premium, quantity, reasons, status, created_at, updated_at) "
                 "VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(intent_id) DO UPDATE SET "
                 "direction=excluded.direction, contract=excluded.contract, "
                 "premium=excluded.premium, reasons=excluded.reasons, "
                 "created_at=MIN(created_at, excluded.created_at)",
                 (e.intent_id, e.correlation_id, e.symbol, e.direction.value, _json(e.contract),
                  e.premium, None, _json(list(e.reasons)), IntentStatus.PROPOSED.value, _ts(e.ts), _ts(e.ts)))


def _decision(kind: str, status: IntentStatus | None) -> Any:
    def write(conn: sqlite3.Connection, e: Any, now: datetime) -> None:
        detail = getattr(e, "reason", "") or f"quantity={getattr(e, 'quantity', '')}"
        intent_id = getattr(e, "intent_id", None)
        conn.execute("INSERT INTO decisions (intent_id, correlation_id, symbol, kind, detail, ts) "
                     "VALUES (?,?,?,?,?,?)", (intent_id, e.correlation_id, e.symbol, kind, detail, _ts(e.ts)))
        if status and intent_id:
            if hasattr(e, "contract"):
                _ensure_intent(conn, e, getattr(e, "premium", 0.0), e.ts)
            conn.execute("UPDATE intents SET quantity=COALESCE(?, quantity) WHERE intent_id=?",
                         (getattr(e, "quantity", None), intent_id))
            _advance_intent(conn, intent_id, status, e.ts)
    return write


def _signal(conn: sqlite3.Connection, e: m.SignalRaised, now: datetime) -> None:
    conn.execute("INSERT INTO decisions (intent_id, correlation_id, symbol, kind, detail, ts) "
                 "VALUES (NULL,?,?,?,?,?)", (e.correlation_id, e.symbol, "signal",
                                             f"{e.direction.value}: {'; '.join(e.reasons)}", _ts(e.ts)))


def _submitted(conn: sqlite3.Connection, c: m.SubmitBracket | m.SubmitOrder, now: datetime) -> None:
    specs = (c.parent, c.take_profit, c.stop) if isinstance(c, m.SubmitBracket) else (c.order,)
    for spec in specs:
        conn.execute("INSERT OR IGNORE INTO orders (client_order_id, intent_id, spec, status, updated_at) "
                     "VALUES (?,?,?,?,?)", (spec.client_order_id, c.intent_id, _json(spec), "SUBMITTED",
                                            _ts(now)))
    premium = specs[0].limit_price or 0.0
    _ensure_intent(conn, c, premium, now)
    conn.execute("UPDATE intents SET sent_at=COALESCE(sent_at, ?) WHERE intent_id=?",
                 (_ts(now), c.intent_id))
    if isinstance(c, m.SubmitBracket) or specs[0].client_order_id.endswith(".entry"):
        _advance_intent(conn, c.intent_id, IntentStatus.SENT, now)


def _cancel(conn: sqlite3.Connection, c: m.CancelOrder, now: datetime) -> None:
    conn.execute("INSERT INTO order_events (client_order_id, status, filled, remaining, avg_fill_price, "
                 "reason, ts) VALUES (?,'CANCEL_REQUESTED',0,0,0,'',?)", (c.client_order_id, _ts(now)))


def _modified(conn: sqlite3.Connection, c: m.ModifyOrder, now: datetime) -> None:
    """The order's terms as last sent (a closing order re-priced in place)."""
    conn.execute("UPDATE orders SET spec=?, updated_at=? WHERE client_order_id=?",
                 (_json(c.order), _ts(now), c.order.client_order_id))
    conn.execute("INSERT INTO order_events (client_order_id, status, filled, remaining, avg_fill_price, "
                 "reason, ts) VALUES (?,'MODIFY_REQUESTED',0,0,0,?,?)",
                 (c.order.client_order_id, _price_text(c.order), _ts(now)))


def _price_text(spec: m.OrderSpec) -> str:
    return f"{spec.order_type.value} {spec.limit_price or ''}".strip()


def _order_update(conn: sqlite3.Connection, client_order_id: str, status: m.OrderStatus,
                  filled: float, avg_fill_price: float, broker_order_id: int, ts: datetime) -> None:
    """The stored order moves as ``order_state.advance`` allows, never backwards: a late
    "Submitted" after "Filled" (or an older snapshot) changes nothing but adds to what is known."""
    row = conn.execute("SELECT status FROM orders WHERE client_order_id=?",
                       (client_order_id,)).fetchone()
    if row is None:
        return
    try:
        stored = m.OrderStatus(row["status"] if isinstance(row, sqlite3.Row) else row[0])
    except ValueError:
        stored = m.OrderStatus.SUBMITTED
    new = advance(stored, status)
    conn.execute("UPDATE orders SET status=?, filled=MAX(filled, ?), "
                 "avg_fill_price=CASE WHEN ? > 0 THEN ? ELSE avg_fill_price END, "
                 "broker_order_id=CASE WHEN ? > 0 THEN ? ELSE broker_order_id END, updated_at=? "
                 "WHERE client_order_id=?",
                 (new.value, filled, avg_fill_price, avg_fill_price, broker_order_id,
                  broker_order_id, _ts(ts), client_order_id))


def _status(conn: sqlite3.Connection, e: m.OrderStatusChanged, now: datetime) -> None:
    conn.execute("INSERT INTO order_events (client_order_id, status, filled, remaining, avg_fill_price, "
                 "reason, ts) VALUES (?,?,?,?,?,?,?)", (e.client_order_id, e.status.value, e.filled,
                                                        e.remaining, e.avg_fill_price, e.reason, _ts(e.ts)))
    _order_update(conn, e.client_order_id, e.status, e.filled, e.avg_fill_price,
                  e.broker_order_id, e.ts)


def _rejected(conn: sqlite3.Connection, e: m.OrderRejected, now: datetime) -> None:
    conn.execute("INSERT INTO order_events (client_order_id, status, filled, remaining, avg_fill_price, "
                 "reason, ts) VALUES (?,?,0,0,0,?,?)", (e.client_order_id, "REJECTED",
                                                       f"{e.code}: {e.reason}", _ts(e.ts)))
    _order_update(conn, e.client_order_id, m.OrderStatus.REJECTED, 0.0, 0.0, 0, e.ts)


def _filled(conn: sqlite3.Connection, e: m.OrderFilled, now: datetime) -> None:
    conn.execute("INSERT OR IGNORE INTO fills VALUES (?,?,?,?,?,?,?,?)",
                 (e.exec_id, e.client_order_id, m.intent_of(e.client_order_id), e.side.value,
                  e.quantity, e.price, e.commission, _ts(e.ts)))


def _commission(conn: sqlite3.Connection, e: m.CommissionReported, now: datetime) -> None:
    """IB's late commission report completes the fill recorded without one."""
    conn.execute("UPDATE fills SET commission=? WHERE exec_id=?", (e.commission, e.exec_id))


def _position(event: str, status: IntentStatus) -> Any:
    def write(conn: sqlite3.Connection, e: Any, now: datetime) -> None:
        price = getattr(e, "avg_price", None) or getattr(e, "exit_price", 0.0)
        conn.execute("INSERT INTO positions (intent_id, symbol, event, quantity, price, realized, "
                     "reason, ts) VALUES (?,?,?,?,?,?,?,?)",
                     (e.intent_id, e.symbol, event, getattr(e, "quantity", 0.0), price,
                      getattr(e, "realized_pnl", None), getattr(e, "reason", ""), _ts(e.ts)))
        if hasattr(e, "contract"):
            _ensure_intent(conn, e, price or 0.0, e.ts)
        _advance_intent(conn, e.intent_id, status, e.ts)
    return write


def _pnl_corrected(conn: sqlite3.Connection, e: m.PnlCorrected, now: datetime) -> None:
    conn.execute("INSERT INTO positions (intent_id, symbol, event, quantity, price, realized, "
                 "reason, ts) VALUES (?,?,?,?,?,?,?,?)",
                 (e.intent_id, e.symbol, "pnl_corrected", 0.0, 0.0, e.amount, e.reason, _ts(e.ts)))


def _fact(name: str, value: Any) -> Any:
    def write(conn: sqlite3.Connection, e: Any, now: datetime) -> None:
        conn.execute("INSERT INTO facts VALUES (?,?,?) ON CONFLICT(name) DO UPDATE SET "
                     "value=excluded.value, ts=excluded.ts", (name, _json(value(e)), _ts(now)))
    return write


def _mismatch(conn: sqlite3.Connection, e: m.ReconcileMismatch, now: datetime) -> None:
    conn.execute("INSERT INTO mismatches (kind, key, detail, ts) VALUES (?,?,?,?)",
                 (e.kind, e.key, e.detail, _ts(e.ts)))


def _snapshot(conn: sqlite3.Connection, e: m.BrokerSnapshot, now: datetime) -> None:
    """What the broker holds: its positions replace the last ones, its fills are kept (deduped by
    exec id) and its statuses of our orders replace the journal's."""
    conn.execute("DELETE FROM broker_positions")
    conn.executemany("INSERT OR REPLACE INTO broker_positions VALUES (?,?,?,?)",
                     [(p.description, p.quantity, p.avg_cost, _ts(e.ts)) for p in e.positions])
    for fill in e.fills:
        _filled(conn, fill, now)
    for o in e.orders:  # the broker's word on each of our orders (reported as mismatches first)
        if o.client_order_id:
            _order_update(conn, o.client_order_id, o.status, o.filled, o.avg_fill_price,
                          o.broker_order_id, e.ts)


def _position_changed(conn: sqlite3.Connection, e: m.PositionChanged, now: datetime) -> None:
    """The broker's word on one position between snapshots (a flat one is removed)."""
    p = e.position
    if p.quantity == 0:
        conn.execute("DELETE FROM broker_positions WHERE description=?", (p.description,))
    else:
        conn.execute("INSERT OR REPLACE INTO broker_positions VALUES (?,?,?,?)",
                     (p.description, p.quantity, p.avg_cost, _ts(e.ts)))


def _risk_state(conn: sqlite3.Connection, e: m.RiskStateChanged, now: datetime) -> None:
    conn.execute(
        "INSERT INTO daily_risk VALUES (?,?,?,?,?,?,?) ON CONFLICT(day) DO UPDATE SET "
        "start_equity=excluded.start_equity, realized_pnl=excluded.realized_pnl, "
        "trades=excluded.trades, consecutive_losses=excluded.consecutive_losses, "
        "kill_switch=excluded.kill_switch, updated_at=excluded.updated_at",
        (e.day.isoformat(), e.start_equity, e.realized_pnl, e.trades, e.consecutive_losses,
         int(e.kill_switch), _ts(e.ts)))


_WRITERS: dict[type, Any] = {
    m.SignalRaised: _signal,
    m.EntryProposed: _proposed,
    m.EntryApproved: _decision("approved", IntentStatus.APPROVED),
    m.EntryDenied: _decision("denied", IntentStatus.DENIED),
    m.EntryAbandoned: _decision("abandoned", None),
    m.SubmitBracket: _submitted,
    m.SubmitOrder: _submitted,
    m.ModifyOrder: _modified,
    m.CancelOrder: _cancel,
    m.OrderStatusChanged: _status,
    m.OrderRejected: _rejected,
    m.OrderFilled: _filled,
    m.CommissionReported: _commission,
    m.PnlCorrected: _pnl_corrected,
    m.PositionOpened: _position("opened", IntentStatus.OPEN),
    m.PositionClosed: _position("closed", IntentStatus.CLOSED),
    m.EntryExpired: _position("expired", IntentStatus.EXPIRED),
    m.PositionRecovered: _position("recovered", IntentStatus.OPEN),
    m.ReconcileMismatch: _mismatch,
    m.BrokerSnapshot: _snapshot,
    m.PositionChanged: _position_changed,
    m.RiskStateChanged: _risk_state,
    m.ModeDecided: _fact("mode", lambda e: {"mode": e.mode, "account": e.account}),
    m.ReconcileFinished: _fact("reconcile", lambda e: e),
    m.KillSwitchChanged: _fact("kill_switch", lambda e: e),
}
