"""What the chaos harness observes and drives: the broker side (the in-process simulated gateway,
read directly), the bot side (its journal, read-only, and ``logs/heartbeat.json``), the bot
process itself (start, SIGKILL, restart as systemd would) and a second API client for manual
trades. Used by ``scripts/chaos.py`` and ``tests/test_chaos.py``; judging is in
``bot/trading/invariants.py``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import yaml

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bot.sim.server import SimGateway  # noqa: E402
from bot.trading.exchange_calendar import is_open  # noqa: E402
from bot.trading.invariants import (  # noqa: E402
    BotView,
    BrokerFill,
    BrokerOrder,
    Snapshot,
    parse_ref,
)

BOT_CLIENT_ID = 17
MANUAL_CLIENT_ID = 90
NO_RESTART_CODES = (2, 3)
"""Exit codes systemd does not restart on (invalid configuration, refused by the gate)."""
BOT_WORKING = ("SUBMITTED", "ACKED", "PARTIAL")
LIVE_INTENTS = ("sent", "open")
MIN_TIMEOUT_S = 1.0
"""The bot's own timeouts in a chaos run are its defaults divided by the speed, but never below
this (its real latency does not shrink)."""
CHECK_EVERY_S = 0.25
"""The execution actor's check period in a chaos run (1 s by default): a one-second tick would
add up to a market minute at 60x to every reaction."""
HEARTBEAT_S = 0.25
ALARM_FRESH_S = 4 * HEARTBEAT_S
"""How recent a heartbeat must be for its alarm to count (a few heartbeats: one may be late)."""
LINKED = frozenset({"connected", "restored"})
"""Heartbeat broker states in which the bot is linked to IB ("restored": after IB's 1101/1102;
"stale" is IB's 1100, the gateway cut off from IB's servers: the bot knows it does not know)."""


class BrokerObserver:
    """The gateway's account and order book, read in-process (thread-safe reads only).

    Executions and entry order ids are accumulated across reads, so nothing the gateway
    forgets (it keeps a day) is lost to the checks."""

    def __init__(self, gw: SimGateway) -> None:
        self.gw = gw
        self._fills: dict[str, BrokerFill] = {}
        self._entries: dict[str, set[int]] = defaultdict(set)
        self.new_fills: list[BrokerFill] = []
        """The executions first seen by the last snapshot()."""

    def snapshot(self, bot: BotView | None, alarmed: bool = False) -> Snapshot:
        gw = self.gw
        positions = {p.contract.con_id: p.position for p in gw.account.positions()}
        orders = []
        for ev in gw.engine.open_orders():
            o = ev.order
            status = gw.engine_status(o.client_id, o.order_id)
            remaining = status.remaining if status is not None else o.total_qty
            orders.append(BrokerOrder(o.order_id, o.order_ref, ev.contract.con_id, o.action,
                                      remaining, o.order_type, ev.status, o.oca_group,
                                      o.oca_type, o.parent_id))
        self.new_fills = []
        for ex in gw.engine.executions():
            if ex.exec_id not in self._fills:
                fill = BrokerFill(ex.order_ref, ex.contract.con_id, ex.side, ex.shares)
                self._fills[ex.exec_id] = fill
                self.new_fills.append(fill)
        for ev in gw.engine.open_orders() + gw.engine.completed_orders():
            ref = parse_ref(ev.order.order_ref)
            if ref is not None and ref.role == "entry":
                self._entries[ref.intent].add(ev.order.order_id)
        entries = {k: frozenset(v) for k, v in self._entries.items()}
        return Snapshot(positions, orders, list(self._fills.values()), entries, bot, alarmed,
                        market_open=is_open(gw.clock.now()))

    def bot_connected(self, bot_ports: frozenset[int]) -> bool:
        """Whether the running bot process has a session up (it can act; it may have moved
        to another client id after 326). Matched by the session's peer port among the bot's
        own sockets: a session of a killed bot that the gateway has not yet noticed (stalled
        in a delayed request) is not the bot's. While the gateway holds one of its requests
        (the delay faults) the bot cannot act either: nothing it sends is served."""
        for _ in range(3):  # the set may change under us on the gateway's thread
            try:
                return any(s.client_id not in (None, MANUAL_CLIENT_ID) and not s.closed
                           and not s.holding and _peer_port(s.peer) in bot_ports
                           for s in list(self.gw.sessions))
            except RuntimeError:
                continue
        return False

    def long_positions(self) -> list[tuple[int, float]]:
        return [(p.contract.con_id, p.position) for p in self.gw.account.positions()
                if p.position > 0 and p.contract.sec_type == "OPT"]


def _peer_port(peer: str) -> int:
    try:
        return int(peer.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return -1


def _found(value: Any, key: str) -> bool:
    """Whether ``key`` appears anywhere in a JSON document: as a key with a truthy value, or as
    a string (an alarm listed by name)."""
    if isinstance(value, dict):
        return any((k == key and bool(v)) or _found(v, key) for k, v in value.items())
    if isinstance(value, list):
        return any(_found(v, key) for v in value)
    return isinstance(value, str) and value.startswith(key)


def knows_broker(beat: dict[str, Any] | None) -> bool:
    """Whether a heartbeat says the bot is linked to IB and has this connection's snapshot."""
    broker = (beat or {}).get("broker")
    return (isinstance(broker, dict) and broker.get("state") in LINKED
            and broker.get("snapshot") == "published")


