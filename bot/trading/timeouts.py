"""Order timers of one trade, as pure transitions: an order IB did not acknowledge (or an entry
it did not fill) in time is cancelled, and a cancel IB never answered is sent again (the order
may still fill: unknown is never read as gone). Called from ``execution.on_clock``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from bot import messages as m
from bot.trading.order_state import Leg
from bot.trading.trade import Effects, Note, Trade, bracket_child, cancel_leg

MAX_JOINED_RESENDS = 2
"""Times a closing order in its exit pair's OCA group is placed again before it is cancelled."""


def order_timeouts(trade: Trade, wall: datetime) -> tuple[Trade, Effects]:
    """An entry not acknowledged or not filled in time, an exit not acknowledged: cancel.

    Except a closing order that joined its exit pair's OCA group: cancelling it, should it have
    reached IB after all (delayed, not lost), would cancel the whole group, the stop with it.
    It is placed again with its own order id instead (``ModifyOrder``): IB keys orders by id, so
    a lost one is placed anew and a delayed one is only modified to the same terms, never two
    orders. After ``MAX_JOINED_RESENDS`` unanswered tries it is cancelled as any other."""
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
        if unacked and _joined_close(leg) and leg.resent < MAX_JOINED_RESENDS:
            trade = trade.with_leg(replace(leg, sent_at=wall, left_at=None, resent=leg.resent + 1))
            effects += [Note("WARNING", "exit_resent", (
                ("intent", trade.intent_id), ("client_order_id", leg.spec.client_order_id),
                ("why", f"not acknowledged within {ex.ack_timeout_s:g}s"),
                ("tries", leg.resent + 1))),
                m.ModifyOrder(trade.correlation_id, trade.intent_id, trade.contract, leg.spec)]
            continue
        if unacked or unfilled:
            why = f"not acknowledged within {ex.ack_timeout_s:g}s" if unacked else (
                f"not filled within {ex.entry_timeout_s:g}s")
            trade, more = cancel_leg(trade, leg, wall, why)
            effects += more
    return trade, effects


def _joined_close(leg: Leg) -> bool:
    return leg.role == "exit" and bool(leg.spec.oca_group)


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
