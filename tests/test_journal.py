"""The SQLite journal: what is recorded, migrations, and refusing what it cannot handle."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime

import pytest

from bot import messages as m
from bot.journal.schema import SCHEMA_VERSION
from bot.journal.write import Journal, JournalError, journal_path

T0 = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
CONTRACT = m.OptionContract("SPY", "20261118", 598.0, m.Right.CALL)
ENTRY = m.OrderSpec("SPY-1.entry", m.Side.BUY, 3, m.OrderType.LIMIT, limit_price=1.60)
TP = m.OrderSpec("SPY-1.tp", m.Side.SELL, 3, m.OrderType.LIMIT, limit_price=2.08, oca_group="oca-SPY-1")
SL = m.OrderSpec("SPY-1.sl", m.Side.SELL, 3, m.OrderType.STOP, stop_price=1.28, oca_group="oca-SPY-1")


@pytest.fixture
def journal(tmp_path):
    j = Journal(journal_path(tmp_path, "sim"))
    yield j
    j.close()


def test_one_trade_is_recorded_from_intent_to_close(journal):
    messages = [
        m.EntryProposed("c1", "SPY-1", "SPY", m.Direction.CALL, CONTRACT, 1.60, 1.55, 1.60, T0,
                        ("trigger: ema cross up",)),
        m.EntryApproved("c1", "SPY-1", "SPY", CONTRACT, 3, 1.60, T0),
        m.SubmitBracket("c1", "SPY-1", CONTRACT, ENTRY, TP, SL),
        m.OrderStatusChanged("c1", "SPY-1.entry", m.OrderStatus.ACKED, 0, 3, 0.0, T0, 11),
        m.OrderFilled("c1", "SPY-1.entry", "e1", CONTRACT, m.Side.BUY, 3, 1.60, T0, 1.95),
        m.OrderFilled("c1", "SPY-1.entry", "e1", CONTRACT, m.Side.BUY, 3, 1.60, T0, 1.95),  # duplicate
        m.OrderStatusChanged("c1", "SPY-1.entry", m.OrderStatus.FILLED, 3, 0, 1.60, T0, 11),
        m.PositionOpened("c1", "SPY-1", "SPY", CONTRACT, 3, 1.60, T0),
        m.OrderFilled("c1", "SPY-1.tp", "e2", CONTRACT, m.Side.SELL, 3, 2.08, T0, 1.95),
        m.PositionClosed("c1", "SPY-1", "SPY", CONTRACT, 3, 1.60, 2.08, 140.10, "take profit", T0),
    ]

    assert all(journal.record(msg, T0) for msg in messages)

    intent = journal.intent("SPY-1")
    assert (intent["status"], intent["quantity"], intent["premium"]) == ("closed", 3, 1.60)
    orders = {o["client_order_id"]: o for o in journal.orders("SPY-1")}
    assert set(orders) == {"SPY-1.entry", "SPY-1.tp", "SPY-1.sl"}
    assert (orders["SPY-1.entry"]["status"], orders["SPY-1.entry"]["broker_order_id"]) == ("FILLED", 11)
    fills = journal.fills("SPY-1")
    assert [(f["exec_id"], f["quantity"], f["price"]) for f in fills] == [("e1", 3, 1.60), ("e2", 3, 2.08)]


def test_messages_the_journal_does_not_keep_are_skipped(journal):
    assert journal.record(m.TimerFired("x", T0), T0) is False


def test_daily_risk_state_is_upserted_per_exchange_day(journal):
    day = date(2026, 11, 18)
    journal.save_daily_risk(day, 10_000, -96.0, 1, 1, False, T0)
    journal.save_daily_risk(day, 10_000, -192.0, 2, 2, True, T0)

    row = journal.daily_risk(day)

    assert (row["realized_pnl"], row["trades"], row["consecutive_losses"], row["kill_switch"]) == (
        -192.0, 2, 2, 1)
    assert journal.daily_risk(date(2026, 11, 19)) is None


def test_the_journal_uses_wal_and_reaches_the_current_schema(journal):
    assert journal.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert journal.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert journal.found_version == 0


def test_reopening_keeps_the_records_and_migrates_nothing(tmp_path):
    path = journal_path(tmp_path, "paper")
    first = Journal(path)
    first.record(m.EntryApproved("c1", "SPY-9", "SPY", CONTRACT, 2, 1.0, T0), T0)
    first.close()

    again = Journal(path)

    assert again.found_version == SCHEMA_VERSION
    assert again.conn.execute("SELECT count(*) FROM decisions").fetchone()[0] == 1
    again.close()


def test_a_database_from_a_newer_schema_is_refused_and_left_untouched(tmp_path):
    path = journal_path(tmp_path, "live")
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()

    with pytest.raises(JournalError) as caught:
        Journal(path)

    assert f"schema v{SCHEMA_VERSION + 1}, newer than this bot's v{SCHEMA_VERSION}" in str(caught.value)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    conn.close()


def test_a_write_that_fails_raises_journal_error(journal):
    journal.conn.execute("DROP TABLE fills")

    with pytest.raises(JournalError) as caught:
        journal.record(m.OrderFilled("c1", "SPY-1.entry", "e1", CONTRACT, m.Side.BUY, 1, 1.0, T0), T0)

    assert "journal write failed (OrderFilled)" in str(caught.value)
    assert not journal.conn.in_transaction


def test_each_mode_has_its_own_file(tmp_path):
    assert {journal_path(tmp_path, mode).name for mode in ("sim", "shadow", "paper", "live")} == {
        "journal-sim.sqlite3", "journal-shadow.sqlite3", "journal-paper.sqlite3", "journal-live.sqlite3"}


def test_a_v1_journal_is_migrated_in_place_and_keeps_its_records(tmp_path):
    from bot.journal.schema import MIGRATIONS

    path = journal_path(tmp_path, "paper")
    conn = sqlite3.connect(path)
    conn.executescript(f"BEGIN;\n{MIGRATIONS[0]}\nPRAGMA user_version = 1;\nCOMMIT;")
    conn.execute("INSERT INTO intents VALUES ('SPY-1','c1','SPY','call','{}',1.6,3,'[]','open','t0','t0')")
    conn.commit()
    conn.close()

    migrated = Journal(path)

    assert migrated.found_version == 1
    row = migrated.intent("SPY-1")
    assert (row["status"], row["sent_at"], row["resends"], row["sent_market_at"]) == (
        "open", None, 0, None)
    assert migrated.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    migrated.close()


def test_a_broker_snapshot_brings_in_fills_positions_and_order_statuses(journal):
    journal.record(m.SubmitBracket("c1", "SPY-1", CONTRACT, ENTRY, TP, SL), T0)
    fill = m.OrderFilled("c1", "SPY-1.tp", "e9", CONTRACT, m.Side.SELL, 3, 2.08, T0, 1.95)
    snapshot = m.BrokerSnapshot(
        True,
        (m.BrokerOrder("SPY-1.tp", 12, m.OrderStatus.FILLED, 3, 0, 2.08, CONTRACT.key),
         m.BrokerOrder("", 99, m.OrderStatus.ACKED, 0, 1, 0.0, "SPY")),
        (fill, fill),
        (m.BrokerPosition(CONTRACT, CONTRACT.key, 2.0, 160.0),),
        T0,
    )

    journal.record(snapshot, T0)

    orders = {o["client_order_id"]: (o["status"], o["filled"], o["broker_order_id"])
              for o in journal.orders("SPY-1")}
    assert orders == {"SPY-1.entry": ("SUBMITTED", 0, 0), "SPY-1.tp": ("FILLED", 3, 12),
                      "SPY-1.sl": ("SUBMITTED", 0, 0)}
    assert [(f["exec_id"], f["quantity"]) for f in journal.fills("SPY-1")] == [("e9", 3)]
    assert [tuple(r) for r in journal.conn.execute("SELECT * FROM broker_positions")] == [
        (CONTRACT.key, 2.0, 160.0, T0.isoformat())]


def test_broker_position_changes_keep_the_broker_positions_table_current(journal):
    held = m.BrokerPosition(CONTRACT, "SPY 20261118 598C", 3.0, 160.65)

    journal.record(m.PositionChanged(held, T0), T0)
    rows = journal.conn.execute("SELECT description, quantity, avg_cost FROM broker_positions").fetchall()
    journal.record(m.PositionChanged(m.BrokerPosition(CONTRACT, "SPY 20261118 598C", 0.0, 0.0), T0), T0)

    assert [tuple(r) for r in rows] == [("SPY 20261118 598C", 3.0, 160.65)]
    assert journal.conn.execute("SELECT count(*) FROM broker_positions").fetchone()[0] == 0


PROPOSED = m.EntryProposed("c1", "SPY-1", "SPY", m.Direction.CALL, CONTRACT, 1.60, 1.55, 1.60, T0,
                           ("trigger: ema cross up",))
APPROVED = m.EntryApproved("c1", "SPY-1", "SPY", CONTRACT, 3, 1.60, T0)
BRACKET = m.SubmitBracket("c1", "SPY-1", CONTRACT, ENTRY, TP, SL)
OPENED = m.PositionOpened("c1", "SPY-1", "SPY", CONTRACT, 3, 1.60, T0)


@pytest.mark.parametrize(
    "order",
    [
        (PROPOSED, APPROVED, BRACKET, OPENED),  # the usual order
        (PROPOSED, BRACKET, APPROVED, OPENED),  # execution's command before risk's approval
        (PROPOSED, OPENED, APPROVED, BRACKET),  # the fill's news before both
        (OPENED, BRACKET, APPROVED, PROPOSED),  # the strategy's proposal written last
    ],
    ids=["usual", "bracket-first", "opened-first", "proposal-last"],
)
def test_an_intents_status_does_not_depend_on_which_actor_reached_the_journal_first(
    journal, order
):
    for message in order:
        journal.record(message, T0)

    intent = journal.intent("SPY-1")
    assert (intent["status"], intent["quantity"], intent["direction"], intent["premium"]) == (
        "open", 3, "call", 1.60)
    assert intent["sent_at"] is not None
    assert [o["client_order_id"] for o in journal.orders("SPY-1")] == [
        "SPY-1.entry", "SPY-1.tp", "SPY-1.sl"]


def test_a_stored_order_status_never_moves_backwards(journal):
    S = m.OrderStatus
    journal.record(BRACKET, T0)
    journal.record(m.OrderStatusChanged("c1", "SPY-1.entry", S.FILLED, 3, 0, 1.60, T0, 11), T0)

    journal.record(m.OrderStatusChanged("c1", "SPY-1.entry", S.ACKED, 0, 3, 0.0, T0, 11), T0)
    journal.record(m.BrokerSnapshot(False, (m.BrokerOrder("SPY-1.entry", 11, S.ACKED, 0, 3, 0.0),),
                                    (), (), T0), T0)

    entry = journal.orders("SPY-1")[0]
    assert (entry["status"], entry["filled"], entry["avg_fill_price"]) == ("FILLED", 3, 1.60)


def test_an_entry_written_before_its_approval_is_still_sent_for_the_restart(journal):
    # execution's SubmitBracket reached the journal before risk's EntryApproved: after a crash
    # here the intent must read "sent" (reconcile resends or expires it), not "approved"
    for message in (PROPOSED, BRACKET, APPROVED):
        journal.record(message, T0)

    assert journal.intent("SPY-1")["status"] == "sent"
