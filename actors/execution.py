"""ExecutionActor: turns approved entries into bracket orders and manages them as OCO.

Accepts: EntryApproved, OrderStatusChanged, OrderFilled, OrderRejected, QuoteUpdated (options),
    BarClosed (market time for time exits), ConnectionChanged, TimerFired, Ping.
Emits: SubmitBracket, SubmitOrder, CancelOrder, SubscribeQuotes, UnsubscribeQuotes (to the
    broker); PositionOpened, PositionClosed, EntryExpired (published).
Thread rule: its own pykka thread; every handler is one pure transition of a ``Trade``
    (``bot/execution.py``); a 1-second timer drives order timeouts and time exits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from actors.base import BotActor, utc_now
from actors.timer import Timer
from bot import execution, quotes
from bot import messages as m
from bot.config import Settings
from bot.routing import BROKER, Directory

COMMANDS = (m.SubmitBracket, m.SubmitOrder, m.CancelOrder, m.SubscribeQuotes, m.UnsubscribeQuotes)
BAR = timedelta(minutes=1)
KEEP_FINISHED = 200


class ExecutionActor(BotActor):
    name = "execution"

    def __init__(self, directory: Directory, settings: Settings, clock: Any = utc_now,
                 tick_s: float | None = 1.0) -> None:
        super().__init__(directory, clock)
        self.settings = settings
        self.tick_s = tick_s
        self.trades: dict[str, execution.Trade] = {}
        self.finished: dict[str, execution.Trade] = {}
        self.market_now: datetime | None = None
        self.dropped = quotes.DropCounter()
        self.timer: Timer | None = None

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
            case m.OrderStatusChanged():
                self._route(message.client_order_id, execution.on_status, message)
            case m.OrderFilled():
                self._route(message.client_order_id, execution.on_fill, message)
            case m.OrderRejected():
                self._route(message.client_order_id, execution.on_rejected, message)
            case m.QuoteUpdated():
                self._on_quote_updated(message)
            case m.BarClosed():
                end = message.bar.start + BAR
                self.market_now = max(self.market_now or end, end)
                self._on_clock()
            case m.TimerFired():
                self._on_clock()
            case m.ConnectionChanged():
                pass  # orders rest at the broker; statuses arrive again after a reconnect
            case _:
                self.unexpected(message)

    def stats(self) -> dict[str, Any]:
        working = sum(1 for t in self.trades.values() for g in t.legs if g.working)
        positions = {t.intent_id: t.position for t in self.trades.values() if t.position > 0}
        return {**super().stats(), "orders_working": working, "positions": positions,
                "option_quotes_dropped": self.dropped.snapshot()}

    # -- handlers ---------------------------------------------------------------------------

    def _on_entry_approved(self, approved: m.EntryApproved) -> None:
        if approved.intent_id in self.trades or approved.intent_id in self.finished:
            self.log.warning("entry_duplicate intent={} ignored", approved.intent_id)
            return
        trade, effects = execution.open_trade(approved, self.settings, self.clock())
        self.trades[trade.intent_id] = trade
        p = trade.prices
        self.log.info("bracket_submitted intent={} contract={} qty={} entry={:.2f} tp={:.2f} "
                      "stop={:.2f} mode={}", trade.intent_id, trade.contract.key,
                      approved.quantity, p.entry, p.take_profit, p.stop, trade.mode)
        self._emit(effects)

    def _route(self, client_order_id: str, step: Any, event: Any) -> None:
        intent_id = client_order_id.rsplit(".", 1)[0]
        trade = self.trades.get(intent_id)
        if trade is None and intent_id in self.finished:
            trade = self.finished[intent_id]
            self.finished[intent_id], _ = step(trade, event, self.clock())
            return
        if trade is None:
            self.log.warning("order_unknown client_order_id={} event={}", client_order_id,
                             type(event).__name__)
            return
        self._apply(*step(trade, event, self.clock()))

    def _on_quote_updated(self, event: m.QuoteUpdated) -> None:
        quote = event.quote
        if not isinstance(quote.instrument, m.OptionContract):
            return
        problem = quotes.quote_problem(quote, self.clock(), max_age_s=30.0)
        if problem:
            self.dropped.count(problem)
            return
        for trade in list(self.trades.values()):
            if trade.contract.key == quote.instrument.key and not trade.finished:
                self._apply(*execution.on_quote(trade, quote, self.clock()))

    def _on_clock(self) -> None:
        for trade in list(self.trades.values()):
            if not trade.finished:
                self._apply(*execution.on_clock(trade, self.settings, self.clock(), self.market_now))

    def _apply(self, trade: execution.Trade, effects: list[Any]) -> None:
        self.trades[trade.intent_id] = trade
        self._emit(effects)
        if trade.finished:  # keep it a while: late reports (OCA sibling cancels) still arrive
            self.finished[trade.intent_id] = self.trades.pop(trade.intent_id)
            while len(self.finished) > KEEP_FINISHED:
                self.finished.pop(next(iter(self.finished)))

    def _emit(self, effects: list[Any]) -> None:
        for message in effects:
            if isinstance(message, COMMANDS):
                self.directory.tell(BROKER, message)
            else:
                self.log.info("{} intent={} {}", type(message).__name__, message.intent_id,
                              _summary(message))
                self.publish(message)


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
