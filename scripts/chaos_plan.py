"""A chaos run's plan, drawn from its seed alone: the market (seed and start time on a fixed
session day), a few bot settings, and the fault schedule on the simulated clock
(``scripts/chaos.py`` runs it). Pure: no I/O."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

NY = ZoneInfo("America/New_York")
SESSION_DAY = date(2026, 11, 18)
"""A full regular session (a Wednesday): a seed is the same market whatever today is."""
FAULTS_UNTIL = 0.8
"""Faults fire in the first 80% of a run; the rest lets the bot settle before the last check."""
GATEWAY_FAULTS = ("partial_fills", "drop_order", "cancel_lost", "socket_drop", "gateway_restart",
                  "reject", "stall_bars", "connectivity_lost", "delayed_order", "slow_snapshot")
HARNESS_FAULTS = ("bot_kill", "manual_close")
ALL_FAULTS = GATEWAY_FAULTS + HARNESS_FAULTS
BREAK = "stop_bot_and_cancel_all"
"""Not drawn: the deliberate break of the self-test (the bot killed for good, then another
client cancels every order, so the positions lose their stops and nobody can protect them)."""
WAIT_FOR_POSITION = frozenset({"bot_kill", "manual_close", BREAK})
WAIT_FOR_POSITION_S = 120.0
"""A kill or a manual trade waits up to this long (simulated) for a position to hit."""


@dataclass(frozen=True)
class Fault:
    at: float
    """Simulated seconds from the start."""
    kind: str
    args: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    seed: int
    market_seed: int
    start: datetime
    duration_s: float
    settings: dict
    faults: tuple[Fault, ...]


def plan(seed: int, minutes: float, faults_per_10min: float = 6.0,
         kinds: tuple[str, ...] = ALL_FAULTS) -> Plan:
    """Everything random about a run, drawn from the seed alone (and the kinds allowed)."""
    rng = random.Random(seed)
    duration = minutes * 60.0
    open_, close = (datetime.combine(SESSION_DAY, t, NY) for t in
                    (datetime.min.time().replace(hour=9, minute=30),
                     datetime.min.time().replace(hour=16)))
    at_close = rng.random() < 0.2
    start = (close - timedelta(seconds=duration * 0.6) if at_close
             else open_ + timedelta(minutes=rng.randint(15, 300)))
    settings = {"risk": {"max_hold_minutes": rng.choice([2, 4, 8, 20]),
                         "take_profit_pct": rng.choice([6, 15, 40]),
                         "stop_loss_pct": rng.choice([6, 15, 40]),
                         "max_open_positions": rng.choice([1, 2, 3])}}
    market_seed = rng.randrange(1, 2**31)
    rng = random.Random(seed * 1_000_003 + 1)  # faults: the market never depends on the kinds
    count = max(1, round(minutes / 10 * faults_per_10min)) if kinds else 0
    faults = []
    for _ in range(count):
        at = round(rng.uniform(0.1, FAULTS_UNTIL) * duration, 1)
        kind = rng.choice(kinds)
        args: dict[str, Any] = {}
        if kind in ("partial_fills", "stall_bars", "connectivity_lost"):
            args["for_s"] = rng.choice([30, 90, 240])
        if kind == "partial_fills":
            args["chunk"] = rng.choice([1, 2])
        if kind == "gateway_restart":
            args["down_wall_s"] = rng.choice([0.5, 1.5, 3.0])
        if kind == "bot_kill":
            args["down_s"] = rng.choice([10, 60, 180])
        if kind == "manual_close":
            args["fraction"] = rng.choice([0.5, 1.0])
        if kind == "delayed_order":
            args["request"] = rng.choice(["placeOrder", "cancelOrder"])
        if kind in ("delayed_order", "slow_snapshot"):
            args["wall_s"] = rng.choice([0.5, 2.0, 5.0])
        faults.append(Fault(at, kind, args))
    faults.sort(key=lambda f: f.at)
    return Plan(seed, market_seed, start, duration, settings, tuple(faults))


def gateway_entries(fault: Fault) -> list[dict[str, Any]]:
    """The gateway's own faults file entries for one planned fault (on the simulated clock)."""
    at, a = fault.at, fault.args

    def entry(t: float, action: str, **args: Any) -> dict[str, Any]:
        return {"at_sim_seconds": t, "action": action, "args": args}

    match fault.kind:
        case "partial_fills":
            return [entry(at, "partial_fills", on=True, chunk=a["chunk"]),
                    entry(at + a["for_s"], "partial_fills", on=False)]
        case "drop_order":  # the next order is lost; one armed loss at a time (no bursts)
            return [entry(at, "drop_next", request="placeOrder", stack=False)]
        case "cancel_lost":
            return [entry(at, "drop_next", request="cancelOrder", stack=False)]
        case "socket_drop":
            return [entry(at, "drop_all_connections")]
        case "gateway_restart":
            return [entry(at, "gateway_restart", seconds=a["down_wall_s"])]
        case "reject":
            return [entry(at, "reject_next_order", reason="chaos reject", code=201)]
        case "stall_bars":
            return [entry(at, "stall_streams"), entry(at + a["for_s"], "resume_streams")]
        case "delayed_order":
            return [entry(at, "delay_next", request=a["request"], seconds=a["wall_s"])]
        case "slow_snapshot":  # the reconnect's open-orders query answered late
            return [entry(at, "delay_next", request="reqAllOpenOrders", seconds=a["wall_s"]),
                    entry(at, "drop_all_connections")]
        case "connectivity_lost":
            return [entry(at, "connectivity", code=1100), entry(at + a["for_s"], "connectivity",
                                                                 code=1102)]
    return []

