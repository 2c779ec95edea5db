"""reqMktDepth and reqTickByTickData through ib_insync for stocks: a book of levels around the
quote, updated as the market moves, IB's limit of 3 depth requests, and Last/BidAsk/MidPoint
tick-by-tick data."""

from __future__ import annotations

import pytest
from ib_insync import Stock

SPY = Stock("SPY", "SMART", "USD")


def test_depth_is_a_book_around_the_quote(gateway, ib, until):
    # Arrange
    ib.qualifyContracts(SPY)
    # Act
    ticker = ib.reqMktDepth(SPY, numRows=5)
    assert until(ib, lambda: len(ticker.domBids) == 5 and len(ticker.domAsks) == 5, 5)
    # Assert: top of book at the quote's touch, then one cent a level away
    bids, asks = [d.price for d in ticker.domBids], [d.price for d in ticker.domAsks]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert bids[0] < asks[0] and asks[1] - asks[0] == pytest.approx(0.01)
    assert all(d.size > 0 for d in ticker.domBids + ticker.domAsks)


def test_depth_follows_the_market(gateway, ib, until):
    ib.qualifyContracts(SPY)
    gateway.market.pin_quote("SPY", 500.00, 500.01, 500.00)
    ticker = ib.reqMktDepth(SPY, numRows=3)
    assert until(ib, lambda: ticker.domBids and ticker.domBids[0].price == 500.00, 5)
    gateway.market.pin_quote("SPY", 501.00, 501.01, 501.00)
    assert until(ib, lambda: ticker.domBids[0].price == 501.00
                 and ticker.domAsks[2].price == 501.03, 5)


def test_a_fourth_depth_request_is_refused_with_309(gateway, ib, until):
    ib.qualifyContracts(SPY)
    errors = []
    ib.errorEvent += lambda req_id, code, text, contract: errors.append(code)
    for _ in range(4):
        ib.reqMktDepth(SPY, numRows=1)
    assert until(ib, lambda: 309 in errors, 5)
    assert errors.count(309) == 1


@pytest.mark.parametrize("kind", ["Last", "BidAsk", "MidPoint"])
def test_tick_by_tick_data_streams_the_quote(gateway, ib, until, kind):
    # Arrange
    ib.qualifyContracts(SPY)
    # Act: a market at 60x moves between steps
    ticker = ib.reqTickByTickData(SPY, kind)
    got = []  # ib_insync keeps a ticker's tickByTicks for one update only
    ticker.updateEvent += lambda t: got.extend(t.tickByTicks)
    assert until(ib, lambda: len(got) >= 3, 5)
    # Assert
    quote = gateway.market.quote("SPY")
    tick = got[-1]
    if kind == "Last":
        assert abs(tick.price - quote.last) < 2 and tick.size > 0
    elif kind == "BidAsk":
        assert tick.bidPrice < tick.askPrice and tick.bidSize > 0 and tick.askSize > 0
    else:
        assert abs(tick.midPoint - (quote.bid + quote.ask) / 2) < 2
    ib.cancelTickByTickData(SPY, kind)
