"""Benchmark ``python -m bot status``: wall time of the whole command, with and without a journal.

Writes a small journal (one open position with its bracket, a reconciliation, the day's risk)
into a temporary directory, runs the command N times each way and prints one JSON object with
the median and the worst run in seconds. Not a test: the figures depend on the machine (the
README's target is an answer in well under a second).

    .venv/bin/python scripts/bench_status.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot import messages as m  # noqa: E402
from bot.journal.write import Journal, journal_path  # noqa: E402

NOW = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)
CONTRACT = m.OptionContract("SPY", "20261120", 598.0, m.Right.CALL, con_id=42)
IID = "SPY-202611201455-abc123"


def write_journal(folder: Path) -> None:
    entry = m.OrderSpec(f"{IID}.entry", m.Side.BUY, 3, m.OrderType.LIMIT, limit_price=1.60)
    tp = m.OrderSpec(f"{IID}.tp", m.Side.SELL, 3, m.OrderType.LIMIT, limit_price=2.08,
                     oca_group="o", oca_type=3)
    sl = m.OrderSpec(f"{IID}.sl", m.Side.SELL, 3, m.OrderType.STOP, stop_price=1.28,
                     oca_group="o", oca_type=3)
    journal = Journal(journal_path(folder, "paper"))
    for message in (
        m.ModeDecided("paper", "DU1234567", NOW),
        m.EntryProposed("c1", IID, "SPY", m.Direction.CALL, CONTRACT, 1.60, 1.55, 1.60, NOW),
        m.EntryApproved("c1", IID, "SPY", CONTRACT, 3, 1.60, NOW),
        m.SubmitBracket("c1", IID, CONTRACT, entry, tp, sl),
        m.OrderFilled("c1", entry.client_order_id, "e1", CONTRACT, m.Side.BUY, 3, 1.60, NOW, 1.95),
        m.PositionOpened("c1", IID, "SPY", CONTRACT, 3, 1.60, NOW),
        m.ReconcileFinished(True, 1, 0, 0, 0, NOW),
        m.RiskStateChanged(date(2026, 11, 20), 10_000.0, -150.0, 2, 1, False, NOW),
    ):
        journal.record(message, NOW)
    journal.close()


def timed(config: Path, runs: int) -> dict[str, float]:
    times = []
    for _ in range(runs):
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "bot", "status", "--config", str(config)],
                       cwd=REPO, capture_output=True, timeout=60, check=False)
        times.append(time.monotonic() - started)
    return {"median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = folder / "settings.yaml"
        config.write_text(f"journal:\n  dir: {folder / 'data'}\nlogging:\n  dir: {folder / 'logs'}\n"
                          f"risk:\n  kill_switch_path: {folder / 'KILL'}\n", encoding="utf-8")
        empty = timed(config, args.runs)
        write_journal(folder / "data")
        full = timed(config, args.runs)
    print(json.dumps({"runs": args.runs, "no_journal": empty, "with_journal": full}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
