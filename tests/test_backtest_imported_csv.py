"""A backtest over imported CSV data: a plain ``timestamp,open,high,low,close,volume`` file goes
through ``python -m bot import-csv`` and then ``python -m bot backtest``, which writes its
report (issue 16: import, then judge the strategy on it)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=170)


def plain_csv(tmp_path: Path) -> Path:
    """Two sessions of SPY as one plain CSV file, as a user would bring it."""
    made = run(str(REPO / "scripts" / "make_replay_data.py"), "--out", str(tmp_path / "synth"),
               "--days", "2", "--symbols", "SPY", "--end", "2026-11-18", cwd=REPO)
    assert made.returncode == 0, made.stderr
    lines: list[str] = []
    for day in sorted((tmp_path / "synth" / "bars" / "SPY").glob("*.csv.gz")):
        rows = gzip.decompress(day.read_bytes()).decode().splitlines()
        lines += rows[1:] if lines else rows
    source = tmp_path / "spy.csv"
    source.write_text("\n".join(lines) + "\n")
    return source


def test_imported_csv_bars_backtest_into_a_report(tmp_path):
    # Arrange: a user's CSV imported into the replay format
    imported = run("-m", "bot", "import-csv", str(plain_csv(tmp_path)), "--symbol", "SPY",
                   "--out", str(tmp_path / "data"), cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert "bad_rows=0" in imported.stdout

    (tmp_path / "settings.yaml").write_text("symbols: [SPY]\n")

    # Act
    done = run("-m", "bot", "backtest", "--data", str(tmp_path / "data"), "--from", "2026-11-18",
               "--to", "2026-11-18", "--speed", "max", "--config", str(tmp_path / "settings.yaml"),
               "--out", str(tmp_path / "bt"), cwd=tmp_path)

    # Assert: the report is there and covers the imported session
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "bt" / "report.json").read_text())
    assert report["days"] == ["2026-11-18"] and report["settings"]["symbols"] == ["SPY"]
    assert report["summary"]["trades"] == len(report["trades"])
    assert "## Summary" in (tmp_path / "bt" / "report.md").read_text()
