"""Restart races between actors, pinned in the real actor system (stub broker, no timers).

After a restart the journal's ``TradeRecovered`` and the broker's backfill bars reach execution
in either order, and execution's ``PositionClosed`` for a trade that closed while the bot was
down reaches risk along with the journal's ``RiskRestored``. These tests fix the outcome of each
order the actors may see.
"""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta

import pykka
import pytest
from actor_harness import WAIT_S, Bot, Clock, make_settings, ny, start_bot

from bot import messages as m
from bot.journal.write import journal_path

S = m.OrderStatus
DAY = date(2026, 11, 20)
CONTRACT = m.OptionContract("SPY", "20261120", 598.0, m.Right.CALL, con_id=42)
IID = "SPY-202611201445-abc123"
ENTRY = m.OrderSpec(f"{IID}.entry", m.Side.BUY, 2, m.OrderType.LIMIT, limit_price=1.60)
TP = m.OrderSpec(
    f"{IID}.tp", m.Side.SELL, 2, m.OrderType.LIMIT, limit_price=2.08, oca_group=f"oca-{IID}"
)
SL = m.OrderSpec(
    f"{IID}.sl", m.Side.SELL, 2, m.OrderType.STOP, stop_price=1.28, oca_group=f"oca-{IID}"
)


def held_trade(wall) -> m.TradeRecovered:
    """Entry filled at 09:45, both exits working at the broker: nothing to do but watch."""
    entry_fill = m.OrderFilled(
        "c1", ENTRY.client_order_id, "e1", CONTRACT, m.Side.BUY, 2, 1.60, ny(DAY, 9, 45)
    )
    legs = ((ENTRY, S.FILLED, 2.0), (TP, S.ACKED, 0.0), (SL, S.ACKED, 0.0))
    return m.TradeRecovered(
        "c1", IID, "SPY", CONTRACT, 1.60, legs, (entry_fill,), True, False, wall
    )


@pytest.mark.parametrize(
    ("backfill", "cancels"),
    [
        (True, set()),  # history: yesterday's close is not today's
        (False, {TP.client_order_id, SL.client_order_id}),  # a live bar at the close exits
    ],
)
def test_a_recovered_trade_takes_its_market_time_from_live_bars_only(tmp_path, backfill, cancels):
    clock = Clock(ny(DAY, 10, 0))
    bot = start_bot(make_settings(tmp_path), clock)  # flat 10 min before the close
    bot.publish(held_trade(clock()))
    bot.probe.expect(m.PositionRecovered)

    yesterday_close = ny(DAY - timedelta(days=1), 15, 55)
    bot.publish(m.BarClosed(m.Bar("SPY", yesterday_close, 597, 597, 597, 597, 100), backfill))

    assert {c.client_order_id for c in bot.commands(m.CancelOrder)} == cancels
    assert bot.commands(m.SubmitOrder) == ()


def closed_while_down(pnl: float) -> m.PositionClosed:
    return m.PositionClosed("c1", IID, "SPY", CONTRACT, 2, 1.60, 1.08, pnl, "stop", ny(DAY, 10, 30))


@pytest.mark.parametrize(
    "order",
    [
        ("equity", "restored", "closed"),
        ("restored", "equity", "closed"),
        ("restored", "closed", "equity"),  # the account's figures come late
    ],
)
def test_a_trade_closed_while_down_adds_to_the_restored_day_whenever_the_equity_arrives(
    tmp_path, order
):
    clock = Clock(ny(DAY, 10, 0))
    bot = start_bot(make_settings(tmp_path), clock)  # loss cap 2% of the saved 10,000 = 200
    saved = m.RiskRestored(DAY, True, 10_000.0, -50.0, 1, 1, clock())
    messages = {
        "equity": m.AccountUpdated("DU1", 9_847.0, clock()),
        "restored": saved,
        "closed": closed_while_down(-103.0),
    }

    for name in order:
        bot.publish(messages[name])
    bot.sync()

    stats = bot.ref("risk").proxy().stats().get(timeout=5)
    assert (stats["day"], stats["realized_pnl"], stats["trades"]) == ("2026-11-20", -153.0, 1)
    assert (stats["consecutive_losses"], stats["loss_budget_used_pct"]) == (2, 76.5)


