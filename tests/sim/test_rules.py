"""IB's pacing rules as pure objects: message rate, historical pacing, market data lines,
client ids and counters."""

from __future__ import annotations

import pytest

from bot.sim.rules import (
    ClientIds,
    Counters,
    HistoricalPacing,
    HistRequest,
    MarketDataLines,
    MessageRate,
    RateVerdict,
    text_msg_rate,
)

SPY = ((10001, "SMART"),)


def _req(what: str = "TRADES", query: tuple = ("", "1 min", "1 D"), key=SPY) -> HistRequest:
    return HistRequest(key, what, query)


@pytest.mark.parametrize(
    ("sent", "spacing", "expected_breaches"),
    [
        (50, 0.001, 0),  # exactly at the limit
        (51, 0.001, 1),  # one over
        (200, 0.001, 1),  # a burst within one second is one breach
        (100, 0.021, 0),  # just under 50 per second, spread out
    ],
)
def test_message_rate_counts_one_breach_per_second_of_excess(sent, spacing, expected_breaches):
    rate = MessageRate(limit=50)
    verdicts = [rate.on_message(i * spacing) for i in range(sent)]
    assert rate.breaches == expected_breaches
    assert verdicts.count(RateVerdict.BREACH) == expected_breaches


def test_third_breach_closes_the_session():
    rate = MessageRate(limit=50)
    verdicts = []
    for second in range(3):
        verdicts += [rate.on_message(second * 2 + i * 0.001) for i in range(51)]
    assert [v for v in verdicts if v is not RateVerdict.OK] == [
        RateVerdict.BREACH,
        RateVerdict.BREACH,
        RateVerdict.CLOSE,
    ]


def test_message_rate_text_is_ibs():
    assert (
        text_msg_rate(50, 51, 1)
        == "Max rate of messages per second has been exceeded:max=50 rec=51 (1)"
    )


@pytest.mark.parametrize(
    ("history", "request_at", "expected"),
    [
        ([(0.0, _req())], 14.9, "hist_identical"),
        ([(0.0, _req())], 15.0, None),
        ([(i * 0.1, _req(query=(i,))) for i in range(5)], 1.0, "hist_same_contract"),
        ([(i * 0.1, _req(query=(i,))) for i in range(5)], 2.1, None),
        ([(i * 0.1, _req(query=(i,))) for i in range(4)], 1.0, None),
        (
            [(i * 0.1, _req("BID_ASK", (i,))) for i in range(2)],
            1.0,
            "hist_same_contract",
        ),  # 2x2 + 2
        (
            [(i * 5.0, _req(query=(i,), key=((i, "SMART"),))) for i in range(60)],
            400.0,
            "hist_10min",
        ),
        ([(i * 5.0, _req(query=(i,), key=((i, "SMART"),))) for i in range(60)], 600.0, None),
    ],
)
def test_historical_pacing_rules(history, request_at, expected):
    pacing = HistoricalPacing()
    for t, req in history:
        assert pacing.check(req, t) is None
    fresh = _req("BID_ASK", ("new",)) if history[0][1].what == "BID_ASK" else _req(query=("new",))
    probe = history[0][1] if expected == "hist_identical" or request_at == 15.0 else fresh
    assert pacing.check(probe, request_at) == expected


def test_market_data_lines_limit_and_release():
    lines = MarketDataLines(limit=2)
    assert lines.acquire(("s1", "mkt", 1)) and lines.acquire(("s1", "mkt", 2))
    assert lines.acquire(("s1", "mkt", 2))  # the same line again is not a new line
    assert not lines.acquire(("s2", "mkt", 1))
    lines.release_owner("s1")
    assert lines.in_use == 0 and lines.acquire(("s2", "mkt", 1))


def test_client_ids_are_exclusive_until_released():
    ids = ClientIds()
    assert ids.claim(1) and not ids.claim(1)
    ids.release(1)
    assert ids.claim(1)


def test_counters_snapshot_and_violation_sum():
    counters = Counters()
    counters.inc("req.reqMktData")
    counters.inc("violation.msg_rate", 2)
    counters.inc("violation.hist_10min")
    assert counters.snapshot() == {
        "req.reqMktData": 1,
        "violation.hist_10min": 1,
        "violation.msg_rate": 2,
    }
    assert counters.violations() == 3