class BotObserver:
    """The bot's own view: what its execution actor holds and knows as working, from its
    heartbeat (``held``, ``working_refs``) when a fresh one of the running process is there,
    else from its journal (read-only); and its alarms from the heartbeat."""

    def __init__(self, journal: Path, heartbeat: Path) -> None:
        self.journal = journal
        self.heartbeat = heartbeat

    def view(self, known: bool = True, beat: dict[str, Any] | None = None) -> BotView | None:
        """None while the journal cannot be read (not created yet, being migrated)."""
        if not self.journal.exists():
            return None
        try:
            conn = sqlite3.connect(f"file:{self.journal}?mode=ro", uri=True, timeout=0.5)
            try:
                if beat is not None and "held" in beat and "working_refs" in beat:
                    return BotView(self._held(conn, beat["held"]), frozenset(beat["working_refs"]),
                                   known)
                return replace(self._read(conn), known=known)
            finally:
                conn.close()
        except sqlite3.Error:
            return None

    @staticmethod
    def _held(conn: sqlite3.Connection, held: dict[str, float]) -> dict[int, float]:
        positions: dict[int, float] = defaultdict(float)
        for intent_id, qty in held.items():
            row = conn.execute("SELECT contract FROM intents WHERE intent_id = ?",
                               (intent_id,)).fetchone()
            if row is not None:
                positions[json.loads(row[0]).get("con_id", 0)] += qty
        return {k: v for k, v in positions.items() if v}

    def _read(self, conn: sqlite3.Connection) -> BotView:
        live = ",".join("?" * len(LIVE_INTENTS))
        positions: dict[int, float] = defaultdict(float)
        for contract, side, qty in conn.execute(
            f"SELECT i.contract, f.side, f.quantity FROM fills f JOIN intents i "
            f"ON i.intent_id = f.intent_id WHERE i.status IN ({live})", LIVE_INTENTS
        ):
            positions[json.loads(contract).get("con_id", 0)] += qty if side == "BUY" else -qty
        working = ",".join("?" * len(BOT_WORKING))
        refs = frozenset(r for (r,) in conn.execute(
            f"SELECT o.client_order_id FROM orders o JOIN intents i ON i.intent_id = o.intent_id "
            f"WHERE i.status IN ({live}) AND o.status IN ({working})",
            (*LIVE_INTENTS, *BOT_WORKING),
        ))
        return BotView({k: v for k, v in positions.items() if v}, refs)

    def beat(self, pid: int | None, since_wall: float) -> dict[str, Any] | None:
        """The heartbeat of the bot process ``pid`` if written after ``since_wall`` (epoch
        seconds), else None."""
        try:
            beat = json.loads(self.heartbeat.read_text())
            written = datetime.fromisoformat(beat["ts"]).timestamp()
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return beat if beat.get("pid") == pid and written >= since_wall else None

    def knows_broker(self, pid: int | None, since_wall: float) -> bool:
        """Whether the bot process ``pid`` says, in a heartbeat written after ``since_wall``
        (epoch seconds: when its session was seen up), that it is connected and has published
        the broker's snapshot of this connection."""
        return knows_broker(self.beat(pid, since_wall))

    def alarmed(self, pid: int | None) -> bool:
        """Whether the bot process ``pid`` says, in a heartbeat written in the last
        ``ALARM_FRESH_S`` wall seconds, that it holds an unprotected position. Connected or not:
        the alarm is the process's, and a dead process's last heartbeat is no alarm."""
        beat = self.beat(pid, time.time() - ALARM_FRESH_S)
        return beat is not None and _found(beat, "unprotected_position")


