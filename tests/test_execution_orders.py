"""The ExecutionActor's order handling: partial fills, timeouts, emulated OCO and time exits."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest
from actor_harness import Clock, make_settings, ny, start_bot

from bot import messages as m

DAY = date(2026, 11, 18)
CONTRACT = m.OptionContract("SPY", "20261118", 597.0, m.Right.CALL)


@pytest.fixture
def clock():
    return Clock(ny(DAY, 10, 0))


def run_bot(tmp_path, clock, execution=None, **stub):
    bot = start_bot(make_settings(tmp_path, execution=execution or {}), clock, **stub)
    bot.publish(m.AccountUpdated("DU1234567", 25_000.0, clock()))
    return bot


def enter(bot, premium=1.60, ts=None):
    """Propose and get approval; 1% of 25,000 / (1.60 x 100 x 20%) = 7 contracts."""
    bot.publish(m.EntryProposed("c-1", "SPY-1", "SPY", m.Direction.CALL, CONTRACT, premium,
                                premium - 0.05, premium, ts or ny(DAY, 10, 0)))
    return bot.probe.expect(m.EntryApproved)


def option_quote(bot, bid, ask):
    bot.publish(m.QuoteUpdated(m.Quote(CONTRACT, bid, ask, bid, bot.clock(), volume=100)))


def commands(bot, kind):
    return bot.commands(kind)


def test_a_partly_filled_entry_that_times_out_gets_exits_sized_to_the_filled_quantity(tmp_path, clock):
    bot = run_bot(tmp_path, clock)
    assert enter(bot).quantity == 7
    b = commands(bot, m.SubmitBracket)[0]

    bot.broker.fill(b.parent.client_order_id, 3, 1.60).get(timeout=5)
    bot.probe.expect(m.PositionOpened)
    bot.tick(61)  # past entry_timeout_s=60

    # The unfilled rest is cancelled, then the 7-lot exits are replaced by a 3-lot OCA pair
    cancels = [c.client_order_id for c in commands(bot, m.CancelOrder)]
    assert b.parent.client_order_id in cancels
    bot.probe.expect(m.OrderStatusChanged, lambda e: e.client_order_id == b.stop.client_order_id
                     and e.status is m.OrderStatus.CANCELLED)
    new = [c.order for c in commands(bot, m.SubmitOrder)]
    assert [(o.order_type, o.quantity) for o in new] == [(m.OrderType.STOP, 3), (m.OrderType.LIMIT, 3)]
    assert new[0].stop_price == 1.28 and new[1].limit_price == 2.08
    assert new[0].oca_group == new[1].oca_group != b.stop.oca_group

    # Selling the 3 at the new take-profit closes the position with the P&L of 3 contracts
    bot.broker.fill(new[0].client_order_id, 3, 2.08).get(timeout=5)
    closed = bot.probe.expect(m.PositionClosed)
    assert closed.quantity == 3
    assert closed.realized_pnl == pytest.approx(3 * 100 * (2.08 - 1.60))


def test_an_order_never_acknowledged_is_cancelled_and_expires_once_the_broker_confirms(tmp_path, clock):
    bot = run_bot(tmp_path, clock, auto_ack=False)
    enter(bot)
    entry_id = commands(bot, m.SubmitBracket)[0].parent.client_order_id

    bot.tick(9)
    assert commands(bot, m.CancelOrder) == ()
    bot.tick(1)  # ack_timeout_s=10 reached
    assert [c.client_order_id for c in commands(bot, m.CancelOrder)] == [entry_id]
    bot.tick(10)  # the cancel is not answered (cancel_timeout_s=10): unknown is not cancelled
    bot.sync()
    assert [x for x in bot.probe.drain() if isinstance(x, m.EntryExpired)] == []
    bot.broker.cancel(entry_id).get(timeout=5)  # the broker confirms at last

    expired = bot.probe.expect(m.EntryExpired)
    assert expired.reason == "not acknowledged within 10s"
    # Risk released the slot: a new entry is approved
    bot.publish(m.EntryProposed("c-2", "SPY-2", "SPY", m.Direction.CALL, CONTRACT, 1.60, 1.55, 1.60,
                                ny(DAY, 10, 5)))
    assert bot.probe.expect(m.EntryApproved).intent_id == "SPY-2"


def test_emulated_oco_rests_the_take_profit_and_sends_the_stop_exit_after_cancelling_it(tmp_path, clock):
    bot = run_bot(tmp_path, clock, execution={"oco_mode": "emulated"})
    enter(bot)
    entry = commands(bot, m.SubmitOrder)[0].order
    assert commands(bot, m.SubmitBracket) == ()

    bot.broker.fill(entry.client_order_id, 7, 1.60).get(timeout=5)
    tp = commands(bot, m.SubmitOrder)[1].order
    assert (tp.order_type, tp.quantity, tp.limit_price) == (m.OrderType.LIMIT, 7, 2.08)

    # Malformed quotes never trigger the stop
    for bid, ask in ((math.nan, 1.3), (0.0, 0.0), (-0.5, 1.0), (1.30, 1.20)):
        option_quote(bot, bid, ask)
    option_quote(bot, 1.27, 1.30)  # the bid crosses the 1.28 stop

    # The take-profit is cancelled first ...
    bot.probe.expect(m.OrderStatusChanged, lambda e: e.client_order_id == tp.client_order_id
                     and e.status is m.OrderStatus.CANCELLED)
    assert [c.client_order_id for c in commands(bot, m.CancelOrder)] == [tp.client_order_id]
    exit_order = commands(bot, m.SubmitOrder)[-1].order  # ... and only then the exit goes
    assert (exit_order.side, exit_order.quantity, exit_order.limit_price) == (m.Side.SELL, 7, 1.27)
    assert len(commands(bot, m.SubmitOrder)) == 3

    bot.broker.fill(exit_order.client_order_id, 7, 1.27).get(timeout=5)
    closed = bot.probe.expect(m.PositionClosed)
    assert closed.realized_pnl == pytest.approx(7 * 100 * (1.27 - 1.60))
    assert closed.reason.startswith("stop 1.28 hit at bid 1.27")
    stats = bot.ref("execution").proxy().stats().get(timeout=5)
    assert stats["option_quotes_dropped"] == {"nan": 1, "zero": 1, "negative": 1, "crossed": 1}


@pytest.mark.parametrize(("opened", "bar_start", "reason"), [
    (ny(DAY, 10, 0), ny(DAY, 10, 19), "max hold 20 min reached"),
    (ny(DAY, 15, 40), ny(DAY, 15, 49), "flat 10 min before the close"),
])
def test_time_exits_sell_at_the_bid_in_the_brackets_oca_group_while_its_stop_still_protects(
        tmp_path, clock, opened, bar_start, reason):
    bot = run_bot(tmp_path, clock)
    enter(bot, ts=opened)
    b = commands(bot, m.SubmitBracket)[0]
    bot.broker.fill(b.parent.client_order_id, 7, 1.60, ts=opened).get(timeout=5)
    option_quote(bot, 1.70, 1.75)

    # One bar before the limit: nothing happens
    early = m.Bar("SPY", bar_start - timedelta(minutes=1), 597, 597, 597, 597, 100)
    bot.publish(m.BarClosed(early))
    bot.probe.expect(m.BarClosed, lambda e: e.bar.start == early.start)
    assert commands(bot, m.CancelOrder) == ()

    bot.publish(m.BarClosed(m.Bar("SPY", bar_start, 597, 597, 597, 597, 100)))

    # The close joins the bracket's OCA group (type 3): nothing is cancelled first, so the
    # stop protects until the close fills, and the group sells at most 7
    bot.probe.expect(m.OrderStatusChanged, lambda e: e.client_order_id.endswith(".exit1"))
    exit_order = commands(bot, m.SubmitOrder)[-1].order
    assert (exit_order.quantity, exit_order.limit_price) == (7, 1.70)
    assert (exit_order.oca_group, exit_order.oca_type) == (b.stop.oca_group, 3)
    assert commands(bot, m.CancelOrder) == ()
    assert b.stop.client_order_id in working_refs(bot)
    bot.broker.fill(exit_order.client_order_id, 7, 1.70, ts=bar_start).get(timeout=5)
    closed = bot.probe.expect(m.PositionClosed)
    assert closed.reason == reason
    assert closed.realized_pnl == pytest.approx(7 * 100 * 0.10)
    assert working_refs(bot) == set()  # IB reduced the take-profit and the stop to nothing


def working_refs(bot) -> set[str]:
    return {o.spec.client_order_id for o in bot.broker.working().get(timeout=5)}


def test_a_duplicate_execution_report_is_counted_once(tmp_path, clock):
    bot = run_bot(tmp_path, clock)
    enter(bot)
    b = commands(bot, m.SubmitBracket)[0]
    bot.broker.fill(b.parent.client_order_id, 7, 1.60, exec_id="e1").get(timeout=5)
    bot.broker.emit(m.OrderFilled("c-1", b.parent.client_order_id, "e1", CONTRACT, m.Side.BUY, 7,
                                  1.60, clock())).get(timeout=5)

    bot.broker.fill(b.take_profit.client_order_id, 7, 2.08).get(timeout=5)

    closed = bot.probe.expect(m.PositionClosed)
    assert closed.quantity == 7
    assert closed.realized_pnl == pytest.approx(7 * 100 * 0.48)


def test_a_filled_status_that_arrives_before_its_execution_does_not_expire_the_entry(tmp_path, clock):
    bot = run_bot(tmp_path, clock)
    enter(bot)
    b = commands(bot, m.SubmitBracket)[0]
    entry = b.parent.client_order_id

    filled = m.OrderStatusChanged("c-1", entry, m.OrderStatus.FILLED, 7, 0, 1.60, clock())
    bot.broker.emit(filled).get(timeout=5)
    bot.broker.emit(m.OrderFilled("c-1", entry, "e1", CONTRACT, m.Side.BUY, 7, 1.60, clock())).get(timeout=5)

    opened = bot.probe.expect(m.PositionOpened)
    assert opened.quantity == 7
    bot.sync()
    assert [x for x in bot.probe.drain() if isinstance(x, m.EntryExpired)] == []


def test_an_exit_still_working_after_its_sibling_closed_the_position_is_cancelled(tmp_path, clock):
    # Arrange: the take-profit fills in full; IB should end the stop (OCA type 3) by itself,
    # but no report of that comes (the stop joined the group late, or the report was lost)
    bot = run_bot(tmp_path, clock)
    enter(bot)
    b = commands(bot, m.SubmitBracket)[0]
    bot.broker.fill(b.parent.client_order_id, 7, 1.60).get(timeout=5)
    bot.broker.emit(m.OrderFilled("c-1", b.take_profit.client_order_id, "tp-1", CONTRACT,
                                  m.Side.SELL, 7, 2.08, clock())).get(timeout=5)
    bot.probe.expect(m.PositionClosed)

    # Act
    bot.tick(5)
    early = commands(bot, m.CancelOrder)
    bot.tick(6)  # past cancel_timeout_s (10) since the close

    # Assert
    assert early == ()
    assert [c.client_order_id for c in commands(bot, m.CancelOrder)] == [b.stop.client_order_id]


def test_a_close_in_its_pairs_oca_group_never_acknowledged_is_placed_again_not_cancelled(
        tmp_path, clock):
    # Arrange: holding 7 with the bracket's pair acknowledged; a broker that acknowledges
    # nothing by itself; the max hold runs out and the close joins the pair's group
    bot = run_bot(tmp_path, clock, auto_ack=False)
    enter(bot)
    b = commands(bot, m.SubmitBracket)[0]
    for spec in (b.parent, b.take_profit, b.stop):
        bot.broker.ack(spec.client_order_id).get(timeout=5)
    bot.broker.fill(b.parent.client_order_id, 7, 1.60).get(timeout=5)
    option_quote(bot, 1.70, 1.75)
    bot.publish(m.BarClosed(m.Bar("SPY", ny(DAY, 10, 19), 597, 597, 597, 597, 100)))
    bot.sync()
    close = commands(bot, m.SubmitOrder)[-1].order
    assert close.oca_group == b.stop.oca_group

    # Act: IB does not acknowledge the close within ack_timeout_s (10 s), three times over
    tries = []
    for _ in range(3):
        bot.tick(10)
        tries.append((len(commands(bot, m.ModifyOrder)), len(commands(bot, m.CancelOrder))))

    # Assert: placed again with its own id twice (a cancel would take the stop's group with
    # it, should the close have reached IB after all: chaos seed 97130), then cancelled
    assert [c.order for c in commands(bot, m.ModifyOrder)] == [close, close]
    assert tries == [(1, 0), (2, 0), (2, 1)]
    assert commands(bot, m.CancelOrder)[0].client_order_id == close.client_order_id
