"""HealthActor: the heartbeat, the liveness alarms and the systemd watchdog keep-alive.

Accepts: TimerFired (its own 1-second tick), Pong, BrokerErrorReported, RequestTimedOut,
    ConnectionChanged, AccountUpdated, ActorFaulted, StartRefused, PositionUnprotected, Ping.
Emits: Ping (to every registered actor, ``reply_to`` itself); AlarmRaised (published, to the
    supervisor, and logged at ERROR) when an actor does not answer within
    ``health.ping_timeout_s`` or its mailbox keeps growing past ``health.max_mailbox``
    (``bot/ops/liveness.py``); a heartbeat every ``health.heartbeat_seconds``: one readable line,
    one JSON line (bound as ``heartbeat``) and ``<logs>/heartbeat.json`` for ``status`` tools
    (``bot/ops/health_report.py``), and one at once when a position is found unprotected;
    ``WATCHDOG=1`` to systemd on each tick, only while every
    actor answers and, with ``health.journal_failure_stops_watchdog``, the journal can be
    written (``bot/ops/watchdog.py``; a no-op outside systemd).

The heartbeat's figures are current: every actor is pinged again on the tick before a
heartbeat is due, so its Pong reports are at most a tick old, and the broker's state comes
from the last ConnectionChanged.
Thread rule: its own pykka thread; it reads psutil figures and mailbox sizes, never blocks.

Times here are wall/monotonic: health is about the process, not the market.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from loguru import logger

from actors.base import BotActor, utc_now
from actors.timer import Timer
from bot import messages as m
from bot.app.config import Settings
from bot.app.routing import EXECUTION, HEALTH, JOURNAL, SUPERVISOR, Directory
from bot.ops.health_report import heartbeat_line, heartbeat_payload
from bot.ops.liveness import Liveness, ping_due
from bot.ops.proc_sample import ProcessSampler
from bot.ops.watchdog import Watchdog


class HealthActor(BotActor):
    name = "health"

    def __init__(self, directory: Directory, settings: Settings, clock: Any = utc_now,
                 monotonic: Callable[[], float] = time.monotonic, tick_s: float | None = 1.0,
                 watchdog: Watchdog | None = None) -> None:
        super().__init__(directory, clock)
        self.cfg = settings.health
        self.heartbeat_path = settings.logging.dir / "heartbeat.json"
        self.monotonic = monotonic
        self.tick_s = tick_s
        self.started = monotonic()
        self.next_beat = self.started + self.cfg.heartbeat_seconds
        self.last_ping = float("-inf")
        self.liveness = Liveness(self.cfg.ping_timeout_s, self.cfg.max_mailbox)
        self.reports: dict[str, dict[str, Any]] = {}
        self.broker_state = "unknown"
        self.errors: Counter[str] = Counter()
        self.beats = 0
        self.last_heartbeat: dict[str, Any] = {}
        self.sampler = ProcessSampler(os.getpid())
        self.watchdog = Watchdog.from_env() if watchdog is None else watchdog
        self.timer: Timer | None = None

    def on_start(self) -> None:
        super().on_start()
        if self.tick_s:
            self.timer = Timer(self.actor_ref, "health", self.tick_s, self.clock).start()

    def on_stop(self) -> None:
        if self.timer:
            self.timer.cancel()
        self.watchdog.close()

    def handle(self, message: Any) -> None:
        match message:
            case m.TimerFired(ts=fired_at):
                self._on_tick(fired_at)
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
            case m.PositionUnprotected():
                self._on_position_unprotected(message)
            case m.AccountUpdated() | m.StartRefused():
                pass
            case _:
                self.unexpected(message)

    # -- liveness ---------------------------------------------------------------------------

    def _on_tick(self, fired_at: datetime | None = None) -> None:
        now = self.monotonic()
        queued_s = (self.clock() - fired_at).total_seconds() if fired_at else 0.0
        self._check_liveness(now)
        if self.liveness.healthy(now) and not self._journal_stops_watchdog():
            self.watchdog.keepalive()
        period = min(self.cfg.ping_timeout_s / 2, self.cfg.heartbeat_seconds)
        if ping_due(now, self.last_ping, self.next_beat, period, self.tick_s):
            self._ping_all(now)
        half_tick = (self.tick_s or 0.0) / 2
        if now >= self.next_beat - half_tick:  # the tick nearest the schedule
            # late = the tick waited in the mailbox, or the beat missed its nearest tick
            lag_s = max(0.0, queued_s) + max(0.0, now - self.next_beat - half_tick)
            self.next_beat += self.cfg.heartbeat_seconds
            if self.next_beat <= now:  # fell a whole period behind: restart the schedule
                self.next_beat = now + self.cfg.heartbeat_seconds
            self._emit_heartbeat(now, lag_s)

    def _on_position_unprotected(self, event: m.PositionUnprotected) -> None:
        """An alarm does not wait for the next heartbeat (30 s by default): the intent joins the
        execution actor's last reported list and a heartbeat goes out now, off the schedule.
        The execution actor's next Pong replaces the list (it clears the alarm when protected)."""
        report = self.reports.get(EXECUTION, {})
        listed = list(report.get("unprotected_position") or [])
        if event.intent_id not in listed:
            self.reports[EXECUTION] = {**report, "unprotected_position": [*listed, event.intent_id]}
        self._emit_heartbeat(self.monotonic(), 0.0)

    def _journal_stops_watchdog(self) -> bool:
        failed = bool((self.reports.get(JOURNAL) or {}).get("failed"))
        return failed and self.cfg.journal_failure_stops_watchdog

    def _watched(self) -> dict[str, Any]:
        """Every registered actor but the supervisor (it is the main thread, not an actor)."""
        return {n: ref for n, ref in self.directory.all().items() if n != SUPERVISOR}

    def _ping_all(self, now: float) -> None:
        self.last_ping = now
        for name, ref in self._watched().items():
            if name == HEALTH:
                continue
            self.liveness.pinged(name, now)
            try:
                ref.tell(m.Ping(m.new_correlation_id("ping"), now, self.actor_ref))
            except Exception:  # noqa: BLE001 - a dead actor shows up as not answering
                pass

    def _on_pong(self, pong: m.Pong) -> None:
        now = self.monotonic()
        self.liveness.answered(pong.actor, now)
        rtt_ms = round((now - pong.sent_at) * 1000, 2)
        self.reports[pong.actor] = {"rtt_ms": rtt_ms, **dict(pong.stats)}

    def _check_liveness(self, now: float) -> None:
        watched = self._watched()
        self.liveness.forget(set(watched))
        for name, ref in watched.items():
            reason = self.liveness.check(name, _mailbox_depth(ref), now)
            if reason:
                self.log.error("alarm_raised actor={} reason={}", name, reason)
                self.publish(m.AlarmRaised(name, reason, self.clock()))

    # -- heartbeat --------------------------------------------------------------------------

    def heartbeat(self, now: float, lag_s: float = 0.0) -> dict[str, Any]:
        """The heartbeat payload (see ``bot/ops/health_report.py``)."""
        watched = self._watched()
        return heartbeat_payload(
            ts=self.clock().isoformat(), pid=self.sampler.pid, uptime_s=now - self.started,
            beat_lag_s=lag_s, process=self.sampler.sample(),
            depths={name: _mailbox_depth(ref) for name, ref in watched.items()},
            reports=self.reports,
            last_answer_s={name: self.liveness.last_answer_s(name, now) for name in watched},
            alarmed=self.liveness.alarmed, errors=self.errors, broker_state=self.broker_state)

    def _emit_heartbeat(self, now: float, lag_s: float) -> None:
        beat = self.heartbeat(now, lag_s)
        self.beats += 1
        self.last_heartbeat = beat
        line = heartbeat_line(beat)
        self.log.bind(heartbeat=beat).info(line)
        self.watchdog.notify(f"STATUS={line[:200]}")
        _write_atomic(self.heartbeat_path, beat)


def _mailbox_depth(ref: Any) -> int:
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
