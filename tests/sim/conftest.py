"""Fixtures for the simulated gateway tests: a gateway on 127.0.0.1 (free port), real ib_insync
clients connected to it, a raw TWS socket client for malformed traffic, a bounded wait, and a
bare matching engine over a quote table (``engine``, ``quotes``)."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime

import pytest
from engine_helpers import NOW, OPT, OPT_QUOTE, STK
from ib_insync import IB

from bot.sim import wire
from bot.sim.account import Account
from bot.sim.matching import MatchingEngine
from bot.sim.server import SimGateway

START = datetime(2026, 11, 18, 14, 30, tzinfo=UTC)
"""A fixed Wednesday 09:30 New York open, so every run sees the same market."""
DEFAULTS = dict(port=0, seed=7, speed=60.0, start=START, tick_interval_s=0.05)


@pytest.fixture
def make_gateway(start_gateway):
    """Factory: ``make_gateway(**option_overrides)`` starts a gateway, stopped after the test."""
    return lambda **overrides: start_gateway(**{**DEFAULTS, **overrides})


@pytest.fixture
def gateway(make_gateway) -> SimGateway:
    return make_gateway()


@pytest.fixture
def make_ib():
    """Factory: ``make_ib(gateway, client_id=1)`` returns a connected ib_insync IB."""
    clients: list[IB] = []

    def make(gw: SimGateway, client_id: int = 1, timeout: float = 5.0) -> IB:
        ib = IB()
        clients.append(ib)
        ib.connect("127.0.0.1", gw.port, clientId=client_id, timeout=timeout)
        return ib

    yield make
    for ib in clients:
        ib.disconnect()


@pytest.fixture
def ib(gateway, make_ib) -> IB:
    return make_ib(gateway)


@pytest.fixture
def until():
    """``until(ib, condition, timeout)``: pump ib_insync's loop until condition() or timeout."""

    def wait(ib: IB, condition, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            try:
                ib.waitOnUpdate(timeout=0.1)
            except ConnectionError:  # a dropped socket ends ib_insync's wait early
                return bool(condition())
        return bool(condition())

    return wait


class RawClient:
    """A bare TWS socket client: handshake, startApi, send fields, read framed replies."""

    def __init__(self, port: int, versions: str = "v157..176") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.reader = wire.FrameReader(expect_handshake=False)
        self.pending: list[list[str]] = []
        self.sock.sendall(wire.HANDSHAKE_PREFIX + wire.frame(versions.encode()))

    def start_api(self, client_id: int) -> list[list[str]]:
        self.read_until(lambda m: len(m) == 2)  # [version, time]
        self.send([71, 2, client_id, ""])
        return self.read_until(lambda m: m[0] == "9")

    def send(self, fields: list) -> None:
        self.sock.sendall(wire.encode(fields))

    def read_until(self, predicate, timeout: float = 5.0) -> list[list[str]]:
        """Messages read up to and including the first matching one; [] if the peer closed."""
        seen: list[list[str]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while self.pending:
                msg = self.pending.pop(0)
                seen.append(msg)
                if predicate(msg):
                    return seen
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, ConnectionError):
                break
            if not data:
                break
            self.pending += self.reader.feed(data)
        raise AssertionError(f"no matching message within {timeout}s; seen {seen[-5:]}")

    def drain(self, timeout: float) -> tuple[list[list[str]], bool]:
        """Every message arriving within ``timeout`` seconds, and whether the peer closed."""
        msgs, self.pending = self.pending, []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.005, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                break
            except ConnectionError:
                return msgs, True
            if not data:
                return msgs, True
            msgs += self.reader.feed(data)
        return msgs, False

    def closed_by_peer(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                if not self.sock.recv(65536):
                    return True
            except TimeoutError:
                return False
            except ConnectionError:
                return True
        return False

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw_client():
    clients: list[RawClient] = []

    def make(gw: SimGateway, versions: str = "v157..176") -> RawClient:
        client = RawClient(gw.port, versions)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def quotes() -> dict[int, tuple[float, float, float]]:
    """The quote table the engine reads; tests move prices by assigning to it."""
    return {OPT.con_id: OPT_QUOTE, STK.con_id: (500.00, 500.01, 500.00)}


@pytest.fixture
def engine(quotes) -> MatchingEngine:
    """A matching engine on a fresh 100,000 USD account, reading `quotes`."""
    return MatchingEngine(Account(), lambda c: quotes[c.con_id], lambda: NOW)
