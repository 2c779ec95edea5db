"""Shadow fills for dry runs: our orders matched against live quotes, never sent to IB.

Pure: the broker feeds commands and quotes in and publishes the events that come back, which
are the same ``OrderStatusChanged`` / ``OrderFilled`` a real broker produces, so the execution
actor cannot tell a shadow session from a real one (freqtrade's dry-run idea, injected in one
place instead of ``if dry_run`` branches).

Matching rules (whole quantity, at the touch, like a marketable order at IB):

| order        | fills when                  | at      |
|--------------|-----------------------------|---------|
| BUY  MKT     | an ask exists               | ask     |
| SELL MKT     | a bid exists                | bid     |
| BUY  LMT     | ask <= limit                | ask     |
| SELL LMT     | bid >= limit                | bid     |
| BUY  STP     | ask >= stop (or last >= stop) | ask   |
| SELL STP     | bid <= stop (or last <= stop) | bid   |

Bracket children work only after their parent filled; a fill of one member of an OCA group
cancels the others (ocaType 1); cancelling a parent cancels its children.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot import messages as m

Event = m.OrderStatusChanged | m.OrderFilled


@dataclass
class _Working:
    spec: m.OrderSpec
    contract: m.OptionContract
    correlation_id: str
    order_id: int
    parent: str = ""
    oca: str = ""
    active: bool = True


def _buy_price(spec: m.OrderSpec, q: m.Quote) -> float | None:
    ask = q.ask if q.ask > 0 else None
    triggered = {
        m.OrderType.MARKET: ask is not None,
        m.OrderType.LIMIT: ask is not None
        and spec.limit_price is not None
        and ask <= spec.limit_price,
        m.OrderType.STOP: spec.stop_price is not None
        and (
            (ask is not None and ask >= spec.stop_price)
            or (q.last > 0 and q.last >= spec.stop_price)
        ),
    }[spec.order_type]
    return ask if triggered else None


def _sell_price(spec: m.OrderSpec, q: m.Quote) -> float | None:
    bid = q.bid if q.bid > 0 else None
    triggered = {
        m.OrderType.MARKET: bid is not None,
        m.OrderType.LIMIT: bid is not None
        and spec.limit_price is not None
        and bid >= spec.limit_price,
        m.OrderType.STOP: spec.stop_price is not None
        and ((bid is not None and bid <= spec.stop_price) or (0 < q.last <= spec.stop_price)),
    }[spec.order_type]
    return bid if triggered else None


FILL_PRICE: dict[m.Side, Callable[[m.OrderSpec, m.Quote], float | None]] = {
    m.Side.BUY: _buy_price,
    m.Side.SELL: _sell_price,
}


def fill_price(spec: m.OrderSpec, quote: m.Quote) -> float | None:
    """The price ``spec`` fills at against ``quote``, or None when it does not fill."""
    return FILL_PRICE[spec.side](spec, quote)


@dataclass
class ShadowBook:
    """The working shadow orders of one session, keyed by client order id."""

    commission_per_contract: float = 0.65
    min_commission: float = 1.0
    _orders: dict[str, _Working] = field(default_factory=dict)
    _exec_ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _order_ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    # -- commands ---------------------------------------------------------------------------

    def submit_bracket(self, cmd: m.SubmitBracket, now: datetime) -> list[Event]:
        oca = cmd.take_profit.oca_group or cmd.stop.oca_group or f"oca-{cmd.intent_id}"
        parent = self._add(cmd.parent, cmd.contract, cmd.correlation_id)
        self._add(
            cmd.take_profit,
            cmd.contract,
            cmd.correlation_id,
            parent=parent.spec.client_order_id,
            oca=oca,
        )
        self._add(
            cmd.stop, cmd.contract, cmd.correlation_id, parent=parent.spec.client_order_id, oca=oca
        )
        ids = (
            cmd.parent.client_order_id,
            cmd.take_profit.client_order_id,
            cmd.stop.client_order_id,
        )
        return [self._status(self._orders[i], m.OrderStatus.ACKED, now) for i in ids]

    def submit(self, cmd: m.SubmitOrder, now: datetime) -> list[Event]:
        working = self._add(cmd.order, cmd.contract, cmd.correlation_id, oca=cmd.order.oca_group)
        return [self._status(working, m.OrderStatus.ACKED, now)]

    def modify(self, spec: m.OrderSpec, now: datetime) -> list[Event]:
        """New terms for a working order, in place (its group and parent stay); unknown or
        finished ids produce nothing, as IB keeps nothing to modify."""
        working = self._orders.get(spec.client_order_id)
        if working is None:
            return []
        working.spec = spec
        return [self._status(working, m.OrderStatus.ACKED, now)]

    def cancel(self, client_order_id: str, now: datetime) -> list[Event]:
        """Cancel an order and its children; unknown or finished ids produce nothing."""
        doomed = [
            w
            for w in self._orders.values()
            if client_order_id in (w.spec.client_order_id, w.parent)
        ]
        return [self._remove(w, m.OrderStatus.CANCELLED, now, "cancelled") for w in doomed]

    def knows(self, client_order_id: str) -> bool:
        return client_order_id in self._orders

    def contracts(self) -> list[m.OptionContract]:
        """The contracts with working shadow orders, each once."""
        return list({w.contract.key: w.contract for w in self._orders.values()}.values())

    def instruments(self) -> set[str]:
        """Keys of the contracts with working shadow orders (they need quotes)."""
        return {w.contract.key for w in self._orders.values()}

    # -- market -----------------------------------------------------------------------------

    def on_quote(self, quote: m.Quote) -> list[Event]:
        """Match every active order on this quote's contract; returns the events, in order."""
        events: list[Event] = []
        key = quote.instrument.key
        for working in [w for w in self._orders.values() if w.contract.key == key and w.active]:
            if working.spec.client_order_id in self._orders:  # an OCA sibling may have gone
                events += self._try_fill(working, quote)
        return events

    # -- internals --------------------------------------------------------------------------

    def _add(
        self,
        spec: m.OrderSpec,
        contract: m.OptionContract,
        correlation_id: str,
        *,
        parent: str = "",
        oca: str = "",
    ) -> _Working:
        working = _Working(
            spec, contract, correlation_id, next(self._order_ids), parent, oca, active=not parent
        )
        self._orders[spec.client_order_id] = working
        return working

    def _try_fill(self, working: _Working, quote: m.Quote) -> list[Event]:
        price = fill_price(working.spec, quote)
        if price is None:
            return []
        spec, now = working.spec, quote.ts
        qty = float(spec.quantity)
        commission = max(self.min_commission, self.commission_per_contract * qty)
        fill = m.OrderFilled(
            working.correlation_id,
            spec.client_order_id,
            f"shadow-{next(self._exec_ids):06d}",
            working.contract,
            spec.side,
            qty,
            price,
            now,
            commission,
        )
        events: list[Event] = [fill, self._remove(working, m.OrderStatus.FILLED, now, "", price)]
        for other in list(self._orders.values()):
            if working.oca and other.oca == working.oca:
                events.append(
                    self._remove(other, m.OrderStatus.CANCELLED, now, "OCA group member filled")
                )
            elif other.parent == spec.client_order_id:
                other.active = True
        for child in [w for w in self._orders.values() if w.parent == spec.client_order_id]:
            events += (
                self._try_fill(child, quote) if child.spec.client_order_id in self._orders else []
            )
        return events

    def _remove(
        self,
        working: _Working,
        status: m.OrderStatus,
        now: datetime,
        reason: str,
        price: float = 0.0,
    ) -> m.OrderStatusChanged:
        self._orders.pop(working.spec.client_order_id, None)
        return self._status(working, status, now, reason, price)

    def _status(
        self,
        working: _Working,
        status: m.OrderStatus,
        now: datetime,
        reason: str = "",
        price: float = 0.0,
    ) -> m.OrderStatusChanged:
        qty = float(working.spec.quantity)
        filled = qty if status is m.OrderStatus.FILLED else 0.0
        return m.OrderStatusChanged(
            working.correlation_id,
            working.spec.client_order_id,
            status,
            filled,
            qty - filled,
            price,
            now,
            working.order_id,
            reason,
        )
