"""One bot per journal: an exclusive ``fcntl.flock`` on ``<journal.dir>/bot.lock``.

Two bots on one journal directory would both trade (doubling exposure) and overwrite each
other's daily risk state. So the runner takes this lock before anything else starts (before
the logs, the simulator, any journal rename or reset) and holds it for the life of the
process. The kernel drops a ``flock`` when its process dies, SIGKILL included, so a crashed
bot never leaves a stale lock behind: the file may remain, the lock does not.

The file holds who holds it, as JSON: ``pid``, ``config`` (the effective settings file),
``mode`` (what the settings ask for; the safety gate decides the final one at connect),
``kill_switch`` (absolute path of the file this bot watches), ``heartbeat`` (absolute path of
its heartbeat file), ``heartbeat_seconds`` and ``started`` (UTC). ``python -m bot kill`` and
``status`` read it to find the bot that really runs, whatever directory they start in.

A reader learns whether the lock is held by trying a shared lock without waiting (and
releasing it at once); a starting bot that meets such a reader retries for a moment instead
of mistaking it for another bot.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOCK_NAME = "bot.lock"
RETRY_S = 0.5
"""How long a starting bot retries while a reader (``status``/``kill``) probes the lock."""


class LockHeld(Exception):
    """Another live process holds the journal directory; ``holder`` is what it wrote."""

    def __init__(self, path: Path, holder: dict[str, Any]) -> None:
        self.path = path
        self.holder = holder
        pid = holder.get("pid", "?")
        super().__init__(f"another bot (pid {pid}) already runs on this journal directory "
                         f"({path}, config {holder.get('config', '?')}); stop it first")


class LockUnusable(Exception):
    """The journal directory or its lock file cannot be created or written (one line, the why)."""


def lock_path(journal_dir: Path) -> Path:
    return Path(journal_dir) / LOCK_NAME


@dataclass
class InstanceLock:
    """The held lock; ``release`` (or the process ending) lets the next bot start."""

    path: Path
    fd: int
    holder: dict[str, Any]

    def release(self) -> None:
        if self.fd < 0:
            return
        try:
            os.ftruncate(self.fd, 0)  # an empty file says plainly: nobody runs here
        except OSError:
            pass
        os.close(self.fd)  # closing the last descriptor drops the flock
        self.fd = -1


def acquire(journal_dir: Path, holder: dict[str, Any], retry_s: float = RETRY_S) -> InstanceLock:
    """Create ``journal_dir`` if needed and take the lock, writing ``holder`` (pid added).

    Raises ``LockHeld`` naming the running bot, or ``LockUnusable`` saying which path failed
    and why (not writable, not a directory, ...)."""
    path = lock_path(journal_dir)
    try:
        Path(journal_dir).mkdir(parents=True, exist_ok=True)
        if not os.access(journal_dir, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "not writable")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise LockUnusable(f"journal directory {journal_dir} is not usable: "
                           f"{exc.strerror or exc}") from None
    deadline = time.monotonic() + retry_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                os.close(fd)
                raise LockUnusable(f"cannot lock {path}: {exc.strerror or exc}") from None
            other = _read(path)
            if other.get("pid") or time.monotonic() >= deadline:
                os.close(fd)
                raise LockHeld(path, other) from None
            time.sleep(0.02)  # a reader's probe lasts microseconds; bounded by the deadline
    record = {"pid": os.getpid(), **holder}
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record, default=str) + "\n").encode(), 0)
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        raise LockUnusable(f"cannot write {path}: {exc.strerror or exc}") from None
    return InstanceLock(path, fd, record)


def running_bot(journal_dir: Path) -> dict[str, Any] | None:
    """What the bot holding ``journal_dir``'s lock wrote, or None when no process holds it."""
    path = lock_path(journal_dir)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return _read(path) or {"pid": None}
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None  # we got it: nobody holds it (a bot that died leaves the file, not the lock)
    finally:
        os.close(fd)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
