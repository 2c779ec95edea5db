"""Restart reconciliation as pure rules: the journal's live intents against the broker's snapshot."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pure_helpers import RECOVERED_CONTRACT, RECOVERED_INTENT, bracket_specs

from bot import messages as m
from bot.journal.reconcile import JournalIntent, JournalOrder, reconcile

S = m.OrderStatus
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # 10:00 New York
CONTRACT, IID = RECOVERED_CONTRACT, RECOVERED_INTENT
ENTRY, TP, SL = bracket_specs(IID)
BRACKET = (JournalOrder(ENTRY, "FILLED"), JournalOrder(TP, "ACKED"), JournalOrder(SL, "ACKED"))


def fill(
    leg: m.OrderSpec, exec_id: str, side: m.Side, price: float, qty: float = 2
) -> m.OrderFilled:
    return m.OrderFilled(
        "c1",
        leg.client_order_id,
        exec_id,
        CONTRACT,
        side,
        qty,
        price,
        NOW - timedelta(minutes=5),
        1.3,
    )


ENTRY_FILL = fill(ENTRY, "e1", m.Side.BUY, 1.60)
TP_FILL = fill(TP, "e2", m.Side.SELL, 2.08)


def intent(
    status: str = "open",
    orders=BRACKET,
    fills=(ENTRY_FILL,),
    sent_ago_s: float = 300,
    resends: int = 0,
) -> JournalIntent:
    return JournalIntent(
        IID,
        "c1",
        "SPY",
        CONTRACT,
        1.60,
        status,
        NOW - timedelta(seconds=sent_ago_s),
        resends,
        orders,
        fills,
    )


def order(spec: m.OrderSpec, status: S, filled: float = 0.0, order_id: int = 7) -> m.BrokerOrder:
    return m.BrokerOrder(
        spec.client_order_id, order_id, status, filled, spec.quantity - filled, 0.0, CONTRACT.key
    )


def snapshot(orders=(), fills=(), positions=(), first=True) -> m.BrokerSnapshot:
    return m.BrokerSnapshot(first, tuple(orders), tuple(fills), tuple(positions), NOW)


def held(quantity: float, contract=CONTRACT, avg_cost: float = 160.0) -> m.BrokerPosition:
    return m.BrokerPosition(contract, contract.key, quantity, avg_cost)


WORKING_BRACKET = (order(ENTRY, S.FILLED, 2), order(TP, S.ACKED), order(SL, S.ACKED))


def plan_for(intents, snap, **kw):
    return reconcile(list(intents), snap, NOW, entry_timeout_s=kw.pop("entry_timeout_s", 60), **kw)


def kinds(plan) -> list[tuple[str, str]]:
    return [(x.kind, x.key) for x in plan.mismatches]


def test_an_open_trade_with_its_bracket_working_is_recovered_without_mismatch():
    plan = plan_for([intent()], snapshot(WORKING_BRACKET, [ENTRY_FILL], [held(2)]))

    assert (plan.resent, plan.expired, plan.mismatches) == ((), (), ())
    (rec,) = plan.recovered
    assert (rec.intent_id, rec.opened, rec.resend, rec.premium) == (IID, True, False, 1.60)
    assert [(spec.client_order_id, status, filled) for spec, status, filled in rec.legs] == [
        (f"{IID}.entry", S.FILLED, 2),
        (f"{IID}.tp", S.ACKED, 0),
        (f"{IID}.sl", S.ACKED, 0),
    ]
    assert [f.exec_id for f in rec.fills] == ["e1"]


def test_a_take_profit_that_filled_while_down_is_brought_in_and_reported():
    broker = (order(ENTRY, S.FILLED, 2), order(TP, S.FILLED, 2), order(SL, S.CANCELLED))

    plan = plan_for([intent()], snapshot(broker, [ENTRY_FILL, TP_FILL], []))

    (rec,) = plan.recovered
    assert [f.exec_id for f in rec.fills] == ["e1", "e2"]
    assert kinds(plan) == [
        ("fills_while_down", IID),
        ("status_differs", f"{IID}.tp"),
        ("status_differs", f"{IID}.sl"),
    ]
    assert "2@2.08" in plan.mismatches[0].detail


@pytest.mark.parametrize(
    ("sent_ago_s", "resends", "first", "resent", "expired"),
    [
        (20, 0, True, (IID,), ()),  # young, never resent: once more
        (20, 1, True, (), (IID,)),  # already resent once: never again
        (61, 0, True, (), (IID,)),  # older than entry_timeout_s
        (20, 0, False, (), ()),  # a reconnect: the running process knows best
    ],
)
def test_an_intent_the_broker_never_saw_is_sent_at_most_once(
    sent_ago_s, resends, first, resent, expired
):
    written = intent(
        "sent",
        orders=tuple(JournalOrder(s, "SUBMITTED") for s in (ENTRY, TP, SL)),
        fills=(),
        sent_ago_s=sent_ago_s,
        resends=resends,
    )

    plan = plan_for([written], snapshot(first=first))

    assert (plan.resent, plan.expired) == (resent, expired)
    if resent:
        (rec,) = plan.recovered
        assert rec.resend and [(s.client_order_id, st) for s, st, _ in rec.legs] == [
            (ENTRY.client_order_id, S.CREATED),
            (TP.client_order_id, S.CREATED),
            (SL.client_order_id, S.CREATED),
        ]
    else:
        assert plan.recovered == ()


def test_an_intent_written_before_midnight_new_york_is_not_resent_the_next_day():
    now = datetime(2026, 11, 21, 5, 0, 10, tzinfo=UTC)  # 00:00:10 New York
    written = replace(
        intent("sent", fills=(), orders=(JournalOrder(ENTRY, "SUBMITTED"),)),
        sent_at=now - timedelta(seconds=20),
    )

    plan = reconcile([written], snapshot(), now, entry_timeout_s=60)

    assert (plan.resent, plan.expired) == ((), (IID,))


def test_an_approved_intent_without_any_order_written_expires():
    plan = plan_for([intent("approved", orders=(), fills=())], snapshot())

    assert (plan.expired, kinds(plan)) == ((IID,), [("expired", IID)])


def test_a_position_the_journal_does_not_know_is_reported_and_left_alone():
    other = m.OptionContract("QQQ", "20261120", 511.0, m.Right.PUT)

    plan = plan_for([], snapshot(positions=[held(3, other)]))

    assert plan.recovered == ()
    assert kinds(plan) == [("unknown_position", other.key)]
    assert "left alone" in plan.mismatches[0].detail


def test_with_manage_unknown_positions_a_long_option_position_is_adopted():
    other = m.OptionContract("QQQ", "20261120", 511.5, m.Right.PUT)

    plan = plan_for([], snapshot(positions=[held(3, other, avg_cost=114.0)]), manage_unknown=True)

    (rec,) = plan.recovered
    assert (rec.intent_id, rec.adopted, rec.premium) == ("ADOPT-QQQ-20261120P511.5", True, 1.14)
    assert [(f.quantity, f.price) for f in rec.fills] == [(3.0, 1.14)]
    assert kinds(plan) == [("unknown_position", other.key)]


def test_a_position_larger_than_the_fills_explain_is_reported_and_left_alone():
    plan = plan_for([intent()], snapshot(WORKING_BRACKET, [ENTRY_FILL], [held(5)]))

    assert kinds(plan) == [("position_differs", CONTRACT.key)]
    assert plan.recovered[0].held is None


CANCELLED_EXITS = (order(ENTRY, S.FILLED, 2), order(TP, S.CANCELLED), order(SL, S.CANCELLED))


@pytest.mark.parametrize(
    ("at_broker", "cancelled"),
    [
        (CANCELLED_EXITS, ()),  # exits cancelled by hand too
        (WORKING_BRACKET, (TP.client_order_id, SL.client_order_id)),  # exits left working
    ],
)
def test_a_position_closed_by_hand_is_closed_outside_and_no_exit_is_armed(at_broker, cancelled):
    # Arrange: the journal's trade holds 2; someone sold them in TWS; the broker holds none
    snap = snapshot(at_broker, [ENTRY_FILL], positions=[])

    # Act
    plan = plan_for([intent()], snap)

    # Assert: nothing to rebuild (execution would arm SELL exits and go short)
    assert plan.recovered == ()
    assert plan.closed_outside == (IID,)
    assert [c.client_order_id for c in plan.cancels] == list(cancelled)
    assert ("closed_outside", IID) in kinds(plan)
    assert ("position_missing", CONTRACT.key) not in kinds(plan)


def test_after_a_reconnect_a_missing_position_is_reported_not_closed():
    # the running execution actor holds the trade: closing it only in the journal would split
    # the bot's view in two, so a reconnect reports the difference and changes nothing
    plan = plan_for([intent()], snapshot(WORKING_BRACKET, [ENTRY_FILL], [], first=False))

    assert (plan.closed_outside, plan.cancels) == ((), ())
    assert [r.intent_id for r in plan.recovered] == [IID]
    assert kinds(plan) == [("position_missing", CONTRACT.key)]


def test_a_position_reduced_by_hand_is_recovered_with_what_the_broker_holds():
    plan = plan_for([intent()], snapshot(CANCELLED_EXITS, [ENTRY_FILL], [held(1)]))

    (rec,) = plan.recovered
    assert rec.held == 1
    assert kinds(plan)[-1] == ("position_differs", IID)


def test_two_trades_on_one_contract_share_what_the_broker_holds_oldest_first():
    older = intent()
    newer_id = f"{IID}x"
    e2, t2, s2 = bracket_specs(newer_id)
    newer = replace(intent(), intent_id=newer_id, correlation_id="c2",
                    orders=(JournalOrder(e2, "FILLED"), JournalOrder(t2, "ACKED"),
                            JournalOrder(s2, "ACKED")),
                    fills=(fill(e2, "e9", m.Side.BUY, 1.70),))
    broker = CANCELLED_EXITS + (order(e2, S.FILLED, 2), order(t2, S.CANCELLED),
                                order(s2, S.CANCELLED))

    plan = plan_for([older, newer], snapshot(broker, [ENTRY_FILL], [held(2)]))

    assert [(r.intent_id, r.held) for r in plan.recovered] == [(IID, None)]
    assert plan.closed_outside == (newer_id,)


def test_a_leg_still_in_flight_when_the_snapshot_was_built_is_not_marked_cancelled():
    # Arrange: a reconnect; execution re-armed tp2 after the broker built its snapshot
    tp2 = replace(TP, client_order_id=f"{IID}.tp2")
    orders = BRACKET + (JournalOrder(tp2, "SUBMITTED"),)
    snap = replace(snapshot(WORKING_BRACKET, [ENTRY_FILL], [held(2)], first=False),
                   handled=frozenset(o.spec.client_order_id for o in BRACKET))

    # Act
    plan = plan_for([intent(orders=orders)], snap,
                    forwarded=frozenset(o.spec.client_order_id for o in orders))

    # Assert: no word on tp2 (CREATED: execution keeps its own view), no mismatch about it
    (rec,) = plan.recovered
    assert [(s.client_order_id, st) for s, st, _ in rec.legs][-1] == (tp2.client_order_id, S.CREATED)
    assert kinds(plan) == []


def test_a_leg_the_broker_handled_and_does_not_know_is_gone():
    tp2 = replace(TP, client_order_id=f"{IID}.tp2")
    orders = BRACKET + (JournalOrder(tp2, "SUBMITTED"),)
    ids = frozenset(o.spec.client_order_id for o in orders)
    snap = replace(snapshot(WORKING_BRACKET, [ENTRY_FILL], [held(2)], first=False), handled=ids)

    plan = plan_for([intent(orders=orders)], snap, forwarded=ids)

    assert [st for _, st, _ in plan.recovered[0].legs][-1] is S.CANCELLED
    assert kinds(plan) == [("order_missing", tp2.client_order_id)]


def test_an_intent_whose_legs_are_in_flight_is_never_resent():
    written = intent("sent", orders=tuple(JournalOrder(s, "SUBMITTED") for s in (ENTRY, TP, SL)),
                     fills=(), sent_ago_s=1)

    plan = plan_for([written], snapshot(first=True),
                    forwarded=frozenset(s.client_order_id for s in (ENTRY, TP, SL)))

    assert (plan.resent, plan.expired, plan.recovered) == ((), (), ())


def test_a_working_order_that_is_no_live_intent_is_reported_once():
    stray = m.BrokerOrder("", 99, S.ACKED, 0, 1, 0.0, "SPY")
    done = m.BrokerOrder("OLD-1.tp", 98, S.FILLED, 1, 0, 1.0, CONTRACT.key)

    plan = plan_for([], snapshot([stray, done]))

    assert kinds(plan) == [("unknown_order", "order 99")]


@pytest.mark.parametrize("broker_holds", [0, 1, 2])
def test_after_a_restart_exits_never_sell_more_than_the_broker_holds(broker_holds):
    # Arrange: the journal's trade bought 2; its exits are gone; the broker holds broker_holds
    from bot.app.config import Settings
    from bot.trading import execution

    positions = [held(broker_holds)] if broker_holds else []
    plan = plan_for([intent()], snapshot(CANCELLED_EXITS, [ENTRY_FILL], positions))
    settings = Settings.model_validate({})

    # Act: execution rebuilds every recovered trade
    effects = [e for rec in plan.recovered for e in execution.restore(rec, settings, NOW)[1]]

    # Assert: one exit pair (OCA: either leg sells it all) sized to what is held, or none
    sells = [e.order.quantity for e in effects
             if isinstance(e, m.SubmitOrder) and e.order.side is m.Side.SELL]
    assert sells == ([broker_holds] * 2 if broker_holds else [])


@pytest.mark.parametrize(
    ("wall_age_s", "market_age_s", "resent"),
    [
        (3600, 20, True),  # the host's clock stepped an hour after a reboot: the market says 20 s
        (20, 600, False),  # 20 s on the host, but the exchange moved 10 minutes (a fast simulator)
    ],
    ids=["host-clock-stepped", "market-ran-ahead"],
)
def test_the_crash_resend_window_is_market_time(wall_age_s, market_age_s, resent):
    market_now = NOW + timedelta(hours=2)  # the exchange's clock is not the host's
    written = replace(
        intent("sent", orders=tuple(JournalOrder(s, "SUBMITTED") for s in (ENTRY, TP, SL)),
               fills=(), sent_ago_s=wall_age_s),
        sent_market_at=market_now - timedelta(seconds=market_age_s),
    )
    snap = replace(snapshot(first=True), market_ts=market_now)

    plan = plan_for([written], snap)

    assert (plan.resent, plan.expired) == (((IID,), ()) if resent else ((), (IID,)))


def test_exits_still_working_for_a_trade_the_journal_holds_as_finished_are_cancelled():
    # Arrange: the trade was closed (sold outside) and its exits' cancels were sent, then the
    # process died before IB took them: the exits still work, with nothing held
    tp, sl = order(TP, S.ACKED, order_id=8), order(SL, S.ACKED, order_id=9)
    stray = m.BrokerOrder("", 99, S.ACKED, 0, 1, 0.0, "SPY")  # not ours: left alone

    # Act
    plan = plan_for([], snapshot([tp, sl, stray]), finished={RECOVERED_INTENT: "c9"})

    # Assert
    assert [(c.correlation_id, c.client_order_id) for c in plan.cancels] == [
        ("c9", TP.client_order_id), ("c9", SL.client_order_id)]
    assert kinds(plan) == [("finished_intent_order", TP.client_order_id),
                           ("finished_intent_order", SL.client_order_id),
                           ("unknown_order", "order 99")]


def test_a_buy_back_of_a_finished_intent_is_left_working_for_execution_to_adopt():
    cover = m.BrokerOrder(f"{RECOVERED_INTENT}.cover2", 10, S.ACKED, 0, 3, 0.0, CONTRACT.key)

    plan = plan_for([], snapshot([cover]), finished={RECOVERED_INTENT: "c9"})

    assert plan.cancels == () and kinds(plan) == []


def test_buy_backs_are_no_part_of_their_intents_recovered_trade():
    # Arrange: the journal wrote a buy-back for this live intent, and it filled
    cover = m.OrderSpec(f"{RECOVERED_INTENT}.cover1", m.Side.BUY, 2, m.OrderType.MARKET)
    cover_fill = fill(cover, "e9", m.Side.BUY, 1.70)
    written = intent(orders=(*BRACKET, JournalOrder(cover, "FILLED")),
                     fills=(ENTRY_FILL, cover_fill))
    snap = snapshot([*WORKING_BRACKET, order(cover, S.FILLED, 2, order_id=10)],
                    [ENTRY_FILL, cover_fill], [held(2)])

    # Act
    plan = plan_for([written], snap)

    # Assert: the trade is its bracket and its entry fill: a BUY of a buy-back is no position
    trade = plan.recovered[0]
    assert [s.client_order_id for s, _, _ in trade.legs] == [o.spec.client_order_id for o in BRACKET]
    assert [f.exec_id for f in trade.fills] == ["e1"]
    assert kinds(plan) == []
