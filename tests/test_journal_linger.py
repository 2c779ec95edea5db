"""While an entry is on its way, its records wait for its order's commit (one fsync), never the
order for theirs; an order command is never held, and records of an entry whose order never
comes are committed after ``LINGER_MAX_S`` (``bot/journal/linger.py``).

Commits are counted from the journal's WAL file (its commit frames), as in
``test_journal_group_commit.py``; the linger's clock is a settable monotonic clock.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from datetime import UTC, datetime

import pykka
import pytest
from actor_harness import WAIT_S, Monotonic, make_settings
from pure_helpers import wal_commits

from actors.journal import JournalActor
from bot import messages as m
from bot.app.routing import BROKER, Directory
from bot.journal.linger import LINGER_MAX_S, EntryLinger
from bot.journal.write import journal_path

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
CONTRACT = m.OptionContract("SPY", "20261120", 598.0, m.Right.CALL, con_id=42)
CID = "c-SPY-1"


def signal(cid: str = CID) -> m.SignalRaised:
    return m.SignalRaised(cid, "SPY", m.Direction.CALL, ("test",), T0)


def proposed(cid: str = CID) -> m.EntryProposed:
    return m.EntryProposed(cid, "SPY-1", "SPY", m.Direction.CALL, CONTRACT, 1.60, 1.55, 1.60, T0)


def approved(cid: str = CID) -> m.EntryApproved:
    return m.EntryApproved(cid, "SPY-1", "SPY", CONTRACT, 3, 1.60, T0)


def bracket(cid: str = CID) -> m.SubmitBracket:
    return m.SubmitBracket(
        cid, "SPY-1", CONTRACT,
        m.OrderSpec("SPY-1.entry", m.Side.BUY, 3, m.OrderType.LIMIT, limit_price=1.60),
        m.OrderSpec("SPY-1.tp", m.Side.SELL, 3, m.OrderType.LIMIT, limit_price=2.08,
                    oca_group="oca-1"),
        m.OrderSpec("SPY-1.sl", m.Side.SELL, 3, m.OrderType.STOP, stop_price=1.28,
                    oca_group="oca-1"))


# -- the rule (pure) --------------------------------------------------------------------------


@pytest.mark.parametrize(("heard", "at", "hold"), [
    ([], 0.0, None),  # nothing in flight: commit now
    ([(signal(), 0.0)], 0.1, LINGER_MAX_S - 0.1),
    ([(signal(), 0.0), (proposed(), 0.05), (approved(), 0.1)], 0.1, LINGER_MAX_S - 0.1),
    ([(signal(), 0.0), (bracket(), 0.1)], 0.1, None),  # its order came
    ([(signal(), 0.0), (m.EntryDenied(CID, "SPY-1", "SPY", "cap", T0), 0.1)], 0.1, None),
    ([(signal(), 0.0), (m.EntryAbandoned(CID, "SPY", "no option", T0), 0.1)], 0.1, None),
    ([(signal(), 0.0)], LINGER_MAX_S, None),  # waited long enough
    ([(signal(), 0.0), (signal("c-QQQ-2"), 0.2), (bracket(), 0.21)], 0.3, LINGER_MAX_S - 0.1),
    ([(signal(), 0.0), (m.CancelOrder("c-SPY-0", "SPY-0.tp"), 0.1)], 0.1, LINGER_MAX_S - 0.1),
])
def test_records_wait_only_while_an_entry_is_in_flight_and_not_longer_than_the_limit(
    heard, at, hold
):
    linger = EntryLinger()

    for message, now in heard:
        linger.heard(message, now)

    assert linger.hold_s(at) == (None if hold is None else pytest.approx(hold))


def test_an_entry_given_up_on_starts_again_with_its_next_record():
    linger = EntryLinger()
    linger.heard(signal(), 0.0)

    expired = linger.hold_s(LINGER_MAX_S + 1.0)
    linger.heard(proposed(), 2.0)  # its quotes came from IB a second later

    assert expired is None
    assert linger.hold_s(2.0) == pytest.approx(LINGER_MAX_S)


# -- the JournalActor -------------------------------------------------------------------------


class Broker(pykka.ThreadingActor):
    def __init__(self, seen: queue.Queue) -> None:
        super().__init__()
        self.seen = seen

    def on_receive(self, message: object) -> None:
        if not isinstance(message, m.Pong):  # the fixture's Ping answer
            self.seen.put(message)


@pytest.fixture
def journal(tmp_path):
    settings = make_settings(tmp_path, journal={"dir": str(tmp_path / "data")})
    directory, seen, mono = Directory(), queue.Queue(), Monotonic()
    directory.register(BROKER, Broker.start(seen))
    actor = JournalActor.start(directory, settings, monotonic=mono)
    actor.tell(m.ModeDecided("paper", "DU1", T0))
    actor.ask(m.Ping("open", 0.0, directory.get(BROKER)), timeout=WAIT_S)
    yield actor, seen, mono, journal_path(settings.journal.dir, "paper")
    pykka.ActorRegistry.stop_all(timeout=10)


def handled(actor: pykka.ActorRef) -> None:
    """Return once the journal has handled what was told before (its mailbox is empty)."""
    actor.proxy().written.get(timeout=WAIT_S)


def test_an_entry_arriving_record_by_record_is_made_durable_by_one_commit_with_its_order(journal):
    # Arrange
    actor, seen, _mono, db = journal
    before = wal_commits(db)

    # Act: each record handled before the next comes (the mailbox empties between them)
    for record in (signal(), proposed(), approved()):
        actor.tell(record)
        handled(actor)
    held = wal_commits(db) - before
    actor.tell(bracket())
    sent = seen.get(timeout=WAIT_S)

    # Assert
    assert held == 0
    assert isinstance(sent, m.SubmitBracket)
    assert wal_commits(db) - before == 1
    conn = sqlite3.connect(db)
    try:
        orders = [r[0] for r in conn.execute("SELECT client_order_id FROM orders ORDER BY rowid")]
    finally:
        conn.close()
    assert orders == ["SPY-1.entry", "SPY-1.tp", "SPY-1.sl"]


def test_an_exit_is_not_held_while_an_entry_is_in_flight(journal):
    actor, seen, _mono, db = journal
    before = wal_commits(db)

    actor.tell(signal())
    handled(actor)
    actor.tell(m.CancelOrder("c-SPY-0", "SPY-0.tp"))
    sent = seen.get(timeout=WAIT_S)

    assert sent == m.CancelOrder("c-SPY-0", "SPY-0.tp")
    assert wal_commits(db) - before == 1  # the signal rode along with the cancel's commit


def test_records_of_an_entry_whose_order_never_comes_are_committed_after_the_limit(journal):
    # Arrange: a signal, held
    actor, _seen, mono, db = journal
    before = wal_commits(db)
    actor.tell(signal())
    handled(actor)
    held = wal_commits(db) - before

    # Act: the linger's clock passes the limit; no further message comes
    mono.now += LINGER_MAX_S
    committed = threading.Event()
    for _ in range(int(WAIT_S / 0.01)):
        if wal_commits(db) - before == 1:
            committed.set()
            break
        committed.wait(0.01)

    # Assert
    assert held == 0
    assert committed.is_set()
