"""The matching engine's executions and their commission reports, as reqExecutions answers them.

IB answers reqExecutions with the executions of the current day, so the log keeps those and
no more: ``trim(today)`` forgets executions whose exchange date is before `today`, and ``add``
forgets the oldest beyond ``limit`` (a bound for a day with an unusual number of fills).
Exec ids are ``<prefix>.<sequence>.01.01`` in IB's hex layout and never repeat: the sequence
counts every execution the log ever added (a forgotten one's id is not reused), and the prefix
is the wall-clock millisecond the engine was created (modulo 2**32, i.e. it repeats only after
49.7 days), bumped above any earlier prefix of the process. A restarted gateway therefore never
hands out an execId an earlier one did: a client that dedups fills by execId (as the bot and
ib_insync do) would otherwise drop real fills.

Not thread-safe on its own: the engine holds its lock around every call.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from datetime import date

from bot.sim.calendar import exchange_date
from bot.sim.order_events import CommissionEvent, ExecutionEvent

_prefix_lock = threading.Lock()
_last_prefix = -1


def new_exec_prefix(wall_ms: int | None = None) -> int:
    """A fresh 32-bit exec id prefix: the wall-clock millisecond, above every earlier one of
    this process (see the module docstring)."""
    global _last_prefix
    now = (time.time_ns() // 1_000_000 if wall_ms is None else wall_ms) & 0xFFFFFFFF
    with _prefix_lock:
        _last_prefix = now if now > _last_prefix else (_last_prefix + 1) & 0xFFFFFFFF
        return _last_prefix


def exec_id(prefix: int, sequence: int) -> str:
    """IB's execId layout: two 8-digit hex fields, then ".01.01"."""
    return f"{prefix:08x}.{sequence:08x}.01.01"


class ExecutionLog:
    """The kept executions, oldest first, each with its commission report."""

    def __init__(self, limit: int) -> None:
        self._executions: deque[tuple[date, ExecutionEvent]] = deque()
        """(exchange date, execution), oldest first."""
        self._commissions: dict[str, CommissionEvent] = {}
        self._limit = limit
        self.added = 0
        """How many executions were ever added (the next exec id's sequence number)."""

    def __len__(self) -> int:
        return len(self._executions)

    def add(self, execution: ExecutionEvent, report: CommissionEvent) -> None:
        self._executions.append((exchange_date(execution.time), execution))
        self._commissions[execution.exec_id] = report
        self.added += 1
        while len(self._executions) > self._limit:
            self._forget_oldest()

    def trim(self, today: date) -> None:
        """Forget the executions of days before `today`."""
        while self._executions and self._executions[0][0] < today:
            self._forget_oldest()

    def all(self) -> list[ExecutionEvent]:
        return [execution for _, execution in self._executions]

    def commission_of(self, exec_id: str) -> CommissionEvent | None:
        return self._commissions.get(exec_id)

    def _forget_oldest(self) -> None:
        del self._commissions[self._executions.popleft()[1].exec_id]
