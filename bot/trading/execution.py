"""The life of one approved entry (a "trade"), as pure transitions.

Each function takes a ``Trade`` and an input (an order report, a fill, a quote, the time) and
returns the new ``Trade`` plus the messages to send: commands for the broker and events to
publish. The ExecutionActor only routes them. Times: ``wall`` is the wall clock (order
timeouts), ``market`` is exchange time from bars and fills (max hold, flat before the close).

OCO modes:
- native: one ``SubmitBracket`` (entry + take-profit + stop in one OCA group at the broker).
- emulated: the entry alone; once it is filled the take-profit rests at the broker and the stop
  is watched here on the option's bid. When the stop triggers, the take-profit is cancelled
  first and the exit is sent only after the broker confirms, so the two can never both fill.
Partial entries: exits are always sized to the quantity actually held.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bot import messages as m
from bot.app.config import Settings
from bot.trading import brackets, exits
from bot.trading.order_state import Leg

S = m.OrderStatus
Effects = list[Any]


@dataclass(frozen=True, slots=True)
class Trade:
    intent_id: str
    correlation_id: str
    symbol: str
    contract: m.OptionContract
    mode: str
    prices: brackets.BracketPrices
    legs: tuple[Leg, ...]
    position: float = 0.0
    entry_cost: float = 0.0
    exit_proceeds: float = 0.0
    commissions: float = 0.0
    opened_at: datetime | None = None
    closing_reason: str = ""
    """Set when an exit is under way (time exit, emulated stop, re-arming after a partial)."""
    last_bid: float | None = None
    seen_execs: frozenset[str] = frozenset()
    revision: int = 0
    finished: bool = False

    def leg(self, client_order_id: str) -> Leg | None:
        return next((g for g in self.legs if g.spec.client_order_id == client_order_id), None)

    @property
    def entry(self) -> Leg:
        return self.legs[0]

    @property
    def working_exits(self) -> tuple[Leg, ...]:
        return tuple(g for g in self.legs[1:] if g.working or g.status is S.CREATED)

    def with_leg(self, new: Leg) -> Trade:
        cid = new.spec.client_order_id
        if self.leg(cid) is None:
            return replace(self, legs=self.legs + (new,))
        return replace(self, legs=tuple(new if g.spec.client_order_id == cid else g for g in self.legs))


def _mult(trade: Trade) -> int:
    return trade.contract.multiplier


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
    trade = Trade(iid, cid, approved.symbol, contract, mode, prices, legs)
    return trade, [command]


def on_status(trade: Trade, event: m.OrderStatusChanged, wall: datetime) -> tuple[Trade, Effects]:
    leg = trade.leg(event.client_order_id)
    if leg is None:
        return trade, []
    trade = trade.with_leg(leg.reported(event.status, wall, event.reason, event.filled))
    return _settle(trade, wall)


def on_rejected(trade: Trade, event: m.OrderRejected, wall: datetime) -> tuple[Trade, Effects]:
    leg = trade.leg(event.client_order_id)
    if leg is None:
        return trade, []
    reason = f"rejected {event.code}: {event.reason}"
    trade = trade.with_leg(leg.reported(S.REJECTED, wall, reason))
    return _settle(trade, wall)


def on_fill(trade: Trade, fill: m.OrderFilled, wall: datetime) -> tuple[Trade, Effects]:
    """Account one execution (duplicates, known by exec id, are ignored)."""
    leg = trade.leg(fill.client_order_id)
    if leg is None or fill.exec_id in trade.seen_execs:
        return trade, []
    value = fill.quantity * fill.price * _mult(trade)
    trade = replace(
        trade.with_leg(leg.filled_by(fill.quantity, fill.price)),
        seen_execs=trade.seen_execs | {fill.exec_id},
        commissions=trade.commissions + fill.commission,
    )
    effects: Effects = []
    if leg.role == "entry":
        first = trade.opened_at is None
        trade = replace(trade, position=trade.position + fill.quantity, entry_cost=trade.entry_cost + value)
        if first:
            trade = replace(trade, opened_at=fill.ts)
            effects += [
                m.PositionOpened(trade.correlation_id, trade.intent_id, trade.symbol, trade.contract,
                                 trade.position, fill.price, fill.ts),
                m.SubscribeQuotes(trade.correlation_id, trade.contract),
            ]
    else:
        trade = replace(trade, position=trade.position - fill.quantity,
                        exit_proceeds=trade.exit_proceeds + value)
    trade, more = _settle(trade, wall, fill)
    return trade, effects + more


def on_commission(trade: Trade, event: m.CommissionReported, wall: datetime) -> tuple[Trade, Effects]:
    """A commission IB reported after its execution was applied without one: add it."""
    if event.exec_id not in trade.seen_execs:
        return trade, []
    return replace(trade, commissions=trade.commissions + event.commission), []


def on_quote(trade: Trade, quote: m.Quote, wall: datetime) -> tuple[Trade, Effects]:
    """Remember the bid; in emulated mode the stop is watched here."""
    trade = replace(trade, last_bid=quote.bid)
    if trade.mode != "emulated" or trade.position <= 0 or trade.closing_reason:
        return trade, []
    if exits.emulated_exit(quote.bid, trade.prices) == "stop":
        return begin_exit(trade, f"stop {trade.prices.stop:.2f} hit at bid {quote.bid:.2f}", wall)
    return trade, []


def on_clock(
    trade: Trade, settings: Settings, wall: datetime, market: datetime | None,
) -> tuple[Trade, Effects]:
    """Order timeouts (wall clock) and time exits (market clock)."""
    effects: Effects = []
    ex = settings.execution
    entry = trade.entry
    if entry.working and entry.cancel_sent_at is None and entry.sent_at is not None:
        waited = (wall - entry.sent_at).total_seconds()
        unacked = entry.acked_at is None and waited >= ex.ack_timeout_s
        unfilled = waited >= ex.entry_timeout_s
        if unacked or unfilled:
            why = f"not acknowledged within {ex.ack_timeout_s:g}s" if unacked else (
                f"not filled within {ex.entry_timeout_s:g}s")
            trade, effects = _cancel(trade, entry, wall, why)
    elif (entry.cancel_sent_at is not None and entry.working
          and (wall - entry.cancel_sent_at).total_seconds() >= ex.cancel_timeout_s):
        # The broker never answered the cancel: treat the entry as dead so risk can release it.
        trade = trade.with_leg(replace(entry, status=S.CANCELLED))
        trade, more = _settle(trade, wall)
        effects += more
    if market is not None and trade.opened_at is not None and trade.position > 0 and not trade.closing_reason:
        why = exits.time_exit_reason(trade.opened_at, market, settings.risk)
        if why:
            trade, more = begin_exit(trade, why, wall)
            effects += more
    return trade, effects


def begin_exit(trade: Trade, reason: str, wall: datetime) -> tuple[Trade, Effects]:
    """Cancel the resting exits; the closing order goes out once they are confirmed done."""
    trade = replace(trade, closing_reason=reason)
    effects: Effects = []
    for leg in trade.working_exits:
        trade, more = _cancel(trade, leg, wall, reason)
        effects += more
    trade, more = _settle(trade, wall)
    return trade, effects + more


def _cancel(trade: Trade, leg: Leg, wall: datetime, reason: str) -> tuple[Trade, Effects]:
    if leg.cancel_sent_at is not None or leg.done:
        return trade, []
    trade = trade.with_leg(replace(leg, cancel_sent_at=wall, reason=reason))
    return trade, [m.CancelOrder(trade.correlation_id, leg.spec.client_order_id)]


def _settle(trade: Trade, wall: datetime, fill: m.OrderFilled | None = None) -> tuple[Trade, Effects]:
    """After any change: close, expire, arm or re-arm exits as the legs now require."""
    if trade.finished:
        return trade, []
    entry = trade.entry
    if entry.ended_unfilled:
        return _expire(trade, wall, entry.reason or entry.status.value.lower())
    if trade.opened_at is not None and trade.position <= 1e-9 and not entry.working:
        return _close(trade, wall, fill)
    if trade.position <= 0:
        return trade, []
    if trade.closing_reason:
        return _send_close_if_clear(trade, wall)
    if trade.mode == "emulated" and entry.done and not _has_role(trade, "tp"):
        return _arm(trade, wall, ("tp",))
    if trade.mode == "native" and entry.status is S.CANCELLED and not _exits_cover(trade):
        return _rearm_native(trade, wall)
    return trade, []


def _has_role(trade: Trade, role: str) -> bool:
    return any(g.role == role for g in trade.legs[1:])


def _exits_cover(trade: Trade) -> bool:
    """Some working exit would sell exactly what is held."""
    return any(g.spec.quantity - g.filled == trade.position for g in trade.working_exits)


def _rearm_native(trade: Trade, wall: datetime) -> tuple[Trade, Effects]:
    """A partly filled entry was cancelled: replace the exits with a pair sized to the fill."""
    effects: Effects = []
    for leg in trade.working_exits:
        trade, more = _cancel(trade, leg, wall, "resize to the filled quantity")
        effects += more
    if trade.working_exits:
        return trade, effects  # wait until the old pair is confirmed cancelled
    trade, more = _arm(trade, wall, ("tp", "sl"))
    return trade, effects + more


def _arm(trade: Trade, wall: datetime, roles: tuple[str, ...]) -> tuple[Trade, Effects]:
    revision = trade.revision + 1
    _, tp, sl = brackets.build_bracket(trade.intent_id, trade.contract, int(trade.position), trade.prices)
    group = f"{tp.oca_group}-{revision}"
    wanted = {"tp": tp, "sl": sl}
    effects: Effects = []
    for role in roles:
        spec = replace(wanted[role], client_order_id=f"{trade.intent_id}.{role}{revision}",
                       oca_group=group if len(roles) > 1 else "")
        trade = trade.with_leg(Leg(spec).sent(wall))
        effects.append(m.SubmitOrder(trade.correlation_id, trade.intent_id, trade.contract, spec))
    return replace(trade, revision=revision), effects


MAX_EXIT_ATTEMPTS = 3


def _send_close_if_clear(trade: Trade, wall: datetime) -> tuple[Trade, Effects]:
    """Send the closing order once nothing else can sell; give up after a few rejections."""
    attempts = sum(1 for g in trade.legs if g.role == "exit")
    if trade.working_exits or attempts >= MAX_EXIT_ATTEMPTS:
        return trade, []
    leg = f"exit{attempts + 1}"
    quantity = int(trade.position)
    if trade.last_bid and trade.last_bid > 0:
        spec = brackets.exit_order(trade.intent_id, leg, trade.symbol, quantity, trade.last_bid)
    else:  # no usable quote: close at market rather than stay exposed
        spec = m.OrderSpec(f"{trade.intent_id}.{leg}", m.Side.SELL, quantity, m.OrderType.MARKET)
    trade = trade.with_leg(Leg(spec).sent(wall))
    return trade, [m.SubmitOrder(trade.correlation_id, trade.intent_id, trade.contract, spec)]


def _expire(trade: Trade, wall: datetime, reason: str) -> tuple[Trade, Effects]:
    effects: Effects = []
    for leg in trade.working_exits:
        trade, more = _cancel(trade, leg, wall, "entry ended unfilled")
        effects += more
    trade = replace(trade, finished=True)
    expired = m.EntryExpired(trade.correlation_id, trade.intent_id, trade.symbol, reason, wall)
    return trade, effects + [expired]


def _close(trade: Trade, wall: datetime, fill: m.OrderFilled | None) -> tuple[Trade, Effects]:
    effects: Effects = []
    for leg in trade.working_exits:
        if not leg.spec.oca_group:  # OCA siblings are cancelled by the broker itself
            trade, more = _cancel(trade, leg, wall, "position closed")
            effects += more
    sold = sum(g.filled for g in trade.legs[1:])
    exit_price = trade.exit_proceeds / (sold * _mult(trade)) if sold else 0.0
    pnl = round(trade.exit_proceeds - trade.entry_cost - trade.commissions, 2)
    closer = next((g for g in reversed(trade.legs[1:]) if g.filled), None)
    closer_role = closer.role if closer else ""
    reason = trade.closing_reason or {"tp": "take profit", "sl": "stop"}.get(closer_role, "exit")
    ts = fill.ts if fill is not None else wall
    trade = replace(trade, finished=True, closing_reason=reason)
    effects += [
        m.PositionClosed(trade.correlation_id, trade.intent_id, trade.symbol, trade.contract,
                         sold, trade.entry.avg_price, round(exit_price, 4), pnl, reason, ts),
        m.UnsubscribeQuotes(trade.correlation_id, trade.contract),
    ]
    return trade, effects


# -- after a restart ----------------------------------------------------------------------------


def restore(rec: m.TradeRecovered, settings: Settings, wall: datetime) -> tuple[Trade, Effects]:
    """Rebuild a trade the journal and the broker still know (see ``bot/journal/reconcile.py``).

    The legs take the broker's statuses, then every fill is applied in time order, so a
    position that closed while the bot was down becomes ``PositionClosed`` with its P&L. A held
    position without working exits gets a fresh pair (native) or take-profit (emulated; the stop
    is watched again from quotes). ``PositionOpened`` is replaced by ``PositionRecovered`` when
    risk already counted the trade before the restart. ``resend`` sends the legs once more.
    """
    risk = settings.risk
    prices = brackets.bracket_prices(rec.symbol, rec.premium, risk.take_profit_pct, risk.stop_loss_pct)
    legs = tuple(_restored_leg(spec, status, filled, wall) for spec, status, filled in rec.legs)
    revision = max((g.revision for g in legs), default=0)
    trade = Trade(rec.intent_id, rec.correlation_id, rec.symbol, rec.contract,
                  settings.execution.oco_mode, prices, legs, revision=revision)
    if rec.resend:
        return _resend(trade, wall)
    effects: Effects = []
    for fill in rec.fills:
        trade, more = on_fill(trade, fill, wall)
        effects += more
    if rec.held is not None and trade.position > rec.held:  # the broker holds less: never oversell
        trade = replace(trade, position=rec.held)
    trade, more = _settle(trade, wall)
    effects += more
    if (not trade.finished and trade.position > 0 and not trade.closing_reason
            and not trade.entry.working and not trade.working_exits):
        trade, more = _arm(trade, wall, ("tp", "sl") if trade.mode == "native" else ("tp",))
        effects += more
    if rec.opened or rec.adopted:
        effects = [_recovered(e) if isinstance(e, m.PositionOpened) else e for e in effects]
    return trade, effects


def merge(trade: Trade, rec: m.TradeRecovered, wall: datetime) -> tuple[Trade, Effects]:
    """A reconnect's snapshot for a trade this process already runs: add what it missed."""
    effects: Effects = []
    for fill in rec.fills:
        trade, more = on_fill(trade, fill, wall)
        effects += more
    for spec, status, filled in rec.legs:
        if status is not S.CREATED and not trade.finished:
            report = m.OrderStatusChanged(trade.correlation_id, spec.client_order_id, status,
                                          filled, 0.0, 0.0, wall)
            trade, more = on_status(trade, report, wall)
            effects += more
    return trade, effects


