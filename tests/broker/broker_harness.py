"""Helpers for the broker tests: the event probe, heartbeat stats, settings.

The probe collects every published event once (the directory tells one message to several
roles) and lets a test wait for the next event of a kind, always with a timeout.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import Any

import pykka

from bot import messages as m
from bot.app.config import Settings

SYMBOLS = ("SPY", "QQQ", "IWM")


class Probe:
    """Stands in for every actor: records each published event once, in arrival order."""

    def __init__(self) -> None:
        self._inbox: queue.Queue[Any] = queue.Queue()
        self._seen: dict[int, Any] = {}
        self.history: list[Any] = []
        self._claimed: set[int] = set()

    def tell(self, message: Any) -> None:
        if id(message) in self._seen:
            return  # the same event told to another role
        self._seen[id(message)] = message
        self._inbox.put(message)

    def expect(
        self, kind: type, where: Callable[[Any], bool] = lambda _e: True, timeout: float = 10.0
    ) -> Any:
        """The first not yet expected event of ``kind`` matching ``where`` (already received or
        arriving within ``timeout`` seconds); fails the test otherwise."""
        for event in self.history:
            if id(event) not in self._claimed and isinstance(event, kind) and where(event):
                self._claimed.add(id(event))
                return event
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self._inbox.get(timeout=left)
            except queue.Empty:
                break
            self.history.append(event)
            if isinstance(event, kind) and where(event):
                self._claimed.add(id(event))
                return event
        seen = sorted({type(e).__name__ for e in self.history})
        raise AssertionError(f"no {kind.__name__} matching within {timeout}s; seen: {seen}")

    def drain(self) -> list[Any]:
        """Everything received so far and not yet read, without waiting."""
        events = []
        while True:
            try:
                events.append(self._inbox.get_nowait())
            except queue.Empty:
                self.history.extend(events)
                return events

    def of(self, kind: type, where: Callable[[Any], bool] = lambda _e: True) -> list[Any]:
        """Events of ``kind`` read so far (call ``drain`` first to include unread ones)."""
        return [e for e in self.history if isinstance(e, kind) and where(e)]


def stats(ref: pykka.ActorRef, probe: Probe) -> dict[str, Any]:
    """The broker's heartbeat figures, asked the way the HealthActor asks (Ping -> Pong)."""
    cid = m.new_correlation_id("ping")
    ref.tell(m.Ping(cid, time.monotonic(), probe))
    return dict(probe.expect(m.Pong, lambda p: p.correlation_id == cid, timeout=5).stats)


def make_settings(symbols: tuple[str, ...] = SYMBOLS, **broker: Any) -> Settings:
    dry_run = broker.pop("dry_run", True)
    execution = broker.pop("execution", {})
    base = {
        "request_timeout_s": 5.0,
        "reconnect_min_s": 0.1,
        "reconnect_max_s": 0.5,
        "connect_timeout_s": 3.0,
    }
    return Settings.model_validate(
        {"dry_run": dry_run, "symbols": list(symbols), "broker": {**base, **broker},
         "execution": execution}
    )


def barrier(ref: pykka.ActorRef, probe: Probe, symbol: str) -> None:
    """Wait until the gateway has handled everything the broker sent before: one request on
    the same socket, answered in order (the chain of ``symbol``, which must not be cached)."""
    cid = m.new_correlation_id("barrier")
    ref.tell(m.RequestChain(cid, symbol))
    probe.expect(m.ChainReceived, lambda e: e.correlation_id == cid, timeout=10)


def near_the_money(gw: Any, symbol: str, right: m.Right = m.Right.CALL) -> m.OptionContract:
    """A listed option of ``symbol``: strike nearest the spot, second expiry, with its conId."""
    params = [
        p for p in gw.contracts.chain_params(symbol, gw.clock.now().date()) if p[0] == "SMART"
    ][0]
    expiry = sorted(params[3])[1]
    strike = min(params[4], key=lambda k: abs(k - gw.market.spot(symbol)))
    sim = gw.contracts.option(symbol, expiry, strike, right.value)
    return m.OptionContract(
        symbol, expiry, strike, right, con_id=sim.con_id, trading_class=sim.trading_class
    )


def bracket(
    intent: str,
    contract: m.OptionContract,
    entry: float,
    take_profit: float,
    stop: float,
    qty: int = 2,
) -> m.SubmitBracket:
    """A bracket whose client order ids start with the intent id (as ExecutionActor does)."""
    return m.SubmitBracket(
        f"c-{intent}",
        intent,
        contract,
        m.OrderSpec(f"{intent}-entry", m.Side.BUY, qty, m.OrderType.LIMIT, limit_price=entry),
        m.OrderSpec(f"{intent}-tp", m.Side.SELL, qty, m.OrderType.LIMIT, limit_price=take_profit),
        m.OrderSpec(f"{intent}-stop", m.Side.SELL, qty, m.OrderType.STOP, stop_price=stop),
    )


def ready(probe: Probe, symbols: tuple[str, ...]) -> m.ConnectionChanged:
    """Wait until connected with a backfill and a quote for every symbol: the gateway has then
    handled the initial subscriptions, so its counters are settled."""
    event = probe.expect(m.ConnectionChanged, lambda e: e.state == "connected")
    for symbol in symbols:
        probe.expect(m.BarClosed, lambda e, s=symbol: e.bar.symbol == s and e.backfill)
        probe.expect(m.QuoteUpdated, lambda e, s=symbol: e.quote.instrument == m.Stock(s))
    return event
