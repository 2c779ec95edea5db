"""Cancels for the BrokerActor: kept until IB confirms them, never sent under a wrong client id.

Actor thread only (see the One Rule in ``actors/broker/actor.py``). A cancel is pending from
the moment it is asked until IB reports the order done (Cancelled, Filled, Inactive): it is
sent at once when connected, and again after every reconnect's snapshot (``resend``), also by
a restarted actor (the pending set lives in ``BrokerMemory``), and again on a live socket when
IB has not answered it for a while (``resend_unanswered``: a cancel can be lost, and the cancels
reconciliation sends for a finished trade have nobody else to repeat them). A cancel of an
order IB never acknowledged, or a cancel sent twice without an answer (``ASK_AFTER_SENDS``),
makes the broker ask IB for its open orders: an order IB never acknowledged and does not list
never reached it (a placeOrder lost on its way), so the trade waiting on it (a buy-back, an
exit) moves on at once, without waiting for the cancel's answer, which may be lost too, or
for a reconnect. While the answer is unknown (no
socket, the snapshot not complete) nothing is concluded: "unknown" is never "empty". Once a
reconnect's snapshot is complete, an order IB has neither open nor completed never reached it
(lost with the connection): it is reported cancelled, so the trade waiting on it moves on.

IB lets a client cancel only the orders it placed itself (same client id; TWS's own orders
with client id 0). An order of ours working under another id (the bot had to move after error
326) is an orphan: reported (``orphan_orders client_id=...``, heartbeat ``orphan_orders``),
its cancel kept pending until the bot is back on that id, never sent under the wrong id (IB
would take the order id for one of the new client's own orders).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from actors.broker.memory import BrokerMemory, PendingCancel
from actors.broker.requests import BrokerCore, RequestFailed
from bot import messages as m
from bot.ib import translate as tr
from bot.ib.pacing import Request

NEVER_REACHED_IB = "IB has no such order after a complete answer: it never reached IB"

DONE_AT_IB = frozenset({"Cancelled", "ApiCancelled", "Filled", "Inactive"})
"""IB statuses after which an order can no longer fill: a pending cancel is settled."""

LOCAL_STATUSES = frozenset({"PendingSubmit", "ApiPending", "PendingCancel"})
"""The statuses ib_insync logs for an order on its own (placed, cancel sent): a trade whose
log holds no other has never been acknowledged by IB."""

ASK_AFTER_SENDS = 2
"""Sends of one cancel without an answer after which IB is asked for its open orders."""

OPEN_ORDERS = Request("reqAllOpenOrders")


class Cancels:
    """The pending cancels of the process and this connection's orphans."""

    def __init__(self, core: BrokerCore, memory: BrokerMemory, client_id: Callable[[], int],
                 gate_known: Callable[[], bool]) -> None:
        self.core = core
        self.memory = memory
        self.client_id = client_id
        self.gate_known = gate_known
        self.snapshot_complete = False
        """IB's answer to reqAllOpenOrders came on this connection: what it lacks, it lacks."""
        self.orphans: dict[int, list[str]] = {}
        self._check: asyncio.Task[None] | None = None
        """The open-orders question in flight (``_check_with_ib``), if any."""

    def cancel(self, ref: str, correlation_id: str) -> None:
        """A cancel of ``ref``: pending until IB confirms, sent now if it can be."""
        self.memory.pending_cancels.setdefault(ref, PendingCancel(correlation_id,
                                                                  self.core.clock()))
        self.send(ref)

    def on_status(self, ref: str, ib_status: str) -> None:
        """Every order status from IB: a done order settles its pending cancel."""
        if ref in self.memory.pending_cancels and ib_status in DONE_AT_IB:
            self._settle(ref, ib_status)

    def lost(self) -> None:
        self.snapshot_complete = False
        if self._check is not None:
            self._check.cancel()  # the next connection's snapshot asks the same question

    def keep(self, commands: list[m.CancelOrder]) -> None:
        """Cancels a stopping actor never handled: pending for the next actor."""
        for cmd in commands:
            self.memory.pending_cancels.setdefault(
                cmd.client_order_id, PendingCancel(cmd.correlation_id, self.core.clock()))
            self.core.log.warning("cancel_kept client_order_id={} reason=broker stopping",
                                  cmd.client_order_id)

    def resend(self) -> None:
        """After a reconnect's snapshot: every cancel not yet confirmed goes out again."""
        self.snapshot_complete = True
        self._find_orphans()
        for ref in list(self.memory.pending_cancels):
            self.send(ref)

    def resend_unanswered(self, after_s: float) -> None:
        """Every cancel sent at least ``after_s`` ago and not yet answered goes out again."""
        now = self.core.clock()
        for ref, pending in list(self.memory.pending_cancels.items()):
            if pending.sent_at is not None and (now - pending.sent_at).total_seconds() >= after_s:
                self.send(ref)

    def send(self, ref: str) -> None:
        pending = self.memory.pending_cancels.get(ref)
        if pending is None:
            return
        if not self.core.connected or not self.gate_known():
            self.core.log.warning("cancel_pending client_order_id={} reason=not connected", ref)
            return
        known = [t for t in self.core.ib.trades() if t.order.orderRef == ref]
        working = [t for t in known if t.orderStatus.status not in DONE_AT_IB]
        if known and not working:
            # IB already ended it (an OCA sibling's fill, our earlier cancel): say so again, for
            # whoever asked missed IB's status (it came while the trade was being restored)
            self._settle(ref, known[-1].orderStatus.status)
            self.core.publish(tr.status_event(known[-1], pending.correlation_id, self.core.clock()))
            return
        if not working:
            if self.snapshot_complete:  # IB answered in full and has no such order
                self._never_reached(ref)
            else:
                self.core.log.info("cancel_pending client_order_id={} reason=waiting for the "
                                   "snapshot", ref)
            return
        mine = self.client_id()
        for trade in working:
            owner = trade.order.clientId
            if owner != mine:
                self.core.log.warning("cancel_blocked client_order_id={} placed_by_client_id={} "
                                      "client_id={} reason=IB cancels only a client's own orders",
                                      ref, owner, mine)
                continue
            self.core.governor.record_message(self.core.now())
            self.core.ib.cancelOrder(trade.order)
            pending.sends += 1
            pending.sent_at = self.core.clock()
            self.core.log.info("cancel_requested client_order_id={} sends={}", ref, pending.sends)
        if pending.sends >= ASK_AFTER_SENDS or not any(self._acknowledged(t) for t in working):
            self._ask_ib()

    def _never_reached(self, ref: str) -> None:
        """IB answered in full and has no such order: it never reached IB (lost with a
        connection or on its way), so it cannot fill: reported cancelled."""
        pending = self.memory.pending_cancels.pop(ref)
        self.core.log.warning("cancel_unknown client_order_id={} reason=IB has no such order", ref)
        self.core.publish(m.OrderStatusChanged(
            pending.correlation_id, ref, m.OrderStatus.CANCELLED, 0.0, 0.0, 0.0,
            self.core.clock(), reason=NEVER_REACHED_IB))

    def _ask_ib(self) -> None:
        if self._check is None and self.snapshot_complete:
            self._check = self.core.spawn(self._check_with_ib(), "cancel-check")

    async def _check_with_ib(self) -> None:
        """IB's open orders, asked because cancels went unanswered: each of those orders IB
        does not list and never acknowledged never reached it. IB answers a socket's requests
        in order, so an order placed before this question is in the answer if IB has it; one
        it acknowledged and no longer lists has ended there, and its status is on its way."""
        asked = {ref for ref, p in self.memory.pending_cancels.items() if p.sends >= 1}
        generation = self.core.generation
        try:
            listed = await self.core.request(OPEN_ORDERS, self.core.ib.reqAllOpenOrdersAsync)
        except RequestFailed:
            return  # unknown is never empty: nothing concluded
        finally:
            self._check = None
        if generation != self.core.generation:
            return  # reconnected meanwhile: that connection's snapshot decides
        open_refs = {t.order.orderRef for t in listed}
        for ref in sorted(asked & set(self.memory.pending_cancels) - open_refs):
            mine = [t for t in self.core.ib.trades() if t.order.orderRef == ref]
            if mine and not any(self._acknowledged(t) for t in mine):
                self._never_reached(ref)

    @staticmethod
    def _acknowledged(trade: object) -> bool:
        """Whether IB ever said anything about the order (ib_insync logs only local statuses
        for an order IB has not answered)."""
        return any(e.status not in LOCAL_STATUSES for e in trade.log)  # type: ignore[attr-defined]

    def _settle(self, ref: str, ib_status: str) -> None:
        if self.memory.pending_cancels.pop(ref, None) is not None:
            self.core.log.info("cancel_settled client_order_id={} status={}", ref, ib_status)

    def _find_orphans(self) -> None:
        """Our working orders that another client id placed (we had to move after 326)."""
        mine = self.client_id()
        orphans: dict[int, list[str]] = {}
        for trade in self.core.ib.openTrades():
            if trade.order.orderRef and trade.order.clientId != mine:
                orphans.setdefault(trade.order.clientId, []).append(trade.order.orderRef)
        self.orphans = orphans
        for client_id, refs in orphans.items():
            self.core.log.warning("orphan_orders client_id={} count={} client_order_ids={} "
                                  "our_client_id={} cancel=blocked until back on client_id={}",
                                  client_id, len(refs), refs, mine, client_id)

