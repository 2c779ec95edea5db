"""Malformed market data is dropped and counted, never traded on."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest
from actor_harness import Clock, make_settings, ny, start_bot

from bot import messages as m
from bot.trading import selection

DAY = date(2026, 11, 18)
CHAIN = m.OptionChain("SPY", ("20261118",), tuple(float(k) for k in range(590, 606)))
CLOSES = [600.0 - 0.5 * i for i in range(10)] + [596.0, 597.0, 598.0]  # CALL on the last bar


@pytest.fixture
def clock():
    return Clock(ny(DAY, 10, 30))


@pytest.fixture
def bot(tmp_path, clock):
    bot = start_bot(make_settings(tmp_path), clock, chains={"SPY": CHAIN})
    bot.publish(m.AccountUpdated("DU1234567", 10_000.0, clock()))
    bot.probe.expect(m.ChainReceived)
    yield bot
    bot.supervisor.stop()


def stock_quote(bid, ask, ts):
    return m.QuoteUpdated(m.Quote(m.Stock("SPY"), bid, ask, bid, ts))


def feed(bot, closes):
    for i, close in enumerate(closes):
        bar = m.Bar("SPY", ny(DAY, 10, 0) + timedelta(minutes=i), close, close, close, close, 1000)
        bot.publish(m.BarClosed(bar))


def test_bad_underlying_quotes_and_bars_are_counted_by_reason(bot, clock):
    now = clock()
    for bid, ask, ts in [(math.nan, 598.0, now), (0.0, 598.0, now), (-2.0, 598.0, now),
                         (598.2, 598.0, now), (597.9, 598.0, now - timedelta(seconds=31))]:
        bot.publish(stock_quote(bid, ask, ts))
    bot.publish(m.BarClosed(m.Bar("SPY", ny(DAY, 9, 31), 598, 597, 599, 598, 10)))  # high < low

    bot.sync()
    stats = bot.ref("strategy:SPY").proxy().stats().get(timeout=5)

    assert stats["dropped"] == {"nan": 1, "zero": 1, "negative": 1, "crossed": 1, "stale": 1,
                                "bar_inverted": 1}
    assert stats["last_bar"] is None  # the bad bar never reached the indicators


def test_a_signal_whose_option_quotes_are_all_bad_is_abandoned_not_traded(bot, clock):
    now = clock()
    candidates = selection.candidate_contracts(CHAIN, 598.0, m.Right.CALL, DAY, bot.settings.options)
    assert len(candidates) == 4
    nan, zero, negative, stale = ((math.nan, 1.60, now), (0.0, 0.0, now), (-0.5, 1.60, now),
                                  (1.55, 1.60, now - timedelta(minutes=5)))
    quotes = tuple(m.Quote(c, bid, ask, ask, ts, volume=500)
                   for c, (bid, ask, ts) in zip(candidates, (nan, zero, negative, stale), strict=True))
    bot.broker.set_option_quotes(quotes).get(timeout=5)

    feed(bot, CLOSES)

    abandoned = bot.probe.expect(m.EntryAbandoned)
    assert abandoned.reason.startswith("no candidate passed")
    assert abandoned.reason == "no candidate passed: 1 nan, 1 zero, 1 negative, 1 stale"
    assert bot.commands(m.SubmitBracket) == ()
    assert [x for x in bot.probe.drain() if isinstance(x, m.EntryProposed)] == []


@pytest.mark.parametrize(("max_age_s", "proposed"), [(30.0, False), (600.0, True)])
def test_how_old_an_option_quote_may_be_is_one_setting(tmp_path, clock, max_age_s, proposed):
    # Arrange: every candidate quoted sanely, but five minutes ago
    options = {"max_dte": 7, "strike_window": 2, "max_spread_pct": 10, "min_volume": 10,
               "max_quote_age_s": max_age_s}
    bot = start_bot(make_settings(tmp_path, options=options), clock, chains={"SPY": CHAIN})
    try:
        bot.publish(m.AccountUpdated("DU1234567", 10_000.0, clock()))
        bot.probe.expect(m.ChainReceived)
        candidates = selection.candidate_contracts(CHAIN, 598.0, m.Right.CALL, DAY,
                                                   bot.settings.options)
        five_min_ago = clock() - timedelta(minutes=5)
        bot.broker.set_option_quotes(tuple(
            m.Quote(c, 1.55, 1.60, 1.60, five_min_ago, volume=500) for c in candidates)).get(timeout=5)

        # Act
        feed(bot, CLOSES)

        # Assert
        outcome = bot.probe.expect((m.EntryProposed, m.EntryAbandoned))
        assert isinstance(outcome, m.EntryProposed) is proposed
    finally:
        bot.supervisor.stop()
