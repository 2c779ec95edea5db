"""Specification of our orderRef, ``<intent>.<role><revision>``: one parser for every reader."""

import pytest

from bot import messages as m
from bot.trading.order_state import Leg

INTENT = "SPY-202611201435-85f736"


@pytest.mark.parametrize(
    ("ref", "role", "revision"),
    [
        (f"{INTENT}.entry", "entry", 0),
        (f"{INTENT}.tp", "tp", 0),
        (f"{INTENT}.sl2", "sl", 2),
        (f"{INTENT}.exit1", "exit", 1),
        (f"{INTENT}.tp12", "tp", 12),
    ],
)
def test_our_refs_parse_into_intent_role_and_revision(ref, role, revision) -> None:
    parsed = m.parse_order_ref(ref)

    assert parsed == m.OrderRef(INTENT, role, revision)
    assert str(parsed) == ref
    assert m.intent_of(ref) == INTENT


@pytest.mark.parametrize("ref", ["", "manual", "SPY.", ".tp", f"{INTENT}.TP", f"{INTENT}.tp.x", "a.1"])
def test_anything_else_is_not_ours(ref) -> None:
    assert m.parse_order_ref(ref) is None
    assert m.intent_of(ref) == ref


def test_a_leg_carries_its_role_and_revision_as_fields() -> None:
    spec = m.OrderSpec(f"{INTENT}.sl3", m.Side.SELL, 2, m.OrderType.STOP, stop_price=1.2)

    leg = Leg(spec)

    assert (leg.role, leg.revision) == ("sl", 3)


def test_a_leg_refuses_an_order_that_is_not_ours() -> None:
    with pytest.raises(ValueError, match="not one of our order refs"):
        Leg(m.OrderSpec("manual", m.Side.SELL, 1, m.OrderType.MARKET))
