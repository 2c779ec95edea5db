"""Contracts: deterministic conIds, listed chains (expiries and strikes), reqContractDetails
matching with wildcards."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.sim.contracts import (
    ContractRegistry,
    expirations,
    occ_symbol,
    option_con_id,
    stable_hash,
    strikes_around,
)
from bot.sim.market import Market

START = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)  # Friday open
TODAY = date(2026, 11, 20)
SYMBOLS = ("SPY", "QQQ", "IWM", "AAPL", "ZZZZ")


@pytest.fixture(scope="module")
def market() -> Market:
    return Market(SYMBOLS, seed=7, start=START)


@pytest.fixture()
def registry(market) -> ContractRegistry:
    return ContractRegistry(SYMBOLS, market)


def listed(registry: ContractRegistry, symbol: str) -> tuple[list[str], list[float]]:
    row = registry.chain_params(symbol, TODAY)[0]
    return sorted(row[3]), sorted(row[4])


def test_stable_hash_is_fixed_across_processes():
    assert stable_hash("walk", "SPY") == 0xB459127CB5076B0C  # blake2b, not the salted hash()
    assert stable_hash("walk", "SPY") != stable_hash("walk", "QQQ")


@pytest.mark.parametrize(
    ("symbol", "con_id", "primary", "name"),
    [("SPY", 10_001, "ARCA", "SPDR S&P 500 ETF TRUST"),
     ("QQQ", 10_002, "NASDAQ", "INVESCO QQQ TRUST SERIES 1"),
     ("AAPL", 10_005, "NASDAQ", "APPLE INC")],
)  # fmt: skip
def test_stock_contracts(registry, symbol, con_id, primary, name):
    stock = registry.stock(symbol)

    assert (stock.con_id, stock.sec_type, stock.exchange, stock.primary_exchange) == (
        con_id, "STK", "SMART", primary)  # fmt: skip
    assert (stock.currency, stock.local_symbol, stock.long_name) == ("USD", symbol, name)
    assert registry.by_con_id(con_id) is stock


def test_unknown_symbol_has_no_contract(registry):
    assert registry.stock("NOPE") is None
    assert registry.option("NOPE", "20261127", 100.0, "C") is None
    assert registry.chain_params("NOPE", TODAY) == []
    assert registry.match(symbol="NOPE", sec_type="STK") == []


def test_expirations_spy_daily_plus_monthlies():
    days = expirations("SPY", TODAY)

    assert days[:6] == [date(2026, 11, d) for d in (20, 23, 24, 25, 27, 30)]  # no Thanksgiving
    assert date(2026, 12, 18) in days and date(2027, 1, 15) in days and date(2027, 2, 19) in days
    assert days[-1] == date(2027, 2, 19)
    assert all(d.weekday() < 5 for d in days)


def test_expirations_of_a_stock_are_fridays_and_holiday_fridays_move_back():
    days = expirations("AAPL", date(2026, 3, 23))

    # Good Friday (April 3) moves that week's expiry to Thursday
    assert days[:3] == [date(2026, 3, 27), date(2026, 4, 2), date(2026, 4, 10)]
    assert date(2026, 4, 17) in days and date(2026, 5, 15) in days and date(2026, 6, 18) in days


def test_expirations_of_iwm_are_monday_wednesday_friday():
    assert expirations("IWM", TODAY)[:5] == [date(2026, 11, d) for d in (20, 23, 25, 27, 30)]


@pytest.mark.parametrize(
    ("reference", "count", "lowest", "highest", "fine_range"),
    [(590.0, 155, 445.0, 735.0, (531.0, 649.0)), (100.0, 27, 75.0, 125.0, (90.0, 110.0))],
)
def test_strikes_one_dollar_near_five_dollars_far(reference, count, lowest, highest, fine_range):
    strikes = strikes_around(reference)
    fine = [k for k in strikes if fine_range[0] <= k <= fine_range[1]]

    assert (len(strikes), strikes[0], strikes[-1]) == (count, lowest, highest)
    assert fine == [float(k) for k in range(int(fine_range[0]), int(fine_range[1]) + 1)]
    assert all(k % 5 == 0 for k in strikes if not fine_range[0] <= k <= fine_range[1])


def test_chain_params_centre_on_the_prior_close(registry, market):
    rows = registry.chain_params("SPY", TODAY)
    reference = market.prior_close("SPY", TODAY)

    assert [r[:3] for r in rows] == [("SMART", "SPY", "100"), ("CBOE", "SPY", "100")]
    assert sorted(rows[0][4]) == strikes_around(reference)
    assert sorted(rows[0][3])[:2] == ["20261120", "20261123"]


def test_listed_option_fields(registry):
    expiries, strikes = listed(registry, "SPY")
    strike = strikes[len(strikes) // 2]

    c = registry.option("SPY", "20261127", strike, "P")

    assert (c.sec_type, c.symbol, c.expiry) == ("OPT", "SPY", "20261127")
    assert (c.strike, c.right) == (strike, "P")
    assert (c.multiplier, c.trading_class, c.exchange, c.currency) == ("100", "SPY", "SMART", "USD")
    assert c.local_symbol == occ_symbol("SPY", date(2026, 11, 27), strike, "P")
    assert c.con_id == option_con_id(1, date(2026, 11, 27), strike, "P")
    assert registry.option("SPY", "20261127", strike, "PUT") is c


@pytest.mark.parametrize(
    ("expiry", "strike", "right"),
    [("20261126", 590.0, "C"),  # Thanksgiving: not listed
     ("20261127", 590.5, "C"),  # not a strike
     ("20261127", 10.0, "C"),  # far outside the chain
     ("2026112", 590.0, "C"),  # malformed
     ("20261127", 590.0, "X")],
)  # fmt: skip
def test_unlisted_options_are_none(registry, expiry, strike, right):
    assert registry.option("SPY", expiry, strike, right) is None


def test_con_ids_are_the_same_in_a_fresh_registry_and_resolve_without_a_prior_request(market):
    first = ContractRegistry(SYMBOLS, market)
    second = ContractRegistry(tuple(reversed(SYMBOLS)), market)
    strike = listed(first, "QQQ")[1][40]

    made = first.option("QQQ", "20261204", strike, "C")

    assert second.by_con_id(made.con_id) == made
    assert second.stock("ZZZZ").con_id == first.stock("ZZZZ").con_id


def test_con_ids_are_unique_across_a_chain(registry):
    expiries, strikes = listed(registry, "SPY")

    ids = {registry.option("SPY", e, k, r).con_id for e in expiries for k in strikes for r in "CP"}

    assert len(ids) == len(expiries) * len(strikes) * 2
    assert all(0 < i < 2**31 for i in ids)
    assert not ids & {registry.stock(s).con_id for s in SYMBOLS}


def test_option_con_id_refuses_what_does_not_fit():
    assert option_con_id(1, date(2026, 1, 1), 100.25, "C") is None
    assert option_con_id(1, date(2023, 12, 31), 100.0, "C") is None
    assert option_con_id(1, date(2026, 1, 1), 5000.0, "C") is None


def test_occ_symbol():
    assert occ_symbol("SPY", date(2026, 11, 20), 590.0, "C") == "SPY   261120C00590000"
    assert occ_symbol("GOOGL", date(2027, 1, 15), 172.5, "P") == "GOOGL 270115P00172500"


def test_match_stock_by_symbol_and_by_con_id(registry):
    spy = registry.stock("SPY")

    assert registry.match(symbol="SPY", sec_type="STK", exchange="SMART", currency="USD") == [spy]
    assert registry.match(symbol="SPY") == [spy]
    assert registry.match(con_id=spy.con_id) == [spy]
    assert registry.match(con_id=spy.con_id, symbol="QQQ") == []
    assert registry.match(symbol="SPY", currency="EUR") == []


def test_match_on_the_primary_exchange_reports_that_exchange(registry):
    found = registry.match(symbol="QQQ", sec_type="STK", exchange="NASDAQ")

    assert [(c.con_id, c.exchange) for c in found] == [(10_002, "NASDAQ")]
    assert registry.match(symbol="QQQ", sec_type="STK", exchange="ARCA") == []


def test_match_one_option_fully_specified(registry):
    strike = listed(registry, "SPY")[1][70]

    found = registry.match(
        symbol="SPY", sec_type="OPT", expiry="20261127", strike=strike, right="C", exchange="SMART"
    )

    assert found == [registry.option("SPY", "20261127", strike, "C")]


def test_match_option_by_local_symbol_only(registry):
    strike = listed(registry, "IWM")[1][10]
    wanted = registry.option("IWM", "20261127", strike, "P")

    assert registry.match(local_symbol=wanted.local_symbol) == [wanted]
    assert registry.match(sec_type="OPT", local_symbol=wanted.local_symbol) == [wanted]


@pytest.mark.parametrize(
    ("fields", "count"),
    [({"expiry": "20261127"}, None),  # whole expiry: every strike, both rights
     ({"expiry": "20261127", "right": "C"}, "half"),
     ({"expiry": "202612"}, "december")],
)  # fmt: skip
def test_match_with_wildcards_lists_the_chain(registry, fields, count):
    expiries, strikes = listed(registry, "SPY")
    december = [e for e in expiries if e.startswith("202612")]
    expected = {
        None: 2 * len(strikes), "half": len(strikes), "december": 2 * len(strikes) * len(december)
    }  # fmt: skip

    found = registry.match(symbol="SPY", sec_type="OPT", **fields)

    assert len(found) == expected[count]
    assert all(c.sec_type == "OPT" and c.expiry.startswith(fields["expiry"]) for c in found)


def test_match_an_unlisted_strike_is_empty(registry):
    found = registry.match(symbol="SPY", sec_type="OPT", expiry="20261127", strike=590.5)

    assert found == []
