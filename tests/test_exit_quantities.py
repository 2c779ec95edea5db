"""Property: once the entry has filled (in whatever parts), whatever order the partial fills of
the take-profit and the stop come in, the exits that can still sell never cover more than the
position held (invariant 2), and the position is what was bought less what was sold.

(While the entry still works, IB caps a bracket's children at the parent's filled quantity;
that cap is the broker's, and the protection deadline cancels a partly filled entry's rest.)"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from pure_helpers import RECOVERED_CONTRACT, RECOVERED_INTENT

from bot import messages as m
from bot.app.config import Settings
from bot.trading import execution
from bot.trading.trade import open_quantity

T0 = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
CONTRACT = m.OptionContract("SPY", "20261118", 597.0, m.Right.CALL)
AT = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)


def fill(coid: str, n: int, quantity: int, side: m.Side, price: float) -> m.OrderFilled:
    return m.OrderFilled("c", coid, f"x{n}", CONTRACT, side, quantity, price,
                         T0 + timedelta(seconds=n))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    bought=st.integers(min_value=1, max_value=20),
    entry_chunks=st.lists(st.integers(min_value=1, max_value=20), min_size=1, max_size=6),
    exit_fills=st.lists(st.tuples(st.sampled_from(["tp", "sl"]), st.integers(1, 20)),
                        max_size=8),
)
def test_exits_never_cover_more_than_the_position(bought, entry_chunks, exit_fills):
    approved = m.EntryApproved("c", "SPY-1", "SPY", CONTRACT, bought, 1.60, T0)
    trade, _ = execution.open_trade(approved, Settings(), T0)
    entry, tp, sl = (g.spec.client_order_id for g in trade.legs)
    n = 0
    for chunk in [*entry_chunks, bought]:  # the entry fills in parts, then completely
        take = min(chunk, bought - int(trade.entry.filled))
        if take:
            n += 1
            trade, _ = execution.on_fill(trade, fill(entry, n, take, m.Side.BUY, 1.60), T0, T0)
    sold = 0.0
    for role, chunk in exit_fills:  # the broker fills an exit only up to what it may sell
        leg = trade.leg({"tp": tp, "sl": sl}[role])
        take = min(chunk, int(open_quantity(trade, leg)), int(trade.position))
        if take <= 0 or trade.finished:
            continue
        n += 1
        trade, _ = execution.on_fill(trade, fill(leg.spec.client_order_id, n, take, m.Side.SELL,
                                                 2.00), T0, T0)
        sold += take

        live = [open_quantity(trade, g) for g in trade.working_exits]
        assert max(live, default=0.0) <= trade.position + 1e-9
    assert trade.entry.filled == bought
    assert trade.position == bought - sold


def holding_two() -> execution.Trade:
    """A trade whose bracket entry filled 2: its take-profit and stop work."""
    approved = m.EntryApproved("c1", RECOVERED_INTENT, "SPY", RECOVERED_CONTRACT, 2, 1.6, AT)
    trade, _ = execution.open_trade(approved, Settings.model_validate({}), AT)
    entry = f"{RECOVERED_INTENT}.entry"
    trade, _ = execution.on_fill(trade, m.OrderFilled("c1", entry, "e1", RECOVERED_CONTRACT,
                                                      m.Side.BUY, 2.0, 1.6, AT), AT)
    return trade


def test_ibs_no_such_order_to_a_cancel_ends_the_leg_without_counting_a_rejection():
    # Arrange: a held position whose take-profit we are cancelling
    trade = holding_two()
    tp = next(g for g in trade.legs if g.role == "tp")
    trade = trade.with_leg(replace(tp, cancel_sent_at=AT))

    # Act: IB answers the cancel with 10147 (no such order)
    gone = m.OrderRejected("c1", tp.spec.client_order_id, 10147,
                           "OrderId 5 that needs to be cancelled is not found.", AT)
    trade, _ = execution.on_rejected(trade, gone, AT)

    # Assert
    assert trade.leg(tp.spec.client_order_id).status is m.OrderStatus.CANCELLED
    assert (trade.exit_rejections, trade.retry_at) == (0, None)


def test_a_childs_parent_not_found_means_the_entry_never_reached_ib_and_the_trade_ends():
    # Arrange: a bracket sent, nothing acknowledged (the entry's message was lost on its way)
    cfg = Settings.model_validate({})
    approved = m.EntryApproved("c1", RECOVERED_INTENT, "SPY", RECOVERED_CONTRACT, 2, 1.6, AT)
    trade, _ = execution.open_trade(approved, cfg, AT)
    sl = next(g for g in trade.legs if g.role == "sl")

    # Act: IB answers the stop with 135: it has no order with the parent's id
    orphan = m.OrderRejected("c1", sl.spec.client_order_id, 135,
                             "Can't find order with id =141", AT)
    trade, effects = execution.on_rejected(trade, orphan, AT)

    # Assert: the entry is known to be gone, not "maybe working": the trade ends at once
    assert trade.entry.status is m.OrderStatus.CANCELLED and not trade.entry.working
    assert trade.finished and any(isinstance(e, m.EntryExpired) for e in effects)
    # the stop was refused for its parent alone: no exit rejection is counted
    assert trade.leg(sl.spec.client_order_id).status is m.OrderStatus.CANCELLED
    assert trade.exit_rejections == 0


def test_an_exit_refused_because_the_socket_is_down_is_no_rejection_and_is_tried_again():
    # Arrange: a held position whose exits are gone; the fresh pair is refused on our side
    trade = holding_two()
    sl = next(g for g in trade.legs if g.role == "sl")

    # Act: three refusals in a row while the gateway is unreachable
    for n in range(3):
        refused = m.OrderRejected("c1", sl.spec.client_order_id, 0, m.NOT_CONNECTED,
                                  AT + timedelta(seconds=n))
        trade, effects = execution.on_rejected(trade, refused, AT + timedelta(seconds=n))

    # Assert: nothing counted toward on_unprotected (no flatten, no kill switch), retry pending
    assert trade.exit_rejections == 0 and not trade.acted_unprotected
    assert trade.retry_at is not None and trade.retry_at > AT
    assert not any(isinstance(e, execution.EngageKillSwitch) for e in effects)


def test_the_ack_timeout_counts_from_when_the_order_left_the_bot():
    # Arrange: a bracket decided at AT that the broker actor placed only 8 s later
    approved = m.EntryApproved("c1", RECOVERED_INTENT, "SPY", RECOVERED_CONTRACT, 2, 1.6, AT)
    trade, _ = execution.open_trade(approved, Settings.model_validate({}), AT)
    left = AT + timedelta(seconds=8)
    placed = m.OrderStatusChanged("c1", f"{RECOVERED_INTENT}.entry", m.OrderStatus.SUBMITTED,
                                  0, 2, 0.0, left)
    trade, _ = execution.on_status(trade, placed, left)
    ack_s = trade.settings.execution.ack_timeout_s

    # Act
    _, early = execution.on_clock(trade, trade.settings, AT + timedelta(seconds=ack_s + 1), None)
    _, due = execution.on_clock(trade, trade.settings, left + timedelta(seconds=ack_s), None)

    # Assert: no cancel while the order has been out less than ack_timeout_s
    assert not any(isinstance(e, m.CancelOrder) for e in early)
    assert any(isinstance(e, m.CancelOrder) for e in due)


def test_a_partly_filled_entry_cancelled_keeps_its_bracket_exits_for_what_it_bought():
    # Arrange: a bracket for 10 whose entry filled 5, then the rest of the entry was cancelled
    approved = m.EntryApproved("c1", RECOVERED_INTENT, "SPY", RECOVERED_CONTRACT, 10, 1.6, AT)
    trade, _ = execution.open_trade(approved, Settings.model_validate({}), AT)
    entry = f"{RECOVERED_INTENT}.entry"
    for role in ("entry", "tp", "sl"):
        trade, _ = execution.on_status(trade, m.OrderStatusChanged(
            "c1", f"{RECOVERED_INTENT}.{role}", m.OrderStatus.ACKED, 0, 10, 0.0, AT), AT)
    trade, _ = execution.on_fill(trade, m.OrderFilled("c1", entry, "e1", RECOVERED_CONTRACT,
                                                      m.Side.BUY, 5.0, 1.6, AT), AT)

    # Act: IB confirms the rest of the entry cancelled
    later = AT + timedelta(seconds=1)
    trade, effects = execution.on_status(trade, m.OrderStatusChanged(
        "c1", entry, m.OrderStatus.CANCELLED, 5, 0, 1.6, later), later)
    trade, more = execution.on_clock(trade, trade.settings, later, None)
    effects += more

    # Assert: the attached exits work the 5 bought (as at IB): kept, not cancelled and re-sent
    # (a cancel-then-replace would leave the position bare until the new pair is acknowledged)
    assert [open_quantity(trade, g) for g in trade.working_exits] == [5.0, 5.0]
    assert not [e for e in effects if isinstance(e, m.CancelOrder | m.SubmitOrder)]
