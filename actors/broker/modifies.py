"""Modifying a working order in place, for the BrokerActor (actor thread only).

IB modifies an order when it is placed again with the same order id: a closing order is
re-priced this way, because cancelling a member of an OCA group cancels the whole group (the
exit pair it joined would go with it). Only an order IB still works is modified: the new terms
(price, type, quantity) are set on ib_insync's own ``Order`` and placed again, so its
``Trade`` stays the one that reports the order.

A modification IB refuses (a filled order: 104; a price it does not take) leaves the order
working as it was. ib_insync, though, marks any order it hears an error about Cancelled. While
a modification is unanswered, such an error is recognised here: the status the order had is
put back and nothing is reported but a ``modify_refused`` line, so the bot never takes a
working order for gone (unknown is never empty). The next status IB sends for the order ends
the wait.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from actors.broker.cancels import DONE_AT_IB
from actors.broker.requests import BrokerCore
from bot import messages as m
from bot.ib import translate as tr

MODIFIED_FIELDS = ("orderType", "lmtPrice", "auxPrice", "totalQuantity")
ANSWER_WITHIN_S = 30.0
"""An error later than this after a modification is not taken for IB's answer to it."""


class Modifies:
    """Modifications sent and not yet answered, by client order id."""

    def __init__(self, core: BrokerCore, client_id: Callable[[], int]) -> None:
        self.core = core
        self.client_id = client_id
        self.pending: dict[str, tuple[str, datetime]] = {}
        """Client order id -> the order's status when the modification was sent, and when."""
        self.refused: set[str] = set()
        """Refused modifications already said (``on_status``) whose error event is to come."""

    def send(self, cmd: m.ModifyOrder, account: str) -> None:
        ref = cmd.order.client_order_id
        mine = self.client_id()
        working = [t for t in self.core.ib.trades() if t.order.orderRef == ref
                   and t.orderStatus.status not in DONE_AT_IB and t.order.clientId == mine]
        if not self.core.connected or not working:
            why = "not connected" if not self.core.connected else "IB works no such order of ours"
            self.core.log.warning("modify_skipped client_order_id={} reason={}", ref, why)
            return
        trade = working[-1]
        fresh = tr.ib_order(cmd.order, order_id=trade.order.orderId, account=account)
        for name in MODIFIED_FIELDS:
            setattr(trade.order, name, getattr(fresh, name))
        self.pending[ref] = (trade.orderStatus.status, self.core.clock())
        self.core.governor.record_message(self.core.now())
        self.core.ib.placeOrder(trade.contract, trade.order)
        self.core.log.info("order_modified client_order_id={} order_id={} type={} limit={} qty={}",
                           ref, trade.order.orderId, trade.order.orderType,
                           cmd.order.limit_price, trade.order.totalQuantity)

    def on_status(self, trade: Any) -> bool:
        """Every status of an order: True when it is ib_insync's Cancelled for a refused
        modification (the order's status is put back; nothing is to be reported)."""
        ref = trade.order.orderRef
        before = self._answering(ref)
        if before is None:
            return False
        entry = trade.log[-1] if trade.log else None
        if trade.orderStatus.status != "Cancelled" or entry is None or not entry.errorCode \
                or entry.errorCode == tr.ORDER_CANCELLED:
            return False  # IB's answer to the modification (or a real end): as usual
        trade.orderStatus.status = before
        self.refused.add(ref)
        self.core.log.warning("modify_refused client_order_id={} code={} text={!r} "
                              "order=still working", ref, entry.errorCode, entry.message)
        return True

    def on_error(self, ref: str, code: int, text: str) -> bool:
        """An error about one of our orders: True when it answers a modification (refused: the
        order works on as it was; said once, here or in ``on_status``)."""
        if ref in self.refused:
            self.refused.discard(ref)
            return True
        if self._answering(ref) is None or code == tr.ORDER_CANCELLED:
            return False
        self.core.log.warning("modify_refused client_order_id={} code={} text={!r} "
                              "order=still working", ref, code, text)
        return True

    def _answering(self, ref: str) -> str | None:
        """The status before the modification of ``ref`` that IB may be answering now."""
        sent = self.pending.pop(ref, None)
        if sent is None or (self.core.clock() - sent[1]).total_seconds() > ANSWER_WITHIN_S:
            return None
        return sent[0]

    def lost(self) -> None:
        """The connection is gone: no answer will come for what was sent on it."""
        self.pending.clear()
        self.refused.clear()
