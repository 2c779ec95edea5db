"""The harness for actor-level tests: a probe, a settable clock, and a wired bot on a stub broker.

The system under test is built by the real ``Supervisor`` from the real ``actor_specs``; only
the broker is the scripted ``StubBroker``. Timers are off: tests tell ``TimerFired`` and move
the clock themselves, so nothing depends on how fast the machine is.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pykka

from bot import messages as m
from bot.app.config import Settings
from bot.app.routing import SUPERVISOR, Directory
from bot.app.supervisor import Supervisor, actor_specs
from bot.trading.market_hours import NY
from doubles.stub_broker import StubBroker

WAIT_S = 5.0


class Probe:
    """Collects what it is told; ``expect`` waits (bounded) for a matching message."""

    def __init__(self) -> None:
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.seen: list[Any] = []

    def tell(self, message: Any) -> None:
        self.inbox.put(message)

    def expect(self, kind: type, where: Any = None, timeout: float = WAIT_S) -> Any:
        for message in self.seen:
            if isinstance(message, kind) and (where is None or where(message)):
                self.seen.remove(message)
                return message
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self.inbox.get(timeout=left)
            except queue.Empty:
                break
            if isinstance(message, kind) and (where is None or where(message)):
                return message
            self.seen.append(message)
        seen = [type(x).__name__ for x in self.seen]
        raise AssertionError(f"no {kind.__name__} within {timeout}s; saw {seen}")

    def drain(self) -> list[Any]:
        while True:
            try:
                self.seen.append(self.inbox.get_nowait())
            except queue.Empty:
                return self.seen


class Clock:
    """A settable wall clock shared by the actors of one test (thread-safe reads)."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now


class Monotonic:
    """A settable monotonic clock (seconds) for the health actor's ping and alarm timing."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def ny(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NY).astimezone(UTC)


def make_settings(tmp_path: Path, **sections: dict[str, Any]) -> Settings:
    """Real settings for one test: SPY only, a tmp kill switch and log dir, overrides on top."""
    data: dict[str, Any] = {
        "symbols": ["SPY"],
        "strategy": {"ema_fast": 3, "ema_slow": 5, "rsi_period": 3, "rsi_call_min": 50,
                     "rsi_overbought": 100, "rsi_put_max": 40, "rsi_oversold": 0,
                     "require_vwap": False, "cooldown_bars": 0},
        "options": {"max_dte": 7, "strike_window": 2, "max_spread_pct": 10, "min_volume": 10},
        "risk": {"max_risk_pct_per_trade": 1.0, "max_daily_loss_pct": 2.0, "max_trades_per_day": 3,
                 "max_open_positions": 2, "max_consecutive_losses": 2, "take_profit_pct": 30,
                 "stop_loss_pct": 20, "max_hold_minutes": 20, "flat_before_close_minutes": 10,
                 "kill_switch_path": str(tmp_path / "KILL")},
        "execution": {"oco_mode": "native", "ack_timeout_s": 10, "entry_timeout_s": 60},
        "health": {"heartbeat_seconds": 10, "ping_timeout_s": 3},
        "logging": {"dir": str(tmp_path / "logs")},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values} if isinstance(values, dict) else values
    return Settings.model_validate(data)


@dataclass
class Bot:
    """A running bot on a stub broker, and the probe that hears every published event."""

    settings: Settings
    supervisor: Supervisor
    directory: Directory
    broker: Any
    probe: Probe
    clock: Clock

    def ref(self, name: str) -> pykka.ActorRef:
        return self.supervisor.refs[name]

    def publish(self, message: Any) -> None:
        self.directory.publish(message)

    def sync(self, rounds: int = 3) -> None:
        """Barrier: every message already in flight has been handled, hop by hop.

        Each round asks every actor in pipeline order; an ask returns only after the actor
        handled what was queued before it, so ``rounds`` rounds flush that many hops."""
        order = [n for n in self.supervisor.refs if n.startswith("strategy")]
        order += [n for n in ("risk", "execution", "journal", "broker", "health")
                  if n in self.supervisor.refs]
        for _ in range(rounds):
            for name in order:
                self.ref(name).ask(m.Ping("sync", 0.0, _NullReply()), timeout=WAIT_S)

    def commands(self, kind: type) -> tuple[Any, ...]:
        """The broker commands of ``kind`` received so far, after a ``sync``."""
        self.sync()
        return self.broker.commands(kind).get(timeout=WAIT_S)

    def tick(self, seconds: float = 0.0) -> None:
        """Move the wall clock and fire the execution actor's timer once, and wait until it is
        handled (the actor reads the shared clock: a second tick must not overtake the first)."""
        now = self.clock.advance(seconds)
        self.ref("execution").tell(m.TimerFired("orders", now))
        self.ref("execution").ask(m.Ping("tick", 0.0, _NullReply()), timeout=WAIT_S)


class _NullReply:
    def tell(self, message: Any) -> None:
        pass


class ProbedDirectory(Directory):
    """A directory that also copies every published event to a probe."""

    def __init__(self, probe: Probe) -> None:
        super().__init__()
        self.probe = probe

    def publish(self, message: Any, roles: Any = None) -> int:
        heard = super().publish(message, roles)
        self.probe.tell(message)  # after routing: what the probe sees is already queued onward
        return heard


def start_bot(settings: Settings, clock: Clock, chains: dict[str, m.OptionChain] | None = None,
              journal: bool = False, **stub: Any) -> Bot:
    """The real supervisor and actors on a StubBroker; ``journal=True`` adds the JournalActor
    (orders then pass through it, write-ahead)."""
    probe = Probe()
    directory = ProbedDirectory(probe)

    def broker(d: Directory) -> pykka.ActorRef:
        return StubBroker.start(d, clock, chains=chains, **stub)

    supervisor = Supervisor(actor_specs(settings, broker, clock=clock, tick_s=None, journal=journal),
                            directory)
    supervisor.start()
    directory.register(SUPERVISOR, supervisor)
    return Bot(settings, supervisor, directory, supervisor.refs["broker"].proxy(), probe, clock)


class StuckActor(pykka.ThreadingActor):
    """A real actor whose thread blocks in its first handler until ``release`` is set
    (bounded by ``WAIT_S``): what a stalled actor looks like from outside."""

    def __init__(self, entered: threading.Event, release: threading.Event) -> None:
        super().__init__()
        self.entered, self.release = entered, release

    def on_receive(self, message: Any) -> None:
        self.entered.set()
        self.release.wait(WAIT_S)
