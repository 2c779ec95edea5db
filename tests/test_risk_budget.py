"""Specification of the hard limits in bot.trading.risk: the worst case every entry reserves
against the daily loss cap, the losing streak counting entries still in flight, and the
flat-before-close window, all judged on market time."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pure_helpers import ny, risk_cfg

from bot.trading.risk import (
    EntryGate,
    budget_denial,
    entry_denial,
    gate_entry,
    initial_state,
    on_approved,
    on_closed,
    on_expired,
    on_opened,
    on_recovered,
    on_recovered_trade,
    reserved_total,
    worst_case_loss,
)

CFG = risk_cfg()  # cap 3% of 10,000 = 300; 1% per trade; stop 20%; 0.65 per contract, 1.00 min
MONDAY = ny(2024, 6, 10, 11, 0)
FRESH = initial_state(MONDAY, 10_000.0)
DOWN_150 = replace(FRESH, realized_pnl=-150.0)
# 3 SPY contracts at 1.60, stop 1.28: 0.32 x 3 x 100 = 96.00, plus 2 x 3 x 0.65 = 3.90
SPY_3_AT_160 = 99.90


@pytest.mark.parametrize(
    ("symbol", "premium", "quantity", "expected"),
    [
        ("SPY", 1.60, 3, 96.00 + 2 * 1.95),
        ("SPY", 1.60, 1, 32.00 + 2 * 1.00),           # one contract pays the 1.00 minimum per order
        ("SPY", 1.63, 2, 0.32 * 200 + 2 * 1.30),      # stop 1.304 rounds up to 1.31
        ("AAPL", 4.00, 1, 0.80 * 100 + 2 * 1.00),     # nickel ticks from 3.00: stop 3.20
        ("SPY", 0.01, 1, 0.01 * 100 + 2 * 1.00),      # no room for a stop: the premium is lost whole
        ("SPY", 1.60, 0, 0.0),
    ],
)
def test_worst_case_is_entry_minus_stop_times_size_plus_round_trip_commissions(
        symbol: str, premium: float, quantity: int, expected: float) -> None:
    assert worst_case_loss(symbol, premium, quantity, 100, CFG) == pytest.approx(expected, abs=1e-9)


def test_the_commission_estimate_is_a_setting() -> None:
    cfg = risk_cfg(commission_per_contract=1.0, commission_min_per_order=0.0)

    assert worst_case_loss("SPY", 1.60, 3, 100, cfg) == pytest.approx(96.0 + 6.0)


@pytest.mark.parametrize(
    ("state", "worst_case", "fits"),
    [
        (FRESH, 300.0, True),                                  # exactly the cap
        (FRESH, 300.01, False),
        (DOWN_150, 150.0, True),
        (DOWN_150, 150.01, False),
        (replace(FRESH, realized_pnl=400.0), 300.01, False),   # a profit never enlarges the budget
        (on_approved(DOWN_150, "QQQ", 100.0), 50.0, True),
        (on_approved(DOWN_150, "QQQ", 100.0), 50.01, False),   # a pending entry is reserved
        (on_opened(on_approved(DOWN_150, "QQQ", 100.0), "QQQ", 10.0), 50.01, False),  # an open one too
    ],
)
def test_realized_loss_plus_reservations_plus_the_entry_must_fit_the_cap(state, worst_case,
                                                                       fits) -> None:
    assert (budget_denial(state, CFG, worst_case) is None) is fits


def test_the_budget_denial_names_every_figure() -> None:
    state = on_approved(DOWN_150, "QQQ", SPY_3_AT_160)

    reason = budget_denial(state, CFG, SPY_3_AT_160)

    assert reason == ("daily loss cap: realized loss 150.00 + reserved 99.90 + this entry's worst "
                      "case 99.90 = 349.80 > cap 300.00 (3.0% of 10000.00)")


def test_gate_sizes_then_reserves_and_denies_the_entry_that_would_pass_the_cap() -> None:
    first = gate_entry(DOWN_150, CFG, "SPY", 1.60, 100, now=MONDAY, kill_switch=False)
    after_first = on_approved(DOWN_150, "SPY", first.worst_case)
    second = gate_entry(after_first, CFG, "QQQ", 1.60, 100, now=MONDAY, kill_switch=False)

    assert (first.quantity, first.worst_case) == (3, pytest.approx(SPY_3_AT_160))
    assert first.reason.endswith("worst case 99.90")
    assert second.quantity == 0
    assert second.reason.startswith("daily loss cap: realized loss 150.00 + reserved 99.90")


@pytest.mark.parametrize(
    ("release", "pnl"),
    [("expired", None), ("closed", -20.0)],
)
def test_a_reservation_is_released_when_the_entry_expires_or_the_position_closes(release, pnl):
    held = on_approved(DOWN_150, "SPY", SPY_3_AT_160)
    if release == "expired":
        after = on_expired(held, "SPY")
    else:
        after = on_closed(on_opened(held, "SPY", SPY_3_AT_160), "SPY", pnl)

    gate = gate_entry(after, CFG, "QQQ", 1.60, 100, now=MONDAY, kill_switch=False)

    assert reserved_total(after) == 0.0
    assert gate.quantity == 3


def test_a_denied_gate_reserves_nothing() -> None:
    gate = gate_entry(FRESH, CFG, "SPY", 1.60, 100, now=MONDAY, kill_switch=True)

    assert gate == EntryGate(0, 0.0, "kill switch engaged")


@pytest.mark.parametrize(
    ("streak", "in_flight", "expected"),
    [
        (2, 0, None),
        (2, 1, "consecutive losses: 3 of 3 (2 lost + 1 open or pending that may lose)"),
        (1, 2, "consecutive losses: 3 of 3 (1 lost + 2 open or pending that may lose)"),
        (0, 2, None),
    ],
)
def test_entries_in_flight_count_as_possible_losses_of_the_streak(streak, in_flight, expected):
    cfg = risk_cfg(max_open_positions=5)
    state = replace(FRESH, consecutive_losses=streak)
    for symbol in ("QQQ", "IWM")[:in_flight]:
        state = on_approved(state, symbol, 10.0)

    assert entry_denial(state, cfg, "SPY", now=MONDAY, kill_switch=False) == expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (ny(2024, 6, 10, 15, 49), None),
        (ny(2024, 6, 10, 15, 50), "flat before close: 10.0 min to the 16:00 New York close, "
                                  "entries stop 10 min before it"),
        (ny(2024, 6, 10, 15, 59, 30), "flat before close: 0.5 min to the 16:00 New York close, "
                                      "entries stop 10 min before it"),
        (ny(2024, 6, 10, 16, 0), "market closed: no entries after the close"),
        (ny(2024, 6, 10, 20, 0), "market closed: no entries after the close"),
        (ny(2024, 11, 29, 12, 49), None),   # the day after Thanksgiving closes at 13:00
        (ny(2024, 11, 29, 12, 55), "flat before close: 5.0 min to the 13:00 New York close, "
                                   "entries stop 10 min before it"),
        (ny(2024, 11, 29, 14, 0), "market closed: no entries after the close"),
        (ny(2024, 6, 15, 12, 0), "market closed: no entries after the close"),  # a Saturday
    ],
)
def test_no_entry_inside_the_flat_before_close_window_of_the_proposal_time(now, expected):
    state = initial_state(now, 10_000.0)

    assert entry_denial(state, CFG, "SPY", now=now, kill_switch=False) == expected


def test_a_recovered_trade_still_working_is_pending_and_reserved() -> None:
    state = on_recovered_trade(FRESH, "SPY", SPY_3_AT_160, pending=True)

    assert (state.pending, reserved_total(state)) == (1, pytest.approx(SPY_3_AT_160))


def test_a_recovered_position_counts_its_noted_worst_case_once_held() -> None:
    noted = on_recovered_trade(FRESH, "SPY", SPY_3_AT_160, pending=False)
    held = on_recovered(noted, "SPY")

    assert reserved_total(noted) == 0.0  # not known held yet (it may have closed while down)
    assert reserved_total(held) == pytest.approx(SPY_3_AT_160)
    assert reserved_total(on_closed(held, "SPY", -50.0)) == 0.0
