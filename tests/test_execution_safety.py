"""Money safety of the trade lifecycle, through the real actors on a StubBroker as strict as IB.

Each test is one way a position could be left unprotected, oversold or forgotten (issue 11),
and states what the bot must do instead (the invariants in ``bot/trading/execution.py``).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from actor_harness import WAIT_S, Clock, make_settings, ny, start_bot
from loguru import logger

from bot import messages as m

S = m.OrderStatus
DAY = date(2026, 11, 18)
CONTRACT = m.OptionContract("SPY", "20261118", 597.0, m.Right.CALL)
IID = "SPY-1"


@pytest.fixture
def clock():
    return Clock(ny(DAY, 10, 0))


@pytest.fixture
def lines():
    """Every log line written while the test runs, as "LEVEL message"."""
    records: list[str] = []
    sink = logger.add(lambda msg: records.append(f"{msg.record['level'].name} {msg.record['message']}"),
                      level="INFO")
    yield records
    logger.remove(sink)


def run_bot(tmp_path, clock, execution=None, **stub):
    bot = start_bot(make_settings(tmp_path, execution=execution or {}), clock, **stub)
    bot.publish(m.AccountUpdated("DU1234567", 25_000.0, clock()))
    return bot


def enter(bot, premium=1.60):
    """7 contracts: 1% of 25,000 / (1.60 x 100 x 20%)."""
    bot.publish(m.EntryProposed("c-1", IID, "SPY", m.Direction.CALL, CONTRACT, premium,
                                premium - 0.05, premium, bot.clock()))
    bot.probe.expect(m.EntryApproved)
    return bot.commands(m.SubmitBracket)[0]


def fill(bot, coid, qty, price, **kw):
    bot.broker.fill(coid, qty, price, **kw).get(timeout=WAIT_S)
    bot.sync()


def quote(bot, bid, ask):
    bot.publish(m.QuoteUpdated(m.Quote(CONTRACT, bid, ask, bid, bot.clock(), volume=100)))
    bot.sync()


def working(bot):
    """The broker's working orders by client order id: (type, remaining, price)."""
    return {o.spec.client_order_id: (o.spec.order_type, o.remaining,
                                     o.spec.limit_price or o.spec.stop_price)
            for o in bot.broker.working().get(timeout=WAIT_S)}


def stops_held(bot):
    return sum(rem for (kind, rem, _) in working(bot).values() if kind is m.OrderType.STOP)


def stats(bot):
    return bot.ref("execution").proxy().stats().get(timeout=WAIT_S)


def position(bot):
    return stats(bot)["positions"].get(IID, 0)


# -- OCA: exits reduce each other, never cancel the whole stop, never both fill ---------------


def test_a_partial_take_profit_leaves_the_stop_covering_the_rest_of_the_position(tmp_path, clock):
    bot = run_bot(tmp_path, clock)
    b = enter(bot)
    fill(bot, b.parent.client_order_id, 7, 1.60)

    fill(bot, b.take_profit.client_order_id, 3, 2.08)  # a partial take-profit

    assert position(bot) == 4
    assert stops_held(bot) == 4  # type 1 would have cancelled the whole stop at IB


def test_a_rearmed_pair_is_one_oca_group_sized_to_the_position_so_both_never_fill(tmp_path, clock):
    bot = run_bot(tmp_path, clock)
    b = enter(bot)
    fill(bot, b.parent.client_order_id, 3, 1.60)
    bot.tick(61)  # entry_timeout_s: the rest of the entry is cancelled, exits re-armed for 3
    bot.sync()
    tp1, sl1 = (c.order for c in bot.commands(m.SubmitOrder))
    assert (tp1.quantity, sl1.quantity, tp1.oca_type, sl1.oca_type) == (3, 3, 3, 3)

    fill(bot, tp1.client_order_id, 2, 2.08)

    assert position(bot) == 1
    assert working(bot)[sl1.client_order_id][1] == 1  # not 3: that would sell 2 we do not hold


# -- late fills after a cancel the broker never confirmed ---------------------------------------


