"""The broker's own loop: conflation of quotes per loop turn, and loop errors as ActorFaulted."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from broker_harness import Probe, make_settings
from ib_insync import Ticker
from loguru import logger

from actors.broker.actor import BrokerActor
from actors.broker.market import MarketData
from actors.broker.requests import BrokerCore
from bot import messages as m
from bot.app.routing import EXECUTION, HEALTH, SUPERVISOR, Directory

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


@pytest.fixture
def market() -> Iterator[tuple[MarketData, list[Any], asyncio.AbstractEventLoop]]:
    loop = asyncio.new_event_loop()
    published: list[Any] = []
    core = BrokerCore(None, loop, make_settings(), lambda: T0, published.append, logger)
    yield MarketData(core, on_quote=lambda _q: None), published, loop
    loop.close()


def turn(loop: asyncio.AbstractEventLoop) -> None:
    loop.call_soon(loop.stop)
    loop.run_forever()


def test_many_ticks_in_one_loop_turn_become_one_quote_with_the_latest_price(market) -> None:
    data, published, loop = market
    spy = m.Stock("SPY")
    data.acquire(spy, "underlying")  # not connected: wanted, not yet requested
    ticker = Ticker(time=T0)
    data.attach(spy, ticker)
    # Act: three updates arrive before the loop turns, then one more in the next turn
    for bid in (600.00, 600.01, 600.02):
        ticker.bid, ticker.ask = bid, bid + 0.01
        data.on_pending_tickers({ticker})
    turn(loop)
    ticker.bid, ticker.ask = 600.05, 600.06
    data.on_pending_tickers({ticker})
    turn(loop)
    # Assert
    assert [(e.quote.bid, e.quote.ask, e.seq) for e in published] == [
        (600.02, 600.03, 1),
        (600.05, 600.06, 2),
    ]


def test_tickers_of_released_streams_are_not_published(market) -> None:
    data, published, loop = market
    spy = m.Stock("SPY")
    data.acquire(spy, "execution")
    ticker = Ticker(time=T0, bid=1.0, ask=1.1)
    data.attach(spy, ticker)
    data.release(spy, "execution")
    data.on_pending_tickers({ticker})
    turn(loop)
    assert published == []
    assert data.streams == 0


def unconnected_broker():
    """A broker actor with nothing to connect to (port 9 on loopback refuses), and the probe
    that hears what it tells health, the supervisor and execution."""
    probe = Probe()
    directory = Directory()
    for role in (HEALTH, SUPERVISOR, EXECUTION):
        directory.register(role, probe)
    ref = BrokerActor.start(
        directory,
        make_settings(reconnect_min_s=5.0, reconnect_max_s=5.0),
        host="127.0.0.1",
        port=9,
        rng_seed=1,
    )
    return ref, probe

def test_an_error_in_the_loop_becomes_actor_faulted() -> None:
    # Arrange: a broker with nothing to connect to (port 9 on loopback refuses)
    ref, probe = unconnected_broker()
    try:
        loop = ref.proxy().loop.get(timeout=5)
        # Act: a callback on the broker's loop fails (thread-safe scheduling from the test)
        loop.call_soon_threadsafe(lambda: 1 / 0)
        fault = probe.expect(m.ActorFaulted, timeout=5)
        alive = ref.is_alive()
    finally:
        ref.stop(timeout=5)
    # Assert: reported, and the actor kept running until told to stop
    assert alive
    assert fault.actor == "broker"
    assert "ZeroDivisionError" in fault.error


def test_a_request_failing_with_the_socket_is_no_fault_the_link_reconnects() -> None:
    # Arrange
    ref, probe = unconnected_broker()
    try:
        loop = ref.proxy().loop.get(timeout=5)
        # Act: what asyncio reports when a pending request's future failed with the socket,
        # then a real fault, in this order on the broker's loop
        loop.call_soon_threadsafe(loop.call_exception_handler, {
            "message": "Future exception was never retrieved",
            "exception": ConnectionError("Socket disconnect")})
        loop.call_soon_threadsafe(lambda: 1 / 0)
        fault = probe.expect(m.ActorFaulted, timeout=5)
    finally:
        ref.stop(timeout=5)
    # Assert: the first fault reported is the real one
    assert "ZeroDivisionError" in fault.error
