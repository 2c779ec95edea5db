"""One client connection: handshake, startApi, rate limiting and dispatch of requests.

Thread rule: a Session lives on the gateway's asyncio loop thread; every method runs there.
Sending never blocks: replies are written straight to the transport; stream messages are
dropped (and counted) while the client's unread backlog is above ``STREAM_BACKLOG_BYTES``.

Two ways to end a session: ``close()`` drops the socket at once (gateway stop, drop fault,
corrupt stream); ``hang_up()`` is IB ending a session after telling the client why (third
message rate breach, client id in use, no common version): the last error is sent, then an
end of stream, and the client's further requests are read and discarded for up to
``LINGER_S``. Closing a socket with unread input makes the kernel answer with a reset, which
fails the client's next write and can discard the error it has not read yet.

Request handlers live in ``handlers_data`` (contracts, quotes), ``handlers_history`` (bars),
``handlers_account`` (orders, positions, account), ``handlers_depth`` (depth, tick-by-tick)
and ``handlers_reference`` (market rules and other id-less reference requests); ``HANDLERS``
maps request names to them. A handler that raises ``MalformedRequest`` yields error 320; a
request the simulator does not serve yields 321. Both errors carry the request's own id
(``protocol_in.REQ_ID_FIELD``), so a client waiting on that id is answered instead of left
hanging; only requests without an id get -1.

With a latency model (``bot.sim.latency``, ``--latency ib``) each request is served once its
delay passed, after the earlier requests of its lane and never before the session's startApi;
the loop serves everything else meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from loguru import logger

from bot.sim import latency, rules, wire
from bot.sim import protocol_out as out
from bot.sim.handlers_account import ACCOUNT_HANDLERS
from bot.sim.handlers_data import DATA_HANDLERS
from bot.sim.handlers_depth import DEPTH_HANDLERS
from bot.sim.handlers_history import HISTORY_HANDLERS
from bot.sim.handlers_reference import REFERENCE_HANDLERS
from bot.sim.protocol_in import REQUEST_NAMES, Fields, MalformedRequest, request_id_of
from bot.sim.streams import Subscriptions

if TYPE_CHECKING:
    from bot.sim.server import SimGateway

STREAM_BACKLOG_BYTES = 1 << 20
LINGER_S = 2.0
"""How long a hung-up session keeps discarding the client's input before closing the socket."""
CONNECT_STATUS_CODES = (2104, 2106, 2158)
"""Farm status notices IB Gateway sends right after a client connects."""
IGNORED = frozenset(
    {
        "setServerLogLevel",
        "reqNewsBulletins",
        "cancelNewsBulletins",
        "cancelAccountSummary",
        "cancelPositionsMulti",
        "cancelAccountUpdatesMulti",
        "startApi",
    }
)

ERR_UNSUPPORTED = 321


def text_unsupported(name: str) -> str:
    """IB's error 321 text for a request this gateway does not serve."""
    return f"Error validating request.-'{name}' : cause - not supported by the simulated gateway"


Handler = Callable[["Session", Fields], None]
HANDLERS: dict[str, Handler] = {**DATA_HANDLERS, **HISTORY_HANDLERS, **ACCOUNT_HANDLERS,
                               **DEPTH_HANDLERS, **REFERENCE_HANDLERS}


