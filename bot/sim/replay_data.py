"""Reads recorded or imported market data for a replay (``python -m bot gateway --replay DIR``).

The on-disk format, shared with the recorder and the importers that write it:

- ``DIR/bars/<SYMBOL>/<YYYY-MM-DD>.csv.gz`` (or ``.csv``): header
  ``timestamp,open,high,low,close,volume``, one row per 1-minute bar of the underlying;
  ``timestamp`` is the bar start in ISO 8601 UTC (``2026-11-20T14:31:00Z``); prices are decimal
  strings exactly as received, kept here as ``Decimal`` so a replay serves the same numbers.
- ``DIR/options/<SYMBOL>/<YYYY-MM-DD>.jsonl.gz`` (optional): one JSON object per option quote
  seen: ``ts`` (ISO UTC), ``expiry`` (YYYYMMDD), ``strike``, ``right`` (C or P), ``bid``, ``ask``,
  ``last``, ``bid_size``, ``ask_size``, ``iv``, ``delta``, ``gamma``, ``theta``, ``vega``,
  ``und_price`` (null for unknown).
- ``DIR/chains/<SYMBOL>/<YYYY-MM-DD>.json`` (optional): ``{"expiries": [...], "strikes": [...]}``.
- ``DIR/iv_surface.json`` (optional): the implied volatility surface that prices options where
  no quote was recorded (``bot.sim.options.IvSurface``, ``surface_from``).

The date in a file name is the exchange (New York) date of the session. Files are read lazily,
one session at a time, so a month of data costs the memory of the sessions the market keeps.
"""

from __future__ import annotations

import bisect
import csv
import gzip
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

BAR_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
QUOTE_FIELDS = ("bid", "ask", "last", "bid_size", "ask_size", "iv", "delta", "gamma", "theta",
                "vega", "und_price")


class ReplayDataError(ValueError):
    """A replay file that cannot be read as the format says; the message names file and row."""


@dataclass(frozen=True, slots=True)
class BarRow:
    """One recorded 1-minute bar; ``time`` is its start (aware UTC)."""

    time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int


@dataclass(frozen=True, slots=True)
class RecordedQuote:
    """One recorded option quote; None where the recording did not know the value."""

    ts: datetime
    expiry: str
    strike: float
    right: str
    bid: float | None = None
    ask: float | None = None
    last: float | None = None
    bid_size: float | None = None
    ask_size: float | None = None
    iv: float | None = None
    delta: float | None = None
    gamma: float | None = None
    theta: float | None = None
    vega: float | None = None
    und_price: float | None = None


def parse_utc(text: str) -> datetime:
    """ISO 8601 with a zone (``Z`` or an offset) -> aware UTC; a naive time is refused, since
    the format says UTC and guessing a zone would shift a whole session."""
    t = datetime.fromisoformat(text.strip())
    if t.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no zone (the format is UTC, e.g. ...Z)")
    return t.astimezone(UTC)


def _open_text(path: Path):
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def read_bars(path: Path) -> list[BarRow]:
    """The bars of one file, sorted by time; a malformed row raises ``ReplayDataError``."""
    rows: list[BarRow] = []
    with _open_text(path) as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in BAR_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise ReplayDataError(f"{path}: missing columns {missing} (need {','.join(BAR_COLUMNS)})")
        for n, row in enumerate(reader, start=2):
            try:
                prices = [Decimal(row[k].strip()) for k in ("open", "high", "low", "close")]
                volume = Decimal(row["volume"].strip() or "0")
                rows.append(BarRow(parse_utc(row["timestamp"]), *prices, int(volume)))
            except (InvalidOperation, ValueError, AttributeError) as exc:
                raise ReplayDataError(f"{path}:{n}: {exc}") from exc
    rows.sort(key=lambda r: r.time)
    return rows


def _number(value) -> float | None:
    return None if value is None else float(value)


