"""StubBroker: a scripted stand-in for the BrokerActor, speaking the same messages.

Accepts the broker commands (RequestChain, QuoteOptions, KeepOptionsWarm, SubscribeQuotes,
UnsubscribeQuotes, SubmitBracket, SubmitOrder, ModifyOrder, CancelOrder) and answers them from a
script: chains and option quotes set beforehand (a warm option's scripted quote is published as
``WarmQuoteUpdated`` when it joins a set; ``warm_lines`` and ``max_warm_lines`` count the lines
the sets hold, as the BrokerActor's subscriptions would), acknowledgements sent at once
unless ``auto_ack`` is off, fills only when the test calls ``fill``. Tests drive it through
its proxy (``stub.proxy().fill(...)``): proxy calls run in the stub's own thread, so ordering
with the messages it publishes holds.

As strict as IB about order semantics (never kinder, so the bot's tests prove something):

- Orders are mapped through the bot's own ``bot.ib.translate`` (``bracket_orders``,
  ``ib_order``), so the OCA type, parent id and transmit flags are what IB would receive.
- Bracket: the parent must be sent with ``transmit=False`` and the last child with
  ``transmit=True`` (else the children are rejected, and ``violations`` says why). The
  children are inactive until the parent is completely filled: ``fill`` on one raises.
  Cancelling the parent cancels its unfilled children.
- Cancelling one member of an OCA group (types 1, 2, 3) cancels every other working member,
  as IB does ("if any order within the OCA group is canceled, the remaining orders are sent
  cancellation requests"): a group member is re-priced by modifying it, never by cancelling.
- OCA groups, by the filled order's ``ocaType``: 1 = any fill (even partial) cancels every
  other working member; 2 and 3 = the others are reduced by the filled quantity (cancelled at
  0); 0 or no group = not OCA at all (both members can fill).
- Cancel of an order already filled is answered with error 10148 (``OrderRejected``, as the
  broker actor reports IB's order errors) and the fill, never "cancelled"; when the fill had
  not been reported yet, also with the REJECTED status the broker actor derives from
  ib_insync marking the order Cancelled on that error. Cancel of an order
  already cancelled or rejected is answered with error 161.
- Modify = re-placing the same client order id while it works: new price and quantity, same
  order; re-placing a finished order is rejected (error 104). ``ModifyOrder`` does the same
  for a working order (an OCA reduction already made stays made) and leaves a finished one.
- ``fill(..., report=False)`` fills at the broker but holds the execution and its status (as
  IB's commission report and the broker's wait for it delay them); ``release`` sends them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from actors.base import BotActor, utc_now
from bot import messages as m
from bot.app.routing import Directory
from bot.ib import translate as tr

S = m.OrderStatus
CANCEL_FILLED = 10148
CANCEL_NOT_CANCELLABLE = 161
MODIFY_DONE = 104


@dataclass(frozen=True, slots=True)
class StubOrder:
    correlation_id: str
    contract: m.OptionContract
    spec: m.OrderSpec
    status: m.OrderStatus = S.SUBMITTED
    filled: float = 0.0
    avg_price: float = 0.0
    quantity: float = 0.0
    """IB's totalQuantity now: OCA types 2 and 3 reduce it."""
    parent: str = ""
    """The bracket parent's client order id (children are inactive until it is filled)."""
    oca_group: str = ""
    oca_type: int = 0

    @property
    def remaining(self) -> float:
        return self.quantity - self.filled

    @property
    def working(self) -> bool:
        return self.status in (S.SUBMITTED, S.ACKED, S.PARTIAL)


