"""JournalActor: the one thread that writes the journal, and the write-ahead gate for orders.

Accepts: ModeDecided (opens ``journal-<mode>.sqlite3`` in ``journal.dir``), BrokerSnapshot
    (reconciles it, ``bot/journal/reconcile.py``), SubmitBracket / SubmitOrder / ModifyOrder /
    CancelOrder (from
    execution: recorded, then forwarded to the broker), every event the routing table sends to
    JOURNAL (recorded), Ping.
Emits: the order commands to BROKER (exits and cancels the broker could not take while it
    restarted are kept and sent after its next snapshot; cancels of the exits of a position
    closed outside the bot, and orders still working for finished intents); RiskRestored and
    BuyBacksNumbered (first snapshot), TradeRecovered,
    ReconcileMismatch, ReconcileFinished, JournalFailed, StartRefused (published);
    OrderRejected (code 0) for an entry that could not be recorded.
Thread rule: its own pykka thread owns the sqlite connection (WAL, synchronous=FULL); it
    never waits on another actor.

Order after the first snapshot: RiskRestored goes out before any TradeRecovered. Risk hears
it first, so the P&L of a trade that closed while the bot was down (execution's
PositionClosed, one hop later) adds to the restored day instead of being overwritten by it.

Write-ahead: an order goes to the broker only after its rows are committed, so after a crash
the journal knows every order that may exist. When a write fails (disk full, locked or
read-only file, a damaged table), at once or when its group is committed (every write of the
group is then tried again alone: ``bot/journal/group.py``), an ENTRY is not sent: it is
answered with OrderRejected and JournalFailed makes risk refuse new entries, loudly at ERROR.
Exits and cancels are sent anyway (protecting an open position beats recording it), also at
ERROR. Before the mode is known the file is not open: entries are refused, exits and cancels
pass.

Group commit: what is queued is written into one transaction and committed once (one fsync)
when the mailbox is empty (``on_receive``, and the mailbox's ``get`` before it waits), after
``GROUP_MAX`` writes, before the journal publishes anything (so nothing it says runs ahead
of what it wrote before), before it answers a Ping (a Pong means "durable"), before a
snapshot is reconciled, and when it stops. The orders written into a group wait for its
commit and then go to the broker in the order they came. A burst (several symbols entering
on one bar close, four records each) costs one commit instead of one per record. Records
keep their order: one connection, one transaction at a time. While an entry is on its way
(its signal, proposal or approval written, its order not yet) a group without order commands
waits for that order instead of being committed on an empty mailbox, 0.25 s at most
(``bot/journal/linger.py``): the order then waits for one commit, not behind the commits of
its own records.

Commit time: each commit is timed (``bot/journal/group.py``); one slower than
``journal.slow_commit_ms`` is logged as ``journal_commit_slow ms=... writes=... orders=...``
(INFO), each entry as ``entry_committed intent=... commit_ms=... writes=...`` just before it
goes to the broker, and ``stats`` carries the count, p99 and largest for the heartbeat.

A failing journal fails on every write: ``journal_write_failed`` is logged at ERROR once, then
``journal_write_failures count=N`` at most once a minute (``bot/ops/repeats.py``), never a
line per write. The HealthActor shows ``journal=failed`` as an alarm (from ``stats``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from actors.base import BotActor, IdleInbox, utc_now
from bot import messages as m
from bot.app.config import Settings
from bot.app.routing import BROKER, Directory
from bot.journal.linger import EntryLinger
from bot.journal.read import buy_back_numbers, contract_key_of, finished_intents, live_intents
from bot.journal.reconcile import reconcile
from bot.journal.schema import IntentStatus
from bot.journal.write import Journal, JournalError, journal_path
from bot.ops.repeats import RepeatSummary
from bot.trading.covers import is_buy_back
from bot.trading.market_hours import trading_day

FAILURE_SUMMARY_S = 60.0
ORDER_COMMANDS = (m.SubmitBracket, m.SubmitOrder, m.ModifyOrder, m.CancelOrder)
GROUP_MAX = 64
"""Writes held in one group at most: a mailbox that never empties still commits."""


def _ms(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def is_order_command(message: Any) -> bool:
    return isinstance(message, ORDER_COMMANDS)


def _client_order_ids(command: Any) -> list[str]:
    if isinstance(command, m.SubmitBracket):
        return [s.client_order_id for s in (command.parent, command.take_profit, command.stop)]
    if isinstance(command, m.SubmitOrder | m.ModifyOrder):
        return [command.order.client_order_id]
    return []


def is_entry(command: Any) -> bool:
    """A command that opens a position (the parent of a bracket, or an entry alone)."""
    if isinstance(command, m.SubmitBracket):
        return True
    return isinstance(command, m.SubmitOrder) and command.order.client_order_id.endswith(".entry")


class JournalActor(BotActor):
    name = "journal"

    @staticmethod
    def _create_actor_inbox() -> IdleInbox:  # type: ignore[override]
        return IdleInbox()

    def __init__(self, directory: Directory, settings: Settings, clock: Any = utc_now,
                 monotonic: Callable[[], float] = time.monotonic,
                 commit_timer: Callable[[], float] = time.perf_counter) -> None:
        super().__init__(directory, clock)
        self.settings = settings
        self.commit_timer = commit_timer
        self.slow_commits = 0
        self.journal: Journal | None = None
        self.mode = ""
        self.failed = ""
        self.written = 0
        self.monotonic = monotonic
        self.failures = RepeatSummary(FAILURE_SUMMARY_S)
        self.forwarded: set[str] = set()
        """Client order ids forwarded to the broker by this process (what a snapshot may not
        have seen yet: ``bot/journal/reconcile.py``)."""
        self.market_offset: timedelta | None = None
        """IB's server time minus this clock at the last snapshot: commands are stamped with
        the exchange's clock too (the crash-resend window is market time)."""
        self.undelivered: list[Any] = []
        """Exits and cancels the broker could not take (it was restarting): sent again after
        its next snapshot, never dropped."""
        self.waiting: list[tuple[Any, bool, str, int | None]] = []
        """Order commands waiting for their group's commit: (command, entry, problem known
        already, index of its write in the group or None)."""
        self._flushing = False
        self.linger = EntryLinger()
        self.actor_inbox.on_idle = self._idle

    def on_receive(self, message: Any) -> Any:
        """Actor thread: a Ping is answered only for what is durable; after a message, the
        group is committed when nothing else is queued (or it is full)."""
        if isinstance(message, m.Ping):
            self._flush()
        result = super().on_receive(message)
        full = self.journal is not None and self.journal.held >= GROUP_MAX
        if full or (self.actor_inbox.empty() and self._hold_s() is None):
            self._flush()
        return result

    def publish(self, message: Any) -> None:
        """Commit first: nothing leaves the journal before what was written before it."""
        self._flush()
        super().publish(message)

    def on_stop(self) -> None:
        """Actor thread: commit and forward what is held, close the file (the WAL is
        checkpointed by sqlite)."""
        self._flush()
        if self.journal is not None:
            self.journal.close()

    def handle(self, message: Any) -> None:
        self.linger.heard(message, self.monotonic())
        if self.failed:
            self._summarise(self.failures.due(self.monotonic()))
        match message:
            case m.ModeDecided():
                self._on_mode_decided(message)
            case m.BrokerSnapshot():
                self._on_snapshot(message)
            case m.SubmitBracket() | m.SubmitOrder() | m.ModifyOrder() | m.CancelOrder():
                self._on_command(message)
            case _:
                self._record(message)

    def stats(self) -> dict[str, Any]:
        return {
            **super().stats(),
            "mode": self.mode,
            "written": self.written,
            "failed": self.failed or None,
            "failures": self.failures.total,
            "commits": self.journal.commits if self.journal else 0,
            "commit_p99_ms": _ms(self.journal.commit_times.p99_ms() if self.journal else None),
            "commit_max_ms": _ms(self.journal.commit_times.max_ms if self.journal else None),
            "slow_commits": self.slow_commits,
        }

    # -- opening ----------------------------------------------------------------------------

    def _on_mode_decided(self, event: m.ModeDecided) -> None:
        if self.journal is not None:
            if event.mode != self.mode:  # never mix modes in one file: stop instead
                self._refuse(f"mode changed from {self.mode} to {event.mode} while running")
            return
        path = journal_path(self.settings.journal.dir, event.mode)
        try:
            self.journal = Journal(path, self.commit_timer)
        except JournalError as exc:
            self._refuse(str(exc))
            return
        self.mode = event.mode
        self.log.info(
            "journal_opened path={} mode={} schema_found=v{}",
            path,
            event.mode,
            self.journal.found_version,
        )
        self._record(event)

    def _refuse(self, reason: str) -> None:
        self.log.error("journal_refused reason={}", reason)
        self.publish(m.StartRefused(f"journal: {reason}", self.clock()))

    # -- reconciliation ---------------------------------------------------------------------

    def _on_snapshot(self, snapshot: m.BrokerSnapshot) -> None:
        if self.journal is None:
            self.log.error("snapshot_without_journal first={}", snapshot.first)
            if snapshot.first:  # nothing known: buy-backs must not wait for the journal forever
                self.publish(m.BuyBacksNumbered((), self.clock()))
            return
        self._flush()  # the orders handled before it are forwarded (``forwarded`` below)
        now = self.clock()
        if snapshot.market_ts is not None:
            self.market_offset = snapshot.market_ts - now
        if snapshot.first and self.mode == "shadow":
            self._expire_shadow(now)
        # shadow fills live in the broker's memory only: after a restart there is nothing to adopt
        intents = [] if self.mode == "shadow" else live_intents(self.journal.conn)
        finished = {} if self.mode == "shadow" else finished_intents(
            self.journal.conn, {m.intent_of(o.client_order_id) for o in snapshot.orders}
            - {i.intent_id for i in intents})
        self._record(snapshot)  # after reading: its fills must still look new to reconcile
        plan = reconcile(
            intents,
            snapshot,
            now,
            entry_timeout_s=self.settings.execution.entry_timeout_s,
            manage_unknown=self.settings.execution.manage_unknown_positions,
            forwarded=frozenset(self.forwarded),
            finished=finished,
        )
        for intent_id in plan.closed_outside:
            self._guarded(lambda i=intent_id: self.journal.set_intent(i, now, status=IntentStatus.CLOSED))
        for intent_id in plan.expired:
            self._guarded(lambda i=intent_id: self.journal.set_intent(i, now, status=IntentStatus.EXPIRED))
        for intent_id in plan.resent:  # counted BEFORE the resend goes out: never twice
            self._guarded(lambda i=intent_id: self.journal.set_intent(i, now, resent=True))
        for mismatch in plan.mismatches:
            self.log.warning(
                "reconcile_mismatch kind={} key={} detail={}",
                mismatch.kind,
                mismatch.key,
                mismatch.detail,
            )
            self.publish(mismatch)
        if snapshot.first:  # before the trades: what they change must add to the saved day
            self._restore_risk(now)
            self._tell_buy_backs(snapshot, now)
        for trade in plan.recovered:
            if trade.adopted:
                self._guarded(lambda t=trade: self.journal.record_adopted(t, now))
            self.log.info(
                "trade_recovered intent={} legs={} fills={} resend={} adopted={}",
                trade.intent_id,
                len(trade.legs),
                len(trade.fills),
                trade.resend,
                trade.adopted,
            )
            self.publish(trade)
        for cancel in plan.cancels:  # exits of a position closed outside, orders of ended trades
            self._on_command(cancel)
        self._redeliver()
        finished = m.ReconcileFinished(
            snapshot.first,
            len(plan.recovered),
            len(plan.resent),
            len(plan.expired),
            len(plan.mismatches),
            now,
        )
        self.log.info(
            "reconcile_finished first={} recovered={} resent={} expired={} mismatches={}",
            finished.first,
            finished.recovered,
            finished.resent,
            finished.expired,
            finished.mismatches,
        )
        self.publish(finished)

    def _tell_buy_backs(self, snapshot: m.BrokerSnapshot, now: datetime) -> None:
        """The buy-back numbers written and the buy-backs IB still works (none in shadow)."""
        if self.mode == "shadow":
            self.publish(m.BuyBacksNumbered((), now))
            return
        numbers = buy_back_numbers(self.journal.conn)
        working = []
        for order in snapshot.orders:
            ref = order.client_order_id
            if not is_buy_back(ref) or order.status in m.DONE_STATUSES:
                continue
            key = order.contract_key or contract_key_of(self.journal.conn, m.intent_of(ref))
            if key:
                working.append((key, order.client_order_id))
        self.publish(m.BuyBacksNumbered(tuple(sorted(numbers.items())), now, tuple(working)))

    def _expire_shadow(self, now: datetime) -> None:
        for intent in live_intents(self.journal.conn):
            self._guarded(
                lambda i=intent.intent_id: self.journal.set_intent(i, now, status=IntentStatus.EXPIRED)
            )
            self.publish(
                m.ReconcileMismatch(
                    "expired", intent.intent_id, "shadow fills are not kept across restarts", now
                )
            )

    def _restore_risk(self, now: datetime) -> None:
        day = trading_day(now)
        saved = self.journal.daily_risk(day) if self.journal else None
        if saved is None:
            self.publish(m.RiskRestored(day, False, 0.0, 0.0, 0, 0, now))
            return
        self.log.info(
            "risk_restored day={} realized_pnl={:.2f} trades={} losses_in_row={}",
            day,
            saved["realized_pnl"],
            saved["trades"],
            saved["consecutive_losses"],
        )
        self.publish(
            m.RiskRestored(
                day,
                True,
                saved["start_equity"],
                saved["realized_pnl"],
                saved["trades"],
                saved["consecutive_losses"],
                now,
            )
        )

    # -- write-ahead ------------------------------------------------------------------------

    def _on_command(self, command: Any) -> None:
        """Write the command into the group; it goes to the broker after the group's commit."""
        entry = is_entry(command)
        problem = self.failed or ("" if self.journal else "journal not open yet (mode unknown)")
        index = None
        if not problem:
            try:
                now = self.clock()
                market = now + self.market_offset if self.market_offset is not None else None
                self.journal.group(skip_after_failure=is_order_command)
                index = self.journal.held
                self.journal.record(command, now, market=market)
                self.written += 1
            except JournalError as exc:
                problem, index = str(exc), None
                self._failed(problem)
        self.waiting.append((command, entry, problem, index))

    def _idle(self) -> float | None:
        """The mailbox is empty (its ``get`` is about to wait): commit what is held, unless an
        entry's order may still join it (then how long the mailbox may wait for it)."""
        try:
            wait = self._hold_s()
            if wait is None:
                self._flush()
            return wait
        except Exception as exc:  # noqa: BLE001 - outside a handler: pykka would not see it
            self.on_failure(type(exc), exc, exc.__traceback__)
            return None

    def _hold_s(self) -> float | None:
        """Seconds the open group may stay uncommitted for an entry in flight; None when it
        must be committed now (it holds an order command, or no entry is in flight)."""
        if self.waiting or self.journal is None or not self.journal.held:
            return None
        return self.linger.hold_s(self.monotonic())

    def _flush(self) -> None:
        """Commit the group, then send the orders that waited for it, in order."""
        if self._flushing:
            return
        self._flushing = True
        try:
            commits = self.journal.commits if self.journal is not None else 0
            lost = self.journal.commit_group() if self.journal is not None else []
            for reason in (r for r in lost if r):
                self._failed(reason)
            waiting, self.waiting = self.waiting, []
            committed = self.journal is not None and self.journal.commits > commits
            if committed:
                self._note_commit(len(waiting))
            for command, entry, problem, index in waiting:
                problem = problem or (lost[index] if index is not None else "")
                if committed and entry and not problem:
                    self.log.info("entry_committed intent={} commit_ms={:.1f} writes={}",
                                  command.intent_id, *self.journal.last_commit)
                self._dispatch(command, entry, problem)
        finally:
            self._flushing = False

    def _note_commit(self, orders: int) -> None:
        ms, writes = self.journal.last_commit
        if ms > self.settings.journal.slow_commit_ms:
            self.slow_commits += 1
            self.log.info("journal_commit_slow ms={:.1f} writes={} orders={} slow_commits={}",
                          ms, writes, orders, self.slow_commits)

    def _dispatch(self, command: Any, entry: bool, problem: str) -> None:
        if problem and entry:
            self._reject(command, problem)
            return
        if problem:
            self.log.error(
                "order_sent_unrecorded command={} why={}", type(command).__name__, problem
            )
        self._forward(command, entry)

    def _forward(self, command: Any, entry: bool) -> None:
        """Tell the broker; if it is not there (being restarted) keep exits and cancels for its
        next snapshot, and answer an entry as rejected (a late entry is a stale one)."""
        self.forwarded.update(_client_order_ids(command))
        if self.directory.tell(BROKER, command):
            return
        if entry:
            self.log.error("entry_not_sent intent={} why=broker unavailable", command.intent_id)
            self._reject(command, "broker unavailable", logged=True)
            return
        self.log.warning("order_undelivered command={} client_order_ids={} kept_for=next snapshot",
                         type(command).__name__, _client_order_ids(command))
        self.undelivered.append(command)

    def _redeliver(self) -> None:
        self._flush()  # the cancels of the snapshot's plan first, as they were handled first
        waiting, self.undelivered = self.undelivered, []
        for command in waiting:
            self.log.info("order_redelivered command={} client_order_ids={}",
                          type(command).__name__, _client_order_ids(command))
            self._forward(command, False)

    def _reject(self, command: Any, problem: str, logged: bool = False) -> None:
        specs = (
            (command.parent, command.take_profit, command.stop)
            if isinstance(command, m.SubmitBracket)
            else (command.order,)
        )
        why = problem if logged else f"journal write failed: {problem}"
        if not logged:
            self.log.error("entry_not_sent intent={} why={}", command.intent_id, why)
        for spec in specs:
            self.publish(
                m.OrderRejected(command.correlation_id, spec.client_order_id, 0, why, self.clock())
            )

    # -- recording --------------------------------------------------------------------------

    def _record(self, message: Any) -> None:
        if self.journal is None:
            return  # before the mode is known nothing can trade; health/log keep the rest
        if self._guarded(lambda: self.journal.record(message, self.clock())):
            self.written += 1  # a write its group's commit loses counts in failures too

    def _guarded(self, write: Any) -> bool:
        """One write into the open group (opened here): False when it failed at once."""
        self.journal.group(skip_after_failure=is_order_command)
        try:
            write()
        except JournalError as exc:
            self._failed(str(exc))
            return False
        return True

    def _failed(self, reason: str) -> None:
        first = not self.failed
        self.failed = reason
        self._summarise(self.failures.note(self.monotonic()))
        if first:
            self.publish(m.JournalFailed(reason, self.clock()))

    def _summarise(self, said: tuple[str, int] | None) -> None:
        if said is None:
            return
        if said[0] == "first":
            self.log.error("journal_write_failed reason={} new_entries=refused", self.failed)
        else:
            self.log.error("journal_write_failures count={} period_s={:g} total={} reason={} "
                           "new_entries=refused", said[1], self.failures.period_s,
                           self.failures.total, self.failed)
