"""Request handlers for orders, executions, positions and account data.

Each handler is ``handler(session, fields)`` on the gateway loop thread. Orders go to the
matching engine; its events are routed by ``SimGateway.dispatch`` to the owning session.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING

from bot.sim import encode_orders as eo
from bot.sim import hist_params
from bot.sim import protocol_in as pin
from bot.sim import protocol_out as out
from bot.sim.decode_order import decode_place_order
from bot.sim.handlers_data import resolve_one
from bot.sim.matching import WhatIf
from bot.sim.order_events import SimOrder
from bot.sim.pnl import PnLSub
from bot.sim.streams import pnl_changes

if TYPE_CHECKING:
    from bot.sim.session import Session

SUMMARY_TAGS = (
    "AccountType",
    "NetLiquidation",
    "TotalCashValue",
    "SettledCash",
    "AccruedCash",
    "BuyingPower",
    "EquityWithLoanValue",
    "GrossPositionValue",
    "InitMarginReq",
    "MaintMarginReq",
    "AvailableFunds",
    "ExcessLiquidity",
    "Cushion",
    "FullInitMarginReq",
    "FullMaintMarginReq",
    "FullAvailableFunds",
    "FullExcessLiquidity",
    "RealizedPnL",
    "UnrealizedPnL",
)


def _price(value: float) -> float:
    """Client 'unset' prices (empty on the wire) become 0 for the engine."""
    return 0.0 if value >= pin.UNSET_DOUBLE else value


def place_order(s: Session, f: pin.Fields) -> None:
    placed = decode_place_order(f, s.version)
    if f.remaining():
        raise pin.MalformedRequest(f"{f.remaining()} unexpected trailing fields in placeOrder")
    gw = s.gw
    if _duplicate_id(s, placed.order_id):
        s.error(placed.order_id, 103, "Duplicate order id")
        return
    contract = resolve_one(s, placed.order_id, placed.contract)
    if contract is None:
        return
    if contract.sec_type == "IND":  # an index is a value, not an instrument
        s.error(placed.order_id, 201, "Order rejected - reason:Index contracts cannot be traded")
        return
    if placed.what_if:
        _answer_what_if(s, placed, contract)
        return
    order = _sim_order(s, placed, gw.perm_id_for(placed.order_id, s.client_id))
    gw.stats.inc("orders.placed")
    gw.dispatch(gw.engine.place(order, contract))


def _duplicate_id(s: Session, order_id: int) -> bool:
    """IB's 103: a new order's id must be above every id its client used before and every id
    returned to it in openOrder/orderStatus (ids are per client: another client's ids clash
    only once shown to it, e.g. by reqAllOpenOrders). The id of the client's own kept order is
    a modification, not a duplicate."""
    gw = s.gw
    return (order_id < gw.next_order_id(s.client_id)
            and not gw.order_kept(s.client_id, order_id))


def _answer_what_if(s: Session, placed, contract) -> None:
    """whatIf: the order is not placed; one openOrder (status PreSubmitted, whatIf set) carries
    its margin and commission figures (``MatchingEngine.what_if``). Its id counts as used."""
    s.gw.use_order_id(s.client_id, placed.order_id)
    s.gw.stats.inc("orders.what_if")
    order = _sim_order(s, placed, 0)
    answer = s.gw.engine.what_if(order, contract)
    if not isinstance(answer, WhatIf):
        s.error(placed.order_id, *answer)
        return
    s.send(eo.open_order(s.version, order, contract, "PreSubmitted", what_if=answer))


def _sim_order(s: Session, placed, perm_id: int) -> SimOrder:
    """The engine's order record of a decoded placeOrder."""
    return SimOrder(
        order_id=placed.order_id,
        client_id=s.client_id,
        perm_id=perm_id,
        action=placed.action,
        total_qty=placed.total_qty,
        order_type=placed.order_type,
        lmt_price=_price(placed.lmt_price),
        aux_price=_price(placed.aux_price),
        tif=placed.tif or "DAY",
        parent_id=placed.parent_id,
        transmit=placed.transmit,
        oca_group=placed.oca_group,
        oca_type=placed.oca_type,
        order_ref=placed.order_ref,
        account=placed.account or s.gw.account.account_id,
        outside_rth=placed.outside_rth,
        trigger_method=placed.trigger_method,
    )