class StubBroker(BotActor):
    name = "broker"

    def __init__(self, directory: Directory, clock: Any = utc_now, *, auto_ack: bool = True,
                 chains: dict[str, m.OptionChain] | None = None) -> None:
        super().__init__(directory, clock)
        self.auto_ack = auto_ack
        self.chains = dict(chains or {})
        self.option_quotes: dict[str, m.Quote] = {}
        self.warm: dict[str, tuple[m.OptionContract, ...]] = {}
        self.max_warm_lines = 0
        self.orders: dict[str, StubOrder] = {}
        self.received: list[Any] = []
        self.violations: list[str] = []
        self.held: list[Any] = []
        self.exec_seq = 0

    def on_start(self) -> None:
        super().on_start()
        self.publish(m.ConnectionChanged("connected", 0, self.clock(), "stub"))

    def handle(self, message: Any) -> None:
        self.received.append(message)
        match message:
            case m.RequestChain(correlation_id=cid, symbol=symbol) if symbol in self.chains:
                self.publish(m.ChainReceived(cid, self.chains[symbol]))
            case m.QuoteOptions(correlation_id=cid, symbol=symbol, contracts=contracts):
                found = tuple(self.option_quotes[c.key] for c in contracts if c.key in self.option_quotes)
                missing = tuple(c for c in contracts if c.key not in self.option_quotes)
                self.publish(m.OptionsQuoted(cid, symbol, found, missing))
            case m.KeepOptionsWarm(symbol=symbol, contracts=contracts):
                joined = [c for c in contracts if c not in self.warm.get(symbol, ())]
                self.warm[symbol] = contracts
                self.max_warm_lines = max(self.max_warm_lines, self.warm_lines())
                for c in joined:
                    if c.key in self.option_quotes:
                        self.publish(m.WarmQuoteUpdated(self.option_quotes[c.key]))
            case m.SubmitBracket():
                self._accept_bracket(message)
            case m.SubmitOrder():
                self._accept_order(message)
            case m.ModifyOrder(order=spec) if spec.client_order_id in self.orders:
                self._modify(spec)
            case m.CancelOrder(client_order_id=coid) if self.auto_ack and coid in self.orders:
                self._on_cancel(coid)
            case _:
                pass  # RequestChain without a scripted chain, (un)subscriptions: recorded only

    # -- the script (called through the proxy by tests) ---------------------------------------

    def emit(self, event: Any) -> None:
        """Publish any broker event as if it came from IB."""
        self.publish(event)

    def set_chain(self, chain: m.OptionChain) -> None:
        self.chains[chain.symbol] = chain

    def set_option_quotes(self, quotes: tuple[m.Quote, ...]) -> None:
        self.option_quotes.update({q.instrument.key: q for q in quotes})

    def warm_lines(self) -> int:
        """Lines the warm sets hold now (one per option, as IB counts market data lines)."""
        return sum(len(contracts) for contracts in self.warm.values())

    def peak_warm_lines(self) -> int:
        return self.max_warm_lines

    def commands(self, kind: type | None = None) -> tuple[Any, ...]:
        return tuple(c for c in self.received if kind is None or isinstance(c, kind))

    def order(self, client_order_id: str) -> StubOrder | None:
        return self.orders.get(client_order_id)

    def working(self) -> tuple[StubOrder, ...]:
        """Every order that may still fill (active or held by its parent)."""
        return tuple(o for o in self.orders.values() if o.working)

    def ack(self, client_order_id: str) -> None:
        self._set(client_order_id, S.ACKED)

    def reject(self, client_order_id: str, code: int = 201, reason: str = "rejected") -> None:
        o = self.orders[client_order_id]
        self.orders[client_order_id] = replace(o, status=S.REJECTED)
        self.publish(m.OrderRejected(o.correlation_id, client_order_id, code, reason, self.clock()))

    def cancel(self, client_order_id: str) -> None:
        """The broker cancels on its own (the end of the day, a manual cancel in TWS)."""
        self._cancel(client_order_id)

    def fill(self, client_order_id: str, quantity: float, price: float, commission: float = 0.0,
             ts: datetime | None = None, exec_id: str | None = None, report: bool = True) -> None:
        """One execution of ``quantity`` at ``price``, then its status report and what the OCA
        group and the bracket do about it. ``report=False`` holds the execution and the status
        until ``release`` (the OCA and bracket effects are reported at once, as IB does)."""
        o = self.orders[client_order_id]
        if not o.working:
            raise AssertionError(f"{client_order_id} is {o.status.value}: it cannot fill")
        if o.parent and self.orders[o.parent].status is not S.FILLED:
            raise AssertionError(f"{client_order_id} is inactive until its parent {o.parent} fills")
        if quantity > o.remaining + 1e-9:
            raise AssertionError(f"{client_order_id}: fill {quantity} > remaining {o.remaining}")
        self.exec_seq += 1
        total = o.filled + quantity
        avg = (o.avg_price * o.filled + price * quantity) / total
        status = S.FILLED if total >= o.quantity - 1e-9 else S.PARTIAL
        self.orders[client_order_id] = o = replace(o, filled=total, avg_price=avg, status=status)
        execution = m.OrderFilled(o.correlation_id, client_order_id,
                                  exec_id or f"stub.{self.exec_seq}", o.contract, o.spec.side,
                                  quantity, price, ts or self.clock(), commission)
        reports = [execution, self._status(client_order_id)]
        if report:
            for event in reports:
                self.publish(event)
        else:
            self.held += reports
        self._oca_after_fill(o, quantity)

    def release(self) -> None:
        """Publish the executions and statuses held by ``fill(..., report=False)``."""
        held, self.held = self.held, []
        for event in held:
            self.publish(event)

    # -- internals ----------------------------------------------------------------------------

    def _accept_bracket(self, cmd: m.SubmitBracket) -> None:
        specs = (cmd.parent, cmd.take_profit, cmd.stop)
        orders = tr.bracket_orders(cmd, (1, 2, 3))
        problems = []
        if orders[0].transmit or any(o.transmit for o in orders[1:-1]) or not orders[-1].transmit:
            problems.append("transmit flags: parent and first children False, last child True")
        if any(o.parentId != orders[0].orderId for o in orders[1:]):
            problems.append("children must name the parent's order id")
        parent_id = cmd.parent.client_order_id
        for spec, order in zip(specs, orders, strict=True):
            self._store(cmd.correlation_id, cmd.contract, spec, order,
                        parent="" if spec is cmd.parent else parent_id)
        if problems:
            self.violations += problems
            for spec in specs:
                self.reject(spec.client_order_id, 0, "; ".join(problems))
            return
        for spec in specs:
            self._acked(spec.client_order_id)

    def _accept_order(self, cmd: m.SubmitOrder) -> None:
        spec = cmd.order
        known = self.orders.get(spec.client_order_id)
        if known is not None and not known.working:
            self.publish(m.OrderRejected(cmd.correlation_id, spec.client_order_id, MODIFY_DONE,
                                         f"cannot modify a {known.status.value} order", self.clock()))
            return
        if known is not None:  # modify: the same order, re-placed with new terms
            self.orders[spec.client_order_id] = replace(known, spec=spec, quantity=float(spec.quantity))
            self._report(spec.client_order_id)
            return
        self._store(cmd.correlation_id, cmd.contract, spec, tr.ib_order(spec))
        self._acked(spec.client_order_id)

    def _modify(self, spec: m.OrderSpec) -> None:
        """ModifyOrder: a working order takes the new terms in place (its group, parent and
        fills stay); a finished one is left as it is, and the broker actor reports nothing
        for IB's refusal (``actors/broker/modifies.py``)."""
        known = self.orders[spec.client_order_id]
        if not known.working:
            return
        quantity = max(float(spec.quantity) - (float(known.spec.quantity) - known.quantity), known.filled)
        self.orders[spec.client_order_id] = replace(known, spec=spec, quantity=quantity)
        self._report(spec.client_order_id)

    def _store(self, cid: str, contract: m.OptionContract, spec: m.OrderSpec, order: Any,
               parent: str = "") -> None:
        self.orders[spec.client_order_id] = StubOrder(
            cid, contract, spec, quantity=float(order.totalQuantity), parent=parent,
            oca_group=order.ocaGroup, oca_type=order.ocaType)

    def _acked(self, client_order_id: str) -> None:
        if self.auto_ack:
            self._set(client_order_id, S.ACKED)

    def _on_cancel(self, client_order_id: str) -> None:
        o = self.orders[client_order_id]
        if o.status is S.FILLED:
            text = (f"OrderId {client_order_id} that needs to be cancelled cannot be cancelled, "
                    "state: Filled.")
            self.publish(m.OrderRejected(o.correlation_id, client_order_id, CANCEL_FILLED, text,
                                         self.clock()))
            if any(getattr(e, "client_order_id", "") == client_order_id for e in self.held):
                # ib_insync has not seen the fill yet: it marks the order Cancelled on the error,
                # and the broker actor reports that as REJECTED with IB's text (status_event)
                self.publish(m.OrderStatusChanged(
                    o.correlation_id, client_order_id, S.REJECTED, 0.0, o.quantity, 0.0,
                    self.clock(), reason=f"Error {CANCEL_FILLED}, reqId 0: {text}"))
            self.release()
            self._report(client_order_id)
        elif not o.working:
            self.publish(m.OrderRejected(o.correlation_id, client_order_id, CANCEL_NOT_CANCELLABLE,
                                         "Cancel attempted when order is not in a cancellable state",
                                         self.clock()))
        else:
            self._cancel(client_order_id)

    def _cancel(self, client_order_id: str) -> None:
        cancelled = self.orders[client_order_id]
        self._set(client_order_id, S.CANCELLED)
        for coid, other in list(self.orders.items()):
            child = other.parent == client_order_id
            sibling = (cancelled.oca_group and other.oca_group == cancelled.oca_group
                       and cancelled.oca_type in (1, 2, 3))
            if (child or sibling) and other.working:
                self._set(coid, S.CANCELLED)

    def _oca_after_fill(self, filled: StubOrder, quantity: float) -> None:
        if not filled.oca_group or filled.oca_type not in (1, 2, 3):
            return
        for coid, other in list(self.orders.items()):
            if other is filled or other.oca_group != filled.oca_group or not other.working:
                continue
            if coid == filled.spec.client_order_id:
                continue
            if filled.oca_type == 1:
                self._set(coid, S.CANCELLED)
                continue
            reduced = replace(other, quantity=max(other.quantity - quantity, other.filled))
            self.orders[coid] = reduced
            if reduced.remaining <= 1e-9:
                self._set(coid, S.CANCELLED)
            else:
                self._report(coid)

    def _set(self, client_order_id: str, status: m.OrderStatus) -> None:
        self.orders[client_order_id] = replace(self.orders[client_order_id], status=status)
        self._report(client_order_id)

    def _status(self, client_order_id: str) -> m.OrderStatusChanged:
        o = self.orders[client_order_id]
        return m.OrderStatusChanged(o.correlation_id, client_order_id, o.status, o.filled,
                                    o.remaining, o.avg_price, self.clock())

    def _report(self, client_order_id: str) -> None:
        self.publish(self._status(client_order_id))
