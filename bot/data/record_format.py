"""The on-disk market data format, pure: where each file goes and what one row of it says.

One layout for what the bot records, what ``fetch-history`` pulls and what ``import-csv``
converts; replay reads the same (``README.md``, "Recording, history and import"):

| file | content |
|---|---|
| ``DIR/bars/<SYMBOL>/<YYYY-MM-DD>.csv.gz`` | header ``timestamp,open,high,low,close,volume``, one row per 1-minute bar of the underlying, ``timestamp`` = bar start, ISO 8601 UTC (``2026-11-20T14:31:00Z``) |
| ``DIR/options/<SYMBOL>/<YYYY-MM-DD>.jsonl.gz`` | one JSON object per option quote seen: ``ts``, ``expiry``, ``strike``, ``right``, ``bid``, ``ask``, ``last``, ``bid_size``, ``ask_size``, ``iv``, ``delta``, ``gamma``, ``theta``, ``vega``, ``und_price`` (null when unknown) |
| ``DIR/chains/<SYMBOL>/<YYYY-MM-DD>.json`` | ``{"expiries": [...], "strikes": [...]}`` |
| ``DIR/quotes/<SYMBOL>/<YYYY-MM-DD>.jsonl.gz`` | the underlying's quotes: ``ts``, ``bid``, ``ask``, ``last``, ``bid_size``, ``ask_size``, ``volume`` (recording only) |

The date is the session day: the exchange's date (America/New_York) of the row's time.

Prices are written as the shortest decimal text that reads back as the same float: a client
decodes IB's text with ``float()``, and ``repr`` of that float is that text again (IB and the
simulator write integral values without a fraction, so those are written as integers). Replay
can therefore send exactly what was received, bit for bit.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from pathlib import PurePath
from typing import Any

from bot import messages as m
from bot.trading.market_hours import trading_day

BAR_HEADER = ("timestamp", "open", "high", "low", "close", "volume")
BAR_HEADER_LINE = ",".join(BAR_HEADER)
BARS, OPTIONS, CHAINS, QUOTES = "bars", "options", "chains", "quotes"
SUFFIX = {BARS: ".csv.gz", OPTIONS: ".jsonl.gz", CHAINS: ".json", QUOTES: ".jsonl.gz"}
OPTION_KEYS = ("ts", "expiry", "strike", "right", "bid", "ask", "last", "bid_size", "ask_size",
               "iv", "delta", "gamma", "theta", "vega", "und_price")
QUOTE_KEYS = ("ts", "bid", "ask", "last", "bid_size", "ask_size", "volume")


def data_path(root: PurePath, kind: str, symbol: str, day: date) -> PurePath:
    """``root/<kind>/<SYMBOL>/<YYYY-MM-DD><suffix>`` for kind bars, options, chains or quotes."""
    return root / kind / symbol / f"{day.isoformat()}{SUFFIX[kind]}"


def session_day(ts: datetime) -> date:
    """The exchange's (New York) date of an aware instant: which day's file a row goes to."""
    return trading_day(ts)


def iso_utc(ts: datetime) -> str:
    """``2026-11-20T14:31:00Z`` (with ``.ffffff`` only when there are microseconds)."""
    utc = ts.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{utc.microsecond:06d}Z" if utc.microsecond else f"{text}Z"


def parse_iso_utc(text: str) -> datetime:
    """The aware UTC instant of an ``iso_utc`` text (raises ValueError otherwise)."""
    ts = datetime.fromisoformat(text)
    if ts.tzinfo is None:
        raise ValueError(f"timestamp without a zone: {text!r}")
    return ts.astimezone(UTC)


def decimal_text(value: float) -> str:
    """The shortest text that reads back as exactly ``value``; integral values without ``.0``
    (as IB and the simulator write them). Raises ValueError for nan or infinity."""
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def bar_row(bar: m.Bar) -> str:
    """One CSV line (no newline) of a bar, in ``BAR_HEADER`` order."""
    prices = (bar.open, bar.high, bar.low, bar.close, bar.volume)
    return ",".join((iso_utc(bar.start), *(decimal_text(v) for v in prices)))


def bar_from_row(symbol: str, row: str) -> m.Bar:
    """The bar of one CSV line written by ``bar_row`` (raises ValueError when malformed)."""
    parts = row.strip().split(",")
    if len(parts) != len(BAR_HEADER):
        raise ValueError(f"expected {len(BAR_HEADER)} fields, got {len(parts)}")
    o, h, lo, c, v = (float(p) for p in parts[1:])
    return m.Bar(symbol, parse_iso_utc(parts[0]), o, h, lo, c, v)


def _price(value: float | None) -> float | None:
    """A quote's figure, None when unknown (quotes carry 0.0 for a missing side)."""
    if value is None or not math.isfinite(value) or value <= 0:
        return None
    return value


def _figure(value: float | None) -> float | None:
    """A greek (may be negative or zero), None when unknown."""
    return value if value is not None and math.isfinite(value) else None


def option_record(quote: m.Quote, ts: datetime) -> dict[str, Any]:
    """One options-file object of an option quote stamped at market time ``ts``."""
    option = quote.instrument
    if not isinstance(option, m.OptionContract):
        raise TypeError(f"not an option quote: {option!r}")
    return {
        "ts": iso_utc(ts), "expiry": option.expiry, "strike": float(option.strike),
        "right": option.right.value, "bid": _price(quote.bid), "ask": _price(quote.ask),
        "last": _price(quote.last), "bid_size": quote.bid_size, "ask_size": quote.ask_size,
        "iv": _figure(quote.iv), "delta": _figure(quote.delta), "gamma": _figure(quote.gamma),
        "theta": _figure(quote.theta), "vega": _figure(quote.vega),
        "und_price": _price(quote.und_price),
    }


def quote_record(quote: m.Quote, ts: datetime) -> dict[str, Any]:
    """One quotes-file object of an underlying's quote stamped at market time ``ts``."""
    return {"ts": iso_utc(ts), "bid": _price(quote.bid), "ask": _price(quote.ask),
            "last": _price(quote.last), "bid_size": quote.bid_size, "ask_size": quote.ask_size,
            "volume": quote.volume}


def chain_record(chain: m.OptionChain) -> dict[str, Any]:
    """The chains-file object: expiries and strikes, sorted."""
    return {"expiries": sorted(chain.expirations), "strikes": sorted(float(s) for s in chain.strikes)}
