"""Request handlers for market depth and tick-by-tick data (``bot.sim.depth``).

IB's limits: at most ``MAX_DEPTH_REQUESTS`` depth subscriptions at once per gateway (error
309); depth for stocks only here (error 10092 otherwise); tick-by-tick types Last, AllLast,
BidAsk and MidPoint (an unknown type: 321).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.sim import protocol_in as pin
from bot.sim.depth import MAX_ROWS, TICK_BY_TICK_TYPES, DepthSub, TickByTickSub
from bot.sim.handlers_data import resolve_one
from bot.sim.market import profile

if TYPE_CHECKING:
    from bot.sim.session import Session

MAX_DEPTH_REQUESTS = 3
"""Concurrent reqMktDepth subscriptions IB allows an account by default."""


def req_mkt_depth(s: Session, f: pin.Fields) -> None:
    req = pin.decode_mkt_depth(f)
    contract = resolve_one(s, req.req_id, req.contract)
    if contract is None:
        return
    if contract.sec_type != "STK":
        s.error(req.req_id, 10092,
                "Deep market data is not supported for this combination of security type/exchange")
        return
    held = sum(len(x.subs.depth) for x in s.gw.sessions if x is not s) + len(
        [r for r in s.subs.depth if r != req.req_id])
    if held >= MAX_DEPTH_REQUESTS:
        s.gw.stats.inc("violation.mkt_depth_requests")
        s.error(req.req_id, 309,
                f"Max number ({MAX_DEPTH_REQUESTS}) of market depth requests has been reached")
        return
    rows = max(1, min(req.rows, MAX_ROWS))
    sub = DepthSub(req.req_id, contract.symbol, rows, req.smart, profile(contract.symbol)[2])
    s.subs.depth[req.req_id] = sub
    s.send_batch(sub.changes(s.gw.market, s.gw.market.now()))


def cancel_mkt_depth(s: Session, f: pin.Fields) -> None:
    s.subs.depth.pop(pin.read_versioned_id(f), None)


def req_tick_by_tick(s: Session, f: pin.Fields) -> None:
    req = pin.decode_tick_by_tick(f)
    contract = resolve_one(s, req.req_id, req.contract)
    if contract is None:
        return
    tick_type = TICK_BY_TICK_TYPES.get(req.tick_type)
    if tick_type is None or contract.sec_type not in ("STK", "OPT"):
        s.error(req.req_id, 321, "Error validating request.-'reqTickByTickData' : cause - "
                                 f"invalid tick type {req.tick_type!r} for {contract.sec_type}")
        return
    sub = TickByTickSub(req.req_id, contract, tick_type)
    s.subs.tick_by_tick[req.req_id] = sub
    s.send_batch(sub.changes(s.gw.market, s.gw.market.now()))


def cancel_tick_by_tick(s: Session, f: pin.Fields) -> None:
    s.subs.tick_by_tick.pop(pin.read_plain_id(f), None)


DEPTH_HANDLERS = {
    "reqMktDepth": req_mkt_depth,
    "cancelMktDepth": cancel_mkt_depth,
    "reqTickByTickData": req_tick_by_tick,
    "cancelTickByTickData": cancel_tick_by_tick,
}
