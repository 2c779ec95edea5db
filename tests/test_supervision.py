"""The supervisor's policy and the HealthActor's heartbeat and alarms (injected clocks)."""

from __future__ import annotations

from datetime import date

import pytest
from actor_harness import WAIT_S, Clock, Monotonic, Probe, make_settings, ny, start_bot

from actors.health import HealthActor
from bot import messages as m
from bot.app.routing import SUPERVISOR, Directory
from bot.app.supervisor import EXIT_FAILED, EXIT_OK, EXIT_REFUSED

DAY = date(2026, 11, 18)


@pytest.fixture
def bot(tmp_path):
    bot = start_bot(make_settings(tmp_path), Clock(ny(DAY, 10, 0)))
    yield bot
    bot.supervisor.stop()


def malformed_bar() -> m.BarClosed:
    """A bar with no fields: the handler raises on it, as on any programming error."""
    return m.BarClosed(bar=None)  # type: ignore[arg-type]


def next_supervision_message(bot, kind):
    for _ in range(20):
        message = bot.supervisor.process_one(WAIT_S)
        if isinstance(message, kind):
            return message
    raise AssertionError(f"no {kind.__name__}")


def test_a_failed_strategy_is_restarted_and_trades_on(bot):
    old = bot.ref("strategy:SPY")

    old.tell(malformed_bar())
    fault = next_supervision_message(bot, m.ActorFaulted)

    assert fault.actor == "strategy:SPY"
    assert "AttributeError" in fault.error
    new = bot.ref("strategy:SPY")
    assert new is not old and new.is_alive() and not old.is_alive()
    assert bot.directory.strategy("SPY") is new
    assert not bot.supervisor.stop_requested.is_set()
    assert new.proxy().state.get(timeout=WAIT_S) == "idle"


def test_a_failed_execution_actor_stops_the_bot_with_exit_code_1(bot):
    bot.ref("execution").tell(malformed_bar())

    next_supervision_message(bot, m.ActorFaulted)

    assert bot.supervisor.stop_requested.is_set()
    assert bot.supervisor.exit_code == EXIT_FAILED


def test_restarts_are_bounded_then_the_bot_stops(bot):
    for attempt in range(4):
        bot.ref("strategy:SPY").tell(malformed_bar())
        next_supervision_message(bot, m.ActorFaulted)
        assert bot.supervisor.stop_requested.is_set() is (attempt == 3)
    assert bot.supervisor.exit_code == EXIT_FAILED


def test_the_safety_gate_refusal_stops_the_bot_with_exit_code_3(bot):
    bot.publish(m.StartRefused("account U1234567 is live; start with --live to trade it", None))

    next_supervision_message(bot, m.StartRefused)

    assert bot.supervisor.exit_code == EXIT_REFUSED


def test_run_returns_0_when_its_duration_ends(bot):
    assert bot.supervisor.run(duration_s=0.2) == EXIT_OK


class Silent:
    """An actor that never answers (a stalled thread): it swallows every message."""

    def tell(self, message) -> None:
        pass


@pytest.fixture
def health(tmp_path):
    settings = make_settings(tmp_path, health={"heartbeat_seconds": 10, "ping_timeout_s": 3})
    directory = Directory()
    supervisor = Probe()
    directory.register(SUPERVISOR, supervisor)
    mono = Monotonic(1000.0)
    ref = HealthActor.start(directory, settings, monotonic=mono, tick_s=None)
    yield ref, directory, supervisor, mono, settings
    ref.stop()


def tick(ref, mono, seconds):
    mono.now += seconds
    ref.tell(m.TimerFired("health", None))
    return ref.proxy().beats.get(timeout=WAIT_S)  # also a barrier: the tick was handled


def test_heartbeat_cadence_follows_the_configured_seconds(health):
    ref, _, _, mono, settings = health

    beats = [tick(ref, mono, 1) for _ in range(25)]

    assert beats[8] == 0 and beats[9] == 1 and beats[19] == 2 and beats[-1] == 2
    beat = ref.proxy().last_heartbeat.get(timeout=WAIT_S)
    assert beat["uptime_s"] == 20.0
    assert beat["rss_mib"] > 10 and beat["threads"] >= 2 and beat["fds"] > 0
    on_disk = (settings.logging.dir / "heartbeat.json").read_text()
    assert '"uptime_s": 20.0' in on_disk


def test_an_actor_that_stops_answering_raises_an_alarm_within_the_ping_timeout(health):
    ref, directory, supervisor, mono, _ = health
    directory.register("stuck", Silent())
    tick(ref, mono, 1)  # pings go out

    tick(ref, mono, 2)
    assert supervisor.drain() == []
    tick(ref, mono, 1)  # 3 s without an answer

    alarm = supervisor.expect(m.AlarmRaised)
    assert alarm.actor == "stuck"
    assert "no answer to ping for 3.0s" in alarm.reason


def test_a_live_actor_that_answers_raises_no_alarm(health, tmp_path):
    ref, directory, supervisor, mono, settings = health
    from actors.risk import RiskActor

    risk = RiskActor.start(directory, settings)
    directory.register("risk", risk)
    for _ in range(10):
        tick(ref, mono, 1)
        risk.proxy().handled.get(timeout=WAIT_S)  # the pong went back before the next tick

    assert [x for x in supervisor.drain() if isinstance(x, m.AlarmRaised)] == []
    report = ref.proxy().last_heartbeat.get(timeout=WAIT_S)["actors"]["risk"]
    assert report["mailbox"] == 0 and report["idle_s"] is not None


def test_the_timers_follow_the_settings_for_checks_and_heartbeats(tmp_path):
    from bot.app.supervisor import actor_specs
    from doubles.stub_broker import StubBroker

    settings = make_settings(tmp_path, execution={"check_every_s": 0.25},
                             health={"heartbeat_seconds": 0.5})
    directory = Directory()
    specs = {s.name: s for s in actor_specs(settings, StubBroker.start, tick_s=1.0)}
    refs = [specs[name].factory(directory) for name in ("execution", "health", "risk")]
    try:
        ticks = [ref.proxy().tick_s.get(timeout=WAIT_S) for ref in refs]
    finally:
        for ref in refs:
            ref.stop()

    assert ticks == [0.25, 0.5, 1.0]
