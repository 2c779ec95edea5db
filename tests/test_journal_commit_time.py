"""How long the journal's commits take: timed with an injected timer (no sleeps), a slow one
logged as ``journal_commit_slow``, each entry's commit as ``entry_committed``, and the figures
in the journal's stats for the heartbeat.

The timer stands for ``time.perf_counter``: each read moves it on by a fixed step, and the
journal reads it once before and once after each COMMIT, so every commit "takes" one step.
"""

from __future__ import annotations

import queue
from datetime import UTC, datetime

import pykka
import pytest
from actor_harness import WAIT_S, make_settings
from loguru import logger

from actors.journal import JournalActor
from bot import messages as m
from bot.app.routing import BROKER, Directory
from bot.journal.group import CommitTimes
from bot.journal.write import Journal, journal_path

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
CONTRACT = m.OptionContract("SPY", "20261120", 598.0, m.Right.CALL, con_id=42)


class SteppingTimer:
    """Seconds that advance by ``step_s`` at every read."""

    def __init__(self, step_s: float) -> None:
        self.now, self.step_s = 1000.0, step_s

    def __call__(self) -> float:
        self.now += self.step_s
        return self.now


def mismatch(key: str) -> m.ReconcileMismatch:
    return m.ReconcileMismatch("status_differs", key, "test", T0)


def entry_records(intent: str) -> list[object]:
    cid, oca = f"c-{intent}", f"oca-{intent}"
    return [
        m.SignalRaised(cid, "SPY", m.Direction.CALL, ("test",), T0),
        m.EntryApproved(cid, intent, "SPY", CONTRACT, 3, 1.60, T0),
        m.SubmitBracket(
            cid, intent, CONTRACT,
            m.OrderSpec(f"{intent}.entry", m.Side.BUY, 3, m.OrderType.LIMIT, limit_price=1.60),
            m.OrderSpec(f"{intent}.tp", m.Side.SELL, 3, m.OrderType.LIMIT, limit_price=2.08,
                        oca_group=oca),
            m.OrderSpec(f"{intent}.sl", m.Side.SELL, 3, m.OrderType.STOP, stop_price=1.28,
                        oca_group=oca)),
    ]


# -- the Journal (its commits timed) ---------------------------------------------------------


def test_each_commit_is_timed_with_its_writes_alone_or_in_a_group(tmp_path):
    journal = Journal(journal_path(tmp_path, "paper"), timer=SteppingTimer(0.080))
    try:
        # Act: a group of three, then one write alone
        journal.group()
        for key in ("a", "b", "c"):
            journal.record(mismatch(key), T0)
        journal.commit_group()
        in_group = journal.last_commit
        journal.record(mismatch("d"), T0)
        alone = journal.last_commit
    finally:
        journal.close()

    assert in_group == (pytest.approx(80.0), 3)
    assert alone == (pytest.approx(80.0), 1)
    assert journal.commit_times.count == 2


@pytest.mark.parametrize(("durations", "p99", "largest"), [
    ([], None, 0.0),
    ([5.0], 5.0, 5.0),
    ([1.0] * 99 + [70.0], 70.0, 70.0),  # the 100th of 100 is the p99 (nearest rank)
    ([1.0] * 199 + [70.0], 1.0, 70.0),  # one in 200 is above the p99
])
def test_commit_times_give_the_p99_of_the_latest_and_the_largest(durations, p99, largest):
    times = CommitTimes()

    for ms in durations:
        times.add(ms)

    assert (times.p99_ms(), times.max_ms, times.count) == (p99, largest, len(durations))


def test_the_p99_forgets_commits_older_than_its_window_but_the_largest_stays():
    times = CommitTimes(window=10)

    times.add(300.0)
    for _ in range(10):
        times.add(2.0)

    assert (times.p99_ms(), times.max_ms, times.count) == (2.0, 300.0, 11)


# -- the JournalActor (what it says about them) ---------------------------------------------


class Broker(pykka.ThreadingActor):
    def __init__(self, seen: queue.Queue) -> None:
        super().__init__()
        self.seen = seen

    def on_receive(self, message: object) -> None:
        self.seen.put(message)


@pytest.fixture
def lines():
    records: list[tuple[str, str]] = []
    sink = logger.add(lambda msg: records.append((msg.record["level"].name,
                                                  msg.record["message"])), level="INFO")
    yield records
    logger.remove(sink)
    pykka.ActorRegistry.stop_all(timeout=10)


def run_journal(tmp_path, step_s: float) -> tuple[pykka.ActorRef, queue.Queue]:
    """A journal whose commits each take ``step_s``, opened, one entry's records written and
    the entry at the broker."""
    settings = make_settings(tmp_path, journal={"dir": str(tmp_path / "data"),
                                                "slow_commit_ms": 50})
    directory, seen = Directory(), queue.Queue()
    directory.register(BROKER, Broker.start(seen))
    actor = JournalActor.start(directory, settings, commit_timer=SteppingTimer(step_s))
    actor.tell(m.ModeDecided("paper", "DU1", T0))
    for record in entry_records("SPY-1"):
        actor.tell(record)
    assert isinstance(seen.get(timeout=WAIT_S), m.SubmitBracket)
    actor.ask(m.Ping("done", 0.0, directory.get(BROKER)), timeout=WAIT_S)
    return actor, seen


def test_a_commit_slower_than_the_setting_is_logged_with_its_time_and_writes(tmp_path, lines):
    actor, _seen = run_journal(tmp_path, step_s=0.080)

    slow = [text for _level, text in lines if text.startswith("journal_commit_slow ")]
    stats = actor.proxy().stats().get(timeout=WAIT_S)

    assert slow and all(t.startswith("journal_commit_slow ms=80.0 writes=") for t in slow)
    assert any(" orders=1 " in f"{t} " for t in slow)  # the group that held the entry
    assert stats["slow_commits"] == len(slow) == stats["commits"]
    assert (stats["commit_p99_ms"], stats["commit_max_ms"]) == (80.0, 80.0)


def test_a_commit_within_the_setting_is_not_logged_as_slow(tmp_path, lines):
    actor, _seen = run_journal(tmp_path, step_s=0.004)

    slow = [text for _level, text in lines if text.startswith("journal_commit_slow")]
    stats = actor.proxy().stats().get(timeout=WAIT_S)

    assert slow == []
    assert stats["slow_commits"] == 0 and stats["commits"] >= 1
    assert (stats["commit_p99_ms"], stats["commit_max_ms"]) == (4.0, 4.0)


def test_an_entry_says_how_long_its_commit_took_before_it_goes_to_the_broker(tmp_path, lines):
    run_journal(tmp_path, step_s=0.012)

    committed = [(level, text) for level, text in lines if text.startswith("entry_committed")]

    assert len(committed) == 1
    level, text = committed[0]
    assert level == "INFO"
    assert text.startswith("entry_committed intent=SPY-1 commit_ms=12.0 writes=")
    assert int(text.rsplit("writes=", 1)[1]) >= 1
