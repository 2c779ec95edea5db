"""Writes a backtest's report: ``report.json``, ``report.md`` and, with matplotlib, PNGs.

Everything in the report derives from the run's fills and the bot's exit reasons through the
pure functions of ``bot.backtest.metrics``, plus the settings used, so the same data and
settings give the same files byte for byte. What varies from run to run (wall time, the
output directory) is kept out of them: wall time goes to ``timing.json`` and the paths of the
run's own journal and logs are shown relative to the report.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bot.app.config import Settings, redacted
from bot.backtest import metrics
from bot.backtest.driver import BacktestRun

RUN_PATHS = {("journal", "dir"): "journal", ("logging", "dir"): "logs",
             ("risk", "kill_switch_path"): "KILL"}


def settings_used(settings: Settings) -> dict[str, Any]:
    """The effective settings (alert URLs redacted), with the run's own paths relative."""
    data = redacted(settings)
    for (section, key), relative in RUN_PATHS.items():
        data[section][key] = relative
    return data


def build(run: BacktestRun, settings: Settings, data_dir: str,
          iv_surface: Path | None = None) -> dict[str, Any]:
    """The whole report as plain data (what ``report.json`` holds)."""
    trades = metrics.trades_from(run.fills, run.reasons)
    curve = metrics.equity_curve(run.start_equity, trades)
    summary = metrics.summary(run.start_equity, trades, run.fills, run.days)
    return {
        "data": data_dir,
        "days": [d.isoformat() for d in run.days],
        "summary": {**summary, "entries_expired_unfilled": run.expired_entries},
        "option_prices": {
            "recorded_fills": summary["fills_recorded_prices"],
            "modelled_fills": summary["fills_modelled_prices"],
            "note": "recorded: the option's recorded quote at the fill; modelled: Black-Scholes on "
                    "the replayed underlying with the IV surface (no quote recorded within "
                    "120 s)",
            "iv_surface": _surface_of(data_dir, iv_surface),
        },
        "pnl_by_day": {d.isoformat(): v for d, v in metrics.daily_pnl(trades, run.days).items()},
        "pnl_by_symbol": metrics.pnl_by(trades, lambda t: t.symbol),
        "pnl_by_exit_reason": metrics.pnl_by(trades, lambda t: t.reason),
        "equity_curve": [[t.isoformat(), e] for t, e in curve],
        "drawdown": [[t.isoformat(), d] for t, d in metrics.drawdown_curve(run.start_equity, curve)],
        "trades": [_trade_row(t) for t in trades],
        "settings": settings_used(settings),
    }


def _surface_of(data_dir: str, iv_surface: Path | None) -> str:
    """Which IV surface priced the modelled options, as the gateway chose it."""
    if iv_surface is not None:
        return f"--iv-surface {iv_surface.name}: {iv_surface.read_text().strip()}"
    default = Path(data_dir) / "iv_surface.json"
    if default.exists():
        return f"iv_surface.json of the data: {default.read_text().strip()}"
    return "the simulator's model (per-symbol base vol x 1.10, skew 0.08, smile 0.015)"


def _trade_row(t: metrics.Trade) -> dict[str, Any]:
    row = asdict(t)
    row["entry_time"] = t.entry_time.isoformat()
    row["exit_time"] = t.exit_time.isoformat() if t.exit_time else None
    row["pnl"] = round(t.pnl, 2)
    return row


