"""A trade (one approved entry and its orders) and what can be said about it without changing it:
how much each exit may still sell, whether the position is protected (invariant 1 in
``bot/trading/execution.py``), and the closing order for an escalation step.

Pure: no I/O; the transitions are in ``execution.py`` (live) and ``recovery.py`` (restarts).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bot import messages as m
from bot.app.config import Settings
from bot.trading import brackets, exits
from bot.trading.market_hours import minutes_to_close
from bot.trading.order_state import Leg

S = m.OrderStatus
Effects = list[Any]
MAX_EXIT_REJECTIONS = 3
"""Rejected exits before ``execution.on_unprotected`` acts (retries go on, with backoff)."""
MAX_BACKOFF_S = 60.0
CANCEL_REFUSED = frozenset({161, 10148})
"""IB refuses a cancel because the order is no longer cancellable (10148: it filled): the order
is not rejected; its fill or final status follows."""
CANCEL_NOT_FOUND = 10147
"""IB has no order with that id to cancel: it never reached IB (or is long gone)."""
PARENT_NOT_FOUND = 135
"""IB's answer to a bracket child whose parent it has no order for ("Can't find order with id
= N"): the parent was sent first on the same socket, so it never reached IB."""


def cancel_refused(reason: str) -> bool:
    """IB's error text (``Error 10148, reqId ...``) says a cancel was refused (``CANCEL_REFUSED``)."""
    return any(f"Error {code}," in reason for code in CANCEL_REFUSED)


PROTECTIVE = {"native": "sl", "emulated": "tp"}
"""The leg that protects a position: the stop at the broker, or (emulated) the resting
take-profit while the bot watches the stop on the bid."""


@dataclass(frozen=True, slots=True)
class Note:
    """A log line for the actor to write: the event name, then key=value pairs."""

    level: str
    event: str
    fields: tuple[tuple[str, Any], ...] = ()

    @property
    def text(self) -> str:
        return " ".join([self.event, *(f"{k}={v}" for k, v in self.fields)])


