"""Simulated time for the gateway: a start instant plus wall time scaled by a speed factor.

Thread rule: every method may be called from any thread; a lock guards the state, so a
reader never sees a half-applied `jump` or speed change.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class SimClock:
    """Simulated time: start (aware UTC datetime) + (wall elapsed * speed). Thread-safe reads.

    `speed` is simulated seconds per wall second. Changing it keeps `now()` continuous: the
    clock re-bases at the moment of the change. `jump` moves simulated time forward without
    waiting (tests, fast-forward over a night).
    """

    def __init__(
        self,
        start: datetime,
        speed: float = 1.0,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("SimClock needs an aware start datetime")
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self._lock = threading.Lock()
        self._wall = wall
        self._base_sim = start.astimezone(UTC)
        self._base_wall = wall()
        self._speed = float(speed)

    @property
    def speed(self) -> float:
        """Simulated seconds per wall second."""
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        if value <= 0:
            raise ValueError(f"speed must be positive, got {value}")
        with self._lock:
            self._rebase()
            self._speed = float(value)

    def now(self) -> datetime:
        """The current simulated instant, aware UTC."""
        with self._lock:
            return self._now_locked()

    def wall_seconds(self, sim_seconds: float) -> float:
        """How many wall seconds `sim_seconds` of simulated time take at the current speed."""
        return sim_seconds / self._speed

    def jump(self, sim_seconds: float) -> None:
        """Move simulated time forward by `sim_seconds` (negative values are refused)."""
        if sim_seconds < 0:
            raise ValueError("the simulated clock never goes backwards")
        with self._lock:
            self._base_sim += timedelta(seconds=sim_seconds)

    def _now_locked(self, wall_now: float | None = None) -> datetime:
        wall_now = self._wall() if wall_now is None else wall_now
        elapsed = (wall_now - self._base_wall) * self._speed
        return self._base_sim + timedelta(seconds=elapsed)

    def _rebase(self) -> None:
        wall_now = self._wall()
        self._base_sim = self._now_locked(wall_now)
        self._base_wall = wall_now
