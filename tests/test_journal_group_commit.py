"""Group commit: the writes queued at the journal share one commit (one fsync), and an order
still reaches the broker only once its own rows are durable.

Commits are counted from the journal's WAL file itself (its commit frames), not from the
journal's own figures, so these tests say what SQLite did. A failed commit is made with a
deferred foreign key (``PRAGMA foreign_keys``: the COMMIT fails, the transaction stays), a
transaction SQLite drops by itself with a trigger's ``RAISE(ROLLBACK)``.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pykka
import pytest
from actor_harness import WAIT_S, make_settings
from pure_helpers import wal_commits

from actors.journal import JournalActor
from bot import messages as m
from bot.app.routing import BROKER, EXECUTION, RISK, Directory
from bot.journal.write import Journal, JournalError, journal_path

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
CONTRACT = m.OptionContract("SPY", "20261120", 598.0, m.Right.CALL, con_id=42)


def bracket(intent: str) -> m.SubmitBracket:
    oca = f"oca-{intent}"
    return m.SubmitBracket(
        f"c-{intent}", intent, CONTRACT,
        m.OrderSpec(f"{intent}.entry", m.Side.BUY, 3, m.OrderType.LIMIT, limit_price=1.60),
        m.OrderSpec(f"{intent}.tp", m.Side.SELL, 3, m.OrderType.LIMIT, limit_price=2.08,
                    oca_group=oca),
        m.OrderSpec(f"{intent}.sl", m.Side.SELL, 3, m.OrderType.STOP, stop_price=1.28,
                    oca_group=oca))


def entry_records(intent: str) -> list[object]:
    """What the journal hears for one entry, in the order the actors send it."""
    cid = f"c-{intent}"
    return [
        m.SignalRaised(cid, "SPY", m.Direction.CALL, ("test",), T0),
        m.EntryProposed(cid, intent, "SPY", m.Direction.CALL, CONTRACT, 1.60, 1.55, 1.60, T0),
        m.EntryApproved(cid, intent, "SPY", CONTRACT, 3, 1.60, T0),
        bracket(intent),
    ]


def is_order_command(message: object) -> bool:
    return isinstance(message, m.SubmitBracket | m.SubmitOrder | m.CancelOrder)


def mismatch(key: str) -> m.ReconcileMismatch:
    return m.ReconcileMismatch("status_differs", key, "test", T0)


def committed_keys(db: Path) -> list[str]:
    """Mismatch keys another connection sees (what is durable)."""
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT key FROM mismatches ORDER BY rowid")]
    finally:
        conn.close()


# -- the Journal ------------------------------------------------------------------------------


@pytest.fixture
def journal(tmp_path):
    j = Journal(journal_path(tmp_path, "paper"))
    yield j
    j.close()


def test_the_writes_of_a_group_are_one_commit_seen_by_others_only_after_it(journal):
    before = wal_commits(journal.path)

    journal.group()
    for key in ("a", "b", "c"):
        journal.record(mismatch(key), T0)
    seen_before_commit = committed_keys(journal.path)
    seen_by_the_writer = [r[0] for r in journal.conn.execute("SELECT key FROM mismatches")]
    outcome = journal.commit_group()

    assert (seen_before_commit, seen_by_the_writer) == ([], ["a", "b", "c"])
    assert outcome == ["", "", ""]
    assert wal_commits(journal.path) - before == 1
    assert committed_keys(journal.path) == ["a", "b", "c"]


def test_a_write_that_fails_in_a_group_undoes_only_itself_and_raises_at_once(journal):
    journal.conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON mismatches WHEN NEW.key = 'bad' "
                         "BEGIN SELECT RAISE(ABORT, 'test: refused'); END")
    journal.group()
    journal.record(mismatch("a"), T0)
    with pytest.raises(JournalError, match="test: refused"):
        journal.record(mismatch("bad"), T0)
    journal.record(mismatch("c"), T0)

    assert journal.commit_group() == ["", ""]
    assert committed_keys(journal.path) == ["a", "c"]


@pytest.mark.parametrize(
    ("after_the_bad_one", "outcome_of_it"),
    [
        (mismatch("c"), ""),  # an event is still tried alone
        (m.CancelOrder("c-SPY-1", "SPY-1.tp"), "lost"),  # an order is not, as before groups
    ],
)
def test_a_failed_group_commit_tries_each_write_alone_and_loses_only_the_bad_one(
    journal, after_the_bad_one, outcome_of_it
):
    # Arrange: the 'bad' key breaks a deferred foreign key: only COMMIT notices it
    journal.conn.execute("PRAGMA foreign_keys=ON")
    journal.conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    journal.conn.execute("CREATE TABLE child (pid INTEGER REFERENCES parent(id) "
                         "DEFERRABLE INITIALLY DEFERRED)")
    journal.conn.execute("CREATE TRIGGER orphan AFTER INSERT ON mismatches WHEN NEW.key = 'bad' "
                         "BEGIN INSERT INTO child VALUES (99); END")
    journal.group(skip_after_failure=is_order_command)
    journal.record(mismatch("a"), T0)
    journal.record(mismatch("bad"), T0)  # fine until the commit
    journal.record(after_the_bad_one, T0)

    # Act
    outcome = journal.commit_group()

    # Assert
    assert outcome[0] == ""
    assert "FOREIGN KEY constraint failed" in outcome[1]
    assert "group commit failed" in outcome[1]
    assert (outcome[2] and "lost") == outcome_of_it
    assert committed_keys(journal.path) == ["a"] + (["c"] if outcome_of_it == "" else [])
    assert not journal.conn.in_transaction


def test_a_group_sqlite_drops_is_written_again_alone_before_the_failing_write_raises(journal):
    journal.conn.execute("CREATE TRIGGER drop_all BEFORE INSERT ON mismatches WHEN NEW.key = 'bad' "
                         "BEGIN SELECT RAISE(ROLLBACK, 'test: transaction dropped'); END")
    journal.group()
    journal.record(mismatch("a"), T0)
    journal.record(mismatch("b"), T0)
    with pytest.raises(JournalError, match="test: transaction dropped"):
        journal.record(mismatch("bad"), T0)
    journal.record(mismatch("c"), T0)

    assert journal.commit_group() == ["", "", ""]
    assert committed_keys(journal.path) == ["a", "b", "c"]


def test_a_writer_that_breaks_halfway_leaves_nothing_of_itself_in_the_group(journal):
    # Arrange: an adopted trade whose second leg is not an order: the intent row and the
    # first order row are written, then the writer raises (a bug, not a database error)
    spec = m.OrderSpec("ADOPT-1.entry", m.Side.BUY, 1, m.OrderType.LIMIT, limit_price=1.0)
    broken = m.TradeRecovered("c-ADOPT-1", "ADOPT-1", "SPY", CONTRACT, 1.0,
                              ((spec, m.OrderStatus.FILLED, 1.0), (None, m.OrderStatus.FILLED, 1.0)),
                              (), True, False, T0, adopted=True)
    journal.group()
    journal.record(mismatch("a"), T0)

    # Act
    with pytest.raises(AttributeError):
        journal.record_adopted(broken, T0)
    outcome = journal.commit_group()

    # Assert
    assert outcome == [""]
    assert committed_keys(journal.path) == ["a"]
    assert journal.intent("ADOPT-1") is None and journal.orders("ADOPT-1") == []


# -- the JournalActor -----------------------------------------------------------------------


class GatedClock:
    """The journal's clock; while ``hold`` is on, the next read waits for ``release`` (so the
    test queues messages behind the one the journal is handling)."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self._open.set()
        self.waiting = threading.Event()

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def __call__(self) -> datetime:
        if not self._open.is_set():
            self.waiting.set()
            assert self._open.wait(WAIT_S)
        return T0


