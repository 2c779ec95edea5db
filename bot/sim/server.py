"""The simulated IB Gateway: a TCP server speaking the TWS API over a seeded market.

``SimGateway`` owns the market, contracts, matching engine, account, rules and faults and
runs one asyncio loop in a daemon thread: the listener, one ``Session`` per client and the
tick loop (``streams.run_tick_loop``). ``start()``/``stop()`` may be called from any thread;
everything else in the gateway runs on its loop thread, except ``counters()``,
``pacing_violations()``, ``kept()`` and the ``faults`` methods, which are thread-safe.

What it simulates, in short, is ``bot.sim.cli.SIMULATED`` (the ``--help`` text); the order and
account rules are in bot.sim.matching, bot.sim.order_book, bot.sim.fill_rules and
bot.sim.margin.

Per order the gateway keeps nothing that grows with the orders ever placed (a soak runs for
weeks): an order's owner and permId are read from the matching engine, which keeps the orders
it still answers for (``bot.sim.matching``, "What is kept"); the next valid id (one per client
id, as at IB) and the permId sequence are running counters, so no id is handed out twice after
the engine forgets one; the last orderStatus is kept for live orders only (reqOpenOrders
repeats it) and an execution's owner only until its commission report is routed.

Order ids are per client id, as at IB ("completely independent from one client to another"):
each client id has its own nextValidId sequence, an order is identified by (client id, order
id), and permIds are unique across clients.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from loguru import logger

from bot.sim import calendar
from bot.sim import encode_orders as eo
from bot.sim import protocol_out as out
from bot.sim.account import Account
from bot.sim.clock import SimClock
from bot.sim.contracts import INDEXES, ContractRegistry
from bot.sim.faults import FaultInjector, load_faults
from bot.sim.handlers_account import send_account_update
from bot.sim.latency import LatencyModel, Scheduler
from bot.sim.market import Market
from bot.sim.matching import MatchingEngine
from bot.sim.options import MODEL_SURFACE, IvSurface, surface_from
from bot.sim.order_events import (
    CommissionEvent,
    ExecutionEvent,
    OpenOrderEvent,
    OrderRejectedEvent,
    OrderStatusEvent,
    PositionEvent,
    Status,
)
from bot.sim.pnl import DayBaseline
from bot.sim.replay_data import ReplayData
from bot.sim.rules import ClientIds, Counters, HistoricalPacing, MarketDataLines
from bot.sim.session import Session
from bot.sim.streams import push_streams, run_tick_loop, tick_once

PACING_MODES = ("ib", "strict")
FIRST_ORDER_ID = 1
PERM_ID_BASE = 1_000_000


@dataclass(frozen=True)
class GatewayOptions:
    """How to run the simulated gateway (see ``bot.sim.cli`` for the command line)."""

    host: str = "127.0.0.1"
    port: int = 4002  # 0 = pick a free port
    seed: int = 7
    speed: float = 1.0
    start: datetime | None = None  # None -> calendar.default_start(now)
    account: str = "DU1234567"
    symbols: tuple[str, ...] = ("SPY", "QQQ", "IWM")
    bars_csv: Path | None = None
    faults_file: Path | None = None
    tick_interval_s: float = 0.25  # wall seconds between market steps/stream pushes
    partial_fills: bool = False
    market_data_lines: int = 100
    msg_rate_limit: int = 50
    market_data: str = "live"  # "delayed": an account without live market data subscriptions
    pacing: str = "ib"  # "ib": hard historical pacing for bars <= 30 s only; "strict": all
    replay_dir: Path | None = None  # recorded/imported data (bot.sim.replay_data) for the market
    iv_surface: Path | None = None  # JSON/YAML IvSurface (else the replay's iv_surface.json)
    stepped: bool = False  # the clock moves only by ``step`` (a backtest drives it), no tick loop
    latency: str = "none"  # "ib": seeded delays per request kind (bot.sim.latency)


def load_surface(path: Path | None) -> IvSurface:
    """The IV surface of a JSON or YAML file (``bot.sim.options.surface_from``); the model's
    default without a file."""
    if path is None:
        return MODEL_SURFACE
    text = Path(path).read_text(encoding="utf-8")
    if Path(path).suffix in (".yaml", ".yml"):
        import yaml

        return surface_from(yaml.safe_load(text) or {})
    import json

    return surface_from(json.loads(text))


def replay_start(replay: ReplayData, symbols: tuple[str, ...]) -> datetime:
    """The open of the first recorded session of any of ``symbols``."""
    days = [d for d in replay.days(symbols) if calendar.session_bounds(d)]
    if not days:
        raise ValueError(f"{replay.root}: no session day with bars of {', '.join(symbols)}")
    return calendar.session_bounds(days[0])[0]


class GatewayKept(NamedTuple):
    """What the gateway holds per order beside the engine (see the module docstring)."""

    statuses: int  # the last orderStatus of each live order
    unrouted_commissions: int  # executions whose commission report is not routed yet


class SimGateway:
    """The simulated IB Gateway. Runs its own asyncio loop in a daemon thread."""

    def __init__(self, options: GatewayOptions) -> None:
        if options.pacing not in PACING_MODES:
            raise ValueError(f"pacing must be one of {PACING_MODES}, not {options.pacing!r}")
        if options.market_data not in ("live", "delayed"):
            raise ValueError(f"market_data must be live or delayed, not {options.market_data!r}")
        self.options = options
        replay = ReplayData(options.replay_dir) if options.replay_dir else None
        surface = load_surface(options.iv_surface or (replay and replay.iv_surface_file()))
        self.epoch = options.start or (replay_start(replay, options.symbols) if replay
                                       else calendar.default_start(datetime.now(UTC)))
        self.clock = (SimClock(self.epoch, 1.0, wall=lambda: 0.0) if options.stepped
                      else SimClock(self.epoch, options.speed))
        self.next_close = calendar.next_close(self.epoch)  # DAY orders expire there
        self.market = Market((*options.symbols, *INDEXES), options.seed, self.epoch,
                             options.bars_csv, replay=replay, surface=surface)
        self.contracts = ContractRegistry(options.symbols, self.market)
        self.account = Account(options.account)
        self.engine = MatchingEngine(self.account, self._quote_of, self.clock.now,
                                     sizes_of=self._sizes_of, spot_of=self.spot_of)
        self.engine.set_partial_fills(options.partial_fills)
        self.faults = FaultInjector(self)
        self.latency = LatencyModel(options.latency, options.seed)
        self._events: Scheduler | None = None  # fills delayed by the latency model, in order
        if options.faults_file:
            self.faults.schedule(load_faults(options.faults_file))
        self.stats = Counters()
        self.lines = MarketDataLines(options.market_data_lines)
        self.client_ids = ClientIds()
        self.hist_pacing = HistoricalPacing()
        self.pnl = DayBaseline()  # reqPnL's daily baseline (bot.sim.pnl), from the start
        self.pnl.roll(calendar.exchange_date(self.epoch), [], 0.0)
        self.port = 0
        self.sessions: set[Session] = set()
        self._ready: dict[int, Session] = {}
        self._last_status: dict[tuple[int, int], OrderStatusEvent] = {}  # live orders only
        self._exec_owner: dict[str, int] = {}  # exec id -> client id, until its commission
        self._next_ids: dict[int, int] = {}  # client id -> above every id it ever placed
        self._perm_ids_issued = 0
        self.wall_start = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._stopping: asyncio.Event | None = None
        self._refuse_until = 0.0
        self._hang_up_until = 0.0
        self._relisten: asyncio.TimerHandle | None = None
        self.listeners: list = []
        """Callables told every engine event before it is sent (loop thread): a backtest
        records the fills there."""

    # ---- public API -----------------------------------------------------------------------

    def counters(self) -> dict[str, int]:
        """A snapshot of every counter (``req.<name>``, ``violation.<rule>``, ``orders.*``...)."""
        return self.stats.snapshot()

    def pacing_violations(self) -> int:
        """The sum of all ``violation.*`` counters."""
        return self.stats.violations()

    def kept(self) -> GatewayKept:
        """How much the gateway holds per order (the engine's share: ``engine.kept()``)."""
        return GatewayKept(len(self._last_status), len(self._exec_owner))

    def start(self, timeout: float = 5.0) -> int:
        """Start the loop thread and the listener; return the bound port."""
        if self._thread is not None:
            return self.port
        started = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._thread_main, args=(started, failure), name="sim-gateway", daemon=True
        )
        self._thread.start()
        if not started.wait(timeout):
            raise TimeoutError(f"simulated gateway did not start within {timeout} s")
        if failure:
            self._thread.join(timeout)
            self._thread = None
            raise failure[0]
        return self.port

    def stop(self, timeout: float = 5.0) -> None:
        """Close every session and the listener and join the thread; idempotent."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if not loop.is_closed():
            loop.call_soon_threadsafe(self._stopping.set)
        thread.join(timeout)
        self._thread = None

    def __enter__(self) -> SimGateway:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    async def serve_forever(self) -> None:
        """Run in the caller's loop until cancelled (used by ``run``)."""
        await self._serve(None, [])

    def run(self) -> None:
        """Run in the calling thread until interrupted."""
        asyncio.run(self.serve_forever())

    def step(self, sim_seconds: float, stream: bool = True, timeout: float = 30.0) -> datetime:
        """A stepped gateway (``options.stepped``): move the clock ``sim_seconds`` forward and
        run one market step on the loop thread (matching; streams unless ``stream`` is False:
        then ``push_streams`` sends them); returns the new time once the step is done. Any
        thread but the loop's."""
        async def run() -> datetime:
            self.clock.jump(sim_seconds)
            tick_once(self, stream)
            return self.clock.now()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def push_streams(self, symbols: frozenset[str] | None, timeout: float = 30.0) -> None:
        """A stepped gateway: send the stream changes of the subscriptions on ``symbols``
        (None: all the rest, and P&L). Any thread but the loop's."""
        async def run() -> None:
            push_streams(self, symbols)

        asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def loop_idle(self, timeout: float = 30.0) -> tuple[int, int]:
        """Wait until the loop has run everything queued before this call; then (bytes still
        buffered for clients, requests handled so far): what a stepped driver compares to
        tell that the gateway has nothing left to do."""
        async def probe() -> tuple[int, int]:
            await asyncio.sleep(0)
            pending = sum(s.writer.transport.get_write_buffer_size() for s in self.sessions
                          if s.writer.transport is not None and not s.closed)
            handled = sum(v for k, v in self.stats.snapshot().items() if k.startswith("req."))
            return pending, handled

        return asyncio.run_coroutine_threadsafe(probe(), self._loop).result(timeout)

    # ---- loop thread ------------------------------------------------------------------------

    def _thread_main(self, started: threading.Event, failure: list) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._serve(started, failure))
        finally:
            loop.close()
            started.set()

    async def _serve(self, started: threading.Event | None, failure: list) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        try:
            await self._listen(self.options.port)
        except OSError as exc:
            failure.append(exc)
            return
        finally:
            if started is not None:
                started.set()
        logger.info(
            "gateway_started host={} port={} sim_start={} speed={} pacing={}",
            self.options.host,
            self.port,
            self.epoch.isoformat(),
            self.options.speed,
            self.options.pacing,
        )
        ticker = asyncio.create_task(asyncio.sleep(0) if self.options.stepped
                                     else run_tick_loop(self, self._stopping))
        try:
            await self._stopping.wait()
        finally:
            ticker.cancel()
            await self._shutdown()

    async def _listen(self, port: int) -> None:
        self._server = await asyncio.start_server(self._on_client, self.options.host, port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            session.close()
        await asyncio.sleep(0)
        logger.info("gateway_stopped counters={}", self.stats.snapshot())

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if time.monotonic() < max(self._refuse_until, self._hang_up_until):
            self.stats.inc("sessions.refused")
            writer.close()  # accepted, then hung up before the handshake is answered
            return
        session = Session(self, reader, writer)
        self.sessions.add(session)
        self.stats.inc("sessions.opened")
        try:
            await session.run()
        finally:  # a hung-up session stays listed while it lingers, so stop() still closes it
            self.sessions.discard(session)

    # ---- called by sessions -----------------------------------------------------------------

    def session_ready(self, session: Session) -> None:
        self._ready[session.client_id] = session

    def session_closed(self, session: Session) -> None:
        self.lines.release_owner(session)
        if session.client_id is not None and self._ready.get(session.client_id) is session:
            del self._ready[session.client_id]
            self.client_ids.release(session.client_id)
            self.stats.inc("sessions.closed")
            logger.info(
                "session_disconnected peer={} client_id={}", session.peer, session.client_id
            )

    def next_order_id(self, client_id: int) -> int:
        """The client's next valid id: above every order id it ever placed, forgotten ones
        included (one sequence per client id: each keeps its own, as at IB)."""
        return self._next_ids.get(client_id, FIRST_ORDER_ID)

    def use_order_id(self, client_id: int, order_id: int) -> None:
        """Count an id as used by the client (a placed or what-if order)."""
        self._next_ids[client_id] = max(self.next_order_id(client_id), order_id + 1)

    def order_kept(self, client_id: int, order_id: int) -> bool:
        """True while the engine keeps the client's order with this id."""
        return self.engine.order_of(order_id, client_id) is not None

    def perm_id_for(self, order_id: int, client_id: int) -> int:
        """The permId of the client's order about to be placed: a kept order's own
        (modifications keep it), else the next one of the global sequence."""
        self.use_order_id(client_id, order_id)
        kept = self.engine.order_of(order_id, client_id)
        if kept is not None:
            return kept.perm_id
        self._perm_ids_issued += 1
        return PERM_ID_BASE + self._perm_ids_issued

    def engine_status(self, client_id: int, order_id: int) -> OrderStatusEvent | None:
        """The last orderStatus sent for a client's live order (None once it is done)."""
        return self._last_status.get((client_id, order_id))

    def mark(self, contract) -> float:
        """Mark price for the account: the stock's last, the option's mid."""
        if contract.sec_type == "OPT":
            q = self.market.option_quote(contract)
            return (q.bid + q.ask) / 2 if q.bid > 0 else q.ask
        return self.market.spot(contract.symbol)

    def _quote_of(self, contract) -> tuple[float, float, float]:
        if contract.sec_type == "OPT":
            q = self.market.option_quote(contract)
        else:
            q = self.market.quote(contract.symbol)
        return q.bid, q.ask, q.last

    def spot_of(self, symbol: str) -> float | None:
        """The underlying's price for option margin (None for an unknown symbol)."""
        return self.market.spot(symbol) if symbol in self.market.symbols else None

    def _sizes_of(self, contract) -> tuple[float, float]:
        q = (self.market.option_quote(contract) if contract.sec_type == "OPT"
             else self.market.quote(contract.symbol))
        return q.bid_size, q.ask_size

    # ---- event routing ------------------------------------------------------------------------

    def dispatch(self, events: list) -> None:
        """Encode engine events and send each to the session(s) IB would send it to.

        With a latency model a fill and everything after it in the batch go out after the
        model's ``fill`` delay; every batch keeps its place behind the ones before it."""
        if not self.latency.active or self._loop is None:
            self._route(events)
            return
        if self._events is None:
            self._events = Scheduler(self._loop.time, self._loop.call_at)
        first_fill = next((i for i, ev in enumerate(events) if isinstance(ev, ExecutionEvent)),
                          len(events))
        now = self._loop.time()
        if first_fill:
            self._events.submit("orders", now, lambda: self._route(events[:first_fill]))
        if first_fill < len(events):
            rest = events[first_fill:]
            self._events.submit("orders", now + self.latency.draw_s("fill"),
                                lambda: self._route(rest))

    def _route(self, events: list) -> None:
        for ev in events:
            for listener in self.listeners:
                listener(ev)
            handler = _ROUTES.get(type(ev))
            if handler is not None:
                handler(self, ev)

    def _owner(self, client_id: int) -> Session | None:
        return self._ready.get(client_id)

    def _on_status(self, ev: OrderStatusEvent) -> None:
        if ev.status in Status.DONE:  # final: reqOpenOrders asks about live orders only
            self._last_status.pop((ev.client_id, ev.order_id), None)
        else:
            self._last_status[(ev.client_id, ev.order_id)] = ev
        if ev.status == Status.FILLED:
            self.stats.inc("orders.filled")
        if (s := self._owner(ev.client_id)) is not None:
            s.send(eo.order_status(ev))

    def _on_open(self, ev: OpenOrderEvent) -> None:
        if (s := self._owner(ev.order.client_id)) is not None:
            s.send(eo.open_order(s.version, ev.order, ev.contract, ev.status))

    def _on_execution(self, ev: ExecutionEvent) -> None:
        self.stats.inc("orders.executions")
        self._exec_owner[ev.exec_id] = ev.client_id
        if (s := self._owner(ev.client_id)) is not None:
            copies = 2 if self.faults.duplicating_execs else 1
            for _ in range(copies):
                s.send(eo.exec_details(s.version, -1, ev))

    def _on_commission(self, ev: CommissionEvent) -> None:
        s = self._owner(self._exec_owner.pop(ev.exec_id, -1))  # one report per execution
        if s is not None:
            s.send(eo.commission_report(ev))

    def _on_rejected(self, ev: OrderRejectedEvent) -> None:
        if (s := self._owner(ev.client_id)) is not None:
            s.error(ev.order_id, ev.code, ev.message)

    def _on_position(self, ev: PositionEvent) -> None:
        for s in list(self._ready.values()):
            if s.wants_positions:
                s.send(out.position(ev.account, ev.contract, ev.position, ev.avg_cost))
            if s.wants_account:
                send_account_update(s)

    # ---- FaultTarget (any thread) -------------------------------------------------------------

    def _call(self, fn, *args) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn, *args)

    def fault_drop_all(self) -> None:
        self.stats.inc("faults.drop_all")
        self._call(lambda: [s.close() for s in list(self.sessions)])

    def fault_refuse(self, seconds: float) -> None:
        self.stats.inc("faults.refuse")
        self._refuse_until = time.monotonic() + seconds
        self._call(self._restart_listener, seconds)

    def _restart_listener(self, seconds: float) -> None:
        """Stop listening for ``seconds``; a restart during another one ends with the later
        (one listener: the port is not bound twice)."""
        if self._server is not None:
            self._server.close()
        if self._relisten is not None:
            self._relisten.cancel()
        self._relisten = self._loop.call_later(
            seconds, lambda: asyncio.ensure_future(self._listen(self.port))
        )

    def fault_hang_up(self, seconds: float) -> None:
        self.stats.inc("faults.hang_up")
        self._hang_up_until = time.monotonic() + seconds

    def fault_broadcast_status(self, code: int) -> None:
        self.stats.inc(f"faults.status_{code}")
        self._call(
            lambda: [s.error(-1, code, out.FARM_TEXTS[code]) for s in list(self._ready.values())]
        )

    def fault_reject_next(self, code: int, reason: str) -> None:
        self.engine.reject_next(code, reason)  # the engine is locked: applied before we return

    def fault_partial_fills(self, on: bool, chunk: int) -> None:
        self.engine.set_partial_fills(on, chunk)

    def fault_hold_client_id(self, client_id: int, hold: bool) -> None:
        if hold:
            self.client_ids.claim(client_id)
        else:
            self.client_ids.release(client_id)


_ROUTES = {
    OrderStatusEvent: SimGateway._on_status,
    OpenOrderEvent: SimGateway._on_open,
    ExecutionEvent: SimGateway._on_execution,
    CommissionEvent: SimGateway._on_commission,
    OrderRejectedEvent: SimGateway._on_rejected,
    PositionEvent: SimGateway._on_position,
}
