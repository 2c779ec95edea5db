"""IB plumbing that needs no connection: testable tables and rules.

- ``client``: which IB client library the process uses (ib_insync, or ib_async), chosen once.
- ``translate``: the client's objects to our messages and back (with ``client``, the only code
  of ``bot`` that imports an IB client library).
- ``pacing``, ``circuit``, ``reconnect``: IB's request limits, the circuit breaker, the
  reconnect schedule and client-id rotation.
- ``safety``: the gate that decides the mode (sim, shadow, paper, live) and refuses a live
  account without ``--live``.
- ``shadow``: dry-run fills from live quotes; nothing is sent to IB.
- ``verify``: the periodic check that what IB holds equals what the broker reported.
- ``history``: the one exception to "no connection": ``fetch-history``'s own short-lived
  client (no actors run then), paced by ``pacing``.

Nothing is imported eagerly: importing ``bot.ib.pacing`` or ``bot.ib.client`` must not load a
client library (``bot.ib.client`` only looks packages up until ``library()`` is called).
"""

__all__ = [
    "circuit",
    "client",
    "history",
    "pacing",
    "reconnect",
    "safety",
    "shadow",
    "translate",
    "verify",
]
