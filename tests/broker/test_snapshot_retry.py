"""The broker snapshot after a connect is complete, or it is not published at all.

IB answers reqAllOpenOrders late after its daily restart. A snapshot built without that answer
would tell the journal that orders resting at IB are gone (it would resend their intents), so
the broker asks again and publishes only a complete answer; while it has none, risk approves no
entry. Faults come from the simulator: ``drop_next`` swallows the next N requests of a name,
``never_answer`` / ``answer_again`` silence one until told.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest
from actor_harness import ProbedDirectory
from broker_harness import Probe, barrier, bracket, make_settings, near_the_money

from actors.broker.actor import SNAPSHOT_FAILED_CODE, BrokerActor
from actors.journal import JournalActor
from actors.risk import RiskActor
from bot import messages as m
from bot.app.config import Settings
from bot.app.routing import EXECUTION, HEALTH, SUPERVISOR
from bot.ib.reconnect import SnapshotRetry
from bot.sim.server import SimGateway

ALL_OPEN_ORDERS = "reqAllOpenOrders"
FAST = {"request_timeout_s": 1.5, "circuit_failures": 100}
"""Attempts time out quickly; the circuit stays closed so every retry reaches the gateway."""
CONTRACT = m.OptionContract("SPY", "20261120", 598.0, m.Right.CALL)
WAIT_S = 20.0


def is_all_open_orders_timeout(event: Any) -> bool:
    return isinstance(event, m.RequestTimedOut) and event.request == ALL_OPEN_ORDERS


def is_snapshot_failure(event: Any) -> bool:
    return isinstance(event, m.BrokerErrorReported) and event.code == SNAPSHOT_FAILED_CODE


@pytest.mark.parametrize(
    ("failures", "delay_s", "gave_up"),
    [(1, 0.1, False), (2, 0.2, False), (3, 0.5, True), (4, 0.5, False), (40, 0.5, False)],
)
def test_retry_doubles_for_the_quick_attempts_reports_once_then_asks_slowly(
    failures: int, delay_s: float, gave_up: bool
) -> None:
    retry = SnapshotRetry(min_s=0.1, max_s=0.5, attempts=3)

    assert (retry.delay(failures), retry.gave_up(failures)) == (pytest.approx(delay_s), gave_up)


def test_a_dropped_answer_is_asked_again_and_one_complete_snapshot_is_published(gateway, broker):
    # Arrange: a first session leaves a bracket's exits resting at IB, then goes away
    gw = gateway(speed=1.0)
    first, probe = broker(gw, kind="ib", dry_run=False, client_id=17, symbols=("SPY",))
    probe.expect(m.BrokerSnapshot, timeout=10)  # its own request is answered: the fault is not
    option = near_the_money(gw, "SPY")
    ask = gw.market.option_quote(gw.contracts.by_con_id(option.con_id)).ask
    first.tell(
        bracket("I1", option, entry=round(ask + 0.5, 2), take_profit=round(ask * 3, 2), stop=0.01)
    )
    probe.expect(m.OrderFilled, lambda e: e.client_order_id == "I1-entry", timeout=10)
    probe.expect(m.OrderStatusChanged, lambda e: e.client_order_id == "I1-stop", timeout=10)
    first.stop(timeout=10)
    gw.faults.drop_next(ALL_OPEN_ORDERS)

    # Act: the restarted bot, under another client id, sees those orders only via reqAllOpenOrders
    second, again = broker(gw, kind="ib", dry_run=False, client_id=18, symbols=("SPY",), **FAST)
    snapshot = again.expect(m.BrokerSnapshot, timeout=WAIT_S)
    barrier(second, again, "SPY")
    again.drain()

    # Assert: one timeout, then one snapshot, holding the resting exits
    assert len(again.of(m.BrokerSnapshot)) == 1
    timeouts = [e for e in again.history if is_all_open_orders_timeout(e)]
    assert len(timeouts) == 1
    assert again.history.index(timeouts[0]) < again.history.index(snapshot)
    working = {o.client_order_id for o in snapshot.orders if o.status not in m.DONE_STATUSES}
    assert (snapshot.first, working) == (True, {"I1-tp", "I1-stop"})
    counters = gw.counters()
    assert (counters[f"silenced.{ALL_OPEN_ORDERS}"], counters[f"req.{ALL_OPEN_ORDERS}"]) == (1, 3)


# -- with the journal and risk: no entry on an unreconciled state ------------------------------


class System:
    """The real broker, journal and risk on the simulator; a probe hears every published event
    and stands in for execution, health, the supervisor and the strategies."""

    def __init__(self, gw: SimGateway, settings: Settings) -> None:
        self.gw = gw
        self.probe = Probe()
        self.directory = ProbedDirectory(self.probe)
        for role in (EXECUTION, HEALTH, SUPERVISOR):
            self.directory.register(role, self.probe)
        self.directory.register_strategy("SPY", self.probe)
        self.refs = [
            JournalActor.start(self.directory, settings),
            RiskActor.start(self.directory, settings, tick_s=None, needs_journal=True),
            BrokerActor.start(
                self.directory, settings, host="127.0.0.1", port=gw.port, rng_seed=5
            ),
        ]

    def propose(self, intent_id: str) -> Any:
        """Propose an entry to risk, stamped with the gateway's market time (a time of day the
        session is open, whenever the test runs); its answer (EntryApproved or EntryDenied)."""
        proposal = m.EntryProposed(
            f"c-{intent_id}", intent_id, "SPY", m.Direction.CALL, CONTRACT, 1.60, 1.55, 1.60,
            self.gw.clock.now(),
        )
        self.directory.publish(proposal)
        return self.probe.expect(
            object,
            lambda e: isinstance(e, m.EntryApproved | m.EntryDenied) and e.intent_id == intent_id,
        )


@pytest.fixture
def system(tmp_path: Path) -> Iterator[Callable[[SimGateway], System]]:
    started: list[System] = []

    def start(gw: SimGateway) -> System:
        settings = make_settings(("SPY",), kind="ib", dry_run=False, **FAST)
        settings = settings.model_copy(
            update={
                "journal": settings.journal.model_copy(update={"dir": tmp_path / "data"}),
                "risk": settings.risk.model_copy(update={"kill_switch_path": tmp_path / "KILL"}),
            }
        )
        started.append(System(gw, settings))
        return started[-1]

    yield start
    for running in started:
        for ref in reversed(running.refs):
            try:
                ref.stop(timeout=10)
            except pykka.ActorDeadError:
                pass


def test_every_attempt_failing_publishes_no_snapshot_and_entries_wait_until_one_succeeds(
    gateway, system
):
    # Arrange: IB never answers reqAllOpenOrders
    gw = gateway()
    gw.faults.never_answer(ALL_OPEN_ORDERS)

    # Act
    bot = system(gw)
    failure = bot.probe.expect(object, is_snapshot_failure, timeout=WAIT_S)
    bot.probe.expect(m.AccountUpdated)
    denied = bot.propose("SPY-1")

    # Assert: three attempts, then the failure; no snapshot, no entry
    before = bot.probe.history[: bot.probe.history.index(failure)]
    assert len([e for e in before if is_all_open_orders_timeout(e)]) == 3
    assert "reqAllOpenOrders unanswered 3 times" in failure.message
    assert isinstance(denied, m.EntryDenied)
    assert denied.reason == "restart reconciliation not finished"
    bot.probe.drain()
    assert bot.probe.of(m.BrokerSnapshot) == []

    # Act: IB answers again; the slow retry completes the snapshot
    gw.faults.answer_again(ALL_OPEN_ORDERS)
    snapshot = bot.probe.expect(m.BrokerSnapshot, timeout=WAIT_S)
    bot.probe.expect(m.ReconcileFinished, lambda e: e.first, timeout=10)

    # Assert: the first published snapshot is the first one, and entries pass
    assert snapshot.first
    assert isinstance(bot.propose("SPY-2"), m.EntryApproved)


def test_after_a_reconnect_entries_wait_for_the_new_snapshot_to_be_reconciled(gateway, system):
    # Arrange: connected, reconciled, entries allowed
    gw = gateway()
    bot = system(gw)
    bot.probe.expect(m.ReconcileFinished, lambda e: e.first, timeout=WAIT_S)
    bot.probe.expect(m.AccountUpdated)

    # Act: the gateway restarts and is slow to list the open orders afterwards
    gw.faults.never_answer(ALL_OPEN_ORDERS)
    gw.faults.drop_all_connections()
    bot.probe.expect(m.ConnectionChanged, lambda e: e.reason == "reconnected", timeout=WAIT_S)
    bot.probe.expect(object, is_snapshot_failure, timeout=WAIT_S)
    denied = bot.propose("SPY-1")

    # Assert: no new snapshot, and risk (ready since the first reconciliation) denies
    assert isinstance(denied, m.EntryDenied)
    assert denied.reason == "broker state not reconciled since the reconnect"
    bot.probe.drain()
    assert [s.first for s in bot.probe.of(m.BrokerSnapshot)] == [True]

    # Act: IB answers again
    gw.faults.answer_again(ALL_OPEN_ORDERS)
    bot.probe.expect(m.BrokerSnapshot, lambda s: not s.first, timeout=WAIT_S)
    bot.probe.expect(m.ReconcileFinished, lambda e: not e.first, timeout=10)

    # Assert: reconciled again, entries pass
    assert isinstance(bot.propose("SPY-2"), m.EntryApproved)