def test_an_unconfirmed_cancel_is_sent_again_and_a_late_fill_is_applied_and_protected(
        tmp_path, clock, lines):
    bot = run_bot(tmp_path, clock, auto_ack=False)
    b = enter(bot)
    entry = b.parent.client_order_id
    bot.tick(10)  # ack_timeout_s: cancel
    bot.tick(10)  # cancel_timeout_s: the broker never answered
    bot.sync()

    assert [c.client_order_id for c in bot.commands(m.CancelOrder)] == [entry, entry]
    assert any(x.startswith("WARNING cancel_unconfirmed intent=SPY-1") for x in lines)
    bot.sync()
    assert not [x for x in bot.probe.drain() if isinstance(x, m.EntryExpired)]

    # The entry had filled after all: the position is opened and the bracket protects it
    bot.broker.ack(entry).get(timeout=WAIT_S)
    fill(bot, entry, 7, 1.60)
    for child in (b.take_profit, b.stop):
        bot.broker.ack(child.client_order_id).get(timeout=WAIT_S)
    bot.tick(10)
    bot.sync()

    assert bot.probe.expect(m.PositionOpened).quantity == 7
    assert stops_held(bot) == 7 and stats(bot)["unprotected_position"] == []
    assert len(bot.commands(m.CancelOrder)) == 2  # filled: nothing more to cancel


def test_a_cancel_refused_because_the_entry_filled_opens_the_position(tmp_path, clock):
    bot = run_bot(tmp_path, clock)
    b = enter(bot)
    entry = b.parent.client_order_id
    fill(bot, entry, 7, 1.60, report=False)  # filled at IB; the execution is still on its way

    bot.tick(60)  # entry_timeout_s: the cancel crosses the fill; IB answers 10148 first
    bot.sync()

    assert bot.probe.expect(m.OrderRejected).code == 10148
    assert bot.probe.expect(m.PositionOpened).quantity == 7
    assert not [x for x in bot.probe.drain() if isinstance(x, m.EntryExpired)]
    assert stops_held(bot) == 7


# -- the protection deadline --------------------------------------------------------------------


def test_a_stop_cancelled_at_the_broker_is_replaced_by_a_pair_for_the_position(tmp_path, clock):
    bot = run_bot(tmp_path, clock)
    b = enter(bot)
    fill(bot, b.parent.client_order_id, 7, 1.60)

    bot.broker.cancel(b.stop.client_order_id).get(timeout=WAIT_S)  # e.g. cancelled in TWS
    bot.sync()

    assert stops_held(bot) == 7
    assert set(working(bot)) == {f"{IID}.tp1", f"{IID}.sl1"}


def test_a_partly_filled_entry_unprotected_past_the_deadline_alarms_and_stops_buying(
        tmp_path, clock, lines):
    bot = run_bot(tmp_path, clock)
    b = enter(bot)
    fill(bot, b.parent.client_order_id, 3, 1.60)  # IB holds the bracket's exits meanwhile

    bot.tick(1)
    bot.tick(5)  # protect_within_s = 5

    assert any(x.startswith("ERROR unprotected_position intent=SPY-1 position=3") for x in lines)
    bot.sync()
    assert stops_held(bot) == 3  # the rest of the entry cancelled, a pair armed for the 3 held
    bot.tick(1)
    assert stats(bot)["unprotected_position"] == []


# -- exits rejected: never silent ---------------------------------------------------------------


def reject_exits(bot):
    for coid in list(working(bot)):
        if not coid.endswith(".entry"):
            bot.broker.reject(coid).get(timeout=WAIT_S)
    bot.sync()


