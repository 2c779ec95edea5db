"""The circuit breaker opens after N failures, half-opens after the cooldown, closes on success."""

from __future__ import annotations

import pytest

from bot.ib.circuit import CircuitBreaker, CircuitState


def opened(at: float = 100.0, n: int = 3, cooldown: float = 30.0) -> CircuitBreaker:
    breaker = CircuitBreaker(failures_to_open=n, cooldown_s=cooldown)
    for _ in range(n):
        breaker.record_failure(at)
    return breaker


@pytest.mark.parametrize(
    ("failures", "state", "allowed"),
    [
        (0, CircuitState.CLOSED, True),
        (2, CircuitState.CLOSED, True),
        (3, CircuitState.OPEN, False),
        (4, CircuitState.OPEN, False),
    ],
)
def test_opens_after_n_failures(failures: int, state: CircuitState, allowed: bool) -> None:
    breaker = CircuitBreaker(failures_to_open=3, cooldown_s=30.0)
    for _ in range(failures):
        breaker.record_failure(10.0)
    assert (breaker.state, breaker.allow(11.0)) == (state, allowed)


def test_a_success_in_between_resets_the_count() -> None:
    breaker = CircuitBreaker(failures_to_open=3, cooldown_s=30.0)
    breaker.record_failure(1.0)
    breaker.record_failure(2.0)
    breaker.record_success()
    breaker.record_failure(3.0)
    assert breaker.state is CircuitState.CLOSED
    assert breaker.failures == 1


@pytest.mark.parametrize(
    ("now", "state", "retry_in"),
    [
        (100.0, CircuitState.OPEN, 30.0),
        (129.5, CircuitState.OPEN, 0.5),
        (130.0, CircuitState.HALF_OPEN, 0.0),
    ],
)
def test_half_opens_after_the_cooldown(now: float, state: CircuitState, retry_in: float) -> None:
    breaker = opened(at=100.0)
    assert breaker.retry_in(now) == pytest.approx(retry_in)
    breaker.allow(now)
    assert breaker.state is state


def test_half_open_lets_exactly_one_trial_out() -> None:
    breaker = opened(at=100.0)
    assert [breaker.allow(131.0) for _ in range(3)] == [True, False, False]


def test_failed_trial_reopens_for_another_cooldown() -> None:
    breaker = opened(at=100.0)
    assert breaker.allow(131.0)
    breaker.record_failure(132.0)
    assert breaker.state is CircuitState.OPEN
    assert breaker.allow(150.0) is False
    assert breaker.allow(162.0) is True
    assert breaker.times_opened == 2


@pytest.mark.parametrize("now", [101.0, 131.0])
def test_any_success_closes_from_open_or_half_open(now: float) -> None:
    breaker = opened(at=100.0)
    breaker.allow(now)
    breaker.record_success()
    assert breaker.snapshot() == {"state": "closed", "failures": 0, "opened": 1}
    assert breaker.allow(now) is True


def test_an_abandoned_trial_lets_another_go() -> None:
    breaker = opened(at=100.0)
    assert breaker.allow(131.0) is True
    assert breaker.allow(131.0) is False
    breaker.abandon()
    assert breaker.allow(131.5) is True
    assert breaker.state is CircuitState.HALF_OPEN
