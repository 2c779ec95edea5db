"""Benchmark: market events through the real actor pipeline, with the hop floor of the same run.

    python scripts/bench.py [--symbols N] [--events M] [--floor-samples K]

The real StrategyActors (one per symbol), RiskActor and ExecutionActor run under the real
Supervisor; a ``Feeder`` actor stands where the BrokerActor would (answering option quotes,
receiving orders). The driver publishes 1-minute bars and underlying quotes whose closes repeat
a fall-then-rise pattern, so every few bars a strategy signals and an order leaves. Each
``SubmitBracket`` is answered with a rejection of the entry (and the children cancelled), so
risk and strategy free the symbol and the next signal trades again.

Tick-to-order latency: from the driver publishing the bar that triggered the entry to the
feeder receiving ``SubmitBracket``. Its path is ``HOPS`` tells long (listed below). Each step is
one minute of market: the underlying quotes of the minute, then every symbol's closing bar at
once (as the broker publishes them at the minute's close). Symbols follow the same pattern of
closes at offsets chosen so that their EMA crosses never fall on the same step: the latency of
an order is measured while every symbol's bar is handled, rarely behind another order. VWAP
restarts at each session's open, so a day's first bars can signal on several symbols at once;
the run reports the most orders seen in one step. Two phases:
- paced: one step at a time, a barrier (asks through the pipeline in order) after the quotes
  and after the bars, so each latency is the pipeline's own, not queueing behind a flood;
- flood: all events at once, for events per second (latency under load is reported too).
The floor is measured in the same run: one ``queue.Queue`` hop between two threads and one
pykka ``tell`` hop into an idle actor (ping-pong, the forward hop timed). Logs go to files only
(as the bot's file sinks), not to the console. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import pykka

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from actors.base import BotActor  # noqa: E402
from bot import messages as m  # noqa: E402
from bot.app import Supervisor, actor_specs  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.logs import configure_logging  # noqa: E402
from bot.market_hours import NY  # noqa: E402
from bot.routing import STRATEGY, Directory  # noqa: E402
from bot.soak_report import percentile  # noqa: E402

HOPS = ("driver -> strategy: BarClosed", "strategy -> broker: QuoteOptions",
        "broker -> strategy: OptionsQuoted", "strategy -> risk: EntryProposed",
        "risk -> execution: EntryApproved", "execution -> broker: SubmitBracket")
SYMBOLS = {"SPY": 600.0, "QQQ": 510.0, "IWM": 230.0, "AAPL": 230.0, "MSFT": 420.0, "NVDA": 140.0,
           "AMZN": 200.0, "TSLA": 330.0, "META": 580.0, "GOOGL": 170.0, "AMD": 140.0, "DIA": 440.0}
PATTERN = [-0.5 * i for i in range(10)] + [-4.0, -3.0, -2.0] + [-2.0] * 34
"""Closes relative to the base: ten falling bars, three rising, then flat. With the bench's
strategy settings a symbol signals on pattern bars 4 and 5 (put) and 12 (call), nowhere else."""
OFFSETS = (0, 2, 4, 6, 15, 17, 19, 21, 30, 32, 34, 36)
"""How many bars ahead in ``PATTERN`` each symbol runs: no two offsets differ by 0, 1, 7 or 8
(mod 47), the distances between signalling bars, so no two symbols' crosses share a step."""
QUOTES_PER_BAR = 4
BARS_PER_DAY = 380  # 09:30 to 15:49, clear of the flat-before-close window
FIRST_DAY = date(2026, 11, 16)  # a Monday
WAIT_S = 10.0
CHAIN_EXPIRIES = 26


def weekdays(start: date, count: int) -> list[date]:
    days, d = [], start
    while len(days) < count:
        if d.weekday() < 5:
            days.append(d)
        d += timedelta(days=1)
    return days


DAYS = weekdays(FIRST_DAY, 200)


