"""When and as whom to reconnect: exponential backoff with jitter, client id rotation on 326.

Pure: the random source is passed in (seeded in tests), no clock is read. The broker asks
``plan_after_failure`` after every failed or lost connection and sleeps the returned delay
before connecting with the returned client id.

Backoff: attempt ``n`` (0-based) waits a uniform random time in ``[base/2, base]`` with
``base = min(max_s, min_s * 2**n)`` ("equal jitter"), so a fleet of bots restarted together
spreads out, and no wait is ever shorter than half the nominal one.

Client ids: error 326 means another session holds our id (after a restart IB keeps the old
session for about a minute). IB lets a client cancel only the orders it placed itself, so the
bot prefers to wait for its own id: it tries the same id again with backoff until it has waited
``client_id_wait_s`` in all (planned delays, no clock read), and only then moves to the next id
of ``first .. first + attempts - 1`` (at once; the rotation wraps around and then backs off, so
a bot never cycles through ids endlessly). Orders placed under an id it had to leave are
reported as orphans by the broker (``actors/broker/orders.py``).

The broker snapshot after a connect (every client id's open orders) is retried the same way,
without jitter (one bot, one request): ``SnapshotRetry``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

ERR_CLIENT_ID_IN_USE = 326
SNAPSHOT_ATTEMPTS = 3
"""Quick attempts at the broker snapshot before its failure is reported (then slow retries)."""


def doubling(min_s: float, max_s: float, attempt: int) -> float:
    """The wait before attempt ``attempt`` (0-based): ``min_s`` doubled, capped at ``max_s``."""
    return min(max_s, min_s * (2 ** min(attempt, 30)))


@dataclass(frozen=True, slots=True)
class SnapshotRetry:
    """When to ask IB again for every open order after an answer that did not come in time.

    After failure ``n`` (1-based) of the first ``attempts`` the wait doubles from ``min_s``;
    failure ``attempts`` is the one to report (``gave_up``); after it the broker keeps asking
    every ``max_s`` seconds for as long as the connection lasts.
    """

    min_s: float
    max_s: float
    attempts: int = SNAPSHOT_ATTEMPTS

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` (>= 1) failed attempts in a row."""
        if failures >= self.attempts:
            return self.max_s
        return doubling(self.min_s, self.max_s, failures - 1)

    def gave_up(self, failures: int) -> bool:
        """True once, at the failure that ends the quick attempts."""
        return failures == self.attempts


@dataclass(frozen=True, slots=True)
class ReconnectPlan:
    """Wait ``delay_s``, then connect as ``client_id``; ``attempt`` counts from 1."""

    delay_s: float
    client_id: int
    attempt: int
    reason: str


@dataclass
class Reconnector:
    """Backoff state across connection attempts, and the client id in use."""

    first_client_id: int
    client_id_attempts: int = 5
    min_s: float = 1.0
    max_s: float = 60.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    client_id_wait_s: float = 0.0
    """How long to keep asking for the same id after 326 before moving to the next one."""
    failures: int = 0
    """Failed attempts since the last successful connection."""
    reconnects: int = 0
    """Successful connections after the first one."""
    connections: int = 0
    _index: int = 0
    _waited_s: float = 0.0
    """Delays planned since this id was first refused with 326."""

    @property
    def client_id(self) -> int:
        return self.first_client_id + self._index

    def backoff(self, attempt: int) -> float:
        """The jittered wait before attempt ``attempt`` (0-based)."""
        base = doubling(self.min_s, self.max_s, attempt)
        return self.rng.uniform(base / 2.0, base)

    def plan_after_failure(self, error_code: int = 0, reason: str = "") -> ReconnectPlan:
        """A connection failed or was lost (``error_code`` the last IB error seen, 0 if none)."""
        if error_code == ERR_CLIENT_ID_IN_USE and self._waited_s < self.client_id_wait_s:
            delay = min(self.backoff(self.failures), self.client_id_wait_s - self._waited_s)
            self._waited_s += delay
            reason = reason or "client id in use: waiting for IB to free it"
        elif error_code == ERR_CLIENT_ID_IN_USE:
            self._index = (self._index + 1) % self.client_id_attempts
            self._waited_s = 0.0
            wrapped = self._index == 0
            delay = self.backoff(self.failures) if wrapped else 0.0
            reason = reason or "client id in use"
        else:
            delay = self.backoff(self.failures)
        self.failures += 1
        return ReconnectPlan(delay, self.client_id, self.failures, reason)

    def connected(self) -> None:
        """A connection succeeded: reset the backoff, count a reconnect after the first."""
        if self.connections:
            self.reconnects += 1
        self.connections += 1
        self.failures = 0
        self._waited_s = 0.0
