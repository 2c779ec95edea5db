"""Ready before the signal (``bot.trading.prewarm``): which options stay warm, when the set
re-centres, the line budget, and when warm quotes may decide an entry."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pure_helpers import ny, options_cfg
from pydantic import ValidationError

from bot.app.config import Settings
from bot.ib.pacing import Limits
from bot.messages import OptionChain, OptionContract, Quote, Right
from bot.trading import prewarm
from bot.trading.selection import candidate_contracts

TODAY = date(2026, 11, 18)
NOW = ny(2026, 11, 18, 10, 30)
CHAIN = OptionChain("SPY", ("20261118", "20261120"), tuple(float(k) for k in range(580, 621)))
IB_LINES = 100
GOVERNOR_LINES = Limits().lines


def quote(contract: OptionContract, bid: float = 1.50, ask: float = 1.55, *, age_s: float = 0.0,
          volume: float = 500.0) -> Quote:
    return Quote(contract, bid, ask, (bid + ask) / 2, NOW - timedelta(seconds=age_s), volume=volume)


# -- the budget -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "symbols", "positions", "window", "expected"),
    [
        (4, 3, 2, 3, 4),  # the defaults: plenty of room
        (4, 8, 2, 3, 4),  # 8 + 2 + 2 x 6 = 22 reserved, 68 / 8 = 8 free each
        (4, 8, 8, 3, 2),  # 8 + 8 + 8 x 6 = 64 reserved, 26 / 8 = 3, made even
        (4, 30, 10, 3, 0),  # nothing left once 30 symbols and their selections are reserved
        (5, 1, 1, 3, 4),  # an odd budget: calls and puts alike
        (0, 3, 2, 3, 0),  # off
    ],
)
def test_the_warm_lines_per_symbol_fit_what_the_rest_of_the_bot_may_need(setting, symbols,
                                                                         positions, window, expected):
    cfg = options_cfg(prewarm_lines_per_symbol=setting, strike_window=window)

    assert prewarm.lines_per_symbol(cfg, symbols, positions, GOVERNOR_LINES) == expected


def test_delta_selection_keeps_nothing_warm():
    cfg = options_cfg(selection="delta")

    assert prewarm.lines_per_symbol(cfg, 3, 2, GOVERNOR_LINES) == 0
    assert prewarm.warm_contracts(CHAIN, 600.2, TODAY, cfg, 4) == ()


# -- which options, and re-centring -----------------------------------------------------------


def test_a_call_and_a_put_of_the_strikes_nearest_spot_for_the_expiry_selection_takes():
    cfg = options_cfg(max_dte=7)

    warm = prewarm.warm_contracts(CHAIN, 600.4, TODAY, cfg, 4)

    assert [(c.expiry, c.strike, c.right) for c in warm] == [
        ("20261118", 600.0, Right.CALL), ("20261118", 600.0, Right.PUT),
        ("20261118", 601.0, Right.CALL), ("20261118", 601.0, Right.PUT)]


@pytest.mark.parametrize(
    ("current", "spot", "expected"),
    [
        ((600.0, 601.0), 601.45, (600.0, 601.0)),  # nearest strike 601 still warm: no move
        ((600.0, 601.0), 599.6, (600.0, 601.0)),  # nearest 600: no move
        ((600.0, 601.0), 601.6, (601.0, 602.0)),  # nearest 602 is not warm: re-centre
        ((600.0, 601.0), 597.2, (597.0, 598.0)),  # a jump: the two nearest
        ((), 600.4, (600.0, 601.0)),  # nothing yet
    ],
)
def test_the_set_re_centres_only_when_the_nearest_strike_left_it(current, spot, expected):
    assert prewarm.warm_strikes(CHAIN.strikes, spot, 2, current) == expected


def test_no_spot_or_no_strikes_keeps_nothing_warm():
    assert prewarm.warm_strikes(CHAIN.strikes, float("nan"), 2) == ()
    assert prewarm.warm_strikes((), 600.0, 2) == ()
    assert prewarm.warm_contracts(CHAIN, 600.0, TODAY, options_cfg(max_dte=7), 1) == ()


# -- deciding from warm quotes ----------------------------------------------------------------


def _candidates(spot: float, right: Right = Right.CALL) -> tuple[OptionContract, ...]:
    return candidate_contracts(CHAIN, spot, right, TODAY, options_cfg(max_dte=7, strike_window=3))


def test_the_warm_nearest_strike_decides_as_the_full_path_would():
    cfg = options_cfg(max_dte=7, strike_window=3)
    warm = {c.key: quote(c) for c in prewarm.warm_contracts(CHAIN, 600.4, TODAY, cfg, 4)}

    chosen = prewarm.decide_from_warm(_candidates(600.4), warm, 600.4, Right.CALL, NOW, cfg)

    assert chosen is not None and chosen.contract.strike == 600.0


@pytest.mark.parametrize(
    ("why", "spot", "warm_strikes", "age_s", "spread"),
    [
        ("a nearer strike is not warm", 601.6, (600.0, 601.0), 0.0, 0.05),
        ("the warm quotes are stale", 600.4, (600.0, 601.0), 31.0, 0.05),
        ("the warm quotes are too wide to pass", 600.4, (600.0, 601.0), 0.0, 1.0),
        ("nothing is warm", 600.4, (), 0.0, 0.05),
    ],
)
def test_the_full_path_asks_when_warm_quotes_cannot_settle_the_choice(why, spot, warm_strikes,
                                                                     age_s, spread):
    cfg = options_cfg(max_dte=7, strike_window=3)
    warm = {c.key: quote(c, 1.5, 1.5 + spread, age_s=age_s) for c in _candidates(spot)
            if c.strike in warm_strikes}

    assert prewarm.decide_from_warm(_candidates(spot), warm, spot, Right.CALL, NOW, cfg) is None, why


def test_a_rejected_nearest_strike_lets_a_warm_farther_one_win_only_if_nothing_between_is_cold():
    cfg = options_cfg(max_dte=7, strike_window=3)
    spot = 600.4
    nearest, next_up, next_down = (c for s in (600.0, 601.0, 599.0)
                                   for c in _candidates(spot) if c.strike == s)
    warm = {nearest.key: quote(nearest, 1.5, 2.5), next_up.key: quote(next_up)}

    chosen = prewarm.decide_from_warm(_candidates(spot), warm, spot, Right.CALL, NOW, cfg)
    assert chosen is not None and chosen.contract.strike == 601.0  # 599 is farther than 601

    del warm[next_up.key]
    warm[next_down.key] = quote(next_down)
    assert prewarm.decide_from_warm(_candidates(spot), warm, spot, Right.CALL, NOW, cfg) is None


# -- the budget is never exceeded (property) ---------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    symbols=st.integers(1, 40),
    setting=st.integers(0, 20),
    window=st.integers(1, 20),
    positions=st.integers(0, 50),
    steps=st.lists(st.floats(-3.0, 3.0), min_size=1, max_size=60),
    start=st.floats(582.0, 618.0),
)
def test_warm_lines_never_exceed_the_budget_whatever_the_spot_paths(symbols, setting, window,
                                                                   positions, steps, start):
    cfg = options_cfg(max_dte=7, strike_window=window, prewarm_lines_per_symbol=setting)
    per_symbol = prewarm.lines_per_symbol(cfg, symbols, positions, GOVERNOR_LINES)
    sets: list[tuple[OptionContract, ...]] = [() for _ in range(symbols)]
    spots = [start + i * 0.37 for i in range(symbols)]  # every symbol on its own path

    for step in steps:
        for i in range(symbols):
            spots[i] = min(max(spots[i] + step * (1 + i % 3), 570.0), 630.0)
            sets[i] = prewarm.warm_contracts(CHAIN, spots[i], TODAY, cfg, per_symbol, sets[i])
            assert len(sets[i]) <= min(setting, per_symbol)
        warm = sum(len(s) for s in sets)
        if warm:  # warm lines only ever use what the rest of the bot cannot need
            concurrent = min(symbols, positions)
            needed = symbols + positions + concurrent * prewarm.selection_lines(cfg)
            assert warm + needed <= GOVERNOR_LINES < IB_LINES


# -- the settings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "values"),
    [
        ("options", {"prewarm_lines_per_symbol": -1}),
        ("options", {"prewarm_lines_per_symbol": 21}),
        ("broker", {"sim": {"latency": "fast"}}),
    ],
)
def test_prewarm_and_latency_settings_out_of_range_are_refused(section, values):
    with pytest.raises(ValidationError):
        Settings.model_validate({section: values})


def test_prewarm_is_on_and_the_embedded_simulator_answers_at_once_by_default():
    settings = Settings.model_validate({})

    assert settings.options.prewarm_lines_per_symbol == 4
    assert settings.broker.sim.latency == "none"
