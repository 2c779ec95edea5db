"""RecorderActor: writes the market data the bot receives, for replay and backtests.

Accepts: BarClosed, QuoteUpdated (underlyings and options) and ChainReceived, routed to the
``record`` role (registered only with ``record.enabled``), and its own TimerFired. Emits
nothing. The writing is ``bot.data.recorder.Recorder`` (the format: ``bot.data.record_format``).

Never slows trading: its mailbox is bounded (``record.queue_size``). When it is full, the
market data told to it is dropped on the spot and counted (``record_dropped`` in the
heartbeat): the broker's ``tell`` never waits and memory never grows. Pings and pykka's stop
are never dropped. Rows are written every ``record.flush_s`` and on stop (SIGTERM, SIGINT,
the end of ``--duration``), one gzip member per file, so a SIGKILL loses at most one interval.

Time: bars carry their own start. Quotes are stamped on the exchange's clock
(``bot.trading.exits.market_clock``: the last live bar's end plus the wall time since, times the
simulator's speed), since the client stamps them with the host's wall time, which against the
accelerated simulator is not market time. Before the first live bar a real gateway's quote
keeps its own time; a simulator's is counted as ``record_unclocked`` and not written, and a
chain waits for that bar to be dated.
"""

from __future__ import annotations

import queue
import time
from datetime import datetime, timedelta
from typing import Any

from actors.base import BotActor, utc_now
from actors.timer import Timer
from bot import messages as m
from bot.app.config import Settings
from bot.app.routing import Directory
from bot.data.record_format import session_day
from bot.data.recorder import Recorder
from bot.ops.repeats import RepeatSummary
from bot.trading.exits import market_clock

BAR = timedelta(minutes=1)
DROPPABLE = (m.BarClosed, m.QuoteUpdated, m.ChainReceived)


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
                 tick_s: float | None = None) -> None:
        super().__init__(directory, clock)
        self.cfg = settings.record
        self.actor_inbox.limit = self.cfg.queue_size
        self.speed = settings.broker.sim.speed if settings.broker.kind == "sim" else 1.0
        self.tick_s = self.cfg.flush_s if tick_s is None else tick_s
        self.recorder = Recorder(self.cfg.dir)
        self.last_bar_end: datetime | None = None
        self.last_bar_at: datetime | None = None
        self.counts = {"record_unclocked": 0, "record_failed": 0}
        self.unclocked_chains: dict[str, m.OptionChain] = {}
        """Chains received before the first live bar (at start): dated by that bar."""
        self.timer: Timer | None = None
        self.write_failures = RepeatSummary()
        """A disk that refuses every write is logged once, then summarised once a minute."""

    @staticmethod
    def _create_actor_inbox() -> BoundedInbox:  # type: ignore[override]
        return BoundedInbox()

    def on_start(self) -> None:
        super().on_start()
        self.log.info("record_started dir={} flush_s={} queue_size={}", self.cfg.dir.absolute(),
                      self.tick_s, self.cfg.queue_size)
        if self.tick_s:
            self.timer = Timer(self.actor_ref, "record", self.tick_s, self.clock).start()

    def on_stop(self) -> None:
        """Actor thread: write what is buffered (SIGTERM, SIGINT and --duration end here)."""
        if self.timer:
            self.timer.cancel()
        self._flush()
        self.log.info("record_stopped rows={} dropped={}", self.recorder.counts["rows"],
                      self.actor_inbox.dropped)

    def handle(self, message: Any) -> None:
        match message:
            case m.BarClosed():
                self._on_bar_closed(message)
            case m.QuoteUpdated(quote=quote):
                self._on_quote_updated(quote)
            case m.ChainReceived(chain=chain):
                self._on_chain_received(chain)
            case m.TimerFired():
                self._flush()
            case _:
                self.unexpected(message)

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), **self.counts, "record_rows": self.recorder.counts["rows"],
                "record_dropped": self.actor_inbox.dropped,
                "record_buffered": self.recorder.buffered}

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
                    self.recorder.add_chain(chain, session_day(bar.start))
                self.unclocked_chains.clear()
                if rolled:
                    self._flush()  # the day's files are complete: written now, not later
        self.recorder.add_bar(bar)

    def _on_quote_updated(self, quote: m.Quote) -> None:
        ts = market_clock(self.last_bar_end, self.last_bar_at, quote.ts, self.speed)
        if ts is None and self.speed == 1.0:
            ts = quote.ts
        if ts is None:
            self.counts["record_unclocked"] += 1
            return
        self.recorder.add_quote(quote, ts)

    def _on_chain_received(self, chain: m.OptionChain) -> None:
        now = market_clock(self.last_bar_end, self.last_bar_at, self.clock(), self.speed)
        if now is None and self.speed == 1.0:
            now = self.clock()
        if now is None:
            self.unclocked_chains[chain.symbol] = chain
        else:
            self.recorder.add_chain(chain, session_day(now))

    def _flush(self) -> None:
        for path, why in self.recorder.flush():
            self.counts["record_failed"] += 1
            match self.write_failures.note(time.monotonic()):
                case ("first", _):
                    self.log.error("record_write_failed path={} error={}", path, why)
                case ("summary", count):
                    self.log.error("record_write_failed count={} last_path={} error={}", count,
                                   path, why)
                case _:
                    pass
