"""Market data for the BrokerActor: bars, conflated quotes, option chains, option quotes.

Actor thread only (see the One Rule in ``actors/broker/actor.py``). Asks IB for as little as
possible: one keepUpToDate 1-minute bar subscription per symbol (backfill, then each bar
close); one quote stream per instrument however many parts of the bot want it (owners are
counted, the stream is cancelled with the last one); chains from reqSecDefOptParams cached per
NY trading day; only the candidates of a ``QuoteOptions`` qualified and quoted, and their
streams cancelled once answered (a candidate kept warm, ``actors.broker.warm``, is answered
from its stream at once and keeps streaming).

Conflation: ib_insync reports changed tickers in batches; each changed instrument is marked
dirty and one callback per loop turn publishes the latest quote of each, with a sequence
number per instrument. Nothing queues up behind a slow consumer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from actors.broker.requests import BrokerCore, RequestFailed
from bot import messages as m
from bot.ib import translate as tr
from bot.ib.pacing import Request
from bot.trading.market_hours import trading_day

FIRST_BACKFILL = "2 D"
"""Backfill of the first bar subscription: two sessions, as IB counts them.

Never less: IB counts "N D" in trading sessions, so at the open "1 D" (or "7200 S") holds no
bar yet, and ib_insync never delivers updates to a keepUpToDate request whose first answer
was empty: the symbol would go silent all day."""
RESUBSCRIBE_BACKFILL = "3 D"
"""Backfill after a reconnect or 1101: also never empty, and not identical to the first
request, so IB's 15-second rule on identical historical requests never holds the restore
back. Indicators de-duplicate bars by time."""
GREEKS_GRACE_S = 0.5
"""How long option quotes may wait for model greeks once bid and ask are there."""
QUOTE_POLL_S = 0.05
WARM_PREFIX = "warm:"
"""Owners of streams kept warm for a strategy (``actors.broker.warm``): their quotes are
published as ``WarmQuoteUpdated``, to the strategy only."""
MAX_KEPT_BARS = 600


@dataclass
class _Stream:
    instrument: m.Instrument
    owners: set[str] = field(default_factory=set)
    ticker: Any = None
    seq: int = 0
    task: asyncio.Task[Any] | None = None


class MarketData:
    """Bar and quote subscriptions (restored after every reconnect), chains, option quotes."""

    def __init__(self, core: BrokerCore, on_quote: Callable[[m.Quote], None]) -> None:
        self.core = core
        self.on_quote = on_quote
        """Called with every published quote (the shadow book matches orders on it)."""
        self.symbols: tuple[str, ...] = ()
        self._bars: dict[str, Any] = {}
        self._bar_tasks: dict[str, asyncio.Task[Any]] = {}
        self._last_bar: dict[str, datetime] = {}
        self._live_last: dict[str, bool] = {}
        self._streams: dict[str, _Stream] = {}
        self._by_ticker: dict[int, str] = {}
        self._dirty: set[str] = set()
        self._flush_scheduled = False
        self._chains: dict[tuple[str, date], m.OptionChain] = {}
        self._con_ids: dict[str, int] = {}
        self._asking_con_id: dict[str, asyncio.Task[int]] = {}

    # -- subscriptions ----------------------------------------------------------------------

    def start(self, symbols: tuple[str, ...]) -> None:
        """The symbols whose bars and underlying quotes are always wanted."""
        self.symbols = symbols
        for symbol in symbols:
            self.acquire(m.Stock(symbol), "underlying")

    def restore(self, first: bool) -> None:
        """(Re)submit every bar and quote subscription: after a connect, a reconnect or 1101."""
        for symbol in self.symbols:
            self._subscribe_bars(symbol, FIRST_BACKFILL if first else RESUBSCRIBE_BACKFILL)
        for stream in self._streams.values():
            self._cancel_stream(stream)
            self._start_stream(stream)

    def lost(self) -> None:
        """The connection is gone, and with it every live ticker and bar list."""
        for task in list(self._bar_tasks.values()):
            task.cancel()
        self._bars.clear()
        self._by_ticker.clear()
        for stream in self._streams.values():
            if stream.task is not None:
                stream.task.cancel()
            stream.ticker, stream.task = None, None
        self.core.governor.release_all_lines()

    def acquire(self, instrument: m.Instrument, owner: str) -> None:
        stream = self._streams.setdefault(instrument.key, _Stream(instrument))
        stream.owners.add(owner)
        if stream.ticker is None and stream.task is None and self.core.connected:
            self._start_stream(stream)

    def release(self, instrument: m.Instrument, owner: str) -> None:
        stream = self._streams.get(instrument.key)
        if stream is None:
            return
        stream.owners.discard(owner)
        if not stream.owners:
            self._cancel_stream(stream)
            del self._streams[instrument.key]

    @property
    def streams(self) -> int:
        return len(self._streams)

    def _start_stream(self, stream: _Stream) -> None:
        stream.task = self.core.spawn(self._stream_task(stream), f"mktdata-{stream.instrument.key}")

    async def _stream_task(self, stream: _Stream) -> None:
        req = Request("reqMktData", line=stream.instrument.key)
        try:
            contract = await self._qualified(stream.instrument)
            ticker = await self.core.send(
                req, lambda: self.core.ib.reqMktData(contract), symbol=stream.instrument.symbol
            )
        except RequestFailed:
            self.core.loop.call_later(
                self.core.timeout_s, self._retry_stream, stream.instrument.key
            )
            return
        finally:
            stream.task = None
        self.attach(stream.instrument, ticker)

    def _retry_stream(self, key: str) -> None:
        stream = self._streams.get(key)
        if (
            stream is not None
            and stream.ticker is None
            and stream.task is None
            and self.core.connected
        ):
            self._start_stream(stream)

    def attach(self, instrument: m.Instrument, ticker: Any) -> None:
        """The live ticker that now streams ``instrument`` (whose stream must be wanted)."""
        stream = self._streams[instrument.key]
        stream.ticker = ticker
        self._by_ticker[id(ticker)] = instrument.key

    def _cancel_stream(self, stream: _Stream) -> None:
        if stream.task is not None:
            stream.task.cancel()
            stream.task = None
        if stream.ticker is not None:
            self._by_ticker.pop(id(stream.ticker), None)
            if self.core.connected:
                self.core.governor.record_message(self.core.now())
                self.core.ib.cancelMktData(stream.ticker.contract)
            stream.ticker = None
        self.core.governor.release_line(stream.instrument.key)

    # -- bars -------------------------------------------------------------------------------

    def _subscribe_bars(self, symbol: str, duration: str) -> None:
        old_task = self._bar_tasks.pop(symbol, None)
        if old_task is not None:
            old_task.cancel()
        old = self._bars.pop(symbol, None)
        if old is not None and self.core.connected:
            self.core.governor.record_message(self.core.now())
            self.core.ib.cancelHistoricalData(old)
        self._bar_tasks[symbol] = self.core.spawn(
            self._bars_task(symbol, duration), f"bars-{symbol}"
        )

    async def _bars_task(self, symbol: str, duration: str) -> None:
        req = Request(
            "reqHistoricalData",
            query=(symbol, duration, "1 min", "TRADES", True, "keepUpToDate"),
            contract=f"{symbol}|SMART|TRADES",
        )

        def call() -> Any:
            return self.core.ib.reqHistoricalDataAsync(
                contract, "", duration, "1 min", "TRADES", True, 2, keepUpToDate=True, timeout=0
            )

        try:
            contract = await self._qualified(m.Stock(symbol))
            bars = await self.core.request(req, call, symbol=symbol)
        except RequestFailed:
            self.core.loop.call_later(self.core.timeout_s, self._retry_bars, symbol)
            return
        self._bars[symbol] = bars
        self._live_last[symbol] = False
        for ib_bar in list(bars)[:-1]:
            bar = tr.bar_from_ib(symbol, ib_bar)
            self._last_bar[symbol] = max(self._last_bar.get(symbol, bar.start), bar.start)
            self.core.publish(m.BarClosed(bar, backfill=True))
        self.core.log.info("bars_subscribed symbol={} backfill={}", symbol, max(0, len(bars) - 1))

    def _retry_bars(self, symbol: str) -> None:
        """A bar subscription that got no answer is tried again (a lost connection cancels this:
        its restore subscribes anew)."""
        task = self._bar_tasks.get(symbol)
        idle = task is None or task.done()
        if self.core.connected and symbol not in self._bars and symbol in self.symbols and idle:
            self._subscribe_bars(symbol, RESUBSCRIBE_BACKFILL)

    def on_bar_update(self, bars: Any, has_new_bar: bool) -> None:
        """ib_insync barUpdateEvent: a new bar started, so the one before it is complete."""
        symbol = bars.contract.symbol
        if self._bars.get(symbol) is not bars:
            return  # a cancelled subscription's straggler
        if not has_new_bar or len(bars) < 2:
            self._live_last[symbol] = True
            return
        bar = tr.bar_from_ib(symbol, bars[-2])
        backfill = not self._live_last[symbol]
        self._live_last[symbol] = True
        if len(bars) > MAX_KEPT_BARS:
            del bars[: len(bars) - 2]
        if symbol in self._last_bar and bar.start <= self._last_bar[symbol]:
            return
        self._last_bar[symbol] = bar.start
        self.core.publish(m.BarClosed(bar, backfill=backfill))

    # -- quotes -----------------------------------------------------------------------------

    def on_pending_tickers(self, tickers: Any) -> None:
        """ib_insync pendingTickersEvent: mark dirty; publish once per loop turn."""
        for ticker in tickers:
            key = self._by_ticker.get(id(ticker))
            if key is not None:
                self._dirty.add(key)
        if self._dirty and not self._flush_scheduled:
            self._flush_scheduled = True
            self.core.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, set()
        for key in dirty:
            stream = self._streams.get(key)
            if stream is None or stream.ticker is None:
                continue
            quote = tr.quote_from_ticker(
                stream.instrument, stream.ticker, stream.ticker.time or self.core.clock()
            )
            if quote is None:
                continue
            stream.seq += 1
            if any(not o.startswith(WARM_PREFIX) for o in stream.owners):
                self.core.publish(m.QuoteUpdated(quote, stream.seq))
            if any(o.startswith(WARM_PREFIX) for o in stream.owners):
                self.core.publish(m.WarmQuoteUpdated(quote, stream.seq))
            self.on_quote(quote)

    # -- chains and option quotes -----------------------------------------------------------

    def request_chain(self, cmd: m.RequestChain) -> None:
        key = (cmd.symbol, trading_day(self.core.clock()))
        if key in self._chains:
            self.core.publish(m.ChainReceived(cmd.correlation_id, self._chains[key]))
            return
        self.core.spawn(self._chain_task(cmd, key), f"chain-{cmd.symbol}")

    async def _chain_task(self, cmd: m.RequestChain, key: tuple[str, date]) -> None:
        cid, symbol = cmd.correlation_id, cmd.symbol
        try:
            con_id = await self._underlying_con_id(symbol, cid)
            chains = await self.core.request(
                Request("reqSecDefOptParams"),
                lambda: self.core.ib.reqSecDefOptParamsAsync(symbol, "", "STK", con_id),
                correlation_id=cid,
                symbol=symbol,
            )
        except RequestFailed:
            return
        chain = tr.pick_chain(symbol, chains)
        if chain is None:
            self.core.log.warning("chain_empty symbol={}", symbol)
            chain = m.OptionChain(symbol, (), ())
        else:
            self._chains[key] = chain
        self.core.publish(m.ChainReceived(cid, chain))

    async def _qualified(self, instrument: m.Instrument) -> Any:
        """The client contract of ``instrument`` with its conId, asking IB for an underlying's
        once per symbol: tickers and bar lists are keyed by the contract's hash, which ib_async
        refuses without a conId (ib_insync would key every unqualified stock alike). Raises
        ``RequestFailed`` when IB did not answer or named no single contract (retried later)."""
        if instrument.con_id or not isinstance(instrument, m.Stock):
            return tr.ib_contract(instrument)
        con_id = await self._underlying_con_id(instrument.symbol, "")
        if not con_id:
            self.core.log.warning("underlying_unqualified symbol={}", instrument.symbol)
            raise RequestFailed(f"no single contract for {instrument.symbol}")
        return tr.stock_contract(instrument.symbol, con_id)

    async def _underlying_con_id(self, symbol: str, cid: str) -> int:
        """The stock's conId (0 when IB named no single contract); concurrent callers (the
        quote stream, the bars, a chain) share one reqContractDetails."""
        if symbol in self._con_ids:
            return self._con_ids[symbol]
        asking = self._asking_con_id.get(symbol)
        shared = asking is not None and not asking.done()
        if not shared:
            asking = self.core.spawn(self._ask_con_id(symbol, cid), f"con-id-{symbol}")
            self._asking_con_id[symbol] = asking
        try:
            return await asyncio.shield(asking)
        except RequestFailed:
            if shared and cid:  # the timeout was published for the caller that asked first
                self.core.publish(m.RequestTimedOut(cid, "reqContractDetails", self.core.timeout_s,
                                                    self.core.clock(), symbol))
            raise

    async def _ask_con_id(self, symbol: str, cid: str) -> int:
        details = await self.details(tr.stock_contract(symbol), cid, symbol)
        if len(details) == 1:
            self._con_ids[symbol] = details[0].contract.conId
        return self._con_ids.get(symbol, 0)

    async def details(self, contract: Any, cid: str, symbol: str) -> list[Any]:
        return await self.core.request(
            Request("reqContractDetails"),
            lambda: self.core.ib.reqContractDetailsAsync(contract),
            correlation_id=cid,
            symbol=symbol,
        )

    def quote_options(self, cmd: m.QuoteOptions) -> None:
        self.core.spawn(self._quote_options_task(cmd), f"quote-options-{cmd.symbol}")

    async def _quote_options_task(self, cmd: m.QuoteOptions) -> None:
        cid, symbol = cmd.correlation_id, cmd.symbol
        deadline = self.core.now() + self.core.timeout_s
        answers = await asyncio.gather(
            *(self.details(tr.option_contract(c), cid, symbol) for c in cmd.contracts),
            return_exceptions=True,
        )
        qualified = [
            tr.option_from_ib(a[0].contract) for a in answers if isinstance(a, list) and len(a) == 1
        ]
        if not qualified and any(isinstance(a, RequestFailed) for a in answers):
            return  # RequestTimedOut was published for the request that got no answer
        owner = f"quote:{cid}"
        for option in qualified:
            self.acquire(option, owner)
        try:
            await self._until_quoted(qualified, deadline)
            quotes = tuple(q for q in (self._quote_of(o) for o in qualified) if q is not None)
        finally:
            for option in qualified:
                self.release(option, owner)
        quoted = {q.instrument.key for q in quotes}
        missing = tuple(c for c in cmd.contracts if c.key not in quoted)
        self.core.publish(m.OptionsQuoted(cid, symbol, quotes, missing))

    async def _until_quoted(self, options: list[m.OptionContract], deadline: float) -> None:
        """Until every option is two-sided (and has greeks, within a grace), or the deadline."""
        two_sided_at: float | None = None
        while self.core.now() < deadline:
            tickers = [self._ticker(o) for o in options]
            if all(t is not None and tr.is_two_sided(t) for t in tickers):
                two_sided_at = two_sided_at or self.core.now()
                greeks = all(t.modelGreeks is not None for t in tickers)
                if greeks or self.core.now() - two_sided_at >= GREEKS_GRACE_S:
                    return
            await asyncio.sleep(QUOTE_POLL_S)

    def _ticker(self, instrument: m.Instrument) -> Any:
        stream = self._streams.get(instrument.key)
        return None if stream is None else stream.ticker

    def _quote_of(self, option: m.OptionContract) -> m.Quote | None:
        ticker = self._ticker(option)
        if ticker is None or not tr.is_two_sided(ticker):
            return None
        return tr.quote_from_ticker(option, ticker, ticker.time or self.core.clock())
