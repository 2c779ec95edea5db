"""Write synthetic 1-minute bars in the replay format (``bot/sim/replay_data.py``).

    python scripts/make_replay_data.py --out data/synthetic --days 20 --symbols SPY,QQQ,IWM

For measuring and trying the backtest without recorded data: a seeded random walk per symbol
(one file per session day, the last ``--days`` NYSE sessions up to ``--end``), prices in cents
as IB sends them. Not market data: never judge a strategy on it.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import random
from datetime import date, timedelta
from pathlib import Path

from bot.trading.exchange_calendar import is_session_day, session_bounds

START_PRICES = {"SPY": 590.0, "QQQ": 510.0, "IWM": 230.0}


def session_days(end: date, count: int) -> list[date]:
    days, d = [], end
    while len(days) < count:
        if is_session_day(d):
            days.append(d)
        d -= timedelta(days=1)
    return sorted(days)


def write_day(out: Path, symbol: str, day: date, price: float, rng: random.Random) -> float:
    """One session of bars; returns the close."""
    open_t, close_t = session_bounds(day)
    minutes = int((close_t - open_t).total_seconds() // 60)
    text = io.StringIO()
    w = csv.writer(text, lineterminator="\n")
    w.writerow(["timestamp", "open", "high", "low", "close", "volume"])
    sigma = 0.15 / (252 * 390) ** 0.5
    for i in range(minutes):
        o = price
        c = max(1.0, o * (1 + rng.gauss(0, sigma) + 0.4 * sigma * ((i // 45) % 2 * 2 - 1)))
        h = max(o, c) * (1 + abs(rng.gauss(0, sigma / 3)))
        lo = min(o, c) * (1 - abs(rng.gauss(0, sigma / 3)))
        t = (open_t + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        w.writerow([t, f"{o:.2f}", f"{h:.2f}", f"{lo:.2f}", f"{c:.2f}", rng.randint(20_000, 90_000)])
        price = round(c, 2)
    folder = out / "bars" / symbol
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{day.isoformat()}.csv.gz").write_bytes(
        gzip.compress(text.getvalue().encode(), mtime=0))
    return price


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--days", type=int, default=20)
    p.add_argument("--symbols", default="SPY,QQQ,IWM")
    p.add_argument("--end", type=date.fromisoformat, default=date(2026, 11, 20))
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    days = session_days(args.end, args.days)
    for symbol in (s.strip().upper() for s in args.symbols.split(",") if s.strip()):
        rng = random.Random(f"{args.seed}-{symbol}")
        price = START_PRICES.get(symbol, 100.0)
        for day in days:
            price = write_day(args.out, symbol, day, price, rng)
    print(f"wrote {len(days)} days ({days[0]} .. {days[-1]}) to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
