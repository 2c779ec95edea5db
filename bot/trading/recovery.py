"""Trades after a restart or a reconnect, as pure transitions (the other half of
``bot/trading/execution.py``; see ``bot/journal/reconcile.py`` for where they come from).

A crash resend (the process died between writing an entry and sending it) is never sent at the
journaled, possibly minutes-old price: the trade subscribes the option's quotes and waits up to
``execution.resend_quote_within_s`` (wall) for a fresh one. It is then re-priced at the ask and
its exits re-derived from that price, for the quantity risk approved (the journal holds it). If
the ask is more than ``execution.resend_max_rise_pct`` above the approved premium (the loss at
the stop grows with the entry), or no quote comes in time, the entry expires, never sent.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot import messages as m
from bot.app.config import Settings
from bot.trading import brackets
from bot.trading.execution import _settle, on_fill, on_status, raise_unprotected_alarm
from bot.trading.order_state import Leg, implied_filled
from bot.trading.trade import Effects, Note, Trade, protected

S = m.OrderStatus


def restore(rec: m.TradeRecovered, settings: Settings, wall: datetime) -> tuple[Trade, Effects]:
    """Rebuild a trade the journal and the broker still know.

    The legs take the broker's statuses, then every fill is applied in time order, so a
    position that closed while the bot was down becomes ``PositionClosed`` with its P&L. A held
    position without working exits covering it gets a fresh pair sized to it (native) or
    take-profit (emulated; the stop is watched again from quotes). ``PositionOpened`` is
    replaced by ``PositionRecovered`` when risk already counted the trade before the restart.
    ``resend`` waits for a fresh quote, then sends the entry once more (module docstring).
    """
    risk = settings.risk
    prices = brackets.bracket_prices(rec.symbol, rec.premium, risk.take_profit_pct, risk.stop_loss_pct)
    legs = tuple(_restored_leg(spec, status, filled, wall) for spec, status, filled in rec.legs)
    revision = max((g.revision for g in legs), default=0)
    trade = Trade(rec.intent_id, rec.correlation_id, rec.symbol, rec.contract,
                  settings.execution.oco_mode, prices, legs, settings, revision=revision)
    if rec.resend:
        trade = replace(trade, awaiting_quote_since=wall)
        note = Note("INFO", "resend_waiting_quote", (("intent", trade.intent_id),
                    ("within_s", f"{settings.execution.resend_quote_within_s:g}")))
        return trade, [note, m.SubscribeQuotes(trade.correlation_id, trade.contract)]
    effects: Effects = []
    fills = _within_held(rec)
    for fill in fills:  # the whole history first: no decision on a position part way through it
        trade, more = on_fill(trade, fill, wall, settle=False)
        effects += more
    # a fill trimmed away (the broker holds less) is accounted too: the same execution
    # reported again (the broker's replay after the connect) must not add it back
    trade = replace(trade, seen_execs=trade.seen_execs | {f.exec_id for f in rec.fills})
    trade, more = _settle(trade, wall, fills[-1] if fills else None)
    effects += more
    if rec.opened or rec.adopted:
        effects = [_recovered(e) if isinstance(e, m.PositionOpened) else e for e in effects]
    trade, more = _alarm_if_unprotected(trade, wall)
    return trade, effects + more


def _alarm_if_unprotected(trade: Trade, wall: datetime) -> tuple[Trade, Effects]:
    """A position found without working protection at a restart has been bare since some time
    while the bot was down, at least as long as the protection deadline: alarm now, not one
    deadline after the restart. The alarm clears once the exits armed above are acknowledged;
    the deadline's actions (``execution.tick``) follow at the next check."""
    if trade.finished or trade.position <= 0 or protected(trade):
        return trade, []
    within = trade.settings.execution.protect_within_s
    trade = replace(trade, unprotected_since=wall - timedelta(seconds=within))
    return raise_unprotected_alarm(trade, wall)


def _within_held(rec: m.TradeRecovered) -> tuple[m.OrderFilled, ...]:
    """The fills, with the latest buys trimmed so that they hold no more than ``rec.held``
    (the broker holds less: part was sold outside the bot). Exits are then armed for what is
    held, never for more (``bot/journal/reconcile.py`` sets ``held``)."""
    held = sum(f.quantity if f.side is m.Side.BUY else -f.quantity for f in rec.fills)
    excess = held - rec.held if rec.held is not None else 0.0
    trimmed = []
    for fill in reversed(rec.fills):
        if excess > 1e-9 and fill.side is m.Side.BUY:
            cut = min(excess, fill.quantity)
            excess -= cut
            if fill.quantity - cut <= 1e-9:
                continue
            fill = replace(fill, quantity=fill.quantity - cut)
        trimmed.append(fill)
    return tuple(reversed(trimmed))