@pytest.mark.parametrize("action", ["flatten", "kill_switch"])
def test_exits_rejected_three_times_raise_the_alarm_and_act(tmp_path, clock, lines, action):
    bot = run_bot(tmp_path, clock, execution={"on_unprotected": action})
    b = enter(bot)
    fill(bot, b.parent.client_order_id, 7, 1.60)
    reject_exits(bot)  # the bracket's exits: rejected once
    bot.tick(1)
    bot.tick(10)  # the backoff (cancel_timeout_s): a fresh pair is tried ...
    reject_exits(bot)  # ... and rejected: twice
    bot.tick(20)  # the backoff doubles
    reject_exits(bot)  # three times

    bot.tick(1)

    assert any(x.startswith("ERROR unprotected_position intent=SPY-1 position=7") for x in lines)
    assert stats(bot)["unprotected_position"] == [IID]
    alarm = bot.probe.expect(m.PositionUnprotected)  # published once, for the alert actor
    assert (alarm.intent_id, alarm.quantity) == (IID, 7)
    if action == "flatten":
        last = bot.commands(m.SubmitOrder)[-1].order
        assert (last.order_type, last.quantity, last.side) == (m.OrderType.MARKET, 7, m.Side.SELL)
    else:
        assert "unprotected" in bot.settings.risk.kill_switch_path.read_text()


def held_past_max_hold(tmp_path, clock):
    """A bot holding 7 contracts bought at 1.60 (bid 1.70), whose max hold just ran out."""
    bot = run_bot(tmp_path, clock)
    b = enter(bot)
    fill(bot, b.parent.client_order_id, 7, 1.60)
    quote(bot, 1.70, 1.75)
    bot.publish(m.BarClosed(m.Bar("SPY", ny(DAY, 10, 19), 597, 597, 597, 597, 100)))  # max hold
    bot.sync()
    return bot


# -- closing orders are re-priced -------------------------------------------------------------


def test_a_time_exit_is_repriced_down_to_a_marketable_limit_then_stays_there(tmp_path, clock, lines):
    bot = held_past_max_hold(tmp_path, clock)

    def price():
        return working(bot)[f"{IID}.exit1"][2]

    prices = [price()]
    for _ in range(5):
        bot.tick(3)  # reprice_every_s: the close is modified in place to the next step
        bot.sync()
        prices.append(price())

    # bid, one tick lower per step (reprice_steps = 3), then bid - 5 ticks, where it stays
    assert prices == [1.70, 1.69, 1.68, 1.65, 1.65, 1.65]
    assert len(bot.commands(m.SubmitOrder)) == 1 and bot.commands(m.CancelOrder) == ()
    assert len(bot.commands(m.ModifyOrder)) == 3
    assert "INFO exit_repriced intent=SPY-1 step=3 price=1.65 qty=7" in lines
    closes = [rem for ref, (_, rem, _) in working(bot).items() if ".exit" in ref]
    # one close; the stop of the OCA group it joined protects meanwhile (cancelling the close
    # to re-price it would have cancelled the stop with it, as IB cancels the whole group)
    assert closes == [7] and stops_held(bot) == 7


def test_a_closing_order_near_the_close_is_a_market_order(tmp_path):
    clock = Clock(ny(DAY, 15, 40))
    bot = run_bot(tmp_path, clock)
    b = enter(bot)
    fill(bot, b.parent.client_order_id, 7, 1.60)
    quote(bot, 1.70, 1.75)
    bot.publish(m.BarClosed(m.Bar("SPY", ny(DAY, 15, 57), 597, 597, 597, 597, 100)))  # 2 min left
    bot.sync()

    assert bot.commands(m.SubmitOrder)[-1].order.order_type is m.OrderType.MARKET


# -- time exits on the exchange clock ---------------------------------------------------------


def test_max_hold_fires_when_bars_stall(tmp_path, clock):
    bot = run_bot(tmp_path, clock)
    b = enter(bot)
    bot.publish(m.BarClosed(m.Bar("SPY", ny(DAY, 9, 59), 597, 597, 597, 597, 100)))
    fill(bot, b.parent.client_order_id, 7, 1.60)
    quote(bot, 1.70, 1.75)

    bot.tick(19 * 60 / 60)  # the simulator runs at 60x: 19 minutes of market, no bar since
    assert bot.commands(m.CancelOrder) == ()
    bot.tick(1 * 60 / 60 + 1)  # past 20 minutes of market time

    closing = bot.probe.expect(m.OrderStatusChanged, lambda e: e.client_order_id.endswith(".exit1"))
    assert closing is not None
    close = bot.commands(m.SubmitOrder)[-1].order
    assert (close.quantity, close.oca_group) == (7, b.stop.oca_group)


