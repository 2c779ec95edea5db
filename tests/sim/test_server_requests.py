"""Requests the simulated gateway does not serve are answered as IB answers them: an error for
the request's own id, so a real client's waiting request ends instead of hanging."""

from __future__ import annotations

import pytest
from ib_insync import Stock

SPY = Stock("SPY", "SMART", "USD")


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("reqFundamentalData", lambda ib: ib.reqFundamentalData(SPY, "ReportSnapshot")),
        ("reqHistogramData", lambda ib: ib.reqHistogramData(SPY, True, "1 week")),
        ("reqMatchingSymbols", lambda ib: ib.reqMatchingSymbols("SP")),
        ("reqHistoricalTicks", lambda ib: ib.reqHistoricalTicks(
            SPY, "20261118 10:00:00", "", 100, "TRADES", True)),
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
