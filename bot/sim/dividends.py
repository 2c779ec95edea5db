"""Cash dividends of the simulated underlyings: a fixed quarterly (or monthly) schedule per
symbol, their present value until an option's expiry, and IB's dividends tick.

- Schedule: each payer goes ex on a fixed day of its months: the month's third Friday moved by
  a few days (SPY on it, QQQ the Monday after, ...), with a constant amount per share (round
  figures of the funds' and companies' recent dividends). Symbols not listed, indexes and
  options pay none. Prices do not drop on the ex-date (the random walk ignores dividends).
- ``pv_dividends``: the present value, at the simulator's rate, of the dividends going ex
  after ``now`` and by ``until`` (an option's expiry); IB sends it as the pvDividend of its
  option computations, and the option model prices on the spot less it (escrowed dividends).
- ``dividends_tick``: generic tick 456 (tick type 59, "IB Dividends"), a tickString
  "past 12 months,next 12 months,next ex-date,next amount", e.g. "6.92,7.12,20261218,1.78";
  a symbol without dividends sends "0,0,,".

Pure functions of their arguments: no clock.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta

from bot.sim.calendar import NY

QUARTERS_MAR = (3, 6, 9, 12)
QUARTERS_FEB = (2, 5, 8, 11)
EVERY_MONTH = tuple(range(1, 13))
SCHEDULES: dict[str, tuple[float, tuple[int, ...], int]] = {
    "SPY": (1.78, QUARTERS_MAR, 0),
    "QQQ": (0.72, QUARTERS_MAR, 3),
    "IWM": (0.75, QUARTERS_MAR, 4),
    "DIA": (0.45, EVERY_MONTH, 0),
    "AAPL": (0.26, QUARTERS_FEB, -11),
    "MSFT": (0.83, QUARTERS_FEB, -1),
    "NVDA": (0.01, QUARTERS_MAR, -7),
    "META": (0.525, QUARTERS_MAR, -4),
    "GOOGL": (0.21, QUARTERS_MAR, -11),
}
"""symbol -> (amount per share, months it goes ex in, days from the month's third Friday)."""
EX_TIME = time(9, 30)
"""An ex-date takes effect at the open: a stock bought before then carries the dividend."""
YEAR = timedelta(days=365)


def _third_friday(year: int, month: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 14)


def ex_dates(symbol: str, start: date, end: date) -> list[tuple[date, float]]:
    """(ex-date, amount) of the symbol's dividends with start < ex-date <= end, in order."""
    if symbol not in SCHEDULES:
        return []
    amount, months, shift = SCHEDULES[symbol]
    found = []
    for year in range(start.year, end.year + 1):
        for month in months:
            day = _third_friday(year, month) + timedelta(days=shift)
            if start < day <= end:
                found.append((day, amount))
    return sorted(found)


def _ex_instant(day: date) -> datetime:
    return datetime.combine(day, EX_TIME, tzinfo=NY)


def pv_dividends(symbol: str, now: datetime, until: datetime, rate: float) -> float:
    """Present value at ``now`` of the dividends going ex after ``now`` and by ``until``."""
    if until <= now:
        return 0.0
    local = now.astimezone(NY)
    total = 0.0
    for day, amount in ex_dates(symbol, local.date() - timedelta(days=1), until.astimezone(NY).date()):
        ex = _ex_instant(day)
        if now < ex <= until:
            total += amount * math.exp(-rate * (ex - now).total_seconds() / (365.0 * 86400))
    return total


def dividends_tick(symbol: str, now: datetime) -> str:
    """IB's tick 59 value: past 12 months, next 12 months, next ex-date, next amount."""
    today = now.astimezone(NY).date()
    before_open = now < _ex_instant(today)
    past = ex_dates(symbol, today - YEAR, today - timedelta(days=1) if before_open else today)
    ahead = ex_dates(symbol, today - timedelta(days=1) if before_open else today, today + YEAR)
    if not past and not ahead:
        return "0,0,,"
    next_day, next_amount = ahead[0] if ahead else (None, None)
    return ",".join([
        _money(sum(a for _, a in past)), _money(sum(a for _, a in ahead)),
        next_day.strftime("%Y%m%d") if next_day else "", _money(next_amount) if next_amount else "",
    ])


def _money(x: float) -> str:
    return f"{x:.4f}".rstrip("0").rstrip(".")
