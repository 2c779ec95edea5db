"""Runs the production path over replayed data, in lock step: ``python -m bot backtest``.

The bot's actors (strategy, risk, execution, journal, the BrokerActor with ib_insync on a TCP
socket) run exactly as in ``python -m bot``, against the embedded simulated gateway in replay
mode (``bot.sim.replay_data``). Only time differs: the gateway's clock is *stepped*
(``GatewayOptions.stepped``) and every actor reads that simulated clock, so nothing depends on
how fast this machine is:

1. step the market (1-minute steps while the bot has nothing at the broker, ``FINE_STEP_S``
   while it holds a position, has a working order or watches option quotes; a night or a
   weekend is one step), tell the execution actor its timer tick;
2. wait until the whole system is quiet (``settle``): every actor has handled its mail, the
   broker's loop and the gateway's loop have nothing ready, no byte is buffered or unread on
   either end of the socket and the counts of messages handled stopped moving;
3. repeat until the close of the last day.

As nothing moves while anything is in flight, the same data and settings give the same fills,
hence the same report. Wall-clock timeouts of the broker (request timeouts, reconnects) never
fire in a healthy run: every request is answered before the clock moves.
"""

from __future__ import annotations

import fcntl
import struct
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bot import messages as m
from bot.app.config import Settings
from bot.app.routing import EXECUTION, Directory
from bot.app.supervisor import Supervisor, actor_specs
from bot.backtest.metrics import Fill
from bot.messages.order_ref import parse_order_ref
from bot.sim import calendar
from bot.sim.order_events import CommissionEvent, ExecutionEvent
from bot.sim.replay_data import ReplayData
from bot.sim.server import GatewayOptions, SimGateway

FINE_STEP_S = 5
COARSE_STEP_S = 60
READY_TIMEOUT_S = 120.0
SETTLE_ROUNDS = 2_000
ASK_TIMEOUT_S = 30.0
UNLIMITED = 1_000_000
SLEEP_HORIZON_S = 3.0
SERIAL = """Strategy actors run on threads of their own: two signals on one bar would reach the
risk actor in whichever order the threads ran, and the one approved first can take the last
slot of a limit. So when bars close the streams of one symbol are sent and everything they
cause settles (a signal's chain, quotes and proposal are answered at once) before the next
symbol's, in the order of ``symbols``."""
"""A task of the broker sleeping at most this long (a quote poll, the greeks grace, request
pacing) is work in flight: the clock waits for it. Longer waits (reconnect backoff) are not."""
WALL_RATE_LIMITS = """IB's message rate (the client's throttle, the gateway's 50 a second) is
per wall second; a backtest's wall second holds minutes of market time, so both are lifted:
the messages and their order are the same, only no wall-clock wait is inserted."""


class BacktestError(RuntimeError):
    """The bot stopped during the backtest, or never became ready or quiet."""


class BacktestRefused(BacktestError):
    """The backtest cannot start: no recorded session in the range, a used report directory."""


class _Reply:
    def tell(self, message: Any) -> None:
        pass


class EventDirectory(Directory):
    """The bot's directory, keeping the bot's exit reasons (``PositionClosed``) and the entries
    that expired, as the bot itself saw them."""

    def __init__(self) -> None:
        super().__init__()
        self.reasons: dict[str, str] = {}
        self.expired = 0

    def publish(self, message: Any, roles: Any = None) -> int:
        if isinstance(message, m.PositionClosed):
            self.reasons[message.intent_id] = message.reason
        elif isinstance(message, m.EntryExpired):
            self.expired += 1
        return super().publish(message, roles)


