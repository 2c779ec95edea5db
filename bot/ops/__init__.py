"""Operations: how the running bot shows it is healthy.

- ``alerts``: which events reach the owner's phone, their words, rate limits, the digest.
- ``health_report``, ``liveness``: the heartbeat payload and line; who owes a pong.
- ``watchdog``: systemd's sd_notify keep-alive.
- ``proc_sample``: one psutil sample of the process.
- ``logs``: console lines for people, JSON lines for machines, rotation.
- ``status``: ``python -m bot status`` from the journal and the last heartbeat.
- ``soak_report``: the soak run's figures and verdict.
"""

__all__ = [
    "alerts",
    "health_report",
    "liveness",
    "logs",
    "proc_sample",
    "soak_report",
    "status",
    "watchdog",
]
