"""The heartbeat's content and the liveness rules: pure tables, then through real actors."""

from __future__ import annotations

import json
import threading
from datetime import date

import pytest
from actor_harness import (
    WAIT_S,
    Clock,
    Monotonic,
    Probe,
    StuckActor,
    make_settings,
    ny,
    start_bot,
)
from loguru import logger

from actors.health import HealthActor
from bot import messages as m
from bot.app.routing import SUPERVISOR, Directory
from bot.ops.health_report import heartbeat_line, heartbeat_payload, pacing_used_pct
from bot.ops.liveness import Liveness, ping_due
from bot.ops.watchdog import Watchdog

DAY = date(2026, 11, 18)
BROKER_STATS = (("idle_s", 0.2), ("handled", 900), ("connection", "connected"), ("client_id", 18),
                ("reconnects", 2), ("circuit", "closed"), ("circuit_failures", 0),
                ("connect_failures", 0),
                ("pacing", {"msgs_1s": 4, "hist_10min": 5, "hist_open": 0, "lines": 9,
                            "deferred": 0}),
                ("lines", 9), ("warm_lines", 4), ("loop_lag_ms", 0.4), ("loop_lag_max_ms", 3.2),
                ("timeouts", 1),
                ("faults", 0), ("snapshot", "published"), ("pending_cancels", ["SPY-1.tp"]),
                ("orphan_orders", {"17": ["SPY-0.sl"]}), ("verify", {"checks": 4, "mismatches": 0}))


# -- liveness rules (pure) -----------------------------------------------------------------------


@pytest.mark.parametrize("depths, alarm_at", [
    ([10, 20, 900, 1000], None),  # under the bound
    ([1500, 1200, 800, 300], None),  # a burst that drains (the start-up backfill)
    ([1100, 1200, 1300, 1400], 2),  # growing: 2 s over the bound (grace = 4 s timeout / 2)
    ([1100, 1100, 1100], 2),  # stuck at the same depth
    ([1100, 1050, 1200, 1300], 3),  # fell once (clock restarts at t=1), then grew
    ([1100, 1200, 900, 1100, 1200, 1300], 5),  # back under the bound at t=2: a new episode
])
def test_a_mailbox_alarms_only_when_it_stays_over_the_bound_without_draining(depths, alarm_at):
    live = Liveness(ping_timeout_s=4.0, max_mailbox=1000)

    reasons = [live.check("risk", depth, float(t)) for t, depth in enumerate(depths)]

    fired = [i for i, r in enumerate(reasons) if r]
    assert fired == ([] if alarm_at is None else [alarm_at])
    if alarm_at is not None:
        expected = f"mailbox depth {depths[alarm_at]} over 1000 and not draining for"
        assert reasons[alarm_at].startswith(expected)


def test_a_ping_unanswered_for_the_timeout_alarms_once_until_it_answers():
    live = Liveness(ping_timeout_s=3.0, max_mailbox=1000)
    live.pinged("broker", 10.0)

    early = live.check("broker", 0, 12.9)
    first = live.check("broker", 0, 13.0)
    again = live.check("broker", 0, 14.0)
    healthy_while_alarmed = live.healthy(14.0)
    live.answered("broker", 14.5)

    assert (early, again) == (None, None)
    assert first == "no answer to ping for 3.0s (limit 3s)"
    assert healthy_while_alarmed is False
    assert live.healthy(14.5) is True and live.last_answer_s("broker", 16.0) == 1.5


# -- payload and line (pure) ----------------------------------------------------------------------


def sample_payload() -> dict:
    reports = {
        "broker": dict(BROKER_STATS),
        "strategy:SPY": {"idle_s": 0.5, "handled": 40, "state": "holding", "bar_age_s": 31.0,
                         "quote_age_s": 0.4},
        "strategy:QQQ": {"idle_s": 7.5, "handled": 38, "state": "idle", "bar_age_s": None,
                         "quote_age_s": None},
        "execution": {"idle_s": 0.1, "handled": 70, "orders_working": 2,
                      "positions": {"SPY-1": 3.0}, "unprotected_position": ["SPY-1"]},
        "risk": {"idle_s": 1.0, "handled": 12, "realized_pnl": -42.5, "trades": 1, "open": 1,
                 "loss_budget_used_pct": 14.2, "kill_switch": False},
        "journal": {"idle_s": 0.1, "handled": 50, "written": 48, "failed": None, "failures": 0,
                    "commits": 20, "commit_p99_ms": 4.2, "commit_max_ms": 80.1,
                    "slow_commits": 1},
    }
    return heartbeat_payload(
        ts="2026-11-18T15:00:00+00:00", pid=4242, uptime_s=120.04, beat_lag_s=0.0123,
        process={"rss_mib": 52.3, "uss_mib": 47.9, "cpu_pct": 0.8, "threads": 14, "fds": 21,
                 "open_files": 3, "sockets": 2},
        depths={"broker": 0, "strategy:SPY": 3, "strategy:QQQ": 0, "execution": 0, "risk": 0,
                "health": 1},
        reports=reports, last_answer_s={"broker": 0.5, "risk": 0.4}, alarmed={"strategy:QQQ"},
        errors={"ib_2104": 1, "timeout_reqSecDefOptParams": 2}, broker_state="connected")


