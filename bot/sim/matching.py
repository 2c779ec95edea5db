"""The simulated gateway's matching engine: orders in, IB-ordered event lists out. No sockets.

Semantics (IB's, as ib_insync expects them):
- Untransmitted orders (transmit=False) are held silently: IB reports nothing about them, so
  place() returns [] and they are never matched. An order with transmit=True transmits its
  whole family: itself, its parent if held, and every held child of that parent (IB's "the
  last child transmits the parent and its siblings"); a modify of a held order with
  transmit=True does the same. They go live together, in placement order: openOrder +
  orderStatus for each, then a first match.
- A parent and a standalone order are "Submitted" when live; a child is "PreSubmitted" (never
  matched) until its parent has a fill, then works the parent's filled quantity (see
  bot.sim.order_book for the exact child quantity rule).
- OCA groups follow IB's ocaType, and the children of one parent form an implicit group
  (bot.sim.order_book has the rules: 0 = no group, 1 = any fill cancels the others, 2 and 3 =
  partial fills reduce them; cancelling a member cancels the group).
- cancel() of a parent without fills cancels its children; after a partial parent fill the
  children stay live for the filled quantity (so the position stays protected).
- cancel() of a finished order answers 10148 "OrderId N that needs to be cancelled cannot be
  cancelled, state: Filled." (the order stays as it was); of an unknown order 10147.
- Modify (place() with the id of a working order): price, quantity, type and stop price
  change in place; the order keeps its id, permId and status. A refused modification (bad
  fields, margin) is an error only: the order keeps working unchanged, as at IB. A filled order answers 104
  "Can't modify a filled order.", another finished one 10148.
- Matching happens on place() (for the orders that just went live) and on on_market() (every
  working order, once, in placement order, so a child activated by its parent's fill is
  matched in the same pass). See bot.sim.fill_rules for prices and triggers.
- Nothing fills outside the regular session (NYSE calendar): an order placed after the close
  waits, working, for the next open, as at IB (a DAY order then works that next session).
  Only a stock order with outsideRth may fill outside it (the extended session's hours are
  not modelled). Options never trade outside it.
- A parent or standalone order is checked when it is transmitted, as IB does before it
  accepts an order: if the resulting position would leave the equity with loan value below
  the initial margin (bot.sim.margin: a long option costs its whole premium out of the
  available funds) it is rejected with 201 "Order rejected - reason:YOUR ORDER IS NOT
  ACCEPTED. ..." and Cancelled, together with its children. Orders that only reduce a
  position are never refused. A modify of a working parent or standalone order is checked
  the same way for what remains to fill; a refused modification leaves the order as it was.
- A new order or a modify with a limit or stop price off the contract's tick grid is
  refused with 110 "The price does not conform to the minimum price variation for this
  contract." (a new one is Cancelled; a modified one keeps working as it was).
- reject_next() applies to the next new order (not to a modify).

What is kept (a soak runs for weeks; nothing grows with the number of orders ever placed):
- on_market(), cancel_all(), end_of_day(), open_orders() and the child and OCA lookups scan
  only the working orders (held or live); an order leaves them at the end of the call in which
  it finished (Filled, Cancelled, rejected).
- Finished orders stay for the exchange (New York) day they finished on, at most
  ``max_finished_orders``: reqCompletedOrders, a cancel (10148) or modify (104) of a recent
  order and a child of a recent parent are answered as for any order. A parent stays while any
  of its children does (a child's quantity derives from it). OCA groups act on live orders only.
- order_of(order_id, client_id) answers for exactly the kept orders: the server takes an
  order's permId from it and keeps no per-order copy of its own.
- Exec ids never repeat, not even across engines or gateway restarts (bot.sim.exec_log).
- Executions and their commissions stay for the day they happened on, at most
  ``max_executions`` (bot.sim.exec_log): reqExecutions answers the current day's.
- Beyond that an order id is unknown: cancel() answers 10147, a child of it 135, and a new
  order with an id at or below a forgotten one of the same client 103 "Duplicate order id"
  (IB wants new ids above all the client's previous ones). The day is read from the clock at
  every public call.

Order ids are per client, as at IB: an order is identified by (client id, order id)
(bot.sim.order_book), so the same order id from two clients is two orders, and a place(),
cancel() or modify reaches only the orders of the client that sends it. permIds are global.

Event order per action: see bot.sim.order_events (the server encodes them in that order).

Thread rule: every public method takes the engine's lock; quote_of and clock are called
under it and must not call back into the engine.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import NamedTuple

from bot.sim.account import SIGN_OF_SIDE, Account, multiplier_of
from bot.sim.calendar import exchange_date, is_open
from bot.sim.contracts import SimContract
from bot.sim.exec_log import ExecutionLog, exec_id, new_exec_prefix
from bot.sim.fill_rules import (
    DOUBLE_TRIGGERS,
    ORDER_KINDS,
    SIDE_OF_ACTION,
    CommissionSchedule,
    check_price,
    fill_price,
    mark_price,
    off_grid,
    rejected_text,
    rejection,
    resting_fill_price,
    stop_reached,
    trigger_method,
)
from bot.sim.margin import Figures
from bot.sim.order_book import HELD, OrderBook, OrderEntry, key_of
from bot.sim.order_events import (
    UNSET_DOUBLE,
    CommissionEvent,
    Event,
    ExecutionEvent,
    OpenOrderEvent,
    OrderRejectedEvent,
    OrderStatusEvent,
    PositionEvent,
    SimOrder,
    Status,
)

__all__ = [
    "CommissionEvent", "Event", "ExecutionEvent", "MatchingEngine", "OpenOrderEvent",
    "OrderRejectedEvent", "OrderStatusEvent", "PositionEvent", "SimOrder", "Status",
    "UNSET_DOUBLE",
]

MODIFY_REJECTS = {Status.FILLED: (104, "Can't modify a filled order.")}
EXEC_EXCHANGE = {"OPT": "CBOE"}
MAX_FINISHED_ORDERS = 2_000  # of the current day, the latest ones
MAX_EXECUTIONS = 5_000  # of the current day, the latest ones


class Kept(NamedTuple):
    """What the engine holds right now (see "What is kept" in the module docstring)."""

    working: int  # held or live orders
    finished: int  # finished orders still answered for, parents kept for a child included
    executions: int
    last_scan: int  # orders the last on_market() looked at


def _command(method):
    """A public command: run under the engine's lock, then retire finished orders and trim."""

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with self._lock:
            events = method(self, *args, **kwargs)
            self._tidy()
            return events

    return run


