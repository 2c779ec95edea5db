"""Who hears what: the actor directory and the routing table for published events.

Actors never hold each other directly; they hold the ``Directory`` and address roles
(``broker``, ``risk``, ``execution``, ``health``, ``supervisor``, ``alert``, ``record``) or a
symbol's strategy. The supervisor registers each actor as it starts; the routing table below
decides which roles receive each published event. Anything with a ``tell`` method can be
registered, which is how tests plug in a probe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import pykka

from bot import messages as m

BROKER = "broker"
RISK = "risk"
EXECUTION = "execution"
HEALTH = "health"
SUPERVISOR = "supervisor"
JOURNAL = "journal"
ALERT = "alert"
"""Registered only when alert targets are configured (``alerts.urls``)."""
RECORD = "record"
"""Registered only with ``record.enabled``: writes the market data received."""
STRATEGY = "strategy"
"""Pseudo-role: the strategy of the message's symbol."""
STRATEGIES = "strategies"
"""Pseudo-role: every strategy."""


class Teller(Protocol):
    def tell(self, message: Any) -> None: ...


_SYMBOL_PATHS = (("symbol",), ("bar", "symbol"), ("quote", "instrument", "symbol"),
                 ("chain", "symbol"))


def _symbol_of(message: Any) -> str:
    for path in _SYMBOL_PATHS:
        value: Any = message
        for part in path:
            value = getattr(value, part, None)
        if isinstance(value, str) and value:
            return value
    return ""


def _quote_roles(message: m.QuoteUpdated) -> tuple[str, ...]:
    """The underlying's quotes feed its strategy; option quotes feed execution (exits)."""
    if isinstance(message.quote.instrument, m.Stock):
        return (STRATEGY, RECORD)
    return (EXECUTION, RECORD)


_ORDER_EVENTS = (EXECUTION, JOURNAL)
_POSITION_EVENTS = (RISK, STRATEGY, JOURNAL)
_FILLED_POSITION_EVENTS = (*_POSITION_EVENTS, ALERT)

ROUTES: dict[type, tuple[str, ...] | Callable[[Any], tuple[str, ...]]] = {
    m.BarClosed: (STRATEGY, EXECUTION, RISK, ALERT, RECORD),
    m.QuoteUpdated: _quote_roles,
    m.WarmQuoteUpdated: (STRATEGY, RECORD),
    m.ChainReceived: (STRATEGY, RECORD),
    m.OptionsQuoted: (STRATEGY,),
    m.OrderStatusChanged: _ORDER_EVENTS,
    m.OrderFilled: _ORDER_EVENTS,
    m.CommissionReported: _ORDER_EVENTS,
    m.OrderRejected: _ORDER_EVENTS,
    m.ConnectionChanged: (RISK, EXECUTION, HEALTH, STRATEGIES, ALERT),
    m.AccountUpdated: (RISK, HEALTH),
    m.BrokerErrorReported: (HEALTH, ALERT),
    m.RequestTimedOut: (STRATEGY, HEALTH),
    m.ActorFaulted: (HEALTH, SUPERVISOR, ALERT),
    m.SignalRaised: (JOURNAL,),
    m.EntryProposed: (RISK, JOURNAL),
    m.EntryApproved: (EXECUTION, JOURNAL),
    m.EntryDenied: (STRATEGY, JOURNAL, ALERT),
    m.EntryAbandoned: (JOURNAL,),
    m.PositionOpened: _FILLED_POSITION_EVENTS,
    m.PositionClosed: _FILLED_POSITION_EVENTS,
    m.PositionUnprotected: (ALERT, HEALTH),
    m.EntryExpired: _POSITION_EVENTS,
    m.PnlCorrected: (RISK, JOURNAL),
    m.AlarmRaised: (SUPERVISOR, ALERT),
    m.StartRefused: (SUPERVISOR, HEALTH),
    # restart safety (bot/messages/restart.py)
    m.ModeDecided: (JOURNAL, EXECUTION, ALERT),
    m.BrokerSnapshot: (JOURNAL,),
    m.PositionChanged: (JOURNAL, EXECUTION, RISK),
    m.TradeRecovered: (RISK, EXECUTION),  # risk first: it must hear it before what execution says next
    m.PositionRecovered: (RISK, JOURNAL),
    m.ReconcileMismatch: (JOURNAL, ALERT),
    m.ReconcileFinished: (RISK, JOURNAL),
    m.RiskRestored: (RISK,),
    m.BuyBacksNumbered: (EXECUTION,),
    m.RiskStateChanged: (JOURNAL,),
    m.JournalFailed: (RISK, ALERT),
    m.KillSwitchChanged: (EXECUTION, JOURNAL, ALERT),
}


def roles_for(message: Any) -> tuple[str, ...]:
    """The roles that receive a published message (empty for an unknown type)."""
    entry = ROUTES.get(type(message), ())
    return entry(message) if callable(entry) else entry


class Directory:
    """Registry of actor refs by role, and the publisher of events.

    Registration is rare (actors start or are restarted) and lookups happen on every publish,
    from every actor thread: writers build a new dict under a lock and swap it in, readers
    take the current dict without a lock (one attribute read, atomic in CPython). A role that
    is not registered (no journal in a test, say) is skipped.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._roles: dict[str, Teller] = {}
        self._strategies: dict[str, Teller] = {}

    def register(self, role: str, ref: Teller) -> None:
        with self._lock:
            self._roles = {**self._roles, role: ref}

    def register_strategy(self, symbol: str, ref: Teller) -> None:
        with self._lock:
            self._strategies = {**self._strategies, symbol: ref}

    def register_actor(self, name: str, ref: Teller) -> None:
        """Register by actor name: ``strategy:SPY`` as SPY's strategy, anything else as a role."""
        role, _, symbol = name.partition(":")
        if role == STRATEGY and symbol:
            self.register_strategy(symbol, ref)
        else:
            self.register(name, ref)

    def get(self, role: str) -> Teller | None:
        return self._roles.get(role)

    def strategy(self, symbol: str) -> Teller | None:
        return self._strategies.get(symbol)

    def all(self) -> dict[str, Teller]:
        """Every registered actor by name (strategies as ``strategy:SYMBOL``)."""
        named = dict(self._roles)
        named.update({f"{STRATEGY}:{s}": ref for s, ref in self._strategies.items()})
        return named

    def tell(self, role: str, message: Any) -> bool:
        """Tell one role; False when nobody holds it."""
        if role == STRATEGIES:
            return sum(self._tell(ref, message) for ref in self._strategies.values()) > 0
        ref = self.strategy(_symbol_of(message)) if role == STRATEGY else self.get(role)
        return self._tell(ref, message)

    @staticmethod
    def _tell(ref: Teller | None, message: Any) -> bool:
        if ref is None:
            return False
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            return False  # stopping, or being restarted by the supervisor
        return True

    def publish(self, message: Any, roles: Iterable[str] | None = None) -> int:
        """Tell every role the routing table names for ``message``; returns how many heard it."""
        return sum(self.tell(role, message) for role in (roles if roles is not None else roles_for(message)))
