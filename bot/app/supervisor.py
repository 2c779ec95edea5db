"""The supervisor: starts the actors in dependency order, watches them, stops them in reverse.

Start order (consumers before producers, so no event is published to nobody): health, risk,
execution, one strategy per symbol, and the broker last. Stop order is the reverse, so the
broker stops feeding first and every actor drains what it already holds.

Failure policy (``POLICY``), applied when an actor dies (``ActorFaulted``) or stops answering
(``AlarmRaised``):
- strategy, health, broker, alert, record: restarted, at most ``MAX_RESTARTS`` times in ``RESTART_WINDOW_S``
  per actor; a restarted strategy warms its indicators again from live bars, a restarted broker
  reconnects and restores every subscription.
- risk, execution: a controlled shutdown (exit code 1). They hold the day's limits and the
  working orders; guessing them back would be worse than stopping, and the protective
  bracket orders rest at the broker while the bot is down.
- an actor that is alive but not answering cannot be killed safely from outside its thread:
  a controlled shutdown (exit code 1), so the service manager starts a clean process.
- journal: a controlled shutdown (exit code 1): orders pass through it (write-ahead).
- ``StartRefused`` (the safety gate, or a journal that cannot be opened): exit code 3.

SIGINT, SIGTERM and SIGHUP (an SSH session dropping) stop the bot cleanly, exit code 0.
SIGUSR1 engages the kill switch: the main thread writes ``risk.kill_switch_path`` (time and
reason appended); the file, not the process, holds the state, so it survives restarts until it
is deleted on purpose (``python -m bot kill --clear``).

The supervisor runs in the main thread and receives its messages through a plain queue.
"""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka
from loguru import logger

from bot import messages as m
from bot.app.config import Settings
from bot.app.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_REFUSED
from bot.app.routing import (
    ALERT,
    BROKER,
    EXECUTION,
    HEALTH,
    JOURNAL,
    RECORD,
    RISK,
    STRATEGY,
    SUPERVISOR,
    Directory,
)
from bot.ops.kill_command import write_kill_switch

POLICY = {STRATEGY: "restart", HEALTH: "restart", BROKER: "restart", ALERT: "restart", RECORD: "restart",
          RISK: "shutdown", EXECUTION: "shutdown", JOURNAL: "shutdown"}
MAX_RESTARTS = 3
RESTART_WINDOW_S = 600.0

Factory = Callable[[Directory], pykka.ActorRef]


@dataclass(frozen=True)
class ActorSpec:
    """How to (re)start one actor: its name (``strategy:SPY`` for strategies) and factory."""

    name: str
    factory: Factory

    @property
    def role(self) -> str:
        return self.name.split(":", 1)[0]


