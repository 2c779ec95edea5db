"""The BrokerActor and its parts; with ``bot.ib.translate`` the only code that imports ib_insync.

- ``actor``: the actor, its One Rule (only its thread touches the loop and ``IB()``).
- ``link``: connect, lose, reconnect; IB's connectivity codes.
- ``market``: bars, conflated quotes, option chains and option quotes.
- ``orders``: place, cancel, re-adopt by orderRef, and what IB says about them.
- ``requests``: the one gate every request passes (pacing, circuit, timeout).
"""

__all__ = [
    "actor",
    "link",
    "market",
    "orders",
    "requests",
]
