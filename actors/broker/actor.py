"""BrokerActor: the bot's only link to IB (or the simulated gateway), on ib_insync or ib_async
(``bot/ib/client.py`` chooses; the code path is the same, the text below says ib_insync for both).

The One Rule: only this actor's thread touches ib_insync. The thread owns the asyncio loop
(``LoopInbox`` runs it while the actor waits for mail) and the ``IB()`` object, created in
``on_start``; every ib_insync event handler runs here, and live ib_insync objects never leave:
they are translated into frozen messages (``bot/ib/translate.py``) first. Handlers never block
the loop: requests run as tasks (``BrokerCore.request``) whose results come back as published
events. Never ``util.startLoop()``, ``nest_asyncio``, ``ib.sleep``/``ib.run`` or a blocking
sync ib method here: they would make handlers re-entrant or stall the socket.

Import this module in the main thread before starting the actor: eventkit (aeventkit under
ib_async) grabs an event loop when ib_insync is imported, which must not happen in the actor
thread first (measured).

Accepts: RequestChain, QuoteOptions, KeepOptionsWarm, SubscribeQuotes, UnsubscribeQuotes, SubmitBracket,
SubmitOrder, ModifyOrder, CancelOrder, TimerFired (ignored), Ping (answered by ``BotActor``).
Publishes: BarClosed (backfill=True for history), QuoteUpdated (conflated), ChainReceived,
OptionsQuoted, OrderStatusChanged, OrderFilled, OrderRejected, BrokerErrorReported,
ConnectionChanged, AccountUpdated, PositionChanged, RequestTimedOut, ActorFaulted, StartRefused,
and after each connect ModeDecided (the gate's mode: the journal opens that mode's file) then BrokerSnapshot
(orders of every client id via reqAllOpenOrders, completed orders, the day's executions and
the positions, asked again with reqPositions) for the restart reconciliation: only once IB's
answer is complete, never a partial one (see ``_publish_snapshot``). Only the first snapshot of
the process is ``first``, also after a broker restart (``BrokerMemory``, passed in by the runner).

Helpers, one concept each: ``broker_requests`` (the gate: pacing, circuit, timeouts),
``broker_link`` (connection lifecycle), ``broker_market`` (bars, quotes, chains),
``broker_orders`` (orders, fills, shadow). A loop exception handler turns task and listener
errors into ``ActorFaulted`` instead of a log line nobody reads.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

from actors.base import BotActor, utc_now
from actors.broker.link import Link
from actors.broker.market import MarketData
from actors.broker.memory import BrokerMemory
from actors.broker.orders import Orders
from actors.broker.requests import BrokerCore, RequestFailed
from actors.broker.verifier import Verifier
from actors.broker.warm import WarmOptions
from actors.loop_inbox import LoopActor
from bot import messages as m
from bot.app.config import Settings
from bot.app.routing import Directory
from bot.ib import client
from bot.ib import translate as tr
from bot.ib.circuit import CircuitBreaker
from bot.ib.pacing import Governor, Request, limit_message_rate
from bot.ib.reconnect import Reconnector, SnapshotRetry
from bot.ib.safety import decide
from bot.trading import prewarm

LAG_INTERVAL_S = 1.0
"""The loop-lag probe: a callback scheduled every second records how late it ran."""
UNDERLYING_OWNER = "underlying"
EXECUTION_OWNER = "execution"
ALL_OPEN_ORDERS = Request("reqAllOpenOrders")
POSITIONS = Request("reqPositions")
CURRENT_TIME = Request("reqCurrentTime")
SNAPSHOT_FAILED_CODE = 0
"""``BrokerErrorReported.code`` for a snapshot that could not be completed. Not IB's: ours, like
the journal's OrderRejected code 0; the heartbeat counts it under ``errors`` as ``ib_0``."""


