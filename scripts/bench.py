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
- flood: all events at once, for events per second (latency under load is reported too);
- inline: the same actors never started, every tell handled in turn on one thread: the path's
  work alone, the reference for what threads add.
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
from pathlib import Path
from typing import Any

import pykka

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_pipeline import SYMBOLS, WAIT_S, InlinePipeline, Pipeline  # noqa: E402

from bot.ops.soak_report import percentile  # noqa: E402

HOPS = ("driver -> strategy: BarClosed", "strategy -> broker: QuoteOptions",
        "broker -> strategy: OptionsQuoted", "strategy -> risk: EntryProposed",
        "risk -> execution: EntryApproved", "execution -> broker: SubmitBracket")


def summary(values: list[float]) -> dict[str, Any]:
    return {"samples": len(values), "p50": _r(percentile(values, 50)),
            "p99": _r(percentile(values, 99)), "max": _r(max(values, default=None))}


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def paced(pipe: Pipeline, steps: int) -> list[float]:
    """One step at a time, each phase followed by a barrier: the pipeline's own latency."""
    for _ in range(steps):
        pipe.publish_quotes()
        pipe.barrier()
        pipe.publish_bars()
        pipe.barrier()
    return pipe.latencies_us()


def run_inline(symbols: list[str], events: int, log_files: bool) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        pipe = InlinePipeline(symbols, Path(tmp), log_files)
        return paced(pipe, max(1, events // pipe.events_per_step()))


def run_pipeline(symbols: list[str], events: int, log_files: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        pipe = Pipeline(symbols, Path(tmp), log_files)
        try:
            steps = max(1, events // pipe.events_per_step())
            paced_us = paced(pipe, steps)
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
    return {"steps": steps, "events": steps * pipe.events_per_step(), "paced": paced_us,
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
    symbols, log_files = list(SYMBOLS)[: args.symbols], args.log == "files"
    inline = summary(run_inline(symbols, args.events, log_files))
    result = run_pipeline(symbols, args.events, log_files)
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
        "tick_to_order_inline_us": inline,
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
