"""Fixtures for the BrokerActor against the simulated gateway (bot/sim) on a free loopback port.

``gateway(**options)`` starts a SimGateway and stops it after the test; ``broker(gw, **settings)``
starts a BrokerActor connected to it with a ``Probe`` registered for every role, and stops it;
``memory=`` hands it a ``BrokerMemory`` (the runner gives every restarted broker the same one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pykka
import pytest
from broker_harness import SYMBOLS, Probe, make_settings

import actors.broker.actor  # noqa: F401 - import ib_insync in the main thread first (eventkit)
from actors.broker.actor import BrokerActor
from actors.broker.memory import BrokerMemory
from bot.app.routing import EXECUTION, HEALTH, JOURNAL, RISK, SUPERVISOR, Directory
from bot.sim.server import SimGateway


@pytest.fixture
def gateway(start_gateway) -> Callable[..., SimGateway]:
    return lambda **options: start_gateway(**{"symbols": SYMBOLS, "speed": 60.0, **options})


@pytest.fixture
def broker() -> Iterator[Callable[..., tuple[pykka.ActorRef, Probe]]]:
    refs: list[pykka.ActorRef] = []

    def start(
        gw: SimGateway,
        *,
        live_opt_in: bool = False,
        port: int | None = None,
        memory: BrokerMemory | None = None,
        **settings: Any,
    ) -> tuple[pykka.ActorRef, Probe]:
        symbols = settings.pop("symbols", gw.options.symbols)
        probe = Probe()
        directory = Directory()
        for role in (RISK, EXECUTION, HEALTH, SUPERVISOR, JOURNAL):
            directory.register(role, probe)
        for symbol in symbols:
            directory.register_strategy(symbol, probe)
        ref = BrokerActor.start(
            directory,
            make_settings(symbols, **settings),
            host="127.0.0.1",
            port=gw.port if port is None else port,
            live_opt_in=live_opt_in,
            rng_seed=5,
            memory=memory,
        )
        refs.append(ref)
        return ref, probe

    yield start
    for ref in refs:
        ref.stop(timeout=10)
