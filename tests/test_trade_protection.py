"""What a trade's exits may still sell, and whether its position is protected (invariants 1 and
2 of ``bot/trading/execution.py``), judged from the legs alone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from actor_harness import make_settings
from pure_helpers import RECOVERED_CONTRACT, RECOVERED_INTENT

from bot import messages as m
from bot.trading.brackets import BracketPrices
from bot.trading.order_state import Leg
from bot.trading.trade import Trade, covered, open_quantity, protected

S = m.OrderStatus
T = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
IID = RECOVERED_INTENT


def spec(role: str, qty: int, oca_type: int = 3, group: str = "g") -> m.OrderSpec:
    kind = m.OrderType.STOP if role.startswith("sl") else m.OrderType.LIMIT
    price = {"stop_price": 1.28} if kind is m.OrderType.STOP else {"limit_price": 2.08}
    return m.OrderSpec(f"{IID}.{role}", m.Side.SELL, qty, kind, oca_group=group if oca_type else "",
                       oca_type=oca_type, **price)


def leg(s: m.OrderSpec, status: S = S.ACKED, filled: float = 0.0) -> Leg:
    return replace(Leg(s).sent(T), status=status, acked_at=T if status is not S.SUBMITTED else None,
                   filled=filled)


def trade(tmp_path, *exits: Leg, position: float, entry: S = S.FILLED, mode: str = "native") -> Trade:
    entry_leg = leg(m.OrderSpec(f"{IID}.entry", m.Side.BUY, 7, m.OrderType.LIMIT, limit_price=1.6),
                    entry, filled=position)
    return Trade(IID, "c", "SPY", RECOVERED_CONTRACT, mode, BracketPrices(1.6, 2.08, 1.28),
                 (entry_leg, *exits), make_settings(tmp_path), position=position)


@pytest.mark.parametrize(("oca_type", "tp_filled", "stop_open"), [
    (3, 3, 4), (2, 3, 4), (1, 3, 0), (0, 3, 7), (3, 0, 7), (3, 7, 0),
])
def test_a_stop_may_still_sell_its_rest_less_what_its_oca_siblings_filled(
        tmp_path, oca_type, tp_filled, stop_open):
    tp = leg(spec("tp1", 7, oca_type), S.PARTIAL if tp_filled < 7 else S.FILLED, tp_filled)
    sl = leg(spec("sl1", 7, oca_type))
    t = trade(tmp_path, tp, sl, position=7 - tp_filled)

    assert open_quantity(t, sl) == stop_open


@pytest.mark.parametrize(("exits", "position", "entry", "expected"), [
    ((("tp1", S.ACKED), ("sl1", S.ACKED)), 7, S.FILLED, True),
    ((("tp1", S.ACKED), ("sl1", S.SUBMITTED)), 7, S.FILLED, False),   # not acknowledged yet
    ((("tp1", S.ACKED), ("sl1", S.CANCELLED)), 7, S.FILLED, False),   # only a take-profit
    ((("tp", S.ACKED), ("sl", S.ACKED)), 3, S.PARTIAL, False),        # held by the working parent
    ((("tp", S.ACKED), ("sl", S.ACKED)), 7, S.FILLED, True),          # the parent filled
    ((("exit1", S.ACKED),), 7, S.FILLED, True),                        # a closing order
    ((), 7, S.FILLED, False),
])
def test_a_position_is_protected_by_live_stops_or_a_closing_order_for_all_of_it(
        tmp_path, exits, position, entry, expected):
    legs = [leg(spec(role, 7, 0 if role.startswith("exit") else 3), status) for role, status in exits]

    assert protected(trade(tmp_path, *legs, position=position, entry=entry)) is expected


def test_a_stop_asked_to_cancel_no_longer_protects(tmp_path):
    sl = replace(leg(spec("sl1", 7)), cancel_sent_at=T)

    assert not protected(trade(tmp_path, leg(spec("tp1", 7)), sl, position=7))


def test_an_oca_pair_covers_its_larger_member_once_and_loose_orders_add_up(tmp_path):
    pair = (leg(spec("tp1", 4)), leg(spec("sl1", 4)))
    loose = (leg(spec("tp2", 3, oca_type=0)), leg(spec("sl2", 3, oca_type=0)))

    assert covered(trade(tmp_path, *pair, position=4)) == 4
    assert covered(trade(tmp_path, *loose, position=3)) == 6  # type 0: both could fill
