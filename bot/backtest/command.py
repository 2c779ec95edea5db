"""``python -m bot backtest --data DIR [--from D] [--to D] [--speed max|X] [--config F] [--out DIR]``.

Runs the bot over recorded or imported data (``bot.backtest.driver``) and writes the report
(``bot.backtest.report``) to ``--out``, by default ``<logging.dir>/backtest/<UTC time>/``, which
also holds the run's own journal and logs. Prints the headline figures and the speed in
simulated days per wall minute. Exit 0 when the report is written, 2 for bad arguments or
data, 1 when the bot stopped during the run.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bot.app.config import Settings
from bot.app.exit_codes import EXIT_CONFIG, EXIT_FAILED

# The driver and the report import the simulator (numpy) and the actors: loaded only when a
# backtest runs, never by the parser every other command builds.


def parse_speed(text: str) -> float | None:
    """``max`` (None: as fast as the machine goes) or simulated seconds per wall second."""
    if text == "max":
        return None
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("speed must be 'max' or a positive number")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, required=True,
                   help="replay directory: bars/<SYMBOL>/<YYYY-MM-DD>.csv[.gz] (+ options/, chains/)")
    p.add_argument("--from", dest="first", type=date.fromisoformat, default=None,
                   help="first session day (default: the first recorded)")
    p.add_argument("--to", dest="last", type=date.fromisoformat, default=None,
                   help="last session day (default: the last recorded)")
    p.add_argument("--speed", type=parse_speed, default=None,
                   help="'max' (default): as fast as possible; or at most this many simulated "
                        "seconds per wall second")
    p.add_argument("--iv-surface", type=Path, default=None, metavar="FILE",
                   help="JSON/YAML IV surface for options without recorded quotes (default: "
                        "DIR/iv_surface.json, else the simulator's model)")
    p.add_argument("--out", type=Path, default=None,
                   help="report directory (default: <logging.dir>/backtest/<UTC time>); must not "
                        "hold a journal already")


def run_backtest(settings: Settings, data: Path, first: date | None, last: date | None,
                 out_dir: Path, speed: float | None = None,
                 progress: Callable[[str], None] = lambda line: None,
                 iv_surface: Path | None = None) -> dict[str, Any]:
    """Run one backtest into ``out_dir`` (created) and return its report; raises
    ``BacktestError`` or ``ReplayDataError``. Logging must already be configured (or not)."""
    from bot.backtest import report as report_mod
    from bot.backtest.driver import Backtest, BacktestRefused, backtest_settings, session_days
    from bot.sim.replay_data import ReplayData

    out_dir.mkdir(parents=True, exist_ok=True)
    if (out_dir / "journal").exists() and any((out_dir / "journal").iterdir()):
        raise BacktestRefused(f"{out_dir} already holds a journal: a backtest starts from nothing")
    bt_settings = backtest_settings(settings, out_dir)
    days = session_days(ReplayData(data), tuple(bt_settings.symbols), first, last)
    run = Backtest(bt_settings, data, days, progress=progress, speed=speed,
                   iv_surface=iv_surface).run()
    return report_mod.write(run, bt_settings, str(data), out_dir, iv_surface)


def main(settings: Settings, args: argparse.Namespace) -> int:
    from bot.backtest.driver import BacktestError, BacktestRefused
    from bot.ops.logs import LogsUnusable, configure_logging
    from bot.sim.replay_data import ReplayDataError

    out_dir = args.out or (settings.logging.dir / "backtest"
                           / datetime.now(UTC).strftime("%Y%m%d-%H%M%S"))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        configure_logging(settings.logging.model_copy(update={"dir": out_dir / "logs"}),
                          console=False)
    except (OSError, LogsUnusable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"backtest_started data={args.data} out={out_dir}", flush=True)
    try:
        report = run_backtest(settings, args.data, args.first, args.last, out_dir, args.speed,
                              progress=lambda line: print(line, flush=True),
                              iv_surface=args.iv_surface)
    except (ReplayDataError, OSError, ValueError, BacktestRefused) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except BacktestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    timing = json.loads((out_dir / "timing.json").read_text())
    s = report["summary"]
    print(f"backtest_finished days={timing['days']} trades={s['trades']} net_pnl={s['net_pnl']} "
          f"win_rate_pct={s['win_rate_pct']} max_drawdown={s['max_drawdown']} "
          f"sharpe={s['sharpe']} wall_s={timing['wall_s']} "
          f"sim_days_per_wall_minute={timing['sim_days_per_wall_minute']}", flush=True)
    print(f"report: {out_dir / 'report.md'}", flush=True)
    if not list(out_dir.glob("*.png")):
        print("charts: none (matplotlib is not installed: pip install -e '.[backtest]')",
              flush=True)
    return 0
