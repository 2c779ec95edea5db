"""The matching engine's order book: every order's mutable state and the rules that derive an
order's current quantity and status from its parent and siblings.

Child quantity rule: a child of a bracket works min(its own quantity, the parent's filled
quantity) once the parent has a fill, minus what its siblings' fills removed (``reduced``).
It is "PreSubmitted" until the parent has a fill, then "Submitted". A live order is finished
(Filled if it has fills, else Cancelled) when nothing remains to work and its parent, if any,
is done; until then a child with nothing left stays "Submitted", waiting for more parent
fills.

Family and OCA rules (IB's ocaType; an order is an OCA member only with a non-empty ocaGroup
and ocaType 1, 2 or 3; ocaType 0 means "not in a group", so such orders never affect each other):
- ocaType 1, cancel with block: any fill of a member, even a partial one, cancels every other
  live member (a partly filled take-profit leaves its stop cancelled).
- ocaType 2, reduce with block, and 3, reduce without block: a partial fill reduces every other
  live member by the filled quantity; once the filling member is complete the others are
  cancelled. "Block" is IB's overfill protection (one member routed at a time); the engine
  matches one order at a time, so both behave alike here (no overfill is simulated).
- Cancelling a member (by the client or at the close) cancels every other live member too.
- The children of one parent form an implicit group (IB gives attached orders one): a child's
  fill reduces each sibling by the filled quantity, and cancelling a child cancels its siblings.
- A cancel takes the order's children along unless the order has fills they protect.

Working set and history: orders not done (held or live) sit in a working set, in placement
order, which is all that matching, cancelling and the child/OCA lookups scan. ``retire()``
moves orders that finished out of it into the history, in finishing order, stamped with the
day; ``trim()`` forgets history from before that day and beyond ``max_finished`` orders. A
parent is kept as long as any of its children is (a child's quantity derives from the
parent's fills), outside that count. ``forgotten(key)`` tells an id at or below the highest one
forgotten of the same client.

Order ids belong to a client, as at IB: an order is keyed by (client id, order id), the pair
IB identifies it by (``key_of``), so two clients may each use the same order id; a parent id
names an order of the child's own client. OCA groups are matched by name across clients.

Not thread-safe on its own: the engine holds its lock around every call.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from datetime import date, datetime

from bot.sim.contracts import SimContract
from bot.sim.fill_rules import rejected_text
from bot.sim.order_events import (
    Event,
    OpenOrderEvent,
    OrderRejectedEvent,
    OrderStatusEvent,
    SimOrder,
    Status,
)

OrderKey = tuple[int, int]
"""(client id, order id): how IB identifies an order (order ids are per client; permId is
global)."""

HELD = ""
"""Status of an order placed with transmit=False and not yet transmitted (never reported)."""
OCA_TYPES = frozenset({1, 2, 3})
"""The ocaType values that make an order with an ocaGroup a member of that group."""
OCA_REDUCES = frozenset({2, 3})
"""OCA types whose partial fills reduce the other members instead of cancelling them."""


@dataclass(slots=True, eq=False)
class OrderEntry:
    """One order's mutable state."""

    order: SimOrder
    """As last placed or modified; total_qty is what was asked for."""
    contract: SimContract
    status: str = HELD
    filled: float = 0.0
    avg_fill_price: float = 0.0
    last_fill_price: float = 0.0
    reduced: float = 0.0
    """Quantity removed by fills of OCA members or bracket siblings."""
    triggered: bool = False
    """A stop order whose trigger was reached (stays triggered)."""
    stop_hits: int = 0
    """Consecutive looks that found the stop price reached (double methods need two)."""
    resting: bool = False
    """A limit order that was not marketable when it started to work: fills at its limit."""
    completed_status: str = ""
    """TWS's completedStatus when it differs from the status ("Cancelled by Trader")."""
    finished_at: datetime | None = None
    """When retire() first saw the order done."""
    shown_qty: float = -1.0
    """total_qty of the last OpenOrderEvent, to tell whether a quantity change is news."""


def key_of(order: SimOrder) -> OrderKey:
    """The order's identity: its client's id and its order id."""
    return order.client_id, order.order_id


def parent_key(order: SimOrder) -> OrderKey:
    """The identity of the order's parent (a parent id names an order of the same client)."""
    return order.client_id, order.parent_id


def is_oca_member(order: SimOrder) -> bool:
    """An order belongs to an OCA group only with a group name and ocaType 1, 2 or 3."""
    return bool(order.oca_group) and order.oca_type in OCA_TYPES


