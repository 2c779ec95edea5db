"""The kill switch: a file (or SIGUSR1, or ``python -m bot kill``) stops entries at once, acts on
working entries and positions as configured, and holds across restarts and days until cleared."""

from __future__ import annotations

import os
import signal
import threading
from datetime import UTC, datetime

import pytest
from actor_harness import WAIT_S, Clock, make_settings, start_bot
from pydantic import ValidationError
from test_journal_actor import T0, connect, propose
from test_restart_actors import IID, held_trade

from bot import messages as m
from bot.app.cli import main
from bot.app.config import Settings
from bot.app.supervisor import Supervisor
from bot.ops.kill_command import write_kill_switch


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
    bot.probe.expect(m.OrderStatusChanged, lambda e: e.client_order_id == "SPY-1.exit1")
    bot.sync(rounds=4)
    exits = bot.broker.commands(m.SubmitOrder).get(timeout=WAIT_S)
    stop = bot.broker.order("SPY-1.sl").get(timeout=WAIT_S)
    bot.supervisor.stop()

    # the close joins the stop's OCA group: the stop protects until the close fills
    assert [(c.order.client_order_id, c.order.side, c.order.quantity, c.order.oca_group)
            for c in exits] == [("SPY-1.exit1", m.Side.SELL, 3, stop.oca_group)]
    assert stop.working


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
    cleared = again.probe.expect(m.KillSwitchChanged, lambda e: not e.engaged)
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
def test_without_a_running_bot_the_kill_command_writes_the_file_and_says_nobody_confirmed(
    tmp_path, monkeypatch, capsys, args, exists_after, says
):
    path = tmp_path / "KILL"
    path.write_text("earlier\n")
    monkeypatch.setenv("BOT__RISK__KILL_SWITCH_PATH", str(path))
    monkeypatch.setenv("BOT__JOURNAL__DIR", str(tmp_path / "data"))

    code = main(args)

    out = capsys.readouterr().out
    assert (code, path.exists()) == (1, exists_after)
    assert out.startswith(says) and "no running bot holds" in out
    if exists_after:
        assert path.read_text().endswith(" maintenance\n")


def test_a_second_kill_keeps_the_first_reason_and_appends_its_own(tmp_path):
    path = tmp_path / "KILL"

    write_kill_switch(path, "first: broker acting up", datetime(2026, 11, 20, 15, 0, tzinfo=UTC))
    write_kill_switch(path, "second: leaving for the day", datetime(2026, 11, 20, 16, 0, tzinfo=UTC))

    assert path.read_text().splitlines() == [
        "2026-11-20T15:00:00+00:00 first: broker acting up",
        "2026-11-20T16:00:00+00:00 second: leaving for the day",
    ]


@pytest.mark.parametrize("value", ["", " ", "."])
def test_an_empty_kill_switch_path_is_a_config_error(value):
    with pytest.raises(ValidationError, match="kill_switch_path"):
        Settings.model_validate({"risk": {"kill_switch_path": value}})


def test_a_switch_found_at_start_flattens_the_recovered_position(tmp_path):
    settings = make_settings(tmp_path, journal={"dir": str(tmp_path / "data")},
                             risk={"kill_switch_flatten": True})
    settings.risk.kill_switch_path.write_text("2026-11-20T14:00:00 engaged while down\n")
    bot = start_bot(settings, Clock(T0), journal=True)
    bot.publish(held_trade(bot.clock()))  # what the journal recovers at the first connect
    bot.probe.expect(m.PositionRecovered)

    connect(bot)
    changed = bot.probe.expect(m.KillSwitchChanged)
    bot.sync(rounds=4)
    cancels = {c.client_order_id for c in bot.broker.commands(m.CancelOrder).get(timeout=WAIT_S)}
    bot.supervisor.stop()

    assert (changed.engaged, changed.reason) == (True, "2026-11-20T14:00:00 engaged while down")
    assert cancels == {f"{IID}.tp", f"{IID}.sl"}  # the exits go, then the position is sold


def test_the_risk_report_shows_the_switch_before_the_account_is_known(settings):
    settings.risk.kill_switch_path.write_text("engaged before the first connect\n")
    bot = start_bot(settings, Clock(T0))

    stats = bot.ref("risk").proxy().stats().get(timeout=WAIT_S)
    bot.supervisor.stop()

    assert (stats["equity"], stats["kill_switch"]) == (None, True)
