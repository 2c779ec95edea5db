"""Backoff with jitter and client id rotation on error 326."""

from __future__ import annotations

import random

import pytest

from bot.ib.reconnect import Reconnector


def make(seed: int = 3, **kw: object) -> Reconnector:
    params = {"first_client_id": 17, "client_id_attempts": 3, "min_s": 1.0, "max_s": 8.0}
    params.update(kw)
    return Reconnector(rng=random.Random(seed), **params)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(0, 0.5, 1.0), (1, 1.0, 2.0), (2, 2.0, 4.0), (3, 4.0, 8.0), (4, 4.0, 8.0), (40, 4.0, 8.0)],
)
def test_backoff_doubles_up_to_the_cap_with_jitter(attempt: int, low: float, high: float) -> None:
    reconnector = make()
    delays = [reconnector.backoff(attempt) for _ in range(200)]
    assert all(low <= d <= high for d in delays)
    assert max(delays) - min(delays) > (high - low) / 2  # the jitter really spreads


def test_same_seed_same_delays() -> None:
    first = [make(seed=9).plan_after_failure().delay_s for _ in range(3)]
    again = [make(seed=9).plan_after_failure().delay_s for _ in range(3)]
    assert first == again


def test_failures_grow_the_delay_and_success_resets_it() -> None:
    reconnector = make()
    plans = [reconnector.plan_after_failure(reason="refused") for _ in range(3)]
    assert [p.attempt for p in plans] == [1, 2, 3]
    assert 2.0 <= plans[2].delay_s <= 4.0
    reconnector.connected()
    assert reconnector.failures == 0
    assert 0.5 <= reconnector.plan_after_failure().delay_s <= 1.0


def test_326_moves_to_the_next_client_id_at_once() -> None:
    reconnector = make()
    plan = reconnector.plan_after_failure(error_code=326)
    assert (plan.client_id, plan.delay_s) == (18, 0.0)
    assert reconnector.client_id == 18


def test_326_rotation_wraps_and_then_backs_off() -> None:
    reconnector = make()
    plans = [reconnector.plan_after_failure(error_code=326) for _ in range(3)]
    assert [p.client_id for p in plans] == [18, 19, 17]
    assert plans[2].delay_s >= 2.0  # third failure in a row, wrapped: back off


def test_326_keeps_asking_for_the_same_id_until_the_wait_is_over_then_moves() -> None:
    reconnector = Reconnector(17, 3, 1.0, 8.0, random.Random(3), client_id_wait_s=10.0)

    plans = [reconnector.plan_after_failure(error_code=326) for _ in range(5)]

    ids = [p.client_id for p in plans]
    waited = sum(p.delay_s for p in plans if p.client_id == 17)
    assert ids[0] == 17 and ids[-1] == 18 and ids == sorted(ids)
    assert waited == pytest.approx(10.0)


def test_other_errors_keep_the_client_id() -> None:
    reconnector = make()
    assert reconnector.plan_after_failure(error_code=1100).client_id == 17


def test_reconnects_count_only_after_the_first_connection() -> None:
    reconnector = make()
    reconnector.connected()
    reconnector.plan_after_failure()
    reconnector.connected()
    reconnector.connected()
    assert (reconnector.connections, reconnector.reconnects) == (3, 2)
