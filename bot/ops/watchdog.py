"""systemd notification (sd_notify) in a few lines of the protocol, no dependency.

systemd passes the address of a unix datagram socket in ``$NOTIFY_SOCKET`` (a path, or an
abstract name written with a leading ``@``); a service tells it ``READY=1`` once started,
``WATCHDOG=1`` at least every ``WatchdogSec`` while healthy, ``STOPPING=1`` when it begins
to stop and ``STATUS=...`` as a free-text line for ``systemctl status``. Without
``$NOTIFY_SOCKET`` (not under systemd, or ``Type=simple``) every call is a no-op.

Who sends what in this bot: the runner sends ``READY=1`` after the actors started and
``STOPPING=1`` before they stop; the HealthActor sends ``WATCHDOG=1`` only while every actor
answers its pings (``bot.ops.liveness.Liveness.healthy``), so a stalled actor lets systemd's
watchdog expire and restart the process.

Thread rule: one ``Watchdog`` per thread that uses it (the socket is not shared).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from loguru import logger

READY, WATCHDOG, STOPPING = "READY=1", "WATCHDOG=1", "STOPPING=1"


def socket_address(value: str | None) -> str | None:
    """The address to send to: ``@name`` is the abstract name ``\\0name``; empty is None."""
    if not value:
        return None
    return "\0" + value[1:] if value.startswith("@") else value


def watchdog_interval_s(env: Mapping[str, str], pid: int) -> float | None:
    """systemd's ``WatchdogSec`` in seconds, when it is meant for this process (else None)."""
    usec, owner = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (owner and owner != str(pid)):
        return None
    return int(usec) / 1_000_000


class Watchdog:
    """Sends sd_notify datagrams to ``address`` (None: a no-op that reports False)."""

    def __init__(self, address: str | None) -> None:
        self.address = socket_address(address)
        self.sent = 0
        self._sock: socket.socket | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Watchdog:
        return cls((os.environ if env is None else env).get("NOTIFY_SOCKET"))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *states: str) -> bool:
        """Send ``states`` as one datagram; False when disabled or systemd is not listening."""
        if self.address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto("\n".join(states).encode(), self.address)
        except OSError as exc:
            logger.warning("sd_notify_failed states={} error={}", ",".join(states), exc)
            return False
        self.sent += 1
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify(READY, *_status(status))

    def keepalive(self, status: str = "") -> bool:
        return self.notify(WATCHDOG, *_status(status))

    def stopping(self, status: str = "") -> bool:
        return self.notify(STOPPING, *_status(status))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _status(text: str) -> tuple[str, ...]:
    line = text.replace("\n", " ")[:200]
    return (f"STATUS={line}",) if line else ()