class Supervisor:
    """Owns the actor system's life; ``tell`` is its mailbox (any thread)."""

    def __init__(self, specs: list[ActorSpec], directory: Directory | None = None) -> None:
        self.specs = specs
        self.directory = directory or Directory()
        self.refs: dict[str, pykka.ActorRef] = {}
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.stop_requested = threading.Event()
        self.exit_code = EXIT_OK
        self.restarts: dict[str, deque[float]] = defaultdict(deque)
        self.log = logger.bind(actor="supervisor")

    def tell(self, message: Any) -> None:
        self.inbox.put(message)

    def start(self) -> Directory:
        self.directory.register(SUPERVISOR, self)
        for spec in self.specs:
            self._start(spec)
        self.log.info("system_started actors={}", ",".join(s.name for s in self.specs))
        return self.directory

    def stop(self) -> None:
        for spec in reversed(self.specs):
            ref = self.refs.pop(spec.name, None)
            if ref is not None and ref.is_alive():
                try:
                    ref.stop(timeout=10)
                except pykka.Timeout:
                    self.log.error("actor_stop_timed_out actor={}", spec.name)
        self.log.info("system_stopped exit_code={}", self.exit_code)

    def request_stop(self, exit_code: int = EXIT_OK, why: str = "") -> None:
        if why:
            self.log.info("stop_requested exit_code={} why={}", exit_code, why)
        self.exit_code = max(self.exit_code, exit_code)
        self.stop_requested.set()
        self.inbox.put(None)  # wake the loop

    def run(self, duration_s: float | None = None) -> int:
        """Main thread: handle supervision messages until stopped or ``duration_s`` passes."""
        deadline = None if duration_s is None else time.monotonic() + duration_s
        while not self.stop_requested.is_set():
            timeout = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
            if timeout <= 0:
                self.request_stop(EXIT_OK, f"duration {duration_s:g}s reached")
                break
            self.process_one(timeout)
        return self.exit_code

    def process_one(self, timeout: float) -> Any:
        """Handle the next supervision message, if one arrives within ``timeout``."""
        try:
            message = self.inbox.get(timeout=timeout)
        except queue.Empty:
            return None
        self.handle(message)
        return message

    def handle(self, message: Any) -> None:
        match message:
            case m.ActorFaulted(actor=name, error=error):
                self._on_actor_failed(name, f"failed: {error}")
            case m.AlarmRaised(actor=name, reason=reason):
                self._on_actor_failed(name, reason)
            case m.StartRefused(reason=reason):
                self.log.error("start_refused reason={}", reason)
                self.request_stop(EXIT_REFUSED, reason)
            case None:
                pass
            case _:
                self.log.warning("message_unexpected type={}", type(message).__name__)

    def install_signal_handlers(self, kill_switch_path: Any = None) -> None:
        """SIGINT/SIGTERM/SIGHUP stop the bot cleanly; SIGUSR1 writes the kill-switch file.

        SIGHUP is what a dropped SSH session sends to a bot started in it: stop cleanly (the
        same path as SIGTERM) rather than die mid-write. Handlers run in the main thread."""
        def on_signal(signum: int, _frame: Any) -> None:
            self.request_stop(EXIT_OK, signal.Signals(signum).name)

        def on_kill(_signum: int, _frame: Any) -> None:
            path = write_kill_switch(kill_switch_path, "SIGUSR1")
            self.log.warning("kill_switch_written path={} by=SIGUSR1", path)

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGHUP, on_signal)
        if kill_switch_path is not None:
            signal.signal(signal.SIGUSR1, on_kill)

    # -- internals ----------------------------------------------------------------------------

    def _start(self, spec: ActorSpec) -> None:
        # The actor registers itself in the directory in on_start, before it handles or
        # publishes anything; the supervisor keeps the ref to stop or replace it.
        self.refs[spec.name] = spec.factory(self.directory)

    def _on_actor_failed(self, name: str, why: str) -> None:
        spec = next((s for s in self.specs if s.name == name), None)
        if spec is None or self.stop_requested.is_set():
            return
        ref = self.refs.get(name)
        alive = ref is not None and ref.is_alive()
        policy = POLICY.get(spec.role, "shutdown")
        self.log.error("actor_down actor={} why={} alive={} policy={}", name, why, alive, policy)
        if alive or policy == "shutdown" or not self._may_restart(name):
            self.request_stop(EXIT_FAILED, f"{name} {why}")
            return
        self._start(spec)
        self.log.warning("actor_restarted actor={} restarts_in_window={}", name, len(self.restarts[name]))

    def _may_restart(self, name: str) -> bool:
        now = time.monotonic()
        window = self.restarts[name]
        while window and now - window[0] > RESTART_WINDOW_S:
            window.popleft()
        if len(window) >= MAX_RESTARTS:
            return False
        window.append(now)
        return True


def actor_specs(settings: Settings, broker: Factory, clock: Any = None,
                tick_s: float | None = 1.0, journal: bool = False) -> list[ActorSpec]:
    """The bot's actors in start order, with ``broker`` building the broker side.

    ``tick_s=None`` starts no timer threads (tests tell ``TimerFired`` themselves).
    ``journal=True`` (the real bot) starts the JournalActor first: execution sends its orders
    through it (write-ahead) and risk waits for the restart reconciliation."""
    from actors.execution import ExecutionActor
    from actors.health import HealthActor
    from actors.journal import JournalActor
    from actors.risk import RiskActor
    from actors.strategy import StrategyActor

    kw = {} if clock is None else {"clock": clock}
    specs = [ActorSpec(JOURNAL, lambda d: JournalActor.start(d, settings, **kw))] if journal else []
    specs += [
        ActorSpec(HEALTH, lambda d: HealthActor.start(  # beats come on its ticks
            d, settings, tick_s=tick_s and min(tick_s, settings.health.heartbeat_seconds), **kw)),
        ActorSpec(RISK, lambda d: RiskActor.start(d, settings, tick_s=tick_s,
                                                  needs_journal=journal, **kw)),
        ActorSpec(EXECUTION, lambda d: ExecutionActor.start(
            d, settings, tick_s=tick_s and settings.execution.check_every_s, write_ahead=journal,
            **kw)),
    ]
    for symbol in settings.symbols:
        specs.append(ActorSpec(f"{STRATEGY}:{symbol}",
                               lambda d, s=symbol: StrategyActor.start(d, settings, s, **kw)))
    if settings.alerts.urls:
        from actors.alert import AlertActor

        # before the broker, so "started" and the first fills are heard
        specs.append(ActorSpec(ALERT, lambda d: AlertActor.start(d, settings.alerts, tick_s=tick_s, **kw)))
    if settings.record.enabled:
        from actors.recorder import RecorderActor

        # before the broker, so the first bars (the backfill) are recorded too
        specs.append(ActorSpec(RECORD, lambda d: RecorderActor.start(
            d, settings, tick_s=None if tick_s else 0, **kw)))
    specs.append(ActorSpec(BROKER, broker))
    return specs
