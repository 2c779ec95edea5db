"""HealthActor: the heartbeat, and the alarm when an actor stops answering.

Accepts: TimerFired (its own 1-second tick), Pong, BrokerErrorReported, RequestTimedOut,
    ConnectionChanged, AccountUpdated, ActorFaulted, StartRefused, Ping.
Emits: Ping (to every registered actor, ``reply_to`` itself); AlarmRaised (published, to the
    supervisor); a heartbeat every ``health.heartbeat_seconds``: one readable log line, one
    JSON line (bound as ``heartbeat``) and ``<logs>/heartbeat.json`` for ``status`` tools.
Thread rule: its own pykka thread; it reads psutil figures and mailbox sizes, never blocks.

Times here are wall/monotonic: health is about the process, not the market.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import psutil
from loguru import logger

from actors.base import BotActor, utc_now
from actors.timer import Timer
from bot import messages as m
from bot.config import Settings
from bot.routing import HEALTH, SUPERVISOR, Directory

MIB = 1024 * 1024


class HealthActor(BotActor):
    name = "health"

    def __init__(self, directory: Directory, settings: Settings, clock: Any = utc_now,
                 monotonic: Callable[[], float] = time.monotonic, tick_s: float | None = 1.0) -> None:
        super().__init__(directory, clock)
        self.cfg = settings.health
        self.heartbeat_path = settings.logging.dir / "heartbeat.json"
        self.monotonic = monotonic
        self.tick_s = tick_s
        self.started = monotonic()
        self.last_beat = self.started
        self.last_ping = float("-inf")
        self.outstanding: dict[str, float] = {}
        self.alarmed: set[str] = set()
        self.reports: dict[str, dict[str, Any]] = {}
        self.broker_state = "unknown"
        self.errors: Counter[str] = Counter()
        self.beats = 0
        self.last_heartbeat: dict[str, Any] = {}
        self.process = psutil.Process(os.getpid())
        self.process.cpu_percent(None)
        self.timer: Timer | None = None

    def on_start(self) -> None:
        super().on_start()
        if self.tick_s:
            self.timer = Timer(self.actor_ref, "health", self.tick_s, self.clock).start()

    def on_stop(self) -> None:
        if self.timer:
            self.timer.cancel()

    def handle(self, message: Any) -> None:
        match message:
            case m.TimerFired():
                self._on_tick()
            case m.Pong():
                self._on_pong(message)
            case m.BrokerErrorReported():
                self.errors[f"ib_{message.code}"] += 1
                self.log.warning("broker_error code={} message={}", message.code, message.message)
            case m.RequestTimedOut():
                self.errors[f"timeout_{message.request}"] += 1
            case m.ConnectionChanged():
                self.broker_state = message.state
            case m.ActorFaulted():
                self.errors[f"fault_{message.actor}"] += 1
            case m.AccountUpdated() | m.StartRefused():
                pass
            case _:
                self.unexpected(message)

    # -- liveness ---------------------------------------------------------------------------

    def _on_tick(self) -> None:
        now = self.monotonic()
        self._check_liveness(now)
        if now - self.last_ping >= min(self.cfg.ping_timeout_s / 2, self.cfg.heartbeat_seconds):
            self._ping_all(now)
        if now - self.last_beat >= self.cfg.heartbeat_seconds:
            self.last_beat = now
            self._emit_heartbeat(now)

    def _ping_all(self, now: float) -> None:
        self.last_ping = now
        for name, ref in self.directory.all().items():
            if name in (HEALTH, SUPERVISOR):
                continue
            self.outstanding.setdefault(name, now)
            try:
                ref.tell(m.Ping(m.new_correlation_id("ping"), now, self.actor_ref))
            except Exception:  # noqa: BLE001 - a dead actor shows up as not answering
                pass

    def _on_pong(self, pong: m.Pong) -> None:
        self.outstanding.pop(pong.actor, None)
        self.alarmed.discard(pong.actor)
        self.reports[pong.actor] = {"rtt_ms": round((self.monotonic() - pong.sent_at) * 1000, 2),
                                    **dict(pong.stats)}

    def _check_liveness(self, now: float) -> None:
        for name, ref in self.directory.all().items():
            waited = now - self.outstanding.get(name, now)
            depth = mailbox_depth(ref)
            reason = None
            if waited >= self.cfg.ping_timeout_s:
                reason = f"no answer to ping for {waited:.1f}s (limit {self.cfg.ping_timeout_s:g}s)"
            elif depth > self.cfg.max_mailbox:
                reason = f"mailbox depth {depth} over {self.cfg.max_mailbox}"
            if reason and name not in self.alarmed:
                self.alarmed.add(name)
                self.log.error("alarm_raised actor={} reason={}", name, reason)
                self.publish(m.AlarmRaised(name, reason, self.clock()))

    # -- heartbeat --------------------------------------------------------------------------

    def heartbeat(self, now: float) -> dict[str, Any]:
        """The heartbeat payload (also used by tests and the soak report)."""
        proc = self.process
        with proc.oneshot():
            mem = proc.memory_info()
            payload: dict[str, Any] = {
                "ts": self.clock().isoformat(),
                "pid": proc.pid,
                "uptime_s": round(now - self.started, 1),
                "rss_mib": round(mem.rss / MIB, 1),
                "cpu_pct": proc.cpu_percent(None),
                "threads": proc.num_threads(),
                "fds": proc.num_fds() if hasattr(proc, "num_fds") else None,
                "broker_state": self.broker_state,
                "errors": dict(self.errors),
            }
        actors = {}
        for name, ref in self.directory.all().items():
            report = self.reports.get(name, {})
            actors[name] = {"mailbox": mailbox_depth(ref), "idle_s": report.get("idle_s"),
                            "alarm": name in self.alarmed,
                            **{k: v for k, v in report.items() if k != "idle_s"}}
        payload["actors"] = actors
        return payload

    def _emit_heartbeat(self, now: float) -> None:
        beat = self.heartbeat(now)
        self.beats += 1
        self.last_heartbeat = beat
        risk = beat["actors"].get("risk", {})
        execution = beat["actors"].get("execution", {})
        self.log.bind(heartbeat=beat).info(
            "heartbeat uptime={}s rss={}MiB cpu={}% threads={} broker={} actors={} mailbox_max={} "
            "alarms={} orders={} positions={} pnl={} kill={}",
            beat["uptime_s"], beat["rss_mib"], beat["cpu_pct"], beat["threads"], beat["broker_state"],
            len(beat["actors"]), max((a["mailbox"] for a in beat["actors"].values()), default=0),
            sorted(self.alarmed) or "none", execution.get("orders_working", "?"),
            len(execution.get("positions", {}) or {}), risk.get("realized_pnl", "?"),
            risk.get("kill_switch", "?"))
        _write_atomic(self.heartbeat_path, beat)


def mailbox_depth(ref: Any) -> int:
    inbox = getattr(ref, "actor_inbox", None)
    try:
        return int(inbox.qsize()) if inbox is not None else 0
    except (AttributeError, NotImplementedError):
        return 0


def _write_atomic(path: Any, data: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, default=str), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        logger.warning("heartbeat_file_failed path={} error={}", path, exc)
