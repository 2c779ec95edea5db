"""The soak report, pure: figures from the samples and logs of one run, and the verdict.

``scripts/soak.py`` runs the bot, samples its process every second and reads its JSON log;
this module turns that into the report (``build_report``) and its Markdown (``markdown``).
Time on the x axis is simulated hours (wall seconds x speed / 3600), so a slope reads the
same whatever speed the run used.

The verdict is PASS when every check in ``CHECKS`` holds:
- RSS slope after warm-up at most 1 MiB per simulated hour (least-squares line);
- threads and file descriptors flat: the median of the last tenth of the samples after
  warm-up exceeds the median of the first tenth by at most the stated tolerance;
- zero pacing violations (the simulator's counters, else IB error codes 100 and 420);
- zero unhandled errors (log lines at ERROR or above, tracebacks on stderr) and exit code 0;
- at least one heartbeat (a run without heartbeats proves nothing).
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

RSS_SLOPE_MAX_MIB_PER_SIM_H = 1.0
THREADS_GROWTH_MAX = 0
FDS_GROWTH_MAX = 2
PACING_CODES = frozenset({100, 420})
"""IB error codes that mean a pacing violation (message rate, real-time query pacing)."""
TARGET_RSS_MIB, TARGET_CPU_PCT, TARGET_SYMBOLS = 60.0, 1.0, 8
ERROR_LEVELS = frozenset({"ERROR", "CRITICAL"})
FILL_EVENTS = frozenset({"PositionOpened", "PositionClosed"})
ORDER_EVENTS = frozenset({"order_placed", "order_shadowed"})
"""An order sent to IB, or kept in the bot in a dry run (shadow fills)."""
WINDOW_EVENTS = frozenset({"system_started", "stop_requested"})
"""Log events that mark an entry or an exit fill (counted when no simulator counters exist)."""


# -- statistics ------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100), linear between the closest ranks; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Least-squares slope of ``ys`` over ``xs``; None with fewer than 2 distinct xs."""
    if len(set(xs)) < 2:
        return None
    return statistics.linear_regression(xs, ys).slope