def _money(x: float | None) -> str:
    return "-" if x is None else f"{x:,.2f}"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def markdown(report: dict[str, Any], pngs: list[str], png_note: str) -> str:
    s = report["summary"]
    days = report["days"]
    out = [f"# Backtest {days[0]} .. {days[-1]} ({len(days)} sessions)", "",
           f"Data: `{report['data']}`. Symbols: {', '.join(report['settings']['symbols'])}.", "",
           "## Summary", ""]
    out += _table(["figure", "value"], [
        ["start equity", _money(s["start_equity"])], ["end equity", _money(s["end_equity"])],
        ["net P&L (after fees)", _money(s["net_pnl"])], ["closed trades", s["trades"]],
        ["open at the end", s["open_at_end"]],
        ["win rate", "-" if s["win_rate_pct"] is None else f"{s['win_rate_pct']}%"],
        ["expectancy per trade", _money(s["expectancy"])],
        ["max drawdown", f"{_money(s['max_drawdown'])} ({s['max_drawdown_pct']}%)"],
        ["Sharpe (daily, annualised)", "-" if s["sharpe"] is None else s["sharpe"]],
        ["fees", _money(s["fees"])], ["slippage vs mid (cost)", _money(s["slippage_vs_mid"])],
        ["fills", s["fills"]], ["entries expired unfilled", s["entries_expired_unfilled"]]])
    p = report["option_prices"]
    out += ["", "## Option prices", "",
            f"{p['recorded_fills']} fills at recorded option quotes, {p['modelled_fills']} at "
            f"modelled ones. {p['note']}.", "", f"IV surface: {p['iv_surface']}.", ""]
    for title, key in (("P&L by day", "pnl_by_day"),):
        out += [f"## {title}", ""]
        out += _table(["day", "net P&L"], [[d, _money(v)] for d, v in report[key].items()])
        out.append("")
    for title, key in (("P&L by symbol", "pnl_by_symbol"),
                       ("P&L by exit reason", "pnl_by_exit_reason")):
        out += [f"## {title}", ""]
        out += _table(["", "trades", "wins", "net P&L", "fees"],
                      [[k, r["trades"], r["wins"], _money(r["pnl"]), _money(r["fees"])]
                       for k, r in report[key].items()])
        out.append("")
    out += ["## Trades", ""]
    out += _table(["entry (UTC)", "exit (UTC)", "contract", "qty", "entry", "exit", "P&L", "fees",
                   "slippage", "reason", "prices"],
                  [[t["entry_time"][:19], (t["exit_time"] or "-")[:19], t["contract"].replace(" ", ""),
                    f"{t['quantity']:g}", f"{t['entry_price']:.2f}",
                    "-" if t["exit_price"] is None else f"{t['exit_price']:.2f}", _money(t["pnl"]),
                    _money(t["fees"]), _money(t["slippage"]), t["reason"], t["sources"]]
                   for t in report["trades"]])
    out += ["", "## Charts", ""]
    out += [f"![{name}]({name})" for name in pngs] or [png_note]
    out += ["", "## Settings used", "", "```json",
            json.dumps(report["settings"], indent=1, sort_keys=True), "```", ""]
    return "\n".join(out)


def charts(report: dict[str, Any], out_dir: Path) -> tuple[list[str], str]:
    """equity.png and drawdown.png when matplotlib is installed; (names, note)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return [], ("No charts: matplotlib is not installed "
                    "(`pip install -e '.[backtest]'`).")
    from datetime import datetime

    names = []
    start = report["summary"]["start_equity"]
    for name, key, label, base in (("equity.png", "equity_curve", "equity ($)", start),
                                   ("drawdown.png", "drawdown", "drawdown ($)", 0.0)):
        points = report[key]
        fig, ax = plt.subplots(figsize=(9, 3.5))
        xs = [datetime.fromisoformat(t) for t, _ in points]
        ys = [v for _, v in points]
        if points:
            ax.step(xs, ys, where="post")
        else:
            ax.axhline(base)
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        fig.autofmt_xdate()
        fig.tight_layout()
        fig.savefig(out_dir / name, dpi=90, metadata={"Software": None})
        plt.close(fig)
        names.append(name)
    return names, ""


def write(run: BacktestRun, settings: Settings, data_dir: str, out_dir: Path,
          iv_surface: Path | None = None) -> dict[str, Any]:
    """report.json, report.md, the charts and timing.json in ``out_dir``; returns the report."""
    report = build(run, settings, data_dir, iv_surface)
    (out_dir / "report.json").write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    pngs, note = charts(report, out_dir)
    (out_dir / "report.md").write_text(markdown(report, pngs, note))
    minutes = run.wall_s / 60
    timing = {"wall_s": round(run.wall_s, 1), "steps": run.steps, "days": len(run.days),
              "sim_days_per_wall_minute": round(len(run.days) / minutes, 2) if minutes else None}
    (out_dir / "timing.json").write_text(json.dumps(timing, indent=1) + "\n")
    return report