def connect(bot: Bot, orders=(), fills=()) -> None:
    """What the broker publishes after a connect: mode, account, then what IB holds."""
    now = bot.clock()
    bot.publish(m.ModeDecided("paper", "DU1", now))
    bot.publish(m.AccountUpdated("DU1", 10_000.0, now))
    bot.publish(m.BrokerSnapshot(True, tuple(orders), tuple(fills), (), now))
    bot.probe.expect(m.ReconcileFinished)


def open_a_bracket_then_stop(tmp_path):
    """A bot with a journal opens IID's bracket, its entry fills at 1.60, and the bot stops:
    (settings, clock, filled quantity) for the bot that starts next."""
    settings = make_settings(tmp_path, journal={"dir": str(tmp_path / "data")})
    clock = Clock(ny(DAY, 10, 0))
    first = start_bot(settings, clock, journal=True)
    connect(first)
    first.publish(
        m.EntryProposed("c1", IID, "SPY", m.Direction.CALL, CONTRACT, 1.60, 1.55, 1.60, clock())
    )
    qty = first.probe.expect(m.EntryApproved).quantity
    first.probe.expect(m.OrderStatusChanged, lambda e: e.client_order_id == SL.client_order_id)
    first.broker.fill(ENTRY.client_order_id, qty, 1.60, exec_id="e1").get(timeout=WAIT_S)
    first.probe.expect(m.PositionOpened)
    first.sync(rounds=4)
    first.supervisor.stop()
    pykka.ActorRegistry.stop_all(timeout=10)
    return settings, clock, qty


def test_the_restored_day_reaches_risk_before_a_trade_that_closed_while_down(tmp_path):
    settings, clock, qty = open_a_bracket_then_stop(tmp_path)
    # while down: the stop sold the position at 1.00
    fills = [
        m.OrderFilled("c1", cid, exec_id, CONTRACT, side, qty, price, ny(DAY, 10, t))
        for cid, exec_id, side, price, t in (
            (ENTRY.client_order_id, "e1", m.Side.BUY, 1.60, 0),
            (SL.client_order_id, "down1", m.Side.SELL, 1.00, 20),
        )
    ]
    orders = [
        m.BrokerOrder(cid, n, status, done, qty - done, price)
        for n, (cid, status, done, price) in enumerate(
            (
                (ENTRY.client_order_id, S.FILLED, qty, 1.60),
                (TP.client_order_id, S.CANCELLED, 0, 0.0),
                (SL.client_order_id, S.FILLED, qty, 1.00),
            )
        )
    ]

    again = start_bot(settings, clock, journal=True)
    connect(again, orders, fills)
    closed = again.probe.expect(m.PositionClosed)
    again.sync(rounds=4)
    again.supervisor.stop()

    heard = [
        type(e) for e in again.probe.drain() if isinstance(e, m.RiskRestored | m.TradeRecovered)
    ]
    assert heard == [m.RiskRestored, m.TradeRecovered]
    assert (qty, closed.realized_pnl) == (3, -180.0)  # (1.00 - 1.60) x 3 x 100
    conn = sqlite3.connect(journal_path(settings.journal.dir, "paper"))
    try:
        day = conn.execute(
            "SELECT day, realized_pnl, trades, consecutive_losses FROM daily_risk"
        ).fetchall()
    finally:
        conn.close()
    assert day == [("2026-11-20", -180.0, 1, 1)]


