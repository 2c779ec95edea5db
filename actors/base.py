"""What every actor of the bot shares: liveness bookkeeping, Ping/Pong, a bound logger.

The rule for every actor: handlers are short and never block; actors talk to each other with
``tell`` only (``ask`` is for the main thread, the CLI and tests). An exception raised by a
handler stops the actor (pykka's rule for tell); ``on_failure`` then tells the supervisor,
which restarts it or stops the bot (see ``bot/app/supervisor.py``).

Threads: ``__init__`` runs in the creating thread; ``on_start``, ``on_receive``, ``on_stop``
and ``on_failure`` run in the actor's own thread.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pykka
from loguru import logger

from bot import messages as m
from bot.app.routing import SUPERVISOR, Directory


def utc_now() -> datetime:
    """The wall clock, as an aware UTC datetime (the default ``clock`` of actors)."""
    return datetime.now(UTC)


class IdleInbox(queue.Queue):  # type: ignore[type-arg]
    """A mailbox that calls ``on_idle`` (in the actor's thread) each time the actor is about
    to wait for mail, i.e. when everything queued has been handled. An actor uses it through
    pykka's inbox hook (``_create_actor_inbox``, as ``actors/loop_inbox.py`` does); the
    JournalActor commits its group there.

    ``on_idle`` may answer a number of seconds instead of None: the mailbox then waits that
    long at most and, when nothing came, calls it again (the journal waits so for an entry's
    order before it commits its records: ``bot/journal/linger.py``)."""

    on_idle: Callable[[], float | None] = staticmethod(lambda: None)

    def get(self, block: bool = True, timeout: float | None = None) -> object:
        while self.empty():
            wait = self.on_idle()
            if wait is None or not block or timeout is not None:
                break
            try:
                return super().get(True, wait)
            except queue.Empty:
                continue
        return super().get(block, timeout)


class BotActor(pykka.ThreadingActor):
    """Base of every bot actor: subclasses implement ``handle(message)`` with a ``match``."""

    name = "actor"

    def __init__(self, directory: Directory, clock: Any = utc_now) -> None:
        super().__init__()
        self.directory = directory
        self.clock = clock
        self.log = logger.bind(actor=self.name)
        self.handled = 0
        self.last_handled = time.monotonic()

    # -- pykka hooks ------------------------------------------------------------------------

    def on_start(self) -> None:
        """Actor thread, before any message: become reachable. Subclasses call super() first."""
        self.directory.register_actor(self.name, self.actor_ref)

    def on_receive(self, message: Any) -> Any:
        """Actor thread. Answers Ping itself; everything else goes to ``handle``."""
        now = time.monotonic()
        idle_s, self.last_handled = now - self.last_handled, now
        self.handled += 1
        if isinstance(message, m.Ping):
            stats = {"idle_s": round(idle_s, 3), **self.stats()}
            message.reply_to.tell(m.Pong(message.correlation_id, self.name, message.sent_at,
                                         tuple(stats.items())))
            return None
        return self.handle(message)

    def on_failure(self, exc_type: Any, exc_value: Any, tb: Any) -> None:
        """Actor thread, after a handler raised: the supervisor decides what happens next."""
        self.log.error("actor_failed error={!r}", exc_value)
        self.directory.tell(SUPERVISOR, m.ActorFaulted(self.name, repr(exc_value), utc_now()))

    # -- for subclasses ---------------------------------------------------------------------

    def handle(self, message: Any) -> Any:
        """Actor thread. Override with ``match message: case SomeEvent(): ...``."""
        self.unexpected(message)

    def unexpected(self, message: Any) -> None:
        self.log.warning("message_unexpected type={}", type(message).__name__)

    def stats(self) -> dict[str, Any]:
        """Figures for the heartbeat (actor thread); extend in subclasses."""
        return {"handled": self.handled}

    def publish(self, message: Any) -> None:
        """Tell every role that the routing table names for this message."""
        self.directory.publish(message)
