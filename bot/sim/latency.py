"""How long a real IB Gateway takes to answer: seeded delays per request kind, ``none`` or ``ib``.

A simulator that answers in microseconds hides what a user pays on a real gateway: every
request is a round trip to IB's servers plus IB's own work (contract details, the first tick
of an option, its model greeks). ``--latency ib`` (``broker.sim.latency: ib``) delays each
answer by a draw from a log-normal distribution per request kind; ``none`` (the default, and
what the tests use) adds nothing and leaves every code path as it was.

| kind | requests (or what) it delays | median ms | p95 ms |
|---|---|---|---|
| ``connect`` | startApi: managedAccounts, nextValidId, the farm notices | 60 | 250 |
| ``contract_details`` | reqContractDetails | 120 | 450 |
| ``secdef`` | reqSecDefOptParams | 180 | 700 |
| ``historical`` | reqHistoricalData (its first answer), reqHeadTimeStamp | 350 | 1500 |
| ``first_tick`` | reqMktData: the first tick of a stream (later ticks stream as usual) | 250 | 800 |
| ``greeks`` | an option stream's first option computations, after its first tick | 450 | 1500 |
| ``order_ack`` | placeOrder, cancelOrder, reqGlobalCancel: openOrder / orderStatus | 35 | 150 |
| ``fill`` | execDetails / orderStatus of a fill, after the match | 40 | 200 |

Where the figures come from (``LATENCY_SOURCES``): they are **estimates**, not IB's numbers
(IB publishes none). They are chosen to agree with what is reported publicly: a round trip
to IB's servers from a US data centre is about 7 ms and from home 50-100 ms; IB's quote feed
sends a snapshot of each instrument about every 300 ms, so a first tick waits up to that
plus the round trip; model greeks are computed after the option's and the underlying's
prices arrive and "take a couple of seconds" at worst; fetching contract details added about
100 ms per order in one measured client (20 orders 3.5 s against 1.5 s cached); the first
historical requests of an option took 0.5-0.6 s. Replace them with your own measurements.

Rules the delays keep (as IB does):

- **Nothing blocks.** A delayed request is scheduled on the gateway's own loop; other
  clients, other requests and the market's streams go on meanwhile.
- **Order per lane.** Requests of one kind of work (``LANES``: the stream of one request and
  its cancel, the orders of a client) are answered in the order they arrived: a request is
  never answered before an earlier one of its lane, so a cancel never overtakes its request
  and an order's acknowledgement never overtakes an earlier order's. Within one request its
  messages keep their order (they are written together).
- **Deterministic for a seed.** Each kind draws from its own ``random.Random`` seeded by
  (seed, kind), so the n-th request of a kind waits the same whatever else ran between.
"""

from __future__ import annotations

import math
import random
import textwrap
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

MODES = ("none", "ib")
Z95 = 1.6448536269514722
"""The standard normal's 95th percentile: p95 = median * exp(Z95 * sigma)."""


@dataclass(frozen=True, slots=True)
class Delay:
    """A log-normal delay in wall milliseconds, given by its median and 95th percentile."""

    median_ms: float
    p95_ms: float

    @property
    def sigma(self) -> float:
        return math.log(self.p95_ms / self.median_ms) / Z95

    def draw_s(self, rng: random.Random) -> float:
        """One delay in seconds."""
        return rng.lognormvariate(math.log(self.median_ms), self.sigma) / 1000.0


IB_PROFILE: dict[str, Delay] = {
    "connect": Delay(60, 250),
    "contract_details": Delay(120, 450),
    "secdef": Delay(180, 700),
    "historical": Delay(350, 1500),
    "first_tick": Delay(250, 800),
    "greeks": Delay(450, 1500),
    "order_ack": Delay(35, 150),
    "fill": Delay(40, 200),
}
"""The ``ib`` profile (see the module table)."""

LATENCY_SOURCES = (
    "round trip to IB's servers about 7 ms from a US data centre, about 93 ms over home ADSL "
    "(TWS API users' group; elitetrader 'checking connection delay with IB')",
    "IB's quote feed sends a snapshot per instrument about every 300 ms (Richard King, TWS API "
    "users' group)",
    "model greeks are filled asynchronously and can take a couple of seconds (ib_async #77)",
    "contract details fetched before each order: 20 orders 3.5 s against 1.5 s cached "
    "(QuantConnect Lean.Brokerages.InteractiveBrokers #48)",
    "first option historical requests 0.5-0.6 s (ib_insync #390)",
)

KIND_OF_REQUEST: dict[str, str] = {
    "startApi": "connect",
    "reqContractDetails": "contract_details",
    "reqSecDefOptParams": "secdef",
    "reqHistoricalData": "historical",
    "reqHeadTimeStamp": "historical",
    "reqMktData": "first_tick",
    "placeOrder": "order_ack",
    "cancelOrder": "order_ack",
    "reqGlobalCancel": "order_ack",
}
"""The kind whose delay each request waits (requests not named here wait none)."""

