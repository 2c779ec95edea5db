"""IB plumbing without a connection: translation tables between ib_insync and our messages,
request pacing, the circuit breaker, reconnect schedules, the safety gate and the dry-run
shadow book. ``translate`` is the only module here that imports ib_insync.
"""
