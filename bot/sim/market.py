"""The simulated underlyings: seeded per-second price paths, quotes and bars.

Each regular session of each symbol is one chunk, generated in a single vectorised step from
its own PCG64 stream seeded by (seed, symbol, date); its first step is the overnight gap from
the previous session's close. The path therefore depends only on (seed, symbol, start) and
never on how often it is sampled. The volatility is U-shaped over the session (higher near the
open and the close); prices move only during regular hours.

Memory: a session is kept at one-second resolution as int32 cents, int32 volume and a bool
"last trade at the ask" flag (9 bytes a second, 210 KB per symbol and session), so bars of any
size, bid/ask/midpoint bars and the forming bar all come from one array; only the current
session and `history_days` sessions before it are kept (18 MB for 20 symbols and 3 days).

Cost: a bar request reads only the seconds of the bars it returns and the day volume is a
running sum, so what the gateway does every tick (forming bars, real-time bars, quotes) costs
the same at the close as at the open; only a forming bar spanning the session (daily bars)
reads the session so far.

Pinned quotes: ``pin_quote(key, bid, ask, last)`` holds one contract's bid/ask/last (key: an
option's conId or a stock's symbol) until ``unpin_quote(key)``; quotes, streams, marks and the
matching engine all see the pinned prices (a pinned stock's last is also its spot). Scripted
scenarios and the simulator's own tests use it to move a contract's market exactly.

Thread rule: every public method takes the market's lock, so the gateway loop may advance the
market while other threads read it.
"""

from __future__ import annotations

import csv
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from bot.sim import calendar
from bot.sim.contracts import SimContract, stable_hash
from bot.sim.options import MODEL_SURFACE, IvSurface, OptionQuote, base_vol, option_quote
from bot.sim.replay_data import ReplayData
from bot.sim.replay_market import RecordedOptions, ReplayMarket, exact_session

# symbol -> (starting price, shares traded per day, quoted spread in dollars)
PROFILES: dict[str, tuple[float, int, float]] = {
    "SPY": (590.0, 60_000_000, 0.01), "QQQ": (510.0, 40_000_000, 0.01),
    "IWM": (230.0, 30_000_000, 0.01), "DIA": (440.0, 3_000_000, 0.02),
    "AAPL": (230.0, 50_000_000, 0.01), "MSFT": (420.0, 20_000_000, 0.02),
    "NVDA": (140.0, 250_000_000, 0.01), "AMZN": (200.0, 40_000_000, 0.01),
    "TSLA": (330.0, 90_000_000, 0.02), "META": (580.0, 12_000_000, 0.03),
    "GOOGL": (170.0, 25_000_000, 0.01), "AMD": (140.0, 40_000_000, 0.01),
    "SPX": (5900.0, 0, 0.0), "VIX": (16.0, 0, 0.0),  # indexes: no volume, no quoted spread
}  # fmt: skip
TRADING_SECONDS_PER_YEAR = 252 * 23_400
GAP_FRACTION = 0.5  # overnight gap sigma as a fraction of one day's sigma
DAILY_BAR_S = 86_400
WHATS = frozenset({"TRADES", "MIDPOINT", "BID", "ASK"})
CSV_ANCHORS = np.array([0, 15, 40, 59])  # seconds of a minute at open, 1st extreme, 2nd, close
CSV_WEIGHTS = np.stack([np.interp(np.arange(60), CSV_ANCHORS, np.eye(4)[j]) for j in range(4)], 1)


@dataclass(frozen=True, slots=True)
class Quote:
    """Top of book and last trade of an underlying; volume is the session's shares so far."""

    bid: float
    ask: float
    last: float
    bid_size: int
    ask_size: int
    last_size: int
    volume: int


@dataclass(frozen=True, slots=True)
class Bar:
    """One OHLC bar; time is the bar start (aware UTC). Bars other than TRADES carry -1 as
    volume, wap and count, as IB sends them."""

    time: datetime
    open: float
    high: float
    low: float
    close: float
    volume: int
    wap: float
    count: int


