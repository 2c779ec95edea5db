"""The bars reqHistoricalData serves, per contract kind, whatToShow, bar size and useRTH.

``Market.bars`` gives regular-hours TRADES/MIDPOINT/BID/ASK bars of an underlying; this module
builds the rest of what IB serves from them (pure functions of the market's answers):

- useRTH=0 (bars under a day): the extended session 04:00-09:30 and 16:00-20:00 New York (the
  after-hours end 4 hours after an early close) joins the regular bars. Prices do not move
  outside regular hours (the market's model), so pre-market bars sit at the previous close and
  post-market bars at the close, with a thin volume (``EXTENDED_VOLUME_SHARE`` of the regular
  rate). A bar straddling the open or the close merges both parts (clock-aligned buckets).
- 1 week / 1 month: daily bars merged per ISO week / calendar month (regular hours).
- BID_ASK: time-average bid, highest ask, lowest bid, time-average ask (IB's definition);
  ADJUSTED_LAST: TRADES (prices never drop on ex-dates and there are no splits); HISTORICAL_VOLATILITY:
  each bar's realised volatility of one-minute returns, annualised; OPTION_IMPLIED_VOLATILITY:
  the 30-day at-the-money implied volatility of the smile at each bar's price. Bars other
  than TRADES carry -1 as volume, wap and count, as IB sends them.
- Options: TRADES and MIDPOINT bars while unexpired, valued with Black-Scholes at the
  smile's volatility from the underlying's bar prices (regular hours); TRADES bars on the
  option's tick grid with a thin volume. An expired option has none (``None``).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta

from bot.sim import options
from bot.sim.calendar import NY
from bot.sim.contracts import stable_hash
from bot.sim.hist_params import DAY_S, MONTH_S, WEEK_S
from bot.sim.market import TRADING_SECONDS_PER_YEAR, Bar, profile

EXTENDED_OPEN = time(4, 0)
EXTENDED_AFTER_S = 4 * 3600
"""The after-hours session lasts 4 hours past the regular close (20:00 on a normal day)."""
EXTENDED_VOLUME_SHARE = 0.02
"""Extended-hours volume per second as a share of the regular session's average rate."""
IV_DAYS = 30
"""OPTION_IMPLIED_VOLATILITY bars show the implied volatility of this many days to expiry."""
VOL_STEP_S = 60
"""HISTORICAL_VOLATILITY: the return interval whose spread is annualised."""


def serve(market, contract, end: datetime, duration_s: int, bar_s: int, what: str,
          use_rth: bool, seed: int = 0) -> list[Bar] | None:
    """The bars of one request (see the module docstring); None when the contract has none
    (an expired option)."""
    if contract.sec_type == "OPT":
        return option_bars(market, contract, end, duration_s, bar_s, what, seed)
    symbol = contract.symbol
    if what == "BID_ASK":
        bids = underlying_bars(market, symbol, end, duration_s, bar_s, "BID", use_rth)
        asks = underlying_bars(market, symbol, end, duration_s, bar_s, "ASK", use_rth)
        return [_bid_ask(b, a) for b, a in zip(bids, asks, strict=True)]
    if what in ("HISTORICAL_VOLATILITY", "OPTION_IMPLIED_VOLATILITY"):
        trades = underlying_bars(market, symbol, end, duration_s, bar_s, "TRADES", use_rth)
        vol = _realised_vol if what == "HISTORICAL_VOLATILITY" else _atm_implied_vol
        return [_flat(b, vol(market, symbol, b, bar_s)) for b in trades]
    what = "TRADES" if what == "ADJUSTED_LAST" else what
    return underlying_bars(market, symbol, end, duration_s, bar_s, what, use_rth)


