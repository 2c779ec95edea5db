"""Fault injection: parsing fault files, and every fault as a real ib_insync client sees it."""

from __future__ import annotations

import json
import socket

import pytest
from ib_insync import IB, LimitOrder, MarketOrder, Stock

from bot.sim.faults import FaultInjector, ScheduledFault, load_faults, parse_faults

FROZEN = dict(tick_interval_s=30.0)


def _errors(ib) -> list[tuple[int, int, str]]:
    seen: list[tuple[int, int, str]] = []
    ib.errorEvent += lambda req_id, code, text, contract: seen.append((req_id, code, text))
    return seen


def _spy(ib):
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    return spy


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        ([{"action": "explode", "after_wall_seconds": 1}], "unknown action"),
        ([{"action": "farm_status", "args": {"code": 2103}}], "exactly one of"),
        (
            [{"action": "farm_status", "at_sim_seconds": 1, "after_wall_seconds": 1}],
            "exactly one of",
        ),
        ([{"action": "farm_status", "at_sim_seconds": 1, "when": 2}], "unknown keys"),
    ],
)
def test_bad_fault_entries_are_refused_with_the_reason(entries, problem):
    with pytest.raises(ValueError, match=problem):
        parse_faults(entries)


@pytest.mark.parametrize(
    ("fault", "sim", "wall", "due"),
    [
        (ScheduledFault("farm_status", {"code": 2103}, at_sim_seconds=60), 59.0, 100.0, False),
        (ScheduledFault("farm_status", {"code": 2103}, at_sim_seconds=60), 60.0, 0.0, True),
        (ScheduledFault("drop_all_connections", after_wall_seconds=2), 1e6, 1.9, False),
        (ScheduledFault("drop_all_connections", after_wall_seconds=2), 0.0, 2.0, True),
    ],
)
def test_scheduled_fault_is_due_on_its_own_clock(fault, sim, wall, due):
    assert fault.due(sim, wall) is due


def test_fault_files_load_from_json_and_yaml(tmp_path):
    entries = [{"after_wall_seconds": 0, "action": "connectivity", "args": {"code": 1100}}]
    (tmp_path / "f.json").write_text(json.dumps(entries))
    (tmp_path / "f.yaml").write_text(
        "- after_wall_seconds: 0\n  action: connectivity\n  args: {code: 1100}\n"
    )
    expected = [ScheduledFault("connectivity", {"code": 1100}, after_wall_seconds=0)]
    assert load_faults(tmp_path / "f.json") == expected == load_faults(tmp_path / "f.yaml")


def test_faults_file_runs_on_schedule(make_gateway, make_ib, until, tmp_path):
    path = tmp_path / "faults.json"
    path.write_text(
        json.dumps([{"at_sim_seconds": 30, "action": "farm_status", "args": {"code": 2103}}])
    )
    gateway = make_gateway(faults_file=path, speed=60.0)
    ib = make_ib(gateway)
    errors = _errors(ib)
    assert until(ib, lambda: errors, 5)  # 30 simulated seconds = 0.5 wall seconds
    assert errors == [(-1, 2103, "Market data farm connection is broken:usfarm")]


def test_drop_all_connections_disconnects_and_allows_reconnect(gateway, make_ib, until):
    ib = make_ib(gateway)
    gateway.faults.drop_all_connections()
    assert until(ib, lambda: not ib.isConnected(), 5)
    again = make_ib(gateway, client_id=1)  # the client id is free again
    assert again.isConnected()
    assert gateway.counters()["sessions.opened"] == 2


def test_refuse_connections_is_a_gateway_restart(gateway, until):
    gateway.faults.refuse_connections(0.5)
    refused = IB()
    with pytest.raises(OSError):
        refused.connect("127.0.0.1", gateway.port, clientId=3, timeout=1)
    later = IB()
    try:
        for _ in range(30):  # the listener is back after 0.5 s
            try:
                later.connect("127.0.0.1", gateway.port, clientId=3, timeout=1)
                break
            except OSError:
                later.sleep(0.1)
        assert later.isConnected()
    finally:
        later.disconnect()


