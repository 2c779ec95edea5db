"""The BrokerActor and its parts; with ``bot.ib`` the only code that uses an IB client library
(ib_insync or ib_async, as ``bot/ib/client.py`` chose).

- ``actor``: the actor, its One Rule (only its thread touches the loop and ``IB()``).
- ``cancels``: cancels kept until IB confirms them; orders of an earlier client id (orphans).
- ``link``: connect, lose, reconnect; IB's connectivity codes.
- ``market``: bars, conflated quotes, option chains and option quotes.
- ``memory``: what outlives a restarted BrokerActor (first snapshot, shadow book, cancels).
- ``modifies``: a working order modified in place; a modification IB refuses is not its end.
- ``orders``: place, cancel, re-adopt by orderRef, and what IB says about them.
- ``requests``: the one gate every request passes (pacing, circuit, timeout).
- ``verifier``: the periodic check of IB's held data against what was reported.
- ``warm``: the options kept streaming for the strategies before a signal (prewarm).
"""

__all__ = [
    "actor",
    "cancels",
    "link",
    "market",
    "memory",
    "modifies",
    "orders",
    "requests",
    "verifier",
    "warm",
]
