"""ExecutionActor: turns approved entries into bracket orders and manages them as OCO.

Accepts: EntryApproved, OrderStatusChanged, OrderFilled, CommissionReported, OrderRejected,
    QuoteUpdated (options),
    BarClosed (live bars: market time for time exits), ConnectionChanged, TimerFired, TradeRecovered
    (after a restart or reconnect), KillSwitchChanged, ModeDecided, PositionChanged (what the
    broker holds: a position sold outside the bot shrinks the trade), BuyBacksNumbered (the
    buy-back numbers an earlier process used), Ping.
Emits: SubmitBracket, SubmitOrder, ModifyOrder, CancelOrder (to the journal, which records them and then
    forwards them to the broker: write-ahead; straight to the broker without a journal),
    SubscribeQuotes, UnsubscribeQuotes (to the broker); PositionOpened, PositionRecovered,
    PositionClosed, PnlCorrected (a late commission of a closed trade), EntryExpired
    (published); the kill-switch file when a position stays unprotected and
    ``execution.on_unprotected`` is ``kill_switch``; buy-backs of a short (``coverN``).
Thread rule: its own pykka thread; every handler is one pure transition of a ``Trade``
    (``bot/trading/execution.py``, the invariants are written there); a 1-second timer drives
    order timeouts, cancel retries, re-pricing, the protection deadline and time exits.
Stats: ``unprotected_position`` lists the intents in the alarmed state (the heartbeat shows it).

Market time comes from live bars only, extrapolated between them (``exits.market_clock``: the
last bar's end plus the wall time since it arrived times the simulator's speed, 1 for a real
gateway), so max hold and flat-before-close still fire when bars stall. Backfill bars (history
sent at each subscription) are ignored: after a restart the recovered trades can arrive before
the backfill, whose first sessions end at an earlier 16:00, and a clock set from them would
close a position "before the close" that is hours away.

Order reports for an intent it does not hold yet (after a restart they can arrive before the
journal's ``TradeRecovered``) are kept, at most ``MAX_ORPHANS``, and replayed once it arrives.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Any

from actors.base import BotActor, utc_now
from actors.timer import Timer
from bot import messages as m
from bot.app.config import Settings
from bot.app.routing import BROKER, JOURNAL, Directory
from bot.trading import covers, execution, exits, quotes
from bot.trading.trade import shortfalls

COMMANDS = (m.SubmitBracket, m.SubmitOrder, m.ModifyOrder, m.CancelOrder, m.SubscribeQuotes,
            m.UnsubscribeQuotes)
ORDER_COMMANDS = (m.SubmitBracket, m.SubmitOrder, m.ModifyOrder, m.CancelOrder)
MAX_ORPHANS = 500
BAR = timedelta(minutes=1)
KEEP_FINISHED = 200


class ExecutionActor(BotActor):
    name = "execution"

    def __init__(self, directory: Directory, settings: Settings, clock: Any = utc_now,
                 tick_s: float | None = 1.0, write_ahead: bool = False) -> None:
        super().__init__(directory, clock)
        self.settings = settings
        self.write_ahead = write_ahead
        self.orphans: list[Any] = []
        self.tick_s = tick_s
        self.trades: dict[str, execution.Trade] = {}
        self.finished: dict[str, execution.Trade] = {}
        self.last_bar_end: datetime | None = None
        self.last_bar_at: datetime | None = None
        self.speed = settings.broker.sim.speed if settings.broker.kind == "sim" else 1.0
        self.dropped = quotes.DropCounter()
        self.timer: Timer | None = None
        self.mode = ""
        """The safety gate's mode: positions are compared with the broker's except in shadow."""
        self.broker_holds: dict[str, tuple[float, datetime]] = {}
        """Per option: what the broker last reported holding, and when that report came."""
        self.traded: dict[str, m.OrderFilled] = {}
        """Per option: the last execution of ours reported (also one of a trade this process
        never ran, replayed by IB after a restart): whose short a buy-back is for."""
        self.buy_backs_used: dict[str, int] = {}
        """Per intent: the highest buy-back number an earlier process wrote (journal)."""
        self.buy_backs_known = False
        """The journal said which buy-backs were written and which IB still works."""
        self.link_down = False
        """The socket to the gateway is down (ConnectionChanged): no buy-back is tried."""
        self.covers: dict[str, covers.Covers] = {}
        """Per option: the buy-backs of a short (``bot/trading/covers.py``)."""

    def on_start(self) -> None:
        super().on_start()
        if self.tick_s:
            self.timer = Timer(self.actor_ref, "orders", self.tick_s, self.clock).start()

    def on_stop(self) -> None:
        if self.timer:
            self.timer.cancel()

    def handle(self, message: Any) -> None:
        match message:
            case m.EntryApproved():
                self._on_entry_approved(message)
            case m.OrderStatusChanged() | m.OrderRejected() if covers.is_buy_back(message.client_order_id):
                self._on_buy_back_report(message)
            case m.OrderStatusChanged():
                self._route(message.client_order_id, execution.on_status, message)
            case m.OrderFilled():
                self._remember_traded(message)
                self._route(message.client_order_id,
                            partial(execution.on_fill, market=self.market_now()), message)
            case m.OrderRejected():
                self._route(message.client_order_id, execution.on_rejected, message)
            case m.CommissionReported():
                self._route(message.client_order_id, execution.on_commission, message)
            case m.QuoteUpdated():
                self._on_quote_updated(message)
            case m.BarClosed(backfill=False):
                self._on_bar_closed(message)
            case m.BarClosed():
                pass  # history: its times are not the market's now (see the module docstring)
            case m.TimerFired():
                self._on_clock()
            case m.ConnectionChanged(state=state):
                # orders rest at the broker; statuses arrive again after a reconnect
                self.link_down = state == "disconnected"
            case m.TradeRecovered():
                self._on_trade_recovered(message)
            case m.KillSwitchChanged(engaged=True):
                self._on_kill_switch()
            case m.KillSwitchChanged():
                pass
            case m.ModeDecided(mode=mode):
                self.mode = mode
            case m.PositionChanged(position=p) if p.contract is not None:
                self.broker_holds[p.contract.key] = (p.quantity, self.clock())
                if p.quantity < 0:
                    self._check_broker_positions()  # a short is bought back without a tick's wait
            case m.PositionChanged():
                pass
            case m.BuyBacksNumbered():
                self._on_buy_backs_numbered(message)
            case _:
                self.unexpected(message)

    def stats(self) -> dict[str, Any]:
        working = sum(1 for t in self.trades.values() for g in t.legs if g.working)
        positions = self._held()
        unprotected = sorted(t.intent_id for t in self.trades.values() if t.alarmed)
        refs = sorted([g.spec.client_order_id for t in (*self.trades.values(), *self.finished.values())
                       for g in t.legs if g.working]
                      + [c.last.ref for c in self.covers.values() if covers.working(c)])
        return {**super().stats(), "orders_working": working, "positions": positions,
                "working_refs": refs,
                "unprotected_position": unprotected,
                "option_quotes_dropped": self.dropped.snapshot()}

    def _held(self) -> dict[str, float]:
        """The bot's view of what the broker holds for its intents: each trade's position, and
        a short the broker reports in an option an intent traded (being bought back, under the
        intent of its last execution), so that the view equals the broker's (invariant 3)."""
        held = {t.intent_id: t.position for t in self.trades.values() if t.position > 0}
        for key, (holds, _) in self.broker_holds.items():
            last = self.traded.get(key)
            if holds < -1e-9 and last is not None:
                intent_id = m.intent_of(last.client_order_id)
                held[intent_id] = held.get(intent_id, 0.0) + holds
        return held

    def market_now(self) -> datetime | None:
        """Exchange time: the last live bar's end, extrapolated by the wall time since."""
        return exits.market_clock(self.last_bar_end, self.last_bar_at, self.clock(), self.speed)

    # -- handlers ---------------------------------------------------------------------------

    def _on_entry_approved(self, approved: m.EntryApproved) -> None:
        if approved.intent_id in self.trades or approved.intent_id in self.finished:
            self.log.warning("entry_duplicate intent={} ignored", approved.intent_id)
            return
        trade, effects = execution.open_trade(approved, self.settings, self.clock())
        self.trades[trade.intent_id] = trade
        self._emit(effects)  # before the line: it is on the order's path
        p = trade.prices
        self.log.info("bracket_submitted intent={} contract={} qty={} entry={:.2f} tp={:.2f} "
                      "stop={:.2f} mode={}", trade.intent_id, trade.contract.key,
                      approved.quantity, p.entry, p.take_profit, p.stop, trade.mode)

    def _on_bar_closed(self, event: m.BarClosed) -> None:
        end = event.bar.start + BAR
        if self.last_bar_end is None or end >= self.last_bar_end:  # bars are the authority
            self.last_bar_end, self.last_bar_at = end, self.clock()
        self._on_clock()

    def _route(self, client_order_id: str, step: Any, event: Any) -> None:
        intent_id = m.intent_of(client_order_id)
        trade = self.trades.get(intent_id)
        if trade is None and intent_id in self.finished:
            # late reports (OCA sibling cancels) change nothing; a late entry fill revives it
            trade, effects = step(self.finished[intent_id], event, self.clock())
            if trade.finished:
                self.finished[intent_id] = trade
            else:
                self.finished.pop(intent_id)
                self._apply(trade, effects)
            return
        if trade is None:
            self.log.warning("order_unknown client_order_id={} event={} kept_for_recovery",
                             client_order_id, type(event).__name__)
            self.orphans = (self.orphans + [(intent_id, step, event)])[-MAX_ORPHANS:]
            return
        self._apply(*step(trade, event, self.clock()))

    def _on_trade_recovered(self, rec: m.TradeRecovered) -> None:
        wall = self.clock()
        known = self.trades.get(rec.intent_id) or self.finished.get(rec.intent_id)
        if known is not None:
            trade, effects = execution.merge(known, rec, wall)
        else:
            trade, effects = execution.restore(rec, self.settings, wall)
        self.log.info("trade_restored intent={} position={:g} legs={} resend={} finished={}",
                      rec.intent_id, trade.position,
                      ",".join(f"{g.role}:{g.status.value}" for g in trade.legs), rec.resend,
                      trade.finished)
        self.trades[trade.intent_id] = trade
        self.finished.pop(trade.intent_id, None)
        self._apply(trade, effects)
        waiting = [o for o in self.orphans if o[0] == rec.intent_id]
        self.orphans = [o for o in self.orphans if o[0] != rec.intent_id]
        for _, step, event in waiting:
            self._route(event.client_order_id, step, event)

    def _on_kill_switch(self) -> None:
        for trade in list(self.trades.values()):
            if not trade.finished:
                self._apply(*execution.kill_switch(trade, self.settings, self.clock()))

    def _on_quote_updated(self, event: m.QuoteUpdated) -> None:
        quote = event.quote
        if not isinstance(quote.instrument, m.OptionContract):
            return
        max_age_s = self.settings.options.max_quote_age_s
        problem = quotes.quote_problem(quote, self.clock(), max_age_s=max_age_s)
        if problem:
            self.dropped.count(problem)
            return
        for trade in list(self.trades.values()):
            if trade.contract.key == quote.instrument.key and not trade.finished:
                self._apply(*execution.on_quote(trade, quote, self.clock()))

    def _on_clock(self) -> None:
        market = self.market_now()
        for trade in list(self.trades.values()):
            if not trade.finished:
                self._apply(*execution.on_clock(trade, self.settings, self.clock(), market))
        for intent_id, trade in list(self.finished.items()):
            swept, effects = execution.sweep_finished(trade, self.clock())
            self.finished[intent_id] = swept
            self._emit(effects)
        self._check_broker_positions()

    def _check_broker_positions(self) -> None:
        """Invariant 3 while running: a position the broker reports smaller than our trades',
        for longer than ``OUTSIDE_GRACE_S`` (our own fill reports may trail its position
        report; their order statuses, which come first, are counted at once), was sold outside
        the bot: the trades shrink to it (``on_position_reduced``). A short no trade of ours
        still holds a position in is bought back at once: no fill of ours can explain it
        (``bot/trading/covers.py`` keeps a stale report from buying twice). Shadow trades live
        only here, so a dry run never compares."""
        if self.mode in ("", "shadow"):
            return
        wall = self.clock()
        for key, (holds, since) in self.broker_holds.items():
            settled = (wall - since).total_seconds() >= OUTSIDE_GRACE_S
            mine = [t for t in self.trades.values() if t.contract.key == key and not t.finished]
            if not settled and (holds >= 0 or any(t.position > 0 for t in mine)):
                continue
            for intent_id, held in shortfalls(mine, holds).items():
                self._apply(*execution.on_position_reduced(self.trades[intent_id], held, wall))
            if holds < 0:
                self._cover_short(key, -holds, since, wall)

    def _cover_short(self, key: str, quantity: float, reported_at: datetime, wall: datetime) -> None:
        """Invariant 2 broken at the broker: short an option one of our intents traded. Buy it
        back at market, one buy-back at a time (``bot/trading/covers.py``); an ERROR line for
        each."""
        last = self.traded.get(key)
        if last is None:
            return  # not an option the bot traded: reported by reconciliation, left alone
        if self.link_down:
            return  # a buy-back now would only be refused; the short is still there on return
        if self.write_ahead and not self.buy_backs_known:
            return  # an earlier process's buy-back may still work: wait for the journal's word
        intent_id, contract = m.intent_of(last.client_order_id), last.contract
        ex = self.settings.execution
        state, step = covers.step(self.covers.get(key, covers.Covers()), intent_id, quantity,
                                  reported_at, wall, ex.ack_timeout_s, ex.cancel_timeout_s,
                                  self.buy_backs_used.get(intent_id, 0))
        self.covers[key] = state
        if step.cancel is not None:
            self.log.error("short_buy_back_unconfirmed contract={} order={} cancelling",
                           key, step.cancel)
            self._emit([m.CancelOrder(last.correlation_id, step.cancel)])
        if step.send is not None:
            self.log.error("short_position_covered contract={} qty={:g} order={}", key, quantity,
                           step.send.client_order_id)
            self._emit([m.SubmitOrder(last.correlation_id, intent_id, contract, step.send)])

    def _on_buy_backs_numbered(self, event: m.BuyBacksNumbered) -> None:
        self.buy_backs_used.update(event.highest)
        for key, ref in event.working:
            self.covers[key] = covers.adopt(self.covers.get(key, covers.Covers()), ref, self.clock())
            self.log.warning("short_buy_back_adopted contract={} order={}", key, ref)
        self.buy_backs_known = True

    def _remember_traded(self, fill: m.OrderFilled) -> None:
        if m.parse_order_ref(fill.client_order_id) is not None:
            self.traded[fill.contract.key] = fill

    def _on_buy_back_report(self, report: m.OrderStatusChanged | m.OrderRejected) -> None:
        wall = self.clock()
        for key, state in self.covers.items():
            if isinstance(report, m.OrderRejected):
                self.covers[key] = covers.on_rejected(state, report.client_order_id, report.code, wall)
            else:
                self.covers[key] = covers.on_status(state, report.client_order_id, report.status,
                                                   report.reason, wall, report.filled)

    def _apply(self, trade: execution.Trade, effects: list[Any]) -> None:
        self.trades[trade.intent_id] = trade
        self._emit(effects)
        if trade.finished:  # keep it a while: late reports (OCA sibling cancels) still arrive
            self.finished[trade.intent_id] = self.trades.pop(trade.intent_id)
            while len(self.finished) > KEEP_FINISHED:
                self.finished.pop(next(iter(self.finished)))

    def _emit(self, effects: list[Any]) -> None:
        for message in effects:
            if isinstance(message, execution.Note):
                self.log.log(message.level, message.text)
            elif isinstance(message, execution.EngageKillSwitch):
                self._engage_kill_switch(message.reason)
            elif isinstance(message, ORDER_COMMANDS) and self.write_ahead:
                self._write_ahead(message)
            elif isinstance(message, COMMANDS):
                self.directory.tell(BROKER, message)
            else:
                self.log.info("{} intent={} {}", type(message).__name__, message.intent_id,
                              _summary(message))
                self.publish(message)

    def _engage_kill_switch(self, reason: str) -> None:
        """Write the kill-switch file as ``python -m bot kill`` does; risk notices it."""
        from bot.app.supervisor import write_kill_switch  # the supervisor imports the actors

        path = write_kill_switch(self.settings.risk.kill_switch_path, reason)
        self.log.error("kill_switch_engaged_by_execution path={} reason={}", path, reason)

    def _write_ahead(self, command: Any) -> None:
        """Through the journal; if it is gone, exits and cancels still go, entries never."""
        if self.directory.tell(JOURNAL, command):
            return
        entry = isinstance(command, m.SubmitBracket) or (
            isinstance(command, m.SubmitOrder) and command.order.client_order_id.endswith(".entry"))
        self.log.error("journal_unavailable command={} sent={}", type(command).__name__, not entry)
        if not entry:
            self.directory.tell(BROKER, command)
            return
        specs = ((command.parent, command.take_profit, command.stop)
                 if isinstance(command, m.SubmitBracket) else (command.order,))
        for spec in specs:
            self.actor_ref.tell(m.OrderRejected(command.correlation_id, spec.client_order_id, 0,
                                                "journal unavailable", self.clock()))


OUTSIDE_GRACE_S = 1.0
"""How long a broker position report may run ahead of our own fill reports (wall seconds)."""



def _summary(message: Any) -> str:
    match message:
        case m.PositionClosed():
            return (f"qty={message.quantity:g} entry={message.entry_price:.2f} "
                    f"exit={message.exit_price:.2f} pnl={message.realized_pnl:.2f} why={message.reason}")
        case m.PositionOpened():
            return f"qty={message.quantity:g} price={message.avg_price:.2f}"
        case m.EntryExpired():
            return f"why={message.reason}"
    return ""