@dataclass
class FillRecorder:
    """Listens to the gateway's engine events (loop thread): each execution with the option's
    mid and its quote's source at that moment, completed by its commission report."""

    gateway: SimGateway
    fills: list[Fill] = field(default_factory=list)
    _pending: dict[str, Fill] = field(default_factory=dict)

    def __call__(self, ev: Any) -> None:
        if isinstance(ev, ExecutionEvent):
            c = ev.contract
            ref = parse_order_ref(ev.order_ref)
            if c.sec_type == "OPT":
                q = self.gateway.market.option_quote(c)
                mid, source = (q.bid + q.ask) / 2, self.gateway.market.option_source(c)
            else:
                mid, source = self.gateway.market.spot(c.symbol), "recorded"
            self._pending[ev.exec_id] = Fill(
                time=self.gateway.clock.now(), intent_id=ref.intent_id if ref else ev.order_ref,
                role=ref.role if ref else "manual", symbol=c.symbol, contract=c.local_symbol,
                side=ev.side, quantity=float(ev.shares), price=float(ev.price), commission=0.0,
                mid=round(mid, 6), source=source, multiplier=float(c.multiplier or 1))
        elif isinstance(ev, CommissionEvent) and ev.exec_id in self._pending:
            fill = self._pending.pop(ev.exec_id)
            self.fills.append(_with_commission(fill, ev.commission))

    def all(self) -> list[Fill]:
        """Every fill, those whose commission never came with 0."""
        return self.fills + list(self._pending.values())


def _with_commission(fill: Fill, commission: float) -> Fill:
    return replace(fill, commission=float(commission))


def backtest_settings(settings: Settings, out_dir: Path) -> Settings:
    """The user's settings with what a backtest must have: the embedded simulator on a free
    port at speed 1 (the clock is the simulated one), its own journal, logs and kill-switch
    file under ``out_dir``, no alerts."""
    data = settings.model_dump(mode="python")
    data["broker"].update(kind="sim", port=0)
    data["broker"]["sim"].update(speed=1.0, start=None)
    data["journal"]["dir"] = out_dir / "journal"
    data["logging"]["dir"] = out_dir / "logs"
    data["risk"]["kill_switch_path"] = out_dir / "KILL"
    data["alerts"]["urls"] = ()
    return Settings.model_validate(data)


@dataclass(frozen=True)
class BacktestRun:
    """What a finished backtest hands to the report."""

    days: tuple[date, ...]
    start_equity: float
    fills: tuple[Fill, ...]
    reasons: dict[str, str]
    expired_entries: int
    wall_s: float
    steps: int
    gateway_counters: dict[str, int]


def session_days(data: ReplayData, symbols: tuple[str, ...], first: date | None,
                 last: date | None) -> list[date]:
    """The recorded session days of ``symbols`` within [first, last]."""
    return [d for d in data.days(symbols) if calendar.session_bounds(d)
            and (first is None or d >= first) and (last is None or d <= last)]


