"""The backtest report's files: the same run gives the same bytes, the charts come with
matplotlib and the report says so without it."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime

import pytest

from bot.app.config import Settings
from bot.backtest import report
from bot.backtest.driver import BacktestRun
from bot.backtest.metrics import Fill

T0 = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
RUN = BacktestRun(
    days=(date(2026, 11, 18),), start_equity=100_000.0,
    fills=(Fill(T0, "SPY-1", "entry", "SPY", "SPY C", "BOT", 2, 1.0, 1.3, 0.99, "recorded"),
           Fill(T0.replace(minute=9), "SPY-1", "tp", "SPY", "SPY C", "SLD", 2, 1.3, 1.31, 1.3,
                "modelled")),
    reasons={"SPY-1": "take profit"}, expired_entries=1, wall_s=12.5, steps=400,
    gateway_counters={})


def test_the_same_run_writes_the_same_report_wherever_it_goes(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        out.mkdir()
        report.write(RUN, Settings(journal={"dir": out / "journal"}), "data", out)

    assert (first / "report.json").read_bytes() == (second / "report.json").read_bytes()
    assert (first / "report.md").read_bytes() == (second / "report.md").read_bytes()
    saved = json.loads((first / "report.json").read_text())
    assert saved["summary"]["net_pnl"] == pytest.approx(60.0 - 1.30 - 1.31)
    assert saved["summary"]["entries_expired_unfilled"] == 1
    assert (saved["option_prices"]["recorded_fills"], saved["option_prices"]["modelled_fills"]) == (1, 1)
    assert json.loads((first / "timing.json").read_text())["sim_days_per_wall_minute"] == 4.8


def test_without_matplotlib_the_report_says_there_are_no_charts(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError

    report.write(RUN, Settings(), "data", tmp_path)

    assert not list(tmp_path.glob("*.png"))
    assert "matplotlib is not installed" in (tmp_path / "report.md").read_text()


def test_with_matplotlib_the_equity_and_drawdown_charts_are_linked(tmp_path):
    pytest.importorskip("matplotlib")

    report.write(RUN, Settings(), "data", tmp_path)

    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["drawdown.png", "equity.png"]
    assert "![equity.png](equity.png)" in (tmp_path / "report.md").read_text()
