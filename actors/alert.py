"""AlertActor: tells the owner what matters, through apprise, without ever slowing trading.

Accepts: the events routed to the ``alert`` role (``bot.app.routing``): ModeDecided,
PositionOpened, PositionClosed, KillSwitchChanged, ConnectionChanged, ReconcileMismatch,
JournalFailed, ActorFaulted, AlarmRaised, PositionUnprotected, EntryDenied, BrokerErrorReported,
BarClosed (the market clock for the digest) and its own TimerFired. Emits: nothing to other actors.

Thread rule: the actor's handlers only decide (``bot.ops.alerts.AlertRules``) and append to a
bounded queue; a sender thread of its own pops and sends, retrying with backoff. When the
queue is full the oldest alert is dropped and counted (``alerts_dropped`` in the heartbeat),
so a slow or failing alert service never delays trading and never grows memory. On stop the
``stopped`` alert is queued and the sender gets a few seconds to deliver what is left.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from actors.base import BotActor, utc_now
from actors.timer import Timer
from bot import messages as m
from bot.app.config import AlertSettings
from bot.app.routing import Directory
from bot.ops.alerts import Alert, AlertRules, scheme_of

Send = Callable[[Alert], bool]
"""Deliver one alert to every target; True when all of them took it."""

BAR = timedelta(minutes=1)
STOP_DRAIN_S = 5.0


def apprise_sender(urls: tuple[str, ...]) -> Send:
    """One apprise notifier for all targets (imported here: no targets, no import)."""
    import apprise

    notifier = apprise.Apprise()
    for url in urls:
        if not notifier.add(url):
            raise ValueError(f"alert target not understood (scheme {scheme_of(url)})")

    def send(alert: Alert) -> bool:
        return bool(notifier.notify(title=alert.title, body=alert.body))

    return send


class AlertActor(BotActor):
    name = "alert"

    def __init__(self, directory: Directory, settings: AlertSettings, clock: Any = utc_now,
                 send: Send | None = None, tick_s: float | None = 1.0) -> None:
        super().__init__(directory, clock)
        self.cfg = settings
        self.rules = AlertRules(frozenset(settings.events), settings.min_interval_s,
                                settings.disconnect_after_s)
        self.send = send
        self.tick_s = tick_s
        self.market_now: datetime | None = None
        self.queue: deque[Alert] = deque()
        self.wakeup = threading.Condition()
        self.stopping = threading.Event()
        self.pause = threading.Event()
        """Never set: the sender's backoff wait once stopping (a plain bounded wait)."""
        self.drain_until = float("inf")
        self.counts = {"alerts_sent": 0, "alerts_failed": 0, "alerts_dropped": 0}
        self.sender: threading.Thread | None = None
        self.timer: Timer | None = None

    def on_start(self) -> None:
        """Actor thread: build the sender (apprise) and start its thread and the timer."""
        super().on_start()
        if self.send is None:
            self.send = apprise_sender(self.cfg.urls)
        self.log.info("alerts_configured targets={} events={}",
                      ",".join(scheme_of(u) for u in self.cfg.urls) or "none", len(self.cfg.events))
        self.sender = threading.Thread(target=self._send_loop, name="alert-sender", daemon=True)
        self.sender.start()
        if self.tick_s:
            self.timer = Timer(self.actor_ref, "alerts", self.tick_s, self.clock).start()

    def on_stop(self) -> None:
        """Actor thread: queue ``stopped``, let the sender drain for a few seconds, end it."""
        if self.timer:
            self.timer.cancel()
        self._enqueue([self.rules.stopped("the bot stopped")])
        self.drain_until = time.monotonic() + STOP_DRAIN_S
        self.stopping.set()
        with self.wakeup:
            self.wakeup.notify()
        if self.sender is not None:
            self.sender.join(timeout=STOP_DRAIN_S + 1)

    def handle(self, message: Any) -> None:
        match message:
            case m.TimerFired(ts=wall):
                self._enqueue(self.rules.on_tick(wall, self.market_now))
            case m.BarClosed(backfill=False):
                end = message.bar.start + BAR
                self.market_now = max(self.market_now or end, end)
                self._enqueue(self.rules.on_tick(self.clock(), self.market_now))
            case m.BarClosed():
                pass
            case _:
                self._enqueue(self.rules.on_event(message, self.clock()))

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), **self.counts, "alerts_queued": len(self.queue)}

    # -- the queue ----------------------------------------------------------------------------

    def _enqueue(self, alerts: list[Alert]) -> None:
        if not alerts:
            return
        with self.wakeup:
            for alert in alerts:
                if len(self.queue) >= self.cfg.queue_size:
                    dropped = self.queue.popleft()
                    self.counts["alerts_dropped"] += 1
                    self.log.warning("alert_dropped kind={} queued={}", dropped.kind, len(self.queue))
                self.queue.append(alert)
            self.wakeup.notify()

    def _send_loop(self) -> None:
        """Sender thread: deliver in order, each with retries; after a stop, drain for a while."""
        while True:
            with self.wakeup:
                while not self.queue and not self.stopping.is_set():
                    self.wakeup.wait()
                if not self.queue or self._drain_over():
                    return
                alert = self.queue.popleft()
            self._deliver(alert)

    def _deliver(self, alert: Alert) -> None:
        assert self.send is not None
        delay = self.cfg.retry_backoff_s
        for attempt in range(1, self.cfg.retries + 2):
            try:
                ok = self.send(alert)
            except Exception as exc:  # a broken service must never kill the sender
                ok = False
                self.log.warning("alert_send_error kind={} error={}", alert.kind, type(exc).__name__)
            if ok:
                self.counts["alerts_sent"] += 1
                self.log.info("alert_sent kind={} attempt={}", alert.kind, attempt)
                return
            if attempt > self.cfg.retries or not self._backoff(delay):
                break
            delay *= 2
        self.counts["alerts_failed"] += 1
        self.log.warning("alert_failed kind={} attempts={}", alert.kind, attempt)

    def _backoff(self, delay: float) -> bool:
        """Wait before the next attempt; False when a stop leaves no time for one."""
        if not self.stopping.is_set():
            self.stopping.wait(delay)  # a stop request cuts the wait short
            return not self._drain_over()
        if time.monotonic() + delay > self.drain_until:
            return False
        self.pause.wait(delay)
        return True

    def _drain_over(self) -> bool:
        return self.stopping.is_set() and time.monotonic() >= self.drain_until