def cancel_order(s: Session, f: pin.Fields) -> None:
    order_id = pin.read_versioned_id(f)
    s.gw.stats.inc("orders.cancel_requests")
    s.gw.dispatch(s.gw.engine.cancel(order_id, s.client_id))  # only the client's own order


def global_cancel(s: Session, f: pin.Fields) -> None:
    """reqGlobalCancel: every live order of every client, each child once (with its parent)."""
    s.gw.dispatch(s.gw.engine.cancel_all())


def _send_open_orders(s: Session, everyone: bool) -> None:
    """openOrder (+ orderStatus) of the client's live orders, or everyone's. An order id shown
    to a client counts as used by it: IB wants a client's new ids above every id returned to
    it in openOrder or orderStatus, other clients' included (reqAllOpenOrders, client 0)."""
    for ev in s.gw.engine.open_orders():
        if everyone or ev.order.client_id == s.client_id:
            s.gw.use_order_id(s.client_id, ev.order.order_id)
            s.send(eo.open_order(s.version, ev.order, ev.contract, ev.status))
            status = s.gw.engine_status(ev.order.client_id, ev.order.order_id)
            if status is not None:
                s.send(eo.order_status(status))
    s.send(out.open_order_end())


def req_open_orders(s: Session, f: pin.Fields) -> None:
    _send_open_orders(s, everyone=s.client_id == 0)


def req_all_open_orders(s: Session, f: pin.Fields) -> None:
    _send_open_orders(s, everyone=True)


def req_auto_open_orders(s: Session, f: pin.Fields) -> None:
    """Binding manual TWS orders to client 0: there are none in the simulator; nothing to send."""


def req_completed_orders(s: Session, f: pin.Fields) -> None:
    now = s.gw.clock.now()
    for ev in s.gw.engine.completed_orders():
        stamp = out.tws_time(ev.completed_at or now)
        s.send(eo.completed_order(s.version, ev.order, ev.contract, ev.status, stamp,
                                  ev.completed_status))
    s.send(out.completed_orders_end())


def _execution_wanted(flt: pin.ExecFilterReq, ev, since: datetime | None) -> bool:
    """IB's ExecutionFilter: every set field must match (case-blind text; clientId 0, empty
    text and an empty time match all); time keeps executions at or after it."""
    def same(wanted: str, actual: str) -> bool:
        return not wanted or wanted.upper() == actual.upper()

    side = {"BUY": "BOT", "SELL": "SLD"}.get(flt.side.upper(), flt.side)
    return (
        (not flt.client_id or flt.client_id == ev.client_id)
        and same(flt.account, ev.account)
        and same(flt.symbol, ev.contract.symbol)
        and same(flt.sec_type, ev.contract.sec_type)
        and same(flt.exchange, ev.exchange)
        and same(side, ev.side)
        and (since is None or ev.time >= since)
    )


def req_executions(s: Session, f: pin.Fields) -> None:
    flt = pin.decode_executions(f)
    since = hist_params.end_time(flt.time, s.gw.clock.now()) if flt.time.strip() else None
    if flt.time.strip() and since is None:
        raise pin.MalformedRequest(f"execution filter time {flt.time!r} is not a time")
    for ev in s.gw.engine.executions():
        if _execution_wanted(flt, ev, since):
            s.send(eo.exec_details(s.version, flt.req_id, ev))
            commission = s.gw.engine.commission_of(ev.exec_id)
            if commission is not None:
                s.send(eo.commission_report(commission))
    s.send(out.exec_details_end(flt.req_id))


def req_ids(s: Session, f: pin.Fields) -> None:
    s.send(out.next_valid_id(s.gw.next_order_id(s.client_id)))


def req_managed_accts(s: Session, f: pin.Fields) -> None:
    s.send(out.managed_accounts(s.gw.account.account_id))


def req_positions(s: Session, f: pin.Fields) -> None:
    s.wants_positions = True
    for p in s.gw.account.positions():
        s.send(out.position(p.account, p.contract, p.position, p.avg_cost))
    s.send(out.position_end())


def cancel_positions(s: Session, f: pin.Fields) -> None:
    s.wants_positions = False


