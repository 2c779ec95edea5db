"""RiskActor: the gate every entry passes; sizes it or denies it with the reason.

Accepts: EntryProposed, PositionOpened, PositionClosed, EntryExpired, AccountUpdated,
    ConnectionChanged, BarClosed (day rollover), Ping.
Emits: EntryApproved or EntryDenied (published).
Thread rule: its own pykka thread; each handler is one pure transition of ``RiskState``
    (``bot/risk.py``) plus a stat of the kill-switch file, never a wait.

The trading day is the exchange date (America/New_York) of the market timestamps it sees.
Entries pause while the broker link is stale or down, and stop while the kill-switch file
exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actors.base import BotActor, utc_now
from bot import messages as m
from bot import risk, sizing
from bot.config import Settings
from bot.routing import Directory

PAUSING_STATES = {"stale": "broker data stale", "disconnected": "broker disconnected"}


class RiskActor(BotActor):
    name = "risk"

    def __init__(self, directory: Directory, settings: Settings, clock: Any = utc_now) -> None:
        super().__init__(directory, clock)
        self.settings = settings
        self.cfg = settings.risk
        self.state: risk.RiskState | None = None
        self.paused: str | None = None

    def handle(self, message: Any) -> None:
        match message:
            case m.EntryProposed():
                self._on_entry_proposed(message)
            case m.PositionOpened():
                self._transition(risk.on_opened, message.symbol)
            case m.PositionClosed():
                self._on_position_closed(message)
            case m.EntryExpired():
                self._transition(risk.on_expired, message.symbol)
            case m.AccountUpdated():
                self._on_account_updated(message)
            case m.ConnectionChanged():
                self.paused = PAUSING_STATES.get(message.state)
                self.log.info("entries_{} state={}", "paused" if self.paused else "allowed", message.state)
            case m.BarClosed() if self.state is not None:
                self.state = risk.roll_day(self.state, message.bar.start)
            case m.BarClosed():
                pass
            case _:
                self.unexpected(message)

    def stats(self) -> dict[str, Any]:
        s = self.state
        if s is None:
            return {**super().stats(), "equity": None}
        return {**super().stats(), "day": s.day.isoformat(), "realized_pnl": round(s.realized_pnl, 2),
                "trades": s.trades, "open": s.open_positions, "pending": s.pending,
                "consecutive_losses": s.consecutive_losses,
                "loss_budget_used_pct": round(risk.budget_used_pct(s, self.cfg), 1),
                "kill_switch": self.kill_switch_on(), "paused": self.paused}

    def kill_switch_on(self) -> bool:
        return Path(self.cfg.kill_switch_path).exists()

    # -- handlers ---------------------------------------------------------------------------

    def _on_entry_proposed(self, p: m.EntryProposed) -> None:
        if self.state is None:
            self._deny(p, "account equity not known yet")
            return
        self.state = risk.roll_day(self.state, p.ts)
        reason = risk.entry_denial(self.state, self.cfg, p.symbol,
                                   kill_switch=self.kill_switch_on(), paused_reason=self.paused)
        if reason:
            self._deny(p, reason)
            return
        size = sizing.size_entry(self.state.equity, self.cfg.max_risk_pct_per_trade, p.premium,
                                 self.cfg.stop_loss_pct, self.cfg.max_contracts, p.contract.multiplier)
        if size.quantity <= 0:
            self._deny(p, size.reason)
            return
        self.state = risk.on_approved(self.state, p.symbol)
        self.log.info("entry_approved intent={} contract={} qty={} premium={:.2f} {}", p.intent_id,
                      p.contract.key, size.quantity, p.premium, size.reason)
        self.publish(m.EntryApproved(p.correlation_id, p.intent_id, p.symbol, p.contract,
                                     size.quantity, p.premium, p.ts))

    def _deny(self, p: m.EntryProposed, reason: str) -> None:
        self.log.info("entry_denied intent={} reason={}", p.intent_id, reason)
        self.publish(m.EntryDenied(p.correlation_id, p.intent_id, p.symbol, reason, p.ts))

    def _on_position_closed(self, event: m.PositionClosed) -> None:
        if self.state is None:
            return
        self.state = risk.on_closed(risk.roll_day(self.state, event.ts), event.symbol, event.realized_pnl)
        self.log.info("pnl_realized intent={} pnl={:.2f} day_total={:.2f} losses_in_row={}",
                      event.intent_id, event.realized_pnl, self.state.realized_pnl,
                      self.state.consecutive_losses)

    def _on_account_updated(self, event: m.AccountUpdated) -> None:
        if self.state is None:
            self.state = risk.initial_state(event.ts, event.net_liquidation)
        else:
            self.state = risk.with_equity(self.state, event.net_liquidation)

    def _transition(self, fn: Any, symbol: str) -> None:
        if self.state is not None:
            self.state = fn(self.state, symbol)
