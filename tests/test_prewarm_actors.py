"""Ready before the signal, through the real actors on the StubBroker: the strategies keep their
options warm within the line budget while spot wanders, and a signal whose warm quotes settle
the choice proposes the entry without asking the broker for quotes."""

from __future__ import annotations

import random
from datetime import date, timedelta

from actor_harness import Clock, make_settings, ny, start_bot

from bot import messages as m
from bot.ib.pacing import Limits
from bot.trading import prewarm

DAY = date(2026, 11, 18)
START = ny(DAY, 10, 0)
SYMBOLS = ("SPY", "QQQ", "IWM", "AAPL", "MSFT", "NVDA", "AMZN", "TSLA")
# 3-bar EMA over 5-bar EMA (make_settings): a call signal on bar 12
CLOSES = [600.0 - 0.5 * i for i in range(10)] + [596.0, 597.0, 598.0]


def chain(symbol: str) -> m.OptionChain:
    return m.OptionChain(symbol, ("20261118", "20261120"), tuple(float(k) for k in range(560, 641)))


def bar(symbol: str, minute: int, close: float) -> m.Bar:
    return m.Bar(symbol, START + timedelta(minutes=minute), close, close + 0.1, close - 0.1, close,
                 1000)


def stock_quote(symbol: str, spot: float, clock: Clock) -> m.QuoteUpdated:
    return m.QuoteUpdated(m.Quote(m.Stock(symbol), spot - 0.01, spot + 0.01, spot, clock()))


def test_the_warm_sets_of_eight_symbols_never_hold_more_lines_than_the_budget(tmp_path):
    # Arrange: 8 symbols asking for more warm lines than fit; each spot on its own random walk
    settings = make_settings(tmp_path, symbols=list(SYMBOLS),
                             options={"prewarm_lines_per_symbol": 20})
    clock = Clock(START)
    bot = start_bot(settings, clock, chains={s: chain(s) for s in SYMBOLS})
    bot.sync()  # the chains are in
    per_symbol = prewarm.lines_per_symbol(settings.options, len(SYMBOLS),
                                          settings.risk.max_open_positions, Limits().lines)
    rng = random.Random(17)
    spots = {s: 600.0 + i for i, s in enumerate(SYMBOLS)}
    for s in SYMBOLS:
        bot.publish(m.BarClosed(bar(s, 0, spots[s]), backfill=True))

    # Act: 300 quotes per symbol
    for _ in range(300):
        for s in SYMBOLS:
            spots[s] += rng.gauss(0, 0.6)
            bot.publish(stock_quote(s, spots[s], clock))
    sets = bot.commands(m.KeepOptionsWarm)

    # Assert: the budget was cut below the setting, every set respected it, and sets moved
    assert per_symbol < 20
    assert all(len(c.contracts) <= per_symbol for c in sets)
    assert bot.broker.peak_warm_lines().get() <= per_symbol * len(SYMBOLS)
    reserved = (len(SYMBOLS) + settings.risk.max_open_positions
                + settings.risk.max_open_positions * prewarm.selection_lines(settings.options))
    assert bot.broker.peak_warm_lines().get() + reserved <= Limits().lines
    assert len(sets) > 3 * len(SYMBOLS)  # the sets re-centred as spots wandered


def test_a_signal_with_warm_quotes_proposes_without_asking_for_quotes(tmp_path):
    # Arrange: the broker has quotes for every SPY option of the day
    settings = make_settings(tmp_path)
    clock = Clock(START + timedelta(minutes=13))
    bot = start_bot(settings, clock, chains={"SPY": chain("SPY")})
    bot.broker.set_option_quotes(tuple(
        m.Quote(m.OptionContract("SPY", "20261118", float(k), right), 1.50, 1.55, 1.52, clock(),
                volume=500)
        for k in range(590, 611) for right in (m.Right.CALL, m.Right.PUT))).get()

    # Act: quotes follow spot up to each bar's close (and the warm quotes arrive before the
    # bar closes), then the bars up to the call signal
    for i, close in enumerate(CLOSES):
        bot.publish(stock_quote("SPY", close, clock))
        bot.sync()
        bot.publish(m.BarClosed(bar("SPY", i, close)))
    proposed = bot.probe.expect(m.EntryProposed)

    # Assert: the choice is the strike nearest spot, and no QuoteOptions was sent
    assert proposed.contract.strike == 598.0 and proposed.contract.right is m.Right.CALL
    assert bot.commands(m.QuoteOptions) == ()
    assert bot.commands(m.KeepOptionsWarm)[-1].contracts  # the set was warm


def test_a_signal_without_warm_quotes_asks_for_the_candidates_as_before(tmp_path):
    settings = make_settings(tmp_path)
    clock = Clock(START + timedelta(minutes=13))
    bot = start_bot(settings, clock, chains={"SPY": chain("SPY")})  # no option quotes at all
    bot.sync()  # the chain is in

    for i, close in enumerate(CLOSES):
        bot.publish(stock_quote("SPY", close, clock))
        bot.publish(m.BarClosed(bar("SPY", i, close)))
    bot.sync()

    (asked,) = bot.commands(m.QuoteOptions)
    assert {c.strike for c in asked.contracts} == {597.0, 598.0, 599.0, 600.0}
