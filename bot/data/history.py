"""``fetch-history``: which sessions to pull, which are already on disk, and writing a day.

Resumable: a day is written whole, at once (one gzip member in a temporary file renamed over
the old one), only after its bars arrived, so an interrupted run leaves complete files or
none. A day whose file already spans its whole session (first bar at the open, last bar one
minute before the close) is skipped; any other (missing, unreadable, cut short: a recording
that began late, an import of part of a day) is fetched again and replaced.

The connection is ``bot.ib.history.HistoryClient``; this module only needs a ``fetch(symbol,
session_close) -> bars`` callable, so the plan and the resume logic are tested without one.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from bot import messages as m
from bot.data.gzip_members import read_members, write_atomically
from bot.data.record_format import BAR_HEADER_LINE, BARS, bar_row, data_path, parse_iso_utc, session_day
from bot.trading.exchange_calendar import previous_session_day, session_bounds

MINUTE = timedelta(minutes=1)
Fetch = Callable[[str, datetime], list[m.Bar]]


def sessions_to_fetch(now: datetime, days: int) -> list[date]:
    """The ``days`` most recent sessions that closed at or before ``now``, oldest first."""
    day = session_day(now)
    bounds = session_bounds(day)
    if bounds is None or now < bounds[1]:
        day = previous_session_day(day)  # a session day, as every one this returns
    out: list[date] = []
    while len(out) < days:
        out.append(day)
        day = previous_session_day(day)
    return out[::-1]


def day_complete(path: Path, day: date) -> bool:
    """True when the bars file of ``day`` holds its session's first and last minute."""
    bounds = session_bounds(day)
    if bounds is None:
        return False
    try:
        rows = [r for r in read_members(path).decode().splitlines() if r and r != BAR_HEADER_LINE]
        if not rows:
            return False
        first, last = (parse_iso_utc(r.split(",", 1)[0]) for r in (rows[0], rows[-1]))
    except (OSError, ValueError):
        return False
    return first == bounds[0] and last == bounds[1] - MINUTE


def session_rows(bars: Iterable[m.Bar], day: date) -> list[str]:
    """The rows of ``day``'s regular session, in time order, each minute once."""
    bounds = session_bounds(day)
    if bounds is None:
        return []
    by_start = {b.start: b for b in bars if bounds[0] <= b.start < bounds[1]}
    return [bar_row(by_start[t]) for t in sorted(by_start)]


def write_day(path: Path, rows: list[str]) -> None:
    """Replace the day's bars file by ``rows`` (with the header) at once."""
    text = "\n".join([BAR_HEADER_LINE, *rows]) + "\n"
    write_atomically(path, gzip.compress(text.encode(), mtime=0))


@dataclass(frozen=True)
class DayResult:
    symbol: str
    day: date
    outcome: str
    """``skipped`` (complete on disk), ``fetched``, ``partial`` (written, not the whole
    session: fetched again next time) or ``no_data``."""
    bars: int = 0

    def line(self) -> str:
        return f"history_{self.outcome} symbol={self.symbol} day={self.day.isoformat()} bars={self.bars}"


def fetch_history(root: Path, symbols: Iterable[str], days: list[date], fetch: Fetch,
                  report: Callable[[DayResult], None] = lambda _r: None) -> list[DayResult]:
    """Fetch every (symbol, day) not complete on disk; one request per session."""
    results = []
    for symbol in symbols:
        for day in days:
            path = Path(data_path(root, BARS, symbol, day))
            bounds = session_bounds(day)
            if bounds is None:
                continue
            if day_complete(path, day):
                result = DayResult(symbol, day, "skipped")
            else:
                rows = session_rows(fetch(symbol, bounds[1]), day)
                if rows:
                    write_day(path, rows)
                    whole = day_complete(path, day)
                    result = DayResult(symbol, day, "fetched" if whole else "partial", len(rows))
                else:
                    result = DayResult(symbol, day, "no_data")
            report(result)
            results.append(result)
    return results
