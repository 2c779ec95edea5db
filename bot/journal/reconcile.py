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
|   never opened                  |   than ``entry_timeout_s`` ago (market   |                       |
|                                 |   time), same exchange day               |                       |
| orders written                  | knows nothing, otherwise                 | expired               |
| fills say a position is held    | holds none of it (closed by hand)        | closed_outside        |
| fills say N held                | holds fewer, M > 0                       | recovered, held = M   |
| a leg sent in this process      | had not reached the broker when the      | not judged (in flight)|
|                                 |   snapshot was built                     |                       |

The resend window is market time: the snapshot's ``market_ts`` (IB's server time) against the
intent's ``sent_market_at`` (the journal's estimate of IB's time when it wrote it), never the
host's clock, which a Raspberry Pi without a battery clock may have wrong after a reboot and
which runs slower than an accelerated simulator. Without both (an old journal) the wall clock
is used as before. Any error of that estimate makes an intent look older, never younger: it
is expired rather than sent twice.

Write-ahead makes this safe: an order leaves only after its intent is committed, so "the
broker knows nothing" means the process died between the commit and the send (or the order
was never accepted). An intent is resent at most once: the resend is counted in the journal
before it goes out, and a counted intent is expired on the next restart instead.

Only on the first connect of a process are intents resent or expired; after a reconnect the
running execution actor holds the truth and the snapshot only adds what it may have missed.

Exits are only ever armed for what the broker holds. At the first snapshot of a process the
broker's positions (complete: the snapshot is published only once IB answered reqPositions)
are shared out per contract among the recovered trades, oldest first; a trade gets ``held`` =
its share. A trade whose fills say it holds a position of which the broker holds nothing was
closed outside the bot (by hand, in TWS): it is closed as ``closed_outside``, nothing is armed,
and its exits still working at the broker are cancelled (a SELL without the position would
open a short one). After a reconnect the running execution actor holds the trade, so there a
difference is only reported.

Sequence, not time: a snapshot is built at one moment, while the journal keeps forwarding legs.
A leg this process forwarded that the broker had not handled when it built the snapshot
(``in_flight``: forwarded, not in ``BrokerSnapshot.handled``) is not "gone": it is left to the
order events that follow, never marked cancelled, and its intent is never resent.
An order of ours (its orderRef names one of our intents) still working at the broker for an
intent the journal holds as finished is cancelled: the process that ended the trade may have
died before its cancel was confirmed (a SELL left working without the position would open a
short). Buy-backs of a short (``coverN``) are left out of reconciliation altogether: they are
no part of their intent's trade (a BUY fill of one would count as a position), and execution
adopts those still working. Orders of intents this journal never had are only reported.
Positions the broker holds beyond what the recovered trades explain are reported; with
``manage_unknown`` an option position held long is adopted (its exits are armed) instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from bot import messages as m
from bot.journal.schema import IntentStatus
from bot.trading.covers import is_buy_back
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
    sent_market_at: datetime | None = None
    """When it was first sent on the exchange's clock (None in journals written before v3)."""


@dataclass(frozen=True)
class Plan:
    recovered: tuple[m.TradeRecovered, ...] = ()
    resent: tuple[str, ...] = ()
    expired: tuple[str, ...] = ()
    mismatches: tuple[m.ReconcileMismatch, ...] = ()
    closed_outside: tuple[str, ...] = ()
    """Intents whose position the broker no longer holds: closed, nothing armed."""
    cancels: tuple[m.CancelOrder, ...] = ()
    """Exits of those intents still working at the broker: they would sell what is not held."""


@dataclass
class _Builder:
    now: datetime
    recovered: list[m.TradeRecovered] = field(default_factory=list)
    resent: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    mismatches: list[m.ReconcileMismatch] = field(default_factory=list)
    closed_outside: list[str] = field(default_factory=list)
    cancels: list[m.CancelOrder] = field(default_factory=list)

    def mismatch(self, kind: str, key: str, detail: str) -> None:
        self.mismatches.append(m.ReconcileMismatch(kind, key, detail, self.now))

    def plan(self) -> Plan:
        return Plan(
            tuple(self.recovered), tuple(self.resent), tuple(self.expired), tuple(self.mismatches),
            tuple(self.closed_outside), tuple(self.cancels),
        )