def _restored_leg(spec: m.OrderSpec, status: m.OrderStatus, filled: float, wall: datetime) -> Leg:
    acked = wall if status in (S.ACKED, S.PARTIAL, S.FILLED) else None
    if status is S.CREATED:
        return Leg(spec)
    return Leg(spec, status=status, sent_at=wall, acked_at=acked, reported_filled=filled)


def _resend(trade: Trade, wall: datetime) -> tuple[Trade, Effects]:
    trade = replace(trade, legs=tuple(g.sent(wall) for g in trade.legs))
    specs = [g.spec for g in trade.legs]
    if [g.role for g in trade.legs] == ["entry", "tp", "sl"]:
        command: Any = m.SubmitBracket(trade.correlation_id, trade.intent_id, trade.contract, *specs)
    else:
        command = m.SubmitOrder(trade.correlation_id, trade.intent_id, trade.contract, specs[0])
    return trade, [command]


def _recovered(opened: m.PositionOpened) -> m.PositionRecovered:
    return m.PositionRecovered(opened.intent_id, opened.symbol, opened.contract, opened.quantity,
                               opened.ts)


def kill_switch(trade: Trade, settings: Settings, wall: datetime) -> tuple[Trade, Effects]:
    """The kill switch engaged: cancel a working entry and/or flatten, as configured."""
    effects: Effects = []
    risk = settings.risk
    if risk.kill_switch_cancel_entries and trade.entry.working:
        trade, effects = _cancel(trade, trade.entry, wall, "kill switch")
    if risk.kill_switch_flatten and trade.position > 0 and not trade.closing_reason:
        trade, more = begin_exit(trade, "kill switch", wall)
        effects += more
    return trade, effects
