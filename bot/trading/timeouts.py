"""Order timers of one trade, as pure transitions: an order IB did not acknowledge (or an entry
it did not fill) in time is cancelled, and a cancel IB never answered is sent again (the order
may still fill: unknown is never read as gone). Called from ``execution.on_clock``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from bot import messages as m
from bot.trading.trade import Effects, Note, Trade, bracket_child, cancel_leg


def order_timeouts(trade: Trade, wall: datetime) -> tuple[Trade, Effects]:
    """An entry not acknowledged or not filled in time, an exit not acknowledged: cancel."""
    ex = trade.settings.execution
    effects: Effects = []
    for leg in trade.legs:
        if not leg.working or leg.cancel_sent_at is not None or leg.sent_at is None:
            continue
        if bracket_child(trade, leg):
            continue  # it lives and dies with its parent
        waited = (wall - leg.waiting_since).total_seconds()
        unacked = leg.acked_at is None and waited >= ex.ack_timeout_s
        unfilled = leg.role == "entry" and waited >= ex.entry_timeout_s
        if unacked or unfilled:
            why = f"not acknowledged within {ex.ack_timeout_s:g}s" if unacked else (
                f"not filled within {ex.entry_timeout_s:g}s")
            trade, more = cancel_leg(trade, leg, wall, why)
            effects += more
    return trade, effects


def resend_unconfirmed_cancels(trade: Trade, wall: datetime) -> tuple[Trade, Effects]:
    """A cancel the broker never answered: the order may still fill, so it is sent again."""
    timeout = trade.settings.execution.cancel_timeout_s
    effects: Effects = []
    for leg in trade.legs:
        if leg.working and leg.cancel_sent_at is not None and (
                wall - leg.cancel_sent_at).total_seconds() >= timeout:
            trade = trade.with_leg(replace(leg, cancel_sent_at=wall))
            effects += [
                Note("WARNING", "cancel_unconfirmed", (
                    ("intent", trade.intent_id), ("client_order_id", leg.spec.client_order_id),
                    ("waited_s", f"{timeout:g}"), ("action", "cancel sent again"))),
                m.CancelOrder(trade.correlation_id, leg.spec.client_order_id),
            ]
    return trade, effects
