"""The matching engine's executions and their commission reports, as reqExecutions answers them.

IB answers reqExecutions with the executions of the current day, so the log keeps those and
no more: ``trim(today)`` forgets executions whose exchange date is before `today`, and ``add``
forgets the oldest beyond ``limit`` (a bound for a day with an unusual number of fills).
Exec ids count every execution ever added, so a forgotten one's id is never reused.

Not thread-safe on its own: the engine holds its lock around every call.
"""

from __future__ import annotations

from collections import deque
from datetime import date

from bot.sim.calendar import exchange_date
from bot.sim.order_events import CommissionEvent, ExecutionEvent


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
