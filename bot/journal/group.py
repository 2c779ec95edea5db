"""How the journal's writes are committed: each alone, or many in one group commit.

Alone (outside a group): ``BEGIN IMMEDIATE``, the write, ``COMMIT``: one transaction, one
fsync under ``synchronous=FULL``, durable when the call returns.

Group (``group`` ... ``commit_group``): the writes between them share one transaction, so
one commit (one fsync) makes them all durable instead of one fsync each; the JournalActor
groups what is queued in its mailbox (``actors/journal.py``). Reads on the same connection
see the held writes. Failures keep what a write alone would do:

- Each write of a group is its own savepoint: a write that fails undoes only itself and
  raises ``JournalError`` at once, as a write alone would.
- When the COMMIT fails (disk full, an I/O error), or SQLite drops the whole transaction
  after a write's error (it does so for some errors, and for a trigger's ``RAISE(ROLLBACK)``),
  the writes held so far are tried again one by one, each alone: one bad write still loses
  only itself. ``commit_group`` answers, per write, "" when it is durable or why it is lost.
- Once one of those writes alone fails, the later ones the owner names
  (``skip_after_failure``: the JournalActor names order commands) are not tried, as the owner
  would not have written them after a failure.

Every COMMIT is timed (``timer``, injected: ``time.perf_counter`` by default): under
``synchronous=FULL`` it is where the fsync waits, the one step of the write-ahead whose time
the disk decides. ``last_commit`` is the latest (ms, writes), ``commit_times`` the running
figures the owner reports (``CommitTimes``).
"""

from __future__ import annotations

import sqlite3
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from bot.journal.schema import JournalError

COMMIT_WINDOW = 1000
"""Commits the p99 is taken over (the latest ones)."""


class CommitTimes:
    """How long commits took: the count, the largest, and the p99 of the latest
    ``COMMIT_WINDOW``, in ms."""

    def __init__(self, window: int = COMMIT_WINDOW) -> None:
        self.count = 0
        self.max_ms = 0.0
        self.recent: deque[float] = deque(maxlen=window)

    def add(self, ms: float) -> None:
        self.count += 1
        self.max_ms = max(self.max_ms, ms)
        self.recent.append(ms)

    def p99_ms(self) -> float | None:
        if not self.recent:
            return None
        ordered = sorted(self.recent)
        return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


class GroupCommit:
    """The commit side of ``bot.journal.write.Journal`` (see the module docstring)."""

    def __init__(self, conn: sqlite3.Connection,
                 timer: Callable[[], float] = time.perf_counter) -> None:
        self.conn = conn
        self.timer = timer
        self.last_commit: tuple[float, int] = (0.0, 0)
        """The latest COMMIT: how long it took (ms) and how many writes it made durable."""
        self.commit_times = CommitTimes()
        self._held: list[list[Any]] | None = None
        """The open group's writes, in order: [writer, message, state], state None while
        held in the open transaction, "" once durable, else why it was lost. None outside a
        group."""
        self._skip: Any = lambda _message: False
        self.commits = 0
        """Transactions committed (a group is one)."""

    def group(self, skip_after_failure: Any = lambda _message: False) -> None:
        """Hold the next writes in one transaction until ``commit_group`` (no-op in a group).

        When held writes must be tried again one by one (see the module docstring) and one
        of them fails, the later ones whose message ``skip_after_failure`` names are not
        tried (lost for the same reason), as an owner that stops writing those after a
        failure would have done."""
        if self._held is None:
            self._held = []
            self._skip = skip_after_failure

    @property
    def held(self) -> int:
        """Writes made in the open group so far (the index the next one will have)."""
        return len(self._held) if self._held is not None else 0

    def commit_group(self) -> list[str]:
        """Commit the open group's writes at once and end the group; per write, in order, ""
        when it is durable or why it was lost (a failed commit: see the module docstring)."""
        held, self._held = self._held or [], None
        if self.conn.in_transaction:
            try:
                self._commit(len(held))
            except sqlite3.Error as exc:
                self._rollback()
                self._replay(held, f"group commit failed: {exc}")
        return [state or "" for _writer, _message, state in held]

    def _commit(self, writes: int) -> None:
        """COMMIT, timed (see the module docstring)."""
        started = self.timer()
        self.conn.execute("COMMIT")
        ms = (self.timer() - started) * 1000.0
        self.commits += 1
        self.last_commit = (ms, writes)
        self.commit_times.add(ms)

    def _replay(self, held: list[list[Any]], why: str) -> None:
        """The writes still held (their transaction is gone), again, each alone, in order."""
        failed = ""
        for item in held:
            writer, message, state = item
            if state is not None:
                continue
            if failed and self._skip(message):
                item[2] = failed
                continue
            try:
                self._write_alone(writer, message)
                item[2] = ""
            except JournalError as exc:
                failed = failed or f"{exc} (after {why})"
                item[2] = f"{exc} (after {why})"

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the connection dropped it itself

    def _write(self, writer: Any, message: Any) -> None:
        if self._held is None:
            self._write_alone(writer, message)
        else:
            self._write_held(writer, message)

    def _write_alone(self, writer: Any, message: Any) -> None:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            writer(self.conn, message)
            self._commit(1)
        except sqlite3.Error as exc:
            self._rollback()
            raise JournalError(f"journal write failed ({type(message).__name__}): {exc}") from exc
        except Exception:
            self._rollback()  # a writer's bug: its half-write is never committed later
            raise

    def _write_held(self, writer: Any, message: Any) -> None:
        """One write of a group: a savepoint in the group's transaction (begun by the first)."""
        held = self._held
        assert held is not None
        try:
            if not self.conn.in_transaction:
                self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("SAVEPOINT write")
            writer(self.conn, message)
            self.conn.execute("RELEASE write")
        except sqlite3.Error as exc:
            self._undo_savepoint()
            if not self.conn.in_transaction:  # SQLite dropped the group's transaction
                self._replay(held, f"transaction lost: {exc}")
            raise JournalError(f"journal write failed ({type(message).__name__}): {exc}") from exc
        except Exception:
            self._undo_savepoint()  # a writer's bug: its half-write never joins the commit
            raise
        held.append([writer, message, None])

    def _undo_savepoint(self) -> None:
        if not self.conn.in_transaction:
            return
        try:
            self.conn.execute("ROLLBACK TO write")
            self.conn.execute("RELEASE write")
        except sqlite3.Error:
            self._rollback()

