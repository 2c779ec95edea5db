"""One full default run per IB client: ``python -m bot --duration N`` against the embedded
simulator trades the same way on ib_insync and on ib_async (issue 14: the same log lines).

The shipped configuration (``configs/settings.yaml``: seeded simulator at speed 60, dry run)
with its relative ``logs/`` and ``data/`` in a temporary directory; only the heartbeat comes
sooner so a short run shows one. Bounded: the bot stops itself after ``DURATION_S``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bot.ib import client

ROOT = Path(__file__).resolve().parents[1]
DURATION_S = 15
"""Long enough for the first brackets (about 2 s in at speed 60) and their exits."""
EVENT = re.compile(r"^\S+ +\S+ +\S+ +(\S+)")


def run_bot(tmp_path: Path, client_name: str) -> tuple[subprocess.CompletedProcess[str], Counter]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        client.ENV_VAR: client_name,
        "BOT__HEALTH__HEARTBEAT_SECONDS": "5",
        "BOT__BROKER__SIM__PACING": "strict",  # as every test's bot runs (tests/conftest.py)
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--duration", str(DURATION_S),
         "--config", str(ROOT / "configs" / "settings.yaml")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=DURATION_S + 60)
    events = Counter(
        match.group(1) for line in done.stderr.splitlines() if (match := EVENT.match(line)))
    return done, events


@pytest.mark.slow
@pytest.mark.parametrize("client_name", client.CLIENTS)
def test_a_default_run_trades_on_the_simulator_with_either_client(tmp_path, client_name) -> None:
    if not client.installed(client_name):
        pytest.skip(f"{client_name} is not installed")

    done, events = run_bot(tmp_path, client_name)

    assert done.returncode == 0, done.stderr[-3000:]
    assert f"kind=sim client={client_name} " in done.stderr
    assert "gateway_started" in done.stderr and " pacing=strict" in done.stderr
    assert "pacing_violations=0" in done.stderr
    assert events["bars_subscribed"] == 3  # SPY, QQQ, IWM
    assert events["bar_closed"] > 0
    assert events["bracket_submitted"] >= 1
    assert events["PositionOpened"] >= 1
    assert events["heartbeat"] >= 1
    assert events["system_stopped"] == 1 and "system_stopped exit_code=0" in done.stderr
    errors = [line for line in done.stderr.splitlines() if " ERROR " in line]
    assert errors == []
    assert (tmp_path / "logs" / "bot.log").exists()
