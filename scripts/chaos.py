"""Chaos harness: the complete bot against the simulated gateway under seeded random faults,
judged by the money-safety invariants (``bot/trading/invariants.py``) after every observed
change and at the end.

    python scripts/chaos.py --seeds 20 --minutes 10              # seeds 1..20
    python scripts/chaos.py --seeds 200 --seed-base 5000 --minutes 30
    python scripts/chaos.py --seed 17 --minutes 10 --keep         # one seed again, logs kept

Per seed: the gateway runs in this process (``SimGateway``, a market from the seed, starting at
a fixed session day so a seed means the same market on any date), the bot runs as
``python -m bot`` (broker.kind ib, dry_run off, the sim's paper account) and a fault schedule
drawn from the seed fires on the simulated clock: partial fills, a dropped order, a lost
cancel, a delayed order or cancel, a socket drop whose reconnect's open-orders query is answered
late, a socket drop, a gateway restart, a reject, stalled bars and quotes, IB connectivity
lost, a bot SIGKILL and restart, a manual trade by another client, and (some seeds) the clock
running into the close. A dropped order or lost cancel is lost with the next such request the
bot sends; a loss already armed is not added to, so glitches that fire minutes apart while the
bot sends nothing never become one burst of consecutive losses. The harness reads the
broker's positions, working orders and executions in-process and the bot's view from its
journal and heartbeat every ``POLL_S`` wall seconds and judges each snapshot that differs
from the previous one (and every second anyway, for the grace periods).

Grace periods are market seconds: 5 to protect a position (``protect_within_s``) and 30 for
the views to agree and an excess exit or a short to go (``verify_every_s``), but never less
than ``--wall-grace`` (1) and 3 x ``--wall-grace`` wall seconds times the speed: at 60x a wall
second is a market minute, and the bot's reactions take wall time. The bot's own order
timeouts are scaled down by the speed for the same reason (``chaos_observe.bot_settings``). A
grace period is never over before the bot has had it in full since its last (re)connect (see
``InvariantChecker.observe``).

Prints one JSON line: ``{"runs", "violations", "by_invariant", "first_failure", ...}``; exit 0
only with 0 violations (2 when a run could not be judged: the bot refused to start, or the
harness itself failed; ``harness_errors`` names the seed). ``1_alarmed`` (a
position unprotected past the grace period while the bot itself reports
``unprotected_position``: the stated, alarmed state invariant 1 allows) is listed in
``by_invariant`` and as ``alarmed`` but not counted as a violation.
Per-run lines go to stderr. A failing seed is reproducible with
``--seed S`` (same market, same faults at the same simulated times). The simulated clock runs
on the wall clock and the bot's reactions are wall-clock work, so a rerun's orders can land a
market second or two apart and a fault aimed at "the next order" can hit another one: a
failing seed fails again often, not always; ``--seed S --repeat 5`` shows how often.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chaos_observe import (  # noqa: E402
    NO_RESTART_CODES,
    REPO,
    BotObserver,
    BotPresence,
    BotProcess,
    BrokerObserver,
    ManualClient,
    bot_settings,
)
from chaos_plan import (  # noqa: E402
    ALL_FAULTS,
    BREAK,
    GATEWAY_FAULTS,
    WAIT_FOR_POSITION,
    WAIT_FOR_POSITION_S,
    Fault,
    Plan,
    gateway_entries,
    plan,
)

from bot.sim.faults import parse_faults  # noqa: E402
from bot.sim.server import GatewayOptions, SimGateway  # noqa: E402
from bot.trading.invariants import (  # noqa: E402
    ALARMED,
    INVARIANTS,
    InvariantChecker,
    Violation,
)

SYMBOLS = ("SPY", "QQQ", "IWM", "AAPL", "MSFT", "NVDA")
PROTECT_WITHIN_S = 5.0
VERIFY_EVERY_S = 30.0
SETTLE_WALL_FACTOR = 3.0
"""The settle grace is this many wall graces: above the bot's own (scaled) one-second order
timeouts plus its timer period, so the bot's timeouts resolve an unknown order first."""
LEARN_WALL_S = 10.0
"""How long a connected bot may go without the broker's snapshot (its view unknown): twice the
longest answer a fault delays (5 wall seconds), so the bot's own retries have time to land."""
POLL_S = 0.1
JUDGE_EVERY_S = 0.25
_PACE = threading.Event()  # never set: its wait paces the polls


