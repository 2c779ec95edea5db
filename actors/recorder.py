"""RecorderActor: writes the market data the bot receives, for replay and backtests.

Accepts: BarClosed, QuoteUpdated (underlyings and options), WarmQuoteUpdated (the options a
strategy keeps warm: quotes the bot saw as much as any) and ChainReceived, routed to the
``record`` role (registered only with ``record.enabled``), and its own TimerFired. Emits
nothing. The rows: ``bot.data.recorder`` (the format: ``bot.data.record_format``).

Never slows or blocks trading. The actor thread only formats rows into a bounded buffer
(``record.queue_size`` rows) and never touches the disk; a writer thread of its own takes the
buffer every ``record.flush_s``, at a day roll and on stop, and writes it, one gzip member per
file. A slow or stalled disk therefore never keeps the actor from answering pings or draining
its mailbox (the health actor would take that for a hung actor): the buffer fills, and what
comes beyond it is dropped and counted (``record_dropped`` in the heartbeat). The mailbox is
bounded too (``BoundedInbox``), should the actor thread itself fall behind. On stop (SIGTERM,
SIGINT, the end of ``--duration``) the writer writes what is left (for at most
``STOP_DRAIN_S``), so the files are complete; a SIGKILL loses at most one interval.

Time: bars carry their own start. Quotes are stamped on the exchange's clock
(``bot.trading.exits.market_clock``: the last live bar's end plus the wall time since, times the
simulator's speed), since the client stamps them with the host's wall time, which against the
accelerated simulator is not market time. Before the first live bar a real gateway's quote
keeps its own time; a simulator's is counted as ``record_unclocked`` and not written, and a
chain waits for that bar to be dated.
"""

from __future__ import annotations

import queue
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from actors.base import BotActor, utc_now
from actors.timer import Timer
from bot import messages as m
from bot.app.config import Settings
from bot.app.routing import Directory
from bot.data.record_format import session_day
from bot.data.recorder import DiskWriter, RowBuffer
from bot.ops.repeats import RepeatSummary
from bot.trading.exits import market_clock

BAR = timedelta(minutes=1)
STOP_DRAIN_S = 5.0
DROPPABLE = (m.BarClosed, m.QuoteUpdated, m.WarmQuoteUpdated, m.ChainReceived)


class BoundedInbox(queue.Queue):  # type: ignore[type-arg]
    """A pykka inbox that drops market data beyond ``limit`` waiting messages (counted in
    ``dropped``) instead of growing; anything else (Ping, stop, timers) is always taken."""

    def __init__(self, limit: int = 10_000) -> None:
        super().__init__()
        self.limit = limit
        self.dropped = 0

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        """Any thread; never blocks (queue.Queue.put of an unbounded queue, with the drop)."""
        with self.not_empty:
            message = getattr(item, "message", None)
            if isinstance(message, DROPPABLE) and self._qsize() >= self.limit:
                self.dropped += 1
                return
            self._put(item)
            self.unfinished_tasks += 1
            self.not_empty.notify()


