"""Shared builders for the matching engine specifications (test_matching*.py): the contracts,
the start quote, an order builder, event filters and a standard bracket."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.sim.contracts import SimContract
from bot.sim.matching import ExecutionEvent, OrderStatusEvent, SimOrder

NOW = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
OPT = SimContract(con_id=901, symbol="SPY", sec_type="OPT", multiplier="100",
                  expiry="20260320", strike=500.0, right="C")
STK = SimContract(con_id=11, symbol="SPY", sec_type="STK")
OPT_QUOTE = (2.00, 2.10, 2.05)


def order(oid: int, action: str, qty: float, order_type: str = "MKT", **fields) -> SimOrder:
    return SimOrder(order_id=oid, client_id=1, perm_id=1000 + oid, action=action,
                    total_qty=qty, order_type=order_type, **fields)


def kinds(events) -> list[str]:
    return [type(e).__name__.removesuffix("Event") for e in events]


def states(events) -> list[tuple[int, str, float, float]]:
    return [(e.order_id, e.status, e.filled, e.remaining)
            for e in events if isinstance(e, OrderStatusEvent)]


def fills(events) -> list[tuple[int, float, float]]:
    return [(e.order_id, e.shares, e.price) for e in events if isinstance(e, ExecutionEvent)]


def place_bracket(engine, parent_type="LMT", parent_price=2.10, qty=2, oca="") -> list:
    """Parent BUY, take-profit SELL LMT 2.60, stop SELL STP 1.60; only the stop transmits."""
    held = engine.place(order(1, "BUY", qty, parent_type, lmt_price=parent_price,
                              transmit=False), OPT)
    held += engine.place(order(2, "SELL", qty, "LMT", lmt_price=2.60, parent_id=1,
                               oca_group=oca, oca_type=1, transmit=False), OPT)
    assert held == []
    return engine.place(order(3, "SELL", qty, "STP", aux_price=1.60, parent_id=1,
                              oca_group=oca, oca_type=1), OPT)