class OrderBook:
    """Orders by (client id, order id) in placement order, with the derived quantity and
    status rules."""

    def __init__(self, max_finished: int) -> None:
        self._entries: dict[OrderKey, OrderEntry] = {}
        """Every order kept: working ones and the history, in placement order."""
        self._working: dict[OrderKey, OrderEntry] = {}
        """Orders not yet retired (held, live, or done since the last retire()), placement order."""
        self._finished: deque[tuple[date, OrderKey]] = deque()
        """(day, order key) of retired orders, in finishing order; trimmed from the left."""
        self._pinned: set[OrderKey] = set()
        """Trimmed parents kept because a child of theirs is still kept."""
        self._children_kept: dict[OrderKey, int] = {}
        """Parent order key -> how many of its children are kept."""
        self._max_finished = max_finished
        self._forgotten_up_to: dict[int, int] = {}
        """Client id -> the highest of its order ids forgotten by trim() (one entry per client
        id that ever had an order forgotten: IB allows at most 32 clients at once)."""

    def get(self, key: OrderKey) -> OrderEntry | None:
        return self._entries.get(key)

    def forgotten(self, key: OrderKey) -> bool:
        """True when the id is at or below the highest id trim() forgot of the same client."""
        client_id, order_id = key
        return order_id <= self._forgotten_up_to.get(client_id, 0)

    def add(self, entry: OrderEntry) -> None:
        """Keep a new order as working (retire() moves it on if it is born done)."""
        key = key_of(entry.order)
        self._entries[key] = self._working[key] = entry
        if entry.order.parent_id:
            pkey = parent_key(entry.order)
            self._children_kept[pkey] = self._children_kept.get(pkey, 0) + 1

    def remove(self, key: OrderKey) -> None:
        """Drop a working order without a trace (a held order cancelled before transmit)."""
        if key in self._working:
            del self._working[key]
            self._drop(key)

    def all(self) -> list[OrderEntry]:
        """A snapshot of every kept order, in placement order."""
        return list(self._entries.values())

    def working(self) -> list[OrderEntry]:
        """A snapshot of the working orders, in placement order."""
        return list(self._working.values())

    def counts(self) -> tuple[int, int]:
        """(working orders, finished orders kept)."""
        return len(self._working), len(self._entries) - len(self._working)

    def retire(self, today: date, now: datetime | None = None) -> None:
        """Move every done working order into the history, finished `today` (at `now`)."""
        for entry in [e for e in self._working.values() if e.status in Status.DONE]:
            key = key_of(entry.order)
            del self._working[key]
            self._finished.append((today, key))
            entry.finished_at = now

    def trim(self, today: date) -> None:
        """Forget finished orders from before `today` and the oldest beyond the maximum."""
        finished = self._finished
        while finished and (finished[0][0] < today or len(finished) > self._max_finished):
            key = finished.popleft()[1]
            if self._children_kept.get(key):
                self._pinned.add(key)
            else:
                self._drop(key)

    def _drop(self, key: OrderKey) -> None:
        """Forget one order; forget its parent too if it was only kept for its children."""
        entry = self._entries.pop(key)
        if entry.status in Status.DONE:
            client_id, order_id = key
            self._forgotten_up_to[client_id] = max(self._forgotten_up_to.get(client_id, 0),
                                                   order_id)
        if not entry.order.parent_id:
            return
        pkey = parent_key(entry.order)
        left = self._children_kept[pkey] - 1
        if left:
            self._children_kept[pkey] = left
            return
        del self._children_kept[pkey]
        if pkey in self._pinned:
            self._pinned.discard(pkey)
            self._drop(pkey)

    def parent(self, entry: OrderEntry) -> OrderEntry | None:
        order = entry.order
        return self._entries.get(parent_key(order)) if order.parent_id else None

    def children(self, parent: OrderEntry) -> list[OrderEntry]:
        """The parent's children that are not done, in placement order."""
        key = key_of(parent.order)
        return [e for e in self._working.values()
                if e.order.parent_id and parent_key(e.order) == key
                and e.status not in Status.DONE]

    def live_others(self, entry: OrderEntry) -> list[OrderEntry]:
        """Live orders other than entry, its parent and its children."""
        key = key_of(entry.order)
        family = {key, parent_key(entry.order)} if entry.order.parent_id else {key}
        return [e for e in self._working.values()
                if e.status in Status.LIVE and key_of(e.order) not in family
                and not (e.order.parent_id and parent_key(e.order) == key)]

    def live_status(self, entry: OrderEntry) -> str:
        """PreSubmitted for a child whose parent has no fill yet, else Submitted."""
        parent = self.parent(entry)
        waiting = parent is not None and parent.filled == 0
        return Status.PRE_SUBMITTED if waiting else Status.SUBMITTED

    def qty(self, entry: OrderEntry) -> float:
        """The order's current total quantity (the child quantity rule)."""
        qty = entry.order.total_qty
        parent = self.parent(entry)
        if parent is not None and parent.filled > 0:
            qty = min(qty, parent.filled)
        return max(qty - entry.reduced, 0.0)

    def remaining(self, entry: OrderEntry) -> float:
        return max(self.qty(entry) - entry.filled, 0.0)

    def settle(self, entry: OrderEntry) -> None:
        """Finish a live order with nothing left to work, once its parent (if any) is done."""
        parent = self.parent(entry)
        parent_done = parent is None or parent.status in Status.DONE
        if entry.status in Status.LIVE and parent_done and self.remaining(entry) <= 0:
            entry.status = Status.FILLED if entry.filled > 0 else Status.CANCELLED

    def refresh(self, entry: OrderEntry) -> list[Event]:
        """Re-derive a live order's status and quantity; report what changed.

        A change to a live state is reported as openOrder + orderStatus (the quantity may
        have changed); a change to a done state as orderStatus only.
        """
        if entry.status not in Status.LIVE:
            return []
        before = entry.status
        entry.status = self.live_status(entry)
        self.settle(entry)
        if (entry.status, self.qty(entry)) == (before, entry.shown_qty):
            return []
        if entry.status in Status.DONE:
            return [self.status_event(entry)]
        return [self.open_event(entry), self.status_event(entry)]

    def oca_members(self, entry: OrderEntry) -> list[OrderEntry]:
        """The other live members of entry's OCA group ([] when entry is in none)."""
        order = entry.order
        if not is_oca_member(order):
            return []
        return [e for e in self.live_others(entry)
                if is_oca_member(e.order) and e.order.oca_group == order.oca_group]

    def siblings(self, entry: OrderEntry) -> list[OrderEntry]:
        """The other live children of entry's parent (the implicit group of attached orders)."""
        if not entry.order.parent_id:
            return []
        pkey = parent_key(entry.order)
        return [e for e in self.live_others(entry)
                if e.order.parent_id and parent_key(e.order) == pkey]

    def after_fill(self, entry: OrderEntry, qty: float) -> list[Event]:
        """What a fill of `qty` of entry does to the others: OCA members cancelled or reduced,
        bracket siblings reduced, then entry's children re-derived (they work its fills)."""
        group = self.oca_members(entry)
        siblings = [e for e in self.siblings(entry) if e not in group]
        reduce_group = entry.order.oca_type in OCA_REDUCES and self.remaining(entry) > 0
        events: list[Event] = []
        for other in group:
            if reduce_group:
                other.reduced += qty
                events += self.refresh(other)
            else:
                events += self.cancel(other, notify=False)
        for other in siblings:
            other.reduced += qty
            events += self.refresh(other)
        for child in self.children(entry):
            events += self.refresh(child)
        return events

    def cancel_family(self, entry: OrderEntry, notify: bool) -> list[Event]:
        """Cancel entry and the rest of its OCA group and sibling children; cancel its own
        children too unless it has fills they protect."""
        events = self.cancel(entry, notify)
        for other in self.oca_members(entry) + self.siblings(entry):
            if other.status in Status.LIVE:
                events += self.cancel(other, notify=False)
        for child in self.children(entry):
            if entry.filled == 0:
                events += self.cancel(child, notify)
            else:
                events += self.refresh(child)
        return events

    def parent_problem(self, order: SimOrder) -> tuple[int, str] | None:
        """(code, text) when a new child's parent is unknown (135) or finished unfilled."""
        if not order.parent_id:
            return None
        parent = self.get(parent_key(order))
        if parent is None:
            return 135, f"Can't find order with id ={order.parent_id}"
        if parent.status in Status.DONE and parent.filled == 0:
            return 201, rejected_text(f"Parent order {order.parent_id} is {parent.status}")
        return None

    def reject(self, batch: list[OrderEntry], code: int, text: str) -> list[Event]:
        """The first order is rejected (the error, then Cancelled); the rest are Cancelled."""
        first = batch[0].order
        events: list[Event] = [OrderRejectedEvent(first.order_id, first.client_id, code, text)]
        for member in batch:
            member.status = Status.CANCELLED
            events.append(self.status_event(member))
        return events

    def forget_held(self, entry: OrderEntry) -> None:
        """Drop a held order and its held children without a trace (cancelled before
        transmit: IB never heard of them)."""
        for child in self.children(entry):
            self.remove(key_of(child.order))
        self.remove(key_of(entry.order))

    def cancel(self, entry: OrderEntry, notify: bool) -> list[Event]:
        """Cancel one order: orderStatus, then (notify: the client asked) the 202 warning a
        requested cancel gets; such an order completes "Cancelled by Trader"."""
        entry.status = Status.CANCELLED
        events: list[Event] = [self.status_event(entry)]
        if notify:
            entry.completed_status = "Cancelled by Trader"
            events.append(OrderRejectedEvent(entry.order.order_id, entry.order.client_id, 202,
                                             "Order Canceled - reason:"))
        return events

    def open_event(self, entry: OrderEntry) -> OpenOrderEvent:
        """The order as it stands, with its current total quantity."""
        qty = entry.shown_qty = self.qty(entry)
        order = entry.order
        if qty != order.total_qty:
            order = replace(order, total_qty=qty)
        done = entry.status in Status.DONE
        return OpenOrderEvent(order, entry.contract, entry.status,
                              (entry.completed_status or entry.status) if done else "",
                              entry.finished_at)

    def status_event(self, entry: OrderEntry) -> OrderStatusEvent:
        order = entry.order
        return OrderStatusEvent(
            order_id=order.order_id, client_id=order.client_id, perm_id=order.perm_id,
            status=entry.status, filled=entry.filled, remaining=self.remaining(entry),
            avg_fill_price=entry.avg_fill_price, last_fill_price=entry.last_fill_price,
            parent_id=order.parent_id,
        )