class RecorderActor(BotActor):
    name = "record"

    def __init__(self, directory: Directory, settings: Settings, clock: Any = utc_now,
                 tick_s: float | None = None, disk: DiskWriter | None = None) -> None:
        super().__init__(directory, clock)
        self.cfg = settings.record
        self.actor_inbox.limit = self.cfg.queue_size
        self.speed = settings.broker.sim.speed if settings.broker.kind == "sim" else 1.0
        self.tick_s = self.cfg.flush_s if tick_s is None else tick_s
        self.buffer = RowBuffer(self.cfg.dir, self.cfg.queue_size)
        self.disk = disk or DiskWriter()
        self.last_bar_end: datetime | None = None
        self.last_bar_at: datetime | None = None
        self.counts = {"record_unclocked": 0, "record_failed": 0, "record_batches": 0}
        self.unclocked_chains: dict[str, m.OptionChain] = {}
        """Chains received before the first live bar (at start): dated by that bar."""
        self.timer: Timer | None = None
        self.write_failures = RepeatSummary()
        """A disk that refuses every write is logged once, then summarised once a minute."""
        self.wakeup = threading.Condition()
        self.flush_asked = False
        self.stopping = False
        self.writer: threading.Thread | None = None

    @staticmethod
    def _create_actor_inbox() -> BoundedInbox:  # type: ignore[override]
        return BoundedInbox()

    def on_start(self) -> None:
        super().on_start()
        self.log.info("record_started dir={} flush_s={} queue_size={}", self.cfg.dir.absolute(),
                      self.tick_s, self.cfg.queue_size)
        self.writer = threading.Thread(target=self._write_loop, name="record-writer", daemon=True)
        self.writer.start()
        if self.tick_s:
            self.timer = Timer(self.actor_ref, "record", self.tick_s, self.clock).start()

    def on_stop(self) -> None:
        """Actor thread: the writer writes what is buffered, then ends (SIGTERM, SIGINT and
        --duration end here); a stalled disk holds the stop back at most ``STOP_DRAIN_S``."""
        if self.timer:
            self.timer.cancel()
        with self.wakeup:
            self.stopping = True
            self.wakeup.notify_all()
        if self.writer is not None:
            self.writer.join(timeout=STOP_DRAIN_S)
        self.log.info("record_stopped rows={} dropped={} failed={}", self.disk.counts["rows"],
                      self._dropped(), self.counts["record_failed"])

    def on_failure(self, exc_type: Any, exc_value: Any, tb: Any) -> None:
        """Actor thread: the actor dies (pykka calls no on_stop then): let the writer write what
        is buffered and end, so a restart leaves no thread behind."""
        super().on_failure(exc_type, exc_value, tb)
        with self.wakeup:
            self.stopping = True
            self.wakeup.notify_all()

    def handle(self, message: Any) -> None:
        match message:
            case m.BarClosed():
                self._on_bar_closed(message)
            case m.QuoteUpdated(quote=quote) | m.WarmQuoteUpdated(quote=quote):
                self._on_quote_updated(quote)
            case m.ChainReceived(chain=chain):
                self._on_chain_received(chain)
            case m.TimerFired():
                self._flush()
            case _:
                self.unexpected(message)

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), **self.counts, "record_rows": self.disk.counts["rows"],
                "record_dropped": self._dropped(), "record_buffered": self.buffer.buffered}

    def wait_batches(self, count: int, timeout: float) -> bool:
        """Any thread: True once the writer finished ``count`` batches (False on timeout)."""
        with self.wakeup:
            return self.wakeup.wait_for(lambda: self.counts["record_batches"] >= count, timeout)

    def _dropped(self) -> int:
        return self.actor_inbox.dropped + self.buffer.dropped

    # -- handlers ------------------------------------------------------------------------------

    def _on_bar_closed(self, event: m.BarClosed) -> None:
        bar = event.bar
        if not event.backfill:
            end = bar.start + BAR
            if self.last_bar_end is None or end >= self.last_bar_end:
                rolled = self.last_bar_end is not None and session_day(end) != session_day(
                    self.last_bar_end)
                self.last_bar_end, self.last_bar_at = end, self.clock()
                for chain in self.unclocked_chains.values():
                    self.buffer.add_chain(chain, session_day(bar.start))
                self.unclocked_chains.clear()
                if rolled:
                    self._flush()  # the day's files are complete: written now, not later
        self.buffer.add_bar(bar)

    def _on_quote_updated(self, quote: m.Quote) -> None:
        ts = market_clock(self.last_bar_end, self.last_bar_at, quote.ts, self.speed)
        if ts is None and self.speed == 1.0:
            ts = quote.ts
        if ts is None:
            self.counts["record_unclocked"] += 1
            return
        self.buffer.add_quote(quote, ts)

    def _on_chain_received(self, chain: m.OptionChain) -> None:
        now = market_clock(self.last_bar_end, self.last_bar_at, self.clock(), self.speed)
        if now is None and self.speed == 1.0:
            now = self.clock()
        if now is None:
            self.unclocked_chains[chain.symbol] = chain
        else:
            self.buffer.add_chain(chain, session_day(now))

    def _flush(self) -> None:
        """Wake the writer (it takes everything buffered)."""
        with self.wakeup:
            self.flush_asked = True
            self.wakeup.notify_all()

    # -- the writer thread ---------------------------------------------------------------------

    def _write_loop(self) -> None:
        """Writer thread: on each flush, write what the buffer holds; on stop, once more."""
        while True:
            with self.wakeup:
                self.wakeup.wait_for(lambda: self.flush_asked or self.stopping)
                self.flush_asked, last = False, self.stopping
            batch = self.buffer.take()
            if batch:
                self._write(batch)
            with self.wakeup:
                self.counts["record_batches"] += 1
                self.wakeup.notify_all()
            if last:
                return

    def _write(self, batch: Any) -> None:
        for path, why in self.disk.write(batch):
            self.counts["record_failed"] += 1
            match self.write_failures.note(time.monotonic()):
                case ("first", _):
                    self.log.error("record_write_failed path={} error={}", path, why)
                case ("summary", count):
                    self.log.error("record_write_failed count={} last_path={} error={}", count,
                                   path, why)
                case _:
                    pass
