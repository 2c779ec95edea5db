"""Reference requests that carry no request id: market rules, depth exchanges, family codes,
news providers and soft dollar tiers. IB answers each with its own message (empty lists
where a paper account has none), so a client waiting on the answer is never left hanging
on an error it cannot match to its request.

Market rules (``MARKET_RULES``): the price increments contract details name in
``marketRuleIds``: stocks, indexes and Penny Program options quote in 0.01 (rule 26), other
options in 0.01 below 3.00 and 0.05 from 3.00 (rule 32, the simulator's id for it). An
unknown rule id is answered with no increments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.sim import options
from bot.sim import protocol_in as pin

if TYPE_CHECKING:
    from bot.sim.session import Session

PENNY_RULE, NICKEL_RULE = 26, 32
MARKET_RULES: dict[int, tuple[tuple[float, float], ...]] = {
    PENNY_RULE: ((0.0, options.TICK),),
    NICKEL_RULE: ((0.0, options.TICK), (options.NICKEL_FROM, options.NICKEL)),
}
DEPTH_EXCHANGES = (("ARCA", "STK", "NYSE", "Deep", 2), ("NSDQ", "STK", "NASDAQ", "Deep", 2),
                   ("BATS", "STK", "BATS", "Deep", 2), ("IEX", "STK", "IEX", "Deep", 2))
"""(exchange, secType, listing exchange, service data type, aggregation group)."""


def market_rule_ids(contract) -> str:
    """contractDetails.marketRuleIds: one id per valid exchange (SMART, CBOE for options)."""
    if contract.sec_type != "OPT":
        return str(PENNY_RULE)
    rule = PENNY_RULE if contract.symbol in options.PENNY_CLASSES else NICKEL_RULE
    return f"{rule},{rule}"


def req_market_rule(s: Session, f: pin.Fields) -> None:
    rule_id = f.int()
    increments = MARKET_RULES.get(rule_id, ())
    s.send([93, rule_id, len(increments), *[x for pair in increments for x in pair]])


def req_mkt_depth_exchanges(s: Session, f: pin.Fields) -> None:
    s.send([80, len(DEPTH_EXCHANGES), *[x for row in DEPTH_EXCHANGES for x in row]])


def req_family_codes(s: Session, f: pin.Fields) -> None:
    s.send([78, 0])  # an individual paper account belongs to no family


def req_news_providers(s: Session, f: pin.Fields) -> None:
    s.send([85, 0])  # no news subscriptions


def req_soft_dollar_tiers(s: Session, f: pin.Fields) -> None:
    s.send([77, pin.read_plain_id(f), 0])


REFERENCE_HANDLERS = {
    "reqMarketRule": req_market_rule,
    "reqMktDepthExchanges": req_mkt_depth_exchanges,
    "reqFamilyCodes": req_family_codes,
    "reqNewsProviders": req_news_providers,
    "reqSoftDollarTiers": req_soft_dollar_tiers,
}
