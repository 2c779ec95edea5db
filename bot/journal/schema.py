"""The journal's SQLite schema and its migrations.

``PRAGMA user_version`` holds the schema version. Opening a database runs every migration
above its version, each in one transaction; a database from a newer bot is refused, never
touched, because an older bot cannot know what the newer columns mean.
"""

from __future__ import annotations

import sqlite3
from enum import Enum


class IntentStatus(str, Enum):
    """Where one intent stands in the journal (the ``intents.status`` column).

    PROPOSED -> APPROVED -> SENT -> OPEN -> CLOSED, or DENIED, or EXPIRED (never filled, or
    given up at a restart). APPROVED, SENT and OPEN are live: reconciliation looks at them.
    (The v1 schema's column comment also names "sending", which no bot ever wrote.)
    """

    PROPOSED = "proposed"
    APPROVED = "approved"
    DENIED = "denied"
    SENT = "sent"
    OPEN = "open"
    CLOSED = "closed"
    EXPIRED = "expired"


INTENT_RANK: dict[IntentStatus, int] = {
    IntentStatus.PROPOSED: 0,
    IntentStatus.APPROVED: 1,
    IntentStatus.DENIED: 2,
    IntentStatus.SENT: 2,
    IntentStatus.EXPIRED: 3,
    IntentStatus.OPEN: 4,
    IntentStatus.CLOSED: 5,
}
"""An intent's status only moves up this rank. Actors reach the journal in no fixed order
(execution's SubmitBracket or PositionOpened may come before risk's EntryApproved): a lower
status arriving late never overwrites a higher one. EXPIRED ranks below OPEN because a fill
that arrives after the entry was given up still opened a position (the broker is the truth)."""


def rank_sql(column: str) -> str:
    """``INTENT_RANK`` as an SQL expression over ``column`` (-1 for an unknown value)."""
    whens = " ".join(f"WHEN '{s.value}' THEN {r}" for s, r in INTENT_RANK.items())
    return f"(CASE {column} {whens} ELSE -1 END)"


LIVE_STATUSES: tuple[IntentStatus, ...] = (IntentStatus.APPROVED, IntentStatus.SENT, IntentStatus.OPEN)

MIGRATIONS: tuple[str, ...] = (
    # v1: everything the bot decides and does, keyed by the intent id carried in orderRef.
    """
    CREATE TABLE intents (
        intent_id      TEXT PRIMARY KEY,
        correlation_id TEXT NOT NULL,
        symbol         TEXT NOT NULL,
        direction      TEXT NOT NULL,
        contract       TEXT NOT NULL,   -- JSON of the OptionContract
        premium        REAL NOT NULL,
        quantity       INTEGER,
        reasons        TEXT NOT NULL,   -- JSON list
        status         TEXT NOT NULL,   -- proposed, approved, denied, sending, sent, open, closed, expired
        created_at     TEXT NOT NULL,
        updated_at     TEXT NOT NULL
    );
    CREATE TABLE decisions (
        id             INTEGER PRIMARY KEY,
        intent_id      TEXT,
        correlation_id TEXT NOT NULL,
        symbol         TEXT NOT NULL,
        kind           TEXT NOT NULL,   -- signal, approved, denied, abandoned
        detail         TEXT NOT NULL,
        ts             TEXT NOT NULL
    );
    CREATE TABLE orders (
        client_order_id TEXT PRIMARY KEY,
        intent_id       TEXT NOT NULL,
        spec            TEXT NOT NULL,  -- JSON of the OrderSpec
        status          TEXT NOT NULL,
        filled          REAL NOT NULL DEFAULT 0,
        avg_fill_price  REAL NOT NULL DEFAULT 0,
        broker_order_id INTEGER NOT NULL DEFAULT 0,
        updated_at      TEXT NOT NULL
    );
    CREATE TABLE order_events (
        id              INTEGER PRIMARY KEY,
        client_order_id TEXT NOT NULL,
        status          TEXT NOT NULL,
        filled          REAL NOT NULL,
        remaining       REAL NOT NULL,
        avg_fill_price  REAL NOT NULL,
        reason          TEXT NOT NULL,
        ts              TEXT NOT NULL
    );
    CREATE TABLE fills (
        exec_id         TEXT PRIMARY KEY,
        client_order_id TEXT NOT NULL,
        intent_id       TEXT NOT NULL,
        side            TEXT NOT NULL,
        quantity        REAL NOT NULL,
        price           REAL NOT NULL,
        commission      REAL NOT NULL,
        ts              TEXT NOT NULL
    );
    CREATE TABLE positions (
        id          INTEGER PRIMARY KEY,
        intent_id   TEXT NOT NULL,
        symbol      TEXT NOT NULL,
        event       TEXT NOT NULL,      -- opened, closed
        quantity    REAL NOT NULL,
        price       REAL NOT NULL,
        realized    REAL,
        reason      TEXT NOT NULL,
        ts          TEXT NOT NULL
    );
    CREATE TABLE daily_risk (
        day                TEXT PRIMARY KEY,  -- the New York exchange date
        start_equity       REAL NOT NULL,
        realized_pnl       REAL NOT NULL,
        trades             INTEGER NOT NULL,
        consecutive_losses INTEGER NOT NULL,
        kill_switch        INTEGER NOT NULL,
        updated_at         TEXT NOT NULL
    );
    CREATE INDEX orders_by_intent ON orders(intent_id);
    CREATE INDEX fills_by_intent ON fills(intent_id);
    """,
    # v2: restart safety. When an intent was first sent (wall clock) and how often it was sent
    # again after a restart; what reconciliation found; what the broker held at the last connect;
    # small facts (mode, account, journal failures) for `python -m bot status`.
    """
    ALTER TABLE intents ADD COLUMN sent_at TEXT;
    ALTER TABLE intents ADD COLUMN resends INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE mismatches (
        id      INTEGER PRIMARY KEY,
        kind    TEXT NOT NULL,
        key     TEXT NOT NULL,
        detail  TEXT NOT NULL,
        ts      TEXT NOT NULL
    );
    CREATE TABLE broker_positions (
        description TEXT PRIMARY KEY,
        quantity    REAL NOT NULL,
        avg_cost    REAL NOT NULL,
        ts          TEXT NOT NULL
    );
    CREATE TABLE facts (
        name        TEXT PRIMARY KEY,
        value       TEXT NOT NULL,
        ts          TEXT NOT NULL
    );
    """,
    # v3: when an intent was first sent on the exchange's clock (IB's server time at the last
    # connect carried forward), so the crash-resend window is market time, not the host's
    # clock (a Raspberry Pi has no battery clock; the simulator runs faster than the host).
    """
    ALTER TABLE intents ADD COLUMN sent_market_at TEXT;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class JournalError(Exception):
    """The journal cannot be used (a newer schema, an unwritable file, a full disk)."""


def migrate(conn: sqlite3.Connection, path: str) -> int:
    """Bring ``conn`` to ``SCHEMA_VERSION``; returns the version it found."""
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    if found > SCHEMA_VERSION:
        raise JournalError(
            f"{path} has journal schema v{found}, newer than this bot's v{SCHEMA_VERSION}: "
            "upgrade the bot, or point journal at another file; the database was not changed")
    for version in range(found, SCHEMA_VERSION):
        try:
            conn.executescript(
                f"BEGIN;\n{MIGRATIONS[version]}\nPRAGMA user_version = {version + 1};\nCOMMIT;")
        except sqlite3.Error:
            if conn.in_transaction:
                conn.rollback()
            raise
    return found
