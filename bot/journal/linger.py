"""When the journal may leave a group uncommitted for a moment: while an entry is on its way.

An entry reaches the journal as four records within milliseconds: the strategy's
SignalRaised, its EntryProposed, risk's EntryApproved, then execution's SubmitBracket (or a
lone entry SubmitOrder), all with one correlation id. Committing on every empty mailbox made
each of the first three its own commit (one fsync each) while the bracket was still on its
way, and the bracket then waited behind whichever was in progress: on a shared disk where an
fsync now and then takes 100-800 ms, that wait was most of the largest bar-close-to-order
latencies (``scripts/bench_e2e.py``, measured with ``journal_commit_slow``).

So while an entry is in flight (its signal, proposal or approval heard, its order not yet,
and it was not denied or abandoned) a group that holds no order command is not committed when
the mailbox empties: it waits for the entry's order, whose commit makes every record before
it durable in one fsync, or for ``LINGER_MAX_S`` after the first record of the oldest entry in
flight, whichever comes first. The write-ahead rule is unchanged: an order command is never
held (its group is committed before it goes to the broker), and the JournalActor still
commits before it publishes, before a Pong and when it stops. What waits is only the
durability of records that order nothing, by at most ``LINGER_MAX_S``: a crash in that window
loses them as a crash a moment earlier would have lost them unwritten.

Pure: time is passed in (monotonic seconds).
"""

from __future__ import annotations

from typing import Any

from bot import messages as m

LINGER_MAX_S = 0.25
"""How long an entry in flight may hold its records' commit: far above the milliseconds from
a signal on warm quotes to its order; a signal that must first ask IB for quotes (a second
or more) has its records committed after this."""

STARTS = (m.SignalRaised, m.EntryProposed, m.EntryApproved)
ENDS = (m.EntryDenied, m.EntryAbandoned, m.SubmitBracket, m.SubmitOrder)


class EntryLinger:
    """The entries in flight, by correlation id, and how long their records may wait."""

    def __init__(self, max_s: float = LINGER_MAX_S) -> None:
        self.max_s = max_s
        self.in_flight: dict[str, float] = {}
        """correlation id -> when its first record was heard."""

    def heard(self, message: Any, now: float) -> None:
        """Note a record of an entry: the first starts its flight, its order or its denial
        ends it (a SubmitOrder of an exit or a cancel names no entry in flight: no change)."""
        if isinstance(message, STARTS):
            self.in_flight.setdefault(message.correlation_id, now)
        elif isinstance(message, ENDS):
            self.in_flight.pop(message.correlation_id, None)

    def hold_s(self, now: float) -> float | None:
        """Seconds a group without order commands may still wait for an entry's order, or
        None when it must be committed now (no entry in flight, or the oldest waited
        ``max_s``: then every entry in flight is given up on; a later record of one starts
        its flight again)."""
        if not self.in_flight:
            return None
        left = min(self.in_flight.values()) + self.max_s - now
        if left <= 0:
            self.in_flight.clear()
            return None
        return left