def test_max_hold_counts_from_the_fill_on_the_exchange_clock_not_the_reports_receive_time(
        tmp_path, clock):
    bot = run_bot(tmp_path, clock)
    b = enter(bot)
    bot.publish(m.BarClosed(m.Bar("SPY", ny(DAY, 9, 59), 597, 597, 597, 597, 100)))
    # the report is stamped with another clock (ib_insync's local receive time)
    fill(bot, b.parent.client_order_id, 7, 1.60, ts=ny(DAY, 9, 0))

    bot.publish(m.BarClosed(m.Bar("SPY", ny(DAY, 10, 0), 597, 597, 597, 597, 100)))
    bot.sync()

    assert bot.commands(m.CancelOrder) == ()  # held 1 minute, not 61


def test_the_market_clock_extrapolation_uses_the_configured_speed(tmp_path, clock):
    settings = make_settings(tmp_path, broker={"kind": "ib"})  # a real gateway: speed 1
    bot = start_bot(settings, clock)
    bot.publish(m.BarClosed(m.Bar("SPY", ny(DAY, 9, 59), 597, 597, 597, 597, 100)))
    bot.sync()
    clock.advance(90)

    assert bot.ref("execution").proxy().market_now().get(timeout=WAIT_S) == ny(DAY, 10, 0) + timedelta(
        seconds=90)


def test_a_closing_order_that_filled_while_its_reprice_was_on_the_way_is_not_sold_again(
        tmp_path, clock):
    bot = held_past_max_hold(tmp_path, clock)
    exit1 = bot.commands(m.SubmitOrder)[-1].order
    fill(bot, exit1.client_order_id, 7, 1.70, report=False)  # filled; the report is late

    bot.tick(3)  # the re-price meets the fill: IB refuses to modify a filled order (104)
    bot.broker.release().get(timeout=WAIT_S)  # the fill's report arrives
    bot.sync()

    closed = bot.probe.expect(m.PositionClosed)
    assert closed.quantity == 7 and closed.reason == "max hold 20 min reached"
    assert bot.commands(m.SubmitOrder)[-1].order == exit1  # nothing sold a second time


@pytest.mark.parametrize("trigger", ["emulated stop", "kill switch flatten"])
def test_every_closing_order_is_repriced_not_left_at_the_first_bid(tmp_path, clock, trigger):
    emulated = trigger == "emulated stop"
    settings = make_settings(tmp_path, execution={"oco_mode": "emulated" if emulated else "native"},
                             risk={"kill_switch_flatten": True})
    bot = start_bot(settings, clock)
    bot.publish(m.AccountUpdated("DU1234567", 25_000.0, clock()))
    bot.publish(m.EntryProposed("c-1", IID, "SPY", m.Direction.CALL, CONTRACT, 1.60, 1.55, 1.60,
                                clock()))
    bot.probe.expect(m.EntryApproved)
    bot.sync()  # the entry is at the broker
    fill(bot, f"{IID}.entry", 7, 1.60)
    if emulated:
        quote(bot, 1.27, 1.30)  # under the 1.28 stop
    else:
        quote(bot, 1.70, 1.75)
        bot.publish(m.KillSwitchChanged(True, "test", clock()))
        bot.sync()
    first = bot.commands(m.SubmitOrder)[-1].order

    bot.tick(3)

    second = bot.commands(m.ModifyOrder)[-1].order  # the same order, in place
    assert first.client_order_id.endswith(".exit1") and second.client_order_id == first.client_order_id
    assert second.limit_price == pytest.approx(first.limit_price - 0.01)
    assert second.quantity == 7
    assert working(bot)[first.client_order_id][2] == pytest.approx(first.limit_price - 0.01)
