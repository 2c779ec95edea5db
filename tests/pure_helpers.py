"""Builders shared by the tests of the pure trading logic (bars, quotes, settings, instants)."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.app.config import OptionSettings, RiskSettings, StrategySettings
from bot.messages import Bar, OptionContract, OrderSpec, OrderType, Quote, Right, Side
from bot.trading.market_hours import NY

UTC = UTC


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
       second: int = 0) -> datetime:
    """An aware New York wall-clock instant, converted to UTC."""
    return datetime(year, month, day, hour, minute, second, tzinfo=NY).astimezone(UTC)


def bar(close: float, start: datetime, *, high: float | None = None, low: float | None = None,
        volume: float = 1000.0, symbol: str = "SPY") -> Bar:
    """A 1-minute bar; high/low default to the close."""
    return Bar(symbol=symbol, start=start, open=close, high=close if high is None else high,
               low=close if low is None else low, close=close, volume=volume)


def minute_bars(closes: list[float], start: datetime, volume: float = 1000.0) -> list[Bar]:
    """Consecutive flat 1-minute bars, one per close."""
    return [bar(c, start + timedelta(minutes=i), volume=volume) for i, c in enumerate(closes)]


def option(strike: float, right: Right = Right.CALL, expiry: str = "20240614",
           symbol: str = "SPY") -> OptionContract:
    return OptionContract(symbol=symbol, expiry=expiry, strike=strike, right=right)


def option_quote(strike: float, bid: float, ask: float, ts: datetime, *, volume: float = 500.0,
                 delta: float | None = None, right: Right = Right.CALL) -> Quote:
    return Quote(instrument=option(strike, right), bid=bid, ask=ask, last=(bid + ask) / 2,
                 ts=ts, volume=volume, delta=delta)


def strategy(**fields: Any) -> StrategySettings:
    return StrategySettings.model_validate(fields)


def options_cfg(**fields: Any) -> OptionSettings:
    return OptionSettings.model_validate(fields)


def risk_cfg(**fields: Any) -> RiskSettings:
    return RiskSettings.model_validate(fields)


RECOVERED_CONTRACT = OptionContract("SPY", "20261120", 598.0, Right.CALL, con_id=42)
RECOVERED_INTENT = "SPY-202611201455-abc123"


def bracket_specs(iid: str = RECOVERED_INTENT) -> tuple[OrderSpec, OrderSpec, OrderSpec]:
    """Entry, take-profit and stop as the bot writes them: 2 contracts at 1.60, TP 2.08, SL 1.28."""
    oca = f"oca-{iid}"
    return (OrderSpec(f"{iid}.entry", Side.BUY, 2, OrderType.LIMIT, limit_price=1.60),
            OrderSpec(f"{iid}.tp", Side.SELL, 2, OrderType.LIMIT, limit_price=2.08, oca_group=oca),
            OrderSpec(f"{iid}.sl", Side.SELL, 2, OrderType.STOP, stop_price=1.28, oca_group=oca))


def wal_commits(db: Path) -> int:
    """Commit frames in ``db``'s write-ahead log (frames of the current WAL generation)."""
    wal = Path(f"{db}-wal")
    data = wal.read_bytes() if wal.exists() else b""
    if len(data) < 32:
        return 0
    page_size = struct.unpack(">I", data[8:12])[0]
    salts = data[16:24]
    commits, offset = 0, 32
    while offset + 24 + page_size <= len(data):
        header = data[offset:offset + 24]
        if header[8:16] != salts:
            break
        commits += struct.unpack(">I", header[4:8])[0] != 0
        offset += 24 + page_size
    return commits