def req_positions_multi(s: Session, f: pin.Fields) -> None:
    req_id = pin.read_versioned_id(f)
    for p in s.gw.account.positions():
        s.send(out.position_multi(req_id, p.account, p.contract, p.position, p.avg_cost))
    s.send(out.position_multi_end(req_id))


def send_account_update(s: Session) -> None:
    """Every account value, portfolio row and the account time (reqAccountUpdates payload)."""
    gw, acct = s.gw, s.gw.account.account_id
    for key, value in gw.account.values(gw.mark, gw.spot_of).items():
        s.send(out.account_value(key, value, "USD", acct))
    for row in gw.account.portfolio(gw.mark):
        s.send(
            out.portfolio(
                row.contract,
                row.position,
                row.market_price,
                row.market_value,
                row.avg_cost,
                row.unrealized_pnl,
                row.realized_pnl,
                acct,
            )
        )
    s.send(out.account_time(gw.clock.now()))


def req_account_updates(s: Session, f: pin.Fields) -> None:
    f.skip()
    subscribe = f.bool()
    s.wants_account = subscribe
    if subscribe:
        send_account_update(s)
        s.send(out.account_download_end(s.gw.account.account_id))


def req_account_updates_multi(s: Session, f: pin.Fields) -> None:
    req_id = pin.read_versioned_id(f)
    acct = s.gw.account.account_id
    for key, value in s.gw.account.values(s.gw.mark, s.gw.spot_of).items():
        s.send(out.account_update_multi(req_id, acct, key, value, "USD"))
    s.send(out.account_update_multi_end(req_id))


def req_account_summary(s: Session, f: pin.Fields) -> None:
    req_id = pin.read_versioned_id(f)
    f.skip()  # group name
    tags = {t.strip() for t in f.str().split(",") if t.strip()}
    acct = s.gw.account.account_id
    values = {"AccountType": "INDIVIDUAL", **s.gw.account.values(s.gw.mark, s.gw.spot_of)}
    for tag in SUMMARY_TAGS:
        if tag in values and (tag in tags or "All" in tags):
            s.send(
                out.account_summary(
                    req_id, acct, tag, values[tag], "" if tag == "AccountType" else "USD"
                )
            )
    s.send(out.account_summary_end(req_id))


def req_pnl(s: Session, f: pin.Fields) -> None:
    """reqPnL: the account's daily/unrealized/realized P&L now, then about once a second."""
    _subscribe_pnl(s, PnLSub(pin.read_plain_id(f)))


def req_pnl_single(s: Session, f: pin.Fields) -> None:
    """reqPnLSingle: one contract's position, P&L and value now, then about once a second."""
    req_id = pin.read_plain_id(f)
    f.skip(2)  # account, modelCode
    _subscribe_pnl(s, PnLSub(req_id, f.int()))


def _subscribe_pnl(s: Session, sub: PnLSub) -> None:
    s.subs.pnl[sub.req_id] = sub
    s.send_batch(pnl_changes(s.gw, {sub.req_id: sub}, time.monotonic()))


def cancel_pnl(s: Session, f: pin.Fields) -> None:
    s.subs.pnl.pop(pin.read_plain_id(f), None)


ACCOUNT_HANDLERS = {
    "reqPnL": req_pnl,
    "cancelPnL": cancel_pnl,
    "reqPnLSingle": req_pnl_single,
    "cancelPnLSingle": cancel_pnl,
    "placeOrder": place_order,
    "cancelOrder": cancel_order,
    "reqGlobalCancel": global_cancel,
    "reqOpenOrders": req_open_orders,
    "reqAllOpenOrders": req_all_open_orders,
    "reqAutoOpenOrders": req_auto_open_orders,
    "reqCompletedOrders": req_completed_orders,
    "reqExecutions": req_executions,
    "reqIds": req_ids,
    "reqManagedAccts": req_managed_accts,
    "reqPositions": req_positions,
    "cancelPositions": cancel_positions,
    "reqPositionsMulti": req_positions_multi,
    "reqAccountUpdates": req_account_updates,
    "reqAccountUpdatesMulti": req_account_updates_multi,
    "reqAccountSummary": req_account_summary,
}
