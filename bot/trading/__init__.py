"""Pure trading logic: what to trade, how much, and when to leave.

No pykka, no ib_insync, no sqlite, no I/O and no clock of its own: time is passed in, so the
same code runs live, in the simulator and under test (``tests/test_layout.py`` enforces it).

Modules (import the one you need: ``from bot.trading import risk``):
- ``indicators``, ``signals``: EMA, RSI and VWAP on 1-minute bars; call, put or hold.
- ``selection``: the expiry and the option to buy from the weekly chain.
- ``prewarm``: the options kept streaming before a signal, and when their quotes decide.
- ``sizing``, ``risk``: contracts from the risk budget; daily limits and the kill switch.
- ``brackets``, ``exits``, ``execution``, ``trade``, ``recovery``, ``order_state``: orders priced
  on the option premium, time exits, the life of one trade (its transitions, its model, its
  restart after a crash), one order's state machine.
- ``covers``: buying back a short, one buy-back at a time.
- ``protection``: the unprotected-position alarm; DAY exits expired at the close, heard or not.
- ``closing``, ``timeouts``: a trade's closing order (joined to its exit pair, re-priced) and its
  order timers (unacknowledged orders cancelled, unanswered cancels sent again).
- ``quotes``: malformed market data is named and dropped.
- ``market_hours``, ``exchange_calendar``: the New York session on the NYSE calendar.
- ``decimals``: exact decimal money arithmetic.
- ``invariants``: the money-safety invariants as pure checks over broker and bot records.
"""

__all__ = [
    "brackets",
    "closing",
    "covers",
    "decimals",
    "exchange_calendar",
    "execution",
    "exits",
    "indicators",
    "invariants",
    "market_hours",
    "order_state",
    "prewarm",
    "protection",
    "quotes",
    "recovery",
    "risk",
    "selection",
    "signals",
    "sizing",
    "timeouts",
    "trade",
]
