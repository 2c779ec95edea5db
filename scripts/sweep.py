"""Run a parameter grid as independent backtests and print one table, best first.

    .venv/bin/python scripts/sweep.py --data DIR [--from D] [--to D] [--config F] \\
        --grid strategy.ema_fast=5,8 risk.stop_loss_pct=20,30 [--workers N] [--ray ADDRESS] \\
        [--sort net_pnl] [--out DIR]

Each combination of the grid (keys are the real setting names, dotted: ``section.key``) is the
settings file plus those values, validated before anything runs (a wrong name or value exits 2
naming it). Each backtest runs in a fresh process of its own (``python -m bot backtest``'s
driver, deterministic), locally in a process pool (``--workers``, default: the CPU count) or,
with ``--ray ADDRESS``, as Ray tasks on that cluster (``pip install -e '.[ray]'``; the data
directory and ``--out`` must be on a filesystem every node sees). Results: ``sweep.md`` and
``sweep.json`` in ``--out`` (default ``logs/sweep/<UTC time>``), each run's report under it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

COLUMNS = ("net_pnl", "trades", "win_rate_pct", "expectancy", "max_drawdown", "sharpe", "fees",
           "slippage_vs_mid")


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """``section.key=v1,v2`` items -> {dotted key: [values]}; values parsed as YAML scalars."""
    import yaml

    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key or not values:
            raise ValueError(f"grid item {item!r}: expected section.key=v1,v2")
        grid[key.strip()] = [yaml.safe_load(v) for v in values.split(",")]
    return grid


def combinations(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination, in grid order (the last key varies fastest)."""
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]


def apply(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The settings data with dotted ``overrides`` set (a deep copy; the base is untouched)."""
    data = json.loads(json.dumps(base, default=str))
    for dotted, value in overrides.items():
        *path, last = dotted.split(".")
        node = data
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return data


def run_one(settings_data: dict[str, Any], data: str, first: str | None, last: str | None,
            out_dir: str) -> dict[str, Any]:
    """One backtest in this process (a pool worker or a Ray task); its summary."""
    from bot.app.config import Settings
    from bot.backtest.command import run_backtest
    from bot.ops.logs import configure_logging

    settings = Settings.model_validate(settings_data)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    configure_logging(settings.logging.model_copy(update={"dir": out / "logs"}), console=False)
    report = run_backtest(settings, Path(data), date.fromisoformat(first) if first else None,
                          date.fromisoformat(last) if last else None, out)
    return report["summary"]


def _table(rows: list[dict[str, Any]], keys: list[str]) -> str:
    header = ["#", *keys, *COLUMNS, "report"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, row in enumerate(rows, 1):
        cells = [i, *(row["params"][k] for k in keys),
                 *(row["summary"].get(c) if row["summary"] else row.get("error") for c in COLUMNS),
                 row["out"]]
        lines.append("| " + " | ".join("-" if c is None else str(c) for c in cells) + " |")
    return "\n".join(lines)


def rank(rows: list[dict[str, Any]], sort: str) -> list[dict[str, Any]]:
    """Best first by ``sort`` (highest; for max_drawdown the lowest); failed runs last."""
    sign = 1 if sort == "max_drawdown" else -1

    def key(row):
        value = (row["summary"] or {}).get(sort)
        return (value is None, sign * value if value is not None else 0)

    return sorted(rows, key=key)


def run_local(jobs: list[tuple], workers: int) -> list[Any]:
    # spawn, one task per process: every backtest starts from a clean interpreter (actors,
    # loops and the embedded gateway are per process)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, max_tasks_per_child=1) as pool:
        futures = [pool.submit(run_one, *job) for job in jobs]
        return [_outcome(f.result) for f in futures]


def run_ray(jobs: list[tuple], address: str) -> list[Any]:
    try:
        import ray
    except ImportError:
        raise SystemExit("error: --ray needs Ray: pip install -e '.[ray]'") from None
    ray.init(address=address, runtime_env={"working_dir": str(REPO),
                                           "excludes": ["logs", "data", ".venv", ".git"]})
    task = ray.remote(run_one)
    refs = [task.remote(*job) for job in jobs]
    return [_outcome(lambda r=r: ray.get(r)) for r in refs]


def _outcome(get) -> Any:
    try:
        return get()
    except Exception as exc:  # noqa: BLE001 - one failed run is a row of the table, not the end
        return exc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--from", dest="first", default=None)
    p.add_argument("--to", dest="last", default=None)
    p.add_argument("--config", type=Path, default=None)
    p.add_argument("--grid", nargs="+", required=True, metavar="section.key=v1,v2")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--ray", default=None, metavar="ADDRESS", help="run on this Ray cluster")
    p.add_argument("--sort", default="net_pnl", choices=COLUMNS)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)

    from bot.app.config import ConfigError, Settings, load_settings

    try:
        base = (load_settings(args.config) if args.config else Settings()).model_dump(mode="json")
        grid = parse_grid(args.grid)
        combos = combinations(grid)
        for combo in combos:  # every combination valid before any runs
            Settings.model_validate(apply(base, combo))
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = (args.out or Path("logs/sweep") / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")).absolute()
    jobs = [(apply(base, combo), str(args.data.absolute()), args.first, args.last,
             str(out / f"run{i:03d}")) for i, combo in enumerate(combos, 1)]
    print(f"sweep_started runs={len(jobs)} where={'ray ' + args.ray if args.ray else 'local'} "
          f"out={out}", flush=True)
    results = run_ray(jobs, args.ray) if args.ray else run_local(jobs, max(1, args.workers))
    rows = [{"params": combo, "out": Path(job[4]).name,
             "summary": None if isinstance(res, Exception) else res,
             "error": repr(res) if isinstance(res, Exception) else None}
            for combo, job, res in zip(combos, jobs, results, strict=True)]
    rows = rank(rows, args.sort)
    table = _table(rows, list(grid))
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps(rows, indent=1) + "\n")
    (out / "sweep.md").write_text(f"# Sweep, best {args.sort} first\n\n{table}\n")
    print(table)
    return 1 if any(r["error"] for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
