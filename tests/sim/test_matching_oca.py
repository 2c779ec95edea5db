"""Specification of the matching engine's OCA groups and bracket families as IB defines
them (bot.sim.order_book): ocaType 1 cancels on any fill, 2 and 3 reduce then cancel, 0 is
no group, cancelling a member cancels the group, a child transmits its held siblings."""

from __future__ import annotations

import pytest
from engine_helpers import OPT, fills, order, place_bracket, states

from bot.sim.matching import OrderRejectedEvent


@pytest.mark.parametrize(
    "oca_type, other_state",
    [(1, (2, "Cancelled", 0, 3)), (2, (2, "Submitted", 0, 2)), (3, (2, "Submitted", 0, 2))],
)
def test_oca_group_without_bracket(engine, quotes, oca_type, other_state):
    engine.place(order(9, "BUY", 3), OPT)
    engine.set_partial_fills(True, chunk=1)
    group = dict(oca_group="G", oca_type=oca_type)
    engine.place(order(1, "SELL", 3, "LMT", lmt_price=2.60, **group), OPT)
    engine.place(order(2, "SELL", 3, "STP", aux_price=1.60, **group), OPT)
    quotes[OPT.con_id] = (2.60, 2.65, 2.62)

    events = engine.on_market()

    assert fills(events) == [(1, 1, 2.60)]
    assert states(events) == [(1, "Submitted", 1, 2), other_state]


@pytest.mark.parametrize("oca_type", [2, 3])
def test_oca_reduce_types_cancel_the_others_once_a_member_is_complete(engine, quotes, oca_type):
    engine.place(order(9, "BUY", 3), OPT)
    group = dict(oca_group="G", oca_type=oca_type)
    engine.place(order(1, "SELL", 3, "LMT", lmt_price=2.60, **group), OPT)
    engine.place(order(2, "SELL", 5, "STP", aux_price=1.60, **group), OPT)
    quotes[OPT.con_id] = (2.60, 2.65, 2.62)

    events = engine.on_market()

    assert states(events) == [(1, "Filled", 3, 0), (2, "Cancelled", 0, 5)]


@pytest.mark.parametrize("oca_group, oca_type", [("G", 0), ("", 1)])
def test_orders_outside_an_oca_group_both_fill(engine, quotes, oca_group, oca_type):
    engine.place(order(9, "BUY", 3), OPT)
    group = dict(oca_group=oca_group, oca_type=oca_type)
    engine.place(order(1, "SELL", 3, "LMT", lmt_price=2.60, **group), OPT)
    engine.place(order(2, "SELL", 3, "LMT", lmt_price=2.70, **group), OPT)
    quotes[OPT.con_id] = (2.75, 2.80, 2.75)

    events = engine.on_market()

    assert fills(events) == [(1, 3, 2.60), (2, 3, 2.70)]
    assert engine.account.position(OPT.con_id) == -3


@pytest.mark.parametrize("oca_type", [1, 2, 3])
def test_cancelling_one_oca_member_cancels_the_group(engine, oca_type):
    group = dict(oca_group="G", oca_type=oca_type)
    engine.place(order(1, "SELL", 3, "LMT", lmt_price=2.60, **group), OPT)
    engine.place(order(2, "SELL", 3, "STP", aux_price=1.60, **group), OPT)
    engine.place(order(3, "SELL", 3, "STP", aux_price=1.50, oca_group="G"), OPT)  # ocaType 0

    events = engine.cancel(1, 1)

    assert [s[:2] for s in states(events)] == [(1, "Cancelled"), (2, "Cancelled")]
    assert [(e.order_id, e.code) for e in events if isinstance(e, OrderRejectedEvent)] == [
        (1, 202)]
    assert [o.order.order_id for o in engine.open_orders()] == [3]


def test_cancelling_one_bracket_child_cancels_its_sibling(engine, quotes):
    place_bracket(engine)  # the parent fills at once, both children work

    events = engine.cancel(2, 1)

    assert [s[:2] for s in states(events)] == [(2, "Cancelled"), (3, "Cancelled")]
    assert engine.open_orders() == []
    assert engine.account.position(OPT.con_id) == 2


def test_a_child_transmits_its_held_siblings_under_a_live_parent(engine):
    engine.place(order(1, "BUY", 2, "LMT", lmt_price=1.00), OPT)  # live, resting
    held = engine.place(order(2, "SELL", 2, "LMT", lmt_price=2.60, parent_id=1,
                              transmit=False), OPT)

    events = engine.place(order(3, "SELL", 2, "STP", aux_price=1.60, parent_id=1), OPT)

    assert held == []
    assert states(events) == [(2, "PreSubmitted", 0, 2), (3, "PreSubmitted", 0, 2)]
