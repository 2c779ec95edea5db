"""The life of one approved entry (a "trade"), as pure transitions.

Each function takes a ``Trade`` and an input (an order report, a fill, a quote, the time) and
returns the new ``Trade`` plus the messages to send: commands for the broker, events to publish
and ``Note`` log lines. The ExecutionActor only routes them. Times: ``wall`` is the wall clock
(order round trips: timeouts, re-pricing, the protection deadline), ``market`` is exchange time
(max hold, flat before the close), extrapolated by the actor when bars stall.

The invariants this module keeps (and what happens when one is broken):

1. Protected: every position held for an intent has, within ``execution.protect_within_s``, a
   working (acknowledged) protective stop for its whole quantity, or a working closing order.
   Otherwise the trade is *unprotected*: an ERROR ``unprotected_position`` line, the intent
   listed under ``unprotected_position`` in the heartbeat, and the bot keeps acting: a partly
   filled entry (whose bracket children IB holds until the parent fills) has its rest
   cancelled; exits that do not cover are cancelled and, once confirmed, a pair sized to the
   position is armed; rejected exits are retried with backoff, and after ``MAX_EXIT_REJECTIONS``
   ``execution.on_unprotected`` closes at market (flatten) or engages the kill switch.
2. Never more: working exits never cover more than the position held. Exit pairs are one OCA
   group of type 3 (a fill, even partial, of one reduces the other), re-armed pairs are sized to
   ``trade.position``, and a closing order goes out only after every other exit is confirmed done.
5. Unknown is never empty: an order is working until the broker says it is done. A cancel not
   confirmed within ``cancel_timeout_s`` is logged ``cancel_unconfirmed`` and sent again; the
   leg (and an entry's trade) stays alive, so a fill that arrives late is applied and protected.
   A cancel IB refuses because the order filled (10148) or is done (161) is not a rejection.

3. The bot's view is the broker's: after reconnects ``bot/journal/reconcile.py`` compares them;
   while running, a position the broker reports smaller than a trade's (sold outside the bot)
   becomes the trade's position (``on_position_reduced``) and its exits are resized to it.
(4: an entry is sent at most once by the journal's write-ahead record.)

OCO modes:
- native: one ``SubmitBracket`` (entry + take-profit + stop, the exits in one OCA group).
- emulated: the entry alone; once it is filled the take-profit rests at the broker and the stop
  is watched here on the option's bid. When the stop triggers, the take-profit is cancelled
  first and the exit is sent only after the broker confirms, so the two can never both fill.

Closing (time exits, the emulated stop, the kill switch's flatten, on_unprotected): one SELL for
the position, at the bid, re-priced every ``reprice_every_s`` by modifying it in place
(``ModifyOrder``, the same order id: cancelling a close that joined its exit pair's OCA group
would cancel the pair with it), one tick lower per step, then a marketable limit, and a market
order near the close (``exits.closing_terms``).

Parts live beside this module: the closing order in ``closing.py``, the order timers in
``timeouts.py``, the alarm and the close's expiry in ``protection.py``, restarts in ``recovery.py``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot import messages as m
from bot.app.config import Settings
from bot.trading import brackets, exits
from bot.trading.closing import joinable_pair, reprice_closing, send_close_if_clear
from bot.trading.market_hours import close_passed
from bot.trading.order_state import Leg
from bot.trading.protection import expire_at_close, raise_unprotected_alarm
from bot.trading.timeouts import order_timeouts, resend_unconfirmed_cancels
from bot.trading.trade import (
    CANCEL_NOT_FOUND,
    CANCEL_REFUSED,
    MAX_BACKOFF_S,
    MAX_EXIT_REJECTIONS,
    PARENT_NOT_FOUND,
    PROTECTIVE,
    Effects,
    EngageKillSwitch,
    Note,
    Trade,
    bracket_child,
    cancel_leg,
    cancel_refused,
    mult,
    open_quantity,
    protected,
)

__all__ = ["EngageKillSwitch", "Note", "Trade", "begin_exit", "kill_switch", "merge", "on_clock",
           "on_fill", "on_position_reduced", "on_quote", "on_rejected", "on_status", "open_trade",
           "raise_unprotected_alarm", "restore"]
S = m.OrderStatus

def open_trade(approved: m.EntryApproved, settings: Settings, wall: datetime) -> tuple[Trade, Effects]:
    """Price the bracket on the option premium and send the entry."""
    risk = settings.risk
    prices = brackets.bracket_prices(
        approved.symbol, approved.premium, risk.take_profit_pct, risk.stop_loss_pct
    )
    entry, tp, sl = brackets.build_bracket(
        approved.intent_id, approved.contract, approved.quantity, prices
    )
    mode = settings.execution.oco_mode
    cid, iid, contract = approved.correlation_id, approved.intent_id, approved.contract
    if mode == "native":
        legs = (Leg(entry).sent(wall), Leg(tp).sent(wall), Leg(sl).sent(wall))
        command: Any = m.SubmitBracket(cid, iid, contract, entry, tp, sl)
    else:
        legs = (Leg(entry).sent(wall),)
        command = m.SubmitOrder(cid, iid, contract, entry)
    trade = Trade(iid, cid, approved.symbol, contract, mode, prices, legs, settings)
    return trade, [command]


# -- broker reports -----------------------------------------------------------------------------


def on_status(trade: Trade, event: m.OrderStatusChanged, wall: datetime) -> tuple[Trade, Effects]:
    leg = trade.leg(event.client_order_id)
    if leg is None:
        return trade, []
    if event.status is S.REJECTED and cancel_refused(event.reason):
        # ib_insync marks an order Cancelled on IB's "cannot cancel" error when it has not seen
        # the fill yet, and the broker reports that as REJECTED: the order filled, wait for it
        return trade, [Note("WARNING", "cancel_refused", (
            ("intent", trade.intent_id), ("client_order_id", leg.spec.client_order_id),
            ("status", "REJECTED ignored")))]
    trade = trade.with_leg(leg.reported(event.status, wall, event.reason, event.filled))
    return _settle(trade, wall)


def on_rejected(trade: Trade, event: m.OrderRejected, wall: datetime) -> tuple[Trade, Effects]:
    leg = trade.leg(event.client_order_id)
    if leg is None:
        return trade, []
    if event.code in CANCEL_REFUSED:  # our cancel came too late: the fill (or status) follows
        note = Note("WARNING", "cancel_refused", (("intent", trade.intent_id),
                    ("client_order_id", leg.spec.client_order_id), ("code", event.code)))
        return trade, [note]
    if event.code == 0 and event.reason == m.NOT_CONNECTED:
        # refused on our side while the socket is down: it never reached IB. Not an exit IB
        # refused (no rejection counted toward on_unprotected): tried again after a pause
        trade = trade.with_leg(leg.reported(S.CANCELLED, wall, event.reason))
        retry = wall + timedelta(seconds=trade.settings.execution.cancel_timeout_s)
        trade = replace(trade, retry_at=max(trade.retry_at or retry, retry))
        return _settle(trade, wall)
    if event.code == CANCEL_NOT_FOUND and leg.cancel_sent_at is not None:
        # the answer to our cancel: IB has no such order, so it can never fill. Gone, not an
        # exit IB refused (no rejection counted, no backoff before the next order)
        trade = trade.with_leg(leg.reported(S.CANCELLED, wall, f"cancel: {event.reason}"))
        return _settle(trade, wall)
    reason = f"rejected {event.code}: {event.reason}"
    entry = trade.entry
    if (event.code == PARENT_NOT_FOUND and bracket_child(trade, leg) and entry.working
            and entry.acked_at is None and entry.filled <= 0):
        # IB has no order with the entry's id: it never reached IB, so it can never fill, and
        # its child was refused for that alone (not an exit rejection)
        gone = f"entry never reached IB ({reason})"
        trade = trade.with_leg(entry.reported(S.CANCELLED, wall, gone))
        trade = trade.with_leg(trade.leg(leg.spec.client_order_id).reported(S.CANCELLED, wall, gone))
        return _settle(trade, wall)
    trade = trade.with_leg(leg.reported(S.REJECTED, wall, reason))
    effects: Effects = []
    if leg.role != "entry" and trade.leg(leg.spec.client_order_id).status is S.REJECTED:
        backoff = min(trade.settings.execution.cancel_timeout_s * 2 ** (trade.exit_rejections - 1),
                      MAX_BACKOFF_S)
        trade = replace(trade, retry_at=wall + timedelta(seconds=backoff))
        effects.append(Note("WARNING", "exit_rejected", (
            ("intent", trade.intent_id), ("client_order_id", leg.spec.client_order_id),
            ("code", event.code), ("rejections", trade.exit_rejections), ("retry_in_s", backoff))))
    trade, more = _settle(trade, wall)
    return trade, effects + more


def on_fill(trade: Trade, fill: m.OrderFilled, wall: datetime,
            market: datetime | None = None, settle: bool = True) -> tuple[Trade, Effects]:
    """Account one execution (duplicates, known by exec id, are ignored).

    ``market`` is the exchange time the actor holds when the fill arrives: the position's
    ``opened_at`` is on that clock, the one max-hold is judged on (``fill.ts`` is the time the
    broker received the report, a different clock under the simulator). An entry fill for a
    trade already finished (it arrived after its cancel was given up on) revives the trade.
    ``settle=False`` only accounts it: a restart applies a trade's fills in a row and settles
    once, never deciding on a position that is only part way through its history.
    """
    leg = trade.leg(fill.client_order_id)
    if leg is None or fill.exec_id in trade.seen_execs:
        return trade, []
    effects: Effects = []
    if trade.finished and leg.role == "entry" and trade.position <= 0:
        trade = replace(trade, finished=False, closing_reason="")
        effects.append(Note("WARNING", "late_fill_revived", (("intent", trade.intent_id),
                            ("qty", f"{fill.quantity:g}"), ("price", fill.price))))
    value = fill.quantity * fill.price * mult(trade)
    trade = replace(
        trade.with_leg(leg.filled_by(fill.quantity, fill.price)),
        seen_execs=trade.seen_execs | {fill.exec_id},
        commissions=trade.commissions + fill.commission,
    )
    if leg.role == "entry":
        first = trade.opened_at is None
        trade = replace(trade, position=trade.position + fill.quantity, entry_cost=trade.entry_cost + value)
        if first:
            trade = replace(trade, opened_at=market or fill.ts)
            effects += [
                m.PositionOpened(trade.correlation_id, trade.intent_id, trade.symbol, trade.contract,
                                 trade.position, fill.price, fill.ts),
                m.SubscribeQuotes(trade.correlation_id, trade.contract),
            ]
    else:
        trade = replace(trade, position=trade.position - fill.quantity,
                        exit_proceeds=trade.exit_proceeds + value)
    if not settle:
        return trade, effects
    trade, more = _settle(trade, wall, fill)
    return trade, effects + more


def on_commission(trade: Trade, event: m.CommissionReported, wall: datetime) -> tuple[Trade, Effects]:
    """A commission IB reported after its execution was applied without one: add it. When the
    position has already closed, its realized P&L went out without it: correct it."""
    if event.exec_id not in trade.seen_execs:
        return trade, []
    trade = replace(trade, commissions=trade.commissions + event.commission)
    if not trade.finished or trade.opened_at is None:
        return trade, []
    return trade, [m.PnlCorrected(trade.correlation_id, trade.intent_id, trade.symbol,
                                  -event.commission, f"late commission exec_id={event.exec_id}",
                                  event.ts)]


def on_quote(trade: Trade, quote: m.Quote, wall: datetime) -> tuple[Trade, Effects]:
    """Remember the bid; in emulated mode the stop is watched here."""
    trade = replace(trade, last_bid=quote.bid)
    if trade.awaiting_quote_since is not None:
        from bot.trading import recovery  # a resend waits for this quote (import cycle)
        return recovery.reprice_resend(trade, quote, wall)
    if trade.mode != "emulated" or trade.position <= 0 or trade.closing_reason:
        return trade, []
    if exits.emulated_exit(quote.bid, trade.prices) == "stop":
        return begin_exit(trade, f"stop {trade.prices.stop:.2f} hit at bid {quote.bid:.2f}", wall)
    return trade, []


# -- the clock ----------------------------------------------------------------------------------


def on_clock(
    trade: Trade, settings: Settings, wall: datetime, market: datetime | None,
) -> tuple[Trade, Effects]:
    """Order timeouts, unconfirmed cancels and re-pricing (wall clock), time exits and DAY
    exits expired at the close (market clock), and the protection deadline."""
    before = trade.market
    trade = replace(trade, market=market or trade.market)
    ex = settings.execution
    if trade.awaiting_quote_since is not None:
        from bot.trading import recovery
        return recovery.expire_stale_resend(trade, wall)
    effects: Effects = []
    if before is not None and market is not None and close_passed(before, market):
        trade, effects = expire_at_close(trade)
    trade, more = order_timeouts(trade, wall)
    effects += more
    trade, more = resend_unconfirmed_cancels(trade, wall)
    effects += more
    if market is not None and trade.opened_at is not None and trade.position > 0 and not trade.closing_reason:
        why = exits.time_exit_reason(trade.opened_at, market, settings.risk)
        if why:
            trade, more = begin_exit(trade, why, wall)
            effects += more
    if trade.closing_reason and not trade.finished:
        trade, more = reprice_closing(trade, wall)
        effects += more
    if not trade.finished:
        trade, more = _settle(trade, wall)  # retries after a backoff
        effects += more
        trade, more = _check_protection(trade, wall, ex.protect_within_s)
        effects += more
    return trade, effects


def _check_protection(trade: Trade, wall: datetime, within_s: float) -> tuple[Trade, Effects]:
    """Invariant 1: alarm (once per episode) when a position stays unprotected too long, and act."""
    if trade.position <= 0 or protected(trade):
        if trade.alarmed:
            note = Note("WARNING", "position_protected", (("intent", trade.intent_id),
                        ("position", f"{trade.position:g}")))
            return replace(trade, unprotected_since=None, alarmed=False), [note]
        return replace(trade, unprotected_since=None), []
    since = trade.unprotected_since or wall
    trade = replace(trade, unprotected_since=since)
    if (wall - since).total_seconds() < within_s:
        return trade, []
    trade, effects = raise_unprotected_alarm(trade, wall)
    entry = trade.entry
    if entry.working:  # IB holds the bracket's exits until the parent fills: stop buying
        trade, more = cancel_leg(trade, entry, wall, "position unprotected while the entry works")
        effects += more
    if trade.exit_rejections >= MAX_EXIT_REJECTIONS and not trade.acted_unprotected:
        trade, more = _act_unprotected(trade, wall)
        effects += more
    return trade, effects


def _act_unprotected(trade: Trade, wall: datetime) -> tuple[Trade, Effects]:
    """``execution.on_unprotected`` after repeated rejections: flatten at market or kill switch."""
    action = trade.settings.execution.on_unprotected
    trade = replace(trade, acted_unprotected=True)
    why = f"unprotected: exits rejected {trade.exit_rejections} times"
    note = Note("ERROR", "unprotected_action", (("intent", trade.intent_id), ("action", action)))
    if action == "kill_switch":
        return trade, [note, EngageKillSwitch(f"{why} ({trade.intent_id})")]
    trade = replace(trade, force_market=True, retry_at=None)
    if trade.closing_reason:
        trade, more = _settle(trade, wall)
        return trade, [note, *more]
    trade, more = begin_exit(trade, why, wall)
    return trade, [note, *more]


# -- exits --------------------------------------------------------------------------------------


def begin_exit(trade: Trade, reason: str, wall: datetime) -> tuple[Trade, Effects]:
    """Cancel a working entry and the resting exits, except an exit pair the closing order can
    join (``joinable_pair``); the closing order goes out once the rest are confirmed done."""
    trade = replace(trade, closing_reason=reason)
    kept = joinable_pair(trade)
    effects: Effects = []
    for leg in (trade.entry, *trade.working_exits) if trade.entry.working else trade.working_exits:
        if leg in kept:
            continue
        trade, more = cancel_leg(trade, leg, wall, reason)
        effects += more
    trade, more = _settle(trade, wall)
    return trade, effects + more


def _settle(trade: Trade, wall: datetime, fill: m.OrderFilled | None = None) -> tuple[Trade, Effects]:
    """After any change: close, expire, arm or re-arm exits as the legs now require."""
    if trade.finished or trade.awaiting_quote_since is not None:
        return trade, []
    entry = trade.entry
    if entry.ended_unfilled:
        return _expire(trade, wall, entry.reason or entry.status.value.lower())
    if trade.opened_at is not None and trade.position <= 1e-9 and not entry.working:
        return _close(trade, wall, fill)
    if trade.position <= 0:
        return trade, []
    if any(g.reported_filled > g.filled + 1e-9 for g in trade.legs[1:]):
        return trade, []  # the broker reported exit fills whose executions are still on the way
    if trade.closing_reason:
        return send_close_if_clear(trade, wall)
    if entry.working:
        return trade, []  # the bracket's exits wait for the parent; the deadline watches it
    return _protect(trade, wall)


def _protect(trade: Trade, wall: datetime) -> tuple[Trade, Effects]:
    """Exits that do not cover exactly the position are cancelled; once none works, a fresh
    set sized to ``trade.position`` is armed (after the backoff of a rejection)."""
    role = PROTECTIVE[trade.mode]
    fitting = [g for g in trade.working_exits
               if g.role in ("tp", role) and g.cancel_sent_at is None
               and abs(open_quantity(trade, g) - trade.position) < 1e-9]
    if any(g.role == role for g in fitting):
        return trade, []
    effects: Effects = []
    for leg in trade.working_exits:
        trade, more = cancel_leg(trade, leg, wall, f"resize to the {trade.position:g} held")
        effects += more
    if trade.working_exits or (trade.retry_at is not None and wall < trade.retry_at):
        return trade, effects  # wait for the cancels to be confirmed (or the backoff)
    trade, more = _arm(trade, wall, ("sl", "tp") if trade.mode == "native" else ("tp",))
    return trade, effects + more


def _arm(trade: Trade, wall: datetime, roles: tuple[str, ...]) -> tuple[Trade, Effects]:
    """Send exits for the position in ``roles`` order. A pair goes stop first: orders leave one
    by one, and a process killed between the two must leave the protective one at IB."""
    revision = trade.revision + 1
    _, tp, sl = brackets.build_bracket(trade.intent_id, trade.contract, int(trade.position), trade.prices)
    group = f"{tp.oca_group}-{revision}"
    wanted = {"tp": tp, "sl": sl}
    effects: Effects = []
    for role in roles:
        paired = len(roles) > 1
        spec = replace(wanted[role], client_order_id=f"{trade.intent_id}.{role}{revision}",
                       oca_group=group if paired else "",
                       oca_type=brackets.EXIT_OCA_TYPE if paired else 0)
        trade = trade.with_leg(Leg(spec).sent(wall))
        effects.append(m.SubmitOrder(trade.correlation_id, trade.intent_id, trade.contract, spec))
    return replace(trade, revision=revision), effects


def _expire(trade: Trade, wall: datetime, reason: str) -> tuple[Trade, Effects]:
    effects: Effects = []
    for leg in trade.working_exits:
        trade, more = cancel_leg(trade, leg, wall, "entry ended unfilled")
        effects += more
    trade = replace(trade, finished=True)
    expired = m.EntryExpired(trade.correlation_id, trade.intent_id, trade.symbol, reason, wall)
    return trade, effects + [expired]


def _close(trade: Trade, wall: datetime, fill: m.OrderFilled | None) -> tuple[Trade, Effects]:
    effects: Effects = []
    for leg in trade.working_exits:  # OCA siblings shrink to 0 at the broker; cancel the rest
        if open_quantity(trade, leg) > 0:
            trade, more = cancel_leg(trade, leg, wall, "position closed")
            effects += more
    sold = sum(g.filled for g in trade.legs[1:])
    exit_price = trade.exit_proceeds / (sold * mult(trade)) if sold else 0.0
    pnl = round(trade.exit_proceeds - trade.entry_cost - trade.commissions, 2)
    closer = next((g for g in reversed(trade.legs[1:]) if g.filled), None)
    closer_role = closer.role if closer else ""
    reason = trade.closing_reason or {"tp": "take profit", "sl": "stop"}.get(closer_role, "exit")
    ts = fill.ts if fill is not None else wall
    trade = replace(trade, finished=True, finished_at=wall, closing_reason=reason, alarmed=False)
    effects += [
        m.PositionClosed(trade.correlation_id, trade.intent_id, trade.symbol, trade.contract,
                         sold, trade.entry.avg_price, round(exit_price, 4), pnl, reason, ts),
        m.UnsubscribeQuotes(trade.correlation_id, trade.contract),
    ]
    return trade, effects


def sweep_finished(trade: Trade, wall: datetime) -> tuple[Trade, Effects]:
    """A closed trade's leftovers: its cancels IB has not confirmed are sent again (a lost
    cancel is not lost for good), and exits that IB should have ended by itself (an OCA
    sibling's fill reduced them to nothing) but has not reported done within
    ``cancel_timeout_s`` are cancelled. Either would otherwise keep working at the broker for
    a position that is gone (invariant 2)."""
    if not trade.finished:
        return trade, []
    trade, effects = resend_unconfirmed_cancels(trade, wall)
    if trade.finished_at is None or (
            wall - trade.finished_at).total_seconds() < trade.settings.execution.cancel_timeout_s:
        return trade, effects
    for leg in trade.legs[1:]:
        if leg.working and leg.cancel_sent_at is None:
            trade, more = cancel_leg(trade, leg, wall, "still working after the position closed")
            effects += more
    return trade, effects


def on_position_reduced(trade: Trade, held: float, wall: datetime) -> tuple[Trade, Effects]:
    """The broker holds less of the option than the trade, and no report of ours explains it:
    someone sold outside the bot (TWS, another program). The position is what the broker holds,
    so no exit may sell more: exits that would are cancelled and, once confirmed, a set sized
    to what is left is armed (a closing order resent for it); with nothing left the trade closes
    as "closed outside the bot", its P&L counted on what the bot itself sold."""
    if trade.finished or trade.opened_at is None or held >= trade.position - 1e-9:
        return trade, []
    held = max(held, 0.0)
    note = Note("WARNING", "position_reduced_outside", (
        ("intent", trade.intent_id), ("bot_held", trade.position), ("broker_holds", held)))
    gone = trade.position - held
    trade = replace(trade, position=held,
                    entry_cost=trade.entry_cost - gone * trade.entry.avg_price * mult(trade))
    effects: Effects = [note]
    for leg in trade.working_exits:
        if open_quantity(trade, leg) > held + 1e-9:
            trade, more = cancel_leg(trade, leg, wall, f"the broker holds {held:g}")
            effects += more
    if held <= 1e-9:
        trade = replace(trade, closing_reason=trade.closing_reason or "closed outside the bot")
    trade, more = _settle(trade, wall)
    return trade, effects + more


def kill_switch(trade: Trade, settings: Settings, wall: datetime) -> tuple[Trade, Effects]:
    """The kill switch engaged: cancel a working entry and/or flatten, as configured."""
    effects: Effects = []
    risk = settings.risk
    if risk.kill_switch_cancel_entries and trade.entry.working:
        trade, effects = cancel_leg(trade, trade.entry, wall, "kill switch")
    if risk.kill_switch_flatten and trade.position > 0 and not trade.closing_reason:
        trade, more = begin_exit(trade, "kill switch", wall)
        effects += more
    return trade, effects


def restore(rec: m.TradeRecovered, settings: Settings, wall: datetime) -> tuple[Trade, Effects]:
    """See ``bot.trading.recovery.restore``."""
    from bot.trading import recovery
    return recovery.restore(rec, settings, wall)


def merge(trade: Trade, rec: m.TradeRecovered, wall: datetime) -> tuple[Trade, Effects]:
    """See ``bot.trading.recovery.merge``."""
    from bot.trading import recovery
    return recovery.merge(trade, rec, wall)