class CheckingBroker(pykka.ThreadingActor):
    """The broker's place: for each order command, what another connection saw of its rows
    in the journal at the moment it arrived."""

    def __init__(self, db: Path, seen: queue.Queue) -> None:
        super().__init__()
        self.db, self.seen = db, seen

    def on_receive(self, message: object) -> None:
        if isinstance(message, m.SubmitBracket):
            conn = sqlite3.connect(self.db)
            try:
                rows = conn.execute("SELECT client_order_id FROM orders WHERE intent_id=? "
                                    "ORDER BY rowid", (message.intent_id,)).fetchall()
            finally:
                conn.close()
            self.seen.put((message.intent_id, [r[0] for r in rows]))
        elif isinstance(message, m.CancelOrder):
            self.seen.put((message.client_order_id, []))


@pytest.fixture
def journal_actor(tmp_path):
    settings = make_settings(tmp_path, journal={"dir": str(tmp_path / "data")})
    clock = GatedClock()
    seen: queue.Queue = queue.Queue()
    directory = Directory()
    db = journal_path(settings.journal.dir, "paper")
    directory.register(BROKER, CheckingBroker.start(db, seen))
    actor = JournalActor.start(directory, settings, clock=clock)
    actor.tell(m.ModeDecided("paper", "DU1", T0))
    actor.ask(m.Ping("open", 0.0, directory.get(BROKER)), timeout=WAIT_S)
    yield actor, clock, seen, db, directory
    pykka.ActorRegistry.stop_all(timeout=10)


