"""Fixtures shared by every test: no actor outlives its test; logs go where pytest captures."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

import pykka
import pytest
from loguru import logger

from bot.sim.server import GatewayOptions, SimGateway

_CAPTURING = True


def pytest_configure(config: pytest.Config) -> None:
    global _CAPTURING
    _CAPTURING = config.getoption("capture") != "no"


def to_captured_stderr(message: Any) -> None:
    """loguru's default sink holds the sys.stderr of import time, which bypasses pytest's
    capture: write to whatever sys.stderr is at each message instead, so logs show only for
    failures. An actor of a finished test may still log while pytest prints its progress (its
    capture suspended, sys.stderr the terminal's again): that line is dropped, never printed
    among the dots. With ``-s`` everything goes to the terminal."""
    if _CAPTURING and sys.stderr is sys.__stderr__:
        return
    sys.stderr.write(message)


logger.remove()
logger.add(to_captured_stderr, level="INFO")


@pytest.fixture(autouse=True)
def _stop_all_actors():
    yield
    pykka.ActorRegistry.stop_all(timeout=10)


@pytest.fixture
def start_gateway() -> Iterator[Callable[..., SimGateway]]:
    """Factory: ``start_gateway(**options)`` starts a simulated gateway on a free loopback port
    (``GatewayOptions`` fields); every gateway it started is stopped after the test."""
    started: list[SimGateway] = []

    def start(**options: Any) -> SimGateway:
        gw = SimGateway(GatewayOptions(**{"host": "127.0.0.1", "port": 0, **options}))
        gw.start()
        started.append(gw)
        return gw

    yield start
    for gw in started:
        gw.stop()
