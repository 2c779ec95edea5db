"""Shadow fills: our orders matched against quotes, producing a real broker's events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot import messages as m
from bot.ib.shadow import ShadowBook, fill_price

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
CALL = m.OptionContract("SPY", "20261127", 600.0, m.Right.CALL)
OTHER = m.OptionContract("SPY", "20261127", 605.0, m.Right.CALL)
S = m.OrderStatus


def quote(
    bid: float, ask: float, last: float = 0.0, contract: m.OptionContract = CALL, sec: int = 1
) -> m.Quote:
    return m.Quote(contract, bid, ask, last, T0 + timedelta(seconds=sec))


def spec(
    side: m.Side,
    kind: m.OrderType,
    limit: float | None = None,
    stop: float | None = None,
    cid: str = "I1-x",
    qty: int = 2,
) -> m.OrderSpec:
    return m.OrderSpec(cid, side, qty, kind, limit_price=limit, stop_price=stop)


B, SL = m.Side.BUY, m.Side.SELL
MKT, LMT, STP = m.OrderType.MARKET, m.OrderType.LIMIT, m.OrderType.STOP


@pytest.mark.parametrize(
    ("order", "bid", "ask", "last", "price"),
    [
        (spec(B, MKT), 2.00, 2.10, 0.0, 2.10),
        (spec(SL, MKT), 2.00, 2.10, 0.0, 2.00),
        (spec(B, MKT), 2.00, 0.0, 0.0, None),
        (spec(B, LMT, limit=2.10), 2.00, 2.10, 0.0, 2.10),
        (spec(B, LMT, limit=2.09), 2.00, 2.10, 0.0, None),
        (spec(SL, LMT, limit=2.00), 2.00, 2.10, 0.0, 2.00),
        (spec(SL, LMT, limit=2.01), 2.00, 2.10, 0.0, None),
        (spec(SL, STP, stop=1.60), 1.60, 1.70, 0.0, 1.60),
        (spec(SL, STP, stop=1.60), 1.61, 1.70, 1.59, 1.61),
        (spec(SL, STP, stop=1.60), 1.61, 1.70, 0.0, None),
        (spec(B, STP, stop=2.50), 2.40, 2.50, 0.0, 2.50),
        (spec(B, STP, stop=2.50), 2.30, 2.40, 0.0, None),
    ],
)
def test_fill_price_table(
    order: m.OrderSpec, bid: float, ask: float, last: float, price: float | None
) -> None:
    assert fill_price(order, quote(bid, ask, last)) == price


def bracket() -> m.SubmitBracket:
    return m.SubmitBracket(
        "c-7",
        "I1",
        CALL,
        spec(B, LMT, limit=2.10, cid="I1-entry"),
        spec(SL, LMT, limit=2.80, cid="I1-tp"),
        spec(SL, STP, stop=1.70, cid="I1-stop"),
    )


def summary(events: list) -> list[tuple]:
    return [
        ("fill", e.client_order_id, e.side.value, e.quantity, e.price, e.commission)
        if isinstance(e, m.OrderFilled)
        else (e.status.value, e.client_order_id, e.filled, e.avg_fill_price, e.reason)
        for e in events
    ]


def test_bracket_is_acked_and_children_wait_for_the_parent() -> None:
    book = ShadowBook()
    acks = book.submit_bracket(bracket(), T0)
    assert summary(acks) == [
        ("ACKED", cid, 0.0, 0.0, "") for cid in ("I1-entry", "I1-tp", "I1-stop")
    ]
    assert all(e.correlation_id == "c-7" for e in acks)
    # a quote that would trigger the stop does nothing while the parent is unfilled
    assert book.on_quote(quote(1.60, 2.20)) == []


def test_parent_fill_then_take_profit_cancels_the_stop() -> None:
    book = ShadowBook()
    book.submit_bracket(bracket(), T0)
    entry = book.on_quote(quote(2.05, 2.10, sec=2))
    assert summary(entry) == [
        ("fill", "I1-entry", "BUY", 2.0, 2.10, 1.30),
        ("FILLED", "I1-entry", 2.0, 2.10, ""),
    ]
    exit_ = book.on_quote(quote(2.85, 2.95, sec=3))
    assert summary(exit_) == [
        ("fill", "I1-tp", "SELL", 2.0, 2.85, 1.30),
        ("FILLED", "I1-tp", 2.0, 2.85, ""),
        ("CANCELLED", "I1-stop", 0.0, 0.0, "OCA group member filled"),
    ]
    assert exit_[0].ts == T0 + timedelta(seconds=3)
    assert book.instruments() == set()


def test_stop_fills_and_cancels_the_take_profit() -> None:
    book = ShadowBook()
    book.submit_bracket(bracket(), T0)
    book.on_quote(quote(2.05, 2.10))
    events = book.on_quote(quote(1.65, 1.75))
    assert summary(events)[:2] == [
        ("fill", "I1-stop", "SELL", 2.0, 1.65, 1.30),
        ("FILLED", "I1-stop", 2.0, 1.65, ""),
    ]
    assert summary(events)[2] == ("CANCELLED", "I1-tp", 0.0, 0.0, "OCA group member filled")


def test_quotes_of_other_contracts_do_not_fill() -> None:
    book = ShadowBook()
    book.submit_bracket(bracket(), T0)
    assert book.on_quote(quote(0.5, 0.6, contract=OTHER)) == []
    assert book.instruments() == {CALL.key}


def test_cancelling_the_parent_cancels_its_children() -> None:
    book = ShadowBook()
    book.submit_bracket(bracket(), T0)
    events = book.cancel("I1-entry", T0)
    assert [(e.status, e.client_order_id) for e in events] == [
        (S.CANCELLED, "I1-entry"),
        (S.CANCELLED, "I1-tp"),
        (S.CANCELLED, "I1-stop"),
    ]
    assert book.cancel("I1-entry", T0) == []
    assert book.knows("I1-tp") is False


def test_single_order_fills_and_reports_min_commission() -> None:
    book = ShadowBook()
    ack = book.submit(m.SubmitOrder("c-9", "I2", CALL, spec(SL, MKT, cid="I2-exit", qty=1)), T0)
    assert summary(ack) == [("ACKED", "I2-exit", 0.0, 0.0, "")]
    events = book.on_quote(quote(1.00, 1.05))
    assert summary(events) == [
        ("fill", "I2-exit", "SELL", 1.0, 1.00, 1.0),
        ("FILLED", "I2-exit", 1.0, 1.00, ""),
    ]
    assert events[0].exec_id == "shadow-000001"


def test_a_modified_order_works_on_at_its_new_price_and_an_unknown_one_is_left_alone() -> None:
    book = ShadowBook()
    book.submit(m.SubmitOrder("c-9", "I3", CALL, spec(SL, LMT, limit=2.05, cid="I3-exit1")), T0)
    assert book.on_quote(quote(2.00, 2.10)) == []  # 2.05 is above the bid

    ack = book.modify(spec(SL, LMT, limit=2.00, cid="I3-exit1"), T0)
    events = book.on_quote(quote(2.00, 2.10, sec=2))

    assert summary(ack) == [("ACKED", "I3-exit1", 0.0, 0.0, "")]
    assert summary(events)[0] == ("fill", "I3-exit1", "SELL", 2.0, 2.00, 1.3)
    assert book.modify(spec(SL, LMT, limit=1.90, cid="I3-exit1"), T0) == []  # filled: gone