def queue_behind_the_first(actor, clock, messages) -> None:
    """Tell ``messages``, the second and later ones while the journal handles the first."""
    clock.hold()
    actor.tell(messages[0])
    assert clock.waiting.wait(WAIT_S)
    for message in messages[1:]:
        actor.tell(message)
    clock.release()


def test_a_burst_of_queued_entries_costs_one_commit_and_each_order_waits_for_it(journal_actor):
    # Arrange: two symbols entering on the same bar close, four records each
    actor, clock, seen, db, _directory = journal_actor
    before = wal_commits(db)

    # Act
    queue_behind_the_first(actor, clock, entry_records("SPY-1") + entry_records("QQQ-2"))
    received = [seen.get(timeout=WAIT_S), seen.get(timeout=WAIT_S)]

    # Assert: both orders saw their three rows committed when they reached the broker
    assert received == [("SPY-1", ["SPY-1.entry", "SPY-1.tp", "SPY-1.sl"]),
                        ("QQQ-2", ["QQQ-2.entry", "QQQ-2.tp", "QQQ-2.sl"])]
    assert wal_commits(db) - before == 1
    assert actor.proxy().stats().get(timeout=WAIT_S)["written"] >= 8


def test_the_group_is_committed_once_the_mailbox_is_empty_whatever_came_last(journal_actor):
    # Arrange: a record, then a proxy call (pykka handles it without on_receive), both queued
    actor, clock, _seen, db, _directory = journal_actor
    clock.hold()
    actor.tell(mismatch("a"))
    assert clock.waiting.wait(WAIT_S)
    stats = actor.proxy().stats()

    # Act
    clock.release()
    stats.get(timeout=WAIT_S)

    # Assert: committed without any further message (bounded wait on another connection)
    committed = threading.Event()
    for _ in range(int(WAIT_S / 0.01)):
        if committed_keys(db) == ["a"]:
            committed.set()
            break
        committed.wait(0.01)
    assert committed.is_set()


def test_an_entry_whose_group_sqlite_dropped_is_rejected_and_the_exit_before_it_still_goes(
    journal_actor,
):
    # Arrange: the entry's first order row makes SQLite drop the whole transaction
    actor, clock, seen, db, directory = journal_actor
    conn = sqlite3.connect(db)
    conn.execute("CREATE TRIGGER drop_all BEFORE INSERT ON orders WHEN NEW.intent_id = 'QQQ-2' "
                 "BEGIN SELECT RAISE(ROLLBACK, 'test: transaction dropped'); END")
    conn.close()
    probe: queue.Queue = queue.Queue()
    sink = _Sink.start(probe)
    directory.register(RISK, sink)  # JournalFailed
    directory.register(EXECUTION, sink)  # OrderRejected

    # Act: an exit's cancel, then the entry, written into one group
    queue_behind_the_first(actor, clock, [m.CancelOrder("c-SPY-1", "SPY-1.tp"), bracket("QQQ-2")])
    sent = seen.get(timeout=WAIT_S)
    heard = [probe.get(timeout=WAIT_S) for _ in range(4)]

    # Assert
    assert sent == ("SPY-1.tp", [])
    assert seen.empty()
    failed = [e for e in heard if isinstance(e, m.JournalFailed)]
    rejected = [e.client_order_id for e in heard if isinstance(e, m.OrderRejected)]
    assert len(failed) == 1 and "test: transaction dropped" in failed[0].reason
    assert rejected == ["QQQ-2.entry", "QQQ-2.tp", "QQQ-2.sl"]
    conn = sqlite3.connect(db)
    try:
        events = conn.execute("SELECT client_order_id, status FROM order_events").fetchall()
    finally:
        conn.close()
    assert ("SPY-1.tp", "CANCEL_REQUESTED") in events  # written again alone, durable


class _Sink(pykka.ThreadingActor):
    def __init__(self, out: queue.Queue) -> None:
        super().__init__()
        self.out = out

    def on_receive(self, message: object) -> None:
        self.out.put(message)
