"""The pacing governor: every broker request asks it first, and waits rather than violate.

Pure: the caller passes the time in (seconds on a monotonic clock). IB's limits
(IB_FACTS.md, "Pacing limits") with a margin:

| rule                                   | IB                      | governor (default)   |
|----------------------------------------|-------------------------|----------------------|
| messages per second (arriving)         | 50 (lines / 2)          | 24 per sent second   |
| identical historical request           | not within 15 s         | not within 16 s      |
| historical, same contract and tick type| < 6 within 2 s          | <= 3 within 2.5 s    |
| historical requests in 10 minutes      | 60 (BID_ASK counts 2)   | 50                   |
| historical requests open at once       | 50                      | 40                   |
| market data lines                      | 100                     | 90                   |

``admit(request, now)`` answers 0.0 and books the request when it may go now, or the number
of seconds to wait before asking again (nothing is booked then). Streams hold a market data
line until ``release_line``; historical requests stay "open" until ``historical_done``. The
broker runs on wall time; against the simulator's accelerated clock the historical windows
are then stricter than the simulator's, the 10-minute budget looser (still far above what one
keepUpToDate subscription per symbol needs).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

NOT_BEFORE_LINE_FREE = 1.0
"""Retry interval when every market data line is taken (freed only by a cancel)."""

MESSAGE_BURST = 24
MESSAGE_BURST_INTERVAL_S = 1.0
"""Every outgoing message: at most 24 in any second as the bot sends them.

IB counts messages per second as they ARRIVE (50 at most; error 100, and the third breach
closes the session). A limit of 40 per sliding second lets the client send 40 at once and 40
more one second later; when the first burst lands a few milliseconds late (a busy gateway, a
loaded Pi), IB sees up to 80 within one of its seconds. With 24, two bursts are the most that
can land within one second unless arrivals bunch up by a whole second: at most 48. A burst of
24 still leaves at once, so an order is rarely held behind a signal's quote requests (a finer
step, 5 per 0.125 s, queued entries behind them: the restart tests against the simulator at
speed 60 then failed in 3 runs of 3, the entry filling far from the price it was sent at)."""


ORDER_MESSAGE_IDS = frozenset({"3", "4", "58"})
"""IB's message ids of placeOrder, cancelOrder and reqGlobalCancel (the first field)."""


def limit_message_rate(client: Any) -> None:
    """Set an ib_insync (or ib_async) ``Client``'s own throttle to the limit above, orders
    first.

    The client's throttle sees every message (orders, cancels, the connect sync), not only
    the requests the governor books, so this is the one place the rate is enforced. When it
    holds messages back (more than ``MESSAGE_BURST`` in a second), an order message joins
    the queue ahead of the data requests waiting there, never ahead of an earlier order:
    the same messages leave at the same rate, an entry just no longer waits a second behind
    the quote streams a bar close cancels and asks for (measured: 0.96 s behind 12
    cancelMktData, ``scripts/bench_e2e.py`` without the prewarm)."""
    client.MaxRequests = MESSAGE_BURST
    client.RequestsInterval = MESSAGE_BURST_INTERVAL_S
    send = client.sendMsg

    def send_orders_first(msg: str | None) -> None:
        waiting = client._msgQ  # the client's throttle queue (ib_insync and ib_async alike)
        if msg and waiting and is_order_message(msg):
            ahead = next((i for i, queued in enumerate(waiting)
                          if not is_order_message(queued)), len(waiting))
            waiting.insert(ahead, msg)
            msg = None  # sendMsg(None) sends what the limit allows now, then waits again
        send(msg)

    client.sendMsg = send_orders_first


def is_order_message(msg: str) -> bool:
    """An encoded client message that places or cancels an order."""
    return msg.split("\0", 1)[0] in ORDER_MESSAGE_IDS


@dataclass(frozen=True, slots=True)
class Limits:
    msg_per_s: int = 40
    hist_identical_s: float = 16.0
    hist_same_contract_s: float = 2.5
    hist_same_contract_max: int = 3
    hist_window_s: float = 600.0
    hist_window_max: int = 50
    hist_open_max: int = 40
    lines: int = 90


@dataclass(frozen=True, slots=True)
class Request:
    """What the governor needs to know about one outgoing request."""

    name: str
    """IB's request name, e.g. ``reqHistoricalData`` (for the heartbeat and logs)."""
    query: tuple[Any, ...] = ()
    """Historical only: the full query; equal queries are "identical requests"."""
    contract: str = ""
    """Historical only: contract, exchange and tick type for the same-contract rule."""
    bid_ask: bool = False
    """Historical BID_ASK requests count twice."""
    line: str = ""
    """Streaming market data: the key of the line this stream holds."""

    @property
    def historical(self) -> bool:
        return bool(self.query)

    @property
    def weight(self) -> int:
        return 2 if self.bid_ask else 1


