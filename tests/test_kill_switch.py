"""The kill switch: a file (or SIGUSR1, or ``python -m bot kill``) stops entries at once, acts on
working entries and positions as configured, and holds across restarts and days until cleared."""

from __future__ import annotations

import os
import signal
import threading

import pytest
from actor_harness import WAIT_S, Clock, make_settings, start_bot
from test_journal_actor import T0, connect, propose

from bot import messages as m
from bot.app.cli import main
from bot.app.supervisor import Supervisor


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, journal={"dir": str(tmp_path / "data")})


def tick_risk(bot) -> None:
    bot.ref("risk").tell(m.TimerFired("kill_switch", bot.clock()))


def test_the_file_stops_entries_and_cancels_a_working_entry_within_one_tick(settings):
    bot = start_bot(settings, Clock(T0), journal=True)
    connect(bot)
    propose(bot, "SPY-1")
    bot.probe.expect(m.OrderStatusChanged, lambda e: e.client_order_id == "SPY-1.sl")

    settings.risk.kill_switch_path.write_text("2026-11-20T15:00:00 test\n")
    tick_risk(bot)
    changed = bot.probe.expect(m.KillSwitchChanged)
    expired = bot.probe.expect(m.EntryExpired)
    propose(bot, "QQQ-2", symbol="QQQ")
    denied = bot.probe.expect(m.EntryDenied)
    bot.sync(rounds=4)
    bot.supervisor.stop()

    assert (changed.engaged, changed.reason) == (True, "2026-11-20T15:00:00 test")
    assert expired.intent_id == "SPY-1" and expired.reason == "kill switch"
    assert denied.reason == "kill switch engaged"


def test_flatten_closes_an_open_position_when_configured(tmp_path):
    settings = make_settings(
        tmp_path, journal={"dir": str(tmp_path / "data")}, risk={"kill_switch_flatten": True}
    )
    bot = start_bot(settings, Clock(T0), journal=True)
    connect(bot)
    propose(bot, "SPY-1")
    bot.probe.expect(m.OrderStatusChanged, lambda e: e.client_order_id == "SPY-1.sl")
    bot.broker.fill("SPY-1.entry", 3, 1.60).get(timeout=WAIT_S)
    bot.probe.expect(m.PositionOpened)

    settings.risk.kill_switch_path.write_text("flatten\n")
    tick_risk(bot)
    bot.probe.expect(
        m.OrderStatusChanged,
        lambda e: e.client_order_id == "SPY-1.sl" and e.status is m.OrderStatus.CANCELLED,
    )
    bot.sync(rounds=4)
    exits = bot.broker.commands(m.SubmitOrder).get(timeout=WAIT_S)
    bot.supervisor.stop()

    assert [(c.order.client_order_id, c.order.side, c.order.quantity) for c in exits] == [
        ("SPY-1.exit1", m.Side.SELL, 3)
    ]


def test_the_switch_holds_across_a_restart_and_the_next_day_until_cleared(settings):
    clock = Clock(T0)
    settings.risk.kill_switch_path.write_text("2026-11-20 manual\n")
    first = start_bot(settings, clock, journal=True)
    connect(first)
    propose(first, "SPY-1")
    day_one = first.probe.expect(m.EntryDenied)
    first.supervisor.stop()

    clock.advance(3 * 24 * 3600)  # Friday -> Monday, the next exchange day
    again = start_bot(settings, clock, journal=True)
    connect(again)
    propose(again, "SPY-2")
    day_two = again.probe.expect(m.EntryDenied)
    settings.risk.kill_switch_path.unlink()
    tick_risk(again)
    cleared = again.probe.expect(m.KillSwitchChanged)
    propose(again, "SPY-3")
    allowed = again.probe.expect(m.EntryApproved)
    again.supervisor.stop()

    assert (day_one.reason, day_two.reason) == ("kill switch engaged", "kill switch engaged")
    assert (cleared.engaged, allowed.intent_id) == (False, "SPY-3")


def test_sigusr1_writes_the_file_with_the_time_and_the_reason(tmp_path):
    path = tmp_path / "state" / "KILL"
    supervisor = Supervisor([])
    signals = (signal.SIGUSR1, signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.getsignal(sig) for sig in signals}
    supervisor.install_signal_handlers(path)
    try:
        os.kill(os.getpid(), signal.SIGUSR1)  # the handler runs in this (main) thread
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    assert threading.current_thread() is threading.main_thread()
    text = path.read_text()
    assert text.endswith(" SIGUSR1\n") and text.startswith("20")


@pytest.mark.parametrize(
    ("args", "exists_after", "says"),
    [
        (["kill", "--reason", "maintenance"], True, "kill switch engaged"),
        (["kill", "--clear"], False, "kill switch cleared"),
    ],
)
def test_the_kill_command_writes_and_clears_the_file(
    tmp_path, monkeypatch, capsys, args, exists_after, says
):
    path = tmp_path / "KILL"
    path.write_text("earlier\n")
    monkeypatch.setenv("BOT__RISK__KILL_SWITCH_PATH", str(path))

    code = main(args)

    assert (code, path.exists()) == (0, exists_after)
    assert capsys.readouterr().out.startswith(says)
    if exists_after:
        assert path.read_text().endswith(" maintenance\n")
