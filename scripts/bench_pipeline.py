"""The bench's market and actors: the bot's real actors fed by a scripted market (see bench.py).

``Pipeline`` starts the real StrategyActors, RiskActor and ExecutionActor under the real
Supervisor, with a ``Feeder`` actor where the BrokerActor would be; ``InlinePipeline`` builds the
same actors without starting them and handles every tell in turn on the caller's thread.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

from actors.base import BotActor
from actors.execution import ExecutionActor
from actors.risk import RiskActor
from actors.strategy import StrategyActor
from bot import messages as m
from bot.app.config import Settings
from bot.app.routing import STRATEGY, Directory
from bot.app.supervisor import Supervisor, actor_specs
from bot.ops.logs import configure_logging
from bot.trading.market_hours import NY

SYMBOLS = {"SPY": 600.0, "QQQ": 510.0, "IWM": 230.0, "AAPL": 230.0, "MSFT": 420.0, "NVDA": 140.0,
           "AMZN": 200.0, "TSLA": 330.0, "META": 580.0, "GOOGL": 170.0, "AMD": 140.0, "DIA": 440.0}
PATTERN = [-0.5 * i for i in range(10)] + [-4.0, -3.0, -2.0] + [-2.0] * 34
"""Closes relative to the base: ten falling bars, three rising, then flat. With the bench's
strategy settings a symbol signals on pattern bars 4 and 5 (put) and 12 (call), nowhere else."""
OFFSETS = (0, 2, 4, 6, 15, 17, 19, 21, 30, 32, 34, 36)
"""How many bars ahead in ``PATTERN`` each symbol runs: no two offsets differ by 0, 1, 7 or 8
(mod 47), the distances between signalling bars, so no two symbols' crosses share a step."""
QUOTES_PER_BAR = 4
BARS_PER_DAY = 380  # 09:30 to 15:49, clear of the flat-before-close window
FIRST_DAY = date(2026, 11, 16)  # a Monday
WAIT_S = 10.0
CHAIN_EXPIRIES = 26


def weekdays(start: date, count: int) -> list[date]:
    days, d = [], start
    while len(days) < count:
        if d.weekday() < 5:
            days.append(d)
        d += timedelta(days=1)
    return days


DAYS = weekdays(FIRST_DAY, 200)


