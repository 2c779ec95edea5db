"""Liveness: timers, pings, alarms."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

_frozen = dataclass(frozen=True, slots=True)


@_frozen
class Ping:
    """Health -> any actor: answer with ``Pong`` to ``reply_to`` (an actor ref)."""

    correlation_id: str
    sent_at: float
    """``time.monotonic()`` when sent."""
    reply_to: Any


@_frozen
class Pong:
    correlation_id: str
    actor: str
    sent_at: float
    stats: tuple[tuple[str, Any], ...] = ()
    """Actor-specific figures for the heartbeat, as (name, value) pairs."""


@_frozen
class AlarmRaised:
    """Health -> supervisor: an actor is not answering or its mailbox keeps growing."""

    actor: str
    reason: str
    ts: datetime