def reconcile(
    intents: list[JournalIntent],
    snapshot: m.BrokerSnapshot,
    now: datetime,
    *,
    entry_timeout_s: float,
    manage_unknown: bool = False,
    forwarded: frozenset[str] = frozenset(),
    finished: Mapping[str, str] | None = None,
) -> Plan:
    """The plan for one broker snapshot (see the module docstring for the rules).

    ``forwarded``: the client order ids this process's journal forwarded to the broker; those
    the snapshot's ``handled`` lacks were still in flight when it was built. ``finished``: the
    intents of the snapshot's orders that the journal holds as finished (id -> correlation)."""
    out = _Builder(now)
    in_flight = forwarded - snapshot.handled
    intents = [replace(i, orders=tuple(o for o in i.orders if not is_buy_back(o.spec.client_order_id)),
                       fills=tuple(f for f in i.fills if not is_buy_back(f.client_order_id)))
               for i in intents]
    orders = defaultdict(dict)
    for order in snapshot.orders:
        if not is_buy_back(order.client_order_id):
            orders[m.intent_of(order.client_order_id)][order.client_order_id] = order
    fills = defaultdict(list)
    for fill in snapshot.fills:
        if not is_buy_back(fill.client_order_id):
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
            in_flight,
            snapshot.market_ts,
        )
    _untracked_orders(out, snapshot.orders, live, finished or {})
    expected = _share_positions(out, snapshot.positions, orders, snapshot.first)
    _positions(out, snapshot.positions, manage_unknown, expected)
    return out.plan()


def _one_intent(
    out: _Builder,
    intent: JournalIntent,
    at_broker: dict[str, m.BrokerOrder],
    broker_fills: list[m.OrderFilled],
    first: bool,
    entry_timeout_s: float,
    in_flight: frozenset[str] = frozenset(),
    market_now: datetime | None = None,
) -> None:
    known = {f.exec_id for f in intent.fills}
    new_fills = [f for f in broker_fills if f.exec_id not in known]
    all_fills = intent.fills + tuple(new_fills)
    if not intent.orders:
        if first:
            out.expired.append(intent.intent_id)
            out.mismatch("expired", intent.intent_id, "approved but no order was ever written")
        return
    flying = {o.spec.client_order_id for o in intent.orders} & in_flight
    if not at_broker and not all_fills:
        if first and not flying:
            _unsent(out, intent, entry_timeout_s, market_now)
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
        if broker is None and cid in flying:
            legs.append((order.spec, S.CREATED, 0.0))  # not at the broker yet: no word on it
            continue
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


