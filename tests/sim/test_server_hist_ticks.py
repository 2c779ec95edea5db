"""reqHistoricalTicks through ib_insync (bot.sim.hist_ticks): TRADES, BID_ASK and MIDPOINT from
a start or to an end, at most 1000 ticks, one session per request, useRTH, ignoreSize."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ib_insync import Stock

from bot.sim.calendar import NY

AT_11 = datetime(2026, 11, 18, 16, 0, tzinfo=UTC)  # Wednesday 11:00 New York
OPEN = datetime(2026, 11, 18, 14, 30, tzinfo=UTC)
PREV_CLOSE = datetime(2026, 11, 17, 21, 0, tzinfo=UTC)  # Tuesday 16:00 New York
STILL = dict(start=AT_11, tick_interval_s=30.0)
"""The market stands at Wednesday 11:00 for the whole test."""


@pytest.fixture
def spy_ib(make_gateway, make_ib):
    gateway = make_gateway(**STILL)
    ib = make_ib(gateway)
    ib.RequestTimeout = 10
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    return gateway, ib, spy


def ticks(ib, spy, start="", end="", n=100, what="TRADES", use_rth=True, ignore_size=False):
    return ib.reqHistoricalTicks(spy, start, end, n, what, use_rth, ignore_size)


def test_trades_from_a_start_are_the_first_prints_at_or_after_it(spy_ib) -> None:
    # Arrange
    gateway, ib, spy = spy_ib
    start = OPEN + timedelta(minutes=10)
    # Act
    got = ticks(ib, spy, start=start, n=50)
    # Assert: 50 prints, one per traded second from the start, as the market's tape has them
    tape = [s for s in gateway.market.tape("SPY", int(start.timestamp()),
                                           int(start.timestamp()) + 200) if s.volume][:50]
    assert [(int(t.time.timestamp()), t.price, t.size) for t in got] == [
        (s.t, s.last, s.volume) for s in tape]
    assert {t.exchange for t in got} == {"ARCA"}


def test_trades_to_an_end_are_the_last_prints_at_or_before_it_oldest_first(spy_ib) -> None:
    _, ib, spy = spy_ib
    end = OPEN + timedelta(minutes=20)
    got = ticks(ib, spy, end=end, n=30)
    times = [t.time for t in got]
    assert len(got) == 30 and times == sorted(times)
    assert times[-1] <= end and times[-1] > end - timedelta(seconds=5)


def test_no_request_gets_more_than_1000_ticks(spy_ib) -> None:
    _, ib, spy = spy_ib
    got = ticks(ib, spy, start=OPEN, n=5000)
    assert len(got) == 1000


@pytest.mark.parametrize("use_rth, first_time, first_price_is_prev_close", [
    (True, OPEN, False),  # regular hours only: the first print is at the open
    (False, OPEN - timedelta(hours=1), True),  # pre-market, at the prior close
])
def test_a_start_before_the_open_begins_at_the_open_or_in_the_pre_market(
    spy_ib, use_rth, first_time, first_price_is_prev_close
) -> None:
    # Arrange
    gateway, ib, spy = spy_ib
    start = OPEN - timedelta(hours=1)
    prev_close = gateway.market.bars("SPY", PREV_CLOSE, 60, 60)[-1].close
    # Act
    got = ticks(ib, spy, start=start, n=10, use_rth=use_rth)
    # Assert
    assert len(got) == 10
    assert first_time <= got[0].time < first_time + timedelta(seconds=10)
    assert (got[0].price == prev_close) == first_price_is_prev_close


def test_an_end_never_reaches_into_the_previous_session(spy_ib) -> None:
    # 5 minutes after the open hold at most 301 seconds of regular-hours prints
    _, ib, spy = spy_ib
    end = OPEN + timedelta(minutes=5)
    got = ticks(ib, spy, end=end, n=1000)
    assert 0 < len(got) <= 301
    assert got[0].time >= OPEN and got[-1].time <= end


def test_nothing_after_the_simulated_now(spy_ib) -> None:
    _, ib, spy = spy_ib
    got = ticks(ib, spy, start=AT_11 - timedelta(seconds=20), n=1000)
    assert got and got[-1].time <= AT_11 and len(got) <= 21


def test_bid_ask_ticks_come_on_each_change_and_ignore_size_drops_size_only_changes(
    spy_ib
) -> None:
    # Arrange
    _, ib, spy = spy_ib
    start = OPEN + timedelta(minutes=30)
    # Act
    with_sizes = ticks(ib, spy, start=start, n=200, what="BID_ASK")
    prices_only = ticks(ib, spy, start=start, n=200, what="BID_ASK", ignore_size=True)
    # Assert
    end = with_sizes[-1].time
    assert len(with_sizes) == len(prices_only) == 200
    assert prices_only[-1].time > end  # fewer changes: the same count spans more time
    for run in (with_sizes, prices_only):
        assert all(t.priceAsk > t.priceBid > 0 for t in run)
    pairs = [(t.priceBid, t.priceAsk) for t in prices_only]
    assert all(a != b for a, b in zip(pairs, pairs[1:], strict=False))
    sized = [(t.priceBid, t.priceAsk, t.sizeBid, t.sizeAsk) for t in with_sizes]
    assert all(a != b for a, b in zip(sized, sized[1:], strict=False))


def test_midpoint_ticks_come_on_each_change_with_size_0(spy_ib) -> None:
    _, ib, spy = spy_ib
    got = ticks(ib, spy, end=OPEN + timedelta(hours=1), n=100, what="MIDPOINT")
    mids = [t.price for t in got]
    assert len(got) == 100 and {t.size for t in got} == {0.0}
    assert all(a != b for a, b in zip(mids, mids[1:], strict=False))
    assert all(abs(m * 200 - round(m * 200)) < 1e-6 for m in mids)  # on the half-cent grid


@pytest.mark.parametrize("start, end", [("", ""), (OPEN, OPEN + timedelta(minutes=1))])
def test_a_request_needs_exactly_one_of_start_and_end(spy_ib, start, end) -> None:
    _, ib, spy = spy_ib
    errors = []
    ib.errorEvent += lambda req_id, code, text, contract: errors.append((code, text))
    got = ticks(ib, spy, start=start, end=end, n=10)
    assert got == [] and [code for code, _ in errors] == [321]
    assert "Exactly one of start and end" in errors[0][1]


def test_ticks_carry_new_york_session_times(spy_ib) -> None:
    _, ib, spy = spy_ib
    got = ticks(ib, spy, start=OPEN, n=1)
    assert got[0].time.astimezone(NY).strftime("%H:%M") == "09:30"