def bar_time(step: int) -> datetime:
    """Start of the bar of ``step``: consecutive minutes of consecutive weekdays."""
    day, minute = DAYS[step // BARS_PER_DAY], step % BARS_PER_DAY
    open_ = datetime.combine(day, dtime(9, 30), NY)
    return (open_ + timedelta(minutes=minute)).astimezone(UTC)


class Clock:
    """The actors' clock, set by the driver to the end of the bar being published."""

    def __init__(self) -> None:
        self.now = bar_time(0)

    def __call__(self) -> datetime:
        return self.now


def settings_for(symbols: list[str], tmp: Path) -> Settings:
    return Settings.model_validate({
        "symbols": symbols,
        "strategy": {"ema_fast": 3, "ema_slow": 5, "rsi_period": 3, "rsi_call_min": 50,
                     "rsi_overbought": 100, "rsi_put_max": 40, "rsi_oversold": 0,
                     "require_vwap": False, "cooldown_bars": 0},
        "options": {"max_dte": 7, "strike_window": 2, "max_spread_pct": 10, "min_volume": 10},
        "risk": {"max_daily_loss_pct": 50, "max_trades_per_day": 500, "max_open_positions": 50,
                 "max_consecutive_losses": 100, "kill_switch_path": str(tmp / "KILL")},
        "logging": {"dir": str(tmp / "logs")},
    })


class Feeder(BotActor):
    """The broker side: answers chains and option quotes, times and rejects each bracket.

    Accepts: RequestChain, QuoteOptions, SubmitBracket, CancelOrder, SubscribeQuotes,
    UnsubscribeQuotes. Emits: ChainReceived, OptionsQuoted, OrderRejected, OrderStatusChanged.
    Thread rule: its own pykka thread; ``published`` is written by the driver before it tells."""

    name = "broker"

    def __init__(self, directory: Directory, clock: Clock,
                 published: dict[tuple[str, datetime], int]) -> None:
        super().__init__(directory, clock)
        self.published = published
        self.latencies_ns: list[int] = []
        self.orders_per_step: Counter[datetime] = Counter()

    def chain(self, symbol: str) -> m.OptionChain:
        """Today's chain as IB lists it for an index ETF: 26 daily expiries, 21 strikes."""
        today = self.clock().astimezone(NY).date()
        expiries = tuple(d.strftime("%Y%m%d") for d in weekdays(today, CHAIN_EXPIRIES))
        base = SYMBOLS[symbol]
        return m.OptionChain(symbol, expiries, tuple(base + k for k in range(-10, 11)))

    def handle(self, message: Any) -> None:
        match message:
            case m.RequestChain(correlation_id=cid, symbol=symbol):
                self.publish(m.ChainReceived(cid, self.chain(symbol)))
            case m.QuoteOptions(correlation_id=cid, symbol=symbol, contracts=contracts):
                now = self.clock()
                quotes = tuple(m.Quote(c, 1.55, 1.60, 1.58, now, volume=500) for c in contracts)
                self.publish(m.OptionsQuoted(cid, symbol, quotes))
            case m.SubmitBracket():
                self._on_bracket(message)
            case _:
                pass

    def _on_bracket(self, b: m.SubmitBracket) -> None:
        arrived = time.perf_counter_ns()
        minute = datetime.strptime(b.intent_id.split("-")[1], "%Y%m%d%H%M").replace(tzinfo=UTC)
        sent = self.published.get((b.contract.symbol, minute - timedelta(minutes=1)))
        if sent is not None:
            self.latencies_ns.append(arrived - sent)
        self.orders_per_step[minute] += 1
        now = self.clock()
        self.publish(m.OrderRejected(b.correlation_id, b.parent.client_order_id, 201, "bench", now))
        for child in (b.take_profit, b.stop):
            self.publish(m.OrderStatusChanged(b.correlation_id, child.client_order_id,
                                              m.OrderStatus.CANCELLED, 0, child.quantity, 0.0, now))

    def take_latencies(self) -> list[int]:
        out, self.latencies_ns = self.latencies_ns, []
        return out

    def most_orders_in_one_step(self) -> int:
        return max(self.orders_per_step.values(), default=0)


class Pipeline:
    """The bot's actors under the real supervisor, a feeder as broker, and the driver's side."""

    def __init__(self, symbols: list[str], tmp: Path, log_files: bool = True) -> None:
        self.symbols, self.clock, self.published = symbols, Clock(), {}
        self.settings = settings_for(symbols, tmp)
        configure_logging(self.settings.logging, console=False, files=log_files)
        specs = actor_specs(self.settings, lambda d: Feeder.start(d, self.clock, self.published),
                            clock=self.clock, tick_s=None)
        self.supervisor = Supervisor(specs)
        self.directory = self.supervisor.start()
        self.step = 0
        self.seq = 0
        strategies = [self.supervisor.refs[f"{STRATEGY}:{s}"] for s in symbols]
        ref = self.supervisor.refs
        self.barrier_order = [*strategies, ref["broker"], *strategies, ref["risk"],
                              ref["execution"], ref["broker"], ref["execution"], ref["risk"],
                              *strategies]
        self.directory.publish(m.AccountUpdated("DU1234567", 1_000_000.0, self.clock()))

    def events_per_step(self) -> int:
        return len(self.symbols) * (1 + QUOTES_PER_BAR)

    def close(self, symbol: str, step: int) -> float:
        i = list(SYMBOLS).index(symbol)
        return SYMBOLS[symbol] + PATTERN[(step + OFFSETS[i]) % len(PATTERN)]

    def publish_quotes(self) -> None:
        """The underlying quotes during the minute of the coming bar."""
        self.clock.now = bar_time(self.step) + timedelta(seconds=30)
        for symbol in self.symbols:
            close = self.close(symbol, self.step)
            for _ in range(QUOTES_PER_BAR):
                self.seq += 1
                quote = m.Quote(m.Stock(symbol), close - 0.01, close + 0.01, close, self.clock.now)
                self.directory.publish(m.QuoteUpdated(quote, self.seq))

    def publish_bars(self) -> None:
        """Every symbol's bar closing, then the next step."""
        start = bar_time(self.step)
        self.clock.now = start + timedelta(minutes=1)
        for symbol in self.symbols:
            close = self.close(symbol, self.step)
            bar = m.Bar(symbol, start, close + 0.2, close + 0.3, close - 0.3, close, 1000)
            self.published[(symbol, start)] = time.perf_counter_ns()
            self.directory.publish(m.BarClosed(bar))
        self.step += 1

    def barrier(self, rounds: int = 1) -> None:
        """Returns once everything in flight has gone through every hop of the path."""
        for _ in range(rounds):
            for ref in self.barrier_order:
                ref.ask(m.Ping("barrier", 0.0, _Nobody()), timeout=WAIT_S)

    def latencies_us(self) -> list[float]:
        feeder = self.supervisor.refs["broker"].proxy()
        return [ns / 1000 for ns in feeder.take_latencies().get(timeout=WAIT_S)]

    def most_orders_in_one_step(self) -> int:
        feeder = self.supervisor.refs["broker"].proxy()
        return int(feeder.most_orders_in_one_step().get(timeout=WAIT_S))

    def stop(self) -> None:
        self.supervisor.stop()


class _Nobody:
    def tell(self, message: Any) -> None:
        pass


def summary(values: list[float]) -> dict[str, Any]:
    return {"samples": len(values), "p50": _r(percentile(values, 50)),
            "p99": _r(percentile(values, 99)), "max": _r(max(values, default=None))}


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def run_pipeline(symbols: list[str], events: int, log_files: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        pipe = Pipeline(symbols, Path(tmp), log_files)
        try:
            steps = max(1, events // pipe.events_per_step())
            for _ in range(steps):  # paced: the pipeline's own latency
                pipe.publish_quotes()
                pipe.barrier()
                pipe.publish_bars()
                pipe.barrier()
            paced = pipe.latencies_us()
            most = pipe.most_orders_in_one_step()
            started = time.perf_counter()
            for _ in range(steps):  # flood: throughput
                pipe.publish_quotes()
                pipe.publish_bars()
            pipe.barrier(rounds=3)
            elapsed = time.perf_counter() - started
            flood = pipe.latencies_us()
        finally:
            pipe.stop()
    return {"steps": steps, "events": steps * pipe.events_per_step(), "paced": paced,
            "most_orders_in_one_step": most,
            "flood": flood, "events_per_s": round(steps * pipe.events_per_step() / elapsed)}


# -- the floor ----------------------------------------------------------------------------------


def queue_hop_us(samples: int) -> list[float]:
    """One queue.Queue hop between two threads, ping-pong, forward hop timed."""
    forward: queue.Queue[int | None] = queue.Queue()
    back: queue.Queue[None] = queue.Queue()
    out: list[float] = []

    def consumer() -> None:
        while (sent := forward.get()) is not None:
            out.append((time.perf_counter_ns() - sent) / 1000)
            back.put(None)

    thread = threading.Thread(target=consumer, name="bench-consumer")
    thread.start()
    for _ in range(samples):
        forward.put(time.perf_counter_ns())
        back.get(timeout=WAIT_S)
    forward.put(None)
    thread.join(WAIT_S)
    return out


class _Echo(pykka.ThreadingActor):
    def __init__(self, back: queue.Queue[None], out: list[float]) -> None:
        super().__init__()
        self.back, self.out = back, out

    def on_receive(self, message: Any) -> None:
        self.out.append((time.perf_counter_ns() - message) / 1000)
        self.back.put(None)


def tell_hop_us(samples: int) -> list[float]:
    """One pykka tell into an idle actor, ping-pong, forward hop timed."""
    back: queue.Queue[None] = queue.Queue()
    out: list[float] = []
    ref = _Echo.start(back, out)
    try:
        for _ in range(samples):
            ref.tell(time.perf_counter_ns())
            back.get(timeout=WAIT_S)
    finally:
        ref.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--symbols", type=int, default=8, metavar="N",
                   choices=range(1, len(SYMBOLS) + 1), help=f"1..{len(SYMBOLS)}")
    p.add_argument("--events", type=int, default=20_000, help="market events per phase")
    p.add_argument("--floor-samples", type=int, default=5_000)
    p.add_argument("--log", choices=("files", "off"), default="files",
                   help="files: the bot's rotating log files (default); off: no log sink")
    args = p.parse_args(argv)

    queue_floor = summary(queue_hop_us(args.floor_samples))
    tell_floor = summary(tell_hop_us(args.floor_samples))
    result = run_pipeline(list(SYMBOLS)[: args.symbols], args.events, args.log == "files")
    paced = summary(result["paced"])
    hops = len(HOPS)
    bound = 3 * tell_floor["p99"] * hops
    print(json.dumps({
        "machine": f"{os.cpu_count()} cpu {platform.machine()}, Python {platform.python_version()}",
        "symbols": args.symbols, "log": args.log, "events_per_phase": result["events"],
        "hops": hops, "path": HOPS,
        "tick_to_order_us": paced,
        "most_orders_in_one_paced_step": result["most_orders_in_one_step"],
        "tick_to_order_under_flood_us": summary(result["flood"]),
        "events_per_s": result["events_per_s"],
        "floor_us": {"queue_hop": queue_floor, "pykka_tell_hop": tell_floor},
        "ratios": {"p50_over_hops_x_tell_p50": _ratio(paced["p50"], hops * tell_floor["p50"]),
                   "p99_over_hops_x_tell_p99": _ratio(paced["p99"], hops * tell_floor["p99"])},
        "target": {"rule": "tick-to-order p99 <= 3 x pykka tell p99 x hops",
                   "p99_max_us": _r(bound),
                   "met": paced["p99"] is not None and paced["p99"] <= bound},
    }, indent=2))
    return 0


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if not a or not b else round(a / b, 1)


if __name__ == "__main__":
    sys.exit(main())