@dataclass(frozen=True, slots=True)
class Second:
    """One second of an underlying's regular session (``Market.tape``)."""

    t: int  # epoch second
    last: float
    bid: float
    ask: float
    bid_size: int
    ask_size: int
    volume: int  # shares traded in this second


@dataclass(frozen=True, slots=True)
class _Session:
    """One symbol's regular session at one-second resolution (second k = [open+k, open+k+1))."""

    day: date
    open_s: int
    close_s: int
    cents: np.ndarray  # trade price per second in 1/scale dollars (int32; int64 in a replay)
    at_ask: np.ndarray  # bool, the last trade lifted the offer (price ticked up)
    volume: np.ndarray  # int32 shares per second
    scale: int = 100  # price units per dollar: 100 (cents), 10**n for n-decimal recorded prices


def profile(symbol: str) -> tuple[float, int, float]:
    """(starting price, daily volume, spread); unknown symbols get a deterministic $50-300 price."""
    if symbol in PROFILES:
        return PROFILES[symbol]
    return 50.0 + stable_hash("price", symbol) % 25_000 / 100, 5_000_000, 0.01


def _pack(day, open_s, close_s, prices, at_ask, volume) -> _Session:
    cents = np.rint(prices * 100).astype(np.int32)
    return _Session(day, open_s, close_s, cents, at_ask, volume.astype(np.int32))


def _u_shape(n: int, floor: float, depth: float) -> np.ndarray:
    x = (np.arange(n) + 0.5) / n
    return floor + depth * (2.0 * x - 1.0) ** 2


def _walk(symbol: str, seed: int, day: date, bounds, prev_close: float) -> _Session:
    """A random-walk session: log returns with U-shaped vol; step 0 carries the overnight gap."""
    open_s, close_s = (int(b.timestamp()) for b in bounds)
    n = close_s - open_s
    entropy = [seed % 2**64, stable_hash("walk", symbol), day.toordinal()]
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))
    vol_shape = _u_shape(n, 0.75, 1.5)
    vol_shape /= math.sqrt(float(np.mean(vol_shape**2)))
    sigma = base_vol(symbol) / math.sqrt(TRADING_SECONDS_PER_YEAR)
    steps = rng.standard_normal(n) * sigma * vol_shape
    steps[0] += rng.standard_normal() * base_vol(symbol) / math.sqrt(252) * GAP_FRACTION
    prices = prev_close * np.exp(np.cumsum(steps))
    volume_shape = _u_shape(n, 0.6, 2.0)
    rate = profile(symbol)[1] * (n / 23_400) * volume_shape / volume_shape.sum()
    volume = np.rint(rate * rng.gamma(4.0, 0.25, n))  # mean `rate`, bursty
    return _pack(day, open_s, close_s, prices, steps >= 0, volume)


def _replay(day: date, bounds, prev_close: float, rows: list[tuple]) -> _Session:
    """A session from 1-minute CSV bars, interpolated open -> extremes -> close inside each
    minute; seconds without a bar repeat the previous price with no volume."""
    open_s, close_s = (int(b.timestamp()) for b in bounds)
    n = close_s - open_s
    prices, volume = np.full(n, np.nan), np.zeros(n, np.int64)
    for t, o, h, lo, c, v in rows:
        first = int(t.timestamp()) - open_s
        if first >= 0 and first + 60 <= n:
            anchors = (o, lo, h, c) if c >= o else (o, h, lo, c)
            prices[first:first + 60] = CSV_WEIGHTS @ np.array(anchors, dtype=float)
            volume[first:first + 60] = v // 60 + (np.arange(60) < v % 60)
    filled = np.where(np.isnan(prices), 0, np.arange(n))
    np.maximum.accumulate(filled, out=filled)
    prices = np.where(np.isnan(prices[filled]), prev_close, prices[filled])
    at_ask = np.diff(prices, prepend=prev_close) >= 0
    return _pack(day, open_s, close_s, prices, at_ask, volume)


