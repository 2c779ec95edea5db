"""Commands (imperative), told to the broker side; each carries a correlation id."""

from __future__ import annotations

from dataclasses import dataclass

from bot.messages.values import Instrument, OptionContract, OrderSpec

_frozen = dataclass(frozen=True, slots=True)


@_frozen
class RequestChain:
    """Strategy -> broker: send the option chain of ``symbol`` (cached per trading day)."""

    correlation_id: str
    symbol: str


@_frozen
class QuoteOptions:
    """Strategy -> broker: qualify these candidates and answer with one quote each."""

    correlation_id: str
    symbol: str
    contracts: tuple[OptionContract, ...]


@_frozen
class KeepOptionsWarm:
    """Strategy -> broker: keep exactly these options qualified and streaming for ``symbol``
    (it replaces the symbol's previous set; empty: none), so a signal finds their quotes in
    hand (``bot.trading.prewarm``). Their quotes come back as ``WarmQuoteUpdated``."""

    correlation_id: str
    symbol: str
    contracts: tuple[OptionContract, ...]


@_frozen
class SubscribeQuotes:
    """Execution -> broker: stream quotes for an instrument (an open position's option)."""

    correlation_id: str
    instrument: Instrument


@_frozen
class UnsubscribeQuotes:
    """Execution -> broker: the quotes of ``instrument`` are no longer needed."""

    correlation_id: str
    instrument: Instrument


@_frozen
class SubmitBracket:
    """Execution -> broker: parent plus take-profit and stop children in one OCA group."""

    correlation_id: str
    intent_id: str
    contract: OptionContract
    parent: OrderSpec
    take_profit: OrderSpec
    stop: OrderSpec


@_frozen
class SubmitOrder:
    """Execution -> broker: a single order (emulated OCO entries and exits, time exits)."""

    correlation_id: str
    intent_id: str
    contract: OptionContract
    order: OrderSpec


@_frozen
class ModifyOrder:
    """Execution -> broker: change the working order ``order.client_order_id`` in place (IB:
    placeOrder again with the same order id): a closing order's new price. Never a new order;
    a member of an OCA group is re-priced this way because cancelling it cancels its group."""

    correlation_id: str
    intent_id: str
    contract: OptionContract
    order: OrderSpec


@_frozen
class CancelOrder:
    """Execution -> broker: cancel the working order with this client order id."""

    correlation_id: str
    client_order_id: str
