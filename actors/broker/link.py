"""The connection lifecycle of the BrokerActor: connect, lose, reconnect, connectivity codes.

Actor thread only (see the One Rule in ``actors/broker/actor.py``). One task owns the lifecycle:

    connect (with a timeout) --ok--> connected: on_connected(first) ... until the socket drops
       ^  |                                                                   |
       |  +--refused / timed out / 326--+                                      |
       +---- wait the Reconnector's backoff (jittered; a new client id on 326) <+

A socket that closes while connecting (a gateway that accepts the TCP connection and hangs up
before the API is ready: restarting, not logged in, the client id still held) fails the
attempt at once, as 326 does: ib_insync's connect would otherwise wait out
``connect_timeout_s`` on the closed socket (it does not end the attempt when the socket
closes before the API is ready) before the next attempt.

IB's connectivity codes arrive as errors on a live socket and are handled without tearing
it down: 1100 and 2110 publish ConnectionChanged("stale") (the risk actor pauses entries);
1101 resubmits every subscription (data was lost) and publishes "restored"; 1102 publishes
"restored"; 1300 (socket port changed) drops the socket so the loop reconnects. Farm codes
(2103-2108, 2158) are logged, never treated as a lost socket.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from actors.broker.requests import BrokerCore
from bot import messages as m
from bot.ib import translate as tr
from bot.ib.reconnect import ERR_CLIENT_ID_IN_USE, Reconnector

HANDSHAKE_LOOK_S = 0.01
"""How soon to look again for ib_insync's handshake wait after the socket closed before it."""


class Link:
    """Keeps the broker connected; reports every change as ``ConnectionChanged``."""

    def __init__(
        self,
        core: BrokerCore,
        host: str,
        port: int,
        reconnector: Reconnector,
        on_connected: Callable[[bool], bool],
        on_lost: Callable[[], None],
        on_resubscribe: Callable[[], None],
    ) -> None:
        self.core = core
        self.host = host
        self.port = port
        self.reconnector = reconnector
        self.on_connected = on_connected
        self.on_lost = on_lost
        self.on_resubscribe = on_resubscribe
        self.state = "disconnected"
        self.last_error = 0
        self.stopped = False
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._attempt: asyncio.Future[object] | None = None
        self._hung_up = ""
        """Why the socket closed during the current attempt ("" while it has not)."""

    @property
    def client_id(self) -> int:
        return self.reconnector.client_id

    def start(self) -> None:
        self._task = self.core.spawn(self._run(), "connection")

    def stop(self) -> None:
        """No more reconnects; drop the socket if there is one."""
        self.stopped = True
        if self._task is not None:
            self._task.cancel()
        self.core.ib.disconnect()

    async def _run(self) -> None:
        delay = 0.0
        while not self.stopped:
            if delay > 0:
                await asyncio.sleep(delay)
            if await self._connect():
                self._lost.clear()
                self._connected()
                await self._lost.wait()
                reason = "connection lost"
            else:
                reason = "connect failed"
            plan = self.reconnector.plan_after_failure(self.last_error, reason)
            self.core.log.warning(
                "reconnect_planned delay_s={:.2f} client_id={} attempt={} reason={!r}",
                plan.delay_s,
                plan.client_id,
                plan.attempt,
                plan.reason,
            )
            delay = plan.delay_s

    async def _connect(self) -> bool:
        settings = self.core.settings.broker
        self.last_error = 0
        self._hung_up = ""
        self.state = "connecting"
        self._attempt = asyncio.ensure_future(
            self.core.ib.connectAsync(
                self.host,
                self.port,
                clientId=self.client_id,
                timeout=settings.connect_timeout_s,
                readonly=settings.read_only,
                account=settings.account or "",
            )
        )
        try:
            await self._attempt
        except asyncio.CancelledError:
            if self.stopped or self.last_error != ERR_CLIENT_ID_IN_USE:
                raise
            failure: BaseException = ConnectionError("client id in use")
        except (TimeoutError, OSError) as exc:
            failure = exc
        else:
            return True
        self.state = "disconnected"
        self.core.log.warning(
            "connect_failed host={} port={} client_id={} error={!r} code={}",
            self.host,
            self.port,
            self.client_id,
            failure,
            self.last_error,
        )
        return False

    def _connected(self) -> None:
        self.core.connected = True
        self.core.generation += 1
        self.reconnector.connected()
        self.state = "connected"
        first = self.reconnector.connections == 1
        self.core.log.info(
            "connected host={} port={} client_id={} reconnects={}",
            self.host,
            self.port,
            self.client_id,
            self.reconnector.reconnects,
        )
        if self.on_connected(first):
            self._publish("connected", "first connection" if first else "reconnected")

    def on_disconnected(self) -> None:
        """ib_insync disconnectedEvent (also fired by our own disconnect)."""
        if not self.core.connected:
            return
        self.core.connected = False
        self.state = "disconnected"
        self.core.log.warning("disconnected client_id={}", self.client_id)
        self._publish("disconnected", "socket closed")
        self.on_lost()
        self._lost.set()

    def on_socket_closed(self, why: str) -> None:
        """The client's socket closed (``client.conn.disconnected``, "" for a clean close).
        While connecting, end the attempt now instead of at its timeout: ``_fail_handshake``."""
        if self.state != "connecting" or self._attempt is None or self._attempt.done():
            return
        if not self._hung_up:
            self._hung_up = f"socket closed while connecting {why}".strip()
            self._fail_handshake(self._attempt)

    def _fail_handshake(self, attempt: asyncio.Future[object]) -> None:
        """Fail ib_insync's wait for the API to start (an error on ``client.apiStart``) with
        the close, so the connect ends as any failed connect does. The close can arrive
        before that wait has begun (nothing listens yet): then look again shortly, until the
        attempt is over (its own timeout bounds this). Cancelling the connect instead can
        leave ib_insync's wait unfinished."""
        if attempt.done():
            return
        start = self.core.ib.client.apiStart
        if len(start.error_event):
            start.error_event.emit(start, ConnectionError(self._hung_up))
        else:
            asyncio.get_running_loop().call_later(HANDSHAKE_LOOK_S, self._fail_handshake, attempt)

    def on_error(self, code: int, text: str) -> bool:
        """Connectivity and farm codes; True when handled here."""
        if code == ERR_CLIENT_ID_IN_USE:
            self.last_error = code
            if self.state == "connecting" and self._attempt is not None:
                self._attempt.cancel()  # IB closes the socket; do not wait for the connect timeout
            return False  # also reported as BrokerErrorReported
        kind = tr.error_kind(code)
        if kind is tr.ErrorKind.FARM:
            self.core.log.info("farm_status code={} text={!r}", code, text)
            return True
        if kind is not tr.ErrorKind.CONNECTIVITY:
            return False
        state = tr.CONNECTIVITY_STATE[code]
        self.core.log.warning("connectivity code={} state={} text={!r}", code, state, text)
        if state == "disconnected":
            self.core.ib.disconnect()  # 1300: reconnect on the new port setting
            return True
        self.state = state if state == "stale" else "connected"
        if code in tr.RESUBSCRIBE_CODES:
            self.on_resubscribe()
        self._publish(state, f"{code} {text}")
        return True

    def _publish(self, state: str, reason: str) -> None:
        self.core.publish(m.ConnectionChanged(state, self.client_id, self.core.clock(), reason))
