"""The JournalActor in the real actor system (stub broker): write-ahead, failed writes, opening.

The broker's connect is played by the test: ``ModeDecided``, ``AccountUpdated`` and an empty
``BrokerSnapshot``; entries are proposed to risk directly.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime

import pykka
import pytest
from actor_harness import WAIT_S, Bot, Clock, Monotonic, make_settings, start_bot
from loguru import logger

from actors.journal import JournalActor
from bot import messages as m
from bot.app.routing import Directory
from bot.journal.schema import SCHEMA_VERSION
from bot.journal.write import journal_path

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # 10:00 New York
CONTRACT = m.OptionContract("SPY", "20261120", 598.0, m.Right.CALL, con_id=42)
def connect(bot: Bot, mode: str = "paper", equity: float = 10_000.0) -> m.ReconcileFinished:
    now = bot.clock()
    bot.publish(m.ModeDecided(mode, "DU1", now))
    bot.publish(m.AccountUpdated("DU1", equity, now))
    bot.publish(m.BrokerSnapshot(True, (), (), (), now))
    return bot.probe.expect(m.ReconcileFinished)


def propose(bot: Bot, intent_id: str, symbol: str = "SPY") -> None:
    contract = (
        CONTRACT if symbol == "SPY" else m.OptionContract(symbol, "20261120", 100.0, m.Right.PUT)
    )
    bot.publish(
        m.EntryProposed(
            "c-" + intent_id,
            intent_id,
            symbol,
            m.Direction.CALL,
            contract,
            1.60,
            1.55,
            1.60,
            bot.clock(),
            ("test",),
        )
    )


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, journal={"dir": str(tmp_path / "data")})


@pytest.fixture
def bot(settings):
    running = start_bot(settings, Clock(T0), journal=True)
    yield running
    running.supervisor.stop()


def rows(path, sql):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_an_entry_is_committed_before_the_broker_sees_it(bot, settings):
    connect(bot)

    propose(bot, "SPY-1")
    bot.probe.expect(m.OrderStatusChanged, lambda e: e.client_order_id == "SPY-1.sl")
    bot.sync(rounds=4)

    path = journal_path(settings.journal.dir, "paper")
    assert rows(path, "SELECT intent_id, status, quantity, resends FROM intents") == [
        ("SPY-1", "sent", 3, 0)
    ]
    assert rows(path, "SELECT client_order_id, status FROM orders ORDER BY rowid") == [
        ("SPY-1.entry", "ACKED"),
        ("SPY-1.tp", "ACKED"),
        ("SPY-1.sl", "ACKED"),
    ]
    (bracket,) = bot.broker.commands(m.SubmitBracket).get(timeout=WAIT_S)
    assert bracket.intent_id == "SPY-1"


def test_a_failed_write_refuses_the_entry_and_every_entry_after_it_but_exits_still_go(
    bot, settings
):
    connect(bot)
    propose(bot, "SPY-1")
    bot.probe.expect(m.OrderStatusChanged, lambda e: e.client_order_id == "SPY-1.sl")
    bot.sync(rounds=4)
    path = journal_path(settings.journal.dir, "paper")
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE orders")  # a damaged file under the running bot
    conn.close()

    propose(bot, "QQQ-2", symbol="QQQ")
    rejected = bot.probe.expect(m.OrderRejected, lambda e: e.client_order_id == "QQQ-2.entry")
    failed = bot.probe.expect(m.JournalFailed)
    bot.ref("execution").tell(m.KillSwitchChanged(True, "test", bot.clock()))  # cancels SPY-1.entry
    bot.sync(rounds=4)
    propose(bot, "IWM-3", symbol="IWM")
    denied = bot.probe.expect(m.EntryDenied, lambda e: e.intent_id == "IWM-3")

    assert (rejected.code, rejected.reason.startswith("journal write failed: ")) == (0, True)
    assert "no such table: orders" in failed.reason
    assert denied.reason.startswith("journal write failed")
    assert [c.intent_id for c in bot.broker.commands(m.SubmitBracket).get(timeout=WAIT_S)] == [
        "SPY-1"
    ]
    cancels = bot.broker.commands(m.CancelOrder).get(timeout=WAIT_S)
    # cancels still reach the broker unrecorded: the refused entry's exits, then the kill switch's
    # cancel of SPY-1.entry and, once it is cancelled, its exits
    assert [c.client_order_id for c in cancels] == [
        "QQQ-2.tp",
        "QQQ-2.sl",
        "SPY-1.entry",
        "SPY-1.tp",
        "SPY-1.sl",
    ]


def test_no_entry_passes_before_the_restart_reconciliation(bot):
    bot.publish(m.AccountUpdated("DU1", 10_000.0, bot.clock()))

    propose(bot, "SPY-1")
    denied = bot.probe.expect(m.EntryDenied)

    assert denied.reason == "restart reconciliation not finished"


def test_a_journal_from_a_newer_schema_refuses_the_start_and_says_why(bot, settings):
    path = journal_path(settings.journal.dir, "paper")
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()

    bot.publish(m.ModeDecided("paper", "DU1", bot.clock()))
    refused = bot.probe.expect(m.StartRefused)

    assert refused.reason.startswith(
        f"journal: {path} has journal schema v{SCHEMA_VERSION + 1}, newer"
    )
    assert "the database was not changed" in refused.reason


def test_each_mode_writes_its_own_file(bot, settings):
    connect(bot, mode="shadow")
    propose(bot, "SPY-1")
    bot.probe.expect(m.OrderStatusChanged, lambda e: e.client_order_id == "SPY-1.sl")
    bot.sync(rounds=4)

    assert sorted(os.listdir(settings.journal.dir))[0] == "journal-shadow.sqlite3"
    assert not journal_path(settings.journal.dir, "paper").exists()


def test_the_daily_loss_cap_holds_after_a_restart_and_resets_the_next_exchange_day(settings):
    clock = Clock(T0)
    first = start_bot(settings, clock, journal=True)
    connect(first)
    propose(first, "SPY-1")
    first.probe.expect(m.OrderStatusChanged, lambda e: e.client_order_id == "SPY-1.sl")
    first.broker.fill("SPY-1.entry", 3, 1.60).get(timeout=WAIT_S)
    first.broker.fill("SPY-1.sl", 3, 1.40).get(timeout=WAIT_S)  # -60 of the 200 cap
    first.probe.expect(m.PositionClosed)
    first.sync(rounds=4)
    first.supervisor.stop()
    pykka.ActorRegistry.stop_all(timeout=10)

    again = start_bot(settings, clock, journal=True)
    connect(again, equity=9_940.0)
    propose(again, "QQQ-2", symbol="QQQ")  # 60 restored + 99.90 worst case fits the 200 cap
    approved = again.probe.expect(m.EntryApproved)
    again.probe.expect(m.OrderStatusChanged, lambda e: e.client_order_id == "QQQ-2.sl")
    again.broker.fill("QQQ-2.entry", approved.quantity, 1.60).get(timeout=WAIT_S)
    again.broker.fill("QQQ-2.sl", approved.quantity, 1.00).get(timeout=WAIT_S)  # -180 through a gap
    again.probe.expect(m.PositionClosed)
    propose(again, "IWM-3", symbol="IWM")
    capped = again.probe.expect(m.EntryDenied)
    clock.advance(3 * 24 * 3600)  # Friday -> Monday, the next exchange day
    propose(again, "IWM-4", symbol="IWM")
    next_day = again.probe.expect(m.EntryApproved)
    again.supervisor.stop()

    assert capped.reason.startswith("daily loss cap reached: realized -")
    assert "2.0% of 10000.00" in capped.reason  # the saved start equity, not the 9940 after losses
    assert next_day.intent_id == "IWM-4"


def test_a_journal_failing_on_every_write_logs_one_error_then_a_summary_a_minute(settings):
    errors = []
    sink = logger.add(lambda msg: errors.append(msg.record["message"]), level="ERROR")
    mono = Monotonic()
    journal = JournalActor.start(Directory(), settings, clock=Clock(T0), monotonic=mono)
    journal.tell(m.ModeDecided("paper", "DU1", T0))
    journal.proxy().written.get(timeout=WAIT_S)
    conn = sqlite3.connect(journal_path(settings.journal.dir, "paper"))
    conn.execute("DROP TABLE mismatches")  # every mismatch record fails from here
    conn.close()

    def failing_writes(count: int) -> None:
        for i in range(count):
            journal.tell(m.ReconcileMismatch("status_differs", f"k{i}", "test", T0))
        journal.proxy().written.get(timeout=WAIT_S)

    try:
        failing_writes(50)  # at 100 s
        mono.now += 30
        failing_writes(50)  # at 130 s: still within the minute
        quiet = list(errors)
        mono.now += 31
        failing_writes(1)  # at 161 s: the minute is over
        stats = journal.proxy().stats().get(timeout=WAIT_S)
    finally:
        logger.remove(sink)
        journal.stop()

    assert len(quiet) == 1 and quiet[0].startswith("journal_write_failed reason=journal write")
    # the 99 failures after the first line, summarised once the minute is over
    assert errors[1].startswith("journal_write_failures count=99 period_s=60 total=100 reason=")
    assert len(errors) == 2
    assert stats["failures"] == 101 and stats["failed"].endswith("no such table: mismatches")


def test_an_entry_is_stamped_with_the_exchanges_clock_from_the_last_snapshot(bot, settings):
    # Arrange: IB's server time is 90 minutes ahead of this host's clock
    now = bot.clock()
    bot.publish(m.ModeDecided("paper", "DU1", now))
    bot.publish(m.AccountUpdated("DU1", 10_000.0, now))
    bot.publish(m.BrokerSnapshot(True, (), (), (), now, market_ts=now.replace(hour=16, minute=30)))
    bot.probe.expect(m.ReconcileFinished)

    # Act
    propose(bot, "SPY-1")
    bot.probe.expect(m.OrderStatusChanged, lambda e: e.client_order_id == "SPY-1.sl")
    bot.sync(rounds=4)

    # Assert
    path = journal_path(settings.journal.dir, "paper")
    assert rows(path, "SELECT sent_at, sent_market_at FROM intents") == [
        (now.isoformat(), now.replace(hour=16, minute=30).isoformat())
    ]


def test_a_cancel_the_broker_could_not_take_while_restarting_is_sent_after_its_snapshot(
    bot, settings
):
    # Arrange: the broker actor is gone (the supervisor is about to start a new one)
    from doubles.stub_broker import StubBroker

    connect(bot)
    bot.ref("broker").stop()
    bot.ref("journal").tell(m.CancelOrder("c-SPY-1", "SPY-1.tp"))
    bot.ref("journal").ask(m.Ping("x", 0.0, bot.probe))  # the journal handled it

    # Act: the new broker connects and publishes its snapshot
    new_broker = StubBroker.start(bot.directory, bot.clock)
    bot.publish(m.BrokerSnapshot(False, (), (), (), bot.clock()))
    bot.probe.expect(m.ReconcileFinished, lambda e: not e.first)

    # Assert
    cancels = new_broker.proxy().commands(m.CancelOrder).get(timeout=WAIT_S)
    new_broker.stop()
    assert [c.client_order_id for c in cancels] == ["SPY-1.tp"]


def test_a_modification_is_recorded_with_its_new_terms_before_the_broker_sees_it(bot, settings):
    # Arrange: an entry whose take-profit is at the broker
    connect(bot)
    propose(bot, "SPY-1")
    bot.probe.expect(m.OrderStatusChanged, lambda e: e.client_order_id == "SPY-1.sl")
    (bracket,) = bot.broker.commands(m.SubmitBracket).get(timeout=WAIT_S)
    repriced = m.OrderSpec(bracket.take_profit.client_order_id, m.Side.SELL,
                           bracket.take_profit.quantity, m.OrderType.LIMIT, limit_price=1.99)

    # Act
    bot.ref("journal").tell(m.ModifyOrder("c-SPY-1", "SPY-1", CONTRACT, repriced))
    bot.sync(rounds=4)

    # Assert: the stored order carries the new price; the broker got the modification
    path = journal_path(settings.journal.dir, "paper")
    (spec,) = rows(path, "SELECT spec FROM orders WHERE client_order_id='SPY-1.tp'")
    assert json.loads(spec[0])["limit_price"] == 1.99
    assert ("SPY-1.tp", "MODIFY_REQUESTED") in rows(
        path, "SELECT client_order_id, status FROM order_events")
    (sent,) = bot.broker.commands(m.ModifyOrder).get(timeout=WAIT_S)
    assert sent.order.limit_price == 1.99
