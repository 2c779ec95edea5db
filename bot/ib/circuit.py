"""A circuit breaker for broker requests: CLOSED -> OPEN -> HALF_OPEN -> CLOSED.

Pure: the caller passes the time (seconds on any monotonic clock) into every call.

- CLOSED: requests go out. ``failures_to_open`` failures in a row open the circuit.
- OPEN: requests wait (the broker queues them) until ``cooldown_s`` has passed since opening.
- HALF_OPEN: exactly one trial request may go out; its failure opens the circuit again.
- The first success of *any* request closes the circuit, whatever its state: an answer from
  the gateway proves the link works (a breaker that only resets after an order, as a peer's
  did, stays open for the rest of the day).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class CircuitState(str, Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class CircuitBreaker:
    """Counts failures of broker requests and decides whether the next one may go out."""

    failures_to_open: int = 5
    cooldown_s: float = 30.0
    state: CircuitState = CircuitState.CLOSED
    failures: int = 0
    """Failures in a row since the last success."""
    opened_at: float = 0.0
    times_opened: int = 0
    _trial_out: bool = False

    def allow(self, now: float) -> bool:
        """May a request go out now? In HALF_OPEN only the first caller gets a yes."""
        if self.state is CircuitState.OPEN and now - self.opened_at >= self.cooldown_s:
            self.state = CircuitState.HALF_OPEN
            self._trial_out = False
        if self.state is CircuitState.CLOSED:
            return True
        if self.state is CircuitState.HALF_OPEN and not self._trial_out:
            self._trial_out = True
            return True
        return False

    def retry_in(self, now: float) -> float:
        """Seconds until ``allow`` may say yes (0 when it may already)."""
        if self.state is CircuitState.OPEN:
            return max(0.0, self.opened_at + self.cooldown_s - now)
        return 0.0

    def record_failure(self, now: float) -> None:
        self.failures += 1
        reopen = self.state is CircuitState.HALF_OPEN
        if reopen or (self.state is CircuitState.CLOSED and self.failures >= self.failures_to_open):
            self.state = CircuitState.OPEN
            self.opened_at = now
            self.times_opened += 1
        self._trial_out = False

    def abandon(self) -> None:
        """The request that was let out got no answer either way (its connection was lost):
        in HALF_OPEN another trial may go."""
        self._trial_out = False

    def record_success(self) -> None:
        self.state = CircuitState.CLOSED
        self.failures = 0
        self._trial_out = False

    def snapshot(self) -> dict[str, Any]:
        """Figures for the heartbeat."""
        return {"state": self.state.value, "failures": self.failures, "opened": self.times_opened}
