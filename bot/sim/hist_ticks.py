"""Historical ticks (reqHistoricalTicks, IB's Historical Time & Sales) of a stock or ETF, from
the market's one-second tape. Pure functions of the market they read.

As IB serves them:
- Anchor: a start gives the first ``numberOfTicks`` ticks at or after it, an end the last ones
  at or before it (oldest first either way); exactly one of the two is given (the handler
  refuses both or neither). At most ``MAX_TICKS`` (1000) per request; IB completes the last
  second, which the one-second tape never splits.
- One trading session per request: a start between sessions begins at the next one, an end
  between sessions ends in the latest one before; ticks never run on into another session.
  useRTH=1 serves the regular session (09:30-16:00 New York, 13:00 on early-close days),
  useRTH=0 the extended day from 04:00 to four hours after the close.
- TRADES (historicalTicksLast): one print per second that traded, the second's shares at its
  last price, on the contract's primary exchange. Outside regular hours the price stands still
  (the market moves in regular hours only) and a 100-share print comes every few seconds
  (``EXTENDED_VOLUME_SHARE`` of the regular rate).
- BID_ASK (historicalTicksBidAsk): a tick whenever the bid or the ask changes, or, unless
  ignoreSize, one of their sizes. Outside regular hours the quote stands still at
  (price - spread, price), 100 x 100.
- MIDPOINT (historicalTicks): a tick whenever the midpoint changes, size 0.
- Only what the market still keeps (the current session and the few before it) and nothing
  after the simulated now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.sim.calendar import NY
from bot.sim.contracts import stable_hash
from bot.sim.hist_bars import EXTENDED_AFTER_S, EXTENDED_OPEN, EXTENDED_VOLUME_SHARE
from bot.sim.market import Second, profile

MAX_TICKS = 1000
WHAT_TO_SHOW = ("TRADES", "BID_ASK", "MIDPOINT")
CHUNK_S = 1800
"""Seconds of tape read at a time while collecting ticks."""
EXTENDED_SIZE = 100


@dataclass(frozen=True, slots=True)
class Window:
    """One session's seconds [start, end) and the regular part [open, close) within them."""

    start: int
    end: int
    open: int
    close: int
    prev_close: float
    last_close: float


def windows(market, symbol: str, use_rth: bool) -> list[Window]:
    """The kept sessions' windows, oldest first."""
    out = []
    for open_s, close_s, prev_close, close in market.session_edges(symbol):
        day = datetime.fromtimestamp(open_s, NY).date()
        pre = int(datetime.combine(day, EXTENDED_OPEN, tzinfo=NY).timestamp())
        start, end = (open_s, close_s) if use_rth else (pre, close_s + EXTENDED_AFTER_S)
        out.append(Window(start, end, open_s, close_s, prev_close, close))
    return out


def serve(market, symbol: str, exchange: str, what: str, start: datetime | None,
          end: datetime | None, count: int, use_rth: bool, ignore_size: bool) -> list[tuple]:
    """The ticks of one request (see the module docstring), oldest first: (time, price, size,
    exchange) for TRADES, (time, bid, ask, bid size, ask size) for BID_ASK, (time, midpoint)
    for MIDPOINT."""
    count = min(count, MAX_TICKS)
    now_s = int(market.now().timestamp())
    found = windows(market, symbol, use_rth)
    if start is not None:
        t = int(start.timestamp())
        w = next((w for w in found if w.end > t), None)
        if w is None or w.start > now_s:
            return []
        return _forward(market, symbol, exchange, what, w, max(t, w.start),
                        min(w.end, now_s + 1), count, ignore_size)
    t = min(int(end.timestamp()), now_s)
    w = next((w for w in reversed(found) if w.start <= t), None)
    if w is None:
        return []
    return _backward(market, symbol, exchange, what, w, min(t + 1, w.end), count, ignore_size)


def _forward(market, symbol, exchange, what, w: Window, lo: int, hi: int, count: int,
             ignore_size: bool) -> list[tuple]:
    ticks: list[tuple] = []
    prev = _state(market, symbol, what, w, lo - 1, ignore_size) if lo > w.start else None
    while lo < hi and len(ticks) < count:
        step = min(lo + CHUNK_S, hi)
        chunk, prev = _ticks(_seconds(market, symbol, w, lo, step), what, exchange, prev,
                             ignore_size)
        ticks += chunk
        lo = step
    return ticks[:count]


def _backward(market, symbol, exchange, what, w: Window, hi: int, count: int,
              ignore_size: bool) -> list[tuple]:
    ticks: list[tuple] = []
    while hi > w.start and len(ticks) < count:
        lo = max(hi - CHUNK_S, w.start)
        prev = _state(market, symbol, what, w, lo - 1, ignore_size) if lo > w.start else None
        chunk, _ = _ticks(_seconds(market, symbol, w, lo, hi), what, exchange, prev, ignore_size)
        ticks = chunk + ticks
        hi = lo
    return ticks[-count:] if count else []


def _state(market, symbol, what, w: Window, t: int, ignore_size: bool):
    """What the tick kind compares at second t (the state before a chunk starts)."""
    seconds = _seconds(market, symbol, w, t, t + 1)
    return _key(seconds[0], what, ignore_size) if seconds else None


def _key(s: Second, what: str, ignore_size: bool):
    if what == "BID_ASK":
        return (s.bid, s.ask) if ignore_size else (s.bid, s.ask, s.bid_size, s.ask_size)
    return round((s.bid + s.ask) / 2, 4)


def _ticks(seconds: list[Second], what: str, exchange: str, prev,
           ignore_size: bool) -> tuple[list[tuple], object]:
    """The ticks of these seconds and the state after the last one."""
    out: list[tuple] = []
    for s in seconds:
        if what == "TRADES":
            if s.volume > 0:
                out.append((s.t, s.last, s.volume, exchange))
            continue
        key = _key(s, what, ignore_size)
        if key != prev:
            out.append((s.t, s.bid, s.ask, s.bid_size, s.ask_size) if what == "BID_ASK"
                       else (s.t, key))
            prev = key
    return out, prev


def _seconds(market, symbol: str, w: Window, lo: int, hi: int) -> list[Second]:
    """The window's seconds in [lo, hi): the market's tape in regular hours, a standing quote
    and thin prints outside them."""
    lo, hi = max(lo, w.start), min(hi, w.end)
    out: list[Second] = []
    if lo < min(hi, w.open):
        out += _extended(symbol, lo, min(hi, w.open), w.prev_close)
    if max(lo, w.open) < min(hi, w.close):
        out += market.tape(symbol, max(lo, w.open), min(hi, w.close))
    if max(lo, w.close) < hi:
        out += _extended(symbol, max(lo, w.close), hi, w.last_close)
    return out


def _extended(symbol: str, lo: int, hi: int, price: float) -> list[Second]:
    spread = profile(symbol)[2]
    rate = profile(symbol)[1] / 23_400 * EXTENDED_VOLUME_SHARE  # shares per second
    every = max(1, round(EXTENDED_SIZE / rate)) if rate > 0 else 0
    bid = round(price - spread, 2)
    return [Second(t, price, bid, price, EXTENDED_SIZE, EXTENDED_SIZE,
                   EXTENDED_SIZE if every and stable_hash("ext-tick", symbol, t) % every == 0
                   else 0)
            for t in range(lo, hi)]
