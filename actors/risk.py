"""RiskActor: the gate every entry passes; sizes it or denies it with the reason.

Accepts: EntryProposed, PositionOpened, TradeRecovered, PositionRecovered, PositionClosed,
    PnlCorrected, EntryExpired, AccountUpdated, ConnectionChanged, BarClosed (day rollover), RiskRestored,
    ReconcileFinished, JournalFailed, TimerFired (kill-switch check), PositionChanged, Ping.
Emits: EntryApproved or EntryDenied; RiskStateChanged after every change of the daily state
    (the journal saves it); KillSwitchChanged when the kill-switch file appears or goes.
Thread rule: its own pykka thread; each handler is one pure transition of ``RiskState``
    (``bot/trading/risk.py``) plus a stat of the kill-switch file, never a wait.

Approvals are serial and every limit is hard: each approval reserves the entry's worst case
(entry - stop, times size, plus estimated commissions) against the daily loss cap until the
position closes or the entry expires, and counts at once against the trade, position and
losing-streak limits (``risk.gate_entry``). Recovered trades are reserved again after a restart.

The trading day is the exchange date (America/New_York) of the market timestamps it sees.
Entries pause while the broker link is stale or down, and stop while the kill-switch file
exists (checked on every proposal and by a 1-second timer, which tells execution to cancel
working entries / flatten as configured). With a journal (``needs_journal``) no entry passes
before the first reconciliation finished (today's saved counters are restored first), nor
after a journal write failed, nor between a reconnect and the reconciliation of its snapshot:
every connect publishes one, so from a ``connected`` or ``disconnected`` state until the next
``ReconcileFinished`` entries wait (forever if the broker cannot complete its snapshot: the
journal's view of what rests at IB would be stale). No entry passes in an option the account
is short in (an exit raced a sale outside the bot; execution buys it back): its BUY would
first cover the short, and its exits would then sell more than is held (invariant 2).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from actors.base import BotActor, utc_now
from actors.timer import Timer
from bot import messages as m
from bot.app.config import Settings
from bot.app.routing import Directory
from bot.trading import risk
from bot.trading.market_hours import trading_day

PAUSING_STATES = {"stale": "broker data stale", "disconnected": "broker disconnected"}
RESNAPSHOT_STATES = frozenset({"connected", "disconnected"})
"""Link states after which the broker publishes a new snapshot (stale/restored keep the socket)."""


class RiskActor(BotActor):
    name = "risk"

    def __init__(self, directory: Directory, settings: Settings, clock: Any = utc_now,
                 tick_s: float | None = 1.0, needs_journal: bool = False) -> None:
        super().__init__(directory, clock)
        self.settings = settings
        self.cfg = settings.risk
        self.state: risk.RiskState | None = None
        self.paused: str | None = None
        self.tick_s = tick_s
        self.timer: Timer | None = None
        self.not_ready: str | None = "restart reconciliation not finished" if needs_journal else None
        self.journal_failed: str | None = None
        self.needs_journal = needs_journal
        self.unreconciled: str | None = None
        self.kill_switch = self.kill_switch_on()
        self.market_ts: datetime | None = None
        """Start of the last live bar: the exchange's clock (the simulated one in a sim run)."""
        self.last_saved: tuple[Any, ...] | None = None
        self.shorts: dict[str, float] = {}
        """Per option: the quantity the broker last reported short (PositionChanged)."""

    def on_start(self) -> None:
        super().on_start()
        if self.kill_switch:
            self.log.warning("kill_switch_engaged path={} at=start", self.cfg.kill_switch_path)
            if not self.needs_journal:
                self._publish_kill_switch_at_start()
        if self.tick_s:
            self.timer = Timer(self.actor_ref, "kill_switch", self.tick_s, self.clock).start()

    def on_stop(self) -> None:
        if self.timer:
            self.timer.cancel()

    def handle(self, message: Any) -> None:
        self._handle(message)
        self._save_if_changed()

    def _handle(self, message: Any) -> None:
        match message:
            case m.EntryProposed():
                self._on_entry_proposed(message)
            case m.PositionOpened():
                self._on_position_opened(message)
            case m.PositionClosed():
                self._on_position_closed(message)
            case m.PnlCorrected() if self.state is not None:
                self._on_pnl_corrected(message)
            case m.EntryExpired():
                self._transition(risk.on_expired, message.symbol)
            case m.AccountUpdated():
                self._on_account_updated(message)
            case m.ConnectionChanged():
                self._on_connection_changed(message)
            case m.BarClosed() if self.state is not None:
                self._on_bar_closed(message)
            case m.BarClosed():
                pass
            case m.TradeRecovered():
                self._on_trade_recovered(message)
            case m.PositionRecovered():
                self._transition(risk.on_recovered, message.symbol)
            case m.RiskRestored():
                self._on_risk_restored(message)
            case m.ReconcileFinished(first=True):
                self.not_ready = self.unreconciled = None
                self.log.info("entries_allowed after=reconciliation")
                if self.kill_switch:  # after the recovered trades: flatten-on-kill reaches them
                    self._publish_kill_switch_at_start()
            case m.ReconcileFinished():
                self.unreconciled = None
                self.log.info("entries_allowed after=reconciliation first=False")
            case m.JournalFailed():
                self.journal_failed = f"journal write failed: {message.reason}"
                self.log.error("entries_refused reason={}", self.journal_failed)
            case m.TimerFired():
                self._check_kill_switch()
            case m.PositionChanged(position=p) if p.contract is not None:
                self._on_position_changed(p.contract.key, p.quantity)
            case m.PositionChanged():
                pass
            case _:
                self.unexpected(message)

    def stats(self) -> dict[str, Any]:
        s = self.state
        if s is None:
            # the switch is known before the account: `python -m bot kill` confirms from it
            return {**super().stats(), "equity": None, "kill_switch": self.kill_switch_on()}
        return {**super().stats(), "day": s.day.isoformat(), "realized_pnl": round(s.realized_pnl, 2),
                "trades": s.trades, "open": s.open_positions, "pending": s.pending,
                "consecutive_losses": s.consecutive_losses,
                "loss_budget_used_pct": round(risk.budget_used_pct(s, self.cfg), 1),
                "reserved_worst_case": round(risk.reserved_total(s), 2),
                "kill_switch": self.kill_switch_on(),
                "paused": self.paused or self.not_ready or self.unreconciled or self.journal_failed}

    def kill_switch_on(self) -> bool:
        return Path(self.cfg.kill_switch_path).exists()

    # -- handlers ---------------------------------------------------------------------------

    def _on_position_changed(self, key: str, quantity: float) -> None:
        if quantity < -1e-9:
            self.shorts[key] = -quantity
        else:
            self.shorts.pop(key, None)

    def _short_reason(self, key: str) -> str | None:
        short = self.shorts.get(key)
        return None if short is None else f"the account is short {short:g} of {key} (being bought back)"

    def _on_entry_proposed(self, p: m.EntryProposed) -> None:
        if self.state is None or self.state.equity <= 0:
            self._deny(p, "account equity not known yet")
            return
        self.state = risk.roll_day(self.state, p.ts)
        paused = (self.journal_failed or self.not_ready or self.paused or self.unreconciled
                  or self._short_reason(p.contract.key))
        gate = risk.gate_entry(self.state, self.cfg, p.symbol, p.premium, p.contract.multiplier,
                               now=p.ts, kill_switch=self.kill_switch_on(), paused_reason=paused)
        if gate.quantity <= 0:
            self._deny(p, gate.reason)
            return
        self.state = risk.on_approved(self.state, p.symbol, gate.worst_case)
        self.publish(m.EntryApproved(p.correlation_id, p.intent_id, p.symbol, p.contract,
                                     gate.quantity, p.premium, p.ts))  # before the line: on the order's path
        self.log.info("entry_approved intent={} contract={} qty={} premium={:.2f} reserved={:.2f} {}",
                      p.intent_id, p.contract.key, gate.quantity, p.premium,
                      risk.reserved_total(self.state), gate.reason)

    def _deny(self, p: m.EntryProposed, reason: str) -> None:
        self.log.info("entry_denied intent={} reason={}", p.intent_id, reason)
        self.publish(m.EntryDenied(p.correlation_id, p.intent_id, p.symbol, reason, p.ts))

    def _on_position_opened(self, event: m.PositionOpened) -> None:
        if self.state is None:
            return
        worst = risk.worst_case_loss(event.symbol, event.avg_price, int(event.quantity),
                                     event.contract.multiplier, self.cfg)
        self.state = risk.on_opened(self.state, event.symbol, worst)

    def _on_trade_recovered(self, rec: m.TradeRecovered) -> None:
        """Reserve a recovered trade's worst case; one sent before the restart and not filled
        yet is pending again until it fills or expires."""
        if self.state is None:
            return
        entry_quantity = rec.legs[0][0].quantity if rec.legs else int(sum(
            f.quantity for f in rec.fills if f.side is m.Side.BUY))
        worst = risk.worst_case_loss(rec.symbol, rec.premium, entry_quantity,
                                     rec.contract.multiplier, self.cfg)
        pending = bool(self.not_ready) and not (rec.opened or rec.adopted)
        self.state = risk.on_recovered_trade(self.state, rec.symbol, worst, pending=pending)

    def _on_position_closed(self, event: m.PositionClosed) -> None:
        if self.state is None:
            return
        # the day by the market's clock: a sim run's PositionClosed carries the wall time
        market = self.market_ts or event.ts
        self.state = risk.on_closed(risk.roll_day(self.state, market), event.symbol, event.realized_pnl)
        self.log.info("pnl_realized intent={} pnl={:.2f} day_total={:.2f} losses_in_row={}",
                      event.intent_id, event.realized_pnl, self.state.realized_pnl,
                      self.state.consecutive_losses)

    def _on_pnl_corrected(self, event: m.PnlCorrected) -> None:
        self.state = risk.on_pnl_corrected(self.state, event.amount)
        self.log.info("pnl_corrected intent={} amount={:.2f} day_total={:.2f} why={}",
                      event.intent_id, event.amount, self.state.realized_pnl, event.reason)

    def _on_bar_closed(self, event: m.BarClosed) -> None:
        """The risk day follows the exchange's date, not the wall clock's: in a sim run
        (``broker.kind: sim``, a fresh journal every run) the simulated market's. There a day
        still untouched (taken from the wall clock when the account's equity came in) moves to
        the first live bar's date; after that it only rolls forward. Elsewhere the saved day is
        restored by the wall clock's date at the first connect, so it stays that."""
        if not event.backfill:
            first = self.market_ts is None
            self.market_ts = event.bar.start
            s, day = self.state, trading_day(event.bar.start)
            untouched = not (s.trades or s.realized_pnl or s.pending or s.open_positions
                             or s.consecutive_losses)
            sim = self.settings.broker.kind == "sim"
            if sim and first and untouched and day != s.day:
                self.state = replace(s, day=day)
                self.log.info("risk_day_from_market day={}", day)
        self.state = risk.roll_day(self.state, event.bar.start)

    def _on_connection_changed(self, event: m.ConnectionChanged) -> None:
        self.paused = PAUSING_STATES.get(event.state)
        if self.needs_journal and event.state in RESNAPSHOT_STATES:
            self.unreconciled = "broker state not reconciled since the reconnect"
        blocked = self.paused or self.unreconciled
        self.log.info("entries_{} state={}", "paused" if blocked else "allowed", event.state)

    def _on_account_updated(self, event: m.AccountUpdated) -> None:
        if self.state is None:
            self.state = risk.initial_state(event.ts, event.net_liquidation)
        else:
            self.state = risk.with_equity(self.state, event.net_liquidation)

    def _on_risk_restored(self, saved: m.RiskRestored) -> None:
        """The saved day, whether or not the equity is known yet: a recovered trade's P&L may
        follow before it and must add to the restored figures, never be dropped."""
        if self.state is None:
            self.state = risk.initial_state(saved.ts, 0.0)  # the equity's first figure fills in
        if not saved.found:
            return
        self.state = risk.restore(self.state, saved.day, saved.start_equity, saved.realized_pnl,
                                  saved.trades, saved.consecutive_losses)
        self.log.info("risk_restored day={} start_equity={:.2f} realized_pnl={:.2f} trades={} "
                      "losses_in_row={} budget_used_pct={:.1f}", self.state.day, self.state.start_equity,
                      self.state.realized_pnl, self.state.trades, self.state.consecutive_losses,
                      risk.budget_used_pct(self.state, self.cfg))

    def _check_kill_switch(self) -> None:
        engaged = self.kill_switch_on()
        if engaged == self.kill_switch:
            return
        self.kill_switch = engaged
        path = self.cfg.kill_switch_path
        if engaged:
            reason = _read_reason(path)
            self.log.warning("kill_switch_engaged path={} reason={} cancel_entries={} flatten={}",
                             path, reason, self.cfg.kill_switch_cancel_entries,
                             self.cfg.kill_switch_flatten)
        else:
            reason = "file removed"
            self.log.warning("kill_switch_cleared path={}", path)
        self.publish(m.KillSwitchChanged(engaged, reason, self.clock()))

    def _publish_kill_switch_at_start(self) -> None:
        """A switch engaged before the start acts like one engaged now (cancel, flatten)."""
        self.publish(m.KillSwitchChanged(True, _read_reason(self.cfg.kill_switch_path), self.clock()))

    def _save_if_changed(self) -> None:
        """Tell the journal the daily state after a change (never before it was restored)."""
        s = self.state
        if s is None or self.not_ready:
            return
        key = (s.day, s.start_equity, s.realized_pnl, s.trades, s.consecutive_losses, self.kill_switch)
        if key != self.last_saved:
            self.last_saved = key
            self.publish(m.RiskStateChanged(*key, self.clock()))

    def _transition(self, fn: Any, symbol: str) -> None:
        if self.state is not None:
            self.state = fn(self.state, symbol)


def _read_reason(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()[:200] or "(empty file)"
    except OSError as exc:
        return f"(unreadable: {exc})"
