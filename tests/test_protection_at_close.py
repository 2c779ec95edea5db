"""DAY exits at the close: IB expires them whether or not the bot hears it (``bot/trading/protection.py``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pure_helpers import RECOVERED_CONTRACT, RECOVERED_INTENT, ny

from bot import messages as m
from bot.app.config import Settings
from bot.trading import execution
from bot.trading.market_hours import close_passed

BEFORE_CLOSE = ny(2026, 11, 18, 15, 59)
"""A Wednesday, a minute before its 16:00 close."""


@pytest.mark.parametrize(("before", "now", "passed"), [
    (ny(2026, 11, 18, 15, 59), ny(2026, 11, 18, 15, 59, 59), False),
    (ny(2026, 11, 18, 15, 59), ny(2026, 11, 18, 16, 0), True),
    (ny(2026, 11, 18, 16, 0), ny(2026, 11, 18, 16, 5), False),  # that close was already past
    (ny(2026, 11, 18, 17, 0), ny(2026, 11, 19, 15, 0), False),  # overnight, before the next
    (ny(2026, 11, 18, 17, 0), ny(2026, 11, 19, 16, 1), True),
    (ny(2026, 11, 21, 12, 0), ny(2026, 11, 23, 16, 0), True),  # a Saturday to Monday's close
    (ny(2026, 11, 27, 12, 59), ny(2026, 11, 27, 13, 0), True),  # the day after Thanksgiving: 13:00
])
def test_a_close_passed_when_a_session_closed_between_the_two_instants(before, now, passed):
    assert close_passed(before, now) is passed


def held_with_acked_exits() -> execution.Trade:
    """Bought 2; the bracket's take-profit and stop (DAY) acknowledged by IB."""
    approved = m.EntryApproved("c1", RECOVERED_INTENT, "SPY", RECOVERED_CONTRACT, 2, 1.6,
                               BEFORE_CLOSE)
    trade, _ = execution.open_trade(approved, Settings.model_validate({}), BEFORE_CLOSE)
    trade, _ = execution.on_fill(trade, m.OrderFilled(
        "c1", f"{RECOVERED_INTENT}.entry", "e1", RECOVERED_CONTRACT, m.Side.BUY, 2.0, 1.6,
        BEFORE_CLOSE), BEFORE_CLOSE)
    for role in ("tp", "sl"):
        trade, _ = execution.on_status(trade, m.OrderStatusChanged(
            "c1", f"{RECOVERED_INTENT}.{role}", m.OrderStatus.ACKED, 0, 2, 0.0, BEFORE_CLOSE),
            BEFORE_CLOSE)
    return trade


def test_exits_the_bot_never_heard_expire_at_the_close_raise_the_alarm_and_send_nothing():
    # Arrange: protected a minute before the close; then the bot hears nothing more (cut off)
    trade = held_with_acked_exits()
    cfg = trade.settings
    trade, _ = execution.on_clock(trade, cfg, BEFORE_CLOSE, BEFORE_CLOSE)
    assert not trade.alarmed

    # Act: the exchange clock passes 16:00, then the protection deadline passes
    after = BEFORE_CLOSE + timedelta(minutes=1, seconds=1)
    trade, at_close = execution.on_clock(trade, cfg, after, after)
    later = after + timedelta(seconds=cfg.execution.protect_within_s + 1)
    trade, effects = execution.on_clock(trade, cfg, later, later)

    # Assert: the expired exits no longer protect: alarmed, with the reason
    alarms = [e for e in effects if isinstance(e, m.PositionUnprotected)]
    assert [a.why for a in alarms] == ["exits expired at the close (DAY orders)"]
    assert any(getattr(e, "event", "") == "exits_expired_at_close" for e in at_close)
    # nothing new is sent while IB has not said they ended (invariant 2: they might still sell)
    sent = [e for e in at_close + effects if isinstance(e, m.SubmitOrder | m.SubmitBracket)]
    assert sent == []


def test_once_ib_says_the_expired_orders_ended_a_closing_order_goes_for_the_next_session():
    # Arrange: held into the close (the flat-before-close exit was sent at 15:59, joining the
    # bracket's exits), and the close passed unheard
    trade = held_with_acked_exits()
    cfg = trade.settings
    trade, _ = execution.on_clock(trade, cfg, BEFORE_CLOSE, BEFORE_CLOSE)
    after = BEFORE_CLOSE + timedelta(minutes=2)
    trade, _ = execution.on_clock(trade, cfg, after, after)
    expired = [g.spec.client_order_id for g in trade.legs[1:] if g.expired_at_close]

    # Act: reconnected, IB reports each of them Cancelled
    effects: list = []
    for coid in expired:
        trade, more = execution.on_status(trade, m.OrderStatusChanged(
            "c1", coid, m.OrderStatus.CANCELLED, 0, 2, 0.0, after), after)
        effects += more

    # Assert: one closing SELL for the whole position, queued by IB for the next session
    assert [c.rsplit(".", 1)[1] for c in expired] == ["tp", "sl", "exit1"]
    sent = [e.order for e in effects if isinstance(e, m.SubmitOrder)]
    assert [(s.side, s.quantity) for s in sent] == [(m.Side.SELL, 2)]