class BotPresence:
    """Whether the bot can act and whether it knows the broker's state, and since when (on the
    harness's clock): ``acting_since`` is when the running bot's session was last seen up,
    ``knowing_since`` when it last said it had the broker's snapshot of that session."""

    def __init__(self, broker: BrokerObserver, view: BotObserver, bot: BotProcess) -> None:
        self.broker, self.view, self.bot = broker, view, bot
        self.acting_since = self.knowing_since = 0.0
        self._connected_wall = 0.0
        self._connected = self._known = False
        self.alarmed = False
        """Whether the running bot said at the last observation that a position is unprotected."""
        self.changes: list[str] = []
        """Each change of (connected, knows_broker), for the run's events.log."""

    @property
    def since(self) -> tuple[float, float]:
        return self.acting_since, self.knowing_since

    @property
    def acting(self) -> bool:
        """Whether the bot could act at the last observation (connected, not held)."""
        return self._connected

    def observe(self, now: float) -> BotView | None:
        """The bot's view now (None while it is not connected: a down bot has no view)."""
        connected = self.bot.running and self.broker.bot_connected(self.bot.local_ports())
        self.alarmed = self.bot.running and self.view.alarmed(self.bot.pid)
        if connected and not self._connected:
            self.acting_since, self._connected_wall = now, time.time()
        beat = self.view.beat(self.bot.pid, self._connected_wall) if connected else None
        known = knows_broker(beat)
        if known and not self._known:
            self.knowing_since = now
        if (connected, known) != (self._connected, self._known):
            self.changes.append(f"{now:.1f}s bot connected={connected} knows_broker={known}")
        self._connected, self._known = connected, known
        return self.view.view(known, beat) if connected else None


