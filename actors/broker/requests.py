"""What the BrokerActor's helpers share, and the one way every request goes out.

``BrokerCore`` lives in the broker's thread and is used only there (the One Rule of
``actors/broker/actor.py``). ``BrokerCore.request`` is the gate in front of every request:

1. wait until connected, until the circuit breaker lets it out and the pacing governor has
   room (queueing, never violating), all within the request's deadline;
2. run it with the rest of the deadline; a timeout becomes ``RequestTimedOut`` naming the
   request and counts as a circuit failure; any answer counts as a success;
3. a connection lost mid-request sends it back to step 1 while its deadline lasts.

The deadline starts when the command arrives, so a request held back by the gate times out
too (without counting against the circuit: it never reached the gateway).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from bot import messages as m
from bot.app.config import Settings
from bot.ib.circuit import CircuitBreaker
from bot.ib.pacing import Governor, Request

T = TypeVar("T")
GATE_POLL_S = 0.25
"""Re-check interval while waiting for the connection or a half-open circuit's trial."""


def _raise_if_cancelled() -> None:
    """``asyncio.wait_for`` (3.11) returns the answer instead of raising CancelledError when
    the answer and the cancel come in the same loop turn; a caller cancelled on shutdown would
    then go on to its next request and outlive the loop. Honour the cancel here."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class RequestFailed(Exception):
    """A request ended without an answer; the failure event was already published."""


@dataclass
class BrokerCore:
    """Shared state of the broker helpers (actor thread only)."""

    ib: Any
    loop: asyncio.AbstractEventLoop
    settings: Settings
    clock: Callable[[], datetime]
    publish: Callable[[Any], None]
    log: Any
    governor: Governor = field(default_factory=Governor)
    circuit: CircuitBreaker = field(default_factory=CircuitBreaker)
    connected: bool = False
    generation: int = 0
    """Counts connections; work tied to an old connection checks it and stops."""
    timeouts: int = 0
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def timeout_s(self) -> float:
        return self.settings.broker.request_timeout_s

    def now(self) -> float:
        """Monotonic seconds on the loop's clock (pacing, circuit, deadlines)."""
        return self.loop.time()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` as a task; its exception reaches the loop's exception handler."""
        task = self.loop.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and not isinstance(task.exception(), RequestFailed | type(None)):
            handler = self.loop.get_exception_handler()
            context = {
                "message": f"task {task.get_name()} failed",
                "exception": task.exception(),
                "task": task,
            }
            (handler or (lambda _loop, ctx: self.log.error("task_failed {}", ctx["message"])))(
                self.loop, context
            )

    def cancel_tasks(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    @property
    def tasks_running(self) -> int:
        return len(self._tasks)

    async def request(
        self,
        req: Request,
        call: Callable[[], Awaitable[T]],
        *,
        correlation_id: str = "",
        symbol: str = "",
    ) -> T:
        """Run ``call`` through the gate; raises ``RequestFailed`` after publishing why."""
        deadline = self.now() + self.timeout_s
        while True:
            await self._gate(req, deadline, correlation_id, symbol)
            try:
                result = await asyncio.wait_for(call(), max(0.0, deadline - self.now()))
            except TimeoutError:
                self.circuit.record_failure(self.now())
                self._timed_out(req, correlation_id, symbol)
            except ConnectionError:
                self.circuit.abandon()  # no answer either way: a half-open trial may go again
                continue  # lost mid-request: wait for the next connection, same deadline
            except asyncio.CancelledError:
                self.circuit.abandon()  # its caller gave up: never keep the half-open trial
                raise
            finally:
                if req.historical:
                    self.governor.historical_done()
            self.circuit.record_success()
            _raise_if_cancelled()
            return result

    async def send(
        self, req: Request, call: Callable[[], T], *, correlation_id: str = "", symbol: str = ""
    ) -> T:
        """Gate a fire-and-forget message (a stream, a cancel) by pacing only, then send it.

        Streams bypass the circuit breaker: restoring subscriptions must not wait for a
        request to succeed, and a sent stream request is not an answer from the gateway.
        """
        await self._gate(req, self.now() + self.timeout_s, correlation_id, symbol, circuit=False)
        return call()

    async def _gate(
        self, req: Request, deadline: float, correlation_id: str, symbol: str, circuit: bool = True
    ) -> None:
        while True:
            now = self.now()
            if now >= deadline:
                self._timed_out(req, correlation_id, symbol)
            wait = self.governor.delay(req, now, count=True) if self.connected else GATE_POLL_S
            if wait <= 0.0 and circuit and not self.circuit.allow(now):
                wait = max(self.circuit.retry_in(now), GATE_POLL_S)
            if wait <= 0.0:
                self.governor.admit(req, now)
                return
            await asyncio.sleep(min(wait, max(0.01, deadline - now)))

    def _timed_out(self, req: Request, correlation_id: str, symbol: str) -> None:
        self.timeouts += 1
        self.log.warning(
            "request_timed_out request={} symbol={} timeout_s={}", req.name, symbol, self.timeout_s
        )
        self.publish(
            m.RequestTimedOut(correlation_id, req.name, self.timeout_s, self.clock(), symbol)
        )
        raise RequestFailed(req.name)
