"""Buying back a short (``bot/trading/covers.py``): one buy-back at a time, the next only once
IB has said the last is done and a newer position report has come."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot import messages as m
from bot.trading import covers

S = m.OrderStatus
T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
IID = "SPY-202611201435-85f736"
ACK_S = 10.0
CANCEL_S = 10.0


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def step(state: covers.Covers, wall_s: float, reported_s: float, short: float = 7):
    return covers.step(state, IID, short, at(reported_s), at(wall_s), ACK_S, CANCEL_S)


def sent_one() -> covers.Covers:
    state, first = step(covers.Covers(), 0, 0)
    assert first.send == m.OrderSpec(f"{IID}.cover1", m.Side.BUY, 7, m.OrderType.MARKET)
    return state


def test_a_short_is_bought_back_at_market_for_its_size():
    state, first = step(covers.Covers(), 0, 0, short=3)

    assert (first.send.side, first.send.quantity, first.send.order_type) == (
        m.Side.BUY, 3, m.OrderType.MARKET)
    assert state.sent == 1 and state.last.ref == f"{IID}.cover1"


def test_no_second_buy_back_while_the_first_may_still_fill():
    state = sent_one()
    state = covers.on_status(state, f"{IID}.cover1", S.ACKED, "", at(1))

    for wall in (5, 30, 300):  # acknowledged and working: however long the short is reported
        state, now = step(state, wall, wall)
        assert now == covers.CoverStep()


def test_an_unacknowledged_buy_back_is_cancelled_once_and_the_next_waits_for_ibs_word():
    state = sent_one()

    state, early = step(state, ACK_S - 1, ACK_S - 1)
    state, cancel = step(state, ACK_S, ACK_S)
    state, again = step(state, ACK_S + 5, ACK_S + 5)

    assert early == covers.CoverStep() and again == covers.CoverStep()
    assert cancel == covers.CoverStep(cancel=f"{IID}.cover1")


def test_a_cancel_ib_does_not_answer_is_sent_again_until_it_does():
    # the cancel can be lost on its way, like the buy-back itself: until IB says the buy-back
    # is done (or unknown to it), the cancel goes again every CANCEL_S and nothing new is sent
    state = sent_one()
    state, first = step(state, ACK_S, ACK_S)

    sends = []
    for wall in (ACK_S + CANCEL_S - 1, ACK_S + CANCEL_S, ACK_S + 2 * CANCEL_S):
        state, now = step(state, wall, wall)
        sends.append(now)
    state = covers.on_rejected(state, f"{IID}.cover1", 10147, at(ACK_S + 2 * CANCEL_S + 1))
    state, after = step(state, ACK_S + 2 * CANCEL_S + 2, ACK_S + 2 * CANCEL_S + 2)

    cancel = covers.CoverStep(cancel=f"{IID}.cover1")
    assert first == cancel and sends == [covers.CoverStep(), cancel, cancel]
    assert after.send is not None and after.send.client_order_id == f"{IID}.cover2"


def test_a_buy_back_ib_never_had_is_followed_by_the_next_at_once():
    # IB reports a position only when it changes: a buy-back that never filled changed nothing
    state = sent_one()
    state, _ = step(state, ACK_S, ACK_S)  # cancelled: IB answers it has no such order
    state = covers.on_rejected(state, f"{IID}.cover1", 10147, at(11))

    state, second = step(state, 12, reported_s=0)

    assert second.send.client_order_id == f"{IID}.cover2"


def test_a_cancelled_buy_back_that_filled_in_part_waits_for_the_position_report_after_it():
    state = sent_one()
    state = covers.on_status(state, f"{IID}.cover1", S.CANCELLED, "", at(11), filled=3)

    state, stale = step(state, 12, reported_s=10)
    state, second = step(state, 13, reported_s=12, short=4)

    assert stale == covers.CoverStep()
    assert (second.send.client_order_id, second.send.quantity) == (f"{IID}.cover2", 4)


def test_a_filled_buy_back_is_not_bought_again_on_a_position_report_older_than_its_fill():
    state = sent_one()
    state = covers.on_status(state, f"{IID}.cover1", S.FILLED, "", at(2), filled=7)

    state, old_report = step(state, 3, reported_s=1)

    assert old_report == covers.CoverStep()


def test_a_refused_cancel_means_the_buy_back_filled_and_nothing_more_is_sent():
    refused = "Error 10148, reqId 9: OrderId 9 that needs to be cancelled cannot be cancelled"
    by_code = covers.on_rejected(sent_one(), f"{IID}.cover1", 10148, at(11))
    by_status = covers.on_status(sent_one(), f"{IID}.cover1", S.REJECTED, refused, at(11))

    for state in (by_code, by_status):
        assert state.last.done_at is None and state.last.acked
        assert step(state, 20, 20)[1] == covers.CoverStep()


def test_reports_about_another_order_change_nothing():
    state = sent_one()

    assert covers.on_status(state, f"{IID}.cover9", S.FILLED, "", at(1)) == state
    assert covers.on_rejected(state, f"{IID}.sl", 201, at(1)) == state


def test_a_buy_back_works_until_ib_says_it_is_done():
    state = sent_one()

    assert covers.working(state) and not covers.working(covers.Covers())
    assert not covers.working(covers.on_status(state, f"{IID}.cover1", S.CANCELLED, "", at(2)))


def test_a_restarted_process_numbers_buy_backs_on_from_those_an_earlier_one_wrote():
    # the journal says this intent's buy-backs went up to cover3 before the restart
    state, first = covers.step(covers.Covers(), IID, 2, at(0), at(0), ACK_S, CANCEL_S, used=3)

    assert first.send.client_order_id == f"{IID}.cover4" and state.sent == 4


def test_a_buy_back_adopted_after_a_restart_is_waited_for_not_doubled():
    state = covers.adopt(covers.Covers(), f"{IID}.cover3", at(0))

    state, now = step(state, 60, 60)  # still short: the adopted one may still fill
    state = covers.on_status(state, f"{IID}.cover3", S.CANCELLED, "", at(61))
    state, after = step(state, 62, 62)

    assert now == covers.CoverStep()
    assert after.send.client_order_id == f"{IID}.cover4"


def test_the_ack_timeout_counts_from_when_the_buy_back_left_the_bot():
    # the buy-back waited 8 s in the bot (write-ahead, a busy broker actor) before it was placed
    state = sent_one()
    state = covers.on_status(state, f"{IID}.cover1", S.SUBMITTED, "", at(8))

    state, early = step(state, ACK_S + 1, ACK_S + 1)
    state, due = step(state, 8 + ACK_S, 8 + ACK_S)

    assert early == covers.CoverStep()
    assert due == covers.CoverStep(cancel=f"{IID}.cover1")
