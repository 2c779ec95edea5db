"""IB plumbing that needs no connection: testable tables and rules.

- ``translate``: ib_insync objects to our messages and back (the only module of ``bot`` that
  imports ib_insync).
- ``pacing``, ``circuit``, ``reconnect``: IB's request limits, the circuit breaker, the
  reconnect schedule and client-id rotation.
- ``safety``: the gate that decides the mode (sim, shadow, paper, live) and refuses a live
  account without ``--live``.
- ``shadow``: dry-run fills from live quotes; nothing is sent to IB.
- ``verify``: the periodic check that what IB holds equals what the broker reported.

Nothing is imported eagerly: importing ``bot.ib.pacing`` must not load ib_insync.
"""

__all__ = [
    "circuit",
    "pacing",
    "reconnect",
    "safety",
    "shadow",
    "translate",
    "verify",
]
