"""The closing order of one trade (time exits, the emulated stop, the kill switch's flatten,
``on_unprotected``), as pure transitions: when it may go out, which exit pair it joins instead
of cancelling it first, and its re-pricing by modifying it in place
(``bot/trading/execution.py`` explains the escalation).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from bot import messages as m
from bot.trading import brackets
from bot.trading.order_state import Leg
from bot.trading.trade import Effects, Note, Trade, closing_price, closing_spec, open_quantity


def joinable_pair(trade: Trade) -> tuple[Leg, ...]:
    """Native mode: the working exit pair a closing order joins instead of cancelling it first.

    Its stop is sent and not being cancelled (acknowledged or not: a close joining a lost stop's
    group still closes, and cancelling a stop just sent only widens the gap), in an OCA group
    of type 3 (IB reduces every other member by each fill, with overfill protection), and no
    member sells more than the position. The closing order joins that group: the stop protects
    until the close fills (no gap while cancels are confirmed, as a cancel-then-close would
    leave) and the group never sells more than its largest member (invariants 1 and 2)."""
    if trade.mode != "native":
        return ()
    stops = [g for g in trade.working_exits if g.role == "sl" and g.cancel_sent_at is None
             and g.sent_at is not None and g.spec.oca_group
             and g.spec.oca_type == brackets.EXIT_OCA_TYPE]
    if len(stops) != 1:
        return ()
    group = stops[0].spec.oca_group
    members = tuple(g for g in trade.working_exits if g.spec.oca_group == group
                    and g.role in ("tp", "sl") and g.cancel_sent_at is None)
    if any(open_quantity(trade, g) > trade.position + 1e-9 for g in members):
        return ()
    return members


def send_close_if_clear(trade: Trade, wall: datetime) -> tuple[Trade, Effects]:
    """Send the closing order once nothing else can sell but the exit pair it joins (after a
    rejection, after a backoff)."""
    kept = joinable_pair(trade)
    if any(g not in kept for g in trade.working_exits) or (
            trade.retry_at is not None and wall < trade.retry_at):
        return trade, []
    attempt = 1 + max((g.revision for g in trade.legs if g.role == "exit"), default=0)
    spec = closing_spec(trade, f"exit{attempt}", trade.close_step)
    if kept:
        spec = replace(spec, oca_group=kept[0].spec.oca_group, oca_type=brackets.EXIT_OCA_TYPE)
    trade = trade.with_leg(Leg(spec).sent(wall))
    effects: Effects = [m.SubmitOrder(trade.correlation_id, trade.intent_id, trade.contract, spec)]
    if attempt > 1:
        effects.append(_repriced_note(trade, spec))
    return trade, effects


def _repriced_note(trade: Trade, spec: m.OrderSpec) -> Note:
    price = "MKT" if spec.limit_price is None else f"{spec.limit_price:.2f}"
    return Note("INFO", "exit_repriced", (("intent", trade.intent_id), ("step", trade.close_step),
                                          ("price", price), ("qty", spec.quantity)))


def reprice_closing(trade: Trade, wall: datetime) -> tuple[Trade, Effects]:
    """A closing limit IB works and that has not filled within ``reprice_every_s`` (of being
    sent or last re-priced) is modified in place to the next step, priced on the bid then
    (``ModifyOrder``: the same order id). Never cancelled and replaced: a close that joined its
    exit pair's OCA group would take the pair with it, as IB cancels a group with any member
    it is asked to cancel. A close not acknowledged yet waits (IB may not know it; its ack
    timeout cancels it). Bounded: once at the marketable floor for the current bid it is left
    alone. A modification IB refuses leaves the order as it was; the next step tries again."""
    every = trade.settings.execution.reprice_every_s
    for leg in trade.working_exits:
        since = leg.repriced_at or leg.sent_at
        if (leg.role == "exit" and leg.spec.order_type is m.OrderType.LIMIT
                and leg.cancel_sent_at is None and leg.acked_at is not None and since is not None
                and (wall - since).total_seconds() >= every):
            nxt = closing_price(trade, trade.close_step + 1)
            if nxt is not None and leg.spec.limit_price is not None and abs(
                    nxt - leg.spec.limit_price) < 1e-9:
                continue
            trade = replace(trade, close_step=trade.close_step + 1)
            kind = m.OrderType.MARKET if nxt is None else m.OrderType.LIMIT
            spec = replace(leg.spec, order_type=kind, limit_price=nxt)
            trade = trade.with_leg(replace(leg, spec=spec, repriced_at=wall))
            return trade, [_repriced_note(trade, spec), m.ModifyOrder(
                trade.correlation_id, trade.intent_id, trade.contract, spec)]
    return trade, []
