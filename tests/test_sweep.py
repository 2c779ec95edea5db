"""``scripts/sweep.py``: a grid of real setting names becomes independent backtests, checked
before any runs, and one table ranks them best first."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.app.config import Settings

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("sweep", REPO / "scripts" / "sweep.py")
sweep = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sweep)


def test_a_grid_expands_into_every_combination_of_real_settings():
    grid = sweep.parse_grid(["strategy.ema_fast=5,8", "risk.stop_loss_pct=20,30.5"])

    combos = sweep.combinations(grid)

    assert combos == [
        {"strategy.ema_fast": 5, "risk.stop_loss_pct": 20},
        {"strategy.ema_fast": 5, "risk.stop_loss_pct": 30.5},
        {"strategy.ema_fast": 8, "risk.stop_loss_pct": 20},
        {"strategy.ema_fast": 8, "risk.stop_loss_pct": 30.5},
    ]
    settings = Settings.model_validate(sweep.apply(Settings().model_dump(mode="json"), combos[3]))
    assert (settings.strategy.ema_fast, settings.risk.stop_loss_pct) == (8, 30.5)


def test_apply_leaves_the_base_settings_untouched():
    base = Settings().model_dump(mode="json")

    sweep.apply(base, {"strategy.ema_fast": 5})

    assert base["strategy"]["ema_fast"] == Settings().strategy.ema_fast


@pytest.mark.parametrize("item", ["strategy.ema_fast", "=5,8", "strategy.ema_fast="])
def test_a_malformed_grid_item_is_refused(item):
    with pytest.raises(ValueError, match="expected section.key=v1,v2"):
        sweep.parse_grid([item])


def test_a_wrong_setting_name_exits_2_before_anything_runs(tmp_path, capsys):
    code = sweep.main(["--data", str(tmp_path), "--grid", "exits.stop_loss_pct=20,30",
                       "--out", str(tmp_path / "out")])

    assert code == 2
    assert "exits" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_rows_rank_best_first_and_failed_runs_last():
    rows = [{"summary": {"net_pnl": 5.0, "max_drawdown": 30.0}}, {"summary": None},
            {"summary": {"net_pnl": 9.0, "max_drawdown": 50.0}}]

    assert [r["summary"] for r in sweep.rank(rows, "net_pnl")] == [
        rows[2]["summary"], rows[0]["summary"], None]
    assert sweep.rank(rows, "max_drawdown")[0] is rows[0]  # the smallest drawdown is best


@pytest.mark.slow
def test_a_local_sweep_runs_each_combination_and_writes_one_table(tmp_path):
    data = tmp_path / "data"
    made = subprocess.run([sys.executable, str(REPO / "scripts" / "make_replay_data.py"), "--out",
                           str(data), "--days", "2", "--symbols", "SPY", "--end", "2026-11-18"],
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    (tmp_path / "settings.yaml").write_text("symbols: [SPY]\n")

    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "sweep.py"), "--data", str(data), "--from",
         "2026-11-18", "--config", str(tmp_path / "settings.yaml"), "--grid",
         "risk.stop_loss_pct=15,40", "--workers", "2", "--out", str(tmp_path / "sweep")],
        cwd=tmp_path, capture_output=True, text=True, timeout=170)

    assert done.returncode == 0, done.stdout + done.stderr
    rows = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert sorted(r["params"]["risk.stop_loss_pct"] for r in rows) == [15, 40]
    assert rows[0]["summary"]["net_pnl"] >= rows[1]["summary"]["net_pnl"]
    assert (tmp_path / "sweep" / "run001" / "report.md").exists()
    assert "| # | risk.stop_loss_pct | net_pnl |" in (tmp_path / "sweep" / "sweep.md").read_text()


@pytest.mark.slow
def test_with_ray_the_runs_are_ray_tasks_and_give_the_same_table(tmp_path):
    pytest.importorskip("ray")  # the optional extra: pip install -e '.[ray]'
    data = tmp_path / "data"
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_replay_data.py"), "--out",
                    str(data), "--days", "2", "--symbols", "SPY", "--end", "2026-11-18"],
                   check=True, capture_output=True, timeout=60)
    (tmp_path / "settings.yaml").write_text("symbols: [SPY]\n")
    common = [sys.executable, str(REPO / "scripts" / "sweep.py"), "--data", str(data), "--from",
              "2026-11-18", "--config", str(tmp_path / "settings.yaml"), "--grid",
              "risk.stop_loss_pct=15,40"]

    on_ray = subprocess.run([*common, "--ray", "local", "--out", str(tmp_path / "ray")],
                            cwd=tmp_path, capture_output=True, text=True, timeout=170)
    local = subprocess.run([*common, "--workers", "2", "--out", str(tmp_path / "pool")],
                           cwd=tmp_path, capture_output=True, text=True, timeout=170)

    assert on_ray.returncode == 0 and local.returncode == 0, on_ray.stderr[-2000:]
    assert "where=ray local" in on_ray.stdout
    assert (json.loads((tmp_path / "ray" / "sweep.json").read_text())
            == json.loads((tmp_path / "pool" / "sweep.json").read_text()))
