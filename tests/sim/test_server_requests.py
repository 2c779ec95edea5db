"""Requests the simulated gateway does not serve are answered as IB answers them: an error for
the request's own id, so a real client's waiting request ends instead of hanging."""

from __future__ import annotations

import pytest
from ib_insync import Option, Stock

SPY = Stock("SPY", "SMART", "USD")


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("reqFundamentalData", lambda ib: ib.reqFundamentalData(SPY, "ReportSnapshot")),
        ("reqHistogramData", lambda ib: ib.reqHistogramData(SPY, True, "1 week")),
        ("reqMatchingSymbols", lambda ib: ib.reqMatchingSymbols("SP")),
    ],
)
def test_an_unserved_request_gets_error_321_for_its_own_request_id(ib, name, call):
    # Arrange
    ib.qualifyContracts(SPY)
    ib.RequestTimeout = 5  # before the fix the client waited here until this ran out
    errors: list[tuple[int, int, str]] = []
    ib.errorEvent += lambda req_id, code, text, contract: errors.append((req_id, code, text))
    first_id = ib.client._reqIdSeq  # the id ib_insync gives the next request
    # Act
    result = call(ib)
    # Assert: the request ended at once (no timeout) with 321 naming the request and its id
    assert not result
    assert [(r, c) for r, c, _ in errors] == [(first_id, 321)]
    assert f"'{name}'" in errors[0][2]


def test_a_malformed_request_gets_error_320_for_its_own_request_id(gateway, raw_client):
    client = raw_client(gateway)
    client.start_api(1)
    client.send([9, 8, 41, "notanint"])  # reqContractDetails 41 with a bad conId
    msgs = client.read_until(lambda m: m[0] == "4" and m[3] not in ("2104", "2106", "2158"))
    assert msgs[-1][2:4] == ["41", "320"]


def test_market_rules_named_in_contract_details_are_answered(make_gateway, make_ib):
    # Arrange: AAPL options quote in nickels from 3.00, SPY's in pennies
    gateway = make_gateway(symbols=("SPY", "AAPL"))
    ib = make_ib(gateway)
    ib.RequestTimeout = 5
    expiry = sorted(gateway.contracts.chain_params("AAPL", gateway.clock.now().date())[0][3])[0]
    aapl = Option("AAPL", expiry, float(round(gateway.market.spot("AAPL"))), "C", "SMART")
    # Act
    [details] = ib.reqContractDetails(aapl)
    [stock] = ib.reqContractDetails(SPY)
    nickel = ib.reqMarketRule(int(details.marketRuleIds.split(",")[0]))
    penny = ib.reqMarketRule(int(stock.marketRuleIds))
    # Assert
    assert [(r.lowEdge, r.increment) for r in nickel] == [(0.0, 0.01), (3.0, 0.05)]
    assert [(r.lowEdge, r.increment) for r in penny] == [(0.0, 0.01)]


def test_id_less_reference_requests_are_answered(ib):
    ib.RequestTimeout = 5  # before the fix each of these waited until this ran out
    assert [d.exchange for d in ib.reqMktDepthExchanges()] == ["ARCA", "NSDQ", "BATS", "IEX"]
    assert ib.reqNewsProviders() == []


def test_family_codes_are_answered_empty(gateway, raw_client):
    client = raw_client(gateway)
    client.start_api(1)
    client.send([80])  # reqFamilyCodes
    assert client.read_until(lambda m: m[0] == "78")[-1] == ["78", "0"]
