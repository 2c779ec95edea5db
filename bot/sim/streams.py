"""Streaming subscriptions of one session and the messages each one pushes.

P&L subscriptions (``bot.sim.pnl``) are pushed from ``tick_once`` too, by ``pnl_changes``.

A subscription remembers the last message it sent per tick key, so each market step pushes
only what changed (quotes), the forming bar (keepUpToDate) or the newly completed 5-second
bars (real-time bars). Everything here runs on the gateway's loop thread.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from loguru import logger

from bot.sim import calendar, ticks
from bot.sim import protocol_out as out
from bot.sim.depth import DepthSub, TickByTickSub
from bot.sim.pnl import PnLSub


def quote_messages(req_id: int, contract, market, generic: frozenset[str] = frozenset(),
                   chain: tuple = (), delayed: bool = False) -> dict[object, list]:
    """Every tick message describing the contract's quote now, keyed by tick type: top of
    book, option computations per price, the generic ticks asked for (``bot.sim.ticks``),
    under IB's delayed tick ids when ``delayed``."""
    lag = ticks.DELAY_S if delayed else 0
    if contract.sec_type == "OPT":
        q = market.option_quote(contract, lag)
        msgs = _price_ticks(req_id, q.bid, q.ask, q.last, q.bid_size, q.ask_size, 0, q.volume)
        msgs.update(ticks.option_computations(
            req_id, contract, q, market.now() - timedelta(seconds=lag)))
    elif contract.sec_type == "IND":  # an index: a value, no book and no volume
        msgs = {out.LAST: out.tick_price(req_id, out.LAST, market.spot(contract.symbol, lag), 0)}
    else:
        q = market.quote(contract.symbol, lag)
        msgs = _price_ticks(req_id, q.bid, q.ask, q.last, q.bid_size, q.ask_size, q.last_size,
                            q.volume)
    if contract.sec_type != "OPT":
        msgs.update(_day_ticks(req_id, contract.symbol, market, lag))
    if generic:
        msgs.update(ticks.generic_ticks(req_id, contract, generic, market, chain))
    return {k: ticks.delayed(m) for k, m in msgs.items()} if delayed else msgs


def _day_ticks(req_id: int, symbol: str, market, lag: int) -> dict[object, list]:
    """Open, high and low of the latest session so far and the previous session's close, as
    IB sends them (tick types 14, 6, 7, 9; no size). Delayed data skips them."""
    if lag:
        return {}
    day = market.partial_bar(symbol, 86_400)
    close = market.prior_close(symbol, day.time.astimezone(out.NY).date())
    return {tick: out.tick_price(req_id, tick, price, 0) for tick, price in (
        (out.OPEN, day.open), (out.HIGH, day.high), (out.LOW, day.low), (out.CLOSE, close))}


def _price_ticks(
    req_id, bid, ask, last, bid_size, ask_size, last_size, volume
) -> dict[object, list]:
    msgs: dict[object, list] = {
        out.BID: out.tick_price(req_id, out.BID, bid, bid_size),
        out.ASK: out.tick_price(req_id, out.ASK, ask, ask_size),
        out.VOLUME: out.tick_size(req_id, out.VOLUME, volume),
        out.HALTED: out.tick_generic(req_id, out.HALTED, 0.0),  # constant: sent once
    }
    if last > 0:
        msgs[out.LAST] = out.tick_price(req_id, out.LAST, last, last_size)
    return msgs


GREEK_TICKS = frozenset({out.BID_OPTION, out.ASK_OPTION, out.LAST_OPTION, out.MODEL_OPTION})


@dataclass(slots=True)
class QuoteSub:
    """A streaming reqMktData subscription. ``greeks_after`` (monotonic seconds, latency
    model ``greeks``): an option's computations are held back until then."""

    req_id: int
    contract: object
    generic: frozenset = frozenset()
    chain: tuple = ()
    delayed: bool = False
    sent: dict = field(default_factory=dict)
    greeks_after: float = 0.0

    def changes(self, market, now: datetime) -> list[list]:
        msgs = quote_messages(self.req_id, self.contract, market, self.generic, self.chain,
                              self.delayed)
        if self.greeks_after and time.monotonic() < self.greeks_after:
            msgs = {k: m for k, m in msgs.items() if k not in GREEK_TICKS}
        fresh = [m for k, m in msgs.items() if self.sent.get(k) != m]
        if fresh:
            self.sent.update(msgs)
            if out.LAST in msgs and self.sent.get("ts") != msgs[out.LAST]:
                self.sent["ts"] = msgs[out.LAST]
                stamp = out.tick_string(self.req_id, out.LAST_TIMESTAMP, str(int(now.timestamp())))
                fresh.append(ticks.delayed(stamp) if self.delayed else stamp)
        return fresh


@dataclass(slots=True)
class BarSub:
    """A keepUpToDate reqHistoricalData subscription: pushes the forming bar as it changes."""

    req_id: int
    symbol: str
    bar_s: int
    format_date: int
    what: str = "TRADES"
    last: list | None = None
    last_time: datetime | None = None

    def changes(self, market, now: datetime) -> list[list]:
        bar = market.partial_bar(self.symbol, self.bar_s)
        msgs = []
        if self.last_time is not None and bar.time > self.last_time:
            done = market.bars(self.symbol, bar.time, self.bar_s, self.bar_s, self.what)
            if done:
                msgs.append(out.historical_data_update(self.req_id, done[-1], self.format_date))
        msg = out.historical_data_update(self.req_id, bar, self.format_date)
        if msg != self.last:
            msgs.append(msg)
            self.last = msg
        self.last_time = bar.time
        return msgs


