"""Fault injection for the simulated gateway, scriptable from tests and from a ``--faults`` file.

Chaos (``scripts/chaos.py``) draws its gateway faults from ``ACTIONS``: ``stall_streams`` /
``resume_streams`` stop and restart every streaming push (bars and quotes: a data outage while
orders still work), ``delay_next`` holds a request (and the client's requests behind it) for
a while, ``gateway_restart`` drops every connection and refuses new ones for a
while (IB's daily restart, from the client's side: the account and its orders survive; a
restart during another one ends with the later), ``hang_up_connections`` accepts new
connections and closes them before the handshake is answered (a gateway whose API is not ready
yet: starting, logging in).

``FaultInjector`` is thread-safe: tests call it from their own thread. Flags (never answer,
drop the next N, duplicate execDetails) are read by sessions; actions that touch sessions are
handed to the gateway (``FaultTarget``), which runs them on its own loop thread; order faults
go straight to the (locked) matching engine, so they apply to every order placed after the call
returns.

A faults file is a YAML or JSON list of entries
``{at_sim_seconds: 120 | after_wall_seconds: 5, action: farm_status, args: {code: 2103}}``;
times are measured from the gateway start, ``action`` is one of ``ACTIONS``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from loguru import logger

ACTIONS = frozenset(
    {
        "drop_all_connections",
        "refuse_connections",
        "hang_up_connections",
        "connectivity",
        "farm_status",
        "never_answer",
        "answer_again",
        "drop_next",
        "delay_next",
        "reject_next_order",
        "partial_fills",
        "duplicate_exec_details",
        "hold_client_id",
        "release_client_id",
        "stall_streams",
        "resume_streams",
        "gateway_restart",
    }
)
CONNECTIVITY_CODES = frozenset({1100, 1101, 1102, 2110})
FARM_CODES = frozenset({2103, 2104, 2105, 2106, 2107, 2108, 2158})


class FaultTarget(Protocol):
    """What the gateway offers the injector (each method is safe to call from any thread)."""

    def fault_drop_all(self) -> None: ...
    def fault_refuse(self, seconds: float) -> None: ...
    def fault_hang_up(self, seconds: float) -> None: ...
    def fault_broadcast_status(self, code: int) -> None: ...
    def fault_reject_next(self, code: int, reason: str) -> None: ...
    def fault_partial_fills(self, on: bool, chunk: int) -> None: ...
    def fault_hold_client_id(self, client_id: int, hold: bool) -> None: ...


@dataclass(frozen=True, slots=True)
class ScheduledFault:
    """One entry of a faults file: run ``action(**args)`` once the time has come."""

    action: str
    args: dict = field(default_factory=dict)
    at_sim_seconds: float | None = None
    after_wall_seconds: float | None = None

    def due(self, sim_elapsed: float, wall_elapsed: float) -> bool:
        if self.at_sim_seconds is not None:
            return sim_elapsed >= self.at_sim_seconds
        return wall_elapsed >= (self.after_wall_seconds or 0.0)


def parse_faults(entries: list[dict[str, Any]]) -> list[ScheduledFault]:
    """Validate a list of fault entries; raise ValueError naming the bad entry."""
    out = []
    for i, entry in enumerate(entries):
        action = entry.get("action")
        if action not in ACTIONS:
            raise ValueError(f"fault #{i}: unknown action {action!r} (known: {sorted(ACTIONS)})")
        if ("at_sim_seconds" in entry) == ("after_wall_seconds" in entry):
            raise ValueError(f"fault #{i}: give exactly one of at_sim_seconds / after_wall_seconds")
        extra = set(entry) - {"action", "args", "at_sim_seconds", "after_wall_seconds"}
        if extra:
            raise ValueError(f"fault #{i}: unknown keys {sorted(extra)}")
        out.append(
            ScheduledFault(
                action,
                dict(entry.get("args") or {}),
                entry.get("at_sim_seconds"),
                entry.get("after_wall_seconds"),
            )
        )
    return out


def load_faults(path: Path) -> list[ScheduledFault]:
    """Read a faults file (JSON, or YAML when the suffix is .yaml/.yml)."""
    text = Path(path).read_text()
    if Path(path).suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, list):
        raise ValueError(f"{path}: a faults file holds a list of entries")
    return parse_faults(data)


class FaultInjector:
    """Scriptable faults. All methods are thread-safe and return at once."""

    def __init__(self, target: FaultTarget | None = None) -> None:
        self._target = target
        self._lock = threading.Lock()
        self._never_answer: set[str] = set()
        self._drop_next: dict[str, int] = {}
        self._delay_next: dict[str, list[float]] = {}
        self._duplicate_exec = False
        self._streams_stalled = False
        self._schedule: list[ScheduledFault] = []

    def attach(self, target: FaultTarget) -> None:
        self._target = target

    # --- connection faults ---
    def drop_all_connections(self) -> None:
        self._require().fault_drop_all()

    def refuse_connections(self, seconds: float) -> None:
        self._require().fault_refuse(float(seconds))

    def hang_up_connections(self, seconds: float) -> None:
        """For ``seconds`` (wall), accept each new connection and close it unanswered."""
        self._require().fault_hang_up(float(seconds))

    def connectivity(self, code: int) -> None:
        if code not in CONNECTIVITY_CODES:
            raise ValueError(f"connectivity code must be one of {sorted(CONNECTIVITY_CODES)}")
        self._require().fault_broadcast_status(code)

    def farm_status(self, code: int) -> None:
        if code not in FARM_CODES:
            raise ValueError(f"farm status code must be one of {sorted(FARM_CODES)}")
        self._require().fault_broadcast_status(code)

    def gateway_restart(self, seconds: float) -> None:
        """Every connection dropped, new ones refused for ``seconds`` (wall); state survives."""
        self.drop_all_connections()
        self.refuse_connections(seconds)

    def hold_client_id(self, client_id: int) -> None:
        self._require().fault_hold_client_id(int(client_id), True)

    def release_client_id(self, client_id: int) -> None:
        self._require().fault_hold_client_id(int(client_id), False)

    # --- request faults ---
    def never_answer(self, request: str) -> None:
        with self._lock:
            self._never_answer.add(request)

    def answer_again(self, request: str) -> None:
        with self._lock:
            self._never_answer.discard(request)

    def drop_next(self, request: str, count: int = 1, stack: bool = True) -> None:
        """Leave the next ``count`` requests named ``request`` unanswered, then answer again.
        ``stack=False``: a loss already armed is not added to (glitches that fire apart while no
        such request is sent do not become one burst of consecutive losses)."""
        with self._lock:
            armed = self._drop_next.get(request, 0)
            self._drop_next[request] = armed + int(count) if stack else max(armed, int(count))

    def delay_next(self, request: str, seconds: float, count: int = 1) -> None:
        """Handle the next ``count`` requests named ``request`` ``seconds`` (wall) late; the
        client's later requests wait behind each one, as behind a slow gateway."""
        with self._lock:
            self._delay_next.setdefault(request, []).extend([float(seconds)] * int(count))

    def delay_of(self, request: str) -> float:
        """How long to hold this request (0: at once); the session asks once per request, so
        a positive answer uses up one of the ``delay_next`` count."""
        with self._lock:
            waiting = self._delay_next.get(request)
            return waiting.pop(0) if waiting else 0.0

    def is_silenced(self, request: str) -> bool:
        """Whether the gateway swallows this request; the session asks once per request it
        receives, so a positive answer uses up one of the ``drop_next`` count."""
        with self._lock:
            if request in self._never_answer:
                return True
            left = self._drop_next.get(request, 0)
            if left > 0:
                self._drop_next[request] = left - 1
            return left > 0

    # --- order faults ---
    def reject_next_order(self, reason: str, code: int = 201) -> None:
        self._require().fault_reject_next(int(code), reason)

    def partial_fills(self, on: bool = True, chunk: int = 1) -> None:
        self._require().fault_partial_fills(bool(on), int(chunk))

    def duplicate_exec_details(self, on: bool = True) -> None:
        with self._lock:
            self._duplicate_exec = bool(on)

    @property
    def duplicating_execs(self) -> bool:
        with self._lock:
            return self._duplicate_exec

    # --- stream faults ---
    def stall_streams(self) -> None:
        """Push no bar or quote updates (the tick loop still matches orders) until resumed."""
        with self._lock:
            self._streams_stalled = True

    def resume_streams(self) -> None:
        with self._lock:
            self._streams_stalled = False

    @property
    def streams_stalled(self) -> bool:
        with self._lock:
            return self._streams_stalled

    # --- scripted faults ---
    def schedule(self, faults: list[ScheduledFault]) -> None:
        with self._lock:
            self._schedule.extend(faults)

    def run_due(self, sim_elapsed: float, wall_elapsed: float) -> list[ScheduledFault]:
        """Run (and forget) every scheduled fault whose time has come, in file order; return
        them. Faults due at the same moment are all applied: one that fails (a gateway
        stopping, say) is logged and the others still run."""
        with self._lock:
            due = [f for f in self._schedule if f.due(sim_elapsed, wall_elapsed)]
            self._schedule = [f for f in self._schedule if not f.due(sim_elapsed, wall_elapsed)]
        for fault in due:
            try:
                getattr(self, fault.action)(**fault.args)
            except Exception as exc:  # a fault script must not stop the others
                logger.error("fault_failed action={} error={!r}", fault.action, exc)
        return due

    def _require(self) -> FaultTarget:
        if self._target is None:
            raise RuntimeError("FaultInjector is not attached to a running gateway")
        return self._target
