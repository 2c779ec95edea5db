"""The request gate: deadlines, circuit outcomes, pacing and lost connections (no gateway)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from broker_harness import make_settings
from loguru import logger

from actors.broker.requests import BrokerCore, RequestFailed
from bot import messages as m
from bot.ib.circuit import CircuitBreaker
from bot.ib.pacing import Governor, Limits, Request

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
DETAILS = Request("reqContractDetails")


@pytest.fixture
def core() -> Iterator[tuple[BrokerCore, list[Any]]]:
    loop = asyncio.new_event_loop()
    published: list[Any] = []
    core = BrokerCore(
        None,
        loop,
        make_settings(request_timeout_s=0.3),
        lambda: T0,
        published.append,
        logger,
        circuit=CircuitBreaker(failures_to_open=2, cooldown_s=60.0),
    )
    core.connected = True
    yield core, published
    loop.close()


def run(core: BrokerCore, coro: Any) -> Any:
    return core.loop.run_until_complete(asyncio.wait_for(coro, 5.0))


async def answer(value: Any, after_s: float = 0.0) -> Any:
    await asyncio.sleep(after_s)
    return value


async def never() -> None:
    await asyncio.sleep(60)


def test_an_answer_is_returned_and_counts_as_success(core) -> None:
    core, published = core
    core.circuit.record_failure(0.0)
    assert run(core, core.request(DETAILS, lambda: answer([1, 2]))) == [1, 2]
    assert (core.circuit.failures, published) == (0, [])


def test_no_answer_times_out_naming_the_request_and_counts_against_the_circuit(core) -> None:
    core, published = core
    with pytest.raises(RequestFailed):
        run(
            core,
            core.request(Request("reqSecDefOptParams"), never, correlation_id="c-1", symbol="SPY"),
        )
    assert published == [m.RequestTimedOut("c-1", "reqSecDefOptParams", 0.3, T0, "SPY")]
    assert (core.circuit.failures, core.timeouts) == (1, 1)


def test_open_circuit_holds_requests_until_their_deadline_without_another_failure(core) -> None:
    core, published = core
    core.circuit.record_failure(core.now())
    core.circuit.record_failure(core.now())
    calls: list[str] = []

    async def call() -> str:
        calls.append("sent")
        return "answer"

    with pytest.raises(RequestFailed):
        run(core, core.request(DETAILS, call, correlation_id="c-2"))
    assert calls == []
    assert [e.request for e in published] == ["reqContractDetails"]
    assert (core.circuit.state.value, core.circuit.failures) == ("open", 2)


def test_a_cancelled_half_open_trial_lets_the_next_request_be_the_trial(core) -> None:
    core, published = core
    core.circuit.record_failure(core.now())
    core.circuit.record_failure(core.now())
    core.circuit.opened_at -= core.circuit.cooldown_s  # cooled down: the next request is the trial

    async def cancel_the_trial() -> None:
        trial = asyncio.ensure_future(core.request(DETAILS, never))
        while not core.circuit._trial_out:  # bounded by run()'s timeout
            await asyncio.sleep(0)
        trial.cancel()
        with pytest.raises(asyncio.CancelledError):
            await trial

    run(core, cancel_the_trial())
    assert core.circuit.state.value == "half_open"
    assert run(core, core.request(DETAILS, lambda: answer("ok"))) == "ok"
    assert (core.circuit.state.value, published) == ("closed", [])


def test_disconnected_requests_wait_then_go_once_connected(core) -> None:
    core, published = core
    core.connected = False
    core.loop.call_later(0.1, setattr, core, "connected", True)
    assert run(core, core.request(DETAILS, lambda: answer("ok"))) == "ok"
    assert published == []


def test_a_connection_lost_mid_request_is_retried_within_the_deadline(core) -> None:
    core, _ = core
    attempts: list[int] = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("Socket disconnect")
        return "second time"

    assert run(core, core.request(DETAILS, flaky)) == "second time"
    assert len(attempts) == 2


def test_pacing_queues_instead_of_violating(core) -> None:
    core, published = core
    core.governor = Governor(Limits(msg_per_s=2))
    sent_at: list[float] = []

    async def call() -> None:
        sent_at.append(core.now())

    async def three() -> None:
        await asyncio.gather(*(core.request(DETAILS, call) for _ in range(3)))

    core.timeouts = 0
    core.settings = make_settings(request_timeout_s=3.0)
    run(core, three())
    assert len(sent_at) == 3
    assert sent_at[2] - sent_at[0] >= 0.99  # the third waited for the one-second window
    assert published == []
    assert core.governor.deferred >= 1