class BrokerActor(LoopActor, BotActor):
    """The broker: see the module docstring for its messages and its One Rule."""

    name = "broker"

    def __init__(
        self,
        directory: Directory,
        settings: Settings,
        *,
        host: str,
        port: int,
        live_opt_in: bool = False,
        clock: Callable[[], Any] = utc_now,
        rng_seed: int | None = None,
        memory: BrokerMemory | None = None,
    ) -> None:
        super().__init__(directory, clock)
        self.settings = settings
        self.host = host
        self.port = port
        self.live_opt_in = live_opt_in
        self.rng = random.Random(rng_seed)
        self.lag_s = 0.0
        self.lag_max_s = 0.0
        self.faults = 0
        self._last_net_liq: float | None = None
        self.memory = memory if memory is not None else BrokerMemory()
        """The process's broker memory (first snapshot, shadow book, pending cancels): the
        runner passes the same one to every BrokerActor it starts, so a restart keeps it."""
        self._snapshot_task: asyncio.Task[None] | None = None
        self.market_ts: Any = None

        """IB's server time at the last snapshot (the exchange's clock, for the journal)."""
        self.snapshot_state = "none"  # asking, published, failed (still asking, slowly)

    # -- lifecycle (actor thread) -----------------------------------------------------------

    def on_start(self) -> None:
        """Actor thread: set the loop, create IB(), wire events, start connecting (a task)."""
        super().on_start()
        self.loop.set_exception_handler(self._loop_error)
        b = self.settings.broker
        self.ib = client.library().IB()
        limit_message_rate(self.ib.client)  # every message (see bot/ib/pacing.py)
        self.core = BrokerCore(
            self.ib,
            self.loop,
            self.settings,
            self.clock,
            self.publish,
            self.log,
            governor=Governor(),
            circuit=CircuitBreaker(b.circuit_failures, b.circuit_cooldown_s),
        )
        self.market = MarketData(self.core, on_quote=self._on_quote)
        s = self.settings
        self.warm = WarmOptions(self.market, prewarm.lines_per_symbol(
            s.options, len(s.symbols), s.risk.max_open_positions, self.core.governor.limits.lines))
        self.orders = Orders(self.core, self.market, self.memory,
                             client_id=lambda: self.link.client_id)
        self.verifier = Verifier(self.core, self.orders, self._publish_position)
        reconnector = Reconnector(
            b.client_id, b.client_id_attempts, b.reconnect_min_s, b.reconnect_max_s, self.rng,
            client_id_wait_s=b.client_id_wait_s,
        )
        self.link = Link(
            self.core,
            self.host,
            self.port,
            reconnector,
            self._on_connected,
            self._on_lost,
            lambda: self.market.restore(first=False),
        )
        self._wire_events()
        self.market.start(self.settings.symbols)
        self.orders.rewatch()
        self.link.start()
        self.loop.call_later(LAG_INTERVAL_S, self._lag_probe, self.loop.time() + LAG_INTERVAL_S)
        self.loop.call_later(self.settings.execution.verify_every_s, self._verify_tick)
        self.loop.call_later(self.settings.execution.cancel_timeout_s, self._cancel_tick)
        self.log.info(
            "broker_started host={} port={} client_id={}", self.host, self.port, b.client_id
        )

    def on_stop(self) -> None:
        """Actor thread: stop reconnecting, disconnect, cancel tasks, close the loop."""
        self._shutdown()

    def on_failure(self, exc_type: Any, exc_value: Any, tb: Any) -> None:
        """Actor thread, after a handler raised: tell the supervisor, then clean up as on_stop."""
        BotActor.on_failure(self, exc_type, exc_value, tb)
        self._shutdown()

    def _shutdown(self) -> None:
        self._keep_unhandled_orders()
        if hasattr(self, "link"):
            self.link.stop()
            self.core.cancel_tasks()
        self.actor_inbox.close()
        self.log.info("broker_stopped")

    def _keep_unhandled_orders(self) -> None:
        """Order commands still in the mailbox of a stopping actor go to the process's memory:
        the next BrokerActor handles them after its snapshot (a restart must not lose a cancel
        or an exit; an entry is answered rejected there, a late one would be stale)."""
        if hasattr(self, "orders"):
            mail = [getattr(e, "message", None) for e in getattr(self.actor_inbox, "_mail", ())]
            self.orders.cancels.keep([c for c in mail if isinstance(c, m.CancelOrder)])
            self.orders.keep([c for c in mail if isinstance(c, m.SubmitOrder | m.SubmitBracket)])

    def _on_lost(self) -> None:
        self.orders.cancels.lost()
        self.orders.modifies.lost()
        self.market.lost()

    def _wire_events(self) -> None:
        ib, guard = self.ib, self._guard
        ib.disconnectedEvent += guard(self.link.on_disconnected)
        ib.client.conn.disconnected += guard(self.link.on_socket_closed)
        ib.errorEvent += guard(self._on_error)
        ib.barUpdateEvent += guard(self.market.on_bar_update)
        ib.pendingTickersEvent += guard(self.market.on_pending_tickers)
        ib.orderStatusEvent += guard(self.orders.on_status)
        ib.execDetailsEvent += guard(self.orders.on_exec_details)
        ib.commissionReportEvent += guard(self.orders.on_commission)
        ib.accountValueEvent += guard(self._on_account_value)
        ib.positionEvent += guard(self._on_position)

    # -- commands (actor thread) ------------------------------------------------------------

    def handle(self, message: Any) -> Any:
        match message:
            case m.RequestChain():
                self.market.request_chain(message)
            case m.QuoteOptions():
                self.market.quote_options(message)
            case m.KeepOptionsWarm():
                self.warm.keep(message)
            case m.SubscribeQuotes(instrument=instrument):
                self.market.acquire(instrument, EXECUTION_OWNER)
            case m.UnsubscribeQuotes(instrument=instrument):
                self.market.release(instrument, EXECUTION_OWNER)
            case m.SubmitBracket():
                self.orders.submit_bracket(message)
            case m.SubmitOrder():
                self.orders.submit(message)
            case m.ModifyOrder():
                self.orders.modify(message)
            case m.CancelOrder():
                self.orders.cancel(message)
            case m.TimerFired():
                pass
            case _:
                self.unexpected(message)

    def stats(self) -> dict[str, Any]:
        """Figures for the heartbeat: link, circuit, pacing, lines, loop lag."""
        verdict = self.orders.verdict
        return {
            **super().stats(),
            "connection": self.link.state,
            "client_id": self.link.client_id,
            "reconnects": self.link.reconnector.reconnects,
            "mode": verdict.mode.value if verdict else "",
            "circuit": self.core.circuit.state.value,
            "circuit_failures": self.core.circuit.failures,
            "connect_failures": self.link.reconnector.failures,
            "pacing": self.core.governor.snapshot(self.core.now()),
            "lines": self.core.governor.snapshot(self.core.now())["lines"],
            "streams": self.market.streams,
            "warm_lines": self.warm.lines,
            "timeouts": self.core.timeouts,
            "tasks": self.core.tasks_running,
            "loop_lag_ms": round(self.lag_s * 1000, 1),
            "loop_lag_max_ms": round(self.lag_max_s * 1000, 1),
            "mailbox": self.actor_inbox.qsize(),
            "faults": self.faults,
            "snapshot": self.snapshot_state,
            "pending_cancels": sorted(self.memory.pending_cancels),
            "verify": dict(self.verifier.figures),
            "orphan_orders": {str(k): v for k, v in self.orders.cancels.orphans.items()},
        }

    # -- ib_insync events (actor thread, inside the loop) -----------------------------------

    def _on_connected(self, first: bool) -> bool:
        verdict = decide(self.settings, self.ib.managedAccounts(), self.live_opt_in)
        self.orders.verdict = verdict
        if verdict.refused:
            self.log.error("start_refused reason={!r}", verdict.refusal)
            self.publish(m.StartRefused(verdict.refusal, self.clock()))
            self.loop.call_soon(self.link.stop)
            return False
        self.log.info(
            "safety_gate mode={} account={} sends_orders={} shadow={} read_only={}",
            verdict.mode.value,
            verdict.account,
            verdict.sends_orders,
            verdict.shadow_fills,
            verdict.read_only,
        )
        self.publish(m.ModeDecided(verdict.mode.value, verdict.account, self.clock()))
        for value in self.ib.accountValues(verdict.account):
            self._on_account_value(value)
        self.orders.adopt()
        if self._snapshot_task is not None:
            self._snapshot_task.cancel()  # an older connection's attempts: this one asks anew
        self._snapshot_task = self.core.spawn(self._publish_snapshot(), "snapshot")
        self.market.restore(first)
        return True

    async def _publish_snapshot(self) -> None:
        """Ask for every client id's open orders (a restart may have moved ours); publish the
        snapshot only once that answer is complete.

        Never a partial snapshot: the journal would take an order resting at IB for a gone one
        and resend its intent (a duplicate order), or miss an order to re-arm an OCO on. A
        request that times out (IB is slow after its daily restart) is asked again through the
        request gate (pacing, circuit) after ``SnapshotRetry``'s doubling waits; after the last
        quick attempt the failure is logged at ERROR and published as ``BrokerErrorReported``
        (code ``SNAPSHOT_FAILED_CODE``) for the heartbeat. Entries stay blocked meanwhile: risk
        waits for the reconciliation of every connect, and without a snapshot none comes.

        Then it keeps asking every ``reconnect_max_s`` rather than waiting for a reconnect: the
        socket may stay up for hours while only this answer is late, and a bot that could heal
        by itself should. A new connection cancels this task and starts afresh; a lost one ends
        it (the next connection asks). ``first`` is the first snapshot this broker publishes:
        the first connect's, or a later one if that never completed, so the journal restores
        the day exactly once.
        """
        b = self.settings.broker
        retry = SnapshotRetry(b.reconnect_min_s, b.reconnect_max_s)
        failures = 0
        self.snapshot_state = "asking"
        while not await self._ask_snapshot():
            failures += 1
            if not self.core.connected:
                return
            if retry.gave_up(failures):
                self.snapshot_state = "failed"
                self._snapshot_failed(failures, retry.max_s)
            await asyncio.sleep(retry.delay(failures))
        snapshot = self.orders.snapshot(self.memory.snapshots == 0, self.market_ts)
        self.memory.snapshots += 1
        self.snapshot_state = "published"
        self.log.info("broker_snapshot first={} attempts={} orders={} fills={} positions={}",
                      snapshot.first, failures + 1, len(snapshot.orders), len(snapshot.fills),
                      len(snapshot.positions))
        self.verifier.reported_positions = {p.description: p.quantity for p in snapshot.positions}
        self.publish(snapshot)
        self.orders.cancels.resend()
        self.orders.send_kept()

    async def _ask_snapshot(self) -> bool:
        """reqAllOpenOrders, reqPositions and reqCurrentTime (the exchange's clock for the
        crash-resend window) through the request gate; True when IB answered them in full
        (openOrderEnd and positionEnd came: every order and position it sent is in
        ``ib.trades()`` and ``ib.positions()``). ib_insync's own position sync at connect only
        logs a timeout, and an empty answer taken for "no positions" would close trades that
        are still open (``bot/journal/reconcile.py``): unknown is never empty."""
        try:
            await self.core.request(ALL_OPEN_ORDERS, self.ib.reqAllOpenOrdersAsync)
            await self.core.request(POSITIONS, self.ib.reqPositionsAsync)
            self.market_ts = await self.core.request(CURRENT_TIME, self.ib.reqCurrentTimeAsync)
        except RequestFailed:
            return False  # RequestTimedOut is published
        return True

    def _snapshot_failed(self, attempts: int, retry_s: float) -> None:
        text = (f"broker snapshot incomplete: reqAllOpenOrders unanswered {attempts} times; "
                f"entries stay blocked, asking again every {retry_s:g}s")
        self.log.error("broker_snapshot_failed attempts={} retry_every_s={} entries=blocked",
                       attempts, retry_s)
        self.publish(m.BrokerErrorReported(SNAPSHOT_FAILED_CODE, text, -1, self.clock()))

    def _on_error(self, req_id: int, code: int, text: str, _contract: Any = None) -> None:
        self.link.on_error(code, text)
        if tr.error_kind(code) is tr.ErrorKind.FARM:
            return  # logged by the link, never a failure
        if not self.orders.on_error(req_id, code, text):
            self.log.warning("broker_error code={} req_id={} text={!r}", code, req_id, text)
            self.publish(m.BrokerErrorReported(code, text, req_id, self.clock()))

    def _on_account_value(self, value: Any) -> None:
        net_liq = tr.net_liquidation(value.tag, value.value, value.currency)
        if net_liq is None or net_liq == self._last_net_liq:
            return
        self._last_net_liq = net_liq
        self.publish(m.AccountUpdated(value.account, net_liq, self.clock()))

    def _on_position(self, position: Any) -> None:
        self._publish_position(tr.broker_position(position))

    def _publish_position(self, position: m.BrokerPosition) -> None:
        self.verifier.reported_positions[position.description] = position.quantity
        self.publish(m.PositionChanged(position, self.clock()))

    # -- the periodic check (invariant 3: actors/broker/verifier.py) ----------------------------

    def _verify_tick(self) -> None:
        self.loop.call_later(self.settings.execution.verify_every_s, self._verify_tick)
        self.verify_now()

    def _cancel_tick(self) -> None:
        """Cancels IB left unanswered for twice ``execution.cancel_timeout_s`` go out again
        (execution repeats its own every ``cancel_timeout_s``: this catches the rest)."""
        timeout = self.settings.execution.cancel_timeout_s
        self.loop.call_later(timeout, self._cancel_tick)
        self.orders.cancels.resend_unanswered(2 * timeout)

    def verify_now(self) -> None:
        """One check now (also what the timer runs every ``execution.verify_every_s``)."""
        self.verifier.check()

    @property
    def reported_positions(self) -> dict[str, float]:
        return self.verifier.reported_positions

    @reported_positions.setter
    def reported_positions(self, value: dict[str, float]) -> None:
        self.verifier.reported_positions = value

    def _on_quote(self, quote: m.Quote) -> None:
        self.orders.on_quote(quote)

    # -- health -----------------------------------------------------------------------------

    def _lag_probe(self, expected: float) -> None:
        now = self.loop.time()
        self.lag_s = max(0.0, now - expected)
        self.lag_max_s = max(self.lag_max_s, self.lag_s)
        self.loop.call_later(LAG_INTERVAL_S, self._lag_probe, now + LAG_INTERVAL_S)

    def _guard(self, listener: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap an ib_insync listener: its exception becomes ActorFaulted (eventkit only logs)."""

        def guarded(*args: Any) -> Any:
            try:
                return listener(*args)
            except Exception as exc:  # noqa: BLE001 - reported, never swallowed silently
                self._loop_error(
                    self.loop, {"message": f"listener {listener.__name__} failed", "exception": exc}
                )
                return None

        return guarded

    def _loop_error(self, _loop: Any, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        error = (
            f"{context.get('message', 'loop error')}: {exc!r}"
            if exc
            else str(context.get("message"))
        )
        if isinstance(exc, ConnectionError):
            # A request's future failed with the socket (nobody awaited it any more): the link
            # handles the disconnect and reconnects; a fault here stopped the whole bot.
            self.log.warning("loop_connection_error {}", error)
            return
        self.faults += 1
        self.log.opt(exception=exc).error("loop_error {}", error)
        self.publish(m.ActorFaulted(self.name, error, self.clock()))