def _parse_time(text: str) -> datetime:
    """Epoch seconds or ISO 8601; a naive time is New York exchange time."""
    if text.strip().isdigit():
        return datetime.fromtimestamp(int(text), UTC)
    t = datetime.fromisoformat(text.strip())
    return (t if t.tzinfo else t.replace(tzinfo=calendar.NY)).astimezone(UTC)


def load_bars_csv(path: Path) -> dict[tuple[str, date], list[tuple]]:
    """CSV columns time,symbol,open,high,low,close,volume -> rows per (symbol, exchange date)."""
    grouped: dict[tuple[str, date], list[tuple]] = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            t = _parse_time(row["time"])
            values = (float(row[k]) for k in ("open", "high", "low", "close"))
            record = (t, *values, int(float(row["volume"])))
            key = (row["symbol"].strip(), calendar.exchange_date(t))
            grouped.setdefault(key, []).append(record)
    return grouped


class Market(ReplayMarket):
    """Seeded underlyings: a random walk on a fixed 1-simulated-second grid with a U-shaped
    intraday volatility, so the path depends only on (seed, symbol, start), never on how often it
    is sampled. Prices move only during regular hours. Optionally replays a CSV of 1-minute bars
    (columns time,symbol,open,high,low,close,volume; interpolates within each minute), or a
    replay directory (``replay``, ``bot.sim.replay_data``): then the sessions are the recorded
    ones only, their prices exactly the recorded decimals, and options take the recorded quotes
    where there are any (``bot.sim.replay_market``), else the model with ``surface``."""

    def __init__(
        self,
        symbols: Sequence[str],
        seed: int,
        start: datetime,
        bars_csv: Path | None = None,
        history_days: int = 3,
        replay: ReplayData | None = None,
        surface: IvSurface = MODEL_SURFACE,
    ) -> None:
        self.symbols = tuple(dict.fromkeys(symbols))
        if not self.symbols:
            raise ValueError("a market needs at least one symbol")
        self._seed = seed
        self._now = start.astimezone(UTC)
        self._history_days = history_days
        self._csv = load_bars_csv(bars_csv) if bars_csv else {}
        self._lock = threading.RLock()
        self._sessions: dict[str, list[_Session]] = {s: [] for s in self.symbols}
        self._days: list[date] = []
        self._volume_sums: dict[str, tuple[int, int, int]] = {}  # symbol -> (open_s, k, shares)
        self._pins: dict[int | str, dict[str, float]] = {}  # key -> quote fields held
        self._surface = surface
        self._replay = replay
        self._recorded = RecordedOptions(replay) if replay else None
        self._replay_days = ([d for d in replay.days(self.symbols) if calendar.session_bounds(d)]
                             if replay else [])
        if replay and not self._replay_days:
            raise ValueError(f"{replay.root}: no session day with bars of {', '.join(self.symbols)}")
        for day in self._first_days(history_days):
            self._append(day)

    def advance(self, t: datetime) -> None:
        """Move the market to `t`, generating any sessions that opened since (earlier t: no-op)."""
        with self._lock:
            if t <= self._now:
                return
            self._now = t.astimezone(UTC)
            while self._now >= self._next_open:  # one session at a time keeps memory bounded
                self._append(self._following(self._days[-1]))

    def pin_quote(self, key: int | str, bid: float, ask: float, last: float,
                  bid_size: int | None = None, ask_size: int | None = None) -> None:
        """Hold the quote of an option (key: conId) or a stock (key: symbol) at these prices
        (and these displayed sizes when given; else the model's)."""
        fields = dict(bid=bid, ask=ask, last=last, bid_size=bid_size, ask_size=ask_size)
        with self._lock:
            self._pins[key] = {k: v for k, v in fields.items() if v is not None}

    def unpin_quote(self, key: int | str) -> None:
        """Let a pinned quote follow the market again."""
        with self._lock:
            self._pins.pop(key, None)

    def now(self) -> datetime:
        """The time of the last advance (the start before any)."""
        with self._lock:
            return self._now

    def spot(self, symbol: str, lag_s: int = 0) -> float:
        """Last trade price at now() (``lag_s`` seconds earlier: delayed data)."""
        with self._lock:
            if symbol in self._pins:
                return self._pins[symbol]["last"]
            session, k = self._locate(symbol, lag_s)
            return int(session.cents[k]) / session.scale

    def quote(self, symbol: str, lag_s: int = 0) -> Quote:
        """Underlying quote at now() (``lag_s`` seconds earlier: delayed data): the last trade
        is on the bid or the ask; seeded sizes."""
        with self._lock:
            session, k = self._locate(symbol, lag_s)
            last, spread = int(session.cents[k]), round(profile(symbol)[2] * session.scale)
            bid, ask = (last - spread, last) if session.at_ask[k] else (last, last + spread)
            h = stable_hash(self._seed, symbol, session.open_s + k)
            quote = Quote(
                bid=bid / session.scale,
                ask=ask / session.scale,
                last=last / session.scale,
                bid_size=100 * (1 + h % 40),
                ask_size=100 * (1 + (h >> 8) % 40),
                last_size=100 * (1 + (h >> 16) % 5),
                volume=(self._day_volume(symbol, session, k) if not lag_s
                        else int(session.volume[: k + 1].sum())),
            )
            pin = self._pins.get(symbol)
            return quote if pin is None else replace(quote, **pin)

    def prior_close(self, symbol: str, day: date) -> float:
        """Close of the last kept session before `day` (the oldest kept open if none)."""
        with self._lock:
            sessions = self._sessions[symbol]
            before = [s for s in sessions if s.day < day]
            s = before[-1] if before else sessions[0]
            return int(s.cents[-1] if before else s.cents[0]) / s.scale

    def option_quote(self, contract: SimContract, lag_s: int = 0) -> OptionQuote:
        """The option's quote from the underlying's spot at now() (or ``lag_s`` earlier)."""
        with self._lock:
            then = self._now - timedelta(seconds=lag_s)
            q = option_quote(contract, self.spot(contract.symbol, lag_s), then, self._seed,
                             self._surface)
            if self._recorded is not None:
                session, _ = self._locate(contract.symbol, lag_s)
                q = self._recorded.quote(contract, session.day, then, q) or q
            pin = self._pins.get(contract.con_id)
            return q if pin is None else replace(q, **pin)

    def bars(
        self, symbol: str, end: datetime, duration_s: int, bar_s: int, what: str = "TRADES"
    ) -> list[Bar]:
        """Completed bars of `bar_s` seconds (86400 = one bar per session) that end at or before
        min(end, now()) and start at or after end - duration_s. Bars align to the clock (the
        first bar of a session starts at the open) and cover regular hours only."""
        if what not in WHATS:
            raise ValueError(f"unsupported whatToShow {what!r}")
        with self._lock:
            limit = min(end.timestamp(), self._now.timestamp())
            earliest = end.timestamp() - duration_s
            out: list[Bar] = []
            for session in self._sessions[symbol]:
                if session.close_s > earliest and session.open_s < limit:
                    elapsed = min(session.close_s, math.floor(limit)) - session.open_s
                    lo = _bar_floor(session, bar_s, math.ceil(earliest) - session.open_s)
                    out.extend(self._session_bars(
                        symbol, session, bar_s, what, lo, elapsed, earliest, limit))
            return out

    def session_edges(self, symbol: str) -> list[tuple[int, int, float, float]]:
        """(open, close epoch seconds, previous close, close) of each kept session, oldest first:
        what extended-hours bars (``bot.sim.hist_bars``) need, as prices do not move outside
        regular hours."""
        with self._lock:
            sessions = self._sessions[symbol]
            edges = []
            for i, s in enumerate(sessions):
                p = sessions[i - 1] if i else s
                prev = int(p.cents[-1] if i else s.cents[0]) / p.scale
                edges.append((s.open_s, s.close_s, prev, int(s.cents[-1]) / s.scale))
            return edges

    def head_time(self, symbol: str) -> datetime:
        """The start of the earliest bar the market still serves (the oldest kept session)."""
        with self._lock:
            return datetime.fromtimestamp(self._sessions[symbol][0].open_s, UTC)

    def partial_bar(self, symbol: str, bar_s: int) -> Bar:
        """The TRADES bar forming at now(); outside regular hours nothing forms, so this is the
        last bar of the most recent session (its time stays put until the next open)."""
        with self._lock:
            session, k = self._locate(symbol)
            if self._now.timestamp() >= session.close_s:
                k = session.close_s - session.open_s - 1
            lo = _bar_floor(session, bar_s, k)
            return self._session_bars(symbol, session, bar_s, "TRADES", lo, k + 1)[-1]

    def tape(self, symbol: str, lo_s: int, hi_s: int) -> list[Second]:
        """Every regular-hours second in [lo_s, hi_s) (epoch seconds) of the kept sessions up to
        now(), oldest first: the last trade, the top of book as ``quote`` shows it, and the
        shares traded in that second (what historical ticks are made of)."""
        with self._lock:
            hi_s = min(hi_s, int(self._now.timestamp()) + 1)
            spread = round(profile(symbol)[2] * 100)
            out: list[Second] = []
            for session in self._sessions[symbol]:
                a, b = max(lo_s, session.open_s), min(hi_s, session.close_s)
                for t in range(a, b):
                    k = t - session.open_s
                    last = int(session.cents[k])
                    bid, ask = (last - spread, last) if session.at_ask[k] else (last, last + spread)
                    h = stable_hash(self._seed, symbol, t)
                    out.append(Second(t, last / 100, bid / 100, ask / 100, 100 * (1 + h % 40),
                                      100 * (1 + (h >> 8) % 40), int(session.volume[k])))
            return out

    def _append(self, day: date) -> None:
        """Generate `day` for every symbol, then forget sessions beyond the history window."""
        self._days.append(day)
        following = self._following(day)
        self._next_open = (calendar.session_bounds(following)[0] if following
                           else datetime.max.replace(tzinfo=UTC))
        bounds = calendar.session_bounds(day)
        for symbol in self.symbols:
            sessions = self._sessions[symbol]
            prev_close = (int(sessions[-1].cents[-1]) / sessions[-1].scale if sessions
                          else profile(symbol)[0])
            rows = self._csv.get((symbol, day))
            if self._replay and self._replay.has(symbol):
                sessions.append(self._recorded_session(symbol, day, bounds, prev_close))
            elif rows:
                sessions.append(_replay(day, bounds, prev_close, rows))
            else:
                sessions.append(_walk(symbol, self._seed, day, bounds, prev_close))
        drop = max(0, len(self._days) - self._history_days - 1)
        for kept in (self._days, *self._sessions.values()):
            del kept[:drop]
        if self._recorded is not None:
            self._recorded.keep_only(self._days)

    def _recorded_session(self, symbol: str, day: date, bounds, prev_close: float) -> _Session:
        """The session from its recorded bars; the first replayed session opens without a gap."""
        rows = self._replay.bars(symbol, day)
        if not self._sessions[symbol] and rows:
            prev_close = float(rows[0].open)
        open_s, close_s = (int(b.timestamp()) for b in bounds)
        prices, at_ask, volume, scale = exact_session(open_s, close_s, prev_close, rows)
        return _Session(day, open_s, close_s, prices, at_ask, volume.astype(np.int32), scale)

    def _day_volume(self, symbol: str, session: _Session, k: int) -> int:
        """Shares traded in seconds [0, k] of the session, summed on from the last call so a
        quote costs the same late in the session as at the open."""
        open_s, done, total = self._volume_sums.get(symbol, (session.open_s, -1, 0))
        if open_s != session.open_s or k < done:
            done, total = -1, 0
        total += int(session.volume[done + 1 : k + 1].sum())
        self._volume_sums[symbol] = (session.open_s, k, total)
        return total

    def _locate(self, symbol: str, lag_s: int = 0) -> tuple[_Session, int]:
        """The session and second of now() - lag_s (the latest session opened by then)."""
        t = int(self._now.timestamp()) - lag_s
        sessions = self._sessions[symbol]
        session = next((x for x in reversed(sessions) if x.open_s <= t), sessions[0])
        k = t - session.open_s
        return session, max(0, min(k, len(session.cents) - 1))

    def _series(self, symbol: str, session: _Session, what: str, lo: int, n: int) -> np.ndarray:
        """Per-second prices in dollars of one whatToShow over seconds [lo, n)."""
        cents, at_ask = session.cents[lo:n], session.at_ask[lo:n]
        if what == "TRADES":
            return cents / session.scale
        spread = round(profile(symbol)[2] * session.scale)
        bid, ask = np.where(at_ask, cents - spread, cents), np.where(at_ask, cents, cents + spread)
        return {"BID": bid, "ASK": ask, "MIDPOINT": (bid + ask) / 2}[what] / session.scale

    def _session_bars(
        self, symbol: str, session: _Session, bar_s: int, what: str, lo: int, n: int,
        earliest: float = -math.inf, limit: float = math.inf,
    ) -> list[Bar]:  # fmt: skip
        """Bars over the session's seconds [lo, n) that start at or after `earliest` and end by
        `limit` (the default keeps the unfinished last bar too). `lo` must be a bar start
        (see `_bar_floor`), so the work is proportional to the bars asked for, not to how
        much of the session has passed."""
        if n <= lo:
            return []
        first, starts, ends = _segments(session, bar_s, lo, n)
        last = np.append(first[1:], n - lo) - 1
        prices = self._series(symbol, session, what, lo, n)
        highs, lows = np.maximum.reduceat(prices, first), np.minimum.reduceat(prices, first)
        shares = session.volume[lo:n].astype(np.int64)
        volume, value = np.add.reduceat(shares, first), np.add.reduceat(prices * shares, first)
        counts = np.add.reduceat((shares + 99) // 100, first)
        keep = np.flatnonzero((starts >= earliest) & (ends <= limit))
        rows = zip(starts[keep].tolist(), prices[first[keep]].tolist(), highs[keep].tolist(),
                   lows[keep].tolist(), prices[last[keep]].tolist(), volume[keep].tolist(),
                   value[keep].tolist(), counts[keep].tolist(), strict=True)  # fmt: skip
        trades = what == "TRADES"
        return [
            Bar(datetime.fromtimestamp(t, UTC), o, h, lo, c,
                *((v, round(pv / v, 4) if v else c, n_) if trades else (-1, -1.0, -1)))
            for t, o, h, lo, c, v, pv, n_ in rows
        ]  # fmt: skip


def _bar_floor(session: _Session, bar_s: int, k: int) -> int:
    """The first second of the clock-aligned bar holding second k of the session (0 for k < 0
    and for daily bars)."""
    if bar_s >= DAILY_BAR_S or k <= 0:
        return 0
    return max((session.open_s + k) // bar_s * bar_s - session.open_s, 0)


def _segments(session: _Session, bar_s: int, lo: int, n: int):
    """(first index relative to lo, start epoch, end epoch) of each clock-aligned bar over the
    seconds [lo, n)."""
    if bar_s >= DAILY_BAR_S:
        return np.array([0]), np.array([session.open_s]), np.array([session.close_s])
    bucket = (session.open_s + np.arange(lo, n)) // bar_s
    first = np.concatenate(([0], np.flatnonzero(np.diff(bucket)) + 1))
    starts = np.maximum(bucket[first] * bar_s, session.open_s)
    ends = np.minimum((bucket[first] + 1) * bar_s, session.close_s)
    return first, starts, ends
