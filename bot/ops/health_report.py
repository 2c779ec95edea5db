"""The heartbeat, pure: the JSON payload from the figures gathered, and its one readable line.

Inputs are plain values: the process sample (``bot.ops.proc_sample``), each actor's mailbox depth
and last Pong report (``BotActor.stats``), and the HealthActor's own counters. The payload:

| key | what |
|---|---|
| ``ts``, ``uptime_s``, ``beat_lag_s`` | wall time; seconds since start; lateness of this beat |
| ``rss_mib`` ... ``sockets`` | the process (``ProcessSampler.sample``) |
| ``actors`` | per actor: ``mailbox``, ``idle_s`` (idle before the last ping), |
| | ``last_answer_s``, ``rtt_ms``, ``handled``, ``alarm`` |
| ``broker`` | ``state`` (from the last ConnectionChanged, so current even between pings), |
| | ``circuit`` (the request circuit breaker), ``connect_failures`` (failed connection |
| | attempts since the last success), ``client_id``, ``reconnects``, ``lines`` (market data |
| | lines held, of IB's 100), ``warm_lines`` (of them, options kept warm), ``loop_lag_ms``, |
| | ``snapshot`` (asking, published, failed: the orders snapshot after the last connect), |
| | ``pacing_pct`` (share of each pacing rule's budget in use), ``pending_cancels`` (cancels |
| | sent and not yet confirmed by IB), ``orphan_orders`` (orders of an earlier client id, by |
| | id), ``verify`` (the periodic check of the broker's view) |
| ``journal`` | ``state`` (ok, failed, or None before its first report), ``reason``, ``written``, |
| | ``failures``; ``failed`` also puts ``journal=failed`` into ``alarms``; ``commits``, |
| | ``commit_p99_ms`` (of the latest 1000), ``commit_max_ms``, ``slow_commits`` (slower than |
| | ``journal.slow_commit_ms``): how long the write-ahead's fsyncs take |
| ``symbols`` | per symbol: ``bar_age_s``, ``quote_age_s``, ``state`` (from its strategy) |
| ``orders_working``, ``positions`` | from the execution actor (counts) |
| ``held``, ``working_refs`` | the execution actor's view: contracts held per intent, and the |
| | orderRefs it knows as working (a closed trade's cancels until IB confirms them) |
| ``unprotected_position`` | intents holding a position without stops or a closing order past |
| | ``execution.protect_within_s`` (the alarmed state; see ``bot/trading/execution.py``) |
| ``risk`` | ``realized_pnl``, ``loss_budget_used_pct``, ``trades``, ``kill_switch`` |
| ``record`` | the recorder (None without ``record.enabled``): ``rows`` written, ``dropped`` |
| | (its queue was full), ``failed`` writes, ``buffered`` rows not written yet |
| ``errors``, ``alarms`` | counts by kind; actors in alarm, and ``journal=failed`` |
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.ib.pacing import Limits

BROKER, RISK, EXECUTION, JOURNAL, STRATEGY_PREFIX = "broker", "risk", "execution", "journal", "strategy:"
RECORD = "record"
JOURNAL_FAILED_ALARM = "journal=failed"

_LIMITS = Limits()  # the broker's governor runs with the default limits
PACING_RULES = {  # governor snapshot key -> (short name, the governor's limit)
    "msgs_1s": ("msg_1s", _LIMITS.msg_per_s),
    "hist_10min": ("hist_10m", _LIMITS.hist_window_max),
    "hist_open": ("hist_open", _LIMITS.hist_open_max),
    "lines": ("lines", _LIMITS.lines),
}
BROKER_KEYS = ("circuit", "connect_failures", "client_id", "reconnects", "lines", "warm_lines",
               "loop_lag_ms",
               "loop_lag_max_ms", "timeouts", "faults", "snapshot", "pending_cancels",
               "orphan_orders", "verify")
RISK_KEYS = {"realized_pnl": "realized_pnl", "loss_budget_used_pct": "loss_budget_used_pct",
             "trades": "trades", "open": "open_positions", "kill_switch": "kill_switch"}
ACTOR_KEYS = ("rtt_ms", "handled")
JOURNAL_COMMIT_KEYS = ("commits", "commit_p99_ms", "commit_max_ms", "slow_commits")


def pacing_used_pct(snapshot: Mapping[str, Any] | None) -> dict[str, float]:
    """Share of each pacing rule's budget in use, in percent of the governor's limit."""
    snapshot = snapshot or {}
    return {short: round(100.0 * snapshot[key] / limit, 1)
            for key, (short, limit) in PACING_RULES.items() if key in snapshot}


def _broker_section(report: Mapping[str, Any], state: str) -> dict[str, Any]:
    """The broker's figures; its ``state`` from the last ConnectionChanged when one was heard
    (a Pong report can be a ping period old: it said "disconnected" after the reconnect)."""
    section = {"state": state if state != "unknown" else report.get("connection", state)}
    section.update({k: report.get(k) for k in BROKER_KEYS})
    section["pacing_pct"] = pacing_used_pct(report.get("pacing"))
    return section


def _journal_section(report: Mapping[str, Any] | None) -> dict[str, Any]:
    """Whether the journal can be written (from its Pong report; None before the first)."""
    if not report:
        return {"state": None, "reason": None, "written": None, "failures": None,
                **dict.fromkeys(JOURNAL_COMMIT_KEYS)}
    failed = report.get("failed")
    return {"state": "failed" if failed else "ok", "reason": failed,
            "written": report.get("written"), "failures": report.get("failures"),
            **{k: report.get(k) for k in JOURNAL_COMMIT_KEYS}}


def _record_section(report: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The recorder's figures (None when it does not run or has not answered yet)."""
    if not report:
        return None
    return {"rows": report.get("record_rows"), "dropped": report.get("record_dropped"),
            "failed": report.get("record_failed"), "buffered": report.get("record_buffered")}


