"""Invariant 1 for one trade, the parts that change it: the alarm when a position is bare, and
DAY exits that stop protecting at the close. (Whether a position counts as protected now is
``trade.protected``; the deadline and what follows the alarm are in ``execution.py``.)

**The alarm** (``raise_unprotected_alarm``): an ERROR ``unprotected_position`` line and
``PositionUnprotected`` (heartbeat, alerts), once per episode.

**DAY orders at the close**: IB expires every DAY order still working when the session closes.
A bot connected at the close hears each one end (Cancelled) and re-arms exits as for any
cancel. A bot cut off then (the gateway restarting, the socket down) hears nothing, and its
exits would still look live while the position is in fact bare overnight. So when the
exchange clock passes a close, each exit the bot still holds as working is marked
``expired_at_close``: it no longer counts as protection (invariant 1 in
``bot/trading/execution.py``: the alarm goes up within ``protect_within_s``), while it still
counts as able to sell (invariant 2: nothing new is sent for it until the broker's answer
says it ended). The broker's Cancelled, or its snapshot at the next connection, ends it; a
fresh pair is then armed as after any cancel (IB queues it for the next session).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from bot import messages as m
from bot.trading.trade import Effects, Note, Trade, covered, unprotected_why

__all__ = ["expire_at_close", "raise_unprotected_alarm"]


def raise_unprotected_alarm(trade: Trade, wall: datetime) -> tuple[Trade, Effects]:
    """The ERROR line and ``PositionUnprotected``, once per episode (``unprotected_since`` set)."""
    if trade.alarmed:
        return trade, []
    trade = replace(trade, alarmed=True)
    why = unprotected_why(trade)
    since = trade.unprotected_since or wall
    return trade, [
        Note("ERROR", "unprotected_position", (
            ("intent", trade.intent_id), ("position", f"{trade.position:g}"),
            ("covered", f"{covered(trade):g}"), ("since", since.isoformat()), ("why", why))),
        m.PositionUnprotected(trade.intent_id, trade.symbol, trade.position, why, wall),
    ]


def expire_at_close(trade: Trade) -> tuple[Trade, Effects]:
    """The close has passed: mark the trade's working DAY exits expired (see the docstring)."""
    expired = [g for g in trade.legs[1:] if g.working and g.spec.tif == "DAY"
               and not g.expired_at_close]
    if not expired:
        return trade, []
    for leg in expired:
        trade = trade.with_leg(replace(leg, expired_at_close=True))
    note = Note("WARNING", "exits_expired_at_close", (
        ("intent", trade.intent_id), ("position", f"{trade.position:g}"),
        ("client_order_ids", ",".join(g.spec.client_order_id for g in expired))))
    return trade, [note]
