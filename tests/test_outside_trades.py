"""A position changed outside the bot (sold in TWS, by another program): the broker's quantity
is the truth. The bot never leaves exits that would sell more than is held (a SELL beyond the
position opens a short), shrinks its trade to what is held and protects that, or closes the
trade when nothing is left (invariants 2 and 3 in ``bot/trading/execution.py``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from actor_harness import Clock, make_settings, ny, start_bot
from test_execution_safety import CONTRACT, DAY, IID, enter, fill, run_bot, working

from bot import messages as m
from bot.app.config import Settings
from bot.trading import execution
from bot.trading.trade import shortfalls

S = m.OrderStatus


def held(bot, quantity: float) -> None:
    """The broker actor reports the account's position in the option."""
    bot.publish(m.PositionChanged(m.BrokerPosition(CONTRACT, CONTRACT.key, quantity, 160.0),
                                  bot.clock()))
    bot.sync()


@pytest.fixture
def clock():
    return Clock(ny(DAY, 10, 0))


def opened(tmp_path, clock, mode="paper"):
    bot = run_bot(tmp_path, clock)
    bot.publish(m.ModeDecided(mode, "DU1234567", clock()))
    b = enter(bot)
    fill(bot, b.parent.client_order_id, 7, 1.60)
    held(bot, 7)
    return bot, b


def test_a_position_partly_sold_outside_gets_exits_sized_to_what_is_left(tmp_path, clock):
    bot, b = opened(tmp_path, clock)

    held(bot, 3)  # someone sold 4 in TWS
    bot.tick(3)  # past OUTSIDE_GRACE_S: our own reports would have explained it by now
    bot.sync(rounds=6)  # the old pair's cancels confirmed, then a pair for 3 sent and acked

    orders = working(bot)
    assert b.take_profit.client_order_id not in orders and b.stop.client_order_id not in orders
    assert sorted((kind, rem) for kind, rem, _ in orders.values()) == [
        (m.OrderType.LIMIT, 3), (m.OrderType.STOP, 3)]
    assert bot.ref("execution").proxy().stats().get(timeout=5)["positions"] == {IID: 3}


def test_a_position_sold_outside_entirely_closes_the_trade_and_cancels_its_exits(tmp_path, clock):
    bot, _ = opened(tmp_path, clock)

    held(bot, 0)
    bot.tick(3)

    closed = bot.probe.expect(m.PositionClosed)
    assert closed.reason == "closed outside the bot"
    assert closed.realized_pnl == pytest.approx(0.0)  # nothing sold by the bot, nothing counted
    assert working(bot) == {}


def test_a_broker_report_that_only_trails_our_own_fills_changes_nothing(tmp_path, clock):
    bot, b = opened(tmp_path, clock)

    held(bot, 3)  # the position report of our own take-profit's partial fill arrives first...
    fill(bot, b.take_profit.client_order_id, 4, 2.08)  # ...then its execution
    bot.tick(3)

    assert bot.ref("execution").proxy().stats().get(timeout=5)["positions"] == {IID: 3}
    assert b.stop.client_order_id in working(bot)  # the type-3 stop shrank to 3 at the broker


def test_a_dry_run_never_compares_its_shadow_trades_with_the_account(tmp_path, clock):
    bot, b = opened(tmp_path, clock, mode="shadow")

    held(bot, 0)  # the real account holds nothing: shadow fills never reach it
    bot.tick(3)

    assert bot.ref("execution").proxy().stats().get(timeout=5)["positions"] == {IID: 7}
    assert b.stop.client_order_id in working(bot)


# -- the pure rules ---------------------------------------------------------------------------

T0 = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)


def trade(intent: str, position: float, minutes: int, reported_exit_fills: float = 0.0):
    approved = m.EntryApproved("c", intent, "SPY", CONTRACT, int(position), 1.60, T0)
    t, _ = execution.open_trade(approved, Settings(), T0)
    legs = list(t.legs)
    legs[1] = replace(legs[1], reported_filled=reported_exit_fills)
    return replace(t, position=position, opened_at=T0 + timedelta(minutes=minutes), legs=tuple(legs))


@pytest.mark.parametrize(
    ("trades", "broker_holds", "expected"),
    [
        ([("A", 5, 0)], 5, {}),
        ([("A", 5, 0)], 7, {}),                      # more at the broker: not ours to judge
        ([("A", 5, 0)], 2, {"A": 2}),
        ([("A", 5, 0), ("B", 3, 1)], 6, {"B": 1}),   # the newest shrinks first
        ([("A", 5, 0), ("B", 3, 1)], 0, {"A": 0, "B": 0}),
        ([("A", 5, 0, 2)], 3, {}),                   # 2 sold by our own exit, reported already
        ([("A", 5, 0, 2)], 1, {"A": 3}),             # 2 ours + 2 outside: 1 held, 2 on the way
    ],
)
def test_the_broker_quantity_is_shared_oldest_first(trades, broker_holds, expected):
    assert shortfalls([trade(*t) for t in trades], broker_holds) == expected


