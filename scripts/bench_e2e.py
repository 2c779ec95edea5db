"""End-to-end decision latency: the whole bot against the latency-modelled simulator, with the
option prewarm on and off in the same run.

    python scripts/bench_e2e.py --latency ib --symbols 8 --minutes 60 [--speed 20] [--seed 7]
        [--trades default|forced]

Per mode (``prewarm``: ``options.prewarm_lines_per_symbol: 4``; ``no_prewarm``: 0) the
simulated gateway runs in this process (``SimGateway``, ``--latency`` delays, a fixed session
day from 10:00 New York) and the bot runs as ``python -m bot`` against it (``broker.kind: ib``,
``dry_run: false``, the simulator's paper account, short indicators so signals are frequent,
risk limits wide enough that most signals become orders, how soon a symbol trades again set
by ``--trades``: ``TRADE_RATES``). Both modes get the same market (same seed) and the same
settings but the prewarm.

Measured at the gateway, in wall time on one clock:

- **bar close -> entry order**: from the moment the gateway sent the update that completes a
  symbol's 1-minute bar to the moment the entry (``orderRef`` ``<intent>.entry``, whose intent
  id names the bar) arrived at the gateway (before any modelled delay). p50, p99, max, count,
  and every sample. Entries on bars that closed in the first two simulated minutes (the
  connect, the backfill, the warm sets being set up) are counted apart, not measured. With
  fewer than 100 entries the p99 is the largest sample.
- **hops**: where each entry's time went (``HOPS``), from the gateway's taps and the
  timestamps of the bot's own JSON log lines (same host clock): per hop p50/p99/max, and the
  five slowest entries hop by hop, with how many entries shared their bar close and what the
  bot sent in the second before (ib_insync's own throttle lets 24 messages a second out).
- **lines**: the most market data lines the bot held at the gateway at once (sampled every
  0.1 s) and IB's limit.
- **messages per symbol-hour**: every request the bot sent after the first two simulated
  minutes (the connect and the backfill are excluded), per symbol and simulated hour: all
  that IB counts (every message the client sends), split into orders (placeOrder,
  cancelOrder: they grow with the trade rate, ``--trades``) and data (everything else: what
  the prewarm changes), and per request; ``trades_per_symbol_hour`` says the rate.
- **pacing violations**: the gateway's ``violation.*`` counters.

The taps are read-only wrappers installed in this process around two gateway methods (a
session's message intake, a bar stream's update): the simulator itself is unchanged. Prints
one JSON object; exit 0 when the issue's targets are met (prewarm p99 <= 50 ms and at least
10x faster than without, <= 50 messages per symbol-hour, 0 pacing violations), else 1.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.app.config import RiskSettings, StrategySettings  # noqa: E402
from bot.sim import session as sim_session  # noqa: E402
from bot.sim import streams  # noqa: E402
from bot.sim.decode_order import decode_place_order  # noqa: E402
from bot.sim.protocol_in import REQUEST_NAMES, Fields  # noqa: E402
from bot.sim.server import GatewayOptions, SimGateway  # noqa: E402

SYMBOLS = ("SPY", "QQQ", "IWM", "AAPL", "MSFT", "NVDA", "AMZN", "TSLA", "META", "GOOGL", "AMD",
           "DIA")
START = datetime(2026, 11, 18, 10, 0, tzinfo=ZoneInfo("America/New_York"))
PLACE_ORDER = str(next(i for i, n in REQUEST_NAMES.items() if n == "placeOrder"))
WARMUP_SIM_S = 120.0
ORDER_REQUESTS = ("placeOrder", "cancelOrder", "reqGlobalCancel")
STARTUP_WALL_S = 15.0
IB_LINES = 100
TARGET_P99_MS, TARGET_SPEEDUP, TARGET_MSGS = 50.0, 10.0, 50.0


class Taps:
    """What the gateway did, with wall times (time.monotonic): bar completions and entries."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bar_sent: dict[tuple[str, str], float] = {}  # (symbol, close HHMM UTC) -> wall
        self.entries: dict[str, tuple[float, str]] = {}  # orderRef -> (wall, symbol)
        self.arrivals: list[tuple[float, str]] = []  # (wall, request name) of every message
        self.epoch = time.time() - time.monotonic()
        """time.time() minus time.monotonic(): the taps on the bot's log clock (``hops``)."""

    def install(self) -> None:
        """Point the gateway taps at this record (wrapped in once per process)."""
        global _CURRENT
        if _CURRENT is None:
            _wrap()
        _CURRENT = self

    def latencies_ms(self, after: str) -> tuple[list[float], int, int]:
        """Bar close -> entry arrival of every entry whose bar closed after ``after``
        (YYYYmmddHHMM UTC), sorted; how many closed before; how many had no bar to match."""
        out, early, unmatched = [], 0, 0
        with self.lock:
            for ref, (arrived, symbol) in self.entries.items():
                stamp = ref.split("-")[1] if ref.count("-") >= 2 else ""
                sent = self.bar_sent.get((symbol, stamp))
                if sent is None or arrived < sent:
                    unmatched += 1
                elif stamp <= after:
                    early += 1
                else:
                    out.append((arrived - sent) * 1000.0)
        return sorted(out), early, unmatched


