"""Every waiting state of the StrategyActor has a deadline: an answer lost in a broker restart
never leaves a symbol stuck, and a late answer to the expired request changes nothing.

The strategy runs as a real actor on the harness's probe and settable clock; the broker role
is a probe that records the requests and never answers them.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from actor_harness import WAIT_S, Clock, Probe, ProbedDirectory, make_settings, ny

from actors.strategy import StrategyActor
from bot import messages as m
from bot.app.routing import BROKER
from bot.trading.selection import stage_timeout_s

DAY = date(2026, 11, 18)
START = ny(DAY, 10, 0)
CHAIN = m.OptionChain("SPY", ("20261118", "20261120"), tuple(float(k) for k in range(590, 606)))
# 3-bar EMA over 5-bar EMA: a call on bar 12, a put on bar 14, a call again on bar 20
CLOSES = ([600.0 - 0.5 * i for i in range(10)] + [596.0, 597.0, 598.0, 597.0, 596.0]
          + [595.0, 594.0, 593.5, 594.5, 595.5, 596.5])
FIRST_CALL, PUT, SECOND_CALL = 12, 14, 20


class Strategy:
    """One StrategyActor for SPY, the probe of what it publishes and the silent broker."""

    def __init__(self, tmp_path, clock: Clock) -> None:
        self.clock = clock
        self.settings = make_settings(tmp_path)
        self.events = Probe()
        self.broker = Probe()
        self.asked = 0
        directory = ProbedDirectory(self.events)
        directory.register(BROKER, self.broker)
        self.ref = StrategyActor.start(directory, self.settings, "SPY", clock=clock)
        self.ref.tell(m.ChainReceived("c-chain", CHAIN))

    def bars(self, first: int, last: int) -> None:
        for i in range(first, last + 1):
            close = CLOSES[i]
            bar = m.Bar("SPY", START + timedelta(minutes=i), close, close + 0.1, close - 0.1, close,
                        1000)
            self.ref.tell(m.BarClosed(bar))

    def state(self) -> str:
        """The strategy's state once everything told before was handled."""
        self.ref.ask(m.Ping("sync", 0.0, self.events), timeout=WAIT_S)
        pong = self.events.expect(m.Pong)
        return dict(pong.stats)["state"]

    def quote_requests(self) -> list[m.QuoteOptions]:
        """The quote requests sent to the broker since the last call."""
        self.state()  # barrier
        sent = [c for c in self.broker.drain() if isinstance(c, m.QuoteOptions)]
        new, self.asked = sent[self.asked:], len(sent)
        return new

    def answer(self, request: m.QuoteOptions) -> None:
        quotes = tuple(m.Quote(c, 1.55, 1.60, 1.60, self.clock(), volume=500)
                       for c in request.contracts)
        self.ref.tell(m.OptionsQuoted(request.correlation_id, "SPY", quotes))

    def stop(self) -> None:
        self.ref.stop()


@pytest.fixture
def strategy(tmp_path):
    s = Strategy(tmp_path, Clock(START))
    yield s
    s.stop()


def test_a_selection_that_never_answers_expires_and_the_next_signal_selects_again(strategy):
    # Arrange: the first call signal asks for quotes; the broker restarts and never answers
    strategy.bars(0, FIRST_CALL)
    (lost,) = strategy.quote_requests()
    strategy.ref.tell(m.ConnectionChanged("disconnected", 17, strategy.clock(), "restart"))
    strategy.ref.tell(m.ConnectionChanged("connected", 17, strategy.clock(), "restart"))
    strategy.bars(FIRST_CALL + 1, PUT)
    assert strategy.state() == "selecting"
    assert strategy.quote_requests() == []  # the put signal was skipped: still selecting

    # Act: the deadline passes, then bars up to the next call signal
    strategy.clock.advance(stage_timeout_s("selecting", strategy.settings))
    strategy.bars(PUT + 1, SECOND_CALL)

    # Assert: the lost selection was given up and the next signal asked again
    abandoned = strategy.events.expect(m.EntryAbandoned, lambda e: e.correlation_id == lost.correlation_id)
    assert abandoned.reason == "no answer within 60s"
    (again,) = strategy.quote_requests()
    assert again.correlation_id != lost.correlation_id
    assert strategy.state() == "selecting"

    # a late answer to the expired request is ignored; the current one proposes
    strategy.answer(lost)
    assert strategy.state() == "selecting"
    strategy.answer(again)
    proposed = strategy.events.expect(m.EntryProposed)
    assert proposed.correlation_id == again.correlation_id


def test_a_proposal_risk_never_answers_expires_and_its_late_denial_is_ignored(strategy):
    strategy.bars(0, FIRST_CALL)
    (first,) = strategy.quote_requests()
    strategy.answer(first)
    strategy.events.expect(m.EntryProposed)  # no risk here: nobody answers it
    assert strategy.state() == "proposed"

    strategy.clock.advance(stage_timeout_s("proposed", strategy.settings))
    strategy.bars(FIRST_CALL + 1, SECOND_CALL)
    (second,) = strategy.quote_requests()
    strategy.ref.tell(m.EntryDenied(first.correlation_id, "SPY-1", "SPY", "late", strategy.clock()))

    assert strategy.state() == "selecting"  # the late denial of the first did not reset it
    strategy.answer(second)
    assert strategy.events.expect(m.EntryProposed).correlation_id == second.correlation_id


def test_a_fill_after_the_proposal_expired_is_still_a_held_position(strategy):
    strategy.bars(0, FIRST_CALL)
    (first,) = strategy.quote_requests()
    strategy.answer(first)
    proposed = strategy.events.expect(m.EntryProposed)
    assert strategy.state() == "proposed"  # barrier: the state was entered before time moves
    strategy.clock.advance(stage_timeout_s("proposed", strategy.settings))
    strategy.bars(FIRST_CALL + 1, FIRST_CALL + 1)  # the deadline is noticed: idle
    assert strategy.state() == "idle"

    strategy.ref.tell(m.PositionOpened(first.correlation_id, proposed.intent_id, "SPY",
                                       proposed.contract, 3, 1.60, strategy.clock()))
    strategy.bars(FIRST_CALL + 2, SECOND_CALL)

    assert strategy.state() == "holding"
    assert strategy.quote_requests() == []  # no new entry while the position is held


def test_a_state_is_kept_until_its_deadline(strategy):
    strategy.bars(0, FIRST_CALL)
    strategy.quote_requests()

    strategy.clock.advance(stage_timeout_s("selecting", strategy.settings) - 1.0)
    strategy.bars(FIRST_CALL + 1, SECOND_CALL)

    assert strategy.quote_requests() == []
    assert strategy.state() == "selecting"


@pytest.mark.parametrize(
    ("stage", "expected_s"),
    [
        ("idle", None),
        ("selecting", 60.0),
        ("proposed", 60.0 + 10.0 + 60.0 + 10.0),         # + ack, entry and cancel timeouts
        ("holding", 140.0 + 20 * 60.0),                  # + max_hold_minutes
    ],
)
def test_stage_deadlines_follow_the_settings(tmp_path, stage, expected_s):
    assert stage_timeout_s(stage, make_settings(tmp_path)) == expected_s
