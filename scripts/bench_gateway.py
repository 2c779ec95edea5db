"""Benchmark the simulated gateway: ticks per second it feeds one ib_insync client, and its RSS.

Starts the gateway CLI in a subprocess (so its RSS is its own), connects one ib_insync client,
streams quotes for N symbols (20 by default, optionally one near-the-money call each, and with
--bars a keepUpToDate 1-minute bar subscription each, as the bot has) for a fixed wall time and
prints one JSON object. The server's CPU is also reported per third of the run: at a high
--speed a run covers hours of simulated time, so a cost that grows with the session shows as a
last third dearer than the first. Not a test: numbers depend on the machine.

    .venv/bin/python scripts/bench_gateway.py [--seconds 10] [--symbols 20] [--options] [--bars]
    .venv/bin/python scripts/bench_gateway.py --seconds 36 --symbols 8 --bars --speed 600 \
        --tick-interval 0.25      # 6 simulated hours
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import psutil
from ib_insync import IB, Option, Stock

SYMBOLS = [
    "SPY",
    "QQQ",
    "IWM",
    "DIA",
    "AAPL",
    "MSFT",
    "NVDA",
    "AMZN",
    "TSLA",
    "META",
    "GOOGL",
    "AMD",
    "XLF",
    "XLE",
    "XLK",
    "SMH",
    "GLD",
    "TLT",
    "EEM",
    "HYG",
]
LAUNCH = "import sys; from bot.sim.cli import main; sys.exit(main(sys.argv[1:]))"


def start_gateway(args: argparse.Namespace, symbols: list[str]) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            LAUNCH,
            "--port",
            "0",
            "--speed",
            str(args.speed),
            "--tick-interval",
            str(args.tick_interval),
            "--symbols",
            ",".join(symbols),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    banner = proc.stdout.readline()
    if not banner.startswith("gateway listening on"):
        proc.kill()
        raise SystemExit(f"gateway did not start: {banner!r}")
    return proc, int(banner.split()[3].rsplit(":", 1)[1])


def connect_ms(port: int, rounds: int) -> float:
    """Median wall time of IB().connect() (the whole connect-time sync), in milliseconds."""
    times = []
    for i in range(rounds):
        ib = IB()
        started = time.perf_counter()
        ib.connect("127.0.0.1", port, clientId=100 + i, timeout=5)
        times.append((time.perf_counter() - started) * 1000)
        ib.disconnect()
    return sorted(times)[len(times) // 2]


def stream(port: int, symbols: list[str], args: argparse.Namespace, server) -> dict:
    ib = IB()
    ib.connect("127.0.0.1", port, clientId=1, timeout=5)
    contracts = ib.qualifyContracts(*(Stock(s, "SMART", "USD") for s in symbols))
    if args.options:
        for stock in list(contracts):
            [chain] = [
                c
                for c in ib.reqSecDefOptParams(stock.symbol, "", "STK", stock.conId)
                if c.exchange == "SMART"
            ]
            spot = ib.reqTickers(stock)[0].marketPrice()
            strike = min(chain.strikes, key=lambda k: abs(k - spot))
            contracts += ib.qualifyContracts(
                Option(stock.symbol, sorted(chain.expirations)[1], strike, "C", "SMART")
            )
    counts = {"ticks": 0, "updates": 0}

    def on_pending(tickers) -> None:
        counts["updates"] += 1
        counts["ticks"] += sum(len(t.ticks) for t in tickers)

    for contract in contracts:
        ib.reqMktData(contract)
    for stock in contracts[: len(symbols)] if args.bars else []:
        ib.reqHistoricalData(stock, "", "1 D", "1 min", "TRADES", True, keepUpToDate=True)
    ib.sleep(1.0)  # warm-up: initial snapshots are not counted
    ib.pendingTickersEvent += on_pending
    started = time.perf_counter()
    server.cpu_percent(None)  # prime: the next call reports usage since now
    thirds = []
    for _ in range(3):
        ib.sleep(args.seconds / 3)
        thirds.append(server.cpu_percent(None))
    elapsed = time.perf_counter() - started
    ib.disconnect()
    return {
        "streams": len(contracts),
        "bar_streams": len(symbols) if args.bars else 0,
        "ticks_per_s": round(counts["ticks"] / elapsed, 1),
        "client_updates_per_s": round(counts["updates"] / elapsed, 1),
        "server_cpu_percent_streaming": round(sum(thirds) / 3, 1),
        "server_cpu_percent_by_third": thirds,
        "sim_hours": round(elapsed * args.speed / 3600, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--options", action="store_true", help="also stream one call per symbol")
    parser.add_argument("--bars", action="store_true", help="also keepUpToDate 1-min bars")
    parser.add_argument("--speed", type=float, default=60.0)
    parser.add_argument("--tick-interval", type=float, default=0.05)
    args = parser.parse_args()
    symbols = SYMBOLS[: args.symbols]
    proc, port = start_gateway(args, symbols)
    try:
        server = psutil.Process(proc.pid)
        rss_idle = server.memory_info().rss
        result = {"connect_ms_median": round(connect_ms(port, 5), 2)}
        result |= stream(port, symbols, args, server)
        result |= {
            "server_rss_mib_idle": round(rss_idle / 2**20, 1),
            "server_rss_mib_streaming": round(server.memory_info().rss / 2**20, 1),
            "speed": args.speed,
            "tick_interval_s": args.tick_interval,
        }
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
