"""The periodic check (invariant 3) as a pure comparison: IB's held data against what was reported."""

from __future__ import annotations

import pytest

from bot.ib.verify import Drift, compare


@pytest.mark.parametrize(
    ("reported_positions", "positions", "reported_orders", "orders", "drifts"),
    [
        ({"SPY C598": 2.0}, {"SPY C598": 2.0}, {"I1.tp": "ACKED"}, {"I1.tp": "ACKED"}, []),
        ({"SPY C598": 2.0}, {}, {}, {},
         [Drift("position", "SPY C598", "IB holds 0, reported 2")]),
        ({}, {"SPY C598": 1.0}, {}, {},
         [Drift("position", "SPY C598", "IB holds 1, reported 0")]),
        ({}, {}, {"I1.tp": "ACKED"}, {"I1.tp": "FILLED"},
         [Drift("order_status", "I1.tp", "IB says FILLED, reported ACKED")]),
        ({}, {}, {}, {"I1.sl": "ACKED"},
         [Drift("order_unreported", "I1.sl", "IB says ACKED, never reported")]),
        ({}, {}, {"I1.sl": "ACKED"}, {},
         [Drift("order_missing", "I1.sl", "reported ACKED, IB has no such order: left as it is")]),
        ({}, {}, {"I1.sl": "CANCELLED"}, {}, []),  # done and forgotten by IB: nothing to say
    ],
    ids=["equal", "position-gone", "position-new", "status", "unreported", "missing", "done"],
)
def test_differences_between_ib_and_what_was_reported(
    reported_positions, positions, reported_orders, orders, drifts
):
    assert compare(reported_positions, positions, reported_orders, orders) == drifts
