"""Who hears what: each published event reaches exactly the roles that act on it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot import messages as m
from bot.app.routing import EXECUTION, RECORD, RISK, STRATEGY, Directory, roles_for

NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
SPY_CALL = m.OptionContract("SPY", "20261120", 600.0, m.Right.CALL)


class Inbox:
    def __init__(self) -> None:
        self.got: list[Any] = []

    def tell(self, message: Any) -> None:
        self.got.append(message)


def directory_with(*names: str) -> tuple[Directory, dict[str, Inbox]]:
    directory, inboxes = Directory(), {}
    for name in names:
        inboxes[name] = Inbox()
        directory.register_actor(name, inboxes[name])
    return directory, inboxes


def test_an_underlying_quote_reaches_only_its_symbols_strategy():
    directory, inboxes = directory_with("strategy:SPY", "strategy:QQQ", EXECUTION, RISK)
    quote = m.QuoteUpdated(m.Quote(m.Stock("SPY"), 599.9, 600.1, 600.0, NOW), 1)

    assert roles_for(quote) == (STRATEGY, RECORD)
    assert directory.publish(quote) == 1
    assert inboxes["strategy:SPY"].got == [quote]
    assert not inboxes["strategy:QQQ"].got and not inboxes[EXECUTION].got


def test_an_option_quote_reaches_only_execution():
    directory, inboxes = directory_with("strategy:SPY", EXECUTION, RISK)
    quote = m.QuoteUpdated(m.Quote(SPY_CALL, 1.55, 1.60, 1.58, NOW, volume=500), 2)

    assert directory.publish(quote) == 1
    assert inboxes[EXECUTION].got == [quote]
    assert not inboxes["strategy:SPY"].got


def test_a_closed_bar_reaches_its_strategy_execution_and_risk():
    directory, inboxes = directory_with("strategy:SPY", "strategy:QQQ", EXECUTION, RISK)
    bar = m.BarClosed(m.Bar("SPY", NOW, 600.0, 600.5, 599.5, 600.2, 1000))

    assert directory.publish(bar) == 3
    assert [name for name, inbox in inboxes.items() if inbox.got] == ["strategy:SPY", EXECUTION, RISK]


def test_a_role_nobody_holds_is_skipped():
    directory, inboxes = directory_with("strategy:SPY")
    bar = m.BarClosed(m.Bar("SPY", NOW, 600.0, 600.5, 599.5, 600.2, 1000))

    assert directory.publish(bar) == 1
    assert inboxes["strategy:SPY"].got == [bar]
