"""Options kept warm for the strategies (``KeepOptionsWarm``): qualified once, then streamed
until a strategy's set no longer holds them.

Actor thread only (see the One Rule in ``actors/broker/actor.py``). Each symbol's set
replaces the one before: options that left it are released, new ones qualified
(reqContractDetails: ib_async keys tickers by conId) and acquired as ``warm:<symbol>``
streams of ``MarketData``, which publishes their quotes as ``WarmQuoteUpdated`` (and as
``QuoteUpdated`` only when execution also asked for the option). A set longer than the budget
(``bot.trading.prewarm.lines_per_symbol``, the same cut the strategies make) is cut to it, so
no strategy can take the lines the rest of the bot needs. An option whose qualification
failed is forgotten; the strategy's next set asks again. Qualified options are remembered
(``KNOWN_MAX``, by key, which names the expiry), so spot swinging back to a strike costs
the stream's request only, not another reqContractDetails.
"""

from __future__ import annotations

from actors.broker.market import WARM_PREFIX, MarketData
from actors.broker.requests import RequestFailed
from bot import messages as m
from bot.ib import translate as tr

WARM_OWNER = WARM_PREFIX
"""Stream owner prefix of warm options (``warm:SPY``)."""
KNOWN_MAX = 512
"""Qualified options remembered (all forgotten at once beyond it: a new day's expiries)."""


class WarmOptions:
    """Per symbol: the warm set's options by key (None while being qualified)."""

    def __init__(self, market: MarketData, lines_per_symbol: int) -> None:
        self.market = market
        self.lines_per_symbol = lines_per_symbol
        self._sets: dict[str, dict[str, m.OptionContract | None]] = {}
        self._known: dict[str, m.OptionContract] = {}
        self.cut = 0
        """How many options sets asked beyond the budget (for the heartbeat)."""

    @property
    def lines(self) -> int:
        """Warm options asked for now, qualified or not (each holds or will hold a line)."""
        return sum(len(s) for s in self._sets.values())

    def keep(self, cmd: m.KeepOptionsWarm) -> None:
        wanted = cmd.contracts[: self.lines_per_symbol]
        self.cut += len(cmd.contracts) - len(wanted)
        owner = WARM_OWNER + cmd.symbol
        held = self._sets.setdefault(cmd.symbol, {})
        keys = {c.key for c in wanted}
        for key in [k for k in held if k not in keys]:
            option = held.pop(key)
            if option is not None:
                self.market.release(option, owner)
        for contract in wanted:
            if contract.key in held:
                continue
            known = self._known.get(contract.key)
            if known is not None:
                held[contract.key] = known
                self.market.acquire(known, owner)
            else:
                held[contract.key] = None
                self.market.core.spawn(self._qualify(cmd, contract, owner),
                                       f"warm-{contract.key}")

    async def _qualify(self, cmd: m.KeepOptionsWarm, contract: m.OptionContract,
                       owner: str) -> None:
        held = self._sets[cmd.symbol]
        try:
            answers = await self.market.details(tr.option_contract(contract), cmd.correlation_id,
                                                cmd.symbol)
        except RequestFailed:
            answers = []
        option = tr.option_from_ib(answers[0].contract) if len(answers) == 1 else None
        if option is not None:
            if len(self._known) >= KNOWN_MAX:
                self._known.clear()
            self._known[contract.key] = option
        if contract.key not in held or held[contract.key] is not None:
            return  # left the set meanwhile (or asked twice)
        if option is None:
            del held[contract.key]
            self.market.core.log.warning("warm_option_unqualified option={}", contract.key)
            return
        held[contract.key] = option
        self.market.acquire(option, owner)