@dataclass(slots=True)
class RealTimeBarSub:
    """A reqRealTimeBars subscription: one realtimeBar per completed 5-second bar."""

    req_id: int
    symbol: str
    what: str
    last_time: datetime

    BAR_S = 5
    LOOKBACK_S = 120

    def changes(self, market, now: datetime) -> list[list]:
        bars = market.bars(self.symbol, now, self.LOOKBACK_S, self.BAR_S, self.what)
        fresh = [b for b in bars if b.time > self.last_time]
        if fresh:
            self.last_time = fresh[-1].time
        return [out.real_time_bar(self.req_id, b) for b in fresh]


@dataclass(slots=True)
class Subscriptions:
    """All streams of one session, keyed by request id."""

    quotes: dict[int, QuoteSub] = field(default_factory=dict)
    bars: dict[int, BarSub] = field(default_factory=dict)
    rt_bars: dict[int, RealTimeBarSub] = field(default_factory=dict)
    pnl: dict[int, PnLSub] = field(default_factory=dict)
    depth: dict[int, DepthSub] = field(default_factory=dict)
    tick_by_tick: dict[int, TickByTickSub] = field(default_factory=dict)

    def changes(self, market, now: datetime, symbols: frozenset[str] | None = None) -> list[list]:
        """What changed since the last call, of every stream (or of those on ``symbols``)."""
        msgs: list[list] = []
        for group in (self.quotes, self.bars, self.rt_bars, self.depth, self.tick_by_tick):
            for sub in list(group.values()):
                if symbols is None or _symbol_of(sub) in symbols:
                    msgs += sub.changes(market, now)
        return msgs

    def clear(self) -> None:
        self.quotes.clear()
        self.bars.clear()
        self.rt_bars.clear()
        self.pnl.clear()
        self.depth.clear()
        self.tick_by_tick.clear()


def _symbol_of(sub) -> str | None:
    symbol = getattr(sub, "symbol", None)
    return symbol if symbol is not None else getattr(getattr(sub, "contract", None), "symbol", None)


def _money(x: float) -> float:
    return round(x, 2) + 0.0  # no -0.0


def pnl_changes(gw, subs, wall_t: float) -> list[list]:
    """pnl / pnlSingle messages of the subscriptions that are due and whose figures changed
    (``bot.sim.pnl``): the account's P&L now against the exchange day's baseline."""
    due = [sub for sub in subs.values() if sub.due(wall_t)]
    if not due:
        return []
    rows = gw.account.portfolio(gw.mark)
    realized = gw.account.realized_pnl
    gw.pnl.roll(calendar.exchange_date(gw.clock.now()), rows, realized)
    msgs: list[list] = []
    for sub in due:
        if sub.con_id is None:
            f = gw.pnl.account(rows, realized)
            msg = out.pnl(sub.req_id, _money(f.daily), _money(f.unrealized), _money(f.realized))
        else:
            f = gw.pnl.single(sub.con_id, rows, gw.account.realized_of(sub.con_id))
            msg = out.pnl_single(sub.req_id, f.position, _money(f.daily), _money(f.unrealized),
                                 _money(f.realized), _money(f.value))
        msgs += sub.take(msg, wall_t)
    return msgs


async def run_tick_loop(gw, stopping: asyncio.Event) -> None:
    """Every ``tick_interval_s`` wall seconds: advance the market to the simulated now, expire
    DAY orders past a close, run the matching engine, push every session's stream changes and
    fire scheduled faults. A failing step is logged and counted; the loop keeps running."""
    interval = gw.options.tick_interval_s
    while not stopping.is_set():
        try:
            await asyncio.wait_for(stopping.wait(), interval)
            return
        except TimeoutError:
            pass
        try:
            tick_once(gw)
        except Exception:  # noqa: BLE001 - the loop must survive a bad step
            gw.stats.inc("tick.errors")
            logger.exception("tick_failed")


def tick_once(gw, stream: bool = True) -> None:
    """One market step (see ``run_tick_loop``); ``stream=False`` leaves the stream changes to
    ``push_streams`` (a stepped gateway's driver sends them symbol by symbol)."""
    now = gw.clock.now()
    gw.market.advance(now)
    if gw.pnl.day != calendar.exchange_date(now):  # the day's P&L baseline, before any fill
        gw.pnl.roll(calendar.exchange_date(now), gw.account.portfolio(gw.mark),
                    gw.account.realized_pnl)
    expire_day_orders(gw, now)
    gw.dispatch(gw.engine.on_market())
    if stream:
        push_streams(gw, None)
    gw.stats.inc("tick.steps")
    sim_elapsed = (now - gw.epoch).total_seconds()
    gw.faults.run_due(sim_elapsed, time.monotonic() - gw.wall_start)


def push_streams(gw, symbols: frozenset[str] | None) -> None:
    """Send every session's stream changes (only those on ``symbols``; None: all, with P&L)."""
    now = gw.clock.now()
    stalled = gw.faults.streams_stalled  # a data outage: orders still match, nothing streams
    for session in [] if stalled else list(gw.sessions):
        if session.client_id is None or session.closed:
            continue
        pnl = [] if symbols is not None else pnl_changes(gw, session.subs.pnl, time.monotonic())
        session.send_stream(session.subs.changes(gw.market, now, symbols) + pnl)


def expire_day_orders(gw, now: datetime) -> None:
    """On the first step past a regular-session close, every live DAY order expires
    (Cancelled, as at IB); ``gw.next_close`` then moves to the next session's close. Runs
    before matching, so no DAY order fills against prices after the close."""
    if now < gw.next_close:
        return
    gw.next_close = calendar.next_close(now)
    gw.stats.inc("session.closes")
    gw.dispatch(gw.engine.end_of_day())