def _unsent(out: _Builder, intent: JournalIntent, entry_timeout_s: float,
            market_now: datetime | None = None) -> None:
    """Written but never reached the broker: send once more while young, else expire."""
    if market_now is not None and intent.sent_market_at is not None:
        sent, now = intent.sent_market_at, market_now
    else:
        sent, now = intent.sent_at, out.now
    age = (now - sent).total_seconds() if sent else float("inf")
    young = (
        0 <= age <= entry_timeout_s
        and sent is not None
        and trading_day(sent) == trading_day(now)
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


def _untracked_orders(out: _Builder, orders: tuple[m.BrokerOrder, ...], live: set[str],
                      finished: Mapping[str, str]) -> None:
    for order in orders:
        intent_id = m.intent_of(order.client_order_id)
        if order.status in m.DONE_STATUSES or intent_id in live:
            continue
        if is_buy_back(order.client_order_id):
            continue  # a buy-back of a short: execution adopts it (BuyBacksNumbered.working)
        if intent_id in finished:  # ours, and its trade is over: nothing it could do is wanted
            out.cancels.append(m.CancelOrder(finished[intent_id], order.client_order_id))
            out.mismatch("finished_intent_order", order.client_order_id,
                         f"{order.status.value} {order.contract_key} is working at the broker for "
                         f"intent {intent_id}, which the journal holds as finished: cancelled")
            continue
        key = order.client_order_id or f"order {order.broker_order_id}"
        out.mismatch(
            "unknown_order",
            key,
            f"{order.status.value} {order.contract_key} is working at the broker but is "
            "no live intent of this journal: left alone",
        )


def _fills_position(trade: m.TradeRecovered) -> float:
    return sum(f.quantity if f.side is m.Side.BUY else -f.quantity for f in trade.fills)


def _share_positions(out: _Builder, positions: tuple[m.BrokerPosition, ...],
                     orders: dict[str, dict[str, m.BrokerOrder]],
                     first: bool) -> dict[str, float] | None:
    """Share what the broker holds per contract among the recovered trades, oldest first;
    close the trades it holds nothing of. Returns what the trades now explain per contract.

    Only at the first snapshot of a process: after a reconnect the running execution actor
    holds the trade and would not hear that the journal closed it, so a difference is only
    reported there (``position_missing`` / ``position_differs``)."""
    if not first:
        return None
    left: dict[str, float] = defaultdict(float)
    for position in positions:
        if position.contract is not None:
            left[position.contract.key] += position.quantity
    expected: dict[str, float] = defaultdict(float)
    kept = []
    for trade in out.recovered:
        want = 0.0 if trade.resend else _fills_position(trade)
        key = trade.contract.key
        if want <= QTY_EPS:
            kept.append(trade)
            continue
        share = max(0.0, min(want, left[key]))
        left[key] -= share
        expected[key] += share
        if share <= QTY_EPS:
            _closed_outside(out, trade, want, orders.get(trade.intent_id, {}))
            continue
        if share < want - QTY_EPS:
            out.mismatch("position_differs", trade.intent_id,
                         f"the fills explain {want:g} held, the broker holds {share:g} of "
                         f"{key} for it: exits armed for {share:g} only")
            trade = replace(trade, held=share)
        kept.append(trade)
    out.recovered[:] = kept
    return expected


def _closed_outside(out: _Builder, trade: m.TradeRecovered, want: float,
                    at_broker: dict[str, m.BrokerOrder]) -> None:
    """Fills say ``want`` is held, the broker holds none: closed outside the bot."""
    working = [o for o in at_broker.values()
               if o.status not in m.DONE_STATUSES and not o.client_order_id.endswith(".entry")]
    out.closed_outside.append(trade.intent_id)
    out.cancels.extend(m.CancelOrder(trade.correlation_id, o.client_order_id) for o in working)
    out.mismatch(
        "closed_outside", trade.intent_id,
        f"the fills explain {want:g} of {trade.contract.key} held, the broker holds none: "
        "closed outside the bot, no exit armed"
        + (f"; its working exits cancelled: {', '.join(o.client_order_id for o in working)}"
           if working else ""))


def _positions(out: _Builder, positions: tuple[m.BrokerPosition, ...], manage: bool,
               explained: dict[str, float] | None) -> None:
    expected: dict[str, float] = defaultdict(float, explained or {})
    if explained is None:  # a reconnect: what the recovered trades' fills say
        for trade in out.recovered:
            if not trade.resend:
                expected[trade.contract.key] += _fills_position(trade)
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
            out.mismatch("position_missing", key,
                         f"the journal explains {held:g}, the broker holds none: left to the "
                         "running trade (cancel its exits in TWS if it was closed by hand)")


def _adopted_intent_id(contract: m.OptionContract) -> str:
    return f"ADOPT-{contract.symbol}-{contract.expiry}{contract.right.value}{contract.strike:g}"


def _adopted(position: m.BrokerPosition, now: datetime) -> m.TradeRecovered:
    contract = position.contract
    assert contract is not None
    intent_id = _adopted_intent_id(contract)
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
