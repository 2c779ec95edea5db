"""The StubBroker keeps IB's order semantics: bracket children held until the parent fills, OCA
types 1 / 2 / 3 / none, a cancel of a filled order answered with the fill and error 10148, and
modify by re-placing the same order. Driven by sending it the broker commands directly."""

from __future__ import annotations

from datetime import date

import pytest
from actor_harness import WAIT_S, Clock, make_settings, ny, start_bot

from bot import messages as m

S = m.OrderStatus
CONTRACT = m.OptionContract("SPY", "20261118", 597.0, m.Right.CALL)


@pytest.fixture
def bot(tmp_path):
    return start_bot(make_settings(tmp_path), Clock(ny(date(2026, 11, 18), 10, 0)))


def sell(coid: str, qty: int, kind: m.OrderType = m.OrderType.LIMIT, group: str = "",
         oca_type: int = 0) -> m.OrderSpec:
    price = {"limit_price": 2.0} if kind is m.OrderType.LIMIT else {"stop_price": 1.0}
    return m.OrderSpec(coid, m.Side.SELL, qty, kind, oca_group=group, oca_type=oca_type, **price)


def place(bot, *specs: m.OrderSpec) -> None:
    for spec in specs:
        bot.ref("broker").tell(m.SubmitOrder("c", "X", CONTRACT, spec))
    bot.sync()


def order(bot, coid):
    return bot.broker.order(coid).get(timeout=WAIT_S)


@pytest.mark.parametrize(("oca_type", "stop_after"), [
    (1, (S.CANCELLED, 0.0)),   # any fill, even partial, cancels the rest of the group
    (2, (S.ACKED, 4.0)),       # reduced by the filled quantity
    (3, (S.ACKED, 4.0)),
    (0, (S.ACKED, 7.0)),       # a group without a type is not OCA: both can fill
])
def test_a_partial_fill_of_one_oca_member_acts_on_the_other_by_oca_type(bot, oca_type, stop_after):
    place(bot, sell("X.tp1", 7, group="g", oca_type=oca_type),
          sell("X.sl1", 7, m.OrderType.STOP, group="g", oca_type=oca_type))

    bot.broker.fill("X.tp1", 3, 2.0).get(timeout=WAIT_S)

    stop = order(bot, "X.sl1")
    assert (stop.status, stop.remaining if stop.working else 0.0) == stop_after


def test_a_member_reduced_to_nothing_is_cancelled(bot):
    place(bot, sell("X.tp1", 2, group="g", oca_type=3),
          sell("X.sl1", 2, m.OrderType.STOP, group="g", oca_type=3))

    bot.broker.fill("X.tp1", 2, 2.0).get(timeout=WAIT_S)

    assert order(bot, "X.sl1").status is S.CANCELLED


def test_bracket_children_cannot_fill_before_the_parent_and_die_with_it(bot):
    entry = m.OrderSpec("X.entry", m.Side.BUY, 2, m.OrderType.LIMIT, limit_price=1.6)
    tp, sl = sell("X.tp", 2, group="g", oca_type=3), sell("X.sl", 2, m.OrderType.STOP, "g", 3)
    bot.ref("broker").tell(m.SubmitBracket("c", "X", CONTRACT, entry, tp, sl))
    bot.sync()

    with pytest.raises(AssertionError, match="inactive until its parent"):
        bot.broker.fill("X.sl", 2, 1.0).get(timeout=WAIT_S)
    bot.broker.fill("X.entry", 1, 1.6).get(timeout=WAIT_S)  # partly filled: still held
    with pytest.raises(AssertionError, match="inactive until its parent"):
        bot.broker.fill("X.tp", 1, 2.0).get(timeout=WAIT_S)
    bot.ref("broker").tell(m.CancelOrder("c", "X.entry"))
    bot.sync()

    assert [order(bot, c).status for c in ("X.entry", "X.tp", "X.sl")] == [S.CANCELLED] * 3
    assert bot.broker.violations.get(timeout=WAIT_S) == []


def test_a_cancel_of_a_filled_order_is_answered_10148_and_the_fill_never_cancelled(bot):
    place(bot, sell("X.exit1", 2))
    bot.broker.fill("X.exit1", 2, 2.0, report=False).get(timeout=WAIT_S)  # reports delayed

    bot.ref("broker").tell(m.CancelOrder("c", "X.exit1"))

    rejected = bot.probe.expect(m.OrderRejected, lambda e: e.client_order_id == "X.exit1")
    filled = bot.probe.expect(m.OrderFilled, lambda e: e.client_order_id == "X.exit1")
    bot.sync()
    statuses = [e.status for e in bot.probe.drain()
                if isinstance(e, m.OrderStatusChanged) and e.client_order_id == "X.exit1"]
    assert rejected.code == 10148 and filled.quantity == 2
    assert statuses[-1] is S.FILLED and S.CANCELLED not in statuses


def test_modify_replaces_the_working_order_and_a_finished_one_cannot_be_modified(bot):
    place(bot, sell("X.exit1", 2))

    place(bot, m.OrderSpec("X.exit1", m.Side.SELL, 2, m.OrderType.LIMIT, limit_price=1.9))
    assert (order(bot, "X.exit1").spec.limit_price, order(bot, "X.exit1").status) == (1.9, S.ACKED)

    bot.broker.fill("X.exit1", 2, 1.9).get(timeout=WAIT_S)
    place(bot, m.OrderSpec("X.exit1", m.Side.SELL, 2, m.OrderType.LIMIT, limit_price=1.8))
    assert bot.probe.expect(m.OrderRejected, lambda e: e.client_order_id == "X.exit1").code == 104
    assert order(bot, "X.exit1").spec.limit_price == 1.9