def _symbols_section(reports: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    keys = ("bar_age_s", "quote_age_s", "state")
    return {name.removeprefix(STRATEGY_PREFIX): {k: r.get(k) for k in keys}
            for name, r in sorted(reports.items()) if name.startswith(STRATEGY_PREFIX)}


def heartbeat_payload(*, ts: str, pid: int, uptime_s: float, beat_lag_s: float,
                      process: Mapping[str, Any], depths: Mapping[str, int],
                      reports: Mapping[str, Mapping[str, Any]],
                      last_answer_s: Mapping[str, float | None], alarmed: set[str],
                      errors: Mapping[str, int], broker_state: str) -> dict[str, Any]:
    """The whole heartbeat (see the module docstring for its keys)."""
    execution, risk = reports.get(EXECUTION, {}), reports.get(RISK, {})
    journal = _journal_section(reports.get(JOURNAL))
    alarms = sorted(alarmed) + ([JOURNAL_FAILED_ALARM] if journal["state"] == "failed" else [])
    actors = {name: {"mailbox": depth, "idle_s": reports.get(name, {}).get("idle_s"),
                     "last_answer_s": last_answer_s.get(name), "alarm": name in alarmed,
                     **{k: reports.get(name, {}).get(k) for k in ACTOR_KEYS}}
              for name, depth in sorted(depths.items())}
    return {
        "ts": ts, "pid": pid, "uptime_s": round(uptime_s, 1), "beat_lag_s": round(beat_lag_s, 3),
        **process,
        "actors": actors,
        "broker": _broker_section(reports.get(BROKER, {}), broker_state),
        "symbols": _symbols_section(reports),
        "orders_working": execution.get("orders_working"),
        "positions": len(execution.get("positions") or {}) if execution else None,
        "held": dict(execution.get("positions") or {}),
        "working_refs": list(execution.get("working_refs") or []),
        "unprotected_position": list(execution.get("unprotected_position") or []),
        "risk": {out: risk.get(key) for key, out in RISK_KEYS.items()},
        "journal": journal,
        "record": _record_section(reports.get(RECORD)),
        "errors": dict(errors),
        "alarms": alarms,
    }


# -- the readable line ------------------------------------------------------------------------


def _num(value: Any, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "?"
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:.{digits}f}{unit}" if isinstance(value, float) else f"{value}{unit}"


def _worst(actors: Mapping[str, Mapping[str, Any]], key: str, unit: str) -> str:
    values = [(a.get(key), name) for name, a in actors.items() if a.get(key) is not None]
    if not values:
        return "?"
    value, name = max(values)
    return f"{_num(value, unit)}@{name}"


def _ages(symbols: Mapping[str, Mapping[str, Any]]) -> str:
    parts = [f"{s}:{_num(v['bar_age_s'], 's', 0)}/{_num(v['quote_age_s'], 's', 0)}"
             for s, v in symbols.items()]
    return ",".join(parts) or "none"


def _pairs(mapping: Mapping[str, Any], unit: str = "") -> str:
    return ",".join(f"{k}:{_num(v, unit, 0)}" for k, v in mapping.items()) or "none"


LINE_FIELDS: tuple[tuple[str, Any], ...] = (  # (key, how to render it from the payload)
    ("up", lambda b: _num(b["uptime_s"], "s")),
    ("rss", lambda b: _num(b.get("rss_mib"), "MiB")),
    ("uss", lambda b: _num(b.get("uss_mib"), "MiB")),
    ("cpu", lambda b: _num(b.get("cpu_pct"), "%")),
    ("threads", lambda b: _num(b.get("threads"))),
    ("fds", lambda b: _num(b.get("fds"))),
    ("sockets", lambda b: _num(b.get("sockets"))),
    ("broker", lambda b: b["broker"]["state"]),
    ("circuit", lambda b: _num(b["broker"]["circuit"])),
    ("connect_failures", lambda b: _num(b["broker"]["connect_failures"])),
    ("client_id", lambda b: _num(b["broker"]["client_id"])),
    ("reconnects", lambda b: _num(b["broker"]["reconnects"])),
    ("pacing", lambda b: _pairs(b["broker"]["pacing_pct"], "%")),
    ("lines", lambda b: _num(b["broker"]["lines"])),
    ("snapshot", lambda b: _num(b["broker"]["snapshot"])),
    ("loop_lag", lambda b: f"{_num(b['broker']['loop_lag_ms'])}/"
                           f"{_num(b['broker']['loop_lag_max_ms'], 'ms')}"),
    ("cancels_pending", lambda b: _count(b["broker"].get("pending_cancels"))),
    ("orphans", lambda b: _count(b["broker"].get("orphan_orders"))),
    ("orders_working", lambda b: _num(b["orders_working"])),
    ("positions", lambda b: _num(b["positions"])),
    ("unprotected", lambda b: ",".join(b.get("unprotected_position") or []) or "none"),
    ("pnl", lambda b: _num(b["risk"]["realized_pnl"], digits=2)),
    ("loss_budget", lambda b: _num(b["risk"]["loss_budget_used_pct"], "%")),
    ("kill_switch", lambda b: _num(b["risk"]["kill_switch"])),
    ("journal", lambda b: _num(b["journal"]["state"])),
    ("commit_p99", lambda b: f"{_num(b['journal'].get('commit_p99_ms'))}/"
                             f"{_num(b['journal'].get('commit_max_ms'), 'ms')}"),
    ("record_dropped", lambda b: "off" if b.get("record") is None else _num(b["record"]["dropped"])),
    ("mailbox_max", lambda b: _worst(b["actors"], "mailbox", "")),
    ("idle_max", lambda b: _worst(b["actors"], "idle_s", "s")),
    ("ages", lambda b: _ages(b["symbols"])),
    ("alarms", lambda b: ",".join(b["alarms"]) or "none"),
    ("errors", lambda b: _pairs(b["errors"])),
)


def _count(items: Any) -> str:
    """How many of a reported collection (a list, or a mapping of lists); ``?`` if unknown."""
    if items is None:
        return "?"
    if isinstance(items, Mapping):
        return str(sum(len(v) if isinstance(v, list | tuple) else 1 for v in items.values()))
    return str(len(items))


def heartbeat_line(beat: Mapping[str, Any]) -> str:
    """One readable line: ``heartbeat key=value ...`` (``?`` where a figure is not known yet).

    ``ages`` is ``SYMBOL:bar age/quote age`` per symbol; ``mailbox_max`` and ``idle_max``
    name the actor with the largest figure."""
    return "heartbeat " + " ".join(f"{key}={render(beat)}" for key, render in LINE_FIELDS)
