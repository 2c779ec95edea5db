"""Reading the journal: live intents for reconciliation, and a read-only view for ``status``.

``live_intents`` turns rows back into the records ``bot/journal/reconcile.py`` works on (JSON columns
decoded into ``OptionContract`` and ``OrderSpec``). ``open_readonly`` opens a journal file
without ever writing to it (no migration, no WAL checkpoint of its own), so ``python -m bot
status`` can read while the bot writes; a file from a newer schema is refused and says why.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

from bot import messages as m
from bot.journal.reconcile import JournalIntent, JournalOrder
from bot.journal.schema import LIVE_STATUSES, SCHEMA_VERSION, JournalError


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _contract_from_json(text: str) -> m.OptionContract:
    data = json.loads(text)
    data["right"] = m.Right(data["right"])
    return m.OptionContract(**data)


def _spec_from_json(text: str) -> m.OrderSpec:
    data = json.loads(text)
    data["side"] = m.Side(data["side"])
    data["order_type"] = m.OrderType(data["order_type"])
    return m.OrderSpec(**data)


def live_intents(conn: sqlite3.Connection) -> list[JournalIntent]:
    """Every intent that may still have orders or a position at the broker, oldest first."""
    marks = ",".join("?" * len(LIVE_STATUSES))
    rows = conn.execute(
        f"SELECT * FROM intents WHERE status IN ({marks}) ORDER BY created_at",
        [s.value for s in LIVE_STATUSES],
    ).fetchall()
    return [_intent(conn, row) for row in rows]


def finished_intents(conn: sqlite3.Connection, intent_ids: set[str]) -> dict[str, str]:
    """Of ``intent_ids``, those the journal holds as finished (closed, expired, denied ...):
    intent id -> correlation id."""
    ids, live = sorted(intent_ids), [s.value for s in LIVE_STATUSES]
    if not ids:
        return {}
    rows = conn.execute(
        f"SELECT intent_id, correlation_id FROM intents WHERE intent_id IN ({','.join('?' * len(ids))}) "
        f"AND status NOT IN ({','.join('?' * len(live))})", [*ids, *live]).fetchall()
    return {row["intent_id"]: row["correlation_id"] for row in rows}


def buy_back_numbers(conn: sqlite3.Connection) -> dict[str, int]:
    """The highest buy-back number (``<intent>.coverN``) written per intent."""
    highest: dict[str, int] = {}
    for (ref,) in conn.execute("SELECT client_order_id FROM orders WHERE client_order_id LIKE ?",
                               ("%.cover%",)):
        parsed = m.parse_order_ref(ref)
        if parsed is not None and parsed.role == "cover":
            highest[parsed.intent_id] = max(highest.get(parsed.intent_id, 0), parsed.revision)
    return highest


def contract_key_of(conn: sqlite3.Connection, intent_id: str) -> str | None:
    row = conn.execute("SELECT contract FROM intents WHERE intent_id = ?", (intent_id,)).fetchone()
    return _contract_from_json(row["contract"]).key if row is not None else None


def _intent(conn: sqlite3.Connection, row: sqlite3.Row) -> JournalIntent:
    contract = _contract_from_json(row["contract"])
    orders = tuple(
        JournalOrder(_spec_from_json(o["spec"]), o["status"])
        for o in conn.execute(
            "SELECT spec, status FROM orders WHERE intent_id=? ORDER BY rowid", (row["intent_id"],)
        )
    )
    fills = tuple(
        m.OrderFilled(
            row["correlation_id"],
            f["client_order_id"],
            f["exec_id"],
            contract,
            m.Side(f["side"]),
            f["quantity"],
            f["price"],
            _dt(f["ts"]),
            f["commission"],
        )
        for f in conn.execute(
            "SELECT * FROM fills WHERE intent_id=? ORDER BY ts", (row["intent_id"],)
        )
    )
    return JournalIntent(
        row["intent_id"],
        row["correlation_id"],
        row["symbol"],
        contract,
        row["premium"],
        row["status"],
        _dt(row["sent_at"]),
        row["resends"],
        orders,
        fills,
        _dt(row["sent_market_at"]),
    )


def open_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection; JournalError if the file is missing, unreadable or too new."""
    if not Path(path).exists():
        raise JournalError(f"no journal at {path} yet (the bot has not traded in this mode)")
    try:
        conn = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, timeout=0.5)
        conn.row_factory = sqlite3.Row
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as exc:
        raise JournalError(f"cannot read journal {path}: {exc}") from exc
    if version > SCHEMA_VERSION:
        conn.close()
        raise JournalError(
            f"{path} has journal schema v{version}, newer than this bot's "
            f"v{SCHEMA_VERSION}: upgrade the bot to read it"
        )
    if version < SCHEMA_VERSION:
        conn.close()
        raise JournalError(
            f"{path} has journal schema v{version}; start the bot once to migrate it"
        )
    return conn


def rows(conn: sqlite3.Connection, sql: str, *args: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sql, args)]


def fact(conn: sqlite3.Connection, name: str) -> Any:
    row = conn.execute("SELECT value, ts FROM facts WHERE name=?", (name,)).fetchone()
    return {"ts": row["ts"], **json.loads(row["value"])} if row else None