@dataclass
class RunResult:
    seed: int
    violations: list[Violation]
    by_invariant: dict[str, int]
    faults: list[str]
    bot_exits: list[int]
    orders_placed: int
    fills: int
    wall_s: float
    workdir: str
    pacing_violations: int = 0


class Run:
    """One seed: gateway, bot, faults, observation, judgement."""

    def __init__(self, p: Plan, speed: float, workdir: Path, wall_grace: float,
                 extra: tuple[Fault, ...] = (), pacing: str = "ib") -> None:
        self.plan = p
        self.speed = speed
        self.pacing = pacing
        self.tmp = workdir
        self.extra = extra
        self.checker = InvariantChecker(max(PROTECT_WITHIN_S, wall_grace * speed),
                                        max(VERIFY_EVERY_S, SETTLE_WALL_FACTOR * wall_grace * speed),
                                        LEARN_WALL_S * speed)
        self.log: list[str] = []
        self.events: list[str] = []
        """Fills and violations in the order seen, written to ``events.log`` for diagnosis."""

    def execute(self) -> RunResult:
        wall0 = time.monotonic()
        p = self.plan
        gw = SimGateway(GatewayOptions(host="127.0.0.1", port=0, seed=p.market_seed,
                                       speed=self.speed, start=p.start,
                                       symbols=SYMBOLS, pacing=self.pacing,
                                       tick_interval_s=0.1))
        faults = sorted(p.faults + self.extra, key=lambda f: f.at)
        gw.faults.schedule(parse_faults([e for f in faults for e in gateway_entries(f)]))
        port = gw.start()
        settings = {"symbols": list(SYMBOLS), **p.settings}
        bot = BotProcess(self.tmp, bot_settings(self.tmp, port, self.speed, **settings))
        try:
            self._drive(gw, bot, [f for f in faults if f.kind not in GATEWAY_FAULTS])
        finally:
            bot.stop()
            gw.stop()
        counters = gw.counters()
        self.log += [f"{f.at:g}s {f.kind} {f.args}" for f in faults if f.kind in GATEWAY_FAULTS]
        self.log.sort(key=lambda s: float(s.split("s ")[0]))
        (self.tmp / "events.log").write_text("\n".join(sorted(
            self.events + self.log, key=lambda s: float(s.split("s ")[0]))) + "\n")
        return RunResult(p.seed, self.checker.violations, self.checker.by_invariant(),
                         list(self.log), bot.exits,
                         counters.get("orders.placed", 0), counters.get("orders.executions", 0),
                         round(time.monotonic() - wall0, 1), str(self.tmp),
                         gw.pacing_violations())

    def _drive(self, gw: SimGateway, bot: BotProcess, harness_faults: list[Fault]) -> None:
        broker = BrokerObserver(gw)
        view = BotObserver(bot.journal, bot.heartbeat)
        manual = ManualClient(gw.port)
        pending = list(harness_faults)
        restart_at: float | None = None
        presence = BotPresence(broker, view, bot)
        last_key, last_judged = None, -1e9
        bot.start()
        wall_limit = time.monotonic() + self.plan.duration_s / self.speed + 120
        while (now := self._elapsed(gw)) < self.plan.duration_s:
            if time.monotonic() > wall_limit:
                self.log.append(f"{now:g}s harness wall limit reached")
                break
            _PACE.wait(POLL_S)
            while pending and pending[0].at <= now:
                fault = pending[0]
                patience = self.plan.duration_s if fault.kind == BREAK else WAIT_FOR_POSITION_S
                if (fault.kind in WAIT_FOR_POSITION and not broker.long_positions()
                        and now < fault.at + patience):
                    break  # aimed at a held position: wait for one (a while)
                pending.pop(0)
                restart_at = self._harness_fault(fault, now, bot, broker, manual, restart_at)
            if restart_at is not None and now >= restart_at:
                restart_at = None
                bot.start()
            code = bot.exited_by_itself()
            if code is not None:
                self.log.append(f"{now:g}s bot exited by itself code={code}\n{bot.tail()}")
                if code not in NO_RESTART_CODES:
                    bot.start()  # systemd's Restart=on-failure
            now = self._elapsed(gw)  # a harness fault may have taken wall seconds (a manual trade)
            snap = broker.snapshot(presence.observe(now), presence.alarmed)
            self.events += presence.changes
            presence.changes.clear()
            for fill in broker.new_fills:
                self.events.append(f"{now:.1f}s fill {fill.ref or '-'} con_id={fill.con_id} "
                                   f"{fill.side} {fill.qty:g} position_now="
                                   f"{snap.positions.get(fill.con_id, 0):g}")
            key = repr((snap.positions, snap.orders, len(snap.fills), snap.bot, snap.alarmed))
            if key != last_key or now - last_judged >= JUDGE_EVERY_S * self.speed:
                for v in self.checker.observe(snap, now, *presence.since, presence.acting):
                    self.events.append(f"{now:.1f}s VIOLATION {v.invariant} {v.key}: {v.detail}")
                last_key, last_judged = key, now
        now = self._elapsed(gw)
        self.checker.observe(broker.snapshot(presence.observe(now), presence.alarmed), now,
                             *presence.since, presence.acting)

    def _harness_fault(self, fault: Fault, now: float, bot: BotProcess, broker: BrokerObserver,
                       manual: ManualClient, restart_at: float | None) -> float | None:
        if fault.kind == "bot_kill":
            if bot.running:
                bot.kill()
                self.log.append(f"{now:g}s bot_kill (restart after {fault.args['down_s']}s)")
                return now + fault.args["down_s"]
            return restart_at
        if fault.kind == "manual_close":
            longs = broker.long_positions()
            if not longs:
                self.log.append(f"{now:g}s manual_close: nothing held")
                return restart_at
            con_id, qty = longs[0]
            sell = max(1, int(qty * fault.args["fraction"]))
            self.log.append(f"{now:g}s {manual.sell(con_id, sell)}")
            return restart_at
        if fault.kind == BREAK:
            bot.kill()
            self.log.append(f"{now:g}s bot stopped; {manual.cancel_everything()}")
            return None
        raise ValueError(f"unknown harness fault {fault.kind}")

    @staticmethod
    def _elapsed(gw: SimGateway) -> float:
        return (gw.clock.now() - gw.epoch).total_seconds()