def read_option_quotes(path: Path) -> list[RecordedQuote]:
    """The option quotes of one file, in file order (recording order)."""
    quotes: list[RecordedQuote] = []
    with _open_text(path) as handle:
        for n, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                quotes.append(RecordedQuote(
                    parse_utc(obj["ts"]), str(obj["expiry"]), float(obj["strike"]),
                    str(obj["right"]).upper()[:1],
                    **{k: _number(obj.get(k)) for k in QUOTE_FIELDS}))
            except (KeyError, TypeError, ValueError) as exc:
                raise ReplayDataError(f"{path}:{n}: {exc!r}") from exc
    return quotes


def read_chain(path: Path) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """(expiries YYYYMMDD, strikes) of one chain file."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
        return tuple(str(e) for e in obj["expiries"]), tuple(float(k) for k in obj["strikes"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ReplayDataError(f"{path}: {exc!r}") from exc


class QuoteBook:
    """One session's recorded quotes of one underlying, per contract, searchable by time."""

    def __init__(self, quotes: list[RecordedQuote]) -> None:
        by_key: dict[tuple[str, float, str], list[RecordedQuote]] = {}
        for q in sorted(quotes, key=lambda q: q.ts):
            by_key.setdefault((q.expiry, q.strike, q.right), []).append(q)
        self._quotes = by_key
        self._times = {k: [q.ts.timestamp() for q in v] for k, v in by_key.items()}

    def __len__(self) -> int:
        return sum(len(v) for v in self._quotes.values())

    def at(self, expiry: str, strike: float, right: str, t: datetime,
           max_age_s: float) -> RecordedQuote | None:
        """The latest quote of the contract at or before ``t`` and at most ``max_age_s`` old."""
        key = (expiry, float(strike), right)
        times = self._times.get(key)
        if not times:
            return None
        i = bisect.bisect_right(times, t.timestamp()) - 1
        if i < 0 or t.timestamp() - times[i] > max_age_s:
            return None
        return self._quotes[key][i]


class ReplayData:
    """A replay directory: which sessions it holds, and each session's files on demand."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        if not (self.root / "bars").is_dir():
            raise ReplayDataError(f"{self.root}: no bars/ directory (expected bars/<SYMBOL>/<date>.csv.gz)")
        self._bar_files: dict[tuple[str, date], Path] = {}
        for path in sorted((self.root / "bars").glob("*/*.csv*")):
            day = _day_of(path)
            if day is not None:
                self._bar_files[(path.parent.name, day)] = path

    def symbols(self) -> tuple[str, ...]:
        """Symbols with at least one bar file, sorted."""
        return tuple(sorted({s for s, _ in self._bar_files}))

    def days(self, symbols: tuple[str, ...] | None = None) -> list[date]:
        """Session dates with a bar file of any of ``symbols`` (all when None), sorted."""
        return sorted({d for s, d in self._bar_files if symbols is None or s in symbols})

    def has(self, symbol: str) -> bool:
        return any(s == symbol for s, _ in self._bar_files)

    def bars(self, symbol: str, day: date) -> list[BarRow]:
        """The session's bars of ``symbol`` (empty when there is no file)."""
        path = self._bar_files.get((symbol, day))
        return read_bars(path) if path else []

    def option_quotes(self, symbol: str, day: date) -> QuoteBook:
        """The session's recorded option quotes of ``symbol`` (empty when not recorded)."""
        folder = self.root / "options" / symbol
        for name in (f"{day.isoformat()}.jsonl.gz", f"{day.isoformat()}.jsonl"):
            if (folder / name).exists():
                return QuoteBook(read_option_quotes(folder / name))
        return QuoteBook([])

    def chain(self, symbol: str, day: date) -> tuple[tuple[str, ...], tuple[float, ...]] | None:
        """The recorded chain of the session, None when not recorded."""
        path = self.root / "chains" / symbol / f"{day.isoformat()}.json"
        return read_chain(path) if path.exists() else None

    def iv_surface_file(self) -> Path | None:
        path = self.root / "iv_surface.json"
        return path if path.exists() else None


def _day_of(path: Path) -> date | None:
    stem = path.name.split(".", 1)[0]
    try:
        return date.fromisoformat(stem)
    except ValueError:
        return None