def test_the_payload_gathers_every_section_from_the_pong_reports():
    beat = sample_payload()

    assert (beat["uptime_s"], beat["beat_lag_s"]) == (120.0, 0.012)
    assert (beat["rss_mib"], beat["uss_mib"], beat["sockets"]) == (52.3, 47.9, 2)
    assert beat["broker"] == {"state": "connected", "circuit": "closed", "connect_failures": 0,
                              "client_id": 18,
                              "reconnects": 2, "lines": 9, "warm_lines": 4, "loop_lag_ms": 0.4,
                              "loop_lag_max_ms": 3.2, "timeouts": 1, "faults": 0,
                              "snapshot": "published", "pending_cancels": ["SPY-1.tp"],
                              "orphan_orders": {"17": ["SPY-0.sl"]},
                              "verify": {"checks": 4, "mismatches": 0},
                              "pacing_pct": {"msg_1s": 10.0, "hist_10m": 10.0, "hist_open": 0.0,
                                             "lines": 10.0}}
    assert beat["symbols"] == {"QQQ": {"bar_age_s": None, "quote_age_s": None, "state": "idle"},
                               "SPY": {"bar_age_s": 31.0, "quote_age_s": 0.4, "state": "holding"}}
    assert (beat["orders_working"], beat["positions"]) == (2, 1)
    assert beat["journal"] == {"state": "ok", "reason": None, "written": 48, "failures": 0,
                               "commits": 20, "commit_p99_ms": 4.2, "commit_max_ms": 80.1,
                               "slow_commits": 1}
    assert beat["unprotected_position"] == ["SPY-1"]
    assert beat["risk"] == {"realized_pnl": -42.5, "loss_budget_used_pct": 14.2, "trades": 1,
                            "open_positions": 1, "kill_switch": False}
    assert beat["actors"]["strategy:SPY"] == {"mailbox": 3, "idle_s": 0.5, "last_answer_s": None,
                                              "alarm": False, "rtt_ms": None, "handled": 40}
    assert beat["actors"]["strategy:QQQ"]["alarm"] is True and beat["alarms"] == ["strategy:QQQ"]


@pytest.mark.parametrize("field", [
    "up=120.0s", "rss=52.3MiB", "uss=47.9MiB", "cpu=0.8%", "threads=14", "fds=21", "sockets=2",
    "broker=connected", "circuit=closed", "connect_failures=0", "client_id=18", "reconnects=2",
    "pacing=msg_1s:10%,hist_10m:10%,hist_open:0%,lines:10%", "lines=9", "snapshot=published",
    "loop_lag=0.4/3.2ms", "cancels_pending=1", "orphans=1",
    "orders_working=2", "positions=1", "unprotected=SPY-1", "pnl=-42.50", "loss_budget=14.2%",
    "kill_switch=off", "journal=ok", "commit_p99=4.2/80.1ms",
    "mailbox_max=3@strategy:SPY", "idle_max=7.5s@strategy:QQQ", "ages=QQQ:?/?,SPY:31s/0s",
    "alarms=strategy:QQQ", "errors=ib_2104:1,timeout_reqSecDefOptParams:2",
])
def test_the_readable_line_holds_each_figure_as_key_value(field):
    line = heartbeat_line(sample_payload())

    assert line.startswith("heartbeat up=") and "\n" not in line
    assert f" {field} " in f" {line} "


def payload_with(reports: dict, broker_state: str = "connected", alarmed=frozenset()) -> dict:
    return heartbeat_payload(
        ts="2026-11-18T15:00:00+00:00", pid=1, uptime_s=1.0, beat_lag_s=0.0, process={},
        depths={name: 0 for name in reports}, reports=reports, last_answer_s={},
        alarmed=set(alarmed), errors={}, broker_state=broker_state)


@pytest.mark.parametrize(("journal", "state", "alarms"), [
    (None, "?", "none"),
    ({"written": 12, "failed": None, "failures": 0}, "ok", "none"),
    ({"written": 12, "failed": "disk I/O error", "failures": 40}, "failed", "journal=failed"),
])
def test_a_journal_that_cannot_be_written_is_an_alarm_in_the_heartbeat(journal, state, alarms):
    reports = {"journal": journal} if journal else {}

    beat = payload_with(reports)
    line = heartbeat_line(beat)

    assert f" journal={state} " in line and f" alarms={alarms} " in f"{line} "
    if journal and journal["failed"]:
        assert beat["alarms"] == ["journal=failed"]
        assert beat["journal"] == {"state": "failed", "reason": "disk I/O error", "written": 12,
                                   "failures": 40, "commits": None, "commit_p99_ms": None,
                                   "commit_max_ms": None, "slow_commits": None}


