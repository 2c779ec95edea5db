"""Restart reconciliation: the journal's intents against what the broker holds, as a plan.

Pure: the journal actor reads its live intents (``JournalIntent``), hears the broker's
``BrokerSnapshot`` and calls ``reconcile``; the ``Plan`` says which trades execution rebuilds,
which intents are sent once more or marked expired, and every mismatch.

The rules, per live intent (approved, sent or open in the journal):

| journal                         | broker (orders by orderRef, executions)  | plan                  |
|---------------------------------|------------------------------------------|-----------------------|
| approved, no order written      | -                                        | expired (never sent)  |
| orders written                  | knows some order or execution            | recovered (adopted)   |
| orders written, never resent,   | knows nothing, first connect, sent less  | resent once           |
|   never opened                  |   than ``entry_timeout_s`` ago, same day |                       |
| orders written                  | knows nothing, otherwise                 | expired               |

Write-ahead makes this safe: an order leaves only after its intent is committed, so "the
broker knows nothing" means the process died between the commit and the send (or the order
was never accepted). An intent is resent at most once: the resend is counted in the journal
before it goes out, and a counted intent is expired on the next restart instead.

Only on the first connect of a process are intents resent or expired; after a reconnect the
running execution actor holds the truth and the snapshot only adds what it may have missed.
Positions the broker holds beyond what the recovered trades explain are reported; with
``manage_unknown`` an option position held long is adopted (its exits are armed) instead.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from bot import messages as m
from bot.journal.schema import IntentStatus
from bot.trading.market_hours import trading_day

S = m.OrderStatus
QTY_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class JournalOrder:
    spec: m.OrderSpec
    status: str


@dataclass(frozen=True, slots=True)
class JournalIntent:
    """One live intent as the journal recorded it (orders entry first, fills by exec id)."""

    intent_id: str
    correlation_id: str
    symbol: str
    contract: m.OptionContract
    premium: float
    status: str
    sent_at: datetime | None
    resends: int
    orders: tuple[JournalOrder, ...] = ()
    fills: tuple[m.OrderFilled, ...] = ()


@dataclass(frozen=True)
class Plan:
    recovered: tuple[m.TradeRecovered, ...] = ()
    resent: tuple[str, ...] = ()
    expired: tuple[str, ...] = ()
    mismatches: tuple[m.ReconcileMismatch, ...] = ()


@dataclass
class _Builder:
    now: datetime
    recovered: list[m.TradeRecovered] = field(default_factory=list)
    resent: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    mismatches: list[m.ReconcileMismatch] = field(default_factory=list)

    def mismatch(self, kind: str, key: str, detail: str) -> None:
        self.mismatches.append(m.ReconcileMismatch(kind, key, detail, self.now))

    def plan(self) -> Plan:
        return Plan(
            tuple(self.recovered), tuple(self.resent), tuple(self.expired), tuple(self.mismatches)
        )


def reconcile(
    intents: list[JournalIntent],
    snapshot: m.BrokerSnapshot,
    now: datetime,
    *,
    entry_timeout_s: float,
    manage_unknown: bool = False,
) -> Plan:
    """The plan for one broker snapshot (see the module docstring for the rules)."""
    out = _Builder(now)
    orders = defaultdict(dict)
    for order in snapshot.orders:
        orders[m.intent_of(order.client_order_id)][order.client_order_id] = order
    fills = defaultdict(list)
    for fill in snapshot.fills:
        fills[m.intent_of(fill.client_order_id)].append(fill)
    live = {i.intent_id for i in intents}
    for intent in intents:
        _one_intent(
            out,
            intent,
            orders.get(intent.intent_id, {}),
            fills.get(intent.intent_id, []),
            snapshot.first,
            entry_timeout_s,
        )
    _untracked_orders(out, snapshot.orders, live)
    _positions(out, snapshot.positions, manage_unknown)
    return out.plan()


def _one_intent(
    out: _Builder,
    intent: JournalIntent,
    at_broker: dict[str, m.BrokerOrder],
    broker_fills: list[m.OrderFilled],
    first: bool,
    entry_timeout_s: float,
) -> None:
    known = {f.exec_id for f in intent.fills}
    new_fills = [f for f in broker_fills if f.exec_id not in known]
    all_fills = intent.fills + tuple(new_fills)
    if not intent.orders:
        if first:
            out.expired.append(intent.intent_id)
            out.mismatch("expired", intent.intent_id, "approved but no order was ever written")
        return
    if not at_broker and not all_fills:
        if first:
            _unsent(out, intent, entry_timeout_s)
        return
    if new_fills:
        out.mismatch(
            "fills_while_down",
            intent.intent_id,
            f"{len(new_fills)} execution(s) the journal had not seen: "
            + ", ".join(f"{f.client_order_id} {f.quantity:g}@{f.price:g}" for f in new_fills),
        )
    legs = []
    for order in intent.orders:
        cid = order.spec.client_order_id
        broker = at_broker.get(cid)
        if broker is None:
            legs.append((order.spec, S.CANCELLED, 0.0))
            if order.status not in ("CANCELLED", "REJECTED", "FILLED"):
                out.mismatch(
                    "order_missing",
                    cid,
                    f"journal says {order.status}, the broker has no such order",
                )
            continue
        legs.append((order.spec, broker.status, broker.filled))
        if broker.status.value != order.status:
            out.mismatch(
                "status_differs", cid, f"journal {order.status}, broker {broker.status.value}"
            )
    fills = tuple(sorted(all_fills, key=lambda f: f.ts))
    opened = intent.status == IntentStatus.OPEN
    out.recovered.append(_recovered(intent, tuple(legs), fills, opened, False, out.now))


def _recovered(intent: JournalIntent, legs: tuple[tuple[m.OrderSpec, m.OrderStatus, float], ...],
               fills: tuple[m.OrderFilled, ...], opened: bool, resend: bool,
               now: datetime) -> m.TradeRecovered:
    """The recovery message of ``intent``: its legs as the broker knows them and its fills."""
    return m.TradeRecovered(intent.correlation_id, intent.intent_id, intent.symbol,
                            intent.contract, intent.premium, legs, fills, opened, resend, now)


def _unsent(out: _Builder, intent: JournalIntent, entry_timeout_s: float) -> None:
    """Written but never reached the broker: send once more while young, else expire."""
    age = (out.now - intent.sent_at).total_seconds() if intent.sent_at else float("inf")
    young = (
        0 <= age <= entry_timeout_s
        and intent.sent_at is not None
        and trading_day(intent.sent_at) == trading_day(out.now)
    )
    if young and intent.resends == 0 and intent.status == IntentStatus.SENT:
        out.resent.append(intent.intent_id)
        out.mismatch(
            "resent",
            intent.intent_id,
            f"written {age:.1f}s ago but unknown to the broker: sent once more",
        )
        legs = tuple((o.spec, S.CREATED, 0.0) for o in intent.orders)
        out.recovered.append(_recovered(intent, legs, (), False, True, out.now))
        return
    why = (
        "already sent again once"
        if intent.resends
        else f"written {age:.0f}s ago (limit {entry_timeout_s:g}s)"
        if age != float("inf")
        else "never sent"
    )
    out.expired.append(intent.intent_id)
    out.mismatch("expired", intent.intent_id, f"unknown to the broker, {why}: not sent again")


def _untracked_orders(out: _Builder, orders: tuple[m.BrokerOrder, ...], live: set[str]) -> None:
    for order in orders:
        if order.status in m.DONE_STATUSES or m.intent_of(order.client_order_id) in live:
            continue
        key = order.client_order_id or f"order {order.broker_order_id}"
        out.mismatch(
            "unknown_order",
            key,
            f"{order.status.value} {order.contract_key} is working at the broker but is "
            "no live intent of this journal: left alone",
        )


def _positions(out: _Builder, positions: tuple[m.BrokerPosition, ...], manage: bool) -> None:
    expected: dict[str, float] = defaultdict(float)
    for trade in out.recovered:
        if trade.resend:
            continue
        for fill in trade.fills:
            sign = 1 if fill.side is m.Side.BUY else -1
            expected[trade.contract.key] += sign * fill.quantity
    for position in positions:
        key = position.contract.key if position.contract else position.description
        held = expected.pop(key, 0.0)
        if abs(position.quantity - held) <= QTY_EPS:
            continue
        if held == 0 and manage and position.contract is not None and position.quantity > 0:
            out.recovered.append(_adopted(position, out.now))
            out.mismatch(
                "unknown_position",
                key,
                f"{position.quantity:g} held, not in the journal: "
                "adopted (manage_unknown_positions), exits armed",
            )
            continue
        kind = "unknown_position" if held == 0 else "position_differs"
        out.mismatch(
            kind,
            key,
            f"broker holds {position.quantity:g}, the journal explains {held:g}: left alone",
        )
    for key, held in expected.items():
        if abs(held) > QTY_EPS:
            out.mismatch(
                "position_missing", key, f"the journal explains {held:g}, the broker holds none"
            )


def adopted_intent_id(contract: m.OptionContract) -> str:
    return f"ADOPT-{contract.symbol}-{contract.expiry}{contract.right.value}{contract.strike:g}"


def _adopted(position: m.BrokerPosition, now: datetime) -> m.TradeRecovered:
    contract = position.contract
    assert contract is not None
    intent_id = adopted_intent_id(contract)
    premium = position.avg_cost / contract.multiplier
    quantity = int(position.quantity)
    entry = m.OrderSpec(
        f"{intent_id}.entry", m.Side.BUY, quantity, m.OrderType.LIMIT, limit_price=premium
    )
    fill = m.OrderFilled(
        intent_id,
        entry.client_order_id,
        f"{intent_id}.adopted",
        contract,
        m.Side.BUY,
        float(quantity),
        premium,
        now,
    )
    return m.TradeRecovered(
        intent_id,
        intent_id,
        contract.symbol,
        contract,
        premium,
        ((entry, S.FILLED, float(quantity)),),
        (fill,),
        False,
        False,
        now,
        adopted=True,
    )
