"""The whole decision path through real actors, with a scripted broker.

bars -> signal -> option chosen -> risk approves and sizes -> bracket submitted -> fills ->
take-profit exit -> P&L -> a stopped-out trade -> the daily loss cap blocks the next entry ->
the next exchange day allows it again.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from actor_harness import Clock, make_settings, ny, start_bot

from bot import messages as m

DAY = date(2026, 11, 18)  # a Wednesday
EXPIRIES = ("20261118", "20261120", "20261127")
CHAIN = m.OptionChain("SPY", EXPIRIES, tuple(float(k) for k in range(590, 606)))
# Falling for ten minutes, then rising: on the 598.00 bar the 3-bar EMA crosses above the 5-bar
# EMA (597.25 > 597.04) and the close crosses above VWAP, with RSI(3) at 81.
CLOSES = [600.0 - 0.5 * i for i in range(10)] + [596.0, 597.0, 598.0]


def call(strike: float, expiry: str = "20261118") -> m.OptionContract:
    return m.OptionContract("SPY", expiry, strike, m.Right.CALL)


def option_quotes(ts, bid: float = 1.55, ask: float = 1.60) -> tuple[m.Quote, ...]:
    return tuple(m.Quote(call(k), bid, ask, ask, ts, volume=500) for k in CHAIN.strikes)


@pytest.fixture
def clock():
    return Clock(ny(DAY, 10, 30))


@pytest.fixture
def bot(tmp_path, clock):
    settings = make_settings(tmp_path, risk={"max_consecutive_losses": 10})
    bot = start_bot(settings, clock, chains={"SPY": CHAIN})
    bot.broker.set_option_quotes(option_quotes(clock())).get(timeout=5)
    bot.publish(m.AccountUpdated("DU1234567", 10_000.0, clock()))
    yield bot
    bot.supervisor.stop()


def feed_bars(bot, closes, start, backfill=False):
    for i, close in enumerate(closes):
        bar = m.Bar("SPY", start + timedelta(minutes=i), close, close + 0.1, close - 0.1, close, 1000)
        bot.publish(m.BarClosed(bar, backfill=backfill))


def test_a_rising_turn_buys_a_call_bracket_sized_from_the_risk_budget_and_exits_at_take_profit(bot):
    # Arrange: the chain is cached at start
    bot.probe.expect(m.ChainReceived)

    # Act: the bars that turn the trend up
    feed_bars(bot, CLOSES, ny(DAY, 10, 0))

    # Assert: the signal, the chosen option, the size and the bracket prices
    signal = bot.probe.expect(m.SignalRaised)
    assert signal.direction is m.Direction.CALL
    assert "trigger: ema cross up" in signal.reasons
    assert "ema3 597.25 > ema5 597.04" in signal.reasons
    proposed = bot.probe.expect(m.EntryProposed)
    assert proposed.contract.expiry == "20261118"  # nearest expiry inside the DTE window
    assert proposed.contract.strike == 598.0  # the strike nearest the 598.00 close
    assert proposed.premium == 1.60
    approved = bot.probe.expect(m.EntryApproved)
    # 1% of 10,000 = 100 budget; 1.60 x 100 x 20% = 32 per contract -> 3 contracts
    assert approved.quantity == 3
    bracket = bot.commands(m.SubmitBracket)
    assert len(bracket) == 1
    b = bracket[0]
    assert (b.parent.side, b.parent.order_type, b.parent.limit_price, b.parent.quantity) == (
        m.Side.BUY, m.OrderType.LIMIT, 1.60, 3)
    assert (b.take_profit.order_type, b.take_profit.limit_price) == (m.OrderType.LIMIT, 2.08)
    assert (b.stop.order_type, b.stop.stop_price) == (m.OrderType.STOP, 1.28)
    assert b.take_profit.oca_group == b.stop.oca_group != ""
    assert b.parent.client_order_id.startswith(approved.intent_id)

    # Act: the entry fills, then the take-profit
    bot.broker.fill(b.parent.client_order_id, 3, 1.60, commission=1.95).get(timeout=5)
    opened = bot.probe.expect(m.PositionOpened)
    bot.broker.fill(b.take_profit.client_order_id, 3, 2.08, commission=1.95).get(timeout=5)
    closed = bot.probe.expect(m.PositionClosed)

    # Assert: 3 x 100 x (2.08 - 1.60) - 3.90 commissions
    assert opened.quantity == 3
    assert closed.realized_pnl == pytest.approx(140.10)
    assert closed.reason == "take profit"
    assert closed.exit_price == pytest.approx(2.08)


def test_a_loss_past_the_daily_cap_blocks_entries_until_the_next_exchange_day(bot, clock):
    bot.probe.expect(m.ChainReceived)
    contract = call(597.0)

    def propose(ts, intent):
        bot.publish(m.EntryProposed(f"c-{intent}", intent, "SPY", m.Direction.CALL, contract,
                                    1.60, 1.55, 1.60, ts))

    # A trade stopped out through a gap: 3 x 100 x (0.80 - 1.60) = -240 <= -200 (2% of 10,000)
    propose(ny(DAY, 11, 0), "SPY-1")
    bot.probe.expect(m.EntryApproved)
    b = bot.commands(m.SubmitBracket)[-1]
    bot.broker.fill(b.parent.client_order_id, 3, 1.60).get(timeout=5)
    bot.broker.fill(b.stop.client_order_id, 3, 0.80).get(timeout=5)
    closed = bot.probe.expect(m.PositionClosed)
    assert closed.realized_pnl == pytest.approx(-240.0)
    assert closed.reason == "stop"

    # The next entry that day is denied, naming the cap
    propose(ny(DAY, 11, 30), "SPY-2")
    denied = bot.probe.expect(m.EntryDenied)
    assert denied.reason.startswith("daily loss cap")
    assert "-240.00" in denied.reason and "-200.00" in denied.reason

    # The next New York trading day starts fresh (the first market timestamp of it rolls the day)
    next_day = DAY + timedelta(days=1)
    propose(ny(next_day, 9, 45), "SPY-3")
    approved = bot.probe.expect(m.EntryApproved)
    assert approved.intent_id == "SPY-3"
    assert approved.quantity == 3  # equity now 9,760: budget 97.60 / 32 per contract -> 3