_CURRENT: Taps | None = None


def _wrap() -> None:
    """Wrap a session's message intake and a bar stream's update with read-only taps."""
    original_changes = streams.BarSub.changes
    original_message = sim_session.Session._on_message

    def changes(sub, market, now):
        before = sub.last_time
        msgs = original_changes(sub, market, now)
        taps = _CURRENT
        if taps is not None and before is not None and sub.last_time > before \
                and sub.bar_s == 60:
            key = (sub.symbol, sub.last_time.astimezone(UTC).strftime("%Y%m%d%H%M"))
            with taps.lock:
                taps.bar_sent.setdefault(key, time.monotonic())
        return msgs

    def on_message(session, fields):
        taps = _CURRENT
        arrived = time.monotonic()
        if taps is not None and fields:
            with taps.lock:
                taps.arrivals.append((arrived, REQUEST_NAMES.get(int(fields[0]), fields[0])
                                      if fields[0].isdigit() else fields[0]))
        if taps is not None and fields and fields[0] == PLACE_ORDER:
            try:
                placed = decode_place_order(Fields(list(fields)), session.version)
                ref, symbol = placed.order_ref, placed.contract.symbol
            except Exception:  # noqa: BLE001 - a malformed order is the gateway's to answer
                ref, symbol = "", ""
            if ref.endswith(".entry"):
                with taps.lock:
                    taps.entries.setdefault(ref, (arrived, symbol))
        return original_message(session, fields)

    streams.BarSub.changes = changes
    sim_session.Session._on_message = on_message


HOPS = ("decision", "execution", "journal", "commit", "to_broker", "to_gateway")
"""Where an entry's time goes, each hop ending at a line of the bot's log (its ``ts``, written
after the step): ``decision`` the gateway's bar update -> risk's ``entry_approved`` (the
broker decoding the bar, the strategy deciding and proposing, risk approving);
``execution`` -> ``bracket_submitted`` (told to the journal); ``journal`` -> the start of the
commit that made the entry durable (the journal's mailbox, its writes, the group filling);
``commit`` the COMMIT itself (its fsync: ``commit_ms`` of the journal's ``entry_committed``);
``to_broker`` -> the broker's ``order_placed`` of the entry (the broker's mailbox);
``to_gateway`` -> the entry read by the gateway (ib_insync's own message throttle, the
socket). ``journal`` + ``commit`` + ``to_broker`` is the write-ahead hop as a whole."""
BUSY_WINDOW_S = 1.0


LOGGED = ("entry_approved", "bracket_submitted", "commit_started", "entry_committed",
          "order_placed")