class WhatIf(NamedTuple):
    """A what-if order's answer: margin figures before and after the fill, its commission."""

    before: Figures
    after: Figures
    commission: float


class MatchingEngine:
    """Fills orders against quote_of(contract) -> (bid, ask, last), at most the displayed size
    sizes_of(contract) -> (bid size, ask size) per look when given, and books them in account."""

    def __init__(
        self,
        account: Account,
        quote_of: Callable[[SimContract], tuple[float, float, float]],
        clock: Callable[[], datetime],
        commission_per_contract: float = 0.65,
        commission_per_share: float = 0.005,
        min_commission: float = 1.0,
        exec_id_prefix: int | None = None,
        sizes_of: Callable[[SimContract], tuple[float, float]] | None = None,
        spot_of: Callable[[str], float | None] | None = None,
        max_finished_orders: int = MAX_FINISHED_ORDERS,
        max_executions: int = MAX_EXECUTIONS,
    ):
        self.account = account
        self._quote_of = quote_of
        self._sizes_of = sizes_of
        self._spot_of = spot_of or (lambda symbol: None)
        self._clock = clock
        self._fees = CommissionSchedule(commission_per_contract, commission_per_share,
                                        min_commission)
        self._exec_prefix = new_exec_prefix() if exec_id_prefix is None else exec_id_prefix
        self._book = OrderBook(max_finished_orders)
        self._log = ExecutionLog(max_executions)
        self._last_scan = 0
        self._pending_reject: tuple[int, str] | None = None
        self._chunk: int | None = None
        self._lock = threading.RLock()

    # ---- commands -------------------------------------------------------------------------

    @_command
    def place(self, order: SimOrder, contract: SimContract) -> list[Event]:
        """Place a new order, or modify the order of the same client with the same order_id."""
        existing = self._book.get(key_of(order))
        if existing is not None:
            return self._modify(existing, order)
        if self._book.forgotten(key_of(order)):
            return [OrderRejectedEvent(order.order_id, order.client_id, 103,
                                       "Duplicate order id")]
        problem = (self._take_pending_reject() or rejection(order)
                   or off_grid(contract, order) or self._book.parent_problem(order))
        if problem:
            entry = OrderEntry(order, contract)
            self._book.add(entry)
            return self._book.reject([entry], *problem)
        entry = OrderEntry(order, contract)
        self._book.add(entry)
        return self._transmit(entry) if order.transmit else []

    @_command
    def cancel(self, order_id: int, client_id: int) -> list[Event]:
        """Cancel a live order of this client (and the children of a parent that has no
        fills)."""
        entry = self._book.get((client_id, order_id))
        if entry is None:
            text = f"OrderId {order_id} that needs to be cancelled is not found."
            return [OrderRejectedEvent(order_id, client_id, 10147, text)]
        if entry.status in Status.DONE:
            text = (f"OrderId {order_id} that needs to be cancelled cannot be cancelled, "
                    f"state: {entry.status}.")
            return [OrderRejectedEvent(order_id, entry.order.client_id, 10148, text)]
        if entry.status == HELD:
            self._book.forget_held(entry)
            return []
        return self._book.cancel_family(entry, notify=True)

    @_command
    def cancel_all(self) -> list[Event]:
        """reqGlobalCancel: cancel every live order, each once, each with its 202 notice."""
        events: list[Event] = []
        for entry in self._book.working():
            if entry.status in Status.LIVE:
                events += self._book.cancel(entry, notify=True)
        return events

    @_command
    def on_market(self) -> list[Event]:
        """Re-check every working order against the current quotes."""
        batch = self._book.working()
        self._last_scan = len(batch)
        events: list[Event] = []
        for entry in batch:
            events += self._match(entry)
        return events

    @_command
    def end_of_day(self) -> list[Event]:
        """Cancel every live DAY order, as IB does at the close."""
        events: list[Event] = []
        for entry in self._book.working():
            if entry.status in Status.LIVE and entry.order.tif == "DAY":
                events += self._book.cancel_family(entry, notify=False)
        return events

    # ---- faults ---------------------------------------------------------------------------

    def reject_next(self, code: int, reason: str) -> None:
        """Fault: the next new order is rejected with this code and reason."""
        with self._lock:
            self._pending_reject = (code, rejected_text(reason) if code == 201 else reason)

    def set_partial_fills(self, on: bool, chunk: int = 1) -> None:
        """Fault: fill at most `chunk` per order per place()/on_market() call."""
        with self._lock:
            self._chunk = max(1, chunk) if on else None

    # ---- queries --------------------------------------------------------------------------

    def open_orders(self) -> list[OpenOrderEvent]:
        """Every live (transmitted, not done) order, in placement order."""
        with self._lock:
            return [self._book.open_event(e) for e in self._book.working()
                    if e.status in Status.LIVE]

    def completed_orders(self) -> list[OpenOrderEvent]:
        """Every kept done order (Filled, Cancelled, rejected), in placement order."""
        with self._lock:
            self._tidy()
            return [self._book.open_event(e) for e in self._book.all()
                    if e.status in Status.DONE]

    def executions(self) -> list[ExecutionEvent]:
        """The kept executions (the current day's), oldest first."""
        with self._lock:
            self._tidy()
            return self._log.all()

    def commission_of(self, exec_id: str) -> CommissionEvent | None:
        """The commission report of one kept execution."""
        with self._lock:
            self._tidy()
            return self._log.commission_of(exec_id)

    def order_of(self, order_id: int, client_id: int) -> SimOrder | None:
        """The kept order of this client with this id, as last placed; None if it was never
        placed, was cancelled before transmit, or is forgotten."""
        with self._lock:
            self._tidy()
            entry = self._book.get((client_id, order_id))
            return None if entry is None else entry.order

    def kept(self) -> Kept:
        """How much the engine holds (see "What is kept" in the module docstring)."""
        with self._lock:
            self._tidy()
            working, finished = self._book.counts()
            return Kept(working, finished, len(self._log), self._last_scan)

    # ---- history --------------------------------------------------------------------------

    def _tidy(self) -> None:
        """Retire the orders that finished and forget what the kept window no longer covers."""
        now = self._clock()
        today = exchange_date(now)
        self._book.retire(today, now)
        self._book.trim(today)
        self._log.trim(today)

    # ---- placement ------------------------------------------------------------------------

    def _take_pending_reject(self) -> tuple[int, str] | None:
        pending, self._pending_reject = self._pending_reject, None
        return pending

    def _transmit(self, entry: OrderEntry) -> list[Event]:
        """Transmit entry's family: entry, its parent if held, and the parent's held children.
        A parent or standalone order the account cannot afford is rejected, with its family."""
        root = self._book.parent(entry) or entry
        batch = [m for m in [root] + self._book.children(root) if m.status == HELD]
        problem = (self._margin_problem(root.order, root.contract, root.order.total_qty)
                   if batch and batch[0] is root else None)
        if problem:
            return self._book.reject(batch, *problem)
        events: list[Event] = []
        for member in batch:
            member.status = self._book.live_status(member)
            events += [self._book.open_event(member), self._book.status_event(member)]
        for member in batch:
            events += self._match(member)
        return events

    def what_if(self, order: SimOrder, contract: SimContract) -> WhatIf | tuple[int, str]:
        """IB's what-if answer for an order, without placing it: the margin figures before and
        after it fills at its price (its limit or stop, else the touch) and its commission;
        (code, text) when IB would refuse the order's fields."""
        with self._lock:
            problem = rejection(order) or off_grid(contract, order)
            if problem:
                return problem
            price = check_price(order, *self._quote_of(contract)) or 0.0
            commission = self._fees.of(contract.sec_type, order.total_qty)
            before, after = self.account.what_if(
                contract, SIDE_OF_ACTION[order.action], order.total_qty, price, commission,
                lambda c: mark_price(*self._quote_of(c)), self._spot_of)
            return WhatIf(before, after, commission)

    def _margin_problem(self, order: SimOrder, contract: SimContract,
                        qty: float) -> tuple[int, str] | None:
        """(201, IB's text) when the account cannot afford qty of the order (bot.sim.margin)."""
        price = check_price(order, *self._quote_of(contract))
        if price is None or qty <= 0:
            return None  # nothing to value it by
        reason = self.account.order_check(
            contract, SIDE_OF_ACTION[order.action], qty, price,
            self._fees.of(contract.sec_type, qty),
            lambda c: mark_price(*self._quote_of(c)), self._spot_of)
        return (201, rejected_text(reason)) if reason else None

    def _modify(self, entry: OrderEntry, order: SimOrder) -> list[Event]:
        ident = (order.order_id, order.client_id)
        if entry.status in Status.DONE:
            code, text = MODIFY_REJECTS.get(entry.status, (10148, (
                f"OrderId {order.order_id} that needs to be modified cannot be modified, "
                f"state: {entry.status}.")))
            return [OrderRejectedEvent(*ident, code, text)]
        problem = rejection(order) or off_grid(entry.contract, order)
        if problem is None and order.total_qty < entry.filled:
            problem = 201, rejected_text("Quantity below the filled quantity")
        if problem is None and entry.status != HELD and not entry.order.parent_id:
            problem = self._margin_problem(order, entry.contract, order.total_qty - entry.filled)
        if problem:  # the modification is refused; the order keeps working as it was
            return [OrderRejectedEvent(*ident, *problem)]
        old = entry.order
        if (old.order_type, old.aux_price) != (order.order_type, order.aux_price):
            entry.triggered, entry.stop_hits = False, 0
        entry.resting = False  # a modified order arrives anew: marketable -> the touch
        entry.order = replace(order, parent_id=old.parent_id, perm_id=old.perm_id)
        if entry.status == HELD:
            return self._transmit(entry) if order.transmit else []
        self._book.settle(entry)
        return [self._book.open_event(entry), self._book.status_event(entry)] + self._match(entry)

    # ---- matching -------------------------------------------------------------------------

    def _match(self, entry: OrderEntry) -> list[Event]:
        """One look at a working order against the current quote (see bot.sim.fill_rules)."""
        remaining = self._book.remaining(entry)
        if entry.status != Status.SUBMITTED or remaining <= 0:
            return []
        order = entry.order
        if not (is_open(self._clock()) or order.outside_rth and entry.contract.sec_type == "STK"):
            return []  # outside regular hours an order waits for the next session
        kind = ORDER_KINDS[order.order_type]
        bid, ask, last = self._quote_of(entry.contract)
        if kind.stop and not entry.triggered:
            method = trigger_method(order.trigger_method, entry.contract.sec_type)
            reached = stop_reached(order.action, order.aux_price, method, bid, ask, last)
            entry.stop_hits = entry.stop_hits + 1 if reached else 0
            entry.triggered = entry.stop_hits >= (2 if method in DOUBLE_TRIGGERS else 1)
            if not entry.triggered:
                return []
        limit = order.lmt_price if kind.limit else None
        if limit is not None and entry.resting:
            price = resting_fill_price(order.action, limit, bid, ask, last)
        else:
            price = fill_price(order.action, limit, bid, ask)
            entry.resting = price is None and limit is not None
        if price is None:
            return []
        qty = min(remaining, self._shown_size(entry))
        if self._chunk:
            qty = min(qty, self._chunk)
        return self._fill(entry, qty, price)

    def _shown_size(self, entry: OrderEntry) -> float:
        """The displayed size on the side the order takes (a buy the ask's, a sell the bid's):
        at most that much fills per look; unlimited without a size source or a shown size."""
        if self._sizes_of is None:
            return float("inf")
        bid_size, ask_size = self._sizes_of(entry.contract)
        size = ask_size if entry.order.action == "BUY" else bid_size
        return size if size > 0 else float("inf")

    def _fill(self, entry: OrderEntry, qty: float, price: float) -> list[Event]:
        order, contract = entry.order, entry.contract
        side = SIDE_OF_ACTION[order.action]
        commission = self._fees.of(contract.sec_type, qty)
        closing = self.account.position(contract.con_id) * SIGN_OF_SIDE[side] < 0
        realized = self.account.apply_fill(contract, side, qty, price, commission,
                                           multiplier_of(contract))
        total = entry.filled + qty
        entry.avg_fill_price = (entry.avg_fill_price * entry.filled + price * qty) / total
        entry.filled, entry.last_fill_price = total, price
        self._book.settle(entry)
        execution = ExecutionEvent(
            exec_id=exec_id(self._exec_prefix, self._log.added + 1),
            order_id=order.order_id, client_id=order.client_id, perm_id=order.perm_id,
            contract=contract, time=self._clock(),
            account=order.account or self.account.account_id,
            exchange=EXEC_EXCHANGE.get(contract.sec_type, contract.primary_exchange),
            side=side, shares=qty, price=price, cum_qty=total,
            avg_price=entry.avg_fill_price, order_ref=order.order_ref,
        )
        report = CommissionEvent(execution.exec_id, commission,
                                 realized_pnl=realized if closing else UNSET_DOUBLE)
        self._log.add(execution, report)
        events: list[Event] = [execution]
        if entry.status == Status.FILLED:  # TWS repeats the order itself, now Filled
            events.append(self._book.open_event(entry))
        events += [self._book.status_event(entry), report, self.account.position_event(contract)]
        return events + self._book.after_fill(entry, qty)