def run_seed(seed: int, minutes: float, speed: float, out: Path | None, wall_grace: float,
             extra: tuple[Fault, ...] = (), kinds: tuple[str, ...] = ALL_FAULTS,
             settings: dict[str, Any] | None = None, pacing: str = "ib") -> RunResult:
    """Run one seed in a fresh directory (under ``out`` if given, else a temporary one that is
    removed unless the run found a violation). ``extra`` faults are added to the seed's,
    ``settings`` sections are merged over the seed's bot settings; ``pacing`` is the
    gateway's historical pacing (the tests run ``strict``)."""
    base = out if out is not None else Path(tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"chaos-seed{seed}-", dir=base))
    p = plan(seed, minutes, kinds=kinds)
    if settings:
        merged = {k: {**p.settings.get(k, {}), **v} if isinstance(v, dict) else v
                  for k, v in settings.items()}
        p = replace(p, settings={**p.settings, **merged})
    result = Run(p, speed, workdir, wall_grace, extra, pacing).execute()
    refused = set(result.bot_exits) & set(NO_RESTART_CODES)  # kept: why it would not start
    if out is None and not result.violations and not refused:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def summary(results: list[RunResult]) -> dict[str, Any]:
    by = dict.fromkeys(INVARIANTS, 0)
    for r in results:
        for k, v in r.by_invariant.items():
            by[k] += v
    failing = [r for r in results if any(v.invariant != ALARMED for v in r.violations)]
    first = None
    if failing:
        v = next(v for v in failing[0].violations if v.invariant != ALARMED)
        first = {"seed": failing[0].seed, "invariant": v.invariant, "detail": v.detail,
                 "at_sim_s": round(v.at, 1), "workdir": failing[0].workdir}
    violations = sum(n for k, n in by.items() if k != ALARMED)
    return {"runs": len(results), "violations": violations, "by_invariant": by,
            "alarmed": by[ALARMED],
            "first_failure": first, "failing_seeds": [r.seed for r in failing],
            "orders_placed": sum(r.orders_placed for r in results),
            "fills": sum(r.fills for r in results),
            "runs_without_fills": sum(1 for r in results if not r.fills),
            "bot_crashes": sum(1 for r in results for c in r.bot_exits if c > 0),
            "bot_refused": sum(1 for r in results if set(r.bot_exits) & set(NO_RESTART_CODES))}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=20, help="how many seeds to run")
    p.add_argument("--seed-base", type=int, default=1, help="the first seed (default 1)")
    p.add_argument("--seed", type=int, default=None, help="run this one seed only")
    p.add_argument("--repeat", type=int, default=1,
                   help="run each seed this many times (a seed's market and faults repeat "
                        "exactly; the bot's wall-clock reactions do not)")
    p.add_argument("--minutes", type=float, default=10.0, help="simulated minutes per run")
    p.add_argument("--speed", type=float, default=60.0, help="simulated seconds per wall second")
    p.add_argument("--wall-grace", type=float, default=1.0,
                   help="grace periods are at least this many wall seconds (default 1)")
    p.add_argument("--only", default=None, metavar="KIND[,KIND]",
                   help=f"draw faults of these kinds only ({', '.join(ALL_FAULTS)}), or "
                        "none: the baseline without faults")
    p.add_argument("--pacing", choices=("ib", "strict"), default="ib",
                   help="the gateway's historical pacing (default ib; the tests run strict)")
    p.add_argument("--keep", action="store_true",
                   help=f"keep every run's directory under {REPO / 'logs' / 'chaos'}")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so each run's finally stops its bot
    from loguru import logger

    logger.remove()  # the in-process gateway's lines would drown the report
    seeds = [args.seed] if args.seed is not None else list(
        range(args.seed_base, args.seed_base + args.seeds))
    seeds = [s for s in seeds for _ in range(max(1, args.repeat))]
    kinds = ALL_FAULTS if not args.only else () if args.only == "none" else tuple(
        args.only.split(","))
    if unknown := set(kinds) - set(ALL_FAULTS):
        print(f"chaos: unknown fault kinds {sorted(unknown)}", file=sys.stderr)
        return 2
    out = REPO / "logs" / "chaos" / datetime.now().strftime("%Y%m%d-%H%M%S") if args.keep else None
    results, errors = [], []
    for seed in seeds:
        try:
            r = run_seed(seed, args.minutes, args.speed, out, args.wall_grace, kinds=kinds,
                         pacing=args.pacing)
        except Exception as exc:  # noqa: BLE001 - one broken run must not hide the others
            errors.append({"seed": seed, "error": repr(exc)})
            print(json.dumps(errors[-1]), file=sys.stderr, flush=True)
            continue
        results.append(r)
        print(json.dumps({"seed": seed, "violations": len(r.violations), "wall_s": r.wall_s,
                          "orders": r.orders_placed, "fills": r.fills, "bot_exits": r.bot_exits,
                          "pacing_violations": r.pacing_violations,
                          "faults": r.faults, "found": [asdict(v) for v in r.violations][:5]}),
              file=sys.stderr, flush=True)
    report = {**summary(results), "harness_errors": errors}
    print(json.dumps(report), flush=True)
    if report["bot_refused"] or errors:
        return 2  # the bot would not run with the harness's settings: nothing was proven
    return 0 if report["violations"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