LANES: dict[str, str] = {
    "reqContractDetails": "contract_details",
    "reqSecDefOptParams": "secdef",
    "reqHistoricalData": "historical",
    "cancelHistoricalData": "historical",
    "reqHeadTimeStamp": "historical",
    "cancelHeadTimeStamp": "historical",
    "reqMktData": "mktdata",
    "cancelMktData": "mktdata",
    "placeOrder": "orders",
    "cancelOrder": "orders",
    "reqGlobalCancel": "orders",
    "reqOpenOrders": "orders",
    "reqAllOpenOrders": "orders",
    "reqAutoOpenOrders": "orders",
    "reqCompletedOrders": "orders",
    "reqExecutions": "orders",
}
"""Requests answered in arrival order among themselves. Every request also waits for the
session's startApi (nothing is served before it); requests in no lane run at once."""


class LatencyModel:
    """The delay of each request kind: seeded draws (``ib``) or none at all (``none``)."""

    def __init__(self, mode: str = "none", seed: int = 0,
                 profile: dict[str, Delay] | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"latency must be one of {MODES}, not {mode!r}")
        self.mode = mode
        self.profile = dict(IB_PROFILE if profile is None else profile)
        self._rngs = {kind: random.Random(f"{seed}:{kind}") for kind in self.profile}

    @property
    def active(self) -> bool:
        return self.mode != "none"

    def draw_s(self, kind: str) -> float:
        """The next delay of ``kind`` in seconds (0.0 with ``none`` or an unknown kind)."""
        if not self.active or kind not in self.profile:
            return 0.0
        return self.profile[kind].draw_s(self._rngs[kind])

    def request_delay_s(self, name: str | None) -> float:
        """The delay of the request ``name`` (IB's request name)."""
        kind = KIND_OF_REQUEST.get(name or "")
        return 0.0 if kind is None else self.draw_s(kind)


@dataclass
class _Lane:
    queue: deque[tuple[float, Callable[[], None]]] = field(default_factory=deque)
    last_due: float = 0.0
    armed: bool = False


class Scheduler:
    """Runs callbacks no earlier than their due time, in order per lane, on one asyncio loop.

    ``submit(lane, due, fn)``: ``fn`` runs at ``max(due, due of the lane's previous one)``;
    at once (synchronously) when that is not in the future and nothing of the lane waits.
    Loop thread only. ``time`` and ``call_at`` are the loop's (``loop.time``,
    ``loop.call_at``), injectable for tests.
    """

    def __init__(self, time: Callable[[], float],
                 call_at: Callable[[float, Callable[[], None]], object]) -> None:
        self._time = time
        self._call_at = call_at
        self._lanes: dict[str, _Lane] = {}

    def due_of(self, lane: str) -> float:
        """When the last callback of ``lane`` runs (0.0 for a lane never used)."""
        found = self._lanes.get(lane)
        return 0.0 if found is None else found.last_due

    def submit(self, lane: str, due: float, fn: Callable[[], None]) -> None:
        state = self._lanes.setdefault(lane, _Lane())
        due = max(due, state.last_due)
        state.last_due = due
        if not state.queue and due <= self._time():
            fn()
            return
        state.queue.append((due, fn))
        self._arm(lane, state)

    def pending(self) -> int:
        """Callbacks waiting, over every lane."""
        return sum(len(lane.queue) for lane in self._lanes.values())

    def _arm(self, lane: str, state: _Lane) -> None:
        if state.armed or not state.queue:
            return
        state.armed = True
        self._call_at(state.queue[0][0], lambda: self._run(lane))

    def _run(self, lane: str) -> None:
        state = self._lanes[lane]
        state.armed = False
        now = self._time()
        try:
            while state.queue and state.queue[0][0] <= now:
                _, fn = state.queue.popleft()
                fn()
        finally:  # a failing callback must not strand the ones behind it
            self._arm(lane, state)


def help_text() -> str:
    """The ``--help`` section of ``python -m bot gateway``: the figures and their sources."""
    rows = "\n".join(f"  {kind:<17} median {d.median_ms:>4g} ms, p95 {d.p95_ms:>5g} ms"
                     for kind, d in IB_PROFILE.items())
    sources = "\n".join(textwrap.fill(s, 88, initial_indent="  - ", subsequent_indent="    ")
                        for s in LATENCY_SOURCES)
    return (
        "\nLatency (--latency ib): each answer waits a seeded log-normal draw per kind (wall\n"
        "time; requests of one lane keep their order; nothing else waits meanwhile):\n"
        f"{rows}\n"
        "  (connect: startApi; contract_details, secdef, historical: their requests;\n"
        "  first_tick: reqMktData; greeks: an option's first computations after its first\n"
        "  tick; order_ack: placeOrder/cancelOrder; fill: executions after the match)\n"
        "These are ESTIMATES (IB publishes no latency figures), chosen to agree with what is\n"
        "reported publicly:\n"
        f"{sources}\n"
    )
