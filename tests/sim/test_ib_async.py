"""ib_async 2.1 (client versions 157..178) connects to the simulated gateway, streams a quote
and gets an order filled: v177 openOrder (no faProfile) and v178 execDetails on the wire."""

from __future__ import annotations

import asyncio

import pytest

ib_async = pytest.importorskip("ib_async", reason="ib_async 2.1 is not installed (dev extra)")


async def _until(event, condition, attempts: int = 20) -> bool:
    """Wait for ``condition()`` on each emit of ``event``, at most ``attempts`` x 0.25 s."""
    for _ in range(attempts):
        if condition():
            return True
        try:
            await asyncio.wait_for(event, 0.25)
        except TimeoutError:
            pass
    return condition()


def test_ib_async_negotiates_178_streams_and_trades(make_gateway):
    gateway = make_gateway(tick_interval_s=30.0)  # frozen market: the fill price is the ask

    async def scenario():
        ib = ib_async.IB()
        await ib.connectAsync("127.0.0.1", gateway.port, clientId=7, timeout=5)
        try:
            spy = ib_async.Stock("SPY", "SMART", "USD")
            await ib.qualifyContractsAsync(spy)
            ticker = ib.reqMktData(spy)
            assert await _until(ticker.updateEvent, lambda: ticker.bid > 0 and ticker.ask > 0)
            trade = ib.placeOrder(spy, ib_async.MarketOrder("BUY", 10, orderRef="async-1"))
            assert await _until(trade.statusEvent, lambda: trade.isDone() and trade.fills)
            return ib.client.serverVersion(), ib.managedAccounts(), ticker, trade
        finally:
            ib.disconnect()

    loop = asyncio.new_event_loop()  # not asyncio.run: it would unset the main thread's loop,
    try:  # which ib_insync in the other tests still needs
        version, accounts, ticker, trade = loop.run_until_complete(scenario())
    finally:
        loop.close()
    quote = gateway.market.quote("SPY")
    assert (version, accounts) == (178, ["DU1234567"])
    assert (ticker.bid, ticker.ask) == (quote.bid, quote.ask)
    assert trade.orderStatus.status == "Filled"
    assert (trade.fills[0].execution.price, trade.fills[0].execution.orderRef) == (
        quote.ask,
        "async-1",
    )