def _log_times(log: Path) -> dict[tuple[str, str], list[float]]:
    """(first word, intent or client order id) -> the wall times of those log lines; an
    ``entry_committed`` line also gives its commit's start (``commit_started``: its time less
    its ``commit_ms``)."""
    out: dict[tuple[str, str], list[float]] = {}
    if not log.exists():
        return out
    for line in log.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        word = rec.get("msg", "").split(" ", 1)[0]
        if word not in LOGGED:
            continue
        key = rec["msg"].split("=", 1)[1].split(" ", 1)[0]
        ts = datetime.fromisoformat(rec["ts"]).timestamp()
        out.setdefault((word, key), []).append(ts)
        if word == "entry_committed":
            ms = float(rec["msg"].split("commit_ms=", 1)[1].split(" ", 1)[0])
            out.setdefault(("commit_started", key), []).append(ts - ms / 1000.0)
    return out


def hops(taps: Taps, log: Path, after: str) -> dict[str, Any]:
    """Per hop (``HOPS``) p50/p99/max in ms over the measured entries, and the five slowest
    entries hop by hop with what reached the gateway from the bot in the second before the
    entry (ib_insync throttles at ``bot/ib/pacing.py``'s burst) and how many entries shared
    their bar close."""
    times = _log_times(log)
    rows = []
    with taps.lock:
        entries = dict(taps.entries)
        bars = dict(taps.bar_sent)
        arrivals = sorted(taps.arrivals)
    per_bar: dict[str, int] = {}
    for ref in entries:
        per_bar[ref.split("-")[1]] = per_bar.get(ref.split("-")[1], 0) + 1
    for ref, (arrived, symbol) in entries.items():
        intent, stamp = ref[: -len(".entry")], ref.split("-")[1]
        sent = bars.get((symbol, stamp))
        if sent is None or stamp <= after or arrived < sent:
            continue
        wall = sent + taps.epoch
        marks = [*(times.get(key, [None])[0] for key in (
                     ("entry_approved", intent), ("bracket_submitted", intent),
                     ("commit_started", intent), ("entry_committed", intent),
                     ("order_placed", ref))),
                 arrived + taps.epoch]
        if any(t is None for t in marks):
            continue
        steps = [round((b - a) * 1000.0, 1) for a, b in zip([wall, *marks[:-1]], marks,
                                                               strict=True)]
        before = [n for t, n in arrivals if arrived - BUSY_WINDOW_S <= t < arrived]
        rows.append({"ref": ref, "total_ms": round((arrived - sent) * 1000.0, 1),
                     "hops_ms": dict(zip(HOPS, steps, strict=True)),
                     "entries_same_bar": per_bar[stamp],
                     "messages_in_1s_before": len(before),
                     "by_request_1s_before": {n: before.count(n) for n in sorted(set(before))}})
    summary = {}
    for hop in HOPS:
        values = sorted(r["hops_ms"][hop] for r in rows)
        summary[hop] = {"p50": pct(values, 0.5), "p99": pct(values, 0.99),
                        "max": values[-1] if values else None}
    rows.sort(key=lambda r: -r["total_ms"])
    return {"entries": len(rows), "per_hop_ms": summary, "slowest": rows[:5]}


TRADE_RATES: dict[str, dict[str, int]] = {
    "default": {
        "cooldown_bars": StrategySettings.model_fields["cooldown_bars"].default,
        "max_hold_minutes": RiskSettings.model_fields["max_hold_minutes"].default,
    },
    "forced": {"cooldown_bars": 2, "max_hold_minutes": 3},
}
"""How often each symbol trades (``--trades``). The trigger is the same in both (EMA 2/3, RSI 3:
a signal on most bars, so a symbol enters again as soon as it may); what differs is how soon:

- ``default``: the bot's own default ``strategy.cooldown_bars`` (5) and
  ``risk.max_hold_minutes`` (20): a symbol holds a position until its take-profit, stop or 20
  minutes, and waits 5 bars after an entry. About 4 trades per symbol-hour here, still an
  upper bound for the bot's defaults, whose ``risk.max_trades_per_day`` (6 a day, all symbols)
  the bench lifts to get latency samples.
- ``forced``: 2-bar cooldown and 3-minute holds: about 9 trades per symbol-hour, for many
  latency samples and bursts of entries on one bar close; its order messages are the forced
  rate's, not a user's."""