@pytest.mark.parametrize(
    ("kind", "code", "text"),
    [
        ("connectivity", 1100, "Connectivity between IB and Trader Workstation has been lost."),
        (
            "connectivity",
            1101,
            "Connectivity between IB and Trader Workstation has been restored - data lost.",
        ),
        (
            "connectivity",
            1102,
            "Connectivity between IB and Trader Workstation has been restored - data maintained.",
        ),
        ("farm_status", 2103, "Market data farm connection is broken:usfarm"),
        ("farm_status", 2104, "Market data farm connection is OK:usfarm"),
        ("farm_status", 2105, "HMDS data farm connection is broken:ushmds"),
        ("farm_status", 2106, "HMDS data farm connection is OK:ushmds"),
    ],
)
def test_status_codes_reach_every_session(gateway, make_ib, until, kind, code, text):
    one, two = make_ib(gateway, 1), make_ib(gateway, 2)
    seen_one, seen_two = _errors(one), _errors(two)
    getattr(gateway.faults, kind)(code)
    assert until(one, lambda: seen_one, 5) and until(two, lambda: seen_two, 5)
    assert seen_one == seen_two == [(-1, code, text)]


def test_never_answer_silences_a_request_type_until_answer_again(gateway, ib):
    gateway.faults.never_answer("reqContractDetails")
    ib.RequestTimeout = 0.5
    with pytest.raises(TimeoutError):
        ib.qualifyContracts(Stock("SPY", "SMART", "USD"))
    gateway.faults.answer_again("reqContractDetails")
    assert ib.qualifyContracts(Stock("SPY", "SMART", "USD"))[0].conId > 0
    assert gateway.counters()["silenced.reqContractDetails"] == 1


def test_reject_next_order_with_201_and_reason(make_gateway, make_ib, until):
    gateway = make_gateway(**FROZEN)
    ib = make_ib(gateway)
    spy = _spy(ib)
    gateway.faults.reject_next_order("Order rejected - reason:insufficient buying power")
    rejected = ib.placeOrder(spy, MarketOrder("BUY", 1))
    assert until(ib, lambda: rejected.isDone(), 5)
    assert rejected.orderStatus.status == "Cancelled"
    assert any(
        e.errorCode == 201 and "insufficient buying power" in e.message for e in rejected.log
    )
    accepted = ib.placeOrder(spy, MarketOrder("BUY", 1))
    assert until(ib, lambda: accepted.isDone(), 5)
    assert accepted.orderStatus.status == "Filled"


def test_partial_fills_fill_in_chunks(make_gateway, make_ib, until):
    gateway = make_gateway(tick_interval_s=0.05, speed=1.0)
    ib = make_ib(gateway)
    spy = _spy(ib)
    gateway.faults.partial_fills(True, chunk=2)
    trade = ib.placeOrder(spy, LimitOrder("BUY", 6, round(gateway.market.quote("SPY").ask + 1, 2)))
    assert until(  # the position update is the last message of each fill
        ib, lambda: trade.isDone() and [p.position for p in ib.positions()] == [trade.filled()], 5
    )
    assert [f.execution.shares for f in trade.fills] == [2.0, 2.0, 2.0]
    assert [f.execution.cumQty for f in trade.fills] == [2.0, 4.0, 6.0]
    assert ib.positions()[0].position == 6


def test_duplicate_exec_details_sends_each_fill_twice(make_gateway, make_ib, until):
    gateway = make_gateway(**FROZEN)
    ib = make_ib(gateway)
    spy = _spy(ib)
    calls = []
    original = ib.wrapper.execDetails
    ib.wrapper.execDetails = lambda req_id, c, ex: (
        calls.append(ex.execId),
        original(req_id, c, ex),
    )
    gateway.faults.duplicate_exec_details(True)
    trade = ib.placeOrder(spy, MarketOrder("BUY", 1))
    assert until(ib, lambda: trade.isDone() and len(calls) == 2, 5)
    assert calls[0] == calls[1]
    assert len(trade.fills) == 1  # ib_insync drops the duplicate by execId


def test_hold_client_id_makes_connect_fail_with_326(gateway):
    gateway.faults.hold_client_id(9)
    blocked = IB()
    errors = _errors(blocked)
    with pytest.raises((ConnectionError, TimeoutError, OSError)):
        blocked.connect("127.0.0.1", gateway.port, clientId=9, timeout=1)
    assert [code for _, code, _ in errors] == [326]
    gateway.faults.release_client_id(9)
    freed = IB()
    try:
        freed.connect("127.0.0.1", gateway.port, clientId=9, timeout=5)
        assert freed.isConnected()
    finally:
        freed.disconnect()


