"""Restart races between actors, pinned in the real actor system (stub broker, no timers).

After a restart the journal's ``TradeRecovered`` and the broker's backfill bars reach execution
in either order, and execution's ``PositionClosed`` for a trade that closed while the bot was
down reaches risk along with the journal's ``RiskRestored``. These tests fix the outcome of each
order the actors may see.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from actor_harness import Clock, make_settings, ny, start_bot

from bot import messages as m

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
    return m.TradeRecovered("c1", IID, "SPY", CONTRACT, 1.60, legs, (entry_fill,), True, False, wall)


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