class Backtest:
    """One lock-step run (see the module docstring). ``run`` returns a ``BacktestRun``."""

    def __init__(self, settings: Settings, data_dir: Path, days: list[date],
                 progress: Callable[[str], None] = lambda line: None,
                 speed: float | None = None, iv_surface: Path | None = None) -> None:
        if not days:
            raise BacktestRefused(f"{data_dir}: no recorded session of {','.join(settings.symbols)} "
                                "in the range")
        self.settings = settings
        self.days = days
        self.progress = progress
        self.speed = speed  # None: as fast as possible; else at most sim seconds per wall second
        self._paced_from: tuple[float, datetime] | None = None
        self.gateway = SimGateway(GatewayOptions(
            port=0, seed=settings.broker.sim.seed, account=settings.broker.sim.account,
            start=calendar.session_bounds(days[0])[0], symbols=tuple(settings.symbols),
            replay_dir=data_dir, iv_surface=iv_surface, stepped=True,
            msg_rate_limit=UNLIMITED))  # WALL_RATE_LIMITS
        self.recorder = FillRecorder(self.gateway)
        self.gateway.listeners.append(self.recorder)
        self.directory = EventDirectory()
        self.supervisor: Supervisor | None = None
        self.steps = 0
        self._handled: dict[str, int] = {}
        self._quiet: tuple | None = None

    def run(self) -> BacktestRun:
        wall0 = time.monotonic()
        port = self.gateway.start()
        try:
            self._start_bot(port)
            start_equity = float(self.gateway.account.cash)  # nothing held yet
            self._wait_ready()
            for day in self.days:
                self._run_day(day)
            self.settle()
        finally:
            if self.supervisor is not None:
                self.supervisor.stop()
            self.gateway.stop()
        return BacktestRun(tuple(self.days), start_equity, tuple(self.recorder.all()),
                           dict(self.directory.reasons), self.directory.expired,
                           time.monotonic() - wall0, self.steps, self.gateway.counters())

    # -- the bot ----------------------------------------------------------------------------

    def _start_bot(self, port: int) -> None:
        from actors.broker.actor import BrokerActor
        from actors.broker.memory import BrokerMemory

        clock = self.gateway.clock.now
        memory = BrokerMemory()

        def broker(d: Directory):
            return BrokerActor.start(d, self.settings, host="127.0.0.1", port=port, memory=memory,
                                     clock=clock, rng_seed=self.settings.broker.sim.seed)

        self.supervisor = Supervisor(actor_specs(self.settings, broker, clock=clock, tick_s=None,
                                                 journal=True), self.directory)
        self.supervisor.start()

    def _wait_ready(self) -> None:
        """Until the broker is connected and every symbol's bars are subscribed."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        want = len(self.settings.symbols)
        while time.monotonic() < deadline:
            self._check_alive()
            self.settle()
            if any(len(s.subs.bars) >= want for s in list(self.gateway.sessions)):
                self.settle()
                return
            time.sleep(0.05)  # the connect handshake runs on wall time
        raise BacktestError("the bot did not connect and subscribe within "
                            f"{READY_TIMEOUT_S:g} s")

    def _check_alive(self) -> None:
        sup = self.supervisor
        while sup.process_one(0) is not None:
            pass
        if sup.stop_requested.is_set():
            raise BacktestError(f"the bot stopped during the backtest (exit code {sup.exit_code}); "
                                "see the logs")

    # -- the clock ----------------------------------------------------------------------------

    def _run_day(self, day: date) -> None:
        open_t, close_t = calendar.session_bounds(day)
        now = self.gateway.clock.now()
        if now < open_t:
            self._step_to(open_t)
        wall0 = time.monotonic()
        while (now := self.gateway.clock.now()) < close_t:
            self._step_to(min(close_t, self._next_step(now)))
        self._step_to(close_t + timedelta(seconds=1))  # DAY orders expire, as at IB
        fills = len(self.recorder.fills)
        self.progress(f"backtest_day day={day} fills_so_far={fills} "
                      f"wall_s={time.monotonic() - wall0:.1f}")

    def _next_step(self, now: datetime) -> datetime:
        step = FINE_STEP_S if self._busy() else COARSE_STEP_S
        epoch = int(now.timestamp())
        return datetime.fromtimestamp((epoch // step + 1) * step, UTC)

    def _busy(self) -> bool:
        """The bot has something at the broker that moves with the second: working orders, a
        position, or option quotes it watches (selection)."""
        if self.gateway.kept().statuses:
            return True
        return any(sub.contract.sec_type == "OPT" for s in list(self.gateway.sessions)
                   for sub in list(s.subs.quotes.values()))

    def _step_to(self, t: datetime) -> None:
        now = self.gateway.clock.now()
        if t > now:
            self._pace(t)
            self.gateway.step((t - now).total_seconds(), stream=False)
            self.steps += 1
        self.settle()  # fills and order updates of the step first, as one broker stream
        if t.second == 0:  # bars close: strategies act; one symbol at a time (see SERIAL)
            for symbol in self.settings.symbols:
                self.gateway.push_streams(frozenset({symbol}))
                self.settle()
        self.gateway.push_streams(None)
        self.directory.tell(EXECUTION, m.TimerFired("orders", self.gateway.clock.now()))
        self.settle()
        self._check_alive()

    def _pace(self, t: datetime) -> None:
        """With a speed, wait until the wall clock allows simulated time ``t`` (a night
        counts as no time: pacing restarts at each open)."""
        if self.speed is None:
            return
        now = self.gateway.clock.now()
        if self._paced_from is None or t - now > timedelta(minutes=5):
            self._paced_from = (time.monotonic(), now)
            return
        wall0, sim0 = self._paced_from
        due = wall0 + (t - sim0).total_seconds() / self.speed
        time.sleep(max(0.0, due - time.monotonic()))

    # -- quiet ------------------------------------------------------------------------------

    def settle(self) -> None:
        """Return once nothing is in flight anywhere (see the module docstring)."""
        previous = self._quiet  # unchanged since the last quiet state: nothing happened
        for _ in range(SETTLE_ROUNDS):
            state = self._state()
            if state == previous and state[0] == 0:
                self._quiet = state
                return
            previous = state
        raise BacktestError("the bot never became quiet (a message loop?)")

    def _state(self) -> tuple:
        """(work still visible, counts): counts include messages handled by every actor
        (minus this driver's own pings), bytes each side read and requests the gateway
        handled."""
        pending_out, requests = self.gateway.loop_idle()
        visible = pending_out + _unread(self._gateway_sockets())
        counts: list[int] = [requests]
        refs = self.supervisor.refs
        order = [n for n in refs if n.startswith("strategy")]
        order += [n for n in ("risk", "execution", "journal", "broker", "health") if n in refs]
        actors = [(name, refs[name], refs[name]._actor_weakref()) for name in order]
        actors = [(name, ref, actor) for name, ref, actor in actors if actor is not None]
        asked = [ref.ask(m.Ping("settle", 0.0, _Reply()), block=False) for _, ref, _ in actors]
        for answer in asked:
            answer.get(timeout=ASK_TIMEOUT_S)
        for name, ref, actor in actors:
            handled = actor.handled - self._handled.get(name, 0)
            self._handled[name] = self._handled.get(name, 0) + 1
            counts.append(handled)
            visible += ref.actor_inbox.qsize()
            if name == "broker":
                visible += _broker_backlog(actor)
                counts.append(getattr(actor.ib.client, "_numBytesRecv", 0))
        return visible, tuple(counts)

    def _gateway_sockets(self) -> list:
        socks = []
        for s in list(self.gateway.sessions):
            sock = s.writer.get_extra_info("socket") if not s.closed else None
            if sock is not None:
                socks.append(sock)
        return socks


def _unread(socks: list) -> int:
    total = 0
    for sock in socks:
        try:
            buf = fcntl.ioctl(sock.fileno(), termios.FIONREAD, struct.pack("i", 0))
            total += struct.unpack("i", buf)[0]
        except OSError:
            continue
    return total


def _broker_backlog(actor: Any) -> int:
    """Work the broker's loop still has: ready callbacks, messages held by the client's
    throttle, bytes unread on its socket or not yet written."""
    loop = actor.loop
    backlog = sum(1 for h in list(getattr(loop, "_ready", ()))
                  if not h.cancelled() and getattr(h, "_callback", None) is not None
                  and getattr(h._callback, "__name__", "") != "_wake")  # our own pings' wake-ups
    horizon = loop.time() + SLEEP_HORIZON_S
    backlog += sum(1 for h in list(getattr(loop, "_scheduled", ()))
                   if not h.cancelled() and h.when() <= horizon
                   and getattr(h._callback, "__name__", "") == "_set_result_unless_cancelled")
    client = actor.ib.client
    _lift_wall_rates(actor)
    backlog += len(getattr(client, "_msgQ", ()))
    transport = getattr(getattr(client, "conn", None), "transport", None)
    if transport is not None:
        backlog += transport.get_write_buffer_size()
        sock = transport.get_extra_info("socket")
        if sock is not None:
            backlog += _unread([sock])
    return backlog


def _lift_wall_rates(actor: Any) -> None:
    """See ``WALL_RATE_LIMITS``: the client's throttle and the governor's message rate."""
    actor.ib.client.MaxRequests = 0
    limits = actor.core.governor.limits
    if limits.msg_per_s != UNLIMITED:
        actor.core.governor.limits = replace(limits, msg_per_s=UNLIMITED)