@pytest.mark.parametrize(("event_state", "reported", "shown"), [
    ("connected", "disconnected", "connected"),  # the Pong is from before the reconnect
    ("disconnected", "connected", "disconnected"),
    ("unknown", "connected", "connected"),  # no ConnectionChanged heard yet
])
def test_the_broker_state_is_the_last_one_announced_not_the_last_pong(event_state, reported,
                                                                       shown):
    beat = payload_with({"broker": {"connection": reported}}, broker_state=event_state)

    assert beat["broker"]["state"] == shown


def test_failed_connects_show_in_the_heartbeat_line():
    beat = payload_with({"broker": {**dict(BROKER_STATS), "connection": "disconnected",
                                    "connect_failures": 12}}, broker_state="disconnected")

    assert " connect_failures=12 " in heartbeat_line(beat)


def test_an_empty_pacing_snapshot_reports_no_rules():
    assert pacing_used_pct(None) == {}


# -- through the actors ------------------------------------------------------------------------


@pytest.fixture
def captured():
    records = []
    sink = logger.add(lambda msg: records.append(msg.record), level="INFO")
    yield records
    logger.remove(sink)


def test_a_heartbeat_tells_the_bots_state_from_every_actor(tmp_path, captured):
    clock = Clock(ny(DAY, 10, 0))
    settings = make_settings(tmp_path, health={"heartbeat_seconds": 5, "ping_timeout_s": 3})
    bot = start_bot(settings, clock)
    mono = Monotonic()
    health = HealthActor.start(bot.directory, settings, clock=clock, monotonic=mono, tick_s=None,
                               watchdog=Watchdog(None))
    bot.publish(m.AccountUpdated("DU1234567", 10_000.0, clock()))
    bot.publish(m.BarClosed(m.Bar("SPY", ny(DAY, 9, 59), 600.0, 600.5, 599.5, 600.2, 1000)))
    bot.sync()
    clock.advance(30)

    health.tell(m.TimerFired("health", None))  # pings every actor
    health.proxy().beats.get(timeout=WAIT_S)  # barrier: the pings are sent
    bot.sync()  # barrier: every actor answered, its Pong is in health's mailbox
    health.tell(m.Pong("p", "broker", mono.now, BROKER_STATS))  # as the real BrokerActor reports
    health.proxy().beats.get(timeout=WAIT_S)  # barrier: every Pong handled at mono 100
    mono.now += 5
    health.tell(m.TimerFired("health", None))  # the heartbeat
    beat = health.proxy().last_heartbeat.get(timeout=WAIT_S)
    bot.supervisor.stop()

    assert beat["symbols"] == {"SPY": {"bar_age_s": 30.0, "quote_age_s": None, "state": "idle"}}
    assert beat["risk"] == {"realized_pnl": 0.0, "loss_budget_used_pct": 0.0, "trades": 0,
                            "open_positions": 0, "kill_switch": False}
    assert (beat["orders_working"], beat["positions"], beat["alarms"]) == (0, 0, [])
    assert beat["broker"]["client_id"] == 18 and beat["broker"]["pacing_pct"]["lines"] == 10.0
    assert set(beat["actors"]) == {"health", "risk", "execution", "strategy:SPY", "broker"}
    assert beat["actors"]["risk"]["last_answer_s"] == 5.0
    assert beat["threads"] >= 6 and beat["rss_mib"] > 10 and beat["uss_mib"] > 5
    lines = [r for r in captured if r["message"].startswith("heartbeat ")]
    assert len(lines) == 1 and lines[0]["extra"]["heartbeat"] == beat
    assert " ages=SPY:30s/? " in lines[0]["message"]
    on_disk = json.loads((settings.logging.dir / "heartbeat.json").read_text())
    assert on_disk["symbols"] == beat["symbols"] and on_disk["uptime_s"] == 5.0


def test_heartbeats_keep_their_schedule_and_report_how_late_each_one_was(tmp_path):
    settings = make_settings(tmp_path, health={"heartbeat_seconds": 10})
    mono = Monotonic()
    health = HealthActor.start(Directory(), settings, monotonic=mono, tick_s=None,
                               watchdog=Watchdog(None))
    lags = []

    for advance in (10.0, 12.5, 7.5, 25.0, 10.0):  # due at 110, 120, 130, 140 (late), 165
        mono.now += advance
        health.tell(m.TimerFired("health", None))
        lags.append(health.proxy().last_heartbeat.get(timeout=WAIT_S)["beat_lag_s"])

    assert lags == [0.0, 2.5, 0.0, 15.0, 0.0]


