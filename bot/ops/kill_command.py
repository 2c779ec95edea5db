"""``python -m bot kill [--clear]``: reach the bot that runs, not just a path in this directory.

The bot that runs on the configuration's journal directory is found through its lock file
(``bot/ops/instance_lock.py``), which names the absolute kill-switch path it watches and its
heartbeat file. The switch is written (or removed) there; then the command waits for that
bot's next heartbeat written after the change and reports what it says: entries stopped (or
allowed again), exit 0. When no bot holds the lock, or none confirms in time, it says so
plainly and exits 1; the file is written all the same, so any bot started later with this
configuration starts with the switch engaged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.app.config import Settings
from bot.ops.instance_lock import lock_path, running_bot

POLL_S = 0.2


def write_kill_switch(path: Any, reason: str, now: datetime | None = None) -> Path:
    """Create the kill-switch file, or append to it: the first reason is never lost.

    One line per engagement, ``<UTC time> <reason>``, replaced atomically (any thread, also a
    signal handler)."""
    import os

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        before = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        before = ""
    if before and not before.endswith("\n"):
        before += "\n"
    stamp = (now or datetime.now(UTC)).isoformat()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{before}{stamp} {reason}\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def engage_or_clear(settings: Settings, *, clear: bool, reason: str, wait_s: float | None,
                    out: Callable[[str], Any] = print,
                    monotonic: Callable[[], float] = time.monotonic) -> int:
    """Write or clear the switch where the running bot watches; 0 when its heartbeat confirmed."""
    holder = running_bot(settings.journal.dir)
    own_path = Path(settings.risk.kill_switch_path).absolute()
    path = Path(holder["kill_switch"]) if holder and holder.get("kill_switch") else own_path
    changed_at = datetime.now(UTC)
    if clear:
        existed = path.exists()
        path.unlink(missing_ok=True)
        out(f"kill switch cleared ({path})" if existed else f"kill switch was not engaged ({path})")
    else:
        write_kill_switch(path, reason, changed_at)
        out(f"kill switch engaged ({path}): no new entries until `python -m bot kill --clear`")
    if holder is None:
        out(f"no running bot holds {lock_path(settings.journal.dir).absolute()}: nobody confirmed "
            f"it; a bot started with this configuration will see it")
        return 1
    if path != own_path:
        out(f"note: the running bot (pid {holder.get('pid')}) watches {path}, "
            f"not this configuration's {own_path}")
    period = float(holder.get("heartbeat_seconds") or settings.health.heartbeat_seconds)
    timeout = 2 * period + 5 if wait_s is None else wait_s
    beat = _wait_for_heartbeat(Path(holder.get("heartbeat") or ""), holder.get("pid"), changed_at,
                              engaged=not clear, timeout_s=timeout, monotonic=monotonic)
    if beat is None:
        out(f"no heartbeat of the running bot (pid {holder.get('pid')}) confirmed it within "
            f"{timeout:g}s: check `python -m bot status` and the logs")
        return 1
    what = "entries stopped" if not clear else "entries allowed again (other limits permitting)"
    out(f"confirmed by the heartbeat of pid {beat['pid']} at {beat['ts']}: {what}")
    return 0


def _wait_for_heartbeat(path: Path, pid: Any, after: datetime, *, engaged: bool, timeout_s: float,
                       monotonic: Callable[[], float] = time.monotonic) -> dict[str, Any] | None:
    """The first heartbeat of ``pid`` written after ``after`` whose kill switch reads
    ``engaged``, or None when none comes within ``timeout_s``."""
    deadline = monotonic() + timeout_s
    while True:
        beat = _confirming(_read_heartbeat(path), pid, after, engaged)
        if beat is not None:
            return beat
        if monotonic() >= deadline:
            return None
        time.sleep(POLL_S)  # polling a file another process writes; bounded by the deadline


def _confirming(beat: dict[str, Any] | None, pid: Any, after: datetime,
               engaged: bool) -> dict[str, Any] | None:
    """``beat`` if it is ``pid``'s, newer than ``after`` and shows the switch as ``engaged``."""
    if not beat or beat.get("pid") != pid:
        return None
    try:
        if datetime.fromisoformat(beat["ts"]) <= after:
            return None
    except (KeyError, TypeError, ValueError):
        return None
    return beat if (beat.get("risk") or {}).get("kill_switch") is engaged else None


def _read_heartbeat(path: Path) -> dict[str, Any] | None:
    try:
        beat = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return beat if isinstance(beat, dict) else None