def test_stall_streams_stops_quote_updates_until_resume_streams(make_gateway, make_ib, until):
    gateway = make_gateway(speed=60.0, tick_interval_s=0.05)
    ib = make_ib(gateway)
    spy = _spy(ib)
    ib.reqMktData(spy)
    assert until(ib, lambda: gateway.counters().get("stream.messages", 0) > 0, 5)

    def steps() -> int:
        return gateway.counters().get("tick.steps", 0)

    gateway.faults.stall_streams()
    before = steps()
    assert until(ib, lambda: steps() >= before + 2, 5)  # a step under way has ended
    stalled = gateway.counters()["stream.messages"]
    assert until(ib, lambda: steps() >= before + 10, 5)
    during = gateway.counters()["stream.messages"] - stalled
    gateway.faults.resume_streams()
    resumed = until(ib, lambda: gateway.counters()["stream.messages"] > stalled, 5)

    assert (during, resumed) == (0, True)


def test_gateway_restart_drops_every_session_and_refuses_connections_for_a_while(
    gateway, make_ib, until
):
    ib = make_ib(gateway)

    gateway.faults.gateway_restart(0.5)

    assert until(ib, lambda: not ib.isConnected(), 5)
    refused = IB()
    with pytest.raises(OSError):
        refused.connect("127.0.0.1", gateway.port, clientId=3, timeout=1)
    assert gateway.counters()["faults.drop_all"] == gateway.counters()["faults.refuse"] == 1


def test_hang_up_connections_accepts_then_closes_before_the_handshake(gateway):
    gateway.faults.hang_up_connections(30.0)

    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5.0) as sock:
        sock.sendall(b"API\0" + len(b"v100..176").to_bytes(4, "big") + b"v100..176")
        try:
            answer = sock.recv(1024)
        except ConnectionResetError:
            answer = b""

    assert answer == b""  # accepted, then closed unanswered
    assert gateway.counters()["faults.hang_up"] == 1
    assert gateway.counters()["sessions.refused"] == 1


def test_delay_next_holds_a_request_and_the_clients_requests_behind_it(gateway, ib):
    spy = Stock("SPY", "SMART", "USD")
    gateway.faults.delay_next("reqContractDetails", 1.0)
    ib.RequestTimeout = 0.3

    with pytest.raises(TimeoutError):  # not answered within 0.3 s: it waits for 1 s
        ib.qualifyContracts(spy)
    ib.RequestTimeout = 5.0
    again = ib.qualifyContracts(Stock("QQQ", "SMART", "USD"))  # queued behind the held one

    assert again[0].conId > 0
    assert gateway.counters()["delayed.reqContractDetails"] == 1
    assert gateway.counters()["req.reqContractDetails"] == 2  # both answered, in order


class _Recorder:
    """A stand-in gateway for the injector: records the faults it is asked to apply; the
    first drop of all connections fails, as it would on a gateway that is stopping."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def fault_drop_all(self) -> None:
        self.calls.append(("drop_all",))
        if len(self.calls) == 1:
            raise ConnectionError("gateway stopping")

    def fault_refuse(self, seconds: float) -> None:
        self.calls.append(("refuse", seconds))

    def fault_hang_up(self, seconds: float) -> None:
        self.calls.append(("hang_up", seconds))


def test_faults_due_at_the_same_moment_are_all_applied_even_when_one_fails():
    target = _Recorder()
    injector = FaultInjector(target)
    injector.schedule([
        ScheduledFault("drop_all_connections", {}, at_sim_seconds=10.0),
        ScheduledFault("drop_all_connections", {}, at_sim_seconds=10.0),
        ScheduledFault("refuse_connections", {"seconds": 5.0}, at_sim_seconds=10.0),
        ScheduledFault("refuse_connections", {"seconds": 9.0}, at_sim_seconds=20.0),
    ])

    ran = injector.run_due(sim_elapsed=10.0, wall_elapsed=0.0)

    assert [f.action for f in ran] == ["drop_all_connections", "drop_all_connections",
                                       "refuse_connections"]
    assert target.calls == [("drop_all",), ("drop_all",), ("refuse", 5.0)]
    assert [f.action for f in injector.run_due(20.0, 0.0)] == ["refuse_connections"]


@pytest.mark.parametrize(("stack", "lost"), [(True, 3), (False, 1)])
def test_drop_next_adds_up_losses_unless_told_not_to_stack(stack, lost):
    faults = FaultInjector()
    for _ in range(3):  # three glitches fire while no order is sent
        faults.drop_next("placeOrder", stack=stack)

    silenced = [faults.is_silenced("placeOrder") for _ in range(4)]

    assert silenced == [True] * lost + [False] * (4 - lost)
