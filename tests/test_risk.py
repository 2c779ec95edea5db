"""Specification of bot.trading.risk: the entry gate's rules in order, and the state transitions."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from pure_helpers import ny, risk_cfg

from bot.trading.risk import (
    RiskState,
    budget_used_pct,
    entry_denial,
    initial_state,
    loss_cap,
    on_approved,
    on_closed,
    on_expired,
    on_opened,
    reserved_total,
    roll_day,
    with_equity,
)

CFG = risk_cfg()  # daily loss 3%, 6 trades, 2 open, 3 consecutive losses
CAP_REACHED = "daily loss cap reached: realized {:.2f} <= -300.00 (3.0% of 10000.00)"
MONDAY = ny(2024, 6, 10, 10, 0)
FRESH = initial_state(MONDAY, 10_000.0)


def holding(state: RiskState, symbol: str) -> RiskState:
    """``state`` with one more open position on ``symbol``."""
    return replace(state, open_positions=state.open_positions + 1,
                   open_symbols=state.open_symbols | {symbol})


def waiting(state: RiskState, symbol: str) -> RiskState:
    """``state`` with one more pending entry on ``symbol``."""
    return replace(state, pending=state.pending + 1,
                   pending_symbols=state.pending_symbols | {symbol})


def test_initial_state() -> None:
    expected = RiskState(day=date(2024, 6, 10), start_equity=10_000.0, equity=10_000.0,
                         realized_pnl=0.0, trades=0, pending=0, open_positions=0,
                         consecutive_losses=0, open_symbols=frozenset(),
                         pending_symbols=frozenset())

    assert expected == FRESH


def test_initial_state_uses_the_new_york_date() -> None:
    late_monday = datetime(2024, 6, 11, 3, 30, tzinfo=UTC)  # 23:30 Monday in New York

    assert initial_state(late_monday, 1.0).day == date(2024, 6, 10)


@pytest.mark.parametrize(
    ("state", "kwargs", "expected"),
    [
        (FRESH, {}, None),
        (FRESH, {"kill_switch": True}, "kill switch engaged"),
        (FRESH, {"paused_reason": "broker data stale"}, "broker data stale"),
        (holding(FRESH, "SPY"), {}, "already holding SPY"),
        (waiting(FRESH, "SPY"), {}, "already holding SPY"),
        (holding(FRESH, "QQQ"), {}, None),
        (replace(FRESH, realized_pnl=-312.50), {}, CAP_REACHED.format(-312.50)),
        (replace(FRESH, realized_pnl=-300.0), {}, CAP_REACHED.format(-300.0)),
        (replace(FRESH, realized_pnl=-299.99), {}, None),
        (replace(FRESH, start_equity=0.0, equity=0.0), {}, "account equity unknown"),
        (replace(FRESH, trades=6), {}, "trades per day: 6 of 6"),
        (waiting(replace(FRESH, trades=5), "QQQ"), {}, "trades per day: 6 of 6"),
        (replace(FRESH, trades=5), {}, None),
        (holding(holding(FRESH, "QQQ"), "IWM"), {}, "open positions: 2 of 2"),
        (waiting(holding(FRESH, "QQQ"), "IWM"), {}, "open positions: 2 of 2"),
        (replace(FRESH, consecutive_losses=3), {}, "consecutive losses: 3 of 3"),
        (replace(FRESH, consecutive_losses=2), {}, None),
    ],
)
def test_entry_denial_rules(state: RiskState, kwargs: dict, expected: str | None) -> None:
    kwargs = {"kill_switch": False, "now": MONDAY, **kwargs}

    assert entry_denial(state, CFG, "SPY", **kwargs) == expected


def test_the_first_failing_rule_is_reported() -> None:
    everything_wrong = replace(FRESH, realized_pnl=-500.0, trades=6, open_positions=2,
                               consecutive_losses=3, open_symbols=frozenset({"SPY", "QQQ"}))
    rules = [
        ({"kill_switch": True, "paused_reason": "broker data stale"}, "SPY", "kill switch engaged"),
        ({"kill_switch": False, "paused_reason": "broker data stale"}, "SPY", "broker data stale"),
        ({"kill_switch": False}, "SPY", "already holding SPY"),
        ({"kill_switch": False}, "IWM", CAP_REACHED.format(-500.0)),
    ]
    for kwargs, symbol, expected in rules:
        assert entry_denial(everything_wrong, CFG, symbol, now=MONDAY, **kwargs) == expected
    no_loss = replace(everything_wrong, realized_pnl=0.0)
    assert entry_denial(no_loss, CFG, "IWM", kill_switch=False, now=MONDAY) == "trades per day: 6 of 6"


def test_float_noise_does_not_hide_a_reached_cap() -> None:
    state = FRESH
    for pnl in (-34.81, -91.82, -130.54, -42.83):  # exactly -300.00 in cents
        state = on_closed(on_opened(on_approved(state, "SPY", 50.0), "SPY", 50.0), "SPY", pnl)

    assert state.realized_pnl == -299.99999999999994  # what plain float addition gives
    fresh_counts = replace(state, trades=0, consecutive_losses=0)
    assert entry_denial(fresh_counts, CFG, "SPY", kill_switch=False, now=MONDAY) == CAP_REACHED.format(-300.0)


def test_zero_limits_deny_everything() -> None:
    cfg = risk_cfg(max_trades_per_day=0)

    assert entry_denial(FRESH, cfg, "SPY", kill_switch=False, now=MONDAY) == "trades per day: 0 of 0"


def test_a_trade_life_cycle_reserves_its_worst_case_until_the_close() -> None:
    approved = on_approved(FRESH, "SPY", 99.9)
    opened = on_opened(approved, "SPY", 33.3)  # a first partial: the approved size may still fill
    closed = on_closed(opened, "SPY", -125.0)

    assert (approved.pending, approved.pending_symbols) == (1, frozenset({"SPY"}))
    assert approved.trades == 0
    assert reserved_total(approved) == 99.9
    assert (opened.pending, opened.open_positions, opened.trades) == (0, 1, 1)
    assert (opened.pending_symbols, opened.open_symbols) == (frozenset(), frozenset({"SPY"}))
    assert reserved_total(opened) == 99.9
    assert closed == replace(FRESH, trades=1, realized_pnl=-125.0, equity=9_875.0,
                             consecutive_losses=1)
    assert reserved_total(closed) == 0.0


def test_an_entry_that_never_fills_releases_its_reservation() -> None:
    expired = on_expired(on_approved(FRESH, "SPY", 99.9), "SPY")

    assert expired == FRESH
    assert reserved_total(expired) == 0.0
    assert on_expired(FRESH, "SPY") == FRESH  # not pending: nothing to undo


def test_a_fill_that_was_not_pending_and_a_repeated_fill() -> None:
    adopted = on_opened(FRESH, "QQQ", 40.0)

    assert (adopted.pending, adopted.open_positions, adopted.trades) == (0, 1, 1)
    assert reserved_total(adopted) == 40.0
    assert on_opened(adopted, "QQQ", 80.0) == adopted


@pytest.mark.parametrize(
    ("pnls", "streak", "realized"),
    [
        ([-50.0, -60.0, -70.0], 3, -180.0),
        ([-50.0, 20.0, -70.0], 1, -100.0),
        ([-50.0, -60.0, 0.0], 0, -110.0),   # a scratch ends the streak
        ([125.5, 30.25], 0, 155.75),
    ],
)
def test_closing_tracks_pnl_and_the_losing_streak(pnls: list[float], streak: int,
                                                   realized: float) -> None:
    state = FRESH
    for pnl in pnls:
        state = on_closed(on_opened(on_approved(state, "SPY", 50.0), "SPY", 50.0), "SPY", pnl)

    assert (state.consecutive_losses, state.realized_pnl) == (streak, realized)
    assert state.equity == 10_000 + realized
    assert (state.trades, state.open_positions, state.open_symbols) == (len(pnls), 0, frozenset())


def test_roll_day_resets_the_day_and_keeps_positions() -> None:
    busy = replace(waiting(holding(FRESH, "QQQ"), "SPY"), equity=9_700.0, realized_pnl=-300.0,
                   trades=4, consecutive_losses=2)

    rolled = roll_day(busy, ny(2024, 6, 11, 9, 30))

    assert rolled == replace(busy, day=date(2024, 6, 11), start_equity=9_700.0, realized_pnl=0.0,
                             trades=0, consecutive_losses=0)
    assert entry_denial(rolled, CFG, "IWM", kill_switch=False, now=MONDAY) == "open positions: 2 of 2"


@pytest.mark.parametrize(
    "ts",
    [
        ny(2024, 6, 10, 15, 59),
        ny(2024, 6, 10, 23, 30),                              # later the same New York day
        datetime(2024, 6, 11, 3, 59, tzinfo=UTC),    # Tuesday in UTC, Monday in NY
        ny(2024, 6, 7, 12, 0),                                # an earlier day: never backwards
    ],
)
def test_roll_day_is_a_no_op_within_the_new_york_day(ts: datetime) -> None:
    state = replace(FRESH, realized_pnl=-100.0, trades=2)

    assert roll_day(state, ts) is state


@pytest.mark.parametrize(
    ("state", "equity", "expected_equity", "expected_start"),
    [
        (FRESH, 10_250.0, 10_250.0, 10_000.0),
        (FRESH, math.nan, 10_000.0, 10_000.0),
        (FRESH, 0.0, 10_000.0, 10_000.0),
        (FRESH, -5.0, 10_000.0, 10_000.0),
        (initial_state(MONDAY, 0.0), 8_000.0, 8_000.0, 8_000.0),  # first figure of the day
    ],
)
def test_with_equity(state: RiskState, equity: float, expected_equity: float,
                     expected_start: float) -> None:
    updated = with_equity(state, equity)

    assert (updated.equity, updated.start_equity) == (expected_equity, expected_start)


@pytest.mark.parametrize(
    ("realized", "expected"),
    [(0.0, 0.0), (150.0, 0.0), (-75.0, 25.0), (-300.0, 100.0), (-450.0, 150.0)],
)
def test_budget_used_pct(realized: float, expected: float) -> None:
    state = replace(FRESH, realized_pnl=realized)

    assert loss_cap(state, CFG) == 300.0
    assert budget_used_pct(state, CFG) == pytest.approx(expected)


def test_budget_used_pct_without_equity() -> None:
    assert budget_used_pct(initial_state(MONDAY, 0.0), CFG) == 0.0
