"""One bot per journal directory: the lock comes first, a second bot exits 3 naming the first,
and the lock dies with its process (SIGKILL included).

The holder in most tests is a small subprocess that takes the real lock and waits on its
stdin; the bot under test is the real ``python -m bot``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.ops.instance_lock import LockHeld, LockUnusable, acquire, lock_path, running_bot

ROOT = Path(__file__).resolve().parents[1]
HOLDER = """
import sys
from pathlib import Path
from bot.ops.instance_lock import acquire
lock = acquire(Path(sys.argv[1]), {"config": "holder.yaml", "mode": "sim"})
print("locked", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def holder(tmp_path):
    """A process holding ``tmp/data``'s lock until its stdin closes (killed at the end)."""
    procs: list[subprocess.Popen[str]] = []

    def start(journal_dir: Path) -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(journal_dir)], cwd=ROOT,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "locked"
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait(timeout=10)


def write_config(tmp_path: Path, **sections) -> Path:
    config = {"journal": {"dir": str(tmp_path / "data")}, "logging": {"dir": str(tmp_path / "logs")},
              "risk": {"kill_switch_path": str(tmp_path / "KILL")},
              "broker": {"port": 0},  # the embedded simulator on a free port
              **sections}
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_bot(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", "--config", str(config), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_the_lock_holds_who_runs_and_a_second_taker_is_refused_naming_the_pid(tmp_path):
    lock = acquire(tmp_path, {"config": "a.yaml", "mode": "sim", "kill_switch": "/x/KILL"})
    try:
        with pytest.raises(LockHeld) as refused:
            acquire(tmp_path, {"config": "b.yaml"}, retry_s=0.0)
        found = running_bot(tmp_path)
    finally:
        lock.release()

    assert refused.value.holder["pid"] == lock.holder["pid"]
    assert f"pid {lock.holder['pid']}" in str(refused.value)
    assert found == {"pid": lock.holder["pid"], "config": "a.yaml", "mode": "sim",
                     "kill_switch": "/x/KILL"}
    assert running_bot(tmp_path) is None  # released: nobody runs


def test_a_second_bot_on_the_same_journal_exits_3_and_renames_nothing(tmp_path, holder):
    config = write_config(tmp_path)
    data = tmp_path / "data"
    first = holder(data)
    journal = data / "journal-sim.sqlite3"
    journal.write_bytes(b"the running bot's journal")

    done = run_bot(config, "--duration", "5")

    assert done.returncode == 3, done.stderr
    assert f"pid {first.pid}" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert journal.read_bytes() == b"the running bot's journal"
    assert not (data / "journal-sim.prev.sqlite3").exists()
    assert not (tmp_path / "logs").exists()  # nothing started: not even the logs


def test_the_lock_dies_with_a_sigkilled_process(tmp_path, holder):
    data = tmp_path / "data"
    first = holder(data)
    assert running_bot(data)["pid"] == first.pid

    first.send_signal(signal.SIGKILL)
    assert first.wait(timeout=10) == -signal.SIGKILL

    assert running_bot(data) is None
    lock = acquire(data, {"config": "next.yaml"})
    lock.release()


def test_the_running_bot_writes_pid_config_mode_kill_switch_and_start_time(tmp_path):
    config = write_config(tmp_path, health={"heartbeat_seconds": 1})
    proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        found = None
        for _ in range(600):  # bounded: up to 30 s
            found = running_bot(tmp_path / "data")
            if found and found.get("pid") == proc.pid:
                break
            with pytest.raises(subprocess.TimeoutExpired):
                proc.wait(timeout=0.05)  # the bot must still run
        recorded = json.loads(lock_path(tmp_path / "data").read_text())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    assert found == recorded
    assert (recorded["pid"], recorded["config"], recorded["mode"]) == (proc.pid, str(config), "sim")
    assert recorded["kill_switch"] == str(tmp_path / "KILL")
    assert recorded["started"].startswith("20")
    assert running_bot(tmp_path / "data") is None


@pytest.mark.parametrize("which", ["journal", "logging"])
def test_an_unusable_journal_or_logs_directory_exits_3_with_one_line(tmp_path, which):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    config = write_config(tmp_path, **{which: {"dir": str(blocker / "below")}})

    done = run_bot(config, "--duration", "1")

    assert done.returncode == 3
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert str(blocker / "below") in lines[0] and "Not a directory" in lines[0]


def test_an_unusable_journal_directory_is_named_by_the_lock(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")

    with pytest.raises(LockUnusable, match="a-file/data is not usable: Not a directory"):
        acquire(blocker / "data", {})


def test_sighup_stops_the_bot_cleanly_like_sigterm(tmp_path):
    config = write_config(tmp_path, health={"heartbeat_seconds": 1})
    out = tmp_path / "bot.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config)], cwd=ROOT,
                                stdout=sink, stderr=subprocess.STDOUT)
    try:
        for _ in range(600):  # bounded: up to 30 s until the system has started
            if "system_started" in out.read_text(errors="replace"):
                break
            with pytest.raises(subprocess.TimeoutExpired):
                proc.wait(timeout=0.05)
        proc.send_signal(signal.SIGHUP)  # what a dropped SSH session sends
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

    text = out.read_text(errors="replace")
    assert code == 0, text[-2000:]
    assert "stop_requested exit_code=0 why=SIGHUP" in text and "bot_stopped exit_code=0" in text
    assert running_bot(tmp_path / "data") is None
