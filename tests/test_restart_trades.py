"""Rebuilding a trade after a restart (``bot.trading.execution.restore``) and the kill-switch transition."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from actor_harness import make_settings
from pure_helpers import RECOVERED_CONTRACT, RECOVERED_INTENT, bracket_specs

from bot import messages as m
from bot.trading import execution

S = m.OrderStatus
WALL = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
CONTRACT, IID = RECOVERED_CONTRACT, RECOVERED_INTENT
ENTRY, TP, SL = bracket_specs(IID)


def fill(spec: m.OrderSpec, exec_id: str, price: float, qty: float = 2) -> m.OrderFilled:
    side = m.Side.BUY if spec is ENTRY else m.Side.SELL
    return m.OrderFilled(
        "c1",
        spec.client_order_id,
        exec_id,
        CONTRACT,
        side,
        qty,
        price,
        WALL - timedelta(minutes=3),
        1.30,
    )


def recovered(legs, fills=(), opened=True, resend=False) -> m.TradeRecovered:
    return m.TradeRecovered(
        "c1", IID, "SPY", CONTRACT, 1.60, tuple(legs), tuple(fills), opened, resend, WALL
    )


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path)


def names(effects) -> list[str]:
    return [type(e).__name__ for e in effects]


def test_an_open_trade_with_working_exits_is_managed_again_without_a_new_order(settings):
    rec = recovered(
        [(ENTRY, S.FILLED, 2), (TP, S.ACKED, 0), (SL, S.ACKED, 0)], [fill(ENTRY, "e1", 1.60)]
    )

    trade, effects = execution.restore(rec, settings, WALL)

    assert (trade.position, trade.finished) == (2, False)
    assert [g.spec.client_order_id for g in trade.working_exits] == [
        TP.client_order_id,
        SL.client_order_id,
    ]
    assert names(effects) == ["PositionRecovered", "SubscribeQuotes"]
    assert (effects[0].quantity, effects[0].symbol) == (2, "SPY")


def test_a_take_profit_filled_while_down_closes_the_trade_with_its_pnl(settings):
    rec = recovered(
        [(ENTRY, S.FILLED, 2), (TP, S.FILLED, 2), (SL, S.CANCELLED, 0)],
        [fill(ENTRY, "e1", 1.60), fill(TP, "e2", 2.08)],
    )

    trade, effects = execution.restore(rec, settings, WALL)

    assert trade.finished
    assert names(effects) == [
        "PositionRecovered",
        "SubscribeQuotes",
        "PositionClosed",
        "UnsubscribeQuotes",
    ]
    closed = effects[2]
    # (2.08 - 1.60) x 2 x 100 - 2 x 1.30 commission
    assert (closed.realized_pnl, closed.exit_price, closed.reason) == (93.4, 2.08, "take profit")


def test_an_entry_that_filled_while_down_opens_the_position_and_counts_as_a_trade(settings):
    rec = recovered(
        [(ENTRY, S.FILLED, 2), (TP, S.ACKED, 0), (SL, S.ACKED, 0)],
        [fill(ENTRY, "e1", 1.60)],
        opened=False,
    )

    _, effects = execution.restore(rec, settings, WALL)

    assert names(effects) == ["PositionOpened", "SubscribeQuotes"]


def test_a_held_position_whose_exits_are_gone_gets_a_fresh_oco_pair_stop_first(settings):
    rec = recovered(
        [(ENTRY, S.FILLED, 2), (TP, S.CANCELLED, 0), (SL, S.CANCELLED, 0)],
        [fill(ENTRY, "e1", 1.60)],
    )

    trade, effects = execution.restore(rec, settings, WALL)

    # the stop goes first: a process killed between the two orders leaves the protective one
    orders = [e.order for e in effects if isinstance(e, m.SubmitOrder)]
    assert [(o.client_order_id, o.quantity, o.oca_group) for o in orders] == [
        (f"{IID}.sl1", 2, f"oca-{IID}-1"),
        (f"{IID}.tp1", 2, f"oca-{IID}-1"),
    ]
    assert (orders[0].stop_price, orders[1].limit_price) == (1.28, 2.08)


def test_a_position_found_bare_at_a_restart_alarms_at_once_while_its_fresh_pair_goes_out(settings):
    rec = recovered(
        [(ENTRY, S.FILLED, 2), (TP, S.CANCELLED, 0), (SL, S.CANCELLED, 0)],
        [fill(ENTRY, "e1", 1.60)],
    )

    trade, effects = execution.restore(rec, settings, WALL)

    alarms = [e for e in effects if isinstance(e, m.PositionUnprotected)]
    assert [(a.intent_id, a.quantity, a.ts) for a in alarms] == [(IID, 2, WALL)]
    assert trade.alarmed and "SubmitOrder" in names(effects)


def test_a_position_found_protected_at_a_restart_raises_no_alarm(settings):
    rec = recovered(
        [(ENTRY, S.FILLED, 2), (TP, S.ACKED, 0), (SL, S.ACKED, 0)], [fill(ENTRY, "e1", 1.60)]
    )

    trade, effects = execution.restore(rec, settings, WALL)

    assert not trade.alarmed and "PositionUnprotected" not in names(effects)


def test_a_fill_trimmed_to_what_the_broker_holds_is_not_added_back_when_reported_again(settings):
    # Arrange: the entry filled 5 + 2, someone sold 3 while the bot was down: IB holds 4
    first, second = fill(ENTRY, "e1", 1.60, qty=5), fill(ENTRY, "e2", 1.60, qty=2)
    rec = replace(recovered([(ENTRY, S.FILLED, 7), (TP, S.ACKED, 0), (SL, S.ACKED, 0)],
                            [first, second]), held=4.0)
    trade, _ = execution.restore(rec, settings, WALL)

    # Act: the broker's replay of the day's executions brings the second fill again
    trade, effects = execution.on_fill(trade, second, WALL)

    # Assert: still 4, and no exits armed for more
    assert trade.position == 4 and effects == []


def resent(settings):
    rec = recovered(
        [(ENTRY, S.CREATED, 0), (TP, S.CREATED, 0), (SL, S.CREATED, 0)], opened=False, resend=True
    )
    return execution.restore(rec, settings, WALL)


def option_quote(bid: float, ask: float, at: datetime = WALL) -> m.Quote:
    return m.Quote(CONTRACT, bid, ask, bid, at, volume=100)


def test_a_resend_sends_nothing_at_the_journaled_price_and_waits_for_a_fresh_quote(settings):
    trade, effects = resent(settings)

    assert names(effects) == ["Note", "SubscribeQuotes"]
    assert effects[0].event == "resend_waiting_quote"
    assert trade.awaiting_quote_since == WALL and not trade.finished


def test_a_resend_is_repriced_from_the_fresh_ask_with_its_exits_rederived(settings):
    trade, _ = resent(settings)

    trade, effects = execution.on_quote(trade, option_quote(1.45, 1.50), WALL + timedelta(seconds=2))

    (command,) = [e for e in effects if isinstance(e, m.SubmitBracket)]
    assert [s.client_order_id for s in (command.parent, command.take_profit, command.stop)] == [
        ENTRY.client_order_id, TP.client_order_id, SL.client_order_id]
    # 1.50 entry: take-profit +30 % = 1.95, stop -20 % = 1.20; the quantity approved stays
    assert (command.parent.limit_price, command.take_profit.limit_price, command.stop.stop_price) == (
        1.50, 1.95, 1.20)
    assert command.parent.quantity == 2 and command.stop.oca_type == 3
    assert [g.status for g in trade.legs] == [S.SUBMITTED] * 3


@pytest.mark.parametrize("ask", [1.50, 1.60, 1.76])
def test_a_resend_keeps_the_approved_quantity_within_the_allowed_rise(settings, ask):
    trade, _ = resent(settings)

    _, effects = execution.on_quote(trade, option_quote(ask - 0.05, ask), WALL)

    (command,) = [e for e in effects if isinstance(e, m.SubmitBracket)]
    assert [s.quantity for s in (command.parent, command.take_profit, command.stop)] == [2] * 3
    assert command.parent.limit_price == ask


@pytest.mark.parametrize(("quote_at_s", "ask", "reason"), [
    (None, None, "no fresh quote within 10s of the resend"),
    (3, 1.77, "ask 1.77 more than 10% above the approved 1.60"),
])
def test_a_resend_expires_without_a_fresh_quote_or_above_the_approved_price(
        settings, quote_at_s, ask, reason):
    trade, _ = resent(settings)

    if ask is not None:
        trade, effects = execution.on_quote(trade, option_quote(ask - 0.05, ask),
                                            WALL + timedelta(seconds=quote_at_s))
    else:
        trade, effects = execution.on_clock(trade, settings, WALL + timedelta(seconds=9.9), None)
        assert effects == []
        trade, effects = execution.on_clock(trade, settings, WALL + timedelta(seconds=10), None)

    assert names(effects) == ["EntryExpired", "UnsubscribeQuotes"]
    assert effects[0].reason == reason and trade.finished
    assert not any(isinstance(e, m.SubmitBracket | m.SubmitOrder) for e in effects)


def test_an_emulated_trade_watches_its_stop_again_after_a_restart(tmp_path):
    settings = make_settings(tmp_path, execution={"oco_mode": "emulated"})
    tp1 = m.OrderSpec(f"{IID}.tp1", m.Side.SELL, 2, m.OrderType.LIMIT, limit_price=2.08)
    rec = recovered([(ENTRY, S.FILLED, 2), (tp1, S.ACKED, 0)], [fill(ENTRY, "e1", 1.60)])
    trade, _ = execution.restore(rec, settings, WALL)
    quote = m.Quote(CONTRACT, bid=1.20, ask=1.25, last=1.22, ts=WALL)

    trade, effects = execution.on_quote(trade, quote, WALL)

    assert trade.closing_reason.startswith("stop 1.28 hit at bid 1.20")
    assert [(type(e).__name__, e.client_order_id) for e in effects] == [
        ("CancelOrder", tp1.client_order_id)
    ]


@pytest.mark.parametrize(
    ("cancel_entries", "flatten", "expected"),
    [
        (True, False, [("CancelOrder", f"{IID}.entry")]),
        (False, False, []),
        (
            True,
            True,
            [
                ("CancelOrder", f"{IID}.entry"),
                ("CancelOrder", f"{IID}.tp"),
                ("CancelOrder", f"{IID}.sl"),
            ],
        ),
    ],
)
def test_the_kill_switch_cancels_working_entries_and_flattens_as_configured(
    tmp_path, cancel_entries, flatten, expected
):
    settings = make_settings(
        tmp_path,
        risk={"kill_switch_cancel_entries": cancel_entries, "kill_switch_flatten": flatten},
    )
    rec = recovered(
        [(ENTRY, S.PARTIAL, 1), (TP, S.ACKED, 0), (SL, S.ACKED, 0)],
        [fill(ENTRY, "e1", 1.60, qty=1)],
    )
    trade, _ = execution.restore(rec, settings, WALL)

    trade, effects = execution.kill_switch(trade, settings, WALL)

    assert [(type(e).__name__, e.client_order_id) for e in effects] == expected
    assert trade.closing_reason == ("kill switch" if flatten else "")


def test_a_take_profit_the_broker_calls_filled_without_a_quantity_arms_nothing_before_its_fill(
        settings):
    # IB's openOrder for a filled order carries the status, not the filled quantity: the leg
    # is filled in full, so its execution (applied after the entry's) is awaited, never
    # answered with a fresh exit pair that would sell the position a second time
    rec = recovered(
        [(ENTRY, S.FILLED, 2), (TP, S.FILLED, 0), (SL, S.CANCELLED, 0)],
        [fill(ENTRY, "e1", 1.60), fill(TP, "e2", 2.08)],
    )

    trade, effects = execution.restore(rec, settings, WALL)

    assert trade.finished
    assert names(effects) == ["PositionRecovered", "SubscribeQuotes", "PositionClosed",
                              "UnsubscribeQuotes"]


def test_a_position_filled_in_parts_while_down_keeps_its_fitting_exit_pair(settings):
    # The entry filled 1 + 1 while the bot was down; its bracket's pair covers the 2 held.
    # Deciding after the first fill alone (1 held, a pair for 2) would cancel the pair.
    rec = recovered(
        [(ENTRY, S.FILLED, 2), (TP, S.ACKED, 0), (SL, S.ACKED, 0)],
        [fill(ENTRY, "e1", 1.60, qty=1), fill(ENTRY, "e2", 1.60, qty=1)],
    )

    trade, effects = execution.restore(rec, settings, WALL)

    assert trade.position == 2
    assert names(effects) == ["PositionRecovered", "SubscribeQuotes"]


def test_a_reconnect_that_brings_partial_fills_of_a_filled_entry_keeps_the_fitting_pair(settings):
    # Arrange: a running trade heard its entry Filled (2) but none of its executions yet
    trade, _ = execution.restore(recovered([(ENTRY, S.ACKED, 0), (TP, S.ACKED, 0),
                                            (SL, S.ACKED, 0)], opened=False), settings, WALL)
    filled = m.OrderStatusChanged("c1", ENTRY.client_order_id, S.FILLED, 2, 0, 1.6, WALL)
    trade, _ = execution.on_status(trade, filled, WALL)

    # Act: the reconnect's snapshot brings the two executions, 1 + 1
    rec = recovered([(ENTRY, S.FILLED, 2), (TP, S.ACKED, 0), (SL, S.ACKED, 0)],
                    [fill(ENTRY, "e1", 1.60, qty=1), fill(ENTRY, "e2", 1.60, qty=1)])
    trade, effects = execution.merge(trade, rec, WALL)

    # Assert: 2 held, the bracket's pair for 2 kept (nothing cancelled, nothing new)
    assert trade.position == 2
    assert "CancelOrder" not in names(effects) and "SubmitOrder" not in names(effects)


def test_a_time_exit_right_after_a_fresh_pair_was_armed_joins_it_instead_of_cancelling_it(
        settings):
    # Arrange: restored with its exits gone, so a fresh pair goes out (not yet acknowledged)
    rec = recovered([(ENTRY, S.FILLED, 2), (TP, S.CANCELLED, 0), (SL, S.CANCELLED, 0)],
                    [fill(ENTRY, "e1", 1.60)])
    trade, armed = execution.restore(rec, settings, WALL)
    pair = [e.order for e in armed if isinstance(e, m.SubmitOrder)]

    # Act: max hold is already over
    trade, effects = execution.begin_exit(trade, "max hold 20 min reached", WALL)

    # Assert: the close joins the fresh pair's group; the pair is not cancelled
    assert [o.client_order_id[-3:] for o in pair] == ["sl1", "tp1"]
    assert "CancelOrder" not in names(effects)
    close = next(e.order for e in effects if isinstance(e, m.SubmitOrder))
    assert (close.quantity, close.oca_group, close.oca_type) == (2, pair[1].oca_group, 3)


def test_bracket_exits_for_more_than_the_broker_still_holds_are_resized_at_a_restart(settings):
    # Arrange: the entry bought 2 and its bracket pair works for 2 at IB; while the bot was
    # down someone sold 1, so IB holds 1 (chaos seed 95073: the stop then sold 2, short 1)
    rec = replace(recovered([(ENTRY, S.FILLED, 2), (TP, S.ACKED, 0), (SL, S.ACKED, 0)],
                            [fill(ENTRY, "e1", 1.60, qty=2)]), held=1.0)

    # Act
    trade, effects = execution.restore(rec, settings, WALL)

    # Assert: the pair that would sell 2 is cancelled, nothing new until IB confirms, alarm up
    cancelled = [e.client_order_id for e in effects if isinstance(e, m.CancelOrder)]
    assert trade.position == 1
    assert sorted(cancelled) == sorted([TP.client_order_id, SL.client_order_id])
    assert not any(isinstance(e, m.SubmitOrder) for e in effects)
    assert "PositionUnprotected" in names(effects)
