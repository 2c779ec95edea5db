"""Market: a seeded per-second path independent of sampling cadence, quotes, bars, history,
memory bounds and CSV replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from bot.sim import calendar
from bot.sim.contracts import SimContract
from bot.sim.market import Market
from bot.sim.options import option_quote

FRIDAY_OPEN = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
FRIDAY_CLOSE = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
MONDAY_OPEN = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)
SYMBOLS = ("SPY", "QQQ", "IWM")
DAY = 86_400


def make(symbols=SYMBOLS, seed=7, start=FRIDAY_OPEN, **kw) -> Market:
    return Market(symbols, seed=seed, start=start, **kw)


def sample(market: Market, step_s: int, span_s: int) -> dict[datetime, float]:
    """Advance every step_s simulated seconds and record SPY's spot at each step."""
    seen = {}
    for n in range(span_s // step_s + 1):
        t = market.now() if n == 0 else FRIDAY_OPEN + timedelta(seconds=n * step_s)
        market.advance(t)
        seen[t] = market.spot("SPY")
    return seen


def test_path_does_not_depend_on_the_sampling_cadence():
    every_second, every_37 = make(), make()

    fine = sample(every_second, 1, 3600)
    coarse = sample(every_37, 37, 3600)

    common = sorted(set(fine) & set(coarse))
    assert len(common) == 98
    assert [fine[t] for t in common] == [coarse[t] for t in common]
    end = common[-1]
    assert every_second.bars("SPY", end, 3600, 5) == every_37.bars("SPY", end, 3600, 5)


def test_path_does_not_depend_on_a_jump_across_days():
    stepped, jumped = make(), make()
    t = FRIDAY_OPEN
    while t < MONDAY_OPEN + timedelta(hours=1):
        t += timedelta(minutes=7)
        stepped.advance(t)

    jumped.advance(t)

    assert stepped.spot("SPY") == jumped.spot("SPY")
    assert stepped.bars("SPY", t, 3 * DAY, 300) == jumped.bars("SPY", t, 3 * DAY, 300)


def test_same_seed_same_prices_other_seed_other_prices():
    a, b, c = make(seed=7), make(seed=7), make(seed=8)
    end = FRIDAY_OPEN + timedelta(hours=2)
    for market in (a, b, c):
        market.advance(end)

    assert a.bars("QQQ", end, DAY, 60) == b.bars("QQQ", end, DAY, 60)
    assert a.spot("QQQ") != c.spot("QQQ")


def test_a_symbol_path_does_not_depend_on_the_other_symbols():
    alone, crowd = make(("IWM",)), make(("AAPL", "IWM", "TSLA"))
    end = FRIDAY_OPEN + timedelta(minutes=90)
    alone.advance(end)
    crowd.advance(end)

    assert alone.bars("IWM", end, 2 * DAY, 5) == crowd.bars("IWM", end, 2 * DAY, 5)


@pytest.mark.parametrize(
    ("symbol", "reference"),
    [("SPY", 590), ("QQQ", 510), ("IWM", 230), ("DIA", 440), ("AAPL", 230), ("MSFT", 420),
     ("NVDA", 140), ("AMZN", 200), ("TSLA", 330), ("META", 580), ("GOOGL", 170), ("AMD", 140)],
)  # fmt: skip
def test_prices_start_near_the_real_scale(symbol, reference):
    market = make((symbol,))

    assert abs(market.spot(symbol) / reference - 1) < 0.10


def test_unknown_symbols_get_a_deterministic_price_between_50_and_300():
    spots = [make((s,)).spot(s) for s in ("ZZZZ", "ABCD", "QWER")]

    assert all(40 < p < 330 for p in spots)
    assert spots == [make((s,)).spot(s) for s in ("ZZZZ", "ABCD", "QWER")]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_prices_stay_positive_and_near_scale_over_three_months(seed):
    market = make(("TSLA",), seed=seed, history_days=60)

    daily = market.bars("TSLA", FRIDAY_OPEN, 100 * DAY, DAY)

    assert len(daily) == 60
    assert all(0 < b.low <= b.high for b in daily)
    assert min(b.low for b in daily) > 330 / 3 and max(b.high for b in daily) < 330 * 3


def test_prices_only_move_in_regular_hours():
    market = make()
    market.advance(FRIDAY_CLOSE - timedelta(seconds=1))
    last_trade = market.spot("SPY")

    seen = []
    for t in (FRIDAY_CLOSE, FRIDAY_CLOSE + timedelta(hours=3), MONDAY_OPEN - timedelta(seconds=1)):
        market.advance(t)
        seen.append(market.spot("SPY"))

    assert seen == [last_trade] * 3
    assert not calendar.is_open(FRIDAY_CLOSE + timedelta(hours=3))


def test_advance_to_an_earlier_time_is_a_no_op():
    market = make()
    later = FRIDAY_OPEN + timedelta(minutes=10)
    market.advance(later)
    spot = market.spot("SPY")

    market.advance(FRIDAY_OPEN + timedelta(minutes=1))

    assert (market.now(), market.spot("SPY")) == (later, spot)


def closes(market: Market, symbol: str, bar_s: int, days: int) -> np.ndarray:
    return np.array([b.close for b in market.bars(symbol, market.now(), days * DAY, bar_s)])


def test_volatility_is_u_shaped_over_the_session():
    market = make(("SPY",))
    market.advance(FRIDAY_CLOSE)
    returns = np.diff(np.log(closes(market, "SPY", 5, 1)))  # 4680 five-second returns

    edge = np.concatenate([returns[:360], returns[-360:]]).std()
    middle = returns[2000:2720].std()

    assert edge > 1.8 * middle


@pytest.mark.parametrize(("symbol", "annual"), [("SPY", 0.15), ("TSLA", 0.35)])
def test_realised_volatility_matches_the_symbol(symbol, annual):
    market = make((symbol,), history_days=20)
    returns = np.diff(np.log(closes(market, symbol, 60, 30)))

    realised = returns.std() * np.sqrt(252 * 390)

    assert realised == pytest.approx(annual, rel=0.2)


def test_quote_is_a_one_cent_market_around_the_last_trade():
    market = make()
    for minutes in range(1, 60, 7):
        market.advance(FRIDAY_OPEN + timedelta(minutes=minutes, seconds=0.5))
        q = market.quote("SPY")

        assert round(q.ask - q.bid, 2) == 0.01
        assert q.last in (q.bid, q.ask) and q.last == market.spot("SPY")
        assert q.bid_size % 100 == 0 and q.ask_size >= 100 and q.last_size >= 100


def test_quote_volume_is_the_sessions_cumulative_volume():
    market = make()
    market.advance(FRIDAY_OPEN + timedelta(minutes=42, seconds=17.3))

    q = market.quote("SPY")
    whole_day = market.partial_bar("SPY", DAY)
    minutes = market.bars("SPY", market.now(), 42 * 60 + 17.3, 60)
    seconds = market.bars("SPY", market.now(), 17.3, 1)
    this_second = market.partial_bar("SPY", 1)

    assert (len(minutes), len(seconds)) == (42, 17)
    assert q.volume == whole_day.volume
    assert q.volume == sum(b.volume for b in minutes + seconds) + this_second.volume
    assert 1_000_000 < q.volume < 20_000_000


def test_quote_volume_does_not_depend_on_how_often_it_was_quoted():
    quoted_often, quoted_once = make(), make()
    t = FRIDAY_OPEN
    while t < MONDAY_OPEN + timedelta(minutes=20):  # across the close and the next open
        t += timedelta(seconds=137)
        quoted_often.advance(t)
        quoted_often.quote("SPY")

    quoted_once.advance(t)

    monday = quoted_once.bars("SPY", t, (t - MONDAY_OPEN).total_seconds(), 60)
    assert len(monday) == 20
    assert quoted_often.quote("SPY").volume == quoted_once.quote("SPY").volume
    assert quoted_once.quote("SPY").volume == (
        sum(b.volume for b in monday) + quoted_once.partial_bar("SPY", 60).volume
    )


def test_history_covers_the_sessions_before_start():
    market = make(history_days=3)

    minutes = market.bars("SPY", FRIDAY_OPEN, 2 * DAY, 60)
    daily = market.bars("SPY", FRIDAY_OPEN, 10 * DAY, DAY)

    assert len(minutes) == 2 * 390
    assert minutes[0].time == datetime(2026, 11, 18, 14, 30, tzinfo=UTC)
    assert minutes[-1].time == datetime(2026, 11, 19, 20, 59, tzinfo=UTC)
    assert [b.time.date().day for b in daily] == [17, 18, 19]


def test_only_history_days_are_kept_as_the_market_moves_on():
    market = make(history_days=2)

    market.advance(datetime(2026, 12, 4, 15, 0, tzinfo=UTC))
    daily = market.bars("SPY", market.now(), 30 * DAY, DAY)

    assert [b.time.date().day for b in daily] == [2, 3]  # today's bar is not complete yet
    assert market.bars("SPY", market.now(), 30 * DAY, 60)[0].time.date().day == 2


def test_bars_are_aligned_complete_and_consistent():
    market = make()
    now = FRIDAY_OPEN + timedelta(minutes=65, seconds=30)
    market.advance(now)

    bars = market.bars("SPY", now, 3600, 60)

    assert len(bars) == 59  # those starting at or after now - 3600 s, i.e. from 09:36
    assert (bars[0].time, bars[-1].time) == (FRIDAY_OPEN + timedelta(minutes=6),
                                             FRIDAY_OPEN + timedelta(minutes=64))  # fmt: skip
    assert all(b.time.second == 0 for b in bars)
    assert all(b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high for b in bars)
    assert all(b.low <= b.wap <= b.high and b.volume > 0 and b.count > 0 for b in bars)


def test_bars_never_include_the_future():
    market = make()
    market.advance(FRIDAY_OPEN + timedelta(minutes=10, seconds=5))

    bars = market.bars("SPY", FRIDAY_CLOSE + timedelta(days=2), 3 * DAY, 60)

    assert bars[-1].time == FRIDAY_OPEN + timedelta(minutes=9)


def test_five_second_bars_aggregate_to_minute_bars():
    market = make()
    market.advance(FRIDAY_OPEN + timedelta(minutes=30))

    fives = market.bars("SPY", market.now(), 1800, 5)
    minutes = market.bars("SPY", market.now(), 1800, 60)

    for i, minute in enumerate(minutes):
        chunk = fives[12 * i: 12 * i + 12]
        assert (chunk[0].time, chunk[0].open) == (minute.time, minute.open)
        assert chunk[-1].close == minute.close
        assert max(b.high for b in chunk) == minute.high and min(b.low for b in chunk) == minute.low
        assert sum(b.volume for b in chunk) == minute.volume


def test_hourly_bars_start_at_the_open_then_on_the_hour():
    market = make()
    market.advance(FRIDAY_CLOSE)

    hours = market.bars("SPY", FRIDAY_CLOSE, DAY, 3600)

    assert [b.time.astimezone(calendar.NY).strftime("%H:%M") for b in hours] == [
        "09:30", "10:00", "11:00", "12:00", "13:00", "14:00", "15:00"]  # fmt: skip


def test_early_close_session_ends_at_one_pm():
    start = datetime(2026, 11, 27, 14, 30, tzinfo=UTC)
    market = make(start=start)
    market.advance(start + timedelta(hours=8))

    bars = market.bars("SPY", market.now(), 12 * 3600, 60)

    assert len(bars) == 210
    assert bars[-1].time.astimezone(calendar.NY).strftime("%H:%M") == "12:59"


def test_bid_mid_ask_bars_are_ordered_and_carry_no_volume():
    market = make()
    market.advance(FRIDAY_OPEN + timedelta(minutes=20))
    now = market.now()

    bid, mid, ask = (market.bars("SPY", now, 1200, 60, w) for w in ("BID", "MIDPOINT", "ASK"))

    assert len(bid) == len(mid) == len(ask) == 20
    for b, m, a in zip(bid, mid, ask, strict=True):
        assert b.close < m.close < a.close and b.low <= m.low <= a.low
        assert m.close == pytest.approx((b.close + a.close) / 2)
        assert (m.volume, m.wap, m.count) == (-1, -1.0, -1)


def test_unknown_what_to_show_is_refused():
    with pytest.raises(ValueError):
        make().bars("SPY", FRIDAY_OPEN, DAY, 60, "BID_ASK")


def test_partial_bar_becomes_the_completed_bar():
    market = make()
    minute = FRIDAY_OPEN + timedelta(minutes=12)
    market.advance(minute + timedelta(seconds=59.5))
    forming = market.partial_bar("SPY", 60)

    market.advance(minute + timedelta(seconds=60))
    done = market.bars("SPY", market.now(), 60, 60)

    assert forming.time == minute
    assert done == [forming]
    assert market.partial_bar("SPY", 60).time == minute + timedelta(minutes=1)


LATE = FRIDAY_OPEN + timedelta(hours=6, minutes=3, seconds=17.5)


@pytest.mark.parametrize("bar_s", [5, 60, 300, 1800, 3600])
def test_late_forming_bar_aggregates_its_own_seconds(bar_s):
    market = make()
    market.advance(LATE)
    into_bar = LATE.timestamp() % bar_s  # bars align to the clock

    forming = market.partial_bar("SPY", bar_s)
    seconds = market.bars("SPY", LATE, into_bar, 1) + [market.partial_bar("SPY", 1)]

    assert forming.time == seconds[0].time == LATE - timedelta(seconds=into_bar)
    assert (forming.open, forming.close) == (seconds[0].open, seconds[-1].close)
    assert forming.high == max(b.high for b in seconds)
    assert forming.low == min(b.low for b in seconds)
    assert forming.volume == sum(b.volume for b in seconds)


@pytest.mark.parametrize(
    ("duration_s", "bar_s", "what", "count"),
    [(600, 60, "TRADES", 9), (600.5, 60, "TRADES", 9), (119.9, 5, "BID", 23),
     (3600, 300, "MIDPOINT", 11), (7200, 1800, "ASK", 3)],
)  # fmt: skip
def test_a_window_late_in_the_session_is_the_tail_of_the_whole_session(
    duration_s, bar_s, what, count
):
    market = make()
    market.advance(LATE)

    window = market.bars("SPY", LATE, duration_s, bar_s, what)
    session = market.bars("SPY", LATE, 7 * 3600, bar_s, what)

    assert len(window) == count
    assert window == session[-count:]


@pytest.mark.parametrize(("call", "bar_s"), [("partial", 60), ("partial", 5), ("window", 60)])
def test_late_bars_read_only_the_seconds_of_the_bars_asked_for(monkeypatch, call, bar_s):
    market = make()
    market.advance(LATE)
    read = []
    series = market._series
    monkeypatch.setattr(market, "_series", lambda *a: read.append(a[3:]) or series(*a))

    if call == "partial":
        market.partial_bar("SPY", bar_s)
    else:
        market.bars("SPY", LATE, 2 * bar_s, bar_s)

    (lo, n), = read
    assert n - lo < 3 * bar_s  # not the 21,800 seconds since the open


@pytest.mark.parametrize("bar_s", [5, 60, DAY])
def test_partial_bar_outside_hours_is_the_sessions_last_bar(bar_s):
    market = make()
    market.advance(FRIDAY_CLOSE)
    last = market.bars("SPY", FRIDAY_CLOSE, bar_s, bar_s)

    seen = []
    for t in (FRIDAY_CLOSE, FRIDAY_CLOSE + timedelta(hours=5), MONDAY_OPEN - timedelta(seconds=1)):
        market.advance(t)
        seen.append(market.partial_bar("SPY", bar_s))

    assert len(last) == 1
    assert seen == last * 3


def test_prior_close_is_the_previous_sessions_last_trade():
    market = make()
    thursday = market.bars("SPY", FRIDAY_OPEN, DAY, DAY)[-1]

    assert market.prior_close("SPY", FRIDAY_OPEN.date()) == thursday.close


def test_option_quote_uses_spot_and_now():
    market = make()
    market.advance(FRIDAY_OPEN + timedelta(minutes=5))
    contract = SimContract(con_id=99, symbol="SPY", sec_type="OPT", expiry="20261127",
                           strike=590.0, right="C", multiplier="100")  # fmt: skip

    expected = option_quote(contract, market.spot("SPY"), market.now(), 7)

    assert market.option_quote(contract) == expected


CSV = """time,symbol,open,high,low,close,volume
2026-11-20T09:30:00-05:00,SPY,600.00,600.50,599.80,600.20,12000
2026-11-20 09:31:00,SPY,600.20,600.30,599.50,599.60,6030
{epoch},SPY,599.60,599.90,599.40,599.70,60
"""


@pytest.fixture()
def replay(tmp_path) -> Market:
    path = tmp_path / "bars.csv"
    path.write_text(CSV.format(epoch=int((FRIDAY_OPEN + timedelta(minutes=2)).timestamp())))
    return make(bars_csv=path)


def test_csv_minutes_come_back_as_the_same_bars(replay):
    replay.advance(FRIDAY_OPEN + timedelta(minutes=5))

    bars = replay.bars("SPY", replay.now(), 300, 60)

    assert [(b.open, b.high, b.low, b.close, b.volume) for b in bars[:3]] == [
        (600.00, 600.50, 599.80, 600.20, 12000),
        (600.20, 600.30, 599.50, 599.60, 6030),
        (599.60, 599.90, 599.40, 599.70, 60),
    ]
    flat = (599.70, 599.70, 599.70, 599.70, 0)
    assert [(b.open, b.high, b.low, b.close, b.volume) for b in bars[3:]] == [flat, flat]


def test_csv_prices_are_interpolated_inside_the_minute(replay):
    seen = []
    for second in range(60):
        replay.advance(FRIDAY_OPEN + timedelta(minutes=1, seconds=second))
        seen.append(replay.spot("SPY"))

    assert seen[0] == 600.20 and seen[-1] == 599.60
    assert max(seen) == 600.30 and min(seen) == 599.50
    assert seen.index(600.30) < seen.index(599.50)  # a down minute visits its high first


def test_csv_leaves_other_symbols_on_the_random_walk(replay):
    assert replay.spot("QQQ") == make().spot("QQQ")


def test_the_tape_shows_each_second_as_the_quote_showed_it() -> None:
    """Market.tape (historical ticks) and Market.quote (live ticks) describe the same seconds."""
    market = make()
    seen = []
    for minutes in (1, 2, 3):
        market.advance(FRIDAY_OPEN + timedelta(minutes=minutes))
        seen.append(market.quote("SPY"))
    tape = market.tape("SPY", int(FRIDAY_OPEN.timestamp()), int(market.now().timestamp()) + 60)
    by_t = {s.t: s for s in tape}
    for minutes, q in zip((1, 2, 3), seen, strict=True):
        s = by_t[int((FRIDAY_OPEN + timedelta(minutes=minutes)).timestamp())]
        assert (s.last, s.bid, s.ask, s.bid_size, s.ask_size) == (
            q.last, q.bid, q.ask, q.bid_size, q.ask_size)
    assert tape[-1].t == int(market.now().timestamp())  # nothing after now
