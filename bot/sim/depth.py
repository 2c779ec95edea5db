"""Market depth (reqMktDepth) and tick-by-tick data (reqTickByTickData) subscriptions.

Depth: a stock's book of ``rows`` levels a side around the quote: level 0 is the top of book
(the quote's bid and ask with their sizes), each further level one spread (at least a cent)
away with a seeded size. The first answer inserts every level (operation 0); each market step
then updates the levels that changed (operation 1). Smart depth (isSmartDepth) is sent as
updateMktDepthL2 with the level's exchange as market maker, plain depth as updateMktDepth.

Tick-by-tick: on each market step, "Last"/"AllLast" sends the last trade when it changed,
"BidAsk" the quote when bid, ask or a size changed, "MidPoint" the midpoint when it changed.
The simulator keeps no tick history, so a ``numberOfTicks`` above 0 sends no historical ticks
first (IB sends that many); only live ticks follow, one per market step at most.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.sim.contracts import stable_hash

ASK_SIDE, BID_SIDE = 0, 1
INSERT, UPDATE = 0, 1
MAX_ROWS = 10
TICK_BY_TICK_TYPES = {"Last": 1, "AllLast": 2, "BidAsk": 3, "MidPoint": 4}
DEPTH_EXCHANGES = ("ARCA", "NSDQ", "BATS", "IEX")


def book(quote, rows: int, symbol: str, spread: float) -> dict[tuple[int, int], tuple]:
    """(side, level) -> (price, size, exchange) of a quote's book with ``rows`` levels a side."""
    step = max(spread, 0.01)
    levels: dict[tuple[int, int], tuple] = {}
    for i in range(rows):
        h = stable_hash("depth", symbol, i, round(quote.bid * 100))
        bid_size = quote.bid_size if i == 0 else 100 * (1 + h % 50)
        ask_size = quote.ask_size if i == 0 else 100 * (1 + (h >> 8) % 50)
        venue = DEPTH_EXCHANGES[(h >> 16) % len(DEPTH_EXCHANGES)]
        levels[(BID_SIDE, i)] = (round(quote.bid - i * step, 2), bid_size, venue)
        levels[(ASK_SIDE, i)] = (round(quote.ask + i * step, 2), ask_size, venue)
    return levels


@dataclass(slots=True)
class DepthSub:
    """A reqMktDepth subscription of a stock: the levels last sent."""

    req_id: int
    symbol: str
    rows: int
    smart: bool
    spread: float
    sent: dict = field(default_factory=dict)

    def changes(self, market, now: datetime) -> list[list]:
        levels = book(market.quote(self.symbol), self.rows, self.symbol, self.spread)
        msgs = []
        for (side, pos), level in sorted(levels.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            if self.sent.get((side, pos)) == level:
                continue
            op = UPDATE if (side, pos) in self.sent else INSERT
            price, size, venue = level
            if self.smart:
                msgs.append([13, 1, self.req_id, pos, venue, op, side, price, size, True])
            else:
                msgs.append([12, 1, self.req_id, pos, op, side, price, size])
        self.sent = levels
        return msgs


@dataclass(slots=True)
class TickByTickSub:
    """A reqTickByTickData subscription: the last values sent."""

    req_id: int
    contract: object
    tick_type: int
    last: tuple | None = None

    def changes(self, market, now: datetime) -> list[list]:
        if self.contract.sec_type == "OPT":
            q = market.option_quote(self.contract)
            last_size = 1
        else:
            q = market.quote(self.contract.symbol)
            last_size = q.last_size
        stamp = int(now.timestamp())
        if self.tick_type in (1, 2):
            value: tuple = (q.last, last_size)
            msg = [99, self.req_id, self.tick_type, stamp, q.last, last_size, 0,
                   getattr(self.contract, "primary_exchange", "") or "CBOE", ""]
        elif self.tick_type == 3:
            value = (q.bid, q.ask, q.bid_size, q.ask_size)
            msg = [99, self.req_id, 3, stamp, q.bid, q.ask, q.bid_size, q.ask_size, 0]
        else:
            value = (round((q.bid + q.ask) / 2, 4),)
            msg = [99, self.req_id, 4, stamp, value[0]]
        if value == self.last or (self.tick_type in (1, 2) and not q.last > 0):
            return []
        self.last = value
        return [msg]