def bot_settings(tmp: Path, port: int, speed: float, **overrides: Any) -> dict[str, Any]:
    """The bot's settings for a chaos run: a paper account at the simulated gateway, orders
    really sent (dry_run off), entries frequent (short indicators), everything else default.

    The bot's order timeouts are wall seconds; at ``speed`` they would be ``speed`` times
    longer in market time than in a real session, so they are divided by the speed (at least
    ``MIN_TIMEOUT_S``: the bot's real latency does not shrink). The protection deadline is
    a quarter second at least: the bot must alarm within the harness's grace (one wall second)
    when faults leave a position unprotected (checked every ``CHECK_EVERY_S``, reported by a
    heartbeat every ``HEARTBEAT_S``)."""
    defaults = {"ack_timeout_s": 10.0, "entry_timeout_s": 60.0, "cancel_timeout_s": 10.0,
                "reprice_every_s": 3.0}
    config: dict[str, Any] = {
        "dry_run": False,
        "symbols": ["SPY", "QQQ", "IWM"],
        "execution": {**{k: max(MIN_TIMEOUT_S, v / speed) for k, v in defaults.items()},
                      "protect_within_s": max(0.25, 5.0 / speed), "check_every_s": CHECK_EVERY_S},
        "broker": {"kind": "ib", "host": "127.0.0.1", "port": port,
                   "client_id": BOT_CLIENT_ID, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
        "strategy": {"ema_fast": 2, "ema_slow": 3, "rsi_period": 3, "rsi_call_min": 50,
                     "rsi_overbought": 100, "rsi_put_max": 40, "rsi_oversold": 0,
                     "require_vwap": False, "cooldown_bars": 0},
        "risk": {"kill_switch_path": str(tmp / "KILL"), "max_consecutive_losses": 50,
                 "max_trades_per_day": 50},
        "journal": {"dir": str(tmp / "data")},
        "logging": {"dir": str(tmp / "logs")},
        "health": {"heartbeat_seconds": HEARTBEAT_S},  # the harness learns the bot's state from it
    }
    for name, values in overrides.items():
        config[name] = {**config.get(name, {}), **values} if isinstance(values, dict) else values
    return config


class BotProcess:
    """``python -m bot --config <tmp>/settings.yaml``; restarted like systemd's on-failure."""

    def __init__(self, tmp: Path, settings: dict[str, Any]) -> None:
        self.tmp = tmp
        self.config = tmp / "settings.yaml"
        self.config.write_text(yaml.safe_dump(settings))
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.exits: list[int] = []
        self.journal = tmp / "data" / "journal-paper.sqlite3"
        self.heartbeat = tmp / "logs" / "heartbeat.json"

    def start(self) -> None:
        self.starts += 1
        with (self.tmp / f"bot-{self.starts}.out").open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "--config", str(self.config)],
                cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ),
            )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.running else None

    def local_ports(self) -> frozenset[int]:
        """The local ports of the bot process's TCP sockets (empty when it is not running)."""
        if not self.running:
            return frozenset()
        try:
            return frozenset(c.laddr.port for c in psutil.Process(self.proc.pid).net_connections("tcp")
                             if c.laddr)
        except psutil.Error:
            return frozenset()

    def kill(self) -> None:
        if self.running:
            self.proc.send_signal(signal.SIGKILL)
            self.exits.append(self.proc.wait(timeout=10))

    def exited_by_itself(self) -> int | None:
        """The exit code if the bot stopped on its own since the last look (None otherwise)."""
        if self.proc is None or self.proc.poll() is None or len(self.exits) >= self.starts:
            return None
        self.exits.append(self.proc.returncode)
        return self.proc.returncode

    def stop(self) -> None:
        if not self.running:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.exits.append(self.proc.wait(timeout=20))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.exits.append(self.proc.wait(timeout=10))

    def tail(self, lines: int = 30) -> str:
        path = self.tmp / f"bot-{self.starts}.out"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class ManualClient:
    """Another API client (its own client id), as a person with TWS open would be: closes
    (part of) a position with a market order, or cancels every order (reqGlobalCancel)."""

    def __init__(self, port: int, client_id: int = MANUAL_CLIENT_ID) -> None:
        self.port = port
        self.client_id = client_id

    def _connected(self):
        from ib_insync import IB

        logging.getLogger("ib_insync").setLevel(logging.CRITICAL)  # its rejects are ours to log
        ib = IB()
        ib.connect("127.0.0.1", self.port, clientId=self.client_id, timeout=10)
        return ib

    def sell(self, con_id: int, qty: float, wait_s: float = 5.0) -> str:
        """SELL ``qty`` of ``con_id`` at market; returns what happened (a gateway that refuses
        the connection, e.g. while it restarts, is what happened too)."""
        try:
            return self._sell(con_id, qty, wait_s)
        except (OSError, TimeoutError, ConnectionError) as exc:
            return f"manual_sell con_id={con_id}: could not trade ({exc!r})"

    def _sell(self, con_id: int, qty: float, wait_s: float) -> str:
        from ib_insync import MarketOrder

        ib = self._connected()
        try:
            held = [p for p in ib.positions() if p.contract.conId == con_id]
            if not held:
                return f"manual_sell con_id={con_id}: no position"
            contract = held[0].contract
            contract.exchange = contract.exchange or "SMART"
            qty = min(qty, held[0].position)  # never more than this client sees held
            if qty <= 0:
                return f"manual_sell con_id={con_id}: no long position"
            trade = ib.placeOrder(contract, MarketOrder("SELL", qty, orderRef="manual"))
            for _ in range(int(wait_s / 0.05)):
                if trade.isDone():
                    break
                ib.sleep(0.05)
            return (f"manual_sell con_id={con_id} qty={qty:g} "
                    f"status={trade.orderStatus.status} filled={trade.orderStatus.filled:g}")
        finally:
            ib.disconnect()

    def cancel_everything(self) -> str:
        """reqGlobalCancel from this client (the self-test's deliberate break)."""
        ib = self._connected()
        try:
            ib.reqGlobalCancel()
            ib.sleep(0.5)
            return "manual_global_cancel"
        finally:
            ib.disconnect()
