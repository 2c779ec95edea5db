"""What the market needs to replay recorded data (``bot.sim.replay_data``) instead of its walk.

- ``exact_session``: one session's per-second prices from recorded 1-minute bars, in units of
  the finest decimal the file uses, so every 1-minute TRADES bar the gateway serves has exactly
  the recorded open, high, low, close and volume (inside a minute the price moves open ->
  first extreme -> second extreme -> close, as ``Market``'s CSV replay does).
- ``RecordedOptions``: the recorded option quotes and chains of the kept sessions; an option
  quote is the recorded one when the contract was quoted at most ``RECORDED_MAX_AGE_S`` before,
  else the model's (Black-Scholes on the replayed underlying with the configured IV surface).

Thread rule: used under the market's lock only.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import numpy as np

from bot.sim import calendar
from bot.sim.contracts import SimContract
from bot.sim.options import OptionQuote, option_quote
from bot.sim.replay_data import BarRow, QuoteBook, ReplayData

RECORDED_MAX_AGE_S = 120.0
"""A recorded option quote stands for the contract's market this long after it was seen (the
recorder writes a quote when it changes, so a quiet contract's last quote is still its market)."""
MAX_DECIMALS = 6
ANCHORS = np.array([0, 15, 40, 59])  # seconds of a minute at open, 1st extreme, 2nd, close
WEIGHTS = np.stack([np.interp(np.arange(60), ANCHORS, np.eye(4)[j]) for j in range(4)], 1)


def decimals_of(rows: list[BarRow]) -> int:
    """The most decimals any price of the rows is written with (at least 2: cents)."""
    most = 2
    for r in rows:
        for price in (r.open, r.high, r.low, r.close):
            most = max(most, -int(price.as_tuple().exponent))
    return min(most, MAX_DECIMALS)


def exact_session(open_s: int, close_s: int, prev_close: float, rows: list[BarRow]):
    """(prices, at_ask, volume, scale) per second of [open_s, close_s) from recorded bars.

    ``prices`` are integers in 1/scale dollars (int64), so ``price / scale`` is the float of the
    recorded decimal string, bit for bit. Seconds before the first bar hold the previous close,
    seconds of a minute without a bar repeat the last price with no volume; bars outside the
    regular session are ignored (prices move in regular hours only)."""
    scale = 10 ** decimals_of(rows)
    n = close_s - open_s
    prices, volume = np.full(n, np.nan), np.zeros(n, np.int64)
    for r in rows:
        first = int(r.time.timestamp()) - open_s
        if first < 0 or first + 60 > n:
            continue
        o, h, lo, c = (int(p * scale) for p in (r.open, r.high, r.low, r.close))
        anchors = (o, lo, h, c) if c >= o else (o, h, lo, c)
        prices[first:first + 60] = np.rint(WEIGHTS @ np.array(anchors, dtype=float))
        volume[first:first + 60] = r.volume // 60 + (np.arange(60) < r.volume % 60)
    prev = round(prev_close * scale)
    filled = np.where(np.isnan(prices), 0, np.arange(n))
    np.maximum.accumulate(filled, out=filled)
    prices = np.where(np.isnan(prices[filled]), prev, prices[filled]).astype(np.int64)
    at_ask = np.diff(prices, prepend=prev) >= 0
    return prices, at_ask, volume, scale


class RecordedOptions:
    """The recorded option quotes and chains of the sessions the market keeps."""

    def __init__(self, data: ReplayData) -> None:
        self._data = data
        self._books: dict[tuple[str, date], QuoteBook] = {}
        self._chains: dict[tuple[str, date], tuple | None] = {}

    def keep_only(self, days: list[date]) -> None:
        """Forget the sessions the market no longer keeps."""
        kept = set(days)
        for cache in (self._books, self._chains):
            for key in [k for k in cache if k[1] not in kept]:
                del cache[key]

    def chain(self, symbol: str, day: date) -> tuple[tuple[str, ...], tuple[float, ...]] | None:
        key = (symbol, day)
        if key not in self._chains:
            self._chains[key] = self._data.chain(symbol, day)
        return self._chains[key]

    def quote(self, contract, day: date, t: datetime, model: OptionQuote) -> OptionQuote | None:
        """The recorded quote of ``contract`` at ``t`` on top of the model's (greeks and sizes
        the recording lacks stay the model's); None when nothing recent was recorded."""
        key = (contract.symbol, day)
        book = self._books.get(key)
        if book is None:
            book = self._books[key] = self._data.option_quotes(contract.symbol, day)
        rec = book.at(contract.expiry, contract.strike, contract.right, t, RECORDED_MAX_AGE_S)
        if rec is None or rec.bid is None or rec.ask is None or rec.ask <= 0:
            return None
        fields = {"bid": rec.bid, "ask": rec.ask,
                  "last": rec.last if rec.last is not None else model.last,
                  "bid_size": int(rec.bid_size) if rec.bid_size is not None else model.bid_size,
                  "ask_size": int(rec.ask_size) if rec.ask_size is not None else model.ask_size}
        for name in ("iv", "delta", "gamma", "theta", "vega", "und_price"):
            value = getattr(rec, name)
            if value is not None:
                fields[name] = value
        return replace(model, **fields)


class ReplayMarket:
    """What ``bot.sim.market.Market`` answers about a replay (a mixin: it reads the market's
    own state under its lock)."""

    def _first_days(self, history_days: int) -> list[date]:
        """The sessions kept at the start: the current one and ``history_days`` before it (in a
        replay: recorded sessions only, at least the first one)."""
        today = calendar.current_session_day(self._now)
        if not self._replay:
            return calendar.session_days(today, history_days + 1)
        upto = [d for d in self._replay_days if d <= today]
        return upto[-(history_days + 1):] or self._replay_days[:1]

    def replay_days(self) -> list[date]:
        """The recorded session days a replay runs over (empty when not replaying)."""
        return list(self._replay_days)

    def replay_finished(self) -> bool:
        """True once a replay is past the close of its last recorded session."""
        with self._lock:
            if not self._replay:
                return False
            return self._now >= calendar.session_bounds(self._replay_days[-1])[1]

    def recorded_chain(self, symbol: str, day: date):
        """(expiries, strikes) recorded for the session, None when not replaying or not recorded."""
        with self._lock:
            return self._recorded.chain(symbol, day) if self._recorded else None

    def option_source(self, contract: SimContract) -> str:
        """Where the option's quote at now() comes from: "recorded" or "modelled"."""
        with self._lock:
            if self._recorded is None:
                return "modelled"
            session, _ = self._locate(contract.symbol)
            model = option_quote(contract, self.spot(contract.symbol), self._now, self._seed,
                                 self._surface)
            found = self._recorded.quote(contract, session.day, self._now, model)
            return "modelled" if found is None else "recorded"

    def _following(self, day: date) -> date | None:
        """The session after ``day``: the next recorded one in a replay (None after the last)."""
        if not self._replay:
            return calendar.next_session_day(day)
        return next((d for d in self._replay_days if d > day), None)
