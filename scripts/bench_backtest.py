"""Measure the backtest's speed: 20 trading days of 3 symbols at ``--speed max``.

    .venv/bin/python scripts/bench_backtest.py [--days 20] [--symbols SPY,QQQ,IWM] [--keep DIR]

Writes synthetic 1-minute bars (``scripts/make_replay_data.py``) to a temporary directory,
runs ``python -m bot backtest --speed max`` over them and prints the wall time and the
simulated days per wall minute. Exit 1 when it took 10 minutes or more (the target).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 600.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--days", type=int, default=20)
    p.add_argument("--symbols", default="SPY,QQQ,IWM")
    p.add_argument("--keep", type=Path, default=None, help="keep data and report here")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        data, out = root / "data", root / "report"
        subprocess.run([sys.executable, str(REPO / "scripts" / "make_replay_data.py"), "--out",
                        str(data), "--days", str(args.days), "--symbols", args.symbols],
                       check=True)
        config = root / "settings.yaml"
        config.write_text(f"symbols: [{args.symbols}]\n")
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "bot", "backtest", "--data", str(data),
                               "--speed", "max", "--config", str(config), "--out", str(out)],
                              cwd=root)
        wall = time.monotonic() - started
        if done.returncode != 0:
            print(f"backtest failed: exit {done.returncode}", file=sys.stderr)
            return 1
        timing = json.loads((out / "timing.json").read_text())
    print(f"bench_backtest days={args.days} symbols={args.symbols} wall_s={wall:.1f} "
          f"(backtest alone {timing['wall_s']} s) sim_days_per_wall_minute="
          f"{timing['sim_days_per_wall_minute']} target_s={TARGET_S:g} "
          f"met={wall < TARGET_S}")
    return 0 if wall < TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
