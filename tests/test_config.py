"""Configuration: YAML, environment on top, and every bad field named with exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from bot.app.cli import config_source
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


@pytest.mark.parametrize(("make", "problem"), [
    (lambda d: d, "is a directory, not a settings file"),
    (lambda d: (d / "latin1.yaml", (d / "latin1.yaml").write_bytes(b"symbols: [SP\xc9]\n"))[0],
     "not UTF-8 text: byte 0xc9 at offset 12"),
    (lambda d: write(d, "dry_run: true\nbroker:\n  port: 1\ndry_run: false\n"),
     "found duplicate key 'dry_run' (first on line 1)"),
    (lambda d: write(d, "broker:\n  port: 4001\n  port: 4002\n"),
     "found duplicate key 'port' (first on line 2)"),
])
def test_a_config_that_cannot_be_read_as_settings_exits_2_naming_the_problem(tmp_path, make,
                                                                              problem):
    path = make(tmp_path)

    done = run_cli("check-config", "--config", str(path))

    assert done.returncode == 2
    assert problem in done.stderr and "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize("rotation", ["10 MB", "500 KB", "1 GiB", "1 day", "12 hours", "1 week",
                                      "daily", "weekly"])
def test_a_rotation_the_settings_accept_is_one_the_log_writer_accepts(tmp_path, rotation):
    from loguru import logger

    settings = Settings.model_validate({"logging": {"rotation": rotation}})
    sink = logger.add(tmp_path / "x.log", rotation=settings.logging.rotation)  # raises if not
    logger.remove(sink)


@pytest.mark.parametrize(("section", "problem"), [
    ({"rotation": "banana"}, "logging.rotation: Value error, rotation must be a size"),
    ({"rotation": "10 parsecs"}, "logging.rotation"),
    ({"retention": "banana"}, "logging.retention"),
    ({"retention": 0}, "logging.retention"),
])
def test_check_config_refuses_a_rotation_or_retention_the_log_writer_would_crash_on(
        tmp_path, section, problem):
    done = run_cli("check-config", "--config", str(write(tmp_path, yaml.safe_dump(
        {"logging": section}))))

    assert done.returncode == 2
    assert problem in done.stderr


@pytest.mark.parametrize(("given", "environ", "expected"), [
    (Path("a.yaml"), {"BOT_CONFIG": "b.yaml"}, Path("a.yaml")),
    (None, {"BOT_CONFIG": "b.yaml"}, Path("b.yaml")),
    (None, {"BOT_CONFIG": ""}, Path("configs/settings.yaml")),
    (None, {}, Path("configs/settings.yaml")),
])
def test_the_config_is_found_by_flag_then_environment_then_the_default(given, environ, expected):
    assert config_source(given, environ) == expected


def test_bot_config_is_used_from_any_directory_and_the_path_is_printed(tmp_path):
    path = write(tmp_path, "dry_run: true\nsymbols: [AAPL]\n")
    done = subprocess.run([sys.executable, "-m", "bot", "check-config"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": "", "PYTHONPATH": str(ROOT), "BOT_CONFIG": str(path)})

    assert done.returncode == 0, done.stderr
    assert '"AAPL"' in done.stdout
    assert f"configuration ok ({path})" in done.stderr


@pytest.mark.parametrize("args", [
    ["kill", "--json"],
    ["check-config", "--live"],
    ["status", "--duration", "5"],
    ["kill", "--mode", "paper"],
])
def test_flags_that_do_not_apply_to_the_command_are_refused(args):
    done = run_cli(*args)

    assert done.returncode == 2
    assert "unrecognized arguments" in done.stderr
