"""Fixtures shared by every test: no actor outlives its test; logs go where pytest captures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import log_capture
import pykka
import pytest
from log_capture import to_captured_stderr
from loguru import logger

from bot.sim.server import GatewayOptions, SimGateway


def pytest_configure(config: pytest.Config) -> None:
    log_capture.CAPTURING = config.getoption("capture") != "no"


logger.remove()
logger.add(to_captured_stderr, level="INFO")


STRICT_PACING_ENV = {"BOT__BROKER__SIM__PACING": "strict"}
"""Every ``python -m bot`` a test starts on the embedded simulator runs it with strict pacing
(``broker.sim.pacing``): the bot must stay inside IB's hard historical limits for every bar
size, not only where IB enforces them. Subprocesses inherit it from the environment; a test
that builds its own environment adds it itself."""


@pytest.fixture(autouse=True, scope="session")
def _strict_pacing_for_embedded_simulator() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in STRICT_PACING_ENV.items():
            mp.setenv(name, value)
        yield


@pytest.fixture(autouse=True)
def _stop_all_actors():
    yield
    pykka.ActorRegistry.stop_all(timeout=10)


@pytest.fixture
def start_gateway() -> Iterator[Callable[..., SimGateway]]:
    """Factory: ``start_gateway(**options)`` starts a simulated gateway on a free loopback port
    (``GatewayOptions`` fields); every gateway it started is stopped after the test. Pacing is
    strict unless a test asks otherwise: the bot must stay inside IB's hard historical limits
    for every bar size, not only where IB enforces them."""
    started: list[SimGateway] = []

    def start(**options: Any) -> SimGateway:
        defaults = {"host": "127.0.0.1", "port": 0, "pacing": "strict"}
        gw = SimGateway(GatewayOptions(**{**defaults, **options}))
        gw.start()
        started.append(gw)
        return gw

    yield start
    for gw in started:
        gw.stop()