def entry_filled_with_exits(qty: float, exits: S) -> tuple[list, list]:
    """IB's orders and executions for IID: the entry filled for ``qty``, both exits ``exits``."""
    fills = [m.OrderFilled("c1", ENTRY.client_order_id, "e1", CONTRACT, m.Side.BUY, qty, 1.60,
                           ny(DAY, 10, 0))]
    orders = [
        m.BrokerOrder(ENTRY.client_order_id, 1, S.FILLED, qty, 0, 1.60),
        m.BrokerOrder(TP.client_order_id, 2, exits, 0, qty, 0.0),
        m.BrokerOrder(SL.client_order_id, 3, exits, 0, qty, 0.0),
    ]
    return orders, fills


def test_a_position_closed_by_hand_while_down_is_closed_outside_and_nothing_is_sent(tmp_path):
    # Arrange: a trade opened with its bracket; while the bot is down someone sells the
    # position in TWS and cancels the exits; the broker holds nothing
    settings, clock, qty = open_a_bracket_then_stop(tmp_path)
    orders, fills = entry_filled_with_exits(qty, S.CANCELLED)

    # Act: the restart's snapshot (positions: none)
    again = start_bot(settings, clock, journal=True)
    connect(again, orders, fills)
    mismatch = again.probe.expect(m.ReconcileMismatch, lambda e: e.kind == "closed_outside")
    again.sync(rounds=4)
    sent = again.commands(m.SubmitOrder)
    again.supervisor.stop()

    # Assert: no exit armed (it would have sold what is not held: a short position)
    assert mismatch.key == IID
    assert sent == ()
    conn = sqlite3.connect(journal_path(settings.journal.dir, "paper"))
    try:
        status = conn.execute("SELECT status FROM intents WHERE intent_id=?", (IID,)).fetchall()
    finally:
        conn.close()
    assert status == [("closed",)]


def test_exits_still_working_for_a_trade_that_ended_before_the_restart_are_cancelled(tmp_path):
    # Arrange: the position was sold by hand; a first restart closed the trade outside and
    # cancelled its exits, but that process died before IB took the cancels: at the next
    # restart the exits still work at the broker, for an intent the journal holds as closed
    settings, clock, qty = open_a_bracket_then_stop(tmp_path)
    orders, fills = entry_filled_with_exits(qty, S.ACKED)
    second = start_bot(settings, clock, journal=True)
    connect(second, orders, fills)
    second.probe.expect(m.ReconcileMismatch, lambda e: e.kind == "closed_outside")
    second.sync(rounds=4)
    second.supervisor.stop()
    pykka.ActorRegistry.stop_all(timeout=10)

    # Act
    third = start_bot(settings, clock, journal=True)
    connect(third, orders, fills)
    third.sync(rounds=4)
    cancels = {c.client_order_id for c in third.commands(m.CancelOrder)}
    third.supervisor.stop()

    # Assert: a SELL left working without the position would open a short
    assert cancels == {TP.client_order_id, SL.client_order_id}


def test_a_restart_tells_execution_the_buy_back_numbers_and_working_buy_backs(tmp_path):
    # Arrange: before the restart the bot bought back a short twice (cover1, cover2 written)
    from bot.journal.write import Journal

    settings, clock, qty = open_a_bracket_then_stop(tmp_path)
    journal = Journal(journal_path(settings.journal.dir, "paper"))
    for n in (1, 2):
        cover = m.OrderSpec(f"{IID}.cover{n}", m.Side.BUY, 1, m.OrderType.MARKET)
        journal.record(m.SubmitOrder("c1", IID, CONTRACT, cover), clock())
    journal.close()

    # Act: IB still works cover2
    again = start_bot(settings, clock, journal=True)
    connect(again, [m.BrokerOrder(f"{IID}.cover2", 7, S.ACKED, 0, 1, 0.0)])
    numbered = again.probe.expect(m.BuyBacksNumbered)
    again.sync(rounds=4)
    cancels = again.commands(m.CancelOrder)
    again.supervisor.stop()

    # Assert: the next buy-back of this intent will be cover3, never cover1 again; cover2 is
    # handed to execution to wait for (its contract from the journal), not cancelled
    assert numbered.highest == ((IID, 2),)
    assert numbered.working == ((CONTRACT.key, f"{IID}.cover2"),)
    assert cancels == ()
