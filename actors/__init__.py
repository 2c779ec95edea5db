"""Thin pykka actors: each handler calls pure logic in ``bot/`` and tells the results onward.

- ``strategy``: one per symbol; closed bars to entry proposals.
- ``risk``: the gate every entry passes; sizes it or denies it with the reason.
- ``execution``: approved entries to bracket orders, managed as OCO.
- ``journal``: the one writer of the journal and the write-ahead gate for orders.
- ``health``: heartbeat, liveness alarms, systemd watchdog.
- ``alert``: alerts to the owner's phone (apprise), from its own sender thread.
- ``recorder``: writes the market data received (``record.enabled``), from a bounded mailbox.
- ``broker``: the only link to IB; owns the asyncio loop and ib_insync's ``IB()``.
- ``base``, ``loop_inbox``, ``timer``: what every actor shares, the broker's loop-running inbox,
  a periodic timer.

Nothing is imported eagerly: importing an actor must not start ib_insync in the wrong thread.
"""

__all__ = [
    "alert",
    "base",
    "broker",
    "execution",
    "health",
    "journal",
    "loop_inbox",
    "recorder",
    "risk",
    "strategy",
    "timer",
]
