"""The backtest driver's lock step (``bot.backtest.driver``): what it sends when, so that the
same data gives the same run whatever the threads do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.app.config import Settings
from bot.backtest.driver import Backtest

T0 = datetime(2026, 11, 18, 15, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def now(self) -> datetime:
        return self.t


class FakeGateway:
    """Records the driver's calls in order; the clock moves by ``step``."""

    def __init__(self, log: list) -> None:
        self.log, self.clock = log, Clock()

    def step(self, seconds: float, stream: bool = True) -> datetime:
        self.clock.t += timedelta(seconds=seconds)
        self.log.append(("step", seconds, stream))
        return self.clock.t

    def push_streams(self, symbols) -> None:
        self.log.append(("push", None if symbols is None else tuple(sorted(symbols))))


class FakeDirectory:
    def tell(self, role, message) -> bool:
        return True


def driver(log: list) -> Backtest:
    bt = object.__new__(Backtest)  # no gateway, no actors: only the stepping is under test
    bt.settings = Settings(symbols=["SPY", "QQQ", "IWM"])
    bt.gateway, bt.directory, bt.speed, bt.steps = FakeGateway(log), FakeDirectory(), None, 0
    bt.settle = lambda: log.append(("settle",))
    bt._check_alive = lambda: None
    return bt


def test_when_bars_close_each_symbols_streams_go_alone_and_settle_in_the_settings_order():
    log: list = []
    bt = driver(log)

    bt._step_to(T0 + timedelta(minutes=1))

    assert log == [("step", 60.0, False), ("settle",),
                   ("push", ("SPY",)), ("settle",), ("push", ("QQQ",)), ("settle",),
                   ("push", ("IWM",)), ("settle",), ("push", None), ("settle",)]


@pytest.mark.parametrize("seconds", [5, 25])
def test_between_bar_closes_one_push_carries_every_stream(seconds):
    log: list = []
    bt = driver(log)

    bt._step_to(T0 + timedelta(seconds=seconds))

    assert log == [("step", float(seconds), False), ("settle",), ("push", None), ("settle",)]