def bot_settings(tmp: Path, port: int, symbols: int, speed: float, prewarm: int,
                 trades: str = "default") -> dict[str, Any]:
    timeouts = {"ack_timeout_s": 10.0, "entry_timeout_s": 60.0, "cancel_timeout_s": 10.0}
    rate = TRADE_RATES[trades]
    return {
        "dry_run": False,
        "symbols": list(SYMBOLS[:symbols]),
        "broker": {"kind": "ib", "host": "127.0.0.1", "port": port, "client_id": 17},
        "execution": {k: max(2.0, v / speed) for k, v in timeouts.items()},
        "strategy": {"ema_fast": 2, "ema_slow": 3, "rsi_period": 3, "rsi_call_min": 50,
                     "rsi_overbought": 100, "rsi_put_max": 40, "rsi_oversold": 0,
                     "require_vwap": False, "cooldown_bars": rate["cooldown_bars"]},
        "options": {"strike_window": 2, "prewarm_lines_per_symbol": prewarm},
        "risk": {"kill_switch_path": str(tmp / "KILL"), "max_consecutive_losses": 100,
                 "max_trades_per_day": 500, "max_open_positions": symbols,
                 "max_daily_loss_pct": 50, "max_hold_minutes": rate["max_hold_minutes"]},
        "journal": {"dir": str(tmp / "data")},
        "logging": {"dir": str(tmp / "logs"), "level": "INFO"},
        "health": {"heartbeat_seconds": 2},
    }


def requests_sent(counters: dict[str, int]) -> int:
    return sum(v for k, v in counters.items() if k.startswith("req."))


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(q * len(values)))], 1)


def run_mode(args: argparse.Namespace, prewarm: int) -> dict[str, Any]:
    taps = Taps()
    taps.install()
    gw = SimGateway(GatewayOptions(port=0, seed=args.seed, speed=args.speed, start=START,
                                   symbols=SYMBOLS[:args.symbols], latency=args.latency))
    gw.start()
    wall_s = args.minutes * 60.0 / args.speed
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp_name:
        tmp = Path(tmp_name) if args.keep is None else args.keep / f"prewarm-{prewarm}"
        tmp.mkdir(parents=True, exist_ok=True)
        config = tmp / "settings.yaml"
        config.write_text(yaml.safe_dump(bot_settings(tmp, gw.port, args.symbols, args.speed,
                                                      prewarm, args.trades)))
        with (tmp / "bot.out").open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config),
                                     "--duration", str(STARTUP_WALL_S + wall_s)],
                                    cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        peak_lines, warm_counters = 0, None
        deadline = time.monotonic() + STARTUP_WALL_S + wall_s + 60.0
        while proc.poll() is None and time.monotonic() < deadline:
            peak_lines = max(peak_lines, gw.lines.in_use)
            elapsed = (gw.clock.now() - gw.epoch).total_seconds()
            if warm_counters is None and elapsed >= WARMUP_SIM_S:
                warm_counters = (gw.counters(), gw.clock.now())
            time.sleep(0.1)
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        end_counters, end_time = gw.counters(), gw.clock.now()
        gw.stop()
        log_tail = (tmp / "bot.out").read_text(errors="replace").splitlines()[-5:]
        start_counters, start_time = warm_counters or ({}, gw.epoch)
        where = hops(taps, tmp / "logs" / "bot.jsonl",
                     start_time.astimezone(UTC).strftime("%Y%m%d%H%M"))
    latencies, early, unmatched = taps.latencies_ms(
        start_time.astimezone(UTC).strftime("%Y%m%d%H%M"))
    hours = max(1e-9, (end_time - start_time).total_seconds() / 3600.0)
    messages = requests_sent(end_counters) - requests_sent(start_counters)
    by_request = {k[4:]: round((v - start_counters.get(k, 0)) / args.symbols / hours, 1)
                  for k, v in sorted(end_counters.items())
                  if k.startswith("req.") and v > start_counters.get(k, 0)}
    orders = sum(by_request.get(k, 0.0) for k in ORDER_REQUESTS)
    return {
        "prewarm_lines_per_symbol": prewarm,
        "entries": len(latencies),
        "entries_in_warmup": early,
        "unmatched_entries": unmatched,
        "bar_close_to_entry_ms": {"p50": pct(latencies, 0.50), "p99": pct(latencies, 0.99),
                                  "max": round(latencies[-1], 1) if latencies else None,
                                  "mean": round(statistics.fmean(latencies), 1) if latencies else None},
        "lines_peak": peak_lines,
        "lines_limit": IB_LINES,
        "messages": messages,
        "sim_hours_measured": round(hours, 3),
        "messages_per_symbol_hour": round(messages / args.symbols / hours, 1),
        "order_messages_per_symbol_hour": round(orders, 1),
        "data_messages_per_symbol_hour": round(messages / args.symbols / hours - orders, 1),
        "messages_per_symbol_hour_by_request": by_request,
        "trades_per_symbol_hour": round(len(latencies) / args.symbols / hours, 1),
        "samples_ms": [round(x, 1) for x in latencies],
        "hops": where,
        "pacing_violations": sum(v for k, v in end_counters.items() if k.startswith("violation.")),
        "orders_placed": end_counters.get("orders.placed", 0),
        "bot_exit": proc.returncode,
        **({} if proc.returncode == 0 else {"bot_log_tail": log_tail}),
    }


