"""What the broker side remembers for the life of the process, across BrokerActor restarts.

The supervisor restarts a failed BrokerActor (``bot/app/supervisor.py``); the new instance gets
a new ``IB()`` and a new event loop, but some facts belong to the process, not to one actor:

- ``snapshots``: how many broker snapshots this process published. Only the first one is
  ``first`` (the journal restores the day and may resend or expire intents once); a restarted
  actor must never apply first-connect rules mid-run.
- ``shadow``: the dry-run order book. Its orders exist nowhere else; a restart must not
  forget them (a shadow position would lose its exits).
- ``sent``: every client order id this process placed or shadowed: never sent twice.
- ``handled``: ``sent`` plus the refused ones: the snapshot says which of the journal's legs
  the broker had seen when it was built (``bot/journal/reconcile.py``: a leg still in flight
  is not "gone").
- ``pending_cancels``: cancels not yet confirmed by IB (a Cancelled or Filled status). They
  are sent again after every reconnect and survive an actor restart, so a cancel sent while
  disconnected or while the actor restarts is never lost.
- ``kept``: order commands a stopping actor never handled (still in its mailbox): the next
  actor sends the exits after its snapshot and answers the entries rejected.
- ``correlation``: the correlation id of each client order id (events echo it).
- ``fills``: exec id -> commission published so far (a late commission report is applied as
  ``CommissionReported``, and an execution is never published twice).

Plain data, no locks: exactly one BrokerActor runs at a time and only its thread touches it.
The runner creates one per process and hands it to every BrokerActor it starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.ib.shadow import ShadowBook


@dataclass
class PendingCancel:
    """A cancel asked for and not yet confirmed by IB."""

    correlation_id: str
    asked_at: datetime
    sends: int = 0
    sent_at: datetime | None = None
    """When it last went to IB (None: not yet: no socket, or the snapshot not complete)."""


@dataclass
class BrokerMemory:
    """The process's broker-side memory (see the module docstring)."""

    snapshots: int = 0
    shadow: ShadowBook = field(default_factory=ShadowBook)
    sent: set[str] = field(default_factory=set)
    handled: set[str] = field(default_factory=set)
    """Every client order id a SubmitBracket/SubmitOrder of this process named (sent,
    refused, duplicate or malformed): what ``BrokerSnapshot.handled`` reports."""
    correlation: dict[str, str] = field(default_factory=dict)
    pending_cancels: dict[str, PendingCancel] = field(default_factory=dict)
    kept: list[Any] = field(default_factory=list)
    fills: dict[str, float] = field(default_factory=dict)
    fill_qty: dict[str, float] = field(default_factory=dict)
