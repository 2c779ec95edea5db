"""One order's state machine, as a transition table.

    CREATED -> SUBMITTED -> ACKED -> PARTIAL -> FILLED
                     \\         \\        \\-> CANCELLED (the unfilled rest)
                      \\         \\-> CANCELLED / REJECTED
                       \\-> (a fast broker may skip ACKED: SUBMITTED -> PARTIAL / FILLED)

A report that the table does not allow (a late "Submitted" after "Filled", a duplicate) is
ignored rather than moving the order backwards: brokers deliver statuses out of order.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from bot.messages import DONE_STATUSES, OrderSpec, OrderStatus, parse_order_ref

S = OrderStatus
ALLOWED: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.CREATED: frozenset({S.SUBMITTED, S.CANCELLED, S.REJECTED}),
    S.SUBMITTED: frozenset({S.ACKED, S.PARTIAL, S.FILLED, S.CANCELLED, S.REJECTED}),
    S.ACKED: frozenset({S.PARTIAL, S.FILLED, S.CANCELLED, S.REJECTED}),
    S.PARTIAL: frozenset({S.PARTIAL, S.FILLED, S.CANCELLED}),
    S.FILLED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REJECTED: frozenset(),
}


def advance(current: OrderStatus, reported: OrderStatus) -> OrderStatus:
    """The status after a report: the reported one if the table allows it, else unchanged."""
    return reported if reported in ALLOWED[current] else current


@dataclass(frozen=True, slots=True)
class Leg:
    """One order of a trade and what the broker has told us about it."""

    spec: OrderSpec
    status: OrderStatus = S.CREATED
    filled: float = 0.0
    avg_price: float = 0.0
    sent_at: datetime | None = None
    """Wall time the order was sent (for the acknowledgement and fill timeouts)."""
    acked_at: datetime | None = None
    left_at: datetime | None = None
    """Wall time the broker reported the order placed (its first SUBMITTED): the order may
    wait in the bot (the journal's write-ahead, the broker's mailbox) before it leaves."""
    cancel_sent_at: datetime | None = None
    repriced_at: datetime | None = None
    """Wall time a closing order was last modified to a new price (``ModifyOrder``)."""
    resent: int = 0
    """Times an unacknowledged order was placed again with its own id (``ModifyOrder``)."""
    expired_at_close: bool = False
    """A DAY order that was working when the session closed: IB expired it then, whether or
    not its Cancelled has reached the bot (a bot cut off at the close never hears it). It may
    still be reported filled before the close; it no longer protects anything."""
    reason: str = ""
    reported_filled: float = 0.0
    """What the broker's last status says is filled; executions may arrive after it. A status
    ``Filled`` means the whole order (IB's openOrder for a filled order carries no quantity)."""
    role: str = field(init=False)
    """``entry``, ``tp``, ``sl``, ``exit`` ...: from the client order id (``bot.messages.order_ref``)."""
    revision: int = field(init=False)
    """Which exit pair or closing attempt this is: ``sl2`` is 2, ``sl`` is 0."""

    def __post_init__(self) -> None:
        ref = parse_order_ref(self.spec.client_order_id)
        if ref is None:
            raise ValueError(f"not one of our order refs: {self.spec.client_order_id!r}")
        object.__setattr__(self, "role", ref.role)
        object.__setattr__(self, "revision", ref.revision)

    @property
    def done(self) -> bool:
        return self.status in DONE_STATUSES

    @property
    def working(self) -> bool:
        """Sent and not finished: it may still fill."""
        return self.status in (S.SUBMITTED, S.ACKED, S.PARTIAL)

    def sent(self, now: datetime) -> Leg:
        return replace(self, status=advance(self.status, S.SUBMITTED), sent_at=now)

    def reported(self, status: OrderStatus, now: datetime, reason: str = "",
                 filled: float = 0.0) -> Leg:
        new = advance(self.status, status)
        acked = self.acked_at or (now if new in (S.ACKED, S.PARTIAL, S.FILLED) else None)
        left = self.left_at or (now if status is S.SUBMITTED and acked is None else None)
        return replace(self, status=new, acked_at=acked, left_at=left, reason=reason or self.reason,
                       reported_filled=max(self.reported_filled, filled,
                                           implied_filled(self.spec, status)))

    @property
    def waiting_since(self) -> datetime | None:
        """Since when the acknowledgement and fill timeouts count: from when the order left the
        bot if the broker said so, else from when it was sent to the broker actor."""
        return self.left_at or self.sent_at

    @property
    def ended_unfilled(self) -> bool:
        """Done, and neither executions nor the broker's status show any fill."""
        return (self.status in (S.CANCELLED, S.REJECTED) and self.filled == 0
                and self.reported_filled == 0)

    def filled_by(self, quantity: float, price: float) -> Leg:
        total = self.filled + quantity
        avg = (self.avg_price * self.filled + price * quantity) / total if total else 0.0
        status = S.FILLED if total >= self.spec.quantity else S.PARTIAL
        return replace(self, filled=total, avg_price=avg, status=advance(self.status, status))


def implied_filled(spec: OrderSpec, status: OrderStatus) -> float:
    """What a status says is filled even without a quantity: all of it for ``Filled`` (IB's
    openOrder for a filled order carries the status only)."""
    return spec.quantity if status is S.FILLED else 0.0