class Session:
    """A TWS API session with one client (see module docstring for the thread rule)."""

    def __init__(self, gw: SimGateway, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.gw = gw
        self.reader = reader
        self.writer = writer
        self.version = 0
        self.client_id: int | None = None
        self.frames = wire.FrameReader()
        self.rate = rules.MessageRate(gw.options.msg_rate_limit)
        self.subs = Subscriptions()
        self.wants_positions = False
        self.wants_account = False
        self.data_type = 1
        self.closed = False
        self._linger = False
        self.holding = False
        """A request is held by the ``delay_next`` fault: nothing after it is served yet."""
        self._scheduler: latency.Scheduler | None = None
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"

    # ---- lifecycle ------------------------------------------------------------------------

    async def run(self) -> None:
        """Read and dispatch until the client leaves or the session is closed."""
        try:
            while not self.closed:
                data = await self.reader.read(65536)
                if not data:
                    break
                for msg in self.frames.feed(data):
                    if self.closed:
                        break
                    if isinstance(msg, wire.Handshake):
                        self._on_handshake(msg)
                    else:
                        await self._delay_if_asked(msg)
                        self._on_message(msg)
            if self._linger:
                await self._discard_input()
        except wire.FramingError as exc:
            logger.warning("session_framing_error peer={} error={}", self.peer, exc)
            self.gw.stats.inc("sessions.framing_errors")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.close()

    async def _delay_if_asked(self, fields: list[str]) -> None:
        """Fault ``delay_next``: hold this request, and so everything after it from this
        client, for a while (a slow gateway; answers and streams keep flowing)."""
        name = REQUEST_NAMES.get(int(fields[0])) if fields and fields[0].isdigit() else None
        delay = self.gw.faults.delay_of(name) if name else 0.0
        if delay > 0:
            self.gw.stats.inc(f"delayed.{name}")
            self.holding = True
            try:
                await asyncio.sleep(delay)
            finally:
                self.holding = False

    def close(self) -> None:
        """Stop serving and drop the socket now."""
        self._stop_serving()
        try:
            self.writer.close()
        except Exception:  # noqa: BLE001 - the transport may already be gone
            pass

    def hang_up(self) -> None:
        """Stop serving and end the stream after what is already queued (see module doc)."""
        self._stop_serving()
        self._linger = True
        try:
            if self.writer.can_write_eof():
                self.writer.write_eof()
        except (OSError, RuntimeError):  # the transport is already closing
            pass

    def _stop_serving(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.subs.clear()
        self.gw.session_closed(self)

    async def _discard_input(self) -> None:
        try:
            async with asyncio.timeout(LINGER_S):
                while await self.reader.read(65536):
                    pass
        except TimeoutError:
            self.gw.stats.inc("sessions.linger_timeouts")

    # ---- sending --------------------------------------------------------------------------

    def send(self, fields: list) -> None:
        if not self.closed:
            self.writer.write(wire.encode(fields))

    def send_batch(self, messages: list[list]) -> None:
        """Send several messages in one write, so a client sees one quote update atomically."""
        if messages and not self.closed:
            self.writer.write(b"".join(wire.encode(m) for m in messages))

    def send_stream(self, messages: list[list]) -> None:
        """Send stream messages unless the client is too far behind (then drop and count)."""
        if not messages:
            return
        transport = self.writer.transport
        if transport is not None and transport.get_write_buffer_size() > STREAM_BACKLOG_BYTES:
            self.gw.stats.inc("stream.dropped", len(messages))
            return
        self.gw.stats.inc("stream.messages", len(messages))  # before the client can see them
        self.send_batch(messages)

    def error(self, req_id: int, code: int, text: str) -> None:
        self.send(out.error(self.version, req_id, code, text))

    # ---- protocol -------------------------------------------------------------------------

    def _on_handshake(self, hs: wire.Handshake) -> None:
        version = wire.negotiate(hs)
        if version is None:
            logger.warning(
                "session_version_mismatch peer={} offered={}..{}",
                self.peer,
                hs.min_version,
                hs.max_version,
            )
            self.gw.stats.inc("sessions.version_mismatch")
            self.hang_up()
            return
        self.version = version
        self.writer.write(wire.encode(out.handshake_reply(version, self.gw.clock.now())))

    def _on_message(self, fields: list[str]) -> None:
        if not self.version:
            raise wire.FramingError("request before handshake")
        verdict = self.rate.on_message(time.monotonic())
        if verdict is not rules.RateVerdict.OK:
            self.gw.stats.inc("violation.msg_rate")
            self.error(
                -1,
                rules.ERR_MSG_RATE,
                rules.text_msg_rate(self.rate.limit, self.rate.in_window, self.rate.breaches),
            )
            if verdict is rules.RateVerdict.CLOSE:
                logger.warning(
                    "session_closed_msg_rate peer={} client_id={}", self.peer, self.client_id
                )
                self.hang_up()
                return
        try:
            msg_id = int(fields[0])
        except (ValueError, IndexError):
            self.error(-1, 505, "Fatal Error: Unknown message id.")
            self.gw.stats.inc("req.unknown")
            return
        name = REQUEST_NAMES.get(msg_id)
        self.gw.stats.inc(f"req.{name or 'unknown'}")
        if self.gw.latency.active:
            self._serve_later(msg_id, name, fields)
            return
        self._serve(msg_id, name, fields)

    def _serve_later(self, msg_id: int, name: str | None, fields: list[str]) -> None:
        """The latency model (``bot.sim.latency``): serve the request once its delay passed,
        after every earlier request of its lane and never before this session's startApi;
        meanwhile the loop serves everything else."""
        if self._scheduler is None:
            loop = asyncio.get_running_loop()
            self._scheduler = latency.Scheduler(loop.time, loop.call_at)
        sched = self._scheduler
        lane = "connect" if name == "startApi" else latency.LANES.get(name or "", "other")
        due = max(sched.due_of("connect"),
                  asyncio.get_running_loop().time() + self.gw.latency.request_delay_s(name))
        sched.submit(lane, due, lambda: self._serve(msg_id, name, fields))

    def _serve(self, msg_id: int, name: str | None, fields: list[str]) -> None:
        if self.closed:
            return
        if self.client_id is None and name != "startApi":
            self.error(-1, 321, f"Error validating request.-'{name}' : cause - startApi first")
            return
        self._dispatch(msg_id, name, fields)

    def _dispatch(self, msg_id: int, name: str | None, fields: list[str]) -> None:
        if name == "startApi":
            self._on_start_api(Fields(fields))
            return
        if name is None:
            self.error(-1, 505, f"Fatal Error: Unknown message id. ({msg_id})")
            return
        if self.gw.faults.is_silenced(name):
            self.gw.stats.inc(f"silenced.{name}")
            return
        handler = HANDLERS.get(name)
        if handler is None:
            if name not in IGNORED:
                self.gw.stats.inc("req.unsupported")
                self.error(request_id_of(fields), ERR_UNSUPPORTED, text_unsupported(name))
            return
        try:
            handler(self, Fields(fields))
        except MalformedRequest as exc:
            self.gw.stats.inc("req.malformed")
            text = f"Error reading request. Message id {msg_id}: {exc}"
            self.error(request_id_of(fields), 320, text)

    def _on_start_api(self, f: Fields) -> None:
        if self.client_id is not None:
            return
        f.skip()  # version
        client_id = f.int()
        if not self.gw.client_ids.claim(client_id):
            self.gw.stats.inc("violation.client_id_in_use")
            logger.warning("session_client_id_in_use peer={} client_id={}", self.peer, client_id)
            self.error(-1, rules.ERR_CLIENT_ID_IN_USE, rules.TEXT_CLIENT_ID_IN_USE)
            self.hang_up()
            return
        self.client_id = client_id
        self.gw.session_ready(self)
        logger.info(
            "session_connected peer={} client_id={} version={}", self.peer, client_id, self.version
        )
        self.send(out.managed_accounts(self.gw.account.account_id))
        self.send(out.next_valid_id(self.gw.next_order_id(client_id)))
        for code in CONNECT_STATUS_CODES:
            self.error(-1, code, out.FARM_TEXTS[code])