def underlying_bars(market, symbol: str, end: datetime, duration_s: int, bar_s: int,
                    what: str, use_rth: bool) -> list[Bar]:
    """TRADES/MIDPOINT/BID/ASK bars of a stock or index of any legal size."""
    if bar_s in (WEEK_S, MONTH_S):
        daily = market.bars(symbol, end, duration_s, DAY_S, what)
        return _merge_by(daily, _week_key if bar_s == WEEK_S else _month_key)
    bars = market.bars(symbol, end, duration_s, bar_s, what)
    if use_rth or bar_s >= DAY_S:
        return bars
    extended = _extended_bars(market, symbol, end, duration_s, bar_s, what)
    return _merge_by(sorted(bars + extended, key=lambda b: b.time),
                     lambda b: int(b.time.timestamp()) // bar_s)


def _extended_bars(market, symbol: str, end: datetime, duration_s: int, bar_s: int,
                   what: str) -> list[Bar]:
    limit = min(end, market.now()).timestamp()
    earliest = end.timestamp() - duration_s
    spread = profile(symbol)[2]
    rate = profile(symbol)[1] / 23_400 * EXTENDED_VOLUME_SHARE
    out: list[Bar] = []
    for open_s, close_s, prev_close, close in market.session_edges(symbol):
        day = datetime.fromtimestamp(open_s, NY).date()
        pre_s = int(datetime.combine(day, EXTENDED_OPEN, tzinfo=NY).timestamp())
        for a, b, price in ((pre_s, open_s, prev_close), (close_s, close_s + EXTENDED_AFTER_S,
                                                          close)):
            quoted = {"TRADES": price, "BID": price - spread, "ASK": price,
                      "MIDPOINT": price - spread / 2}[what]
            start = max(a, math.ceil(earliest)) // bar_s * bar_s
            for t in range(start, b, bar_s):
                lo, hi = max(t, a), min(t + bar_s, b)
                if hi > limit:
                    break
                if lo < earliest:
                    continue
                out.append(_extended_bar(symbol, lo, hi, quoted, what == "TRADES", rate))
    return out


def _extended_bar(symbol: str, lo: int, hi: int, price: float, trades: bool,
                  rate: float) -> Bar:
    t = datetime.fromtimestamp(lo, UTC)
    if not trades:
        return Bar(t, price, price, price, price, -1, -1.0, -1)
    jitter = 0.5 + stable_hash("ext", symbol, lo) % 100 / 100  # 0.5-1.5 x the mean rate
    shares = int(rate * (hi - lo) * jitter) // 100 * 100
    return Bar(t, price, price, price, price, shares, price, shares // 100)


def _merge_by(bars: list[Bar], key) -> list[Bar]:
    """Consecutive bars with the same key merged into one (first open, extremes, last close,
    summed volume and count, volume-weighted wap; -1 stays -1)."""
    out: list[Bar] = []
    keys: list = []
    for bar in bars:
        k = key(bar)
        if keys and keys[-1] == k:
            out[-1] = _join(out[-1], bar)
        else:
            keys.append(k)
            out.append(bar)
    return out


def _join(a: Bar, b: Bar) -> Bar:
    if a.volume < 0 or b.volume < 0:
        volume, wap, count = -1, -1.0, -1
    else:
        volume, count = a.volume + b.volume, a.count + b.count
        wap = round((a.wap * a.volume + b.wap * b.volume) / volume, 4) if volume else b.close
    return Bar(a.time, a.open, max(a.high, b.high), min(a.low, b.low), b.close, volume, wap,
               count)


def _week_key(bar: Bar) -> tuple[int, int]:
    return bar.time.astimezone(NY).date().isocalendar()[:2]


def _month_key(bar: Bar) -> tuple[int, int]:
    day = bar.time.astimezone(NY).date()
    return day.year, day.month


def _bid_ask(bid: Bar, ask: Bar) -> Bar:
    mean_bid = round((bid.open + bid.close) / 2, 4)
    mean_ask = round((ask.open + ask.close) / 2, 4)
    return Bar(bid.time, mean_bid, ask.high, bid.low, mean_ask, -1, -1.0, -1)


def _flat(bar: Bar, value: float) -> Bar:
    value = round(value, 6)
    return Bar(bar.time, value, value, value, value, -1, -1.0, -1)


def _realised_vol(market, symbol: str, bar: Bar, bar_s: int) -> float:
    """Annualised spread of the one-minute log returns within the bar (the bar's own range
    for bars shorter than two minutes)."""
    step = VOL_STEP_S if bar_s >= 2 * VOL_STEP_S else 1
    end = bar.time + timedelta(seconds=min(bar_s, DAY_S))
    inner = market.bars(symbol, end, min(bar_s, DAY_S), step, "TRADES")
    closes = [b.close for b in inner if b.time >= bar.time]
    if len(closes) < 3:
        return options.base_vol(symbol)
    returns = [math.log(b / a) for a, b in zip(closes, closes[1:], strict=False)]
    mean = sum(returns) / len(returns)
    var = sum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
    return math.sqrt(var * TRADING_SECONDS_PER_YEAR / step)


def _atm_implied_vol(market, symbol: str, bar: Bar, bar_s: int) -> float:
    return options.implied_vol(symbol, bar.close, bar.close, IV_DAYS / 365.0)


def option_bars(market, contract, end: datetime, duration_s: int, bar_s: int, what: str,
                seed: int) -> list[Bar] | None:
    """TRADES or MIDPOINT bars of an unexpired option from its underlying's bars."""
    if options.years_to_expiry(contract.expiry, market.now()) <= 0:
        return None
    under = underlying_bars(market, contract.symbol, end, duration_s, bar_s, "TRADES", True)
    return [_option_bar(contract, b, bar_s, what == "TRADES", seed) for b in under]


def _option_bar(contract, under: Bar, bar_s: int, trades: bool, seed: int) -> Bar:
    bar_end = under.time + timedelta(seconds=min(bar_s, DAY_S))
    t = max(options.years_to_expiry(contract.expiry, bar_end), options.MIN_T_YEARS)

    pv = options.dividend_pv(contract, bar_end)

    def value(spot: float) -> float:
        spot = max(spot - pv, options.TICK)  # escrowed dividends, as the live quotes
        vol = options.implied_vol(contract.symbol, spot, contract.strike, t)
        price = options.bs_price(spot, contract.strike, t, options.RATE, vol, contract.right)
        if not trades:
            return round(max(price, options.TICK / 2), 4)
        tick = options.option_tick(contract.symbol, price)
        return max(options.TICK, round(round(price / tick) * tick, 2))

    prices = [value(p) for p in (under.open, under.high, under.low, under.close)]
    o, c = prices[0], prices[3]
    high, low = max(prices), min(prices)
    if not trades:
        return Bar(under.time, o, high, low, c, -1, -1.0, -1)
    contracts = stable_hash(seed, contract.con_id, int(under.time.timestamp())) % 50
    return Bar(under.time, o, high, low, c, contracts, round((o + c) / 2, 4), contracts // 5 + 1)


def extended_open(day: date) -> datetime:
    """04:00 New York on ``day``: where useRTH=0 data of a session begins."""
    return datetime.combine(day, EXTENDED_OPEN, tzinfo=NY)
