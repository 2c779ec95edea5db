"""``python -m bot backtest``: the production path over replayed CSV data writes the report,
and the same data and settings give the same report, byte for byte."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]
"""The module's fixture runs two backtests (each bounded by ``run``'s timeout) inside the first
test: more than the suite's default 180 s on a loaded machine."""


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=170)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Two synthetic sessions of three symbols (the first one warms the indicators up); one
    open position at a time, so signals on the same bar compete for it."""
    root = tmp_path_factory.mktemp("replay")
    made = run(str(REPO / "scripts" / "make_replay_data.py"), "--out", str(root), "--days", "2",
               "--symbols", "SPY,QQQ,IWM", "--end", "2026-11-18", cwd=REPO)
    assert made.returncode == 0, made.stderr
    (root / "settings.yaml").write_text("symbols: [SPY, QQQ, IWM]\nrisk:\n  max_open_positions: 1\n")
    return root


@pytest.fixture(scope="module")
def two_runs(data, tmp_path_factory) -> list[Path]:
    outs = []
    for n in (1, 2):
        out = tmp_path_factory.mktemp(f"run{n}")
        done = run("-m", "bot", "backtest", "--data", str(data), "--from", "2026-11-18",
                   "--to", "2026-11-18", "--speed", "max", "--config",
                   str(data / "settings.yaml"), "--out", str(out / "bt"), cwd=out)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "sim_days_per_wall_minute=" in done.stdout
        outs.append(out / "bt")
    return outs


def test_the_same_data_and_settings_give_the_same_report(two_runs):
    first, second = two_runs

    assert (first / "report.json").read_bytes() == (second / "report.json").read_bytes()
    assert (first / "report.md").read_bytes() == (second / "report.md").read_bytes()


def test_the_report_holds_every_figure_the_settings_and_the_price_sources(two_runs):
    report = json.loads((two_runs[0] / "report.json").read_text())
    s = report["summary"]

    assert report["days"] == ["2026-11-18"]
    assert s["trades"] > 0 and s["fills"] == s["fills_modelled_prices"] + s["fills_recorded_prices"]
    assert {"net_pnl", "win_rate_pct", "expectancy", "max_drawdown", "sharpe", "fees",
            "slippage_vs_mid"} <= set(s)
    assert report["trades"] and report["equity_curve"] and report["drawdown"]
    assert set(report["pnl_by_symbol"]) <= {"SPY", "QQQ", "IWM"} and report["pnl_by_exit_reason"]
    assert report["settings"]["symbols"] == ["SPY", "QQQ", "IWM"]
    assert report["settings"]["journal"]["dir"] == "journal"  # the run's own, relative
    md = (two_runs[0] / "report.md").read_text()
    for heading in ("## Summary", "## Option prices", "## P&L by day", "## P&L by symbol",
                    "## P&L by exit reason", "## Trades", "## Charts", "## Settings used"):
        assert heading in md
    assert (two_runs[0] / "journal" / "journal-sim.sqlite3").exists()
    assert json.loads((two_runs[0] / "timing.json").read_text())["days"] == 1


def test_a_range_without_recorded_sessions_exits_2(data, tmp_path):
    done = run("-m", "bot", "backtest", "--data", str(data), "--from", "2025-01-01",
               "--to", "2025-01-31", "--config", str(data / "settings.yaml"),
               "--out", str(tmp_path / "bt"), cwd=tmp_path)

    assert done.returncode == 2
    assert "no recorded session" in done.stderr


@pytest.mark.parametrize(("text", "expected"), [("max", None), ("600", 600.0), ("0.5", 0.5)])
def test_speed_is_max_or_simulated_seconds_per_wall_second(text, expected):
    from bot.backtest.command import parse_speed

    assert parse_speed(text) == expected


@pytest.mark.parametrize("text", ["0", "-5"])
def test_a_speed_that_is_not_positive_is_refused(text):
    import argparse

    from bot.backtest.command import parse_speed

    with pytest.raises(argparse.ArgumentTypeError):
        parse_speed(text)


def test_a_report_directory_holding_a_journal_is_refused(data, tmp_path):
    (tmp_path / "bt" / "journal").mkdir(parents=True)
    (tmp_path / "bt" / "journal" / "journal-sim.sqlite3").write_text("")

    done = run("-m", "bot", "backtest", "--data", str(data), "--config",
               str(data / "settings.yaml"), "--out", str(tmp_path / "bt"), cwd=tmp_path)

    assert done.returncode == 2
    assert "already holds a journal" in done.stderr


def write_option_quotes(root: Path, symbol: str, day: str) -> None:
    """Recorded quotes, every minute, of the day's expiry around the money (priced by the
    simulator's model here: what matters is that the gateway serves them as recorded)."""
    import csv
    import gzip
    from datetime import datetime

    from bot.sim.contracts import SimContract
    from bot.sim.options import option_quote

    expiry = day.replace("-", "")
    with gzip.open(root / "bars" / symbol / f"{day}.csv.gz", "rt") as handle:
        rows = list(csv.DictReader(handle))
    lines = []
    for row in rows:
        t, spot = datetime.fromisoformat(row["timestamp"]), float(row["close"])
        for strike in range(round(spot) - 6, round(spot) + 7):
            for right in ("C", "P"):
                c = SimContract(con_id=1, symbol=symbol, sec_type="OPT", expiry=expiry,
                                strike=float(strike), right=right, multiplier="100")
                q = option_quote(c, spot, t, 7)
                lines.append(json.dumps({
                    "ts": row["timestamp"], "expiry": expiry, "strike": float(strike),
                    "right": right, "bid": q.bid, "ask": q.ask, "last": None, "bid_size": 50,
                    "ask_size": 50, "iv": None, "delta": None, "gamma": None, "theta": None,
                    "vega": None, "und_price": spot}))
    folder = root / "options" / symbol
    folder.mkdir(parents=True)
    (folder / f"{day}.jsonl.gz").write_bytes(gzip.compress("\n".join(lines).encode()))


def test_fills_at_recorded_option_quotes_are_reported_as_recorded(tmp_path):
    data = tmp_path / "data"
    made = run(str(REPO / "scripts" / "make_replay_data.py"), "--out", str(data), "--days", "2",
               "--symbols", "SPY", "--end", "2026-11-18", cwd=REPO)
    assert made.returncode == 0, made.stderr
    write_option_quotes(data, "SPY", "2026-11-18")
    (tmp_path / "settings.yaml").write_text("symbols: [SPY]\n")

    done = run("-m", "bot", "backtest", "--data", str(data), "--from", "2026-11-18", "--config",
               str(tmp_path / "settings.yaml"), "--out", str(tmp_path / "bt"), cwd=tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    prices = json.loads((tmp_path / "bt" / "report.json").read_text())["option_prices"]
    assert prices["recorded_fills"] > 0 and prices["modelled_fills"] == 0