def bar_time(step: int) -> datetime:
    """Start of the bar of ``step``: consecutive minutes of consecutive weekdays."""
    day, minute = DAYS[step // BARS_PER_DAY], step % BARS_PER_DAY
    open_ = datetime.combine(day, dtime(9, 30), NY)
    return (open_ + timedelta(minutes=minute)).astimezone(UTC)


class Clock:
    """The actors' clock, set by the driver to the end of the bar being published."""

    def __init__(self) -> None:
        self.now = bar_time(0)

    def __call__(self) -> datetime:
        return self.now


def settings_for(symbols: list[str], tmp: Path) -> Settings:
    return Settings.model_validate({
        "symbols": symbols,
        "strategy": {"ema_fast": 3, "ema_slow": 5, "rsi_period": 3, "rsi_call_min": 50,
                     "rsi_overbought": 100, "rsi_put_max": 40, "rsi_oversold": 0,
                     "require_vwap": False, "cooldown_bars": 0},
        "options": {"max_dte": 7, "strike_window": 2, "max_spread_pct": 10, "min_volume": 10},
        "risk": {"max_daily_loss_pct": 50, "max_trades_per_day": 500, "max_open_positions": 50,
                 "max_consecutive_losses": 100, "kill_switch_path": str(tmp / "KILL")},
        "logging": {"dir": str(tmp / "logs")},
    })


class Feeder(BotActor):
    """The broker side: answers chains and option quotes, times and rejects each bracket.

    Accepts: RequestChain, QuoteOptions, SubmitBracket, CancelOrder, SubscribeQuotes,
    UnsubscribeQuotes. Emits: ChainReceived, OptionsQuoted, OrderRejected, OrderStatusChanged.
    Thread rule: its own pykka thread; ``published`` is written by the driver before it tells."""

    name = "broker"

    def __init__(self, directory: Directory, clock: Clock,
                 published: dict[tuple[str, datetime], int]) -> None:
        super().__init__(directory, clock)
        self.published = published
        self.latencies_ns: list[int] = []
        self.orders_per_step: Counter[datetime] = Counter()

    def chain(self, symbol: str) -> m.OptionChain:
        """Today's chain as IB lists it for an index ETF: 26 daily expiries, 21 strikes."""
        today = self.clock().astimezone(NY).date()
        expiries = tuple(d.strftime("%Y%m%d") for d in weekdays(today, CHAIN_EXPIRIES))
        base = SYMBOLS[symbol]
        return m.OptionChain(symbol, expiries, tuple(base + k for k in range(-10, 11)))

    def handle(self, message: Any) -> None:
        match message:
            case m.RequestChain(correlation_id=cid, symbol=symbol):
                self.publish(m.ChainReceived(cid, self.chain(symbol)))
            case m.QuoteOptions(correlation_id=cid, symbol=symbol, contracts=contracts):
                now = self.clock()
                quotes = tuple(m.Quote(c, 1.55, 1.60, 1.58, now, volume=500) for c in contracts)
                self.publish(m.OptionsQuoted(cid, symbol, quotes))
            case m.SubmitBracket():
                self._on_bracket(message)
            case _:
                pass

    def _on_bracket(self, b: m.SubmitBracket) -> None:
        arrived = time.perf_counter_ns()
        minute = datetime.strptime(b.intent_id.split("-")[1], "%Y%m%d%H%M").replace(tzinfo=UTC)
        sent = self.published.get((b.contract.symbol, minute - timedelta(minutes=1)))
        if sent is not None:
            self.latencies_ns.append(arrived - sent)
        self.orders_per_step[minute] += 1
        now = self.clock()
        self.publish(m.OrderRejected(b.correlation_id, b.parent.client_order_id, 201, "bench", now))
        for child in (b.take_profit, b.stop):
            self.publish(m.OrderStatusChanged(b.correlation_id, child.client_order_id,
                                              m.OrderStatus.CANCELLED, 0, child.quantity, 0.0, now))

    def take_latencies(self) -> list[int]:
        out, self.latencies_ns = self.latencies_ns, []
        return out

    def most_orders_in_one_step(self) -> int:
        return max(self.orders_per_step.values(), default=0)


class Pipeline:
    """The bot's actors under the real supervisor, a feeder as broker, and the driver's side."""

    def __init__(self, symbols: list[str], tmp: Path, log_files: bool = True) -> None:
        self.symbols, self.clock, self.published = symbols, Clock(), {}
        self.settings = settings_for(symbols, tmp)
        configure_logging(self.settings.logging, console=False, files=log_files)
        specs = actor_specs(self.settings, lambda d: Feeder.start(d, self.clock, self.published),
                            clock=self.clock, tick_s=None)
        self.supervisor = Supervisor(specs)
        self.directory = self.supervisor.start()
        self.step = 0
        self.seq = 0
        strategies = [self.supervisor.refs[f"{STRATEGY}:{s}"] for s in symbols]
        ref = self.supervisor.refs
        self.barrier_order = [*strategies, ref["broker"], *strategies, ref["risk"],
                              ref["execution"], ref["broker"], ref["execution"], ref["risk"],
                              *strategies]
        self.directory.publish(m.AccountUpdated("DU1234567", 1_000_000.0, self.clock()))

    def events_per_step(self) -> int:
        return len(self.symbols) * (1 + QUOTES_PER_BAR)

    def close(self, symbol: str, step: int) -> float:
        i = list(SYMBOLS).index(symbol)
        return SYMBOLS[symbol] + PATTERN[(step + OFFSETS[i]) % len(PATTERN)]

    def publish_quotes(self) -> None:
        """The underlying quotes during the minute of the coming bar."""
        self.clock.now = bar_time(self.step) + timedelta(seconds=30)
        for symbol in self.symbols:
            close = self.close(symbol, self.step)
            for _ in range(QUOTES_PER_BAR):
                self.seq += 1
                quote = m.Quote(m.Stock(symbol), close - 0.01, close + 0.01, close, self.clock.now)
                self.directory.publish(m.QuoteUpdated(quote, self.seq))

    def publish_bars(self) -> None:
        """Every symbol's bar closing, then the next step."""
        start = bar_time(self.step)
        self.clock.now = start + timedelta(minutes=1)
        for symbol in self.symbols:
            close = self.close(symbol, self.step)
            bar = m.Bar(symbol, start, close + 0.2, close + 0.3, close - 0.3, close, 1000)
            self.published[(symbol, start)] = time.perf_counter_ns()
            self.directory.publish(m.BarClosed(bar))
        self.step += 1

    def barrier(self, rounds: int = 1) -> None:
        """Returns once everything in flight has gone through every hop of the path."""
        for _ in range(rounds):
            for ref in self.barrier_order:
                ref.ask(m.Ping("barrier", 0.0, _Nobody()), timeout=WAIT_S)

    def latencies_us(self) -> list[float]:
        feeder = self.supervisor.refs["broker"].proxy()
        return [ns / 1000 for ns in feeder.take_latencies().get(timeout=WAIT_S)]

    def most_orders_in_one_step(self) -> int:
        feeder = self.supervisor.refs["broker"].proxy()
        return int(feeder.most_orders_in_one_step().get(timeout=WAIT_S))

    def stop(self) -> None:
        self.supervisor.stop()


class _Nobody:
    def tell(self, message: Any) -> None:
        pass


class _Inline:
    """Stands in for an actor ref: a tell queues the message for ``InlinePipeline.barrier``."""

    def __init__(self, actor: Any, mailbox: deque[tuple[Any, Any]]) -> None:
        self.actor, self.mailbox = actor, mailbox

    def tell(self, message: Any) -> None:
        self.mailbox.append((self.actor, message))


class InlinePipeline(Pipeline):
    """The same actors and feeder, never started: every tell is handled in turn (first in, first
    out) on the driver's thread. A latency is then the path's own work, with a warm cache, no
    thread hop and no other thread to wait for: the reference the threaded figures compare to."""

    def __init__(self, symbols: list[str], tmp: Path, log_files: bool = True) -> None:
        self.symbols, self.clock, self.published = symbols, Clock(), {}
        self.settings = settings_for(symbols, tmp)
        configure_logging(self.settings.logging, console=False, files=log_files)
        self.directory, self.mailbox = Directory(), deque()
        self.feeder = Feeder(self.directory, self.clock, self.published)
        actors = [RiskActor(self.directory, self.settings, clock=self.clock, tick_s=None),
                  ExecutionActor(self.directory, self.settings, clock=self.clock, tick_s=None),
                  self.feeder, *(StrategyActor(self.directory, self.settings, s, clock=self.clock)
                                 for s in symbols)]
        for actor in actors:
            self.directory.register_actor(actor.name, _Inline(actor, self.mailbox))
        self.step = self.seq = 0
        self.directory.publish(m.AccountUpdated("DU1234567", 1_000_000.0, self.clock()))

    def barrier(self, rounds: int = 1) -> None:
        while self.mailbox:
            actor, message = self.mailbox.popleft()
            actor.on_receive(message)

    def latencies_us(self) -> list[float]:
        return [ns / 1000 for ns in self.feeder.take_latencies()]

    def most_orders_in_one_step(self) -> int:
        return self.feeder.most_orders_in_one_step()

    def stop(self) -> None:
        self.mailbox.clear()
