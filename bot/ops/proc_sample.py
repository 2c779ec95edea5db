"""One psutil sample of a process: memory, CPU, threads, files and sockets.

Shared by the HealthActor (its own process, every heartbeat) and ``scripts/soak.py`` (the bot
process, every second), so both report the same figures under the same names. USS (memory
unique to the process, read from ``/proc/<pid>/smaps``) costs about 0.3 ms: fine at these
rates. Figures a platform does not offer are None.
"""

from __future__ import annotations

from typing import Any

import psutil

MIB = 1024 * 1024


class ProcessSampler:
    """Samples one process; ``cpu_pct`` is percent of one core since the previous sample."""

    def __init__(self, pid: int | None = None) -> None:
        self.process = psutil.Process(pid)
        self.process.cpu_percent(None)  # the first reading starts the interval

    @property
    def pid(self) -> int:
        return self.process.pid

    def sample(self) -> dict[str, Any]:
        """The figures now; raises ``psutil.NoSuchProcess`` once the process is gone."""
        p = self.process
        with p.oneshot():
            mem = p.memory_full_info()
            return {
                "rss_mib": round(mem.rss / MIB, 2),
                "uss_mib": round(getattr(mem, "uss", 0) / MIB, 2) or None,
                "cpu_pct": round(p.cpu_percent(None), 1),
                "threads": p.num_threads(),
                "fds": p.num_fds() if hasattr(p, "num_fds") else None,
                "open_files": len(p.open_files()),
                "sockets": len(p.net_connections("inet")),
            }
