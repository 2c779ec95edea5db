"""The chaos harness (``scripts/chaos.py``) on a few fixed seeds, through the script's own code:
it can fail (a deliberate break is detected), it runs the whole bot under faults, and the
current bot's violations on those seeds are stated."""

from __future__ import annotations

import inspect
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import chaos  # noqa: E402

from bot.sim.faults import FaultInjector  # noqa: E402
from bot.trading.invariants import NO_OVERSELL, PROTECTED  # noqa: E402

SPEED = 60.0
WIDE_EXITS = {"risk": {"take_profit_pct": 300, "stop_loss_pct": 90, "max_hold_minutes": 390}}
"""Positions that stay open, so a fault aimed at one finds one."""


def run(seed: int, tmp_path: Path, minutes: float, **kw) -> chaos.RunResult:
    """One seed, its gateway under strict pacing (as every bot the tests start)."""
    result = chaos.run_seed(seed, minutes, SPEED, tmp_path, wall_grace=1.0, pacing="strict", **kw)
    assert result.pacing_violations == 0
    return result


def test_a_seed_is_the_same_market_and_the_same_fault_schedule_every_time():
    first, again, other = chaos.plan(7, 10), chaos.plan(7, 10), chaos.plan(8, 10)
    managed = chaos.plan(7, 10, kinds=("manual_close",))

    assert first == again and first != other
    assert first.faults and all(0 < f.at <= 0.8 * 600 for f in first.faults)
    assert (managed.market_seed, managed.start) == (first.market_seed, first.start)
    assert {f.kind for f in managed.faults} == {"manual_close"}


def test_each_gateway_fault_becomes_scheduled_gateway_actions():
    for kind in chaos.GATEWAY_FAULTS:
        fault = next(f for s in range(1, 200) for f in chaos.plan(s, 30).faults if f.kind == kind)
        entries = chaos.gateway_entries(fault)
        assert entries and all(e["at_sim_seconds"] >= fault.at for e in entries), kind
        for scheduled in chaos.parse_faults(entries):  # an action the injector has...
            method = getattr(FaultInjector, scheduled.action)
            inspect.signature(method).bind(None, **scheduled.args)  # ...taking these arguments


def test_the_harness_detects_a_position_left_without_its_stop_while_the_bot_is_stopped(tmp_path):
    stop_and_cancel = chaos.Fault(60.0, chaos.BREAK)

    # 12 simulated minutes (12 s here): the break waits for the first position, and on a busy
    # machine the bot's start-up alone can take several market minutes at 60x
    result = run(4, tmp_path, minutes=12, kinds=(), extra=(stop_and_cancel,), settings=WIDE_EXITS)

    assert any("manual_global_cancel" in line for line in result.faults), result.faults
    assert result.by_invariant[PROTECTED] >= 1, result.faults
    found = next(v for v in result.violations if v.invariant == PROTECTED)
    assert "stop_or_close_covers=0" in found.detail


@pytest.mark.parametrize("seed", [13, 19])
def test_a_chaos_run_drives_the_whole_bot_through_its_faults_and_reports(seed, tmp_path, capsys):
    result = run(seed, tmp_path, minutes=10)  # time to trade even when start-up is slow
    report = chaos.summary([result])

    with capsys.disabled():
        print(f"\nchaos seed {seed}: {report['violations']} violations "
              f"{report['by_invariant']} faults={result.faults}")
    # Orders, not fills: whether a limit entry fills within ten simulated minutes depends on
    # where the wall clock puts the bot in the seed's market (about half of all chaos runs see
    # no fill), so asking for fills failed a fresh-clone CI rehearsal (seed 13: 9 orders, 0 fills).
    assert result.orders_placed > 0
    assert result.faults, "the seed's faults fired"
    assert report["runs"] == 1 and report["violations"] == len(result.violations)
    assert (report["first_failure"] is None) == (not result.violations)


def test_a_manual_close_by_another_client_leaves_no_violation(tmp_path):
    result = run(6, tmp_path, minutes=10, kinds=("manual_close",), settings=WIDE_EXITS)

    assert any("manual_sell" in line and "Filled" in line for line in result.faults)
    assert result.violations == [], [v.detail for v in result.violations]
    assert result.by_invariant[NO_OVERSELL] == 0


class _Session:
    def __init__(self, port: int, client_id: int = 17, closed: bool = False,
                 holding: bool = False) -> None:
        self.peer, self.client_id, self.closed = f"127.0.0.1:{port}", client_id, closed
        self.holding = holding


class _Gateway:
    def __init__(self, *sessions: _Session) -> None:
        self.sessions = set(sessions)


