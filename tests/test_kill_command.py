"""``python -m bot kill`` reaches the bot that runs: found through its lock file, the switch is
written where THAT bot watches (its relative path resolved in its own working directory), and
its next heartbeat confirms that entries stopped; ``kill --clear`` the same way back."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.ops.instance_lock import running_bot

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def running(tmp_path):
    """A real simulator bot started in ``tmp/botdir`` with a relative kill-switch path."""
    botdir = tmp_path / "botdir"
    botdir.mkdir()
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump({
        "journal": {"dir": str(tmp_path / "data")},
        "logging": {"dir": str(tmp_path / "logs")},
        "risk": {"kill_switch_path": "state/KILL"},  # relative: the bot's own directory counts
        "health": {"heartbeat_seconds": 1},
        "broker": {"port": 0},  # the embedded simulator on a free port
    }))
    out = (tmp_path / "bot.out").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config)], cwd=botdir,
                            stdout=out, stderr=subprocess.STDOUT)
    for _ in range(600):  # bounded: up to 30 s for the lock to show the bot
        held = running_bot(tmp_path / "data")
        if held and held.get("pid") == proc.pid:
            break
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=0.05)
    yield config, botdir, proc
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    out.close()


def kill_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", "kill", "--config", str(config), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_kill_from_another_directory_reaches_the_running_bot_and_is_confirmed(running):
    config, botdir, proc = running

    engaged = kill_cli(config, "--reason", "test", "--wait", "20")
    watched = (botdir / "state" / "KILL").exists()
    cleared = kill_cli(config, "--clear", "--wait", "20")

    assert engaged.returncode == 0, engaged.stdout + engaged.stderr
    assert watched and not (ROOT / "state" / "KILL").exists()
    assert f"confirmed by the heartbeat of pid {proc.pid}" in engaged.stdout
    assert "entries stopped" in engaged.stdout
    assert cleared.returncode == 0, cleared.stdout + cleared.stderr
    assert "entries allowed again" in cleared.stdout
    assert not (botdir / "state" / "KILL").exists()
