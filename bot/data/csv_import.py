"""``import-csv``: 1-minute bars from a CSV file into the replay format, one file per session day.

The input: a header naming ``timestamp,open,high,low,close,volume`` (any order, more columns
ignored), one bar per row. ``timestamp`` is the bar's start: ISO 8601 with an offset or ``Z``,
ISO without one (read in ``--tz``, New York by default), or epoch seconds. Every row is checked
and a bad one is reported with its line number and left out; the rest is imported:

- a timestamp that does not parse, is not on a whole minute, or repeats an earlier row's;
- a price that is not a positive finite number, a volume that is negative or not a number;
- a high under the open, close or low, or a low over the open or close.

Bars outside the regular session (pre- and after-market, weekends, holidays) are counted and
left out, not errors: the bot trades and replays regular hours (its bars are ``useRTH=1``).
Prices are written as ``record_format.decimal_text`` of the number read (``600.50`` becomes
``600.5``: the same float). Each day's file is replaced at once by the day's imported bars.
"""

from __future__ import annotations

import csv
import gzip
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot import messages as m
from bot.data.gzip_members import write_atomically
from bot.data.record_format import BAR_HEADER, BAR_HEADER_LINE, BARS, bar_row, data_path, session_day
from bot.trading.exchange_calendar import session_bounds


@dataclass
class Parsed:
    """What a CSV held: bars per session day, bad rows by line, rows outside regular hours."""

    days: dict[date, list[m.Bar]] = field(default_factory=dict)
    problems: list[tuple[int, str]] = field(default_factory=list)
    outside_hours: int = 0

    @property
    def bars(self) -> int:
        return sum(len(b) for b in self.days.values())


def parse_timestamp(text: str, tz: ZoneInfo) -> datetime:
    """A bar start as aware UTC: epoch seconds, ISO with an offset, or naive ISO in ``tz``."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        ts = datetime.fromisoformat(text)  # raises ValueError when it is not ISO either
        return (ts.replace(tzinfo=tz) if ts.tzinfo is None else ts).astimezone(UTC)
    if not math.isfinite(seconds):
        raise ValueError(f"not a time: {text!r}")
    return datetime.fromtimestamp(seconds, UTC)


def _number(row: dict[str, str], key: str) -> float:
    text = (row.get(key) or "").strip()
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{key} is not a number: {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{key} is not finite: {text!r}")
    return value


def parse_bar(symbol: str, row: dict[str, str], tz: ZoneInfo) -> m.Bar:
    """One row's bar, or ValueError saying what is wrong with it."""
    try:
        start = parse_timestamp(row.get("timestamp") or "", tz)
    except (ValueError, OverflowError, OSError):
        raise ValueError(f"timestamp not understood: {(row.get('timestamp') or '').strip()!r}") from None
    if start.second or start.microsecond:
        raise ValueError(f"timestamp not on a whole minute: {start.isoformat()}")
    o, h, lo, c, v = (_number(row, k) for k in BAR_HEADER[1:])
    if min(o, h, lo, c) <= 0:
        raise ValueError("prices must be positive")
    if v < 0:
        raise ValueError("volume must not be negative")
    if h < max(o, c, lo) or lo > min(o, c):
        raise ValueError(f"high {h:g} / low {lo:g} do not bound open {o:g} and close {c:g}")
    return m.Bar(symbol, start, o, h, lo, c, v)


def _normalised(header: Iterable[str] | None) -> list[str]:
    return [(name or "").strip().lower() for name in (header or [])]


def parse_csv(lines: Iterable[str], symbol: str, tz: ZoneInfo) -> Parsed:
    """Every row of a CSV read (line numbers as an editor shows them: the header is line 1).
    Raises ValueError when the header does not name the six columns."""
    reader = csv.DictReader(lines)
    header = _normalised(reader.fieldnames)
    missing = [k for k in BAR_HEADER if k not in header]
    if missing:
        raise ValueError(f"the header must name {BAR_HEADER_LINE}; missing: {','.join(missing)}")
    reader.fieldnames = header
    parsed, seen = Parsed(), {}
    for row in reader:
        line = reader.line_num
        if None in row or any(v is None for v in row.values()):
            parsed.problems.append((line, f"expected {len(header)} fields"))
            continue
        try:
            bar = parse_bar(symbol, row, tz)
        except ValueError as exc:
            parsed.problems.append((line, str(exc)))
            continue
        if bar.start in seen:
            parsed.problems.append((line, f"repeats the bar of line {seen[bar.start]}"))
            continue
        seen[bar.start] = line
        day = session_day(bar.start)
        bounds = session_bounds(day)
        if bounds is None or not bounds[0] <= bar.start < bounds[1]:
            parsed.outside_hours += 1
            continue
        parsed.days.setdefault(day, []).append(bar)
    return parsed


def write_days(root: Path, symbol: str, parsed: Parsed) -> list[tuple[date, int, Path]]:
    """Replace each day's bars file by the day's bars (time order); (day, bars, path) each."""
    written = []
    for day in sorted(parsed.days):
        bars = sorted(parsed.days[day], key=lambda b: b.start)
        path = Path(data_path(root, BARS, symbol, day))
        text = "\n".join([BAR_HEADER_LINE, *(bar_row(b) for b in bars)]) + "\n"
        write_atomically(path, gzip.compress(text.encode(), mtime=0))
        written.append((day, len(bars), path))
    return written