def merge(trade: Trade, rec: m.TradeRecovered, wall: datetime) -> tuple[Trade, Effects]:
    """A reconnect's snapshot for a trade this process already runs: add what it missed."""
    effects: Effects = []
    for fill in rec.fills:  # as in restore: the whole history first, then decide
        trade, more = on_fill(trade, fill, wall, settle=False)
        effects += more
    trade, more = _settle(trade, wall, rec.fills[-1] if rec.fills else None)
    effects += more
    for spec, status, filled in rec.legs:
        if status is not S.CREATED and not trade.finished:
            report = m.OrderStatusChanged(trade.correlation_id, spec.client_order_id, status,
                                          filled, 0.0, 0.0, wall)
            trade, more = on_status(trade, report, wall)
            effects += more
    return trade, effects


def reprice_resend(trade: Trade, quote: m.Quote, wall: datetime) -> tuple[Trade, Effects]:
    """The fresh quote a crash resend waited for: re-price and send, or expire."""
    approved = trade.entry.spec.limit_price or trade.prices.entry
    ask = quote.ask
    if not ask > 0:
        return trade, []
    risk, max_rise = trade.settings.risk, trade.settings.execution.resend_max_rise_pct
    if ask > approved * (1 + max_rise / 100) + 1e-9:
        return _expire_resend(trade, wall, f"ask {ask:.2f} more than {max_rise:g}% above the "
                                           f"approved {approved:.2f}")
    prices = brackets.bracket_prices(trade.symbol, ask, risk.take_profit_pct, risk.stop_loss_pct)
    entry, tp, sl = brackets.build_bracket(trade.intent_id, trade.contract,
                                           trade.entry.spec.quantity, prices)
    native = trade.mode == "native"
    specs = (entry, tp, sl) if native else (entry,)
    trade = replace(trade, prices=prices, awaiting_quote_since=None,
                    legs=tuple(Leg(spec).sent(wall) for spec in specs))
    cid, iid = trade.correlation_id, trade.intent_id
    command: Any = (m.SubmitBracket(cid, iid, trade.contract, *specs) if native
                    else m.SubmitOrder(cid, iid, trade.contract, entry))
    note = Note("INFO", "resend_repriced", (("intent", trade.intent_id), ("entry", f"{prices.entry:.2f}"),
                ("tp", f"{prices.take_profit:.2f}"), ("stop", f"{prices.stop:.2f}"),
                ("approved", f"{approved:.2f}")))
    return trade, [note, command]


def expire_stale_resend(trade: Trade, wall: datetime) -> tuple[Trade, Effects]:
    """No fresh quote within ``execution.resend_quote_within_s`` of the restart: expire."""
    within = trade.settings.execution.resend_quote_within_s
    assert trade.awaiting_quote_since is not None
    if (wall - trade.awaiting_quote_since).total_seconds() < within:
        return trade, []
    return _expire_resend(trade, wall, f"no fresh quote within {within:g}s of the resend")


def _expire_resend(trade: Trade, wall: datetime, reason: str) -> tuple[Trade, Effects]:
    trade = replace(trade, awaiting_quote_since=None, finished=True)
    return trade, [m.EntryExpired(trade.correlation_id, trade.intent_id, trade.symbol, reason, wall),
                   m.UnsubscribeQuotes(trade.correlation_id, trade.contract)]


def _restored_leg(spec: m.OrderSpec, status: m.OrderStatus, filled: float, wall: datetime) -> Leg:
    acked = wall if status in (S.ACKED, S.PARTIAL, S.FILLED) else None
    if status is S.CREATED:
        return Leg(spec)
    return Leg(spec, status=status, sent_at=wall, acked_at=acked,
               reported_filled=max(filled, implied_filled(spec, status)))


def _recovered(opened: m.PositionOpened) -> m.PositionRecovered:
    return m.PositionRecovered(opened.intent_id, opened.symbol, opened.contract, opened.quantity,
                               opened.ts)