def test_a_session_a_killed_bot_left_at_the_gateway_is_not_the_running_bot_connected():
    stale = chaos.BrokerObserver(_Gateway(_Session(41000)))  # the gateway has not noticed yet
    current = chaos.BrokerObserver(_Gateway(_Session(41000), _Session(41002)))

    assert not stale.bot_connected(frozenset({41002}))
    assert current.bot_connected(frozenset({41002}))
    assert not current.bot_connected(frozenset())  # the bot is not running
    held = chaos.BrokerObserver(_Gateway(_Session(41002, holding=True)))
    assert not held.bot_connected(frozenset({41002}))  # its requests are held: it cannot act


def test_the_bot_knows_the_brokers_state_only_from_its_own_heartbeat_after_the_connect(tmp_path):
    beat = tmp_path / "heartbeat.json"
    view = chaos.BotObserver(tmp_path / "journal.sqlite3", beat)

    def write(pid: int, ts: str, state: str = "connected", snapshot: str = "published") -> None:
        beat.write_text(json.dumps({"pid": pid, "ts": ts,
                                    "broker": {"state": state, "snapshot": snapshot}}))

    connected_at = datetime(2026, 12, 3, 14, 0, tzinfo=UTC).timestamp()
    write(7, "2026-12-03T14:00:01+00:00")
    assert view.knows_broker(7, connected_at)
    assert not view.knows_broker(8, connected_at)  # another (earlier) process's heartbeat
    write(7, "2026-12-03T13:59:59+00:00")
    assert not view.knows_broker(7, connected_at)  # written before this connect
    write(7, "2026-12-03T14:00:01+00:00", snapshot="asking")
    assert not view.knows_broker(7, connected_at)
    write(7, "2026-12-03T14:00:01+00:00", state="restored")  # IB's 1102: linked again
    assert view.knows_broker(7, connected_at)
    for state in ("disconnected", "stale"):
        write(7, "2026-12-03T14:00:01+00:00", state=state)
        assert not view.knows_broker(7, connected_at)


def test_the_bots_view_is_what_its_execution_actor_reports_when_its_heartbeat_is_fresh(tmp_path):
    from pure_helpers import RECOVERED_CONTRACT, RECOVERED_INTENT

    from bot import messages as m
    from bot.journal.write import Journal

    # Arrange: the journal holds the intent (con_id 42) with a fill of 10; the bot's execution
    # actor holds 5 of it (sold outside while it was down) and knows only its stop as working
    at = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    journal = Journal(tmp_path / "journal-paper.sqlite3")
    journal.record(m.EntryApproved("c1", RECOVERED_INTENT, "SPY", RECOVERED_CONTRACT, 10, 1.6, at), at)
    journal.record(m.OrderFilled("c1", f"{RECOVERED_INTENT}.entry", "e1", RECOVERED_CONTRACT,
                                 m.Side.BUY, 10.0, 1.6, at), at)
    journal.record(m.PositionOpened("c1", RECOVERED_INTENT, "SPY", RECOVERED_CONTRACT, 10.0, 1.6,
                                    at), at)
    journal.close()
    view = chaos.BotObserver(tmp_path / "journal-paper.sqlite3", tmp_path / "heartbeat.json")
    beat = {"held": {RECOVERED_INTENT: 5.0}, "working_refs": [f"{RECOVERED_INTENT}.sl1"]}

    # Act
    from_beat, from_journal = view.view(True, beat), view.view(True)

    # Assert
    assert (dict(from_beat.positions), from_beat.working_refs) == (
        {42: 5.0}, frozenset({f"{RECOVERED_INTENT}.sl1"}))
    assert dict(from_journal.positions) == {42: 10.0}


class _Bot:
    """The running bot process as BotPresence sees it: its pid and its sockets' ports."""

    def __init__(self, pid: int, port: int, running: bool = True) -> None:
        self.pid, self.running, self._ports = pid, running, frozenset({port})

    def local_ports(self) -> frozenset[int]:
        return self._ports


def test_the_bots_alarm_counts_while_the_gateway_holds_its_requests(tmp_path):
    # Arrange: the bot's session is up but held by a delay fault (it cannot act, has no view);
    # its heartbeat, written just now, lists an unprotected position
    beat = tmp_path / "heartbeat.json"
    beat.write_text(json.dumps({"pid": 7, "ts": datetime.now(UTC).isoformat(),
                                "unprotected_position": ["SPY-1.x"]}))
    view = chaos.BotObserver(tmp_path / "journal.sqlite3", beat)
    held = chaos.BrokerObserver(_Gateway(_Session(41002, holding=True)))

    # Act
    running = chaos.BotPresence(held, view, _Bot(7, 41002))
    bot_view = running.observe(100.0)
    dead = chaos.BotPresence(held, view, _Bot(7, 41002, running=False))
    dead.observe(100.0)

    # Assert: no view, but the alarm of the running process; a dead process's beat is none
    assert (bot_view, running.acting, running.alarmed) == (None, False, True)
    assert dead.alarmed is False
