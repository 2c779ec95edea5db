"""Configuration: YAML, environment on top, and every bad field named with exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.app.config import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    return path


def test_the_shipped_sample_config_is_valid_and_safe_by_default():
    settings = load_settings(ROOT / "configs" / "settings.yaml")

    assert settings.dry_run is True
    assert settings.broker.kind == "sim"
    assert settings.symbols == ("SPY", "QQQ", "IWM")


def test_defaults_are_dry_run_on_the_simulator():
    settings = Settings.model_validate({})

    assert (settings.dry_run, settings.broker.kind, settings.broker.read_only) == (True, "sim", False)
    assert settings.schema_version == 1


def test_environment_beats_yaml(tmp_path, monkeypatch):
    path = write(tmp_path, "broker:\n  port: 4001\n  host: 10.1.1.1\nrisk:\n  max_trades_per_day: 9\n")
    monkeypatch.setenv("BOT__BROKER__PORT", "4002")
    monkeypatch.setenv("BOT__RISK__MAX_TRADES_PER_DAY", "3")
    monkeypatch.setenv("BOT__SYMBOLS", "SPY,QQQ")

    settings = load_settings(path)

    assert settings.broker.port == 4002
    assert settings.broker.host == "10.1.1.1"  # untouched YAML value survives
    assert settings.risk.max_trades_per_day == 3
    assert settings.symbols == ("SPY", "QQQ")


def test_every_bad_field_is_named_at_once(tmp_path):
    path = write(tmp_path, "broker:\n  port: 70000\n  kindd: ib\nrisk:\n  stop_loss_pct: 120\n"
                           "strategy:\n  ema_fast: 30\n  ema_slow: 20\nsymbols: [spy]\n")

    with pytest.raises(ConfigError) as caught:
        load_settings(path)

    fields = [p.split(":", 1)[0] for p in caught.value.problems]
    assert fields == ["symbols", "broker.port", "broker.kindd", "strategy", "risk.stop_loss_pct"]
    assert "ema_fast must be smaller than ema_slow" in str(caught.value)


@pytest.mark.parametrize("text, problem", [
    ("- a\n- b\n", "the top level must be a mapping"),
    ("broker: [unclosed\n", "not valid YAML"),
])
def test_a_file_that_is_not_a_settings_mapping_is_refused(tmp_path, text, problem):
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    assert problem in caught.value.problems[0]


def test_settings_are_frozen():
    settings = Settings.model_validate({})
    with pytest.raises(ValidationError, match="frozen"):
        settings.broker.port = 1  # type: ignore[misc]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={"PATH": "", "PYTHONPATH": str(ROOT)})


def test_check_config_with_a_broken_yaml_exits_2_naming_the_fields(tmp_path):
    path = write(tmp_path, "broker:\n  port: -1\nrisk:\n  max_trades_per_day: many\n")

    done = run_cli("check-config", "--config", str(path))

    assert done.returncode == 2
    assert "broker.port" in done.stderr and "risk.max_trades_per_day" in done.stderr
    assert done.stdout == ""


def test_check_config_prints_the_effective_settings():
    done = run_cli("check-config")

    assert done.returncode == 0, done.stderr
    assert '"dry_run": true' in done.stdout and '"kind": "sim"' in done.stdout


def test_running_with_an_invalid_config_exits_2_before_anything_starts(tmp_path):
    path = write(tmp_path, "logging:\n  dir: " + str(tmp_path / "logs") + "\nbroker:\n  kind: tws\n")

    done = run_cli("--config", str(path), "--duration", "1")

    assert done.returncode == 2
    assert "broker.kind" in done.stderr
    assert not (tmp_path / "logs").exists()


def test_an_environment_variable_naming_no_setting_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("BOT__BROKER__PROT", "4002")  # a typo of port
    monkeypatch.setenv("BOT__RISK__MAX_TRADES_PER_DAY", "many")

    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, "dry_run: true\n"))

    assert [p.split(":", 1)[0] for p in caught.value.problems] == [
        "broker.prot", "risk.max_trades_per_day"]


def test_environment_values_are_converted_like_yaml_values(tmp_path, monkeypatch):
    monkeypatch.setenv("BOT__DRY_RUN", "false")
    monkeypatch.setenv("bot__broker__read_only", "true")  # the prefix and keys in any case

    settings = load_settings(write(tmp_path, "dry_run: true\n"))

    assert (settings.dry_run, settings.broker.read_only) == (False, True)
