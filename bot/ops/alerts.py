"""Alerts to the owner's phone, pure: which events matter, their words, and how often.

The AlertActor (``actors/alert.py``) feeds every event it hears to ``AlertRules.on_event`` and
the time to ``AlertRules.on_tick``; both return the alerts to send now. Sending (apprise, with
retries, from its own thread) is the actor's business, not this module's.

| kind | when |
|---|---|
| ``started`` / ``stopped`` | the safety gate decided the mode (with mode and account); the bot stops |
| ``entry_filled`` | a position opened |
| ``exit_filled`` | a position closed, with its P&L (``stop_hit`` instead when the stop closed it) |
| ``kill_switch`` | the kill switch was engaged or cleared |
| ``disconnected`` | the broker stayed disconnected longer than ``alerts.disconnect_after_s`` |
| ``data_stale`` | IB reported its data farms lost (1100/2110) |
| ``unprotected_position`` | a position without working protection (``PositionUnprotected``) |
| ``reconcile_mismatch`` | the journal and the broker disagreed |
| ``journal_failed`` | the journal could not be written: entries stop |
| ``actor_failed`` | an actor died or stopped answering (the supervisor restarts it or stops the bot) |
| ``loss_cap`` | an entry was denied because the daily loss cap is reached (once a day) |
| ``digest`` | after the close: the day's trades, P&L, win rate, max drawdown and errors |

Rate limit: at most one alert of a kind per ``min_interval_s``; the ones held back are
counted and the next alert of that kind says how many. ``started``, ``stopped`` and
``digest`` are never held back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from bot import messages as m
from bot.trading.market_hours import minutes_to_close, trading_day

KINDS: tuple[str, ...] = (
    "started", "stopped", "entry_filled", "exit_filled", "stop_hit", "kill_switch",
    "disconnected", "data_stale", "unprotected_position", "reconcile_mismatch",
    "journal_failed", "actor_failed", "loss_cap", "digest",
)
NEVER_HELD_BACK = frozenset({"started", "stopped", "digest"})


@dataclass(frozen=True, slots=True)
class Alert:
    """One message for the owner."""

    kind: str
    title: str
    body: str


def scheme_of(url: str) -> str:
    """What may be logged of an alert URL: its scheme (``tgram``), never the token in it."""
    scheme = urlsplit(url).scheme
    return scheme or "unknown"


@dataclass
class _DayTally:
    """The day's closed trades, for the digest."""

    day: date
    trades: int = 0
    wins: int = 0
    pnl: float = 0.0
    peak: float = 0.0
    max_drawdown: float = 0.0
    errors: int = 0

    def add(self, pnl: float) -> None:
        self.trades += 1
        self.wins += pnl > 0
        self.pnl = round(self.pnl + pnl, 2)
        self.peak = max(self.peak, self.pnl)
        self.max_drawdown = max(self.max_drawdown, round(self.peak - self.pnl, 2))

    def alert(self) -> Alert:
        win_rate = f"{self.wins / self.trades * 100:.0f}%" if self.trades else "n/a"
        body = (f"trades {self.trades}, P&L {self.pnl:+.2f}, win rate {win_rate}, "
                f"max drawdown {self.max_drawdown:.2f}, errors {self.errors}")
        return Alert("digest", f"Daily digest {self.day.isoformat()}", body)


_WORDS: dict[type, Callable[[Any], Alert]] = {
    # the events whose alert depends on nothing but the event itself
    m.PositionOpened: lambda e: Alert(
        "entry_filled", f"Entry filled {e.symbol}",
        f"bought {e.quantity:g} {e.contract.key} @ {e.avg_price:.2f}"),
    m.KillSwitchChanged: lambda e: Alert(
        "kill_switch", f"Kill switch {'engaged' if e.engaged else 'cleared'}",
        e.reason or ("engaged" if e.engaged else "cleared")),
    m.ReconcileMismatch: lambda e: Alert(
        "reconcile_mismatch", "Reconciliation mismatch", f"{e.kind} {e.key}: {e.detail}"),
    m.JournalFailed: lambda e: Alert(
        "journal_failed", "Journal write failed", f"{e.reason}; new entries are refused"),
    m.ActorFaulted: lambda e: Alert("actor_failed", f"Actor {e.actor} failed", e.error),
    m.AlarmRaised: lambda e: Alert("actor_failed", f"Alarm: {e.actor}", e.reason),
    m.PositionUnprotected: lambda e: Alert(
        "unprotected_position", f"UNPROTECTED {e.symbol}",
        f"{e.quantity:g} held without a working stop: {e.why}; {e.intent_id}"),
}


