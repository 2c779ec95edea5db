"""Specification of the alert policy (bot.ops.alerts): which events reach the owner's phone,
in which words, how often, and the daily digest after the close."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pure_helpers import RECOVERED_CONTRACT, ny

from bot import messages as m
from bot.ops.alerts import KINDS, AlertRules, scheme_of

WALL = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
C = RECOVERED_CONTRACT


def opened(ts=WALL):
    return m.PositionOpened("c", "SPY-1", "SPY", C, 3, 1.60, ts)


def closed(pnl: float, reason: str = "take profit", ts=WALL):
    return m.PositionClosed("c", "SPY-1", "SPY", C, 3, 1.60, 2.08, pnl, reason, ts)


@pytest.mark.parametrize(
    ("event", "kind", "title", "body"),
    [
        (m.ModeDecided("paper", "DU1234567", WALL), "started", "Bot started",
         "mode paper, account DU1234567"),
        (opened(), "entry_filled", "Entry filled SPY", f"bought 3 {C.key} @ 1.60"),
        (closed(144.0), "exit_filled", "Exit filled SPY",
         f"sold 3 {C.key} @ 2.08 (take profit); P&L +144.00"),
        (closed(-96.0, "stop"), "stop_hit", "Stop hit SPY", f"sold 3 {C.key} @ 2.08 (stop); P&L -96.00"),
        (m.KillSwitchChanged(True, "manual", WALL), "kill_switch", "Kill switch engaged", "manual"),
        (m.KillSwitchChanged(False, "", WALL), "kill_switch", "Kill switch cleared", "cleared"),
        (m.ReconcileMismatch("unknown_position", "SPY 598C", "qty 2", WALL), "reconcile_mismatch",
         "Reconciliation mismatch", "unknown_position SPY 598C: qty 2"),
        (m.JournalFailed("disk full", WALL), "journal_failed", "Journal write failed",
         "disk full; new entries are refused"),
        (m.ActorFaulted("risk", "boom", WALL), "actor_failed", "Actor risk failed", "boom"),
        (m.ConnectionChanged("stale", 7, WALL, "1100 connectivity lost"), "data_stale",
         "Market data stale", "1100 connectivity lost"),
        (m.EntryDenied("c", "SPY-1", "SPY", "daily loss cap reached: realized -300.00 <= -300.00", WALL),
         "loss_cap", "Daily loss cap reached", "daily loss cap reached: realized -300.00 <= -300.00"),
        (m.EntryDenied("c", "SPY-1", "SPY", "daily loss cap: realized loss 150.00 + reserved 99.90", WALL),
         "loss_cap", "Daily loss cap reached", "daily loss cap: realized loss 150.00 + reserved 99.90"),
        (m.PositionUnprotected("SPY-1", "SPY", 3, "stop rejected", WALL), "unprotected_position",
         "UNPROTECTED SPY", "3 held without a working stop: stop rejected; SPY-1"),
    ],
)
def test_an_event_that_matters_becomes_one_alert(event, kind, title, body) -> None:
    alerts = AlertRules().on_event(event, WALL)

    assert [(a.kind, a.title, a.body) for a in alerts] == [(kind, title, body)]


@pytest.mark.parametrize(
    "event",
    [m.EntryDenied("c", "SPY-1", "SPY", "max 2 open positions", WALL),
     m.ConnectionChanged("connected", 7, WALL), m.BrokerErrorReported(2104, "farm ok", -1, WALL)],
)
def test_routine_events_send_nothing(event) -> None:
    assert AlertRules().on_event(event, WALL) == []


def test_only_the_chosen_kinds_are_sent() -> None:
    rules = AlertRules(events=frozenset({"exit_filled"}))

    assert rules.on_event(opened(), WALL) == []
    assert [a.kind for a in rules.on_event(closed(10.0), WALL)] == ["exit_filled"]


def test_a_kind_is_held_back_within_its_interval_and_the_next_one_says_how_many() -> None:
    rules = AlertRules(min_interval_s=60)

    first = rules.on_event(opened(), WALL)
    held = [rules.on_event(opened(), WALL + timedelta(seconds=s)) for s in (10, 20)]
    later = rules.on_event(opened(), WALL + timedelta(seconds=61))

    assert len(first) == 1 and held == [[], []]
    assert later[0].body.endswith("(+2 more held back)")


def test_the_loss_cap_alert_comes_once_a_day() -> None:
    rules = AlertRules(min_interval_s=0)
    denied = m.EntryDenied("c", "SPY-1", "SPY", "daily loss cap reached: realized -300.00", WALL)

    assert len(rules.on_event(denied, WALL)) == 1
    assert rules.on_event(denied, WALL + timedelta(minutes=5)) == []
    tomorrow = WALL + timedelta(days=1)
    next_day = m.EntryDenied("c", "SPY-1", "SPY", "daily loss cap reached: realized -1.00", tomorrow)
    assert len(rules.on_event(next_day, tomorrow)) == 1


def test_a_disconnect_is_reported_once_it_lasts_longer_than_the_setting_then_its_end() -> None:
    rules = AlertRules(disconnect_after_s=120)
    rules.on_event(m.ConnectionChanged("disconnected", 7, WALL), WALL)

    early = rules.on_tick(WALL + timedelta(seconds=119), None)
    due = rules.on_tick(WALL + timedelta(seconds=120), None)
    again = rules.on_tick(WALL + timedelta(seconds=300), None)
    back = rules.on_event(m.ConnectionChanged("connected", 7, WALL + timedelta(seconds=310)),
                          WALL + timedelta(seconds=310))

    assert early == [] and again == []
    assert [(a.kind, a.title) for a in due] == [("disconnected", "Broker disconnected")]
    assert [(a.title, a.body) for a in back] == [("Broker reconnected", "after 310s")]


def test_a_short_disconnect_sends_nothing() -> None:
    rules = AlertRules(disconnect_after_s=120)
    rules.on_event(m.ConnectionChanged("disconnected", 7, WALL), WALL)
    back = rules.on_event(m.ConnectionChanged("restored", 7, WALL + timedelta(seconds=30)), WALL)

    assert back == [] and rules.on_tick(WALL + timedelta(seconds=500), None) == []


def test_the_digest_after_the_close_sums_up_the_day_once() -> None:
    rules = AlertRules(min_interval_s=0)
    for pnl, minute in ((100.0, 0), (-150.0, 10), (80.0, 20)):
        rules.on_event(closed(pnl, ts=ny(2026, 11, 20, 11, minute)), WALL)
    rules.on_event(m.BrokerErrorReported(162, "pacing", 3, WALL), WALL)

    before = rules.on_tick(WALL, ny(2026, 11, 20, 15, 59))
    after = rules.on_tick(WALL, ny(2026, 11, 20, 16, 0))
    twice = rules.on_tick(WALL, ny(2026, 11, 20, 16, 5))

    assert before == [] and twice == []
    assert [(a.kind, a.title, a.body) for a in after] == [(
        "digest", "Daily digest 2026-11-20",
        "trades 3, P&L +30.00, win rate 67%, max drawdown 150.00, errors 1")]


@pytest.mark.parametrize(
    ("url", "shown"),
    [("tgram://123456:SECRET/987", "tgram"), ("ntfy://user:pass@ntfy.sh/topic", "ntfy"),
     ("json://127.0.0.1:8080/", "json"), ("no-scheme", "unknown")],
)
def test_only_the_scheme_of_an_alert_url_is_ever_shown(url, shown) -> None:
    assert scheme_of(url) == shown


def test_every_kind_is_documented_in_the_module() -> None:
    import bot.ops.alerts as alerts

    assert all(f"``{kind}``" in alerts.__doc__ for kind in KINDS)


def test_the_stopped_alert_names_the_mode_and_account_once_known() -> None:
    rules = AlertRules()
    assert rules.stopped("SIGTERM").body == "SIGTERM"

    rules.on_event(m.ModeDecided("paper", "DU1234567", WALL), WALL)

    assert rules.stopped("SIGTERM").body == "SIGTERM; mode paper, account DU1234567"