def growth(values: Sequence[float]) -> float | None:
    """Median of the last tenth minus median of the first tenth (at least one sample each)."""
    if not values:
        return None
    n = max(1, len(values) // 10)
    return statistics.median(values[-n:]) - statistics.median(values[:n])


def _by_hour(hours: Sequence[float], values: Sequence[float]) -> list[float]:
    """The last value within each whole simulated hour (shows whether growth is slowing)."""
    last: dict[int, float] = {}
    for h, v in zip(hours, values, strict=True):
        last[int(h)] = v
    return [round(last[k], 1) for k in sorted(last)]


# -- the log ---------------------------------------------------------------------------------


@dataclass
class LogSummary:
    """What the soak needs from the bot's JSON log lines."""

    heartbeats: list[dict[str, Any]] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    """ERROR/CRITICAL lines by event name (the first word of the message), but ib_insync's echo
    of an IB error the broker handles."""
    ib_errors: Counter[int] = field(default_factory=Counter)
    """IB error codes as the broker reported them (``broker_error code=N``)."""
    counters: dict[str, int] | None = None
    """The simulator's counters, from the ``gateway_stopped`` line (None against a gateway)."""
    orders_logged: int = 0
    fills_logged: int = 0
    running: tuple[float | None, float | None] = (None, None)
    """Epoch seconds of ``system_started`` and ``stop_requested``: the bot's running window."""


def summarize_log(lines: Iterable[str]) -> LogSummary:
    """Read JSON log lines (``logs/bot.jsonl``); lines that are not JSON are skipped."""
    out = LogSummary()
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        event = str(record.get("msg", "")).split(" ", 1)[0]
        if "heartbeat" in record:
            out.heartbeats.append(record["heartbeat"])
        if record.get("level") in ERROR_LEVELS and not _ib_error_echo(record):
            out.errors[event] += 1
        if "counters" in record:
            out.counters = dict(record["counters"])
        if event in WINDOW_EVENTS and record.get("ts"):
            _mark_window(out, event, datetime.fromisoformat(record["ts"]).timestamp())
        out.orders_logged += event in ORDER_EVENTS
        out.fills_logged += event in FILL_EVENTS
        code = str(record.get("msg", "")).split("code=", 1)[-1].split(" ", 1)[0]
        if event == "broker_error" and record.get("actor") == "broker" and code.isdigit():
            out.ib_errors[int(code)] += 1
    return out


def _ib_error_echo(record: Mapping[str, Any]) -> bool:
    """The IB client's own ``Error 100, reqId -1: ...`` line (ib_insync or ib_async: same
    text, the logger named after the library): the broker receives the same error
    through errorEvent and reports it by code (``broker_error``), so it is handled, not lost."""
    msg = str(record.get("msg", ""))
    return record.get("actor") in ("ib_insync", "ib_async") and msg.startswith("Error ") and ", reqId" in msg


def _mark_window(out: LogSummary, event: str, epoch: float) -> None:
    start, stop = out.running
    if event == "system_started" and start is None:
        out.running = (epoch, stop)
    elif event == "stop_requested" and stop is None:
        out.running = (start, epoch)


def _running_samples(samples: Sequence[Mapping[str, Any]],
                    window: tuple[float | None, float | None]) -> list[Mapping[str, Any]]:
    """The samples taken while the actors ran (start-up and shutdown left out), when known."""
    start, stop = window
    return [s for s in samples if "ts" not in s
            or ((start is None or s["ts"] >= start) and (stop is None or s["ts"] <= stop))]


# -- the report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """How the run was made (for the x axis and the report's header)."""

    sim_hours: float
    speed: float
    symbols: int
    warmup_sim_hours: float
    exit_code: int | None
    wall_s: float
    target: str
    """``embedded simulator`` or ``gateway HOST:PORT``."""
    machine: str = ""
    stderr_tracebacks: int = 0


def _series(samples: Sequence[Mapping[str, Any]], key: str) -> list[float]:
    return [s[key] for s in samples if s.get(key) is not None]


def _span(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"start": None, "end": None, "peak": None}
    return {"start": values[0], "end": values[-1], "peak": max(values)}


def _check(name: str, measured: Any, threshold: str, ok: bool) -> dict[str, Any]:
    return {"name": name, "measured": measured, "threshold": threshold, "ok": bool(ok)}


def _rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def build_report(run: Run, samples: Sequence[Mapping[str, Any]], log: LogSummary) -> dict[str, Any]:
    """The whole report. ``samples``: ``{"t": wall s, "ts": epoch s, "rss_mib": ...}``, one a
    second; only those inside the bot's running window count, hours measured from the first."""
    samples = _running_samples(samples, log.running)
    t0 = samples[0]["t"] if samples else 0.0
    hours = [(s["t"] - t0) * run.speed / 3600.0 for s in samples]
    steady = [s for s, h in zip(samples, hours, strict=True) if h >= run.warmup_sim_hours]
    steady_h = [h for h in hours if h >= run.warmup_sim_hours]
    rss_slope = _rounded(slope(steady_h, _series(steady, "rss_mib")))
    threads_growth = growth(_series(steady, "threads"))
    fds_growth = growth(_series(steady, "fds"))
    cpu = _series(samples, "cpu_pct")
    lags = [b["beat_lag_s"] for b in log.heartbeats if b.get("beat_lag_s") is not None]
    counters = log.counters
    pacing = (sum(v for k, v in counters.items() if k.startswith("violation."))
              if counters is not None else sum(log.ib_errors.get(c, 0) for c in PACING_CODES))
    unhandled = sum(log.errors.values()) + run.stderr_tracebacks
    checks = [
        _check("rss_slope_mib_per_sim_hour", rss_slope, f"<= {RSS_SLOPE_MAX_MIB_PER_SIM_H:g}",
               rss_slope is not None and rss_slope <= RSS_SLOPE_MAX_MIB_PER_SIM_H),
        _check("threads_growth", threads_growth, f"<= {THREADS_GROWTH_MAX}",
               threads_growth is not None and threads_growth <= THREADS_GROWTH_MAX),
        _check("fds_growth", fds_growth, f"<= {FDS_GROWTH_MAX}",
               fds_growth is not None and fds_growth <= FDS_GROWTH_MAX),
        _check("pacing_violations", pacing, "== 0", pacing == 0),
        _check("unhandled_errors", unhandled, "== 0", unhandled == 0),
        _check("exit_code", run.exit_code, "== 0", run.exit_code == 0),
        _check("heartbeats", len(log.heartbeats), ">= 1", len(log.heartbeats) >= 1),
    ]
    rss = _series(samples, "rss_mib")
    return {
        "verdict": "PASS" if all(c["ok"] for c in checks) else "FAIL",
        "checks": checks,
        "run": {**run.__dict__, "samples": len(samples), "steady_samples": len(steady),
                "sim_hours_sampled": _rounded(hours[-1] if hours else 0.0, 2)},
        "rss_mib": {**_span(rss), "slope_per_sim_hour": rss_slope,
                    "by_sim_hour": _by_hour(hours, rss)},
        "uss_mib": _span(_series(samples, "uss_mib")),
        "cpu_pct": {"mean": _rounded(statistics.fmean(cpu) if cpu else None, 2),
                    "p95": _rounded(percentile(cpu, 95), 2), "max": max(cpu, default=None)},
        "threads": {**_span(_series(samples, "threads")), "growth_after_warmup": threads_growth},
        "fds": {**_span(_series(samples, "fds")), "growth_after_warmup": fds_growth},
        "heartbeats": {"count": len(log.heartbeats), "lag_p99_s": _rounded(percentile(lags, 99)),
                       "lag_max_s": _rounded(max(lags, default=None))},
        "orders": _orders(counters, log),
        "errors_by_kind": _errors_by_kind(log),
        "pacing_violations": pacing,
        "unhandled_errors": unhandled,
        "simulator_counters": counters,
        "targets": _targets(run, rss, _series(steady, "cpu_pct")),
    }


def _orders(counters: Mapping[str, int] | None, log: LogSummary) -> dict[str, Any]:
    if counters is not None:
        return {"placed": counters.get("orders.placed", 0),
                "fills": counters.get("orders.executions", 0), "source": "simulator"}
    return {"placed": log.orders_logged, "fills": log.fills_logged, "source": "bot log"}


def _errors_by_kind(log: LogSummary) -> dict[str, int]:
    """ERROR lines by event, then what the last heartbeat counted (IB codes, timeouts)."""
    kinds = {f"log:{k}": v for k, v in sorted(log.errors.items())}
    last = log.heartbeats[-1].get("errors", {}) if log.heartbeats else {}
    kinds.update({f"heartbeat:{k}": v for k, v in sorted(last.items())})
    return kinds


def _targets(run: Run, rss: Sequence[float], cpu: Sequence[float]) -> list[dict[str, Any]]:
    """The issue's resource targets, reported (not part of the verdict). ``cpu``: the samples
    after warm-up (the start-up backfill is a one-off; the target is the steady load)."""
    applies = run.symbols == TARGET_SYMBOLS
    own_process = run.target.startswith("gateway")  # embedded: the simulator's memory counts too
    cpu_mean = statistics.fmean(cpu) if cpu else None
    return [
        {"name": f"peak RSS with {TARGET_SYMBOLS} symbols, gateway in its own process",
         "measured": max(rss, default=None), "target": f"<= {TARGET_RSS_MIB:g} MiB",
         "applies": applies and own_process,
         "met": applies and own_process and bool(rss) and max(rss) <= TARGET_RSS_MIB},
        {"name": f"mean CPU after warm-up with {TARGET_SYMBOLS} symbols at speed 1",
         "measured": _rounded(cpu_mean, 2), "target": f"<= {TARGET_CPU_PCT:g} % of one core",
         "applies": applies and run.speed == 1,
         "met": applies and run.speed == 1 and cpu_mean is not None and cpu_mean <= TARGET_CPU_PCT},
    ]


# -- Markdown --------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def markdown(report: Mapping[str, Any]) -> str:
    """The report for a person: the verdict first, then the checks, then the figures."""
    run = report["run"]
    failed = [c["name"] for c in report["checks"] if not c["ok"]]
    lines = [
        f"# Soak {report['verdict']}" + (f": failed {', '.join(failed)}" if failed else ""),
        "",
        f"{run['sim_hours_sampled']} simulated hours at {run['speed']:g}x "
        f"({run['wall_s']:.0f} s wall), {run['symbols']} symbols, {run['target']}; "
        f"warm-up {run['warmup_sim_hours']:g} simulated hours; {run['samples']} samples; "
        f"machine: {run['machine'] or 'unknown'}.",
        "",
        "| check | measured | threshold | ok |",
        "|---|---|---|---|",
        *(f"| {c['name']} | {_fmt(c['measured'])} | {c['threshold']} | "
          f"{'yes' if c['ok'] else 'NO'} |" for c in report["checks"]),
        "",
        "| figure | start | end | peak / other |",
        "|---|---|---|---|",
        _row("RSS MiB", report["rss_mib"], f"peak {_fmt(report['rss_mib']['peak'])}"),
        _row("USS MiB", report["uss_mib"], f"peak {_fmt(report['uss_mib']['peak'])}"),
        _row("threads", report["threads"], f"peak {_fmt(report['threads']['peak'])}"),
        _row("fds", report["fds"], f"peak {_fmt(report['fds']['peak'])}"),
        f"| CPU % of one core | | | mean {_fmt(report['cpu_pct']['mean'])}, "
        f"p95 {_fmt(report['cpu_pct']['p95'])}, max {_fmt(report['cpu_pct']['max'])} |",
        f"| heartbeats | | | {report['heartbeats']['count']}, lag p99 "
        f"{_fmt(report['heartbeats']['lag_p99_s'])} s |",
        f"| orders / fills | | | {report['orders']['placed']} / {report['orders']['fills']} "
        f"({report['orders']['source']}) |",
        "",
        "RSS MiB at the end of each simulated hour: "
        + (", ".join(f"{v:g}" for v in report["rss_mib"]["by_sim_hour"]) or "-") + ".",
        "",
        "Errors by kind: " + (", ".join(f"{k} {v}" for k, v in report["errors_by_kind"].items())
                              or "none") + ".",
        "",
        "Targets (reported, not part of the verdict): " + "; ".join(
            f"{t['name']}: {_fmt(t['measured'])} ({t['target']}, "
            f"{('met' if t['met'] else 'NOT met') if t['applies'] else 'n/a for this run'})"
            for t in report["targets"]) + ".",
        "",
    ]
    return "\n".join(lines)


def _row(name: str, span: Mapping[str, Any], other: str) -> str:
    return f"| {name} | {_fmt(span['start'])} | {_fmt(span['end'])} | {other} |"