@dataclass
class AlertRules:
    """The alert policy with its memory: rate limits, the disconnect timer, the day's tally.

    Times: ``wall`` is the wall clock (rate limits, the disconnect timer), ``market`` the
    exchange time from bars (the digest after the close)."""

    events: frozenset[str] = frozenset(KINDS)
    min_interval_s: float = 60.0
    disconnect_after_s: float = 120.0
    last_sent: dict[str, datetime] = field(default_factory=dict)
    held_back: dict[str, int] = field(default_factory=dict)
    disconnected_since: datetime | None = None
    disconnect_alerted: bool = False
    tally: _DayTally | None = None
    digest_sent_for: date | None = None
    loss_cap_day: date | None = None
    mode: str = ""
    """``mode M, account A`` once the safety gate decided it, for the ``stopped`` alert."""

    def on_event(self, event: Any, wall: datetime) -> list[Alert]:
        """The alerts an event causes now (after the rate limit)."""
        if isinstance(event, m.BrokerErrorReported | m.ActorFaulted | m.JournalFailed):
            self._day(trading_day(wall)).errors += 1
        return self._limit(self._alerts_for(event, wall), wall)

    def on_tick(self, wall: datetime, market: datetime | None) -> list[Alert]:
        """Alerts due with the passing of time: a long disconnect, the digest after the close."""
        due: list[Alert] = []
        since = self.disconnected_since
        if since is not None and not self.disconnect_alerted and (
                (wall - since).total_seconds() >= self.disconnect_after_s):
            self.disconnect_alerted = True
            due.append(Alert("disconnected", "Broker disconnected",
                             f"no connection for {(wall - since).total_seconds():.0f}s "
                             f"(since {since:%H:%M:%S} UTC); entries are paused"))
        tally = self.tally
        if (market is not None and tally is not None and tally.day == trading_day(market)
                and self.digest_sent_for != tally.day and minutes_to_close(market) <= 0):
            self.digest_sent_for = tally.day
            due.append(tally.alert())
        return self._limit(due, wall)

    def stopped(self, why: str) -> Alert:
        return Alert("stopped", "Bot stopped", f"{why}; {self.mode}" if self.mode else why)

    # -- internals ----------------------------------------------------------------------------

    def _day(self, day: date) -> _DayTally:
        if self.tally is None or self.tally.day != day:
            self.tally = _DayTally(day)
        return self.tally

    def _alerts_for(self, event: Any, wall: datetime) -> list[Alert]:
        words = _WORDS.get(type(event))
        if words is not None:
            return [words(event)]
        match event:
            case m.ModeDecided(mode=mode, account=account):
                self.mode = f"mode {mode}, account {account or '-'}"
                return [Alert("started", "Bot started", self.mode)]
            case m.PositionClosed():
                self._day(trading_day(event.ts)).add(event.realized_pnl)
                kind = "stop_hit" if event.reason.startswith("stop") else "exit_filled"
                title = "Stop hit" if kind == "stop_hit" else "Exit filled"
                return [Alert(kind, f"{title} {event.symbol}",
                              f"sold {event.quantity:g} {event.contract.key} @ {event.exit_price:.2f}"
                              f" ({event.reason}); P&L {event.realized_pnl:+.2f}")]
            case m.ConnectionChanged():
                return self._on_connection(event, wall)
            case m.EntryDenied(reason=reason) if reason.startswith("daily loss cap"):
                day = trading_day(event.ts)
                if self.loss_cap_day == day:
                    return []
                self.loss_cap_day = day
                return [Alert("loss_cap", "Daily loss cap reached", reason)]
        return []

    def _on_connection(self, event: m.ConnectionChanged, wall: datetime) -> list[Alert]:
        if event.state == "disconnected":
            if self.disconnected_since is None:
                self.disconnected_since, self.disconnect_alerted = event.ts, False
            return []
        alerts: list[Alert] = []
        if event.state == "stale":
            alerts.append(Alert("data_stale", "Market data stale",
                                event.reason or "IB lost its data connection; entries paused"))
        elif self.disconnect_alerted and self.disconnected_since is not None:
            down = (event.ts - self.disconnected_since).total_seconds()
            alerts.append(Alert("disconnected", "Broker reconnected", f"after {down:.0f}s"))
        if event.state in ("connected", "restored"):
            self.disconnected_since, self.disconnect_alerted = None, False
        return alerts

    def _limit(self, alerts: list[Alert], wall: datetime) -> list[Alert]:
        passed: list[Alert] = []
        for alert in alerts:
            if alert.kind not in self.events:
                continue
            last = self.last_sent.get(alert.kind)
            if (alert.kind not in NEVER_HELD_BACK and last is not None
                    and (wall - last).total_seconds() < self.min_interval_s):
                self.held_back[alert.kind] = self.held_back.get(alert.kind, 0) + 1
                continue
            self.last_sent[alert.kind] = wall
            more = self.held_back.pop(alert.kind, 0)
            if more:
                alert = Alert(alert.kind, alert.title, f"{alert.body} (+{more} more held back)")
            passed.append(alert)
        return passed
