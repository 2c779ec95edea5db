"""The BrokerActor's periodic check of invariant 3 (the rules are in ``bot/ib/verify.py``).

Actor thread only (see the One Rule in ``actors/broker/actor.py``). Every
``execution.verify_every_s`` the actor calls ``check``: the positions and orders ib_insync
already holds (no request to IB) against what the broker reported. Each difference is
published as ``ReconcileMismatch`` ``verify_<kind>`` (WARNING; the journal keeps it) and acted
on by the table's rule: a position's quantity or an order's status is published again, a
missing order is only reported. While disconnected or before this connection's snapshot the
check is skipped and says so: unknown is never read as empty, and nothing is ever cancelled,
placed or re-armed here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from actors.broker.orders import Orders
from actors.broker.requests import BrokerCore
from bot import messages as m
from bot.ib import translate as tr
from bot.ib.verify import compare


class Verifier:
    """What the broker reported about positions, and the check against ib_insync's data."""

    def __init__(self, core: BrokerCore, orders: Orders,
                 publish_position: Callable[[m.BrokerPosition], None]) -> None:
        self.core = core
        self.orders = orders
        self.publish_position = publish_position
        self.reported_positions: dict[str, float] = {}
        """Position description -> the quantity last reported (snapshot, PositionChanged)."""
        self.figures: dict[str, Any] = {"checks": 0, "mismatches": 0, "last": "not yet"}

    def check(self) -> None:
        """Compare, report and act on each drift; skipped while the answer is unknown."""
        core = self.core
        if not core.connected or not self.orders.cancels.snapshot_complete:
            why = "not connected" if not core.connected else "snapshot incomplete"
            if self.figures["last"] != f"skipped: {why}":
                core.log.info("broker_verify_skipped reason={}", why)
            self.figures["last"] = f"skipped: {why}"
            return
        held = {p.description: p for p in map(tr.broker_position, core.ib.positions())}
        drifts = compare(self.reported_positions, {k: p.quantity for k, p in held.items()},
                         self.orders.reported, self.orders.held_statuses())
        self.figures["checks"] += 1
        self.figures["mismatches"] += len(drifts)
        self.figures["last"] = f"{len(drifts)} mismatches" if drifts else "ok"
        for drift in drifts:
            core.log.warning("broker_verify_mismatch kind={} key={} detail={}", drift.kind,
                             drift.key, drift.detail)
            core.publish(m.ReconcileMismatch(f"verify_{drift.kind}", drift.key, drift.detail,
                                             core.clock()))
            if drift.kind == "position":
                gone = m.BrokerPosition(None, drift.key, 0.0, 0.0)
                self.publish_position(held.get(drift.key, gone))
            elif drift.kind in ("order_status", "order_unreported"):
                self.orders.republish(drift.key)
