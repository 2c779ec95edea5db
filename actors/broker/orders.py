"""Orders for the BrokerActor: place, cancel, re-adopt, and translate what IB says about them.

Actor thread only (see the One Rule in ``actors/broker/actor.py``). Where orders go is decided once
per connection by the safety gate (``bot/ib/safety.py``), applied here and nowhere else:

- ``sends_orders``: brackets and single orders go to IB;
- ``shadow_fills``: they go to the ``ShadowBook``, which fills them from the quotes this broker
  streams (it subscribes the contract's quotes itself while orders work);
- otherwise (read-only, refused, not connected yet): every leg is answered ``OrderRejected``.

Never twice: every client order id that was sent is remembered for the life of the actor, and
after a reconnect IB's open orders are re-adopted by their ``orderRef``, never resent.

Fills before the status that counts them: IB may report ``Filled`` before the execution (and
its commission report) arrives. A status whose filled quantity exceeds the fills published so
far waits until they are published (at most ``COMMISSION_WAIT_S``), so consumers always see
``OrderFilled`` first and can settle on the status alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from actors.broker.market import MarketData
from actors.broker.requests import BrokerCore
from bot import messages as m
from bot.ib import translate as tr
from bot.ib.safety import Verdict
from bot.ib.shadow import ShadowBook

SHADOW_OWNER = "shadow"
COMMISSION_WAIT_S = 2.0
"""How long a fill waits for its commission report before it is published without one."""


@dataclass
class _Placed:
    correlation_id: str
    contract: m.OptionContract | None = None


class Orders:
    """Our orders at IB (or in the shadow book), keyed by client order id (IB's orderRef)."""

    def __init__(self, core: BrokerCore, market: MarketData) -> None:
        self.core = core
        self.market = market
        self.verdict: Verdict | None = None
        self.shadow = ShadowBook()
        self.sent: set[str] = set()
        self._placed: dict[str, _Placed] = {}
        self._ref_of_id: dict[int, str] = {}
        self._last_status: dict[str, tuple[Any, ...]] = {}
        self._fills_published: set[str] = set()
        self._shadow_keys: dict[str, m.OptionContract] = {}
        self._fill_qty: dict[str, float] = {}
        self._deferred: dict[str, Any] = {}

    # -- commands ---------------------------------------------------------------------------

    def submit_bracket(self, cmd: m.SubmitBracket) -> None:
        legs = (cmd.parent, cmd.take_profit, cmd.stop)
        if not self._accepted(cmd.correlation_id, legs):
            return
        for leg in legs:
            self._placed[leg.client_order_id] = _Placed(cmd.correlation_id, cmd.contract)
            self.sent.add(leg.client_order_id)
        if self.verdict is not None and self.verdict.shadow_fills:
            self._log_shadowed(legs)
            self._publish_all(self.shadow.submit_bracket(cmd, self.core.clock()))
            self._watch(cmd.contract)
            return
        ids = tuple(self.core.ib.client.getReqId() for _ in legs)
        orders = tr.bracket_orders(cmd, ids, self.verdict.account if self.verdict else "")  # type: ignore[arg-type]
        self._place(cmd.contract, orders)

    def submit(self, cmd: m.SubmitOrder) -> None:
        legs = (cmd.order,)
        if not self._accepted(cmd.correlation_id, legs):
            return
        self._placed[cmd.order.client_order_id] = _Placed(cmd.correlation_id, cmd.contract)
        self.sent.add(cmd.order.client_order_id)
        if self.verdict is not None and self.verdict.shadow_fills:
            self._log_shadowed(legs)
            self._publish_all(self.shadow.submit(cmd, self.core.clock()))
            self._watch(cmd.contract)
            return
        account = self.verdict.account if self.verdict else ""
        self._place(
            cmd.contract,
            (tr.ib_order(cmd.order, order_id=self.core.ib.client.getReqId(), account=account),),
        )

    def cancel(self, cmd: m.CancelOrder) -> None:
        ref = cmd.client_order_id
        if self.shadow.knows(ref):
            self._publish_all(self.shadow.cancel(ref, self.core.clock()))
            return
        trades = (
            [t for t in self.core.ib.openTrades() if t.order.orderRef == ref]
            if self.core.connected
            else []
        )
        if not trades:
            self.core.log.warning(
                "cancel_unknown client_order_id={} connected={}", ref, self.core.connected
            )
            return
        for trade in trades:
            self.core.governor.record_message(self.core.now())
            self.core.ib.cancelOrder(trade.order)
        self.core.log.info("cancel_requested client_order_id={}", ref)

    def _log_shadowed(self, legs: tuple[m.OrderSpec, ...]) -> None:
        """Dry run: the line ``order_placed`` would be, for an order that stays in the bot."""
        for leg in legs:
            self.core.log.info("order_shadowed client_order_id={} type={} action={} qty={} "
                               "sent=no (dry run)", leg.client_order_id, leg.order_type.value,
                               leg.side.value, leg.quantity)

    def _place(self, contract: m.OptionContract, orders: tuple[Any, ...]) -> None:
        ib_contract = tr.option_contract(contract)
        for order in orders:
            self._ref_of_id[order.orderId] = order.orderRef
            self.core.governor.record_message(self.core.now())
            trade = self.core.ib.placeOrder(ib_contract, order)
            self.core.log.info(
                "order_placed client_order_id={} order_id={} type={} action={} qty={}",
                order.orderRef,
                order.orderId,
                order.orderType,
                order.action,
                order.totalQuantity,
            )
            self.on_status(trade)

    def _accepted(self, correlation_id: str, legs: tuple[m.OrderSpec, ...]) -> bool:
        """Allowed by the gate, never sent before, well formed (else answered or ignored)."""
        return not (
            self._refuse(correlation_id, legs)
            or self._duplicate(legs)
            or self._malformed(correlation_id, legs)
        )

    def _refuse(self, correlation_id: str, legs: tuple[m.OrderSpec, ...]) -> bool:
        reason = self._refusal()
        if not reason:
            return False
        self.core.log.warning(
            "order_refused reason={!r} legs={}", reason, [s.client_order_id for s in legs]
        )
        for spec in legs:
            self.core.publish(
                m.OrderRejected(correlation_id, spec.client_order_id, 0, reason, self.core.clock())
            )
        return True

    def _refusal(self) -> str:
        verdict = self.verdict
        if verdict is None or (verdict.sends_orders and not self.core.connected):
            return "broker not connected"
        if verdict.refused:
            return f"start refused: {verdict.refusal}"
        if verdict.read_only:
            return "read_only: orders are forbidden"
        return (
            ""
            if verdict.sends_orders or verdict.shadow_fills
            else "orders are not allowed in this mode"
        )

    def _malformed(self, correlation_id: str, legs: tuple[m.OrderSpec, ...]) -> bool:
        """A spec IB would refuse (a limit without its price): rejected here, never raised."""
        problems = []
        for spec in legs:
            try:
                tr.ib_order(spec)
            except ValueError as exc:
                problems.append(str(exc))
        for spec in legs if problems else ():
            self.core.publish(
                m.OrderRejected(
                    correlation_id, spec.client_order_id, 0, "; ".join(problems), self.core.clock()
                )
            )
        return bool(problems)

    def _duplicate(self, legs: tuple[m.OrderSpec, ...]) -> bool:
        seen = [s.client_order_id for s in legs if s.client_order_id in self.sent]
        if seen:
            self.core.log.warning("order_duplicate_ignored client_order_ids={}", seen)
        return bool(seen)

    # -- IB events --------------------------------------------------------------------------

    def adopt(self) -> None:
        """After a (re)connect: IB's open orders are ours again by orderRef, never resent."""
        adopted = []
        for trade in self.core.ib.openTrades():
            ref = trade.order.orderRef
            if ref:
                self.sent.add(ref)
                self._ref_of_id[trade.order.orderId] = ref
                self._placed.setdefault(ref, _Placed(ref))
                adopted.append(ref)
        self.core.log.info("orders_adopted count={} client_order_ids={}", len(adopted), adopted)

    def snapshot(self, first: bool) -> m.BrokerSnapshot:
        """What IB holds now: every order it told us about (open and completed, ours by
        orderRef and anyone else's), the day's executions of our orders, and the positions."""
        ib = self.core.ib
        orders = tuple(tr.broker_order(t) for t in ib.trades())
        fills = []
        for fill in ib.fills():
            ref = fill.execution.orderRef
            if ref and fill.contract.secType == "OPT":
                placed = self._placed.setdefault(ref, _Placed(ref))
                fills.append(tr.fill_event(fill, placed.correlation_id, ref))
        positions = tuple(tr.broker_position(p) for p in ib.positions())
        return m.BrokerSnapshot(first, orders, tuple(fills), positions, self.core.clock())

    def on_status(self, trade: Any) -> None:
        """ib_insync orderStatusEvent (and right after placing)."""
        ref = trade.order.orderRef
        if not ref:
            return
        self._placed.setdefault(ref, _Placed(ref))
        self._ref_of_id[trade.order.orderId] = ref
        for fill in trade.fills:  # executions whose commission is already known
            if fill.commissionReport.execId == fill.execution.execId:
                self._publish_fill(trade, fill)
        if trade.orderStatus.filled > self._fill_qty.get(ref, 0.0) + 1e-9:
            if ref not in self._deferred:
                self.core.loop.call_later(COMMISSION_WAIT_S, self._flush_status, ref, True)
            self._deferred[ref] = trade
            return
        self._deferred.pop(ref, None)
        self._emit_status(trade)

    def _emit_status(self, trade: Any) -> None:
        ref = trade.order.orderRef
        entry = trade.log[-1] if trade.log else None
        rejected = (
            trade.orderStatus.status == "Cancelled"
            and entry is not None
            and tr.is_order_rejection(entry.errorCode)
        )
        event = tr.status_event(
            trade, self._placed[ref].correlation_id, self.core.clock(), rejected
        )
        key = (event.status, event.filled, event.remaining)
        if self._last_status.get(ref) != key:
            self._last_status[ref] = key
            self.core.publish(event)

    def _flush_status(self, ref: str, force: bool) -> None:
        """Publish a deferred status once its fills are out (``force``: publish them as is)."""
        trade = self._deferred.get(ref)
        if trade is None or (
            not force and trade.orderStatus.filled > self._fill_qty.get(ref, 0.0) + 1e-9
        ):
            return
        del self._deferred[ref]
        if force:
            for fill in trade.fills:
                self._publish_fill(trade, fill)
        self._emit_status(trade)

    def on_exec_details(self, trade: Any, fill: Any) -> None:
        """A fill: published with its commission, or without one if the report is late."""
        self.core.loop.call_later(COMMISSION_WAIT_S, self._publish_fill, trade, fill)

    def on_commission(self, trade: Any, fill: Any, _report: Any) -> None:
        self._publish_fill(trade, fill)

    def _publish_fill(self, trade: Any, fill: Any) -> None:
        exec_id = fill.execution.execId
        ref = trade.order.orderRef or fill.execution.orderRef
        if exec_id in self._fills_published or not ref:
            return
        self._fills_published.add(exec_id)
        placed = self._placed.setdefault(ref, _Placed(ref))
        self._fill_qty[ref] = self._fill_qty.get(ref, 0.0) + float(fill.execution.shares)
        self.core.publish(tr.fill_event(fill, placed.correlation_id, ref))
        self._flush_status(ref, force=False)

    def on_error(self, req_id: int, code: int, text: str) -> bool:
        """An error about one of our orders: a rejection becomes OrderRejected, IB's cancel
        confirmation (202) is left to the status event. True when nothing else needs saying."""
        ref = self._ref_of_id.get(req_id)
        if ref is None:
            return False
        if tr.is_order_rejection(code):
            placed = self._placed.get(ref, _Placed(ref))
            self.core.publish(
                m.OrderRejected(placed.correlation_id, ref, code, text, self.core.clock())
            )
            return True
        return code == tr.ORDER_CANCELLED

    # -- shadow -----------------------------------------------------------------------------

    def on_quote(self, quote: m.Quote) -> None:
        """Every published quote: the shadow book matches its working orders on it."""
        if not self._shadow_keys or quote.instrument.key not in self._shadow_keys:
            return
        self._publish_all(self.shadow.on_quote(quote))
        working = self.shadow.instruments()
        for key in [k for k in self._shadow_keys if k not in working]:
            self.market.release(self._shadow_keys.pop(key), SHADOW_OWNER)

    def _watch(self, contract: m.OptionContract) -> None:
        self._shadow_keys[contract.key] = contract
        self.market.acquire(contract, SHADOW_OWNER)

    def _publish_all(self, events: list[Any]) -> None:
        for event in events:
            self.core.publish(event)