def test_a_tick_that_waited_in_the_mailbox_makes_its_heartbeat_late_by_that_long(tmp_path):
    clock = Clock(ny(DAY, 10, 0))
    settings = make_settings(tmp_path, health={"heartbeat_seconds": 10})
    mono = Monotonic()
    health = HealthActor.start(Directory(), settings, clock=clock, monotonic=mono, tick_s=None,
                               watchdog=Watchdog(None))
    fired_at = clock()
    clock.advance(0.25)  # handled a quarter second after the timer fired
    mono.now += 10.0  # on schedule

    health.tell(m.TimerFired("health", fired_at))
    beat = health.proxy().last_heartbeat.get(timeout=WAIT_S)

    assert beat["beat_lag_s"] == 0.25


def test_a_mailbox_growing_past_the_bound_raises_the_alarm_before_its_pings_time_out(tmp_path):
    settings = make_settings(tmp_path, health={"heartbeat_seconds": 60, "ping_timeout_s": 4,
                                               "max_mailbox": 5})
    directory, supervisor, mono = Directory(), Probe(), Monotonic()
    directory.register(SUPERVISOR, supervisor)
    health = HealthActor.start(directory, settings, monotonic=mono, tick_s=None,
                               watchdog=Watchdog(None))
    entered, release = threading.Event(), threading.Event()
    blocked = StuckActor.start(entered, release)
    blocked.tell("work")
    assert entered.wait(WAIT_S)
    directory.register("risk", blocked)

    def tick(seconds):
        mono.now += seconds
        health.tell(m.TimerFired("health", None))
        health.proxy().beats.get(timeout=WAIT_S)

    try:
        tick(0)  # ping 1 queued behind the blocked handler
        for _ in range(10):
            blocked.tell("more work")
        tick(1)  # 11 queued: over the bound from here
        tick(1)  # ping 2 queued: 12
        quiet = supervisor.drain()
        tick(1)  # 2 s over the bound (half the 4 s ping timeout), pings 3 s old
        alarm = supervisor.expect(m.AlarmRaised)
    finally:
        release.set()

    assert quiet == []
    assert alarm.actor == "risk"
    assert alarm.reason == "mailbox depth 12 over 5 and not draining for 2.0s"


@pytest.mark.parametrize(("now", "last_ping", "due"), [
    (105.0, 100.0, True),  # the ping period (5 s) is over
    (103.0, 100.0, False),  # mid-period, the beat at 130 far away
    (128.0, 125.0, False),  # two ticks before the beat: not yet
    (128.5, 125.0, True),  # the tick before the beat (a tick may come half a tick early)
    (129.0, 128.5, False),  # pinged less than a tick ago
    (130.0, 129.0, True),  # the beat's own tick, last ping a tick old
])
def test_every_actor_is_pinged_on_the_tick_before_a_heartbeat_so_its_figures_are_current(
        now, last_ping, due):
    assert ping_due(now, last_ping, next_beat=130.0, period_s=5.0, tick_s=1.0) is due


def test_without_ticks_only_the_ping_period_counts():
    assert ping_due(129.0, 125.0, next_beat=130.0, period_s=5.0, tick_s=None) is False


@pytest.mark.parametrize(("reports", "section", "field"), [
    ({}, None, "record_dropped=off"),
    ({"record": {"record_rows": 2145, "record_dropped": 5, "record_failed": 0,
                 "record_buffered": 12}},
     {"rows": 2145, "dropped": 5, "failed": 0, "buffered": 12}, "record_dropped=5"),
])
def test_the_recorders_figures_are_in_the_heartbeat_and_its_drops_in_the_line(reports, section,
                                                                              field):
    beat = payload_with(reports)

    assert beat["record"] == section
    assert f" {field} " in f" {heartbeat_line(beat)} "


def test_an_unprotected_position_is_in_a_heartbeat_at_once_not_at_the_next_one(tmp_path):
    settings = make_settings(tmp_path, health={"heartbeat_seconds": 30})
    mono = Monotonic()
    health = HealthActor.start(Directory(), settings, monotonic=mono, tick_s=None,
                               watchdog=Watchdog(None))
    mono.now += 3  # 27 s before the next scheduled heartbeat

    health.tell(m.PositionUnprotected("SPY-1", "SPY", 10.0, "no working exit",
                                      ny(DAY, 10, 0)))
    beat = health.proxy().last_heartbeat.get(timeout=WAIT_S)
    on_disk = json.loads((settings.logging.dir / "heartbeat.json").read_text())
    health.stop()

    assert beat["unprotected_position"] == ["SPY-1"]
    assert on_disk["unprotected_position"] == ["SPY-1"]