@dataclass
class Governor:
    """Books requests against IB's limits; see the module docstring for the rules."""

    limits: Limits = field(default_factory=Limits)
    deferred: int = 0
    """How many times a request had to wait (for the heartbeat)."""
    _messages: deque[float] = field(default_factory=deque)
    _historical: deque[tuple[float, Request]] = field(default_factory=deque)
    _hist_open: int = 0
    _lines: set[str] = field(default_factory=set)

    def admit(self, request: Request, now: float) -> float:
        """0.0 and booked when ``request`` may go at ``now``; else seconds to wait."""
        wait = self.delay(request, now, count=True)
        if wait > 0.0:
            return wait
        self.record_message(now)
        if request.historical:
            self._historical.append((now, request))
            self._hist_open += 1
        if request.line:
            self._lines.add(request.line)
        return 0.0

    def delay(self, request: Request, now: float, *, count: bool = False) -> float:
        """Seconds until ``request`` may go (0.0 = now); books nothing (``count``: a wait is
        counted as a deferral for the heartbeat)."""
        wait = self._delay(request, now)
        if count and wait > 0.0:
            self.deferred += 1
        return wait

    def _delay(self, request: Request, now: float) -> float:
        self._expire(now)
        waits = [self._message_wait(now)]
        if request.historical:
            waits += [
                self._identical_wait(request, now),
                self._same_contract_wait(request, now),
                self._window_wait(request, now),
                self._open_wait(),
            ]
        if (
            request.line
            and request.line not in self._lines
            and len(self._lines) >= self.limits.lines
        ):
            waits.append(NOT_BEFORE_LINE_FREE)
        return max(waits)

    def record_message(self, now: float) -> None:
        """Book one outgoing message that never waits (a cancel, an order)."""
        self._messages.append(now)

    def book_past(self, request: Request, at: float) -> None:
        """Count a historical request made earlier (at ``at``, on this clock) by another process,
        e.g. the previous run of ``fetch-history``: IB's windows span processes. Not open."""
        self._historical.append((at, request))
        self._historical = deque(sorted(self._historical, key=lambda item: item[0]))

    def historical_done(self) -> None:
        """A historical request was answered, failed or timed out."""
        self._hist_open = max(0, self._hist_open - 1)

    def release_line(self, line: str) -> None:
        self._lines.discard(line)

    def release_all_lines(self) -> None:
        """The connection was lost: the gateway freed every line and open request."""
        self._lines.clear()
        self._hist_open = 0

    def snapshot(self, now: float) -> dict[str, Any]:
        """Figures for the heartbeat."""
        self._expire(now)
        return {
            "msgs_1s": len(self._messages),
            "hist_10min": sum(r.weight for _, r in self._historical),
            "hist_open": self._hist_open,
            "lines": len(self._lines),
            "deferred": self.deferred,
        }

    # -- rules ------------------------------------------------------------------------------

    def _expire(self, now: float) -> None:
        while self._messages and now - self._messages[0] >= 1.0:
            self._messages.popleft()
        while self._historical and now - self._historical[0][0] >= self.limits.hist_window_s:
            self._historical.popleft()

    def _message_wait(self, now: float) -> float:
        if len(self._messages) < self.limits.msg_per_s:
            return 0.0
        return self._messages[-self.limits.msg_per_s] + 1.0 - now

    def _identical_wait(self, request: Request, now: float) -> float:
        last = max((t for t, r in self._historical if r.query == request.query), default=None)
        return 0.0 if last is None else max(0.0, last + self.limits.hist_identical_s - now)

    def _same_contract_wait(self, request: Request, now: float) -> float:
        window = self.limits.hist_same_contract_s
        recent = [
            (t, r)
            for t, r in self._historical
            if r.contract == request.contract and now - t < window
        ]
        used = sum(r.weight for _, r in recent)
        if used + request.weight <= self.limits.hist_same_contract_max:
            return 0.0
        return recent[0][0] + window - now

    def _window_wait(self, request: Request, now: float) -> float:
        used = sum(r.weight for _, r in self._historical)
        if used + request.weight <= self.limits.hist_window_max:
            return 0.0
        return self._historical[0][0] + self.limits.hist_window_s - now

    def _open_wait(self) -> float:
        return 0.0 if self._hist_open < self.limits.hist_open_max else NOT_BEFORE_LINE_FREE