@dataclass(frozen=True, slots=True)
class EngageKillSwitch:
    """Execution -> its actor: write the kill-switch file (``execution.on_unprotected``)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Trade:
    intent_id: str
    correlation_id: str
    symbol: str
    contract: m.OptionContract
    mode: str
    prices: brackets.BracketPrices
    legs: tuple[Leg, ...]
    settings: Settings = field(repr=False, compare=False, default_factory=Settings)
    position: float = 0.0
    entry_cost: float = 0.0
    exit_proceeds: float = 0.0
    commissions: float = 0.0
    opened_at: datetime | None = None
    closing_reason: str = ""
    """Set when an exit is under way (time exit, emulated stop, kill switch, unprotected)."""
    close_step: int = 0
    """Escalation step of the closing order (``exits.closing_terms``)."""
    force_market: bool = False
    last_bid: float | None = None
    market: datetime | None = None
    """The last exchange time the actor told (for the market order near the close)."""
    seen_execs: frozenset[str] = frozenset()
    revision: int = 0
    unprotected_since: datetime | None = None
    alarmed: bool = False
    acted_unprotected: bool = False
    retry_at: datetime | None = None
    """Backoff after a rejected exit: no new exit before this wall time."""
    awaiting_quote_since: datetime | None = None
    """A crash resend waits for a fresh quote to re-price from (``recovery.resend``)."""
    finished: bool = False
    finished_at: datetime | None = None
    """Wall time the position closed (or the entry expired): when leftovers are swept."""

    def leg(self, client_order_id: str) -> Leg | None:
        return next((g for g in self.legs if g.spec.client_order_id == client_order_id), None)

    @property
    def entry(self) -> Leg:
        return self.legs[0]

    @property
    def working_exits(self) -> tuple[Leg, ...]:
        return tuple(g for g in self.legs[1:] if g.working or g.status is S.CREATED)

    @property
    def exit_rejections(self) -> int:
        """Exit attempts the broker rejected (a pair rejected together is one attempt)."""
        return len({g.revision if g.role in ("tp", "sl") else g.spec.client_order_id
                    for g in self.legs[1:] if g.status is S.REJECTED})

    def with_leg(self, new: Leg) -> Trade:
        cid = new.spec.client_order_id
        if self.leg(cid) is None:
            return replace(self, legs=self.legs + (new,))
        return replace(self, legs=tuple(new if g.spec.client_order_id == cid else g for g in self.legs))


def mult(trade: Trade) -> int:
    return trade.contract.multiplier


def cancel_leg(trade: Trade, leg: Leg, wall: datetime, reason: str) -> tuple[Trade, Effects]:
    """Ask the broker to cancel ``leg`` (once: a cancel already sent is resent by the clock)."""
    if leg.cancel_sent_at is not None or leg.done:
        return trade, []
    trade = trade.with_leg(replace(leg, cancel_sent_at=wall, reason=reason))
    return trade, [m.CancelOrder(trade.correlation_id, leg.spec.client_order_id)]


# -- protection ---------------------------------------------------------------------------------


def open_quantity(trade: Trade, leg: Leg) -> float:
    """What ``leg`` may still sell at the broker: its quantity less its fills, less the fills
    of its OCA siblings (types 2 and 3 reduce; type 1 cancels on any sibling fill). A bracket
    child works at most what its parent filled (IB's attached orders follow the parent's
    fills: a partly filled entry whose rest is cancelled leaves its exits for what it bought).
    The parent's fill is what IB reports for it: a restart trims the entry's fills to what the
    broker still holds (part was sold outside the bot), but IB's children still work for all
    the parent bought (chaos seed 95073)."""
    quantity = float(leg.spec.quantity)
    bought = max(trade.entry.filled, trade.entry.reported_filled)
    if bracket_child(trade, leg) and bought > 0:
        quantity = min(quantity, bought)
    rest = quantity - leg.filled
    group = leg.spec.oca_group
    if not group or leg.spec.oca_type not in (1, 2, 3):
        return max(rest, 0.0)
    sibling_fills = sum(g.filled for g in trade.legs[1:] if g is not leg and g.spec.oca_group == group)
    if leg.spec.oca_type == 1:
        return 0.0 if sibling_fills else max(rest, 0.0)
    return max(rest - sibling_fills, 0.0)


def _expected_held(trade: Trade) -> float:
    """What the broker should hold for ``trade`` once the exit fills it already reported (its
    order statuses run ahead of the executions) are counted."""
    pending = sum(max(g.reported_filled - g.filled, 0.0) for g in trade.legs[1:])
    return max(trade.position - pending, 0.0)


def shortfalls(trades: list[Trade], broker_holds: float) -> dict[str, float]:
    """Trades of one contract that the broker's quantity no longer covers: intent -> what the
    broker holds for it. The quantity is shared oldest first, so a sale outside the bot reduces
    the newest trades first."""
    found: dict[str, float] = {}
    left = max(broker_holds, 0.0)
    for trade in sorted(trades, key=lambda t: (t.opened_at is None, t.opened_at or 0)):
        expected = _expected_held(trade)
        share = min(left, expected)
        if share < expected - 1e-9:
            found[trade.intent_id] = share + (trade.position - expected)
        left -= share
    return found


def bracket_child(trade: Trade, leg: Leg) -> bool:
    return trade.mode == "native" and leg.revision == 0 and leg.role in ("tp", "sl")


def live(trade: Trade, leg: Leg) -> bool:
    """Working at the broker for sure: acknowledged, no cancel asked, not a bracket child
    whose parent still works (IB holds those until the parent fills), not a DAY order past
    the close."""
    held = bracket_child(trade, leg) and trade.entry.working
    return (leg.working and leg.acked_at is not None and leg.cancel_sent_at is None
            and not held and not leg.expired_at_close)


def protected(trade: Trade) -> bool:
    """Invariant 1: live stops (emulated: the resting take-profit, the stop watched here) cover
    the whole position, or a live closing order does."""
    role = PROTECTIVE[trade.mode]
    stops = sum(open_quantity(trade, g) for g in trade.legs[1:] if g.role == role and live(trade, g))
    closing = sum(open_quantity(trade, g) for g in trade.legs[1:]
                  if g.role == "exit" and live(trade, g))
    return max(stops, closing) >= trade.position - 1e-9


def covered(trade: Trade) -> float:
    """The most the working exits could sell together (an OCA group counts once)."""
    groups: dict[str, float] = {}
    total = 0.0
    for g in trade.working_exits:
        qty = open_quantity(trade, g)
        if g.spec.oca_group and g.spec.oca_type in (1, 2, 3):
            groups[g.spec.oca_group] = max(groups.get(g.spec.oca_group, 0.0), qty)
        else:
            total += qty
    return total + sum(groups.values())


def unprotected_why(trade: Trade) -> str:
    if trade.entry.working:
        return "entry still working (bracket exits inactive)"
    if trade.exit_rejections:
        return f"exits rejected {trade.exit_rejections}x"
    if any(g.expired_at_close for g in trade.working_exits):
        return "exits expired at the close (DAY orders)"
    if any(g.cancel_sent_at for g in trade.working_exits):
        return "waiting for cancels to be confirmed"
    return "exits not acknowledged" if trade.working_exits else "no working exit"


def closing_price(trade: Trade, step: int) -> float | None:
    """The closing SELL's limit at escalation ``step`` on the tick grid, None for market
    (``exits.closing_terms`` with the execution settings; market when flattening)."""
    if trade.force_market:
        return None
    ex = trade.settings.execution
    left = minutes_to_close(trade.market) if trade.market is not None else None
    tick = brackets.tick_size(trade.symbol, trade.last_bid or 0.0)
    price = exits.closing_terms(step, trade.last_bid, tick, reprice_steps=ex.reprice_steps,
                                marketable_ticks=ex.marketable_ticks, minutes_left=left,
                                market_before_close_min=ex.market_order_before_close_min)
    if price is None:
        return None
    return brackets.exit_order(trade.intent_id, "exit", trade.symbol, 1, price).limit_price


def closing_spec(trade: Trade, name: str, step: int) -> m.OrderSpec:
    """The closing order ``<intent>.<name>`` for the whole position at ``step``."""
    price = closing_price(trade, step)
    quantity = int(trade.position)
    if price is None:  # no usable quote, near the close, or flattening: market
        return m.OrderSpec(f"{trade.intent_id}.{name}", m.Side.SELL, quantity, m.OrderType.MARKET)
    return brackets.exit_order(trade.intent_id, name, trade.symbol, quantity, price)
