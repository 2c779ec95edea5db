"""Orders for the BrokerActor: place, cancel, re-adopt, and translate what IB says about them.

Actor thread only (see the One Rule in ``actors/broker/actor.py``). Where orders go is decided once
per connection by the safety gate (``bot/ib/safety.py``), applied here and nowhere else:

- ``sends_orders``: brackets and single orders go to IB;
- ``shadow_fills``: they go to the ``ShadowBook``, which fills them from the quotes this broker
  streams (it subscribes the contract's quotes itself while orders work);
- otherwise (read-only, refused, not connected yet): every leg is answered ``OrderRejected``.

The gate (``place_refusal`` / ``cancel_refusal`` in ``bot/ib/safety.py``) is applied to every
order and every cancel: read-only sends neither, ever, and logs ``order_withheld`` instead.

Never twice: every client order id that was sent is remembered for the life of the process
(``BrokerMemory``, which outlives a restarted actor), and after a reconnect IB's open orders are
re-adopted by their ``orderRef``, never resent.

Cancels are kept until IB confirms them and never sent under a client id that did not place
the order (``actors/broker/cancels.py``).

Late commissions: a fill published without its commission (the report came after
``COMMISSION_WAIT_S``) is completed by ``CommissionReported`` when the report arrives.

Fills before the status that counts them: IB may report ``Filled`` before the execution (and
its commission report) arrives. A status whose filled quantity exceeds the fills published so
far waits until they are published (at most ``COMMISSION_WAIT_S``), so consumers always see
``OrderFilled`` first and can settle on the status alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from actors.broker.cancels import Cancels
from actors.broker.market import MarketData
from actors.broker.memory import BrokerMemory
from actors.broker.modifies import Modifies
from actors.broker.requests import BrokerCore
from bot import messages as m
from bot.ib import translate as tr
from bot.ib.safety import Verdict, cancel_refusal, place_refusal

SHADOW_OWNER = "shadow"
COMMISSION_WAIT_S = 2.0
"""How long a fill waits for its commission report before it is published without one."""


class Orders:
    """Our orders at IB (or in the shadow book), keyed by client order id (IB's orderRef)."""

    def __init__(self, core: BrokerCore, market: MarketData, memory: BrokerMemory,
                 client_id: Callable[[], int] = lambda: 0) -> None:
        self.core = core
        self.market = market
        self.memory = memory
        self.client_id = client_id
        self.verdict: Verdict | None = None
        self.shadow = memory.shadow
        self.sent = memory.sent
        self.cancels = Cancels(core, memory, client_id, lambda: self.verdict is not None)
        self.modifies = Modifies(core, client_id)
        self._ref_of_id: dict[tuple[int, int], str] = {}
        """(client id, order id) -> client order id: IB keeps order ids per client id, so an
        orphan placed under an earlier client id may share an id with one of ours."""
        self._last_status: dict[str, tuple[Any, ...]] = {}
        self.reported: dict[str, str] = {}
        """Client order id -> the status value last reported (events or the snapshot)."""
        self._shadow_keys: dict[str, m.OptionContract] = {}
        self._deferred: dict[str, Any] = {}

    def _correlation(self, ref: str) -> str:
        return self.memory.correlation.setdefault(ref, ref)

    def keep(self, commands: list[Any]) -> None:
        """Order commands a stopping actor never handled: for the next actor (``send_kept``)."""
        for cmd in commands:
            self.core.log.warning("order_kept command={} intent={} reason=broker stopping",
                                  type(cmd).__name__, cmd.intent_id)
        self.memory.kept.extend(commands)

    def send_kept(self) -> None:
        """After a snapshot: exits a stopped actor never sent go out now (through the gate and
        the duplicate check); entries are answered rejected, a late entry would be stale."""
        kept, self.memory.kept = self.memory.kept, []
        for cmd in kept:
            if isinstance(cmd, m.SubmitBracket) or cmd.order.client_order_id.endswith(".entry"):
                legs = ((cmd.parent, cmd.take_profit, cmd.stop)
                        if isinstance(cmd, m.SubmitBracket) else (cmd.order,))
                self.core.log.warning("entry_not_sent intent={} why=broker restarted before "
                                      "sending it", cmd.intent_id)
                for spec in legs:
                    self.core.publish(m.OrderRejected(
                        cmd.correlation_id, spec.client_order_id, 0,
                        "broker restarted before sending it: not sent", self.core.clock()))
            else:
                self.submit(cmd)

    def rewatch(self) -> None:
        """A restarted actor: the shadow book's working orders need their quotes again."""
        for contract in self.shadow.contracts():
            self._watch(contract)

    # -- commands ---------------------------------------------------------------------------

    def submit_bracket(self, cmd: m.SubmitBracket) -> None:
        legs = (cmd.parent, cmd.take_profit, cmd.stop)
        if not self._accepted(cmd.correlation_id, legs):
            return
        for leg in legs:
            self.memory.correlation[leg.client_order_id] = cmd.correlation_id
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
        self.memory.correlation[cmd.order.client_order_id] = cmd.correlation_id
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

    def modify(self, cmd: m.ModifyOrder) -> None:
        """New terms for a working order, in place (``actors/broker/modifies.py``): through
        the gate like an order (read-only: withheld), to the shadow book in a dry run."""
        ref = cmd.order.client_order_id
        refusal = place_refusal(self.verdict, self.core.connected, self.core.settings)
        if refusal:
            self.core.log.warning("order_withheld reason={} action=modify client_order_id={} "
                                  "sent=no", refusal, ref)
            return
        if self.shadow.knows(ref):
            self._publish_all(self.shadow.modify(cmd.order, self.core.clock()))
            return
        self.modifies.send(cmd, self.verdict.account if self.verdict else "")

    def cancel(self, cmd: m.CancelOrder) -> None:
        """Cancel by client order id: withheld when read-only, else pending until confirmed."""
        ref = cmd.client_order_id
        withheld = cancel_refusal(self.verdict, self.core.settings)
        if withheld:
            self.core.log.warning("order_withheld reason={} action=cancel client_order_id={} "
                                  "sent=no", withheld, ref)
            return
        if self.shadow.knows(ref):
            self._publish_all(self.shadow.cancel(ref, self.core.clock()))
            return
        self.cancels.cancel(ref, cmd.correlation_id)

    def _log_shadowed(self, legs: tuple[m.OrderSpec, ...]) -> None:
        """Dry run: the line ``order_placed`` would be, for an order that stays in the bot."""
        for leg in legs:
            self.core.log.info("order_shadowed client_order_id={} type={} action={} qty={} "
                               "sent=no (dry run)", leg.client_order_id, leg.order_type.value,
                               leg.side.value, leg.quantity)

    def _place(self, contract: m.OptionContract, orders: tuple[Any, ...]) -> None:
        ib_contract = tr.option_contract(contract)
        for order in orders:
            self._ref_of_id[(self.client_id(), order.orderId)] = order.orderRef
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
        for order in orders:
            # The last order transmitted the whole bracket. ib_insync takes an order sent with
            # transmit=False that IB has not acknowledged yet for one that never left, and marks
            # it Cancelled itself the moment it is cancelled, before IB's word: a bracket's
            # parent cancelled on an ack timeout would look cancelled while IB fills it.
            order.transmit = True

    def _accepted(self, correlation_id: str, legs: tuple[m.OrderSpec, ...]) -> bool:
        """Allowed by the gate, never sent before, well formed (else answered or ignored)."""
        self.memory.handled.update(s.client_order_id for s in legs)
        return not (
            self._refuse(correlation_id, legs)
            or self._duplicate(legs)
            or self._malformed(correlation_id, legs)
        )

    def _refuse(self, correlation_id: str, legs: tuple[m.OrderSpec, ...]) -> bool:
        reason = place_refusal(self.verdict, self.core.connected, self.core.settings)
        if not reason:
            return False
        if self.core.settings.broker.read_only:
            for spec in legs:
                self.core.log.warning(
                    "order_withheld reason=read_only action=place client_order_id={} type={} "
                    "side={} qty={} limit={} stop={} sent=no", spec.client_order_id,
                    spec.order_type.value, spec.side.value, spec.quantity, spec.limit_price,
                    spec.stop_price)
        self.core.log.warning(
            "order_refused reason={!r} legs={}", reason, [s.client_order_id for s in legs]
        )
        for spec in legs:
            self.core.publish(
                m.OrderRejected(correlation_id, spec.client_order_id, 0, reason, self.core.clock())
            )
        return True

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
                self._ref_of_id[(trade.order.clientId, trade.order.orderId)] = ref
                self._correlation(ref)
                adopted.append(ref)
        self.core.log.info("orders_adopted count={} client_order_ids={}", len(adopted), adopted)

    def snapshot(self, first: bool, market_ts: Any = None) -> m.BrokerSnapshot:
        """What IB holds now: every order it told us about (open and completed, ours by
        orderRef and anyone else's), the day's executions of our orders, and the positions."""
        ib = self.core.ib
        orders = tuple(tr.broker_order(t) for t in ib.trades())
        fills = []
        for fill in ib.fills():
            ref = fill.execution.orderRef
            if ref and fill.contract.secType == "OPT":
                fills.append(tr.fill_event(fill, self._correlation(ref), ref))
        positions = tuple(tr.broker_position(p) for p in ib.positions())
        self.reported.update({o.client_order_id: o.status.value for o in orders
                              if o.client_order_id})
        return m.BrokerSnapshot(first, orders, tuple(fills), positions, self.core.clock(),
                                market_ts=tr.as_utc(market_ts) if market_ts else None,
                                handled=frozenset(self.memory.handled | self.sent))

    def on_status(self, trade: Any) -> None:
        """ib_insync orderStatusEvent (and right after placing)."""
        ref = trade.order.orderRef
        if not ref:
            return
        self._correlation(ref)
        self._ref_of_id[(trade.order.clientId, trade.order.orderId)] = ref
        if self.modifies.on_status(trade):
            return  # a refused modification: the order works on as it was
        self.cancels.on_status(ref, trade.orderStatus.status)
        for fill in trade.fills:  # executions whose commission is already known
            if fill.commissionReport.execId == fill.execution.execId:
                self._publish_fill(trade, fill)
        if trade.orderStatus.filled > self.memory.fill_qty.get(ref, 0.0) + 1e-9:
            if ref not in self._deferred:
                self.core.loop.call_later(COMMISSION_WAIT_S, self._flush_status, ref, True)
            self._deferred[ref] = trade
            return
        self._deferred.pop(ref, None)
        self._emit_status(trade)

    def status_of(self, trade: Any) -> m.OrderStatusChanged:
        """The order's status as we report it (a Cancelled after a rejection is REJECTED)."""
        ref = trade.order.orderRef
        entry = trade.log[-1] if trade.log else None
        rejected = (
            trade.orderStatus.status == "Cancelled"
            and entry is not None
            and tr.is_order_rejection(entry.errorCode)
        )
        return tr.status_event(trade, self._correlation(ref), self.core.clock(), rejected)

    def _emit_status(self, trade: Any, force: bool = False) -> None:
        ref = trade.order.orderRef
        event = self.status_of(trade)
        key = (event.status, event.filled, event.remaining)
        if force or self._last_status.get(ref) != key:
            self._last_status[ref] = key
            self.reported[ref] = event.status.value
            self.core.publish(event)

    def republish(self, ref: str) -> None:
        """The periodic check found IB's status of ``ref`` unreported: publish it now."""
        for trade in [t for t in self.core.ib.trades() if t.order.orderRef == ref][-1:]:
            self._emit_status(trade, force=True)

    def held_statuses(self) -> dict[str, str]:
        """Our orders as ib_insync holds them now (no request), minus those whose status waits
        for its fills (``_deferred``: reported within ``COMMISSION_WAIT_S``)."""
        return {t.order.orderRef: self.status_of(t).status.value for t in self.core.ib.trades()
                if t.order.orderRef and t.order.orderRef not in self._deferred}

    def _flush_status(self, ref: str, force: bool) -> None:
        """Publish a deferred status once its fills are out (``force``: publish them as is)."""
        trade = self._deferred.get(ref)
        if trade is None or (
            not force and trade.orderStatus.filled > self.memory.fill_qty.get(ref, 0.0) + 1e-9
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

    def on_commission(self, trade: Any, fill: Any, report: Any) -> None:
        """IB's commission report: the fill goes out with it, or, when the fill went out
        without one already, ``CommissionReported`` completes it."""
        exec_id = fill.execution.execId
        ref = trade.order.orderRef or fill.execution.orderRef
        published = self.memory.fills.get(exec_id)
        if published is None or not ref:
            self._publish_fill(trade, fill)
            return
        commission = float(report.commission)
        if published == 0.0 and commission != 0.0:
            self.memory.fills[exec_id] = commission
            self.core.log.info("commission_reported client_order_id={} exec_id={} "
                               "commission={:.2f}", ref, exec_id, commission)
            self.core.publish(m.CommissionReported(self._correlation(ref), ref, exec_id,
                                                   commission, self.core.clock()))

    def _publish_fill(self, trade: Any, fill: Any) -> None:
        exec_id = fill.execution.execId
        ref = trade.order.orderRef or fill.execution.orderRef
        if exec_id in self.memory.fills or not ref:
            return
        event = tr.fill_event(fill, self._correlation(ref), ref)
        self.memory.fills[exec_id] = event.commission
        self.memory.fill_qty[ref] = self.memory.fill_qty.get(ref, 0.0) + event.quantity
        self.core.publish(event)
        self._flush_status(ref, force=False)

    def on_error(self, req_id: int, code: int, text: str) -> bool:
        """An error about one of our orders: a rejection becomes OrderRejected, IB's cancel
        confirmation (202) is left to the status event. True when nothing else needs saying.
        IB sends a client errors about its own orders only: the id is the connected client's."""
        ref = self._ref_of_id.get((self.client_id(), req_id))
        if ref is None:
            return False
        if self.modifies.on_error(ref, code, text):
            return True
        if tr.is_order_rejection(code):
            self.core.publish(
                m.OrderRejected(self._correlation(ref), ref, code, text, self.core.clock())
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
