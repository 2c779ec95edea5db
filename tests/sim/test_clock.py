"""SimClock: simulated time = start + wall elapsed * speed, with jumps and speed changes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.sim.clock import SimClock

START = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)


class FakeWall:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize(
    ("speed", "wall_elapsed", "sim_elapsed"),
    [(1.0, 10.0, 10.0), (60.0, 2.0, 120.0), (600.0, 0.25, 150.0), (0.5, 4.0, 2.0)],
)
def test_now_scales_wall_time_by_speed(speed, wall_elapsed, sim_elapsed):
    wall = FakeWall()
    clock = SimClock(START, speed=speed, wall=wall)

    wall.t += wall_elapsed

    assert clock.now() == START + timedelta(seconds=sim_elapsed)


def test_now_is_aware_utc_even_for_another_zone_start():
    eastern = timezone(timedelta(hours=-5))
    clock = SimClock(datetime(2026, 11, 20, 9, 30, tzinfo=eastern), wall=FakeWall())

    now = clock.now()

    assert now.tzinfo == UTC
    assert now == START


@pytest.mark.parametrize(("speed", "sim_seconds", "wall"), [(1.0, 30.0, 30.0), (600.0, 60.0, 0.1)])
def test_wall_seconds_converts_simulated_duration(speed, sim_seconds, wall):
    clock = SimClock(START, speed=speed, wall=FakeWall())

    assert clock.wall_seconds(sim_seconds) == pytest.approx(wall)


def test_jump_moves_forward_and_keeps_running():
    wall = FakeWall()
    clock = SimClock(START, speed=2.0, wall=wall)

    clock.jump(3600)
    wall.t += 5

    assert clock.now() == START + timedelta(seconds=3610)


def test_jump_backwards_is_refused():
    clock = SimClock(START, wall=FakeWall())

    with pytest.raises(ValueError):
        clock.jump(-1)


def test_changing_speed_keeps_time_continuous():
    wall = FakeWall()
    clock = SimClock(START, speed=1.0, wall=wall)
    wall.t += 10

    clock.speed = 100.0
    at_change = clock.now()
    wall.t += 1

    assert at_change == START + timedelta(seconds=10)
    assert clock.now() == START + timedelta(seconds=110)
    assert clock.speed == 100.0


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_non_positive_speed_is_refused(bad):
    with pytest.raises(ValueError):
        SimClock(START, speed=bad, wall=FakeWall())


def test_naive_start_is_refused():
    with pytest.raises(ValueError):
        SimClock(datetime(2026, 11, 20, 9, 30), wall=FakeWall())


def test_reads_from_many_threads_never_go_backwards():
    wall = FakeWall()
    clock = SimClock(START, speed=10.0, wall=wall)
    seen: list[list[datetime]] = [[] for _ in range(4)]

    def reader(out: list[datetime]) -> None:
        for _ in range(500):
            out.append(clock.now())

    threads = [threading.Thread(target=reader, args=(out,)) for out in seen]
    for thread in threads:
        thread.start()
    for _ in range(200):
        clock.jump(1.0)
    for thread in threads:
        thread.join(timeout=5)

    assert all(not t.is_alive() for t in threads)
    assert all(out == sorted(out) and len(out) == 500 for out in seen)
    assert clock.now() == START + timedelta(seconds=200)
