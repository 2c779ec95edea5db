"""Exchange calendar: sessions in New York time as UTC, holidays, DST, IB hour strings."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.sim import calendar as cal


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 11, 20), (utc(2026, 11, 20, 14, 30), utc(2026, 11, 20, 21, 0))),  # EST
        (date(2026, 7, 14), (utc(2026, 7, 14, 13, 30), utc(2026, 7, 14, 20, 0))),  # EDT
        (date(2026, 3, 6), (utc(2026, 3, 6, 14, 30), utc(2026, 3, 6, 21, 0))),  # Friday before DST
        (date(2026, 3, 9), (utc(2026, 3, 9, 13, 30), utc(2026, 3, 9, 20, 0))),  # Monday after
        (date(2026, 10, 30), (utc(2026, 10, 30, 13, 30), utc(2026, 10, 30, 20, 0))),  # before end
        (date(2026, 11, 2), (utc(2026, 11, 2, 14, 30), utc(2026, 11, 2, 21, 0))),  # after end
        (date(2026, 11, 27), (utc(2026, 11, 27, 14, 30), utc(2026, 11, 27, 18, 0))),  # early close
        (date(2026, 12, 24), (utc(2026, 12, 24, 14, 30), utc(2026, 12, 24, 18, 0))),  # early close
        (date(2026, 11, 21), None),  # Saturday
        (date(2026, 11, 22), None),  # Sunday
        (date(2026, 11, 26), None),  # Thanksgiving
        (date(2026, 4, 3), None),  # Good Friday
        (date(2026, 7, 3), None),  # Independence Day observed (July 4 is a Saturday)
        (date(2027, 12, 24), None),  # Christmas observed (December 25 is a Saturday)
        (date(2025, 1, 9), None),  # one-off closure
    ],
)
def test_session_bounds(day, expected):
    assert cal.session_bounds(day) == expected


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        (2026, {date(2026, m, d) for m, d in [(1, 1), (1, 19), (2, 16), (4, 3), (5, 25), (6, 19),
                                               (7, 3), (9, 7), (11, 26), (12, 25)]}),
        (2027, {date(2027, m, d) for m, d in [(1, 1), (1, 18), (2, 15), (3, 26), (5, 31), (6, 18),
                                               (7, 5), (9, 6), (11, 25), (12, 24)]}),
        (2028, {date(2028, m, d) for m, d in [(1, 17), (2, 21), (4, 14), (5, 29), (6, 19),
                                               (7, 4), (9, 4), (11, 23), (12, 25)]}),
    ],
)  # fmt: skip
def test_holidays_follow_nyse_rules(year, expected):
    assert cal.holidays(year) == expected


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (utc(2026, 11, 20, 14, 29, 59), False),
        (utc(2026, 11, 20, 14, 30), True),
        (utc(2026, 11, 20, 20, 59, 59), True),
        (utc(2026, 11, 20, 21, 0), False),
        (utc(2026, 11, 21, 15, 0), False),  # Saturday
        (utc(2026, 11, 27, 17, 59), True),  # early close day, 12:59 New York
        (utc(2026, 11, 27, 18, 0), False),
    ],
)
def test_is_open(t, expected):
    assert cal.is_open(t) is expected


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (utc(2026, 11, 20, 14, 30), utc(2026, 11, 20, 14, 30)),  # at the open: itself
        (utc(2026, 11, 20, 12, 0), utc(2026, 11, 20, 14, 30)),  # pre-market
        (utc(2026, 11, 20, 15, 0), utc(2026, 11, 23, 14, 30)),  # during Friday -> Monday
        (utc(2026, 11, 21, 12, 0), utc(2026, 11, 23, 14, 30)),  # Saturday
        (utc(2026, 11, 25, 22, 0), utc(2026, 11, 27, 14, 30)),  # skips Thanksgiving
        (utc(2026, 3, 6, 22, 0), utc(2026, 3, 9, 13, 30)),  # across the spring DST change
    ],
)
def test_next_open(t, expected):
    assert cal.next_open(t) == expected


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (utc(2026, 11, 20, 14, 30), utc(2026, 11, 20, 21, 0)),  # Friday open -> its close
        (utc(2026, 11, 20, 20, 59, 59), utc(2026, 11, 20, 21, 0)),
        (utc(2026, 11, 20, 21, 0), utc(2026, 11, 23, 21, 0)),  # at the close: Monday's
        (utc(2026, 11, 21, 12, 0), utc(2026, 11, 23, 21, 0)),  # Saturday
        (utc(2026, 11, 25, 22, 0), utc(2026, 11, 27, 18, 0)),  # Thanksgiving, then 13:00 close
        (utc(2026, 3, 6, 22, 0), utc(2026, 3, 9, 20, 0)),  # across the spring DST change
    ],
)
def test_next_close(t, expected):
    assert cal.next_close(t) == expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2026, 11, 21, 9, 8), utc(2026, 11, 20, 14, 30)),  # Saturday -> Friday 09:30 NY
        (utc(2026, 11, 22, 23, 0), utc(2026, 11, 20, 14, 30)),  # Sunday night
        (utc(2026, 11, 23, 13, 0), utc(2026, 11, 20, 14, 30)),  # Monday pre-market -> Friday
        (utc(2026, 11, 23, 16, 0), utc(2026, 11, 23, 14, 30)),  # Monday in session
        (utc(2026, 11, 24, 2, 0), utc(2026, 11, 23, 14, 30)),  # Monday night (UTC Tuesday)
        (utc(2026, 11, 27, 1, 0), utc(2026, 11, 25, 14, 30)),  # Thanksgiving night
        (utc(2026, 3, 9, 13, 45), utc(2026, 3, 9, 13, 30)),  # first EDT session
        (utc(2026, 11, 2, 14, 0), utc(2026, 10, 30, 13, 30)),  # before the first EST open
    ],
)
def test_default_start_is_the_latest_open(now, expected):
    assert cal.default_start(now) == expected


def test_session_days_counts_back_over_weekends_and_holidays():
    assert cal.session_days(date(2026, 11, 30), 4) == [
        date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 27), date(2026, 11, 30),
    ]  # fmt: skip
    assert cal.session_days(date(2026, 11, 22), 2) == [date(2026, 11, 19), date(2026, 11, 20)]


@pytest.mark.parametrize(
    ("end", "days", "expected"),
    [
        (utc(2026, 11, 23, 15, 0), 1, utc(2026, 11, 23, 14, 30)),  # Monday morning: Monday
        (utc(2026, 11, 23, 15, 0), 2, utc(2026, 11, 20, 14, 30)),  # ... and Friday
        (utc(2026, 11, 21, 12, 0), 1, utc(2026, 11, 20, 14, 30)),  # Saturday: Friday
        (utc(2026, 11, 30, 13, 0), 3, utc(2026, 11, 24, 14, 30)),  # pre-market, over Thanksgiving
    ],
)
def test_duration_start_counts_trading_days(end, days, expected):
    assert cal.duration_start(end, days) == expected


@pytest.mark.parametrize(
    ("fn", "day", "days", "expected"),
    [
        (cal.liquid_hours, date(2026, 11, 20), 3,
         "20261120:0930-20261120:1600;20261121:CLOSED;20261122:CLOSED"),
        (cal.liquid_hours, date(2026, 11, 25), 3,
         "20261125:0930-20261125:1600;20261126:CLOSED;20261127:0930-20261127:1300"),
        (cal.trading_hours, date(2026, 11, 20), 2, "20261120:0400-20261120:2000;20261121:CLOSED"),
        (cal.trading_hours, date(2026, 11, 27), 1, "20261127:0400-20261127:1700"),
        (cal.liquid_hours, date(2026, 3, 6), 4, "20260306:0930-20260306:1600;20260307:CLOSED;"
         "20260308:CLOSED;20260309:0930-20260309:1600"),
    ],
)  # fmt: skip
def test_ib_hour_strings(fn, day, days, expected):
    assert fn(day, days) == expected


def test_hours_parse_as_ib_insync_does():
    from ib_insync import ContractDetails

    details = ContractDetails(
        timeZoneId="US/Eastern",
        liquidHours=cal.liquid_hours(date(2026, 11, 20), 3),
        tradingHours=cal.trading_hours(date(2026, 11, 27), 1),
    )

    liquid = [(s.start, s.end) for s in details.liquidSessions()]
    trading = [(s.start, s.end) for s in details.tradingSessions()]

    assert liquid == [(utc(2026, 11, 20, 14, 30), utc(2026, 11, 20, 21, 0))]
    assert trading == [(utc(2026, 11, 27, 9, 0), utc(2026, 11, 27, 22, 0))]
