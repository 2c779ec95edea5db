"""``python -m bot``: wire the settings, the logs, the broker side and the supervisor.

With ``broker.kind: sim`` the simulated IB Gateway starts in this process on a free loopback
port and the real BrokerActor connects to it over TCP, exactly as it would to IB Gateway.

Once the actors are started the heap of start-up (modules, classes, settings: some 50,000
objects) is frozen out of the garbage collector (``freeze_start_up_heap``): a full collection
otherwise walks all of it, 17-34 ms with every thread stopped, measured in the bot and by
``scripts/bench_e2e.py`` (one fell between a bar and its order); frozen, 1 ms. It is the
technique CPython documents ``gc.freeze`` for; what the bot allocates later is collected as
before.
"""

from __future__ import annotations

import gc
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from loguru import logger

from bot.app.config import Settings
from bot.app.deferred_import import defer
from bot.app.exit_codes import EXIT_FAILED, EXIT_REFUSED
from bot.app.supervisor import Supervisor, actor_specs
from bot.ib import client
from bot.journal.write import journal_path
from bot.ops.instance_lock import InstanceLock, LockHeld, LockUnusable, acquire
from bot.ops.logs import LogsUnusable, configure_logging
from bot.ops.watchdog import Watchdog


def _fresh_sim_journal(settings: Settings) -> None:
    """The embedded simulator is a new market and a new account on every run, so the sim
    journal starts empty too (the previous run's is kept as ``.prev`` for inspection):
    restoring yesterday's risk state against a fresh simulated account would be wrong.
    Called only with the instance lock held: never under a bot still running on the file."""
    path = journal_path(settings.journal.dir, "sim")
    for suffix in ("", "-wal", "-shm"):
        old = path.with_name(path.name + suffix)
        if old.exists():
            old.replace(old.with_name(f"{path.stem}.prev{path.suffix}{suffix}"))


def _start_gateway(settings: Settings, stack: ExitStack) -> tuple[str, int]:
    from bot.sim.server import GatewayOptions, SimGateway

    _fresh_sim_journal(settings)
    sim = settings.broker.sim
    start = datetime.fromisoformat(sim.start) if sim.start else None
    gateway = SimGateway(GatewayOptions(host="127.0.0.1", port=settings.broker.port, seed=sim.seed,
                                        speed=sim.speed, start=start, account=sim.account,
                                        symbols=tuple(settings.symbols), latency=sim.latency,
                                        pacing=sim.pacing))
    port = gateway.start()  # logs gateway_started with its port and simulated start time
    stack.callback(_stop_gateway, gateway)
    return "127.0.0.1", port


def _stop_gateway(gateway: object) -> None:
    gateway.stop()  # type: ignore[attr-defined]
    counters = gateway.counters()  # type: ignore[attr-defined]
    # every counter also goes to the JSON log (bound as ``counters``) for scripts/soak.py
    logger.bind(counters=counters).info(
        "gateway_stopped orders_placed={} pacing_violations={}", counters.get("orders.placed", 0),
        gateway.pacing_violations())  # type: ignore[attr-defined]


def defer_unused_packages(settings: Settings) -> None:
    """numpy comes in with eventkit, for an operator the bot never uses: 12 MiB of RSS saved
    (``bot/app/deferred_import.py``). The embedded simulator does use numpy, so with it nothing is
    deferred. Call before ib_insync is first imported."""
    if settings.broker.kind != "sim":
        defer("numpy")


def _intended_mode(settings: Settings) -> str:
    """The mode the settings ask for (the safety gate decides paper or live at connect)."""
    if settings.broker.kind == "sim":
        return "sim"
    return "shadow" if settings.dry_run else "paper/live"


def _take_instance_lock(settings: Settings, config: str) -> InstanceLock:
    """The journal directory's lock, with what ``kill`` and ``status`` need to find this bot."""
    return acquire(settings.journal.dir, {
        "config": config,
        "mode": _intended_mode(settings),
        "kill_switch": str(Path(settings.risk.kill_switch_path).absolute()),
        "heartbeat": str((settings.logging.dir / "heartbeat.json").absolute()),
        "heartbeat_seconds": settings.health.heartbeat_seconds,
        "journal_dir": str(Path(settings.journal.dir).absolute()),
        "started": datetime.now(UTC).isoformat(),
    })


def run_bot(settings: Settings, *, duration_s: float | None = None, live_opt_in: bool = False,
            config: str = "(defaults)") -> int:
    """Run until Ctrl-C/SIGTERM/SIGHUP or ``duration_s``; returns the process exit code.

    The instance lock comes first, before the logs, the simulator or any journal rename: a
    second bot on the same journal directory stops here (exit 3) and touches nothing. An
    unusable journal or logs directory is one line on stderr and exit 3, no traceback."""
    try:
        lock = _take_instance_lock(settings, config)
    except (LockHeld, LockUnusable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    try:
        return _run_locked(settings, duration_s, live_opt_in, config)
    finally:
        lock.release()


def freeze_start_up_heap() -> int:
    """Collect, then move every object alive now into the collector's permanent generation
    (see the module docstring); the number frozen."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    logger.info("gc_frozen objects={} ms={:.1f}", frozen, (time.perf_counter() - started) * 1000)
    return frozen


def _run_locked(settings: Settings, duration_s: float | None, live_opt_in: bool, config: str) -> int:
    try:
        configure_logging(settings.logging)
    except LogsUnusable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    defer_unused_packages(settings)
    client.choose(settings.broker.client)  # before the broker (and translate) load a library
    # Imported here, in the main thread, before any actor starts: it imports ib_insync, whose
    # eventkit grabs an event loop at import (actors/broker/actor.py explains why that matters).
    from actors.broker.actor import BrokerActor
    from actors.broker.memory import BrokerMemory

    logger.info("bot_starting config={} kind={} client={} dry_run={} read_only={} symbols={} "
                "kill_switch={}", config, settings.broker.kind, client.library().__name__,
                settings.dry_run, settings.broker.read_only,
                ",".join(settings.symbols), Path(settings.risk.kill_switch_path).absolute())
    with ExitStack() as stack:
        try:
            host, port = (_start_gateway(settings, stack) if settings.broker.kind == "sim"
                          else (settings.broker.host, settings.broker.port))
        except OSError as exc:
            logger.error("gateway_failed error={}", exc)
            return EXIT_FAILED

        memory = BrokerMemory()  # the process's: a restarted broker keeps its first-snapshot
        # flag, shadow book and pending cancels (actors/broker/memory.py)

        def broker(directory):
            return BrokerActor.start(directory, settings, host=host, port=port, live_opt_in=live_opt_in,
                                     memory=memory)

        supervisor = Supervisor(actor_specs(settings, broker, journal=True))
        supervisor.install_signal_handlers(settings.risk.kill_switch_path)
        supervisor.start()
        freeze_start_up_heap()
        systemd = Watchdog.from_env()  # READY/STOPPING for Type=notify; a no-op elsewhere
        systemd.ready()
        try:
            code = supervisor.run(duration_s)
        finally:
            systemd.stopping()
            supervisor.stop()
    logger.info("bot_stopped exit_code={}", code)
    logger.complete()
    return code