def test_a_short_left_by_an_exit_racing_an_outside_sale_is_bought_back_once(tmp_path, clock):
    # Arrange: someone sold the 7 in TWS a moment before our stop filled for 7: short 7
    bot, b = opened(tmp_path, clock)
    fill(bot, b.stop.client_order_id, 7, 1.28)
    held(bot, -7)

    # Act
    bot.tick(3)
    bot.tick(3)  # still short: the buy-back is on its way, not sent twice

    # Assert
    covers = [c.order for c in bot.commands(m.SubmitOrder) if ".cover" in c.order.client_order_id]
    assert [(o.side, o.quantity, o.order_type) for o in covers] == [
        (m.Side.BUY, 7, m.OrderType.MARKET)]
    assert covers[0].client_order_id == f"{IID}.cover1"


def test_no_buy_back_is_tried_while_the_broker_link_is_down_and_one_goes_once_it_is_back(
        tmp_path, clock):
    # Arrange: the socket to the gateway drops (an order now is refused locally) as the
    # report of a short 7 comes in
    bot, b = opened(tmp_path, clock)
    fill(bot, b.stop.client_order_id, 7, 1.28)
    bot.publish(m.ConnectionChanged("disconnected", 18, clock()))
    held(bot, -7)
    bot.sync()

    # Act
    for _ in range(4):
        bot.tick(3)
    while_down = buy_backs(bot)
    bot.publish(m.ConnectionChanged("connected", 18, clock()))
    bot.sync()
    bot.tick(3)

    # Assert: nothing numbered and refused in a loop while down; one buy-back once back
    assert while_down == []
    assert buy_backs(bot) == [f"{IID}.cover1"]


def test_after_a_restart_buy_backs_number_on_from_those_the_journal_holds(tmp_path, clock):
    bot, b = opened(tmp_path, clock)
    bot.publish(m.BuyBacksNumbered(((IID, 3),), clock()))  # an earlier process used cover1-3
    fill(bot, b.stop.client_order_id, 7, 1.28)
    held(bot, -7)

    bot.tick(3)

    assert buy_backs(bot) == [f"{IID}.cover4"]


def test_a_bot_with_a_journal_buys_back_nothing_before_the_journal_said_what_still_works(
        tmp_path, clock):
    # Arrange: a bot whose orders go through the journal (write-ahead), before its first
    # snapshot: our stop's fill is reported and the account is short 7
    bot = start_bot(make_settings(tmp_path, journal={"dir": str(tmp_path / "data")}), clock,
                    journal=True)
    bot.publish(m.ModeDecided("paper", "DU1234567", clock()))
    bot.publish(m.OrderFilled("c-1", f"{IID}.sl", "x1", CONTRACT, m.Side.SELL, 7, 1.28,
                              clock()))
    held(bot, -7)

    # Act
    bot.tick(3)
    before = buy_backs(bot)
    bot.publish(m.BuyBacksNumbered((), clock()))  # what the journal says at the first snapshot
    bot.sync()
    bot.tick(3)

    # Assert: an earlier process's buy-back might still have been working: none before
    assert before == []
    assert buy_backs(bot) == [f"{IID}.cover1"]


def test_a_buy_back_an_earlier_process_left_working_is_adopted_not_doubled(tmp_path, clock):
    bot, b = opened(tmp_path, clock)
    fill(bot, b.stop.client_order_id, 7, 1.28)
    bot.publish(m.BuyBacksNumbered(((IID, 2),), clock(), ((CONTRACT.key, f"{IID}.cover2"),)))
    held(bot, -7)

    bot.tick(3)
    bot.tick(3)

    assert buy_backs(bot) == []  # cover2 may still fill: nothing more until IB says it is done
    working_refs = bot.ref("execution").proxy().stats().get(timeout=5)["working_refs"]
    assert f"{IID}.cover2" in working_refs


def test_a_short_in_an_option_the_bot_never_traded_is_left_alone(tmp_path, clock):
    bot, _ = opened(tmp_path, clock)
    other = m.OptionContract("SPY", "20261118", 600.0, m.Right.PUT)
    bot.publish(m.PositionChanged(m.BrokerPosition(other, other.key, -2, 50.0), bot.clock()))

    bot.tick(3)

    assert [c for c in bot.commands(m.SubmitOrder) if ".cover" in c.order.client_order_id] == []


