"""Specification of bot.trading.sizing: the risk budget decides the size, never a forced minimum."""

from __future__ import annotations

import math

import pytest

from bot.trading.sizing import SizeDecision, size_entry


@pytest.mark.parametrize(
    ("equity", "risk_pct", "premium", "stop_pct", "max_contracts", "multiplier", "expected"),
    [
        (25_000, 1.0, 1.60, 20, 10, 100,
         SizeDecision(7, 250.0, 32.0, "risk budget 250.00 / 32.00 per contract = 7 contracts")),
        (2_000, 1.0, 2.50, 20, 10, 100,
         SizeDecision(0, 20.0, 50.0, "risk budget 20.00 < 50.00 risk per contract")),
        (5_000, 1.0, 3.20, 20, 10, 100,
         SizeDecision(0, 50.0, 64.0, "risk budget 50.00 < 64.00 risk per contract")),
        # budget exactly two contracts' risk: 6400 * 1% = 64 = 2 * (1.60 * 100 * 20%)
        (6_400, 1.0, 1.60, 20, 10, 100,
         SizeDecision(2, 64.0, 32.0, "risk budget 64.00 / 32.00 per contract = 2 contracts")),
        # float arithmetic drifts here (0.55 * 100 * 20 / 100 = 11.000000000000002 > 11.0 budget,
        # 0.14 * 100 * 10 / 100 = 1.4000000000000004): plain floats would answer 0 and 4
        (1_000, 1.1, 0.55, 20, 10, 100,
         SizeDecision(1, 11.0, 11.0, "risk budget 11.00 / 11.00 per contract = 1 contract")),
        (1_000, 0.7, 0.14, 10, 10, 100,
         SizeDecision(5, 7.0, 1.4, "risk budget 7.00 / 1.40 per contract = 5 contracts")),
        (30_000, 0.3, 0.10, 30, 10, 100,  # 90 / 3 = 30 exactly, capped at 10
         SizeDecision(10, 90.0, 3.0,
                      "risk budget 90.00 / 3.00 per contract = 30 contracts, capped at 10")),
        # budget exactly one contract's risk buys one
        (3_200, 1.0, 1.60, 20, 10, 100,
         SizeDecision(1, 32.0, 32.0, "risk budget 32.00 / 32.00 per contract = 1 contract")),
        (3_199.99, 1.0, 1.60, 20, 10, 100,
         SizeDecision(0, 31.9999, 32.0, "risk budget 31.99 < 32.00 risk per contract")),
        # a mini option (multiplier 10)
        (10_000, 2.0, 4.00, 25, 50, 10,
         SizeDecision(20, 200.0, 10.0, "risk budget 200.00 / 10.00 per contract = 20 contracts")),
    ],
)
def test_size_entry(equity, risk_pct, premium, stop_pct, max_contracts, multiplier,
                    expected) -> None:
    got = size_entry(equity, risk_pct, premium, stop_pct, max_contracts, multiplier)

    assert got == expected


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ((25_000, 1.0, 0.0, 20, 10), "invalid premium 0.0"),
        ((25_000, 1.0, -1.2, 20, 10), "invalid premium -1.2"),
        ((25_000, 1.0, math.nan, 20, 10), "invalid premium nan"),
        ((0.0, 1.0, 1.60, 20, 10), "invalid equity 0.0"),
        ((-500.0, 1.0, 1.60, 20, 10), "invalid equity -500.0"),
        ((math.inf, 1.0, 1.60, 20, 10), "invalid equity inf"),
        ((25_000, 0.0, 1.60, 20, 10), "invalid risk pct 0.0"),
        ((25_000, 1.0, 1.60, 0.0, 10), "invalid stop pct 0.0"),
        ((25_000, 1.0, 1.60, 20, 0), "invalid max contracts 0"),
    ],
)
def test_invalid_inputs_size_zero(args, reason) -> None:
    assert size_entry(*args) == SizeDecision(0, 0.0, 0.0, reason)


def test_size_never_exceeds_the_budget() -> None:
    # Sweep premiums in cents: whatever the size, its risk fits in the budget and one more doesn't.
    for cents in range(5, 2_001, 7):
        premium = cents / 100
        decision = size_entry(10_000, 1.0, premium, 20, 1_000)
        assert decision.quantity * decision.risk_per_contract <= decision.budget + 1e-9
        assert (decision.quantity + 1) * decision.risk_per_contract > decision.budget
