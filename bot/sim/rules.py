"""IB's pacing rules and limits as pure, clock-injected objects.

Each rule is a small class fed with timestamps (floats, seconds) by the session; none reads a
clock itself. The per-second message cap runs on wall time, the historical pacing windows on
simulated time (so an accelerated run spends the same budget per simulated hour).

Rule names (used as ``violation.<name>`` counters): msg_rate, hist_identical,
hist_same_contract, hist_10min, mkt_data_lines, client_id_in_use.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from enum import Enum

ERR_MSG_RATE = 100
ERR_MAX_TICKERS = 101
ERR_HIST = 162
ERR_CLIENT_ID_IN_USE = 326
TEXT_MAX_TICKERS = "Max number of tickers has been reached"
TEXT_HIST_PACING = (
    "Historical Market Data Service error message:Historical data request pacing violation"
)
TEXT_CLIENT_ID_IN_USE = (
    "Unable to connect as the client id is already in use. Retry with a unique client id."
)


def text_msg_rate(limit: int, received: int, breaches: int) -> str:
    """IB's error 100 text, e.g. ``...exceeded:max=50 rec=51 (1)``."""
    return (
        f"Max rate of messages per second has been exceeded:max={limit} rec={received} ({breaches})"
    )


class RateVerdict(Enum):
    """What the session does with one incoming message."""

    OK = "ok"
    BREACH = "breach"  # send error 100, keep the session
    CLOSE = "close"  # send error 100, then close the session


class MessageRate:
    """More than ``limit`` messages in any sliding wall second is a breach; the ``max_breaches``-th
    breach closes the session. One breach is counted at most once per second of excess."""

    def __init__(self, limit: int = 50, window_s: float = 1.0, max_breaches: int = 3) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_breaches = max_breaches
        self.breaches = 0
        self._times: deque[float] = deque()
        self._last_breach = float("-inf")

    def on_message(self, wall_t: float) -> RateVerdict:
        times = self._times
        while times and wall_t - times[0] >= self.window_s:
            times.popleft()
        times.append(wall_t)
        if len(times) <= self.limit or wall_t - self._last_breach < self.window_s:
            return RateVerdict.OK
        self._last_breach = wall_t
        self.breaches += 1
        return RateVerdict.CLOSE if self.breaches >= self.max_breaches else RateVerdict.BREACH

    @property
    def in_window(self) -> int:
        return len(self._times)


@dataclass(frozen=True, slots=True)
class HistRequest:
    """The identity of a historical request for pacing: the contract key and the full query."""

    contract_key: tuple  # (conId or symbol, secType, exchange, ...)
    what: str  # TRADES, MIDPOINT, BID_ASK, ...
    query: tuple  # everything else (end, duration, bar size, useRTH, ...)

    @property
    def weight(self) -> int:
        return 2 if self.what.upper() == "BID_ASK" else 1


class HistoricalPacing:
    """IB's historical data pacing on the simulated clock.

    Violations (rule names): ``hist_identical`` (same request within 15 s),
    ``hist_same_contract`` (a 6th request for one contract/exchange/tick type within 2 s),
    ``hist_10min`` (more than 60 requests in 10 minutes). BID_ASK requests count twice.
    A rejected request is not recorded.
    """

    IDENTICAL_S = 15.0
    SAME_CONTRACT_S = 2.0
    SAME_CONTRACT_MAX = 5
    WINDOW_S = 600.0
    WINDOW_MAX = 60

    def __init__(self) -> None:
        self._log: deque[tuple[float, HistRequest]] = deque()

    def check(self, req: HistRequest, sim_t: float) -> str | None:
        """Record the request at ``sim_t`` and return None, or return the violated rule name."""
        log = self._log
        while log and sim_t - log[0][0] >= self.WINDOW_S:
            log.popleft()
        recent = [(t, r) for t, r in log]
        if any(r == req and sim_t - t < self.IDENTICAL_S for t, r in recent):
            return "hist_identical"
        same = sum(
            r.weight
            for t, r in recent
            if sim_t - t < self.SAME_CONTRACT_S
            and (r.contract_key, r.what) == (req.contract_key, req.what)
        )
        if same + req.weight > self.SAME_CONTRACT_MAX:
            return "hist_same_contract"
        if sum(r.weight for _, r in recent) + req.weight > self.WINDOW_MAX:
            return "hist_10min"
        log.append((sim_t, req))
        return None


class MarketDataLines:
    """Gateway-wide market data lines: streaming reqMktData and reqRealTimeBars take one each."""

    def __init__(self, limit: int = 100) -> None:
        self.limit = limit
        self._held: set[tuple] = set()
        self._lock = threading.Lock()

    def acquire(self, key: tuple) -> bool:
        with self._lock:
            if key in self._held:
                return True
            if len(self._held) >= self.limit:
                return False
            self._held.add(key)
            return True

    def release(self, key: tuple) -> None:
        with self._lock:
            self._held.discard(key)

    def release_owner(self, owner: object) -> None:
        """Free every line whose key starts with ``owner`` (a closing session)."""
        with self._lock:
            self._held = {k for k in self._held if k[0] != owner}

    @property
    def in_use(self) -> int:
        return len(self._held)


class ClientIds:
    """Client ids held by live sessions (or by a phantom session injected as a fault)."""

    def __init__(self) -> None:
        self._held: set[int] = set()
        self._lock = threading.Lock()

    def claim(self, client_id: int) -> bool:
        with self._lock:
            if client_id in self._held:
                return False
            self._held.add(client_id)
            return True

    def release(self, client_id: int) -> None:
        with self._lock:
            self._held.discard(client_id)


class Counters:
    """Thread-safe named counters (``req.<name>``, ``violation.<rule>``, ``orders.placed``, ...)."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def inc(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] = self._counts.get(name, 0) + n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._counts.items()))

    def violations(self) -> int:
        with self._lock:
            return sum(v for k, v in self._counts.items() if k.startswith("violation."))