def test_a_buy_back_never_acknowledged_is_cancelled_and_only_then_sent_again(tmp_path, clock):
    # Arrange: short 7 (as above), and a broker that acknowledges nothing by itself
    bot, b = opened_unacked(tmp_path, clock)
    fill(bot, b.stop.client_order_id, 7, 1.28)
    held(bot, -7)

    # Act: the buy-back goes; unacknowledged past ack_timeout_s it is cancelled; only once IB
    # confirms the cancel does the next one go
    bot.tick(3)
    bot.tick(5)
    sent_before_timeout = buy_backs(bot)
    bot.tick(10)
    cancels = [c.client_order_id for c in bot.commands(m.CancelOrder) if ".cover" in c.client_order_id]
    bot.tick(3)
    sent_before_confirmation = buy_backs(bot)
    bot.broker.cancel(f"{IID}.cover1").get(timeout=5)  # IB confirms the cancel: nothing filled
    bot.sync()
    bot.tick(3)

    # Assert: and the bot knows the buy-back it has out as working (the heartbeat's view)
    assert sent_before_timeout == sent_before_confirmation == [f"{IID}.cover1"]
    assert cancels == [f"{IID}.cover1"]
    assert buy_backs(bot) == [f"{IID}.cover1", f"{IID}.cover2"]
    working_refs = bot.ref("execution").proxy().stats().get(timeout=5)["working_refs"]
    assert f"{IID}.cover2" in working_refs and f"{IID}.cover1" not in working_refs


def opened_unacked(tmp_path, clock):
    """Holding 7 with its bracket acknowledged, on a broker that acknowledges nothing by itself
    (cancels included: the test plays IB's answers)."""
    bot = run_bot(tmp_path, clock, auto_ack=False)
    bot.publish(m.ModeDecided("paper", "DU1234567", clock()))
    b = enter(bot)
    for spec in (b.parent, b.take_profit, b.stop):
        bot.broker.ack(spec.client_order_id).get(timeout=5)
    fill(bot, b.parent.client_order_id, 7, 1.60)
    return bot, b


def buy_backs(bot) -> list[str]:
    return [c.order.client_order_id for c in bot.commands(m.SubmitOrder)
            if ".cover" in c.order.client_order_id]


def test_a_short_left_by_a_trade_that_closed_before_a_restart_is_bought_back(tmp_path, clock):
    # Arrange: a restarted bot knows no trade; IB replays the day's executions, among them our
    # exit that sold 8 where only 4 were left (someone sold 4 in TWS): short 4
    bot = run_bot(tmp_path, clock)
    bot.publish(m.ModeDecided("paper", "DU1234567", clock()))
    exit_fill = m.OrderFilled("c-9", f"{IID}.exit1", "0009.01", CONTRACT, m.Side.SELL, 8.0, 1.5,
                              clock())
    bot.publish(exit_fill)
    held(bot, -4)

    # Act
    bot.tick(3)

    # Assert
    assert [(c.intent_id, c.order.client_order_id, c.order.side, c.order.quantity)
            for c in bot.commands(m.SubmitOrder)] == [(IID, f"{IID}.cover1", m.Side.BUY, 4)]


def test_a_lost_cancel_of_a_trade_closed_outside_is_sent_again(tmp_path, clock):
    # Arrange: everything sold in TWS; the bot closes the trade and cancels its exits, but the
    # broker never answers the cancels (lost on the way)
    bot, b = opened_unacked(tmp_path, clock)
    held(bot, 0)
    bot.tick(3)
    bot.probe.expect(m.PositionClosed)
    first = [c.client_order_id for c in bot.commands(m.CancelOrder)]

    # Act: past cancel_timeout_s (10) without an answer
    bot.tick(11)

    # Assert: each cancel went again
    again = [c.client_order_id for c in bot.commands(m.CancelOrder)][len(first):]
    assert sorted(first) == sorted(again) == sorted(
        [b.take_profit.client_order_id, b.stop.client_order_id])


def test_a_short_being_bought_back_is_in_the_bot_s_view_of_what_is_held(tmp_path, clock):
    # Arrange: someone sold the 7 outside a moment before our stop filled for 7: short 7
    bot, b = opened(tmp_path, clock)
    fill(bot, b.stop.client_order_id, 7, 1.28)
    held(bot, -7)

    # Act
    bot.tick(3)
    view = bot.ref("execution").proxy().stats().get(timeout=5)["positions"]

    # Assert: the bot reports the short the broker holds for the intent, not nothing
    # (chaos seed 95171: its view said 0 while the broker was short 5)
    assert view == {IID: -7}


def test_a_short_no_trade_still_holds_is_bought_back_on_the_report_without_waiting(tmp_path, clock):
    # Arrange: the trade closed (its stop sold the 7); then the broker reports short 7
    bot, b = opened(tmp_path, clock)
    fill(bot, b.stop.client_order_id, 7, 1.28)

    # Act: no tick of the clock after the report
    held(bot, -7)

    # Assert: the buy-back went at once (no fill of ours can explain a short)
    assert buy_backs(bot) == [f"{IID}.cover1"]
