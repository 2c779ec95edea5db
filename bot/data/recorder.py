"""The recording's two halves: a bounded row buffer (memory only) and the disk writer.

Used by ``actors/recorder.py``: its actor thread formats what arrives into a ``RowBuffer`` and
never touches the disk; its writer thread takes what the buffer holds (``take``) and writes it
with a ``DiskWriter``. So a slow or stalled disk never stops the actor from answering its pings
or draining its mailbox: the buffer fills up to its limit and what comes beyond is dropped and
counted (``dropped``), the bot trading on.

Rows are formatted by ``bot.data.record_format``; the writer appends one gzip member per file
per batch (``bot.data.gzip_members``) and rewrites a chain file when the chain changed.

Bars are written once each: the buffer skips a bar at or before the last one it took for the
same symbol and day (the backfill sent again after a reconnect), and the writer skips a row at
or before the last one in its file (the next run's backfill), reading that last row back the
first time it touches the file, after cutting off a member a killed process left incomplete.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from bot import messages as m
from bot.data.gzip_members import append_member, read_members, repair_tail, write_atomically
from bot.data.record_format import (
    BAR_HEADER_LINE,
    BARS,
    CHAINS,
    OPTIONS,
    QUOTES,
    bar_row,
    chain_record,
    data_path,
    option_record,
    quote_record,
    session_day,
)

KEEP_DAYS = 5
"""Days of last-bar bookkeeping kept (a reconnect's backfill spans 3 sessions)."""


@dataclass
class Batch:
    """What one write covers: rows per file (in arrival order) and chain files' content."""

    rows: dict[Path, list[str]] = field(default_factory=dict)
    chains: dict[Path, bytes] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.rows or self.chains)


class RowBuffer:
    """Formatted rows waiting for the writer, at most ``limit`` of them (thread-safe)."""

    def __init__(self, root: Path, limit: int) -> None:
        self.root = root
        self.limit = limit
        self.dropped = 0
        self.duplicate_bars = 0
        self._lock = threading.Lock()
        self._batch = Batch()
        self._buffered = 0
        self._last_bar: dict[tuple[str, date], datetime] = {}
        self._chains: dict[Path, bytes] = {}

    @property
    def buffered(self) -> int:
        return self._buffered

    def add_bar(self, bar: m.Bar) -> bool:
        """Buffer a bar of the underlying; False when skipped (seen already, or no room)."""
        day = session_day(bar.start)
        last = self._last_bar.get((bar.symbol, day))
        if last is not None and bar.start <= last:
            self.duplicate_bars += 1
            return False
        if not self._add(Path(data_path(self.root, BARS, bar.symbol, day)), bar_row(bar)):
            return False
        self._last_bar[(bar.symbol, day)] = bar.start
        if len(self._last_bar) > 4 * KEEP_DAYS * 32:  # symbols are at most 32: keep it small
            cutoff = sorted({d for _, d in self._last_bar})[-KEEP_DAYS]
            self._last_bar = {k: v for k, v in self._last_bar.items() if k[1] >= cutoff}
        return True

    def add_quote(self, quote: m.Quote, ts: datetime) -> bool:
        """Buffer a quote stamped at market time ``ts``: an option's goes to the options file,
        the underlying's to the quotes file. False when there was no room."""
        instrument = quote.instrument
        if isinstance(instrument, m.OptionContract):
            kind, record = OPTIONS, option_record(quote, ts)
        else:
            kind, record = QUOTES, quote_record(quote, ts)
        path = Path(data_path(self.root, kind, instrument.symbol, session_day(ts)))
        return self._add(path, json.dumps(record, separators=(",", ":")))

    def add_chain(self, chain: m.OptionChain, day: date) -> None:
        """Keep the day's chain; handed to the writer when it differs from the last one."""
        if not chain.expirations and not chain.strikes:
            return  # "no chain" is not a chain
        path = Path(data_path(self.root, CHAINS, chain.symbol, day))
        payload = json.dumps(chain_record(chain), separators=(",", ":")).encode()
        if self._chains.get(path) != payload:
            self._chains = {p: v for p, v in self._chains.items() if p.parent != path.parent}
            self._chains[path] = payload
            with self._lock:
                self._batch.chains[path] = payload

    def take(self) -> Batch:
        """Everything buffered (the writer thread), leaving the buffer empty."""
        with self._lock:
            batch, self._batch, self._buffered = self._batch, Batch(), 0
        return batch

    def _add(self, path: Path, row: str) -> bool:
        with self._lock:
            if self._buffered >= self.limit:
                self.dropped += 1
                return False
            self._batch.rows.setdefault(path, []).append(row)
            self._buffered += 1
        return True


def last_bar_row(path: Path) -> str | None:
    """The timestamp text of the last bar in a bars file (None when it holds none)."""
    for line in reversed(read_members(path).decode().splitlines()):
        if line and line != BAR_HEADER_LINE:
            return line.split(",", 1)[0]
    return None


class DiskWriter:
    """Writes batches under their paths (one thread: the recorder's writer)."""

    def __init__(self) -> None:
        self.last_on_disk: dict[Path, str | None] = {}
        self.counts = {"rows": 0, "duplicate_bars": 0, "cut_bytes": 0}

    def write(self, batch: Batch) -> list[tuple[Path, str]]:
        """Write a batch; returns the files that could not be written, with why (their rows
        are dropped: a recording never grows memory without bound)."""
        failures: list[tuple[Path, str]] = []
        for path, rows in batch.rows.items():
            try:
                self._append(path, rows)
            except (OSError, ValueError) as exc:
                failures.append((path, f"{type(exc).__name__}: {exc}"))
        for path, payload in batch.chains.items():
            try:
                write_atomically(path, payload)
            except OSError as exc:
                failures.append((path, f"{type(exc).__name__}: {exc}"))
        if len(self.last_on_disk) > 4 * KEEP_DAYS * 32:
            newest = sorted(p.name for p in self.last_on_disk)[-KEEP_DAYS]
            self.last_on_disk = {p: v for p, v in self.last_on_disk.items() if p.name >= newest}
        return failures

    def _append(self, path: Path, rows: list[str]) -> None:
        bars = path.name.endswith(".csv.gz")
        if path not in self.last_on_disk:
            self.counts["cut_bytes"] += repair_tail(path)  # a member a killed run left half written
            self.last_on_disk[path] = last_bar_row(path) if bars else None
        if bars:
            last = self.last_on_disk[path]
            fresh = [r for r in rows if last is None or r.split(",", 1)[0] > last]
            self.counts["duplicate_bars"] += len(rows) - len(fresh)
            if not fresh:
                return
            header = [BAR_HEADER_LINE] if not _has_content(path) else []
            append_member(path, "\n".join(header + fresh) + "\n")
            self.last_on_disk[path] = fresh[-1].split(",", 1)[0]
            self.counts["rows"] += len(fresh)
            return
        append_member(path, "\n".join(rows) + "\n")
        self.counts["rows"] += len(rows)


def _has_content(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False
