"""The systemd notify protocol and its gating: a unix datagram socket stands in for systemd."""

from __future__ import annotations

import socket
import threading
import uuid

import pytest
from actor_harness import WAIT_S, Monotonic, Probe, StuckActor, make_settings

from actors.health import HealthActor
from bot import messages as m
from bot.app.routing import SUPERVISOR, Directory
from bot.ops.watchdog import Watchdog, socket_address, watchdog_interval_s


class Systemd:
    """The listening end of ``$NOTIFY_SOCKET``: a bound AF_UNIX datagram socket."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(WAIT_S)

    def receive(self) -> str:
        return self.sock.recv(4096).decode()

    def pending(self) -> list[str]:
        """Every datagram already delivered (sendto on a unix socket is synchronous)."""
        self.sock.setblocking(False)
        try:
            out = []
            while True:
                try:
                    out.append(self.sock.recv(4096).decode())
                except BlockingIOError:
                    return out
        finally:
            self.sock.settimeout(WAIT_S)


@pytest.fixture
def systemd(tmp_path):
    path = str(tmp_path / "notify.sock")
    listener = Systemd(path)
    yield path, listener
    listener.sock.close()


@pytest.mark.parametrize("call, expected", [
    (lambda w: w.ready(), "READY=1"),
    (lambda w: w.keepalive(), "WATCHDOG=1"),
    (lambda w: w.stopping(), "STOPPING=1"),
    (lambda w: w.stopping("exit 0"), "STOPPING=1\nSTATUS=exit 0"),
    (lambda w: w.ready("line\none"), "READY=1\nSTATUS=line one"),
])
def test_each_state_is_one_datagram_in_the_protocol_format(systemd, call, expected):
    path, listener = systemd
    watchdog = Watchdog.from_env({"NOTIFY_SOCKET": path})

    sent = call(watchdog)

    assert sent is True
    assert listener.receive() == expected
    assert watchdog.sent == 1
    watchdog.close()


def test_without_notify_socket_every_call_is_a_no_op():
    watchdog = Watchdog.from_env({})

    results = (watchdog.ready(), watchdog.keepalive(), watchdog.stopping())

    assert results == (False, False, False)
    assert watchdog.enabled is False and watchdog.sent == 0


def test_a_socket_nobody_listens_on_reports_false_instead_of_raising(tmp_path):
    watchdog = Watchdog(str(tmp_path / "gone.sock"))

    assert watchdog.keepalive() is False
    assert watchdog.sent == 0


def test_an_abstract_socket_address_is_reached():
    name = f"ibkr-bot-test-{uuid.uuid4().hex}"
    listener = Systemd("\0" + name)
    try:
        assert Watchdog("@" + name).ready() is True
        assert listener.receive() == "READY=1"
    finally:
        listener.sock.close()


@pytest.mark.parametrize("value, expected", [
    (None, None), ("", None), ("/run/systemd/notify", "/run/systemd/notify"), ("@sd", "\0sd"),
])
def test_socket_address(value, expected):
    assert socket_address(value) == expected


@pytest.mark.parametrize("env, expected", [
    ({"WATCHDOG_USEC": "30000000"}, 30.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, 30.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "43"}, None),  # meant for another process
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "soon"}, None),
    ({}, None),
])
def test_watchdog_interval_from_the_environment(env, expected):
    assert watchdog_interval_s(env, pid=42) == expected


# -- gating: WATCHDOG=1 only while every actor answers -------------------------------------------


@pytest.fixture
def gated(tmp_path, systemd):
    path, listener = systemd
    settings = make_settings(tmp_path, health={"heartbeat_seconds": 60, "ping_timeout_s": 3})
    directory, supervisor, mono = Directory(), Probe(), Monotonic(500.0)
    directory.register(SUPERVISOR, supervisor)
    health = HealthActor.start(directory, settings, monotonic=mono, tick_s=None,
                               watchdog=Watchdog(path))
    entered, release = threading.Event(), threading.Event()
    stuck = StuckActor.start(entered, release)
    yield health, directory, supervisor, mono, listener, (stuck, entered, release)
    release.set()


def tick(health, mono, seconds):
    mono.now += seconds
    health.tell(m.TimerFired("health", None))
    health.proxy().beats.get(timeout=WAIT_S)  # barrier: the tick (and its datagram) happened


def test_keepalives_stop_once_an_actor_stalls_and_resume_when_it_answers(gated):
    health, directory, supervisor, mono, listener, (stuck, entered, _release) = gated
    stuck.tell("block")
    assert entered.wait(WAIT_S)
    directory.register("execution", stuck)

    tick(health, mono, 0)  # pings go out; nothing owed yet
    tick(health, mono, 2)  # 2 s unanswered, still within the 3 s timeout
    kept_alive = listener.pending()
    tick(health, mono, 1)  # 3 s unanswered: alarm
    tick(health, mono, 1)
    after_stall = listener.pending()
    health.tell(m.Pong("late", "execution", mono.now, ()))  # it answers again
    tick(health, mono, 1)
    resumed = listener.pending()

    assert kept_alive == ["WATCHDOG=1", "WATCHDOG=1"]
    assert after_stall == []
    assert supervisor.expect(m.AlarmRaised).actor == "execution"
    assert resumed == ["WATCHDOG=1"]


def test_keepalives_continue_while_every_actor_answers(gated, tmp_path):
    health, directory, supervisor, mono, listener, _ = gated
    from actors.risk import RiskActor

    risk = RiskActor.start(directory, make_settings(tmp_path))
    for _ in range(6):
        tick(health, mono, 1)
        risk.proxy().handled.get(timeout=WAIT_S)  # its pong is queued before the next tick

    assert listener.pending() == ["WATCHDOG=1"] * 6
    assert [x for x in supervisor.drain() if isinstance(x, m.AlarmRaised)] == []


@pytest.mark.parametrize(("stops", "expected"), [
    (False, ["WATCHDOG=1"]),  # default: the alarm shows, systemd does not restart the bot
    (True, []),  # configured: a journal that cannot be written gets the bot restarted
])
def test_a_failed_journal_stops_keepalives_only_when_configured(tmp_path, systemd, stops,
                                                                expected):
    path, listener = systemd
    settings = make_settings(tmp_path, health={"heartbeat_seconds": 60, "ping_timeout_s": 3,
                                               "journal_failure_stops_watchdog": stops})
    mono = Monotonic(500.0)
    health = HealthActor.start(Directory(), settings, monotonic=mono, tick_s=None,
                               watchdog=Watchdog(path))
    health.tell(m.Pong("p", "journal", mono.now, (("failed", "disk I/O error"), ("written", 5))))

    tick(health, mono, 1.0)

    assert listener.pending() == expected
