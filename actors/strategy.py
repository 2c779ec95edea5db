"""StrategyActor: one per symbol; turns closed bars into entry proposals.

Accepts: BarClosed, QuoteUpdated (the underlying), WarmQuoteUpdated, ChainReceived, OptionsQuoted,
    RequestTimedOut, EntryDenied, PositionOpened, PositionClosed, EntryExpired,
    ConnectionChanged (asks for the chain once connected), Ping.
Emits: RequestChain, QuoteOptions, KeepOptionsWarm (to the broker); SignalRaised, EntryProposed,
    EntryAbandoned (published).
Thread rule: its own pykka thread; handlers only update indicators and call pure functions
    (O(1) per bar), never wait for an answer: each request's answer arrives as a message.

Per symbol it is idle, selecting (candidates sent for quotes), proposed (waiting for risk and
the entry order), or holding; it proposes only when idle, holds nothing, and the cooldown since
its last proposal has passed. Backfill bars warm the indicators but are never traded.

Ready before the signal (``bot.trading.prewarm``): while the underlying moves it keeps the
options it would choose streaming (``KeepOptionsWarm``, sent only when the set re-centres), and
at a signal decides from their quotes at once when they settle the choice; otherwise (stale,
missing, or a nearer strike not warm) it asks for the candidates' quotes as before.

Every state but idle has a deadline on the wall clock (``selection.stage_timeout_s``), checked
before each message is handled: an answer lost in a broker restart cannot leave the symbol stuck.
On expiry it logs ``selection_expired`` and is idle again (the cooldown counts from the
selection as usual); answers (OptionsQuoted, EntryDenied, EntryExpired, PositionOpened,
PositionClosed) for any correlation id but the current one are ignored, so a late answer to an
expired request never moves the state of a newer one. One exception: a PositionOpened that
finds the strategy idle (the fill of an expired proposal) makes it hold, since the position is
real. Risk refuses a second entry on a symbol that is still pending or held, so giving up
waiting never doubles a position.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from actors.base import BotActor, utc_now
from bot import messages as m
from bot.app.config import Settings
from bot.app.routing import BROKER, Directory
from bot.ib.pacing import Limits
from bot.trading import market_hours, prewarm, quotes, selection, signals
from bot.trading.indicators import IndicatorSet
from bot.trading.selection import HOLDING, PROPOSED, SELECTING

BAR = timedelta(minutes=1)
IDLE = "idle"
RIGHTS = {m.Direction.CALL: m.Right.CALL, m.Direction.PUT: m.Right.PUT}


class StrategyActor(BotActor):
    def __init__(self, directory: Directory, settings: Settings, symbol: str, clock: Any = utc_now) -> None:
        super().__init__(directory, clock)
        self.name = f"strategy:{symbol}"
        self.log = self.log.bind(actor=self.name, symbol=symbol)
        self.settings = settings
        self.symbol = symbol
        self.indicators = IndicatorSet(settings.strategy)
        self.last_bar: datetime | None = None
        self.bar_seen_at: datetime | None = None
        self.quote_seen_at: datetime | None = None
        self.spot: float | None = None
        self.chain: m.OptionChain | None = None
        self.chain_day = None
        self.state = IDLE
        self.state_since = self.clock()
        self.active: str | None = None
        """Correlation id of the request behind the current state (None when idle)."""
        self.pending: tuple[str, m.Direction, tuple[str, ...], datetime] | None = None
        self.bars_since_entry = settings.strategy.cooldown_bars
        self.dropped = quotes.DropCounter()
        self.warm_lines = prewarm.lines_per_symbol(
            settings.options, len(settings.symbols), settings.risk.max_open_positions,
            Limits().lines)
        self.warm_set: tuple[m.OptionContract, ...] = ()
        self.warm_quotes: dict[str, m.Quote] = {}
        self.decided = {"warm": 0, "asked": 0}
        """Signals decided on warm quotes, and those that asked for the candidates."""

    def handle(self, message: Any) -> None:
        self._expire_if_overdue()
        match message:
            case m.BarClosed():
                self._on_bar_closed(message)
            case m.QuoteUpdated():
                self._on_quote_updated(message)
            case m.WarmQuoteUpdated():
                self._on_warm_quote_updated(message)
            case m.ChainReceived():
                self._on_chain_received(message)
            case m.OptionsQuoted():
                self._on_options_quoted(message)
            case m.RequestTimedOut():
                self._on_request_timed_out(message)
            case m.EntryDenied() | m.EntryExpired() if self._is_current(message):
                self._become(IDLE, f"{type(message).__name__} {message.reason}")
            case m.PositionOpened() if self.state == IDLE or self._is_current(message):
                self.active = message.correlation_id  # idle: a late fill is still a held position
                self._become(HOLDING, f"position opened {message.quantity:g}")
            case m.PositionClosed() if self._is_current(message):
                self._become(IDLE, f"position closed pnl={message.realized_pnl:.2f}")
            case m.EntryDenied() | m.EntryExpired() | m.PositionOpened() | m.PositionClosed():
                pass  # the answer to a request that expired (logged by _is_current)
            case m.ConnectionChanged(state="connected" | "restored"):
                self.warm_set = ()  # a new broker knows no set: send it again
                self._request_chain()
            case m.ConnectionChanged():
                pass
            case _:
                self.unexpected(message)

    def stats(self) -> dict[str, Any]:
        now = self.clock()

        def age(seen: datetime | None) -> float | None:
            return None if seen is None else round((now - seen).total_seconds(), 1)

        return {**super().stats(), "state": self.state, "state_age_s": age(self.state_since),
                "last_bar": self.last_bar,
                "bar_age_s": age(self.bar_seen_at), "quote_age_s": age(self.quote_seen_at),
                "dropped": self.dropped.snapshot(), "warm": len(self.warm_set),
                "decided": dict(self.decided)}

    # -- handlers ---------------------------------------------------------------------------

    def _on_bar_closed(self, event: m.BarClosed) -> None:
        bar = event.bar
        if self.last_bar is not None and bar.start <= self.last_bar:
            return  # a bar seen already (backfill again after a reconnect)
        problem = quotes.bar_problem(bar)
        if problem:
            self.dropped.count(f"bar_{problem}")
            self.log.warning("bar_dropped start={} problem={}", bar.start, problem)
            return
        self.last_bar = bar.start
        self.bar_seen_at = self.clock()
        snap = self.indicators.update(bar)
        self.spot = bar.close
        if event.backfill:
            return
        self.bars_since_entry += 1
        signal = signals.evaluate(snap, self.settings.strategy)
        day = market_hours.trading_day(bar.start)
        if self.chain is not None and self.chain_day is None:
            self.chain_day = day  # the chain came before the first live bar: it is today's
        elif self.chain_day != day:
            self._request_chain()
        entry = None if signal.direction is m.Direction.HOLD else self._entry_for(signal, bar.start + BAR)
        warm = None
        if isinstance(entry, m.QuoteOptions):
            warm = prewarm.decide_from_warm(entry.contracts, self.warm_quotes, self.spot or 0.0,
                                            RIGHTS[signal.direction], self.clock(),
                                            self.settings.options)
            if warm is None:  # first: the lines below are not on the order's path
                self.directory.tell(BROKER, entry)
            else:
                self.publish(m.SignalRaised(entry.correlation_id, self.symbol, signal.direction,
                                            signal.reasons, bar.start + BAR))
                self._propose(warm)
        self.log.info("bar_closed close={:.2f} decision={} reasons={}", bar.close,
                      signal.direction.value, "; ".join(signal.reasons))
        if isinstance(entry, m.QuoteOptions):
            self.decided["asked" if warm is None else "warm"] += 1
            if warm is None:
                self.publish(m.SignalRaised(entry.correlation_id, self.symbol, signal.direction,
                                            signal.reasons, bar.start + BAR))
                self._become(SELECTING, f"{len(entry.contracts)} candidates")
            else:
                self.log.info("entry_from_warm_quotes cid={} option={}", entry.correlation_id,
                              warm.contract.key)
        elif entry is not None:
            self.log.info("signal_skipped direction={} why={}", signal.direction.value, entry)
        self._keep_warm()

    def _entry_for(self, signal: signals.Signal, ts: datetime) -> m.QuoteOptions | str:
        """The request for the candidates' quotes, or why this signal is skipped."""
        busy = self.state != IDLE or self.bars_since_entry < self.settings.strategy.cooldown_bars
        if self.chain is None:
            self._request_chain()
        if busy or self.chain is None or self.spot is None:
            return f"state {self.state}" if self.state != IDLE else (
                "cooling down" if self.chain is not None else "no option chain yet")
        right = RIGHTS[signal.direction]
        candidates = selection.candidate_contracts(
            self.chain, self.spot, right, market_hours.trading_day(ts), self.settings.options)
        cid = m.new_correlation_id(self.symbol)
        if not candidates:
            self.publish(m.SignalRaised(cid, self.symbol, signal.direction, signal.reasons, ts))
            self.publish(m.EntryAbandoned(cid, self.symbol, "no expiry/strike in the window", ts))
            return "no expiry/strike in the window"
        self.pending = (cid, signal.direction, signal.reasons, ts)
        self.active = cid
        self.bars_since_entry = 0
        return m.QuoteOptions(cid, self.symbol, candidates)

    def _on_options_quoted(self, event: m.OptionsQuoted) -> None:
        if self.pending is None or event.correlation_id != self.pending[0]:
            self.log.info("answer_ignored symbol={} kind=OptionsQuoted cid={} current={}",
                          self.symbol, event.correlation_id, self.active)
            return
        direction = self.pending[1]
        self._propose(selection.select_option(event.quotes, self.spot or 0.0, RIGHTS[direction],
                                              self.clock(), self.settings.options))

    def _propose(self, chosen: selection.Selection) -> None:
        """Propose the pending signal's entry on ``chosen`` (or abandon it: nothing qualified)."""
        cid, direction, reasons, ts = self.pending
        self.pending = None
        if chosen.contract is None or chosen.quote is None:
            self.publish(m.EntryAbandoned(cid, self.symbol, chosen.reason, ts))
            self._become(IDLE, f"no option: {chosen.reason}")
            return
        q = chosen.quote
        intent_id = f"{self.symbol}-{ts:%Y%m%d%H%M}-{cid.rsplit('-', 2)[1][:6]}"
        self.publish(m.EntryProposed(cid, intent_id, self.symbol, direction, chosen.contract,
                                     q.ask, q.bid, q.ask, ts, reasons + (chosen.reason,)))
        self._become(PROPOSED, f"{chosen.contract.key} ask={q.ask:.2f}")

    def _on_quote_updated(self, event: m.QuoteUpdated) -> None:
        max_age_s = self.settings.options.max_quote_age_s
        problem = quotes.quote_problem(event.quote, self.clock(), max_age_s=max_age_s)
        if problem:
            self.dropped.count(problem)
            return
        self.spot = event.quote.mid
        self.quote_seen_at = self.clock()
        self._keep_warm()

    def _on_warm_quote_updated(self, event: m.WarmQuoteUpdated) -> None:
        key = event.quote.instrument.key
        if any(c.key == key for c in self.warm_set):
            self.warm_quotes[key] = event.quote

    def _keep_warm(self) -> None:
        """Re-centre the warm set on spot when it moved (``prewarm.warm_contracts``); the broker
        hears only a changed set."""
        if self.chain is None or self.spot is None or self.last_bar is None:
            return
        today = market_hours.trading_day(self.last_bar + BAR)
        wanted = prewarm.warm_contracts(self.chain, self.spot, today, self.settings.options,
                                        self.warm_lines, self.warm_set)
        if wanted == self.warm_set:
            return
        self.warm_set = wanted
        keys = {c.key for c in wanted}
        self.warm_quotes = {k: q for k, q in self.warm_quotes.items() if k in keys}
        self.directory.tell(BROKER, m.KeepOptionsWarm(m.new_correlation_id(self.symbol),
                                                      self.symbol, wanted))
        self.log.info("options_kept_warm spot={:.2f} options={}", self.spot,
                      ",".join(c.key for c in wanted) or "none")

    def _on_chain_received(self, event: m.ChainReceived) -> None:
        self.chain = event.chain
        # The market's day, not the host's: known from the first live bar if none came yet.
        self.chain_day = None if self.last_bar is None else market_hours.trading_day(self.last_bar)
        self.log.info("chain_received expiries={} strikes={}", len(event.chain.expirations),
                      len(event.chain.strikes))

    def _on_request_timed_out(self, event: m.RequestTimedOut) -> None:
        if self.pending is not None and event.correlation_id == self.pending[0]:
            self.publish(m.EntryAbandoned(event.correlation_id, self.symbol,
                                          f"{event.request} timed out", event.ts))
            self.pending = None
            self._become(IDLE, f"{event.request} timed out")

    def _request_chain(self) -> None:
        self.directory.tell(BROKER, m.RequestChain(m.new_correlation_id(self.symbol), self.symbol))

    def _is_current(self, answer: Any) -> bool:
        """True when ``answer`` belongs to the request behind the current state."""
        if self.active is not None and answer.correlation_id == self.active:
            return True
        self.log.info("answer_ignored symbol={} kind={} cid={} current={}", self.symbol,
                      type(answer).__name__, answer.correlation_id, self.active)
        return False

    def _expire_if_overdue(self) -> None:
        """Give up a state whose deadline passed: idle again, its request forgotten."""
        now = self.clock()
        after = selection.stage_overdue_s(self.state, self.state_since, now, self.settings)
        if after is None:
            return
        self.log.warning("selection_expired symbol={} state={} after_s={:.0f} cid={}", self.symbol,
                         self.state, after, self.active)
        if self.state == SELECTING and self.pending is not None:
            self.publish(m.EntryAbandoned(self.pending[0], self.symbol,
                                          f"no answer within {after:.0f}s", now))
        self.pending = None
        self._become(IDLE, "deadline passed")

    def _become(self, state: str, why: str) -> None:
        if state != self.state:
            self.log.info("strategy_state from={} to={} why={}", self.state, state, why)
            self.state_since = self.clock()
        if state == IDLE:
            self.active = None
        self.state = state
