"""StubBroker: a scripted stand-in for the BrokerActor, speaking the same messages.

Accepts the broker commands (RequestChain, QuoteOptions, SubscribeQuotes, UnsubscribeQuotes,
SubmitBracket, SubmitOrder, CancelOrder) and answers them from a script: chains and option
quotes set beforehand, acknowledgements sent at once unless ``auto_ack`` is off, fills only
when the test calls ``fill``. Tests drive it through its proxy (``stub.proxy().fill(...)``):
proxy calls run in the stub's own thread, so ordering with the messages it publishes holds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from actors.base import BotActor, utc_now
from bot import messages as m
from bot.app.routing import Directory

S = m.OrderStatus


@dataclass(frozen=True, slots=True)
class StubOrder:
    correlation_id: str
    contract: m.OptionContract
    spec: m.OrderSpec
    status: m.OrderStatus = S.SUBMITTED
    filled: float = 0.0
    avg_price: float = 0.0


class StubBroker(BotActor):
    name = "broker"

    def __init__(self, directory: Directory, clock: Any = utc_now, *, auto_ack: bool = True,
                 chains: dict[str, m.OptionChain] | None = None) -> None:
        super().__init__(directory, clock)
        self.auto_ack = auto_ack
        self.chains = dict(chains or {})
        self.option_quotes: dict[str, m.Quote] = {}
        self.orders: dict[str, StubOrder] = {}
        self.received: list[Any] = []
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
            case m.SubmitBracket():
                for spec in (message.parent, message.take_profit, message.stop):
                    self._accept(message.correlation_id, message.contract, spec)
            case m.SubmitOrder():
                self._accept(message.correlation_id, message.contract, message.order)
            case m.CancelOrder(client_order_id=coid) if self.auto_ack and coid in self.orders:
                self._set(coid, S.CANCELLED)
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

    def commands(self, kind: type | None = None) -> tuple[Any, ...]:
        return tuple(c for c in self.received if kind is None or isinstance(c, kind))

    def order(self, client_order_id: str) -> StubOrder | None:
        return self.orders.get(client_order_id)

    def ack(self, client_order_id: str) -> None:
        self._set(client_order_id, S.ACKED)

    def reject(self, client_order_id: str, code: int = 201, reason: str = "rejected") -> None:
        o = self.orders[client_order_id]
        self.orders[client_order_id] = replace(o, status=S.REJECTED)
        self.publish(m.OrderRejected(o.correlation_id, client_order_id, code, reason, self.clock()))

    def cancel(self, client_order_id: str) -> None:
        """The broker cancels on its own (an OCA sibling, the end of the day)."""
        self._set(client_order_id, S.CANCELLED)

    def fill(self, client_order_id: str, quantity: float, price: float, commission: float = 0.0,
             ts: datetime | None = None, exec_id: str | None = None) -> None:
        """One execution of ``quantity`` at ``price``, then its status report."""
        o = self.orders[client_order_id]
        self.exec_seq += 1
        total = o.filled + quantity
        avg = (o.avg_price * o.filled + price * quantity) / total
        status = S.FILLED if total >= o.spec.quantity else S.PARTIAL
        self.orders[client_order_id] = replace(o, filled=total, avg_price=avg, status=status)
        when = ts or self.clock()
        self.publish(m.OrderFilled(o.correlation_id, client_order_id, exec_id or f"stub.{self.exec_seq}",
                                   o.contract, o.spec.side, quantity, price, when, commission))
        self._report(client_order_id)

    # -- internals ----------------------------------------------------------------------------

    def _accept(self, cid: str, contract: m.OptionContract, spec: m.OrderSpec) -> None:
        self.orders[spec.client_order_id] = StubOrder(cid, contract, spec)
        if self.auto_ack:
            self._set(spec.client_order_id, S.ACKED)

    def _set(self, client_order_id: str, status: m.OrderStatus) -> None:
        self.orders[client_order_id] = replace(self.orders[client_order_id], status=status)
        self._report(client_order_id)

    def _report(self, client_order_id: str) -> None:
        o = self.orders[client_order_id]
        self.publish(m.OrderStatusChanged(o.correlation_id, client_order_id, o.status, o.filled,
                                          o.spec.quantity - o.filled, o.avg_price, self.clock()))
