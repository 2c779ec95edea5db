"""reqPnL and reqPnLSingle through ib_insync: the day's daily, unrealized and realized P&L of
the account and of one contract, pushed about once a second until cancelled."""

from __future__ import annotations

import time

import pytest
from ib_insync import MarketOrder, Stock

ACCOUNT = "DU1234567"


def _buy_spy_at_pinned_prices(gateway, ib, until, qty: int = 100):
    """Pin SPY at 500.00/500.01 and buy qty at the ask (cost 500.01 + 1 USD commission)."""
    gateway.market.pin_quote("SPY", 500.00, 500.01, 500.00)
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    trade = ib.placeOrder(spy, MarketOrder("BUY", qty))
    assert until(ib, lambda: trade.orderStatus.status == "Filled", 5)
    return spy


def test_account_pnl_follows_a_position_opened_today(gateway, ib, until):
    # Arrange: 100 SPY bought at 500.01 plus 1 USD commission, then the market moves to 510
    _buy_spy_at_pinned_prices(gateway, ib, until)
    pnl = ib.reqPnL(ACCOUNT)
    gateway.market.pin_quote("SPY", 510.00, 510.01, 510.00)
    # Act: wait for the push after the move
    moved = until(ib, lambda: pnl.unrealizedPnL == pytest.approx(998.0), 5)
    # Assert: a stock is marked at its last (51,000 - 50,002); opened today: all today's
    assert moved, pnl
    assert (pnl.dailyPnL, pnl.realizedPnL) == (pytest.approx(998.0), 0.0)


def test_single_pnl_reports_position_value_and_the_days_realized_pnl(gateway, ib, until):
    # Arrange
    spy = _buy_spy_at_pinned_prices(gateway, ib, until)
    single = ib.reqPnLSingle(ACCOUNT, "", spy.conId)
    gateway.market.pin_quote("SPY", 510.00, 510.01, 510.00)
    # Act: sell half at the bid 510 (1 USD commission): realized 50 x (509.98 - 500.02)
    trade = ib.placeOrder(spy, MarketOrder("SELL", 50))
    assert until(ib, lambda: trade.orderStatus.status == "Filled", 5)
    done = until(ib, lambda: single.position == 50 and single.realizedPnL == pytest.approx(498), 5)
    # Assert
    assert done, single
    assert single.value == pytest.approx(50 * 510.0, abs=0.01)
    assert single.unrealizedPnL == pytest.approx(50 * (510.0 - 500.02), abs=0.01)
    assert single.dailyPnL == pytest.approx(single.unrealizedPnL + 498, abs=0.01)


def test_pnl_is_pushed_about_once_a_second_and_stops_when_cancelled(gateway, ib, until):
    # Arrange: an unpinned market at 60x moves every 0.05 s step
    _buy_spy_at_pinned_prices(gateway, ib, until)
    gateway.market.unpin_quote("SPY")
    stamps: list[float] = []
    ib.pnlEvent += lambda pnl: stamps.append(time.monotonic())
    ib.reqPnL(ACCOUNT)
    # Act
    until(ib, lambda: len(stamps) >= 4, 6)
    ib.cancelPnL(ACCOUNT)
    seen = len(stamps)
    until(ib, lambda: len(stamps) > seen, 1.5)
    # Assert: updates arrive, never faster than one a second on average over the run (one
    # update's gap may look short when the one before it was read late on a busy machine;
    # an update every 0.05 s market step would make 20 a second)
    elapsed = stamps[seen - 1] - stamps[0]
    assert seen >= 4 and seen - 1 <= elapsed / 0.8 + 1, stamps
    assert len(stamps) == seen
