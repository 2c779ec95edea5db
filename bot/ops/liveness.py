"""Liveness rules of the HealthActor, pure: who owes a pong, whose mailbox keeps growing.

Time is passed in (monotonic seconds). Two reasons raise an alarm, once per episode:

- no answer: a ping sent ``ping_timeout_s`` ago is still unanswered (a stalled thread);
- mailbox growth: the mailbox is deeper than ``max_mailbox`` and has not fallen below the depth
  it had when it crossed the bound for ``grow_for_s`` (default: half the ping timeout, so a
  growing backlog is named before its pings time out behind it). A burst that drains (the
  backfill of 390 bars per symbol at start) raises nothing; a backlog that grows or stays does.

An answer (pong) ends the episode for that actor: it may alarm again later.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Liveness:
    """Ping and mailbox bookkeeping for every actor, by name."""

    ping_timeout_s: float
    max_mailbox: int
    grow_for_s: float | None = None
    outstanding: dict[str, float] = field(default_factory=dict)
    """name -> when the oldest unanswered ping was sent."""
    answered_at: dict[str, float] = field(default_factory=dict)
    alarmed: set[str] = field(default_factory=set)
    over: dict[str, tuple[float, int]] = field(default_factory=dict)
    """name -> (since when, depth then) while the mailbox is over the bound."""

    def pinged(self, name: str, now: float) -> None:
        self.outstanding.setdefault(name, now)

    def answered(self, name: str, now: float) -> None:
        self.outstanding.pop(name, None)
        self.alarmed.discard(name)
        self.answered_at[name] = now

    def forget(self, keep: set[str]) -> None:
        """Drop actors no longer registered."""
        for table in (self.outstanding, self.answered_at, self.over):
            for name in set(table) - keep:
                del table[name]
        self.alarmed &= keep

    def check(self, name: str, depth: int, now: float) -> str | None:
        """The reason to raise a new alarm for ``name`` now, or None (also when already raised)."""
        reason = self._no_answer(name, now) or self._growing(name, depth, now)
        if reason is None or name in self.alarmed:
            return None
        self.alarmed.add(name)
        return reason

    def healthy(self, now: float) -> bool:
        """Every actor answers: no alarm and no ping unanswered for the whole timeout."""
        timeout = self.ping_timeout_s
        return not self.alarmed and all(now - t < timeout for t in self.outstanding.values())

    def last_answer_s(self, name: str, now: float) -> float | None:
        at = self.answered_at.get(name)
        return None if at is None else round(now - at, 1)

    def _no_answer(self, name: str, now: float) -> str | None:
        waited = now - self.outstanding.get(name, now)
        if waited < self.ping_timeout_s:
            return None
        return f"no answer to ping for {waited:.1f}s (limit {self.ping_timeout_s:g}s)"

    def _growing(self, name: str, depth: int, now: float) -> str | None:
        if depth <= self.max_mailbox:
            self.over.pop(name, None)
            return None
        since, start = self.over.get(name, (now, depth))
        if depth < start:
            since, start = now, depth  # draining: start the clock again from here
        self.over[name] = (since, start)
        grace = self.ping_timeout_s / 2 if self.grow_for_s is None else self.grow_for_s
        if now - since < grace:
            return None
        return (f"mailbox depth {depth} over {self.max_mailbox} and not draining "
                f"for {now - since:.1f}s")


def ping_due(now: float, last_ping: float, next_beat: float, period_s: float,
             tick_s: float | None) -> bool:
    """Whether the HealthActor pings every actor on this tick.

    Every ``period_s``; and again on the tick before a heartbeat is due (when the last ping is a
    tick old), so the heartbeat's Pong figures (the circuit, the connect failures) are at most
    a tick old rather than a whole ping period."""
    if now - last_ping >= period_s:
        return True
    if not tick_s:
        return False
    return now >= next_beat - 1.5 * tick_s and now - last_ping >= tick_s
