"""Index contracts (VIX and SPX on CBOE) through ib_insync: contract details, a quote of the
index value and bars, on every simulated gateway; an index cannot be ordered."""

from __future__ import annotations

import pytest
from ib_insync import Index, LimitOrder


@pytest.mark.parametrize(("symbol", "con_id", "near"), [("VIX", 13455763, 16.0),
                                                        ("SPX", 416904, 5900.0)])
def test_an_index_has_details_a_quote_and_bars(ib, until, symbol, con_id, near):
    # Arrange
    index = Index(symbol, "CBOE", "USD")
    # Act
    details = ib.reqContractDetails(index)
    ticker = ib.reqMktData(index)
    bars = ib.reqHistoricalData(index, "20261117 16:00:00 US/Eastern", "1 D", "5 mins",
                                "TRADES", True)
    # Assert
    assert [(d.contract.conId, d.contract.secType, d.contract.exchange) for d in details] == [
        (con_id, "IND", "CBOE")]
    assert until(ib, lambda: ticker.last > 0, 5)
    assert 0.5 * near < ticker.last < 1.5 * near
    assert ticker.bid != ticker.bid or ticker.bid <= 0  # an index has no book
    assert len(bars) == 78 and all(0.5 * near < b.close < 1.5 * near for b in bars)


def test_an_index_cannot_be_ordered(ib, until):
    vix = Index("VIX", "CBOE", "USD")
    ib.qualifyContracts(vix)
    trade = ib.placeOrder(vix, LimitOrder("BUY", 1, 16.0))
    assert until(ib, lambda: trade.orderStatus.status == "Cancelled", 5)
    assert trade.log[-1].errorCode == 201
