"""The periodic check of invariant 3: what IB holds equals what the broker has reported.

Pure. Every ``execution.verify_every_s`` the broker reads the positions and orders ib_insync
already holds (``ib.positions()``, ``ib.trades()``: no request to IB) and compares them with
the last ``PositionChanged`` and ``OrderStatusChanged`` it published; every difference is a
``Drift``. The broker reports each one (``ReconcileMismatch`` ``verify_<kind>``, logged at
WARNING and journaled) and acts by these rules, never by assuming:

| kind              | IB holds                      | reported           | action                      |
|-------------------|-------------------------------|--------------------|-----------------------------|
| position          | quantity Q                    | another quantity   | PositionChanged(Q) published|
| order_status      | our order with status X       | another status     | its status published again  |
| order_unreported  | our order                     | nothing            | its status published        |
| order_missing     | no such order (full answer)   | a working status   | reported only               |

Unknown is never empty: the check runs only while connected and after this connection's
snapshot came complete; otherwise it is skipped and says why. It never cancels, places or
re-arms anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

QTY_EPS = 1e-9
WORKING = frozenset({"SUBMITTED", "ACKED", "PARTIAL"})


@dataclass(frozen=True, slots=True)
class Drift:
    kind: str
    """position, order_status, order_unreported, order_missing."""
    key: str
    """The position's description or the client order id."""
    detail: str


def compare(
    reported_positions: Mapping[str, float],
    positions: Mapping[str, float],
    reported_orders: Mapping[str, str],
    orders: Mapping[str, str],
) -> list[Drift]:
    """Differences between what IB holds (``positions``, ``orders``: client order id -> status
    value) and what was reported; in a stable order (positions, then orders, by key)."""
    drifts = []
    for key in sorted(set(reported_positions) | set(positions)):
        held, told = positions.get(key, 0.0), reported_positions.get(key, 0.0)
        if abs(held - told) > QTY_EPS:
            drifts.append(Drift("position", key, f"IB holds {held:g}, reported {told:g}"))
    for ref in sorted(set(reported_orders) | set(orders)):
        status, told = orders.get(ref), reported_orders.get(ref)
        if status is None:
            if told in WORKING:
                drifts.append(Drift("order_missing", ref,
                                    f"reported {told}, IB has no such order: left as it is"))
        elif told is None:
            drifts.append(Drift("order_unreported", ref, f"IB says {status}, never reported"))
        elif status != told:
            drifts.append(Drift("order_status", ref, f"IB says {status}, reported {told}"))
    return drifts