def verdict(on: dict[str, Any], off: dict[str, Any]) -> dict[str, Any]:
    p99_on = on["bar_close_to_entry_ms"]["p99"]
    p99_off = off["bar_close_to_entry_ms"]["p99"]
    p50_on = on["bar_close_to_entry_ms"]["p50"]
    p50_off = off["bar_close_to_entry_ms"]["p50"]
    speedup_p99 = round(p99_off / p99_on, 1) if p99_on and p99_off else None
    speedup_p50 = round(p50_off / p50_on, 1) if p50_on and p50_off else None
    checks = {
        "prewarm_p99_le_50ms": p99_on is not None and p99_on <= TARGET_P99_MS,
        "speedup_ge_10x": speedup_p99 is not None and speedup_p99 >= TARGET_SPEEDUP,
        "messages_per_symbol_hour_le_50": on["messages_per_symbol_hour"] <= TARGET_MSGS,
        "no_pacing_violations": on["pacing_violations"] == 0 and off["pacing_violations"] == 0,
    }
    return {"speedup_p50": speedup_p50, "speedup_p99": speedup_p99, "checks": checks,
            "met": all(checks.values())}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--latency", choices=("ib", "none"), default="ib")
    p.add_argument("--symbols", type=int, default=8, choices=range(1, len(SYMBOLS) + 1),
                   metavar="N")
    p.add_argument("--minutes", type=float, default=60.0, help="simulated minutes per mode")
    p.add_argument("--speed", type=float, default=20.0, help="simulated seconds per wall second")
    p.add_argument("--seed", type=int, default=7, help="market and latency seed")
    p.add_argument("--trades", choices=tuple(TRADE_RATES), default="default",
                   help="how often each symbol trades (see TRADE_RATES): the bot's default "
                        "cooldown and max hold, or forced (many more entries)")
    p.add_argument("--keep", type=Path, default=None, metavar="DIR",
                   help="keep each mode's settings, bot logs and journal under DIR")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    on = run_mode(args, prewarm=4)
    off = run_mode(args, prewarm=0)
    result = {"latency": args.latency, "symbols": args.symbols, "minutes": args.minutes,
              "speed": args.speed, "seed": args.seed, "trades": args.trades, "prewarm": on, "no_prewarm": off,
              **verdict(on, off)}
    print(json.dumps(result, indent=1))
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
