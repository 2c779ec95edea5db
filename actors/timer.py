"""A periodic timer that tells an actor ``TimerFired`` messages.

pykka has no scheduler, so each timer is one daemon thread that waits on an Event (so
``cancel`` ends it at once) and tells its target. It stops by itself when the target is dead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

import pykka

from bot import messages as m


class Timer:
    """Tell ``target`` a ``TimerFired(name, clock())`` every ``interval_s`` wall seconds."""

    def __init__(
        self, target: pykka.ActorRef, name: str, interval_s: float, clock: Callable[[], datetime]
    ) -> None:
        self._target = target
        self._name = name
        self._interval = interval_s
        self._clock = clock
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"timer-{name}", daemon=True)

    def start(self) -> Timer:
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Stop firing; safe from any thread, also from the target's own thread."""
        self._cancelled.set()

    def _run(self) -> None:
        while not self._cancelled.wait(self._interval):
            try:
                self._target.tell(m.TimerFired(self._name, self._clock()))
            except pykka.ActorDeadError:
                return
