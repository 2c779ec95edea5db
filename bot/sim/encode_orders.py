"""Outgoing order messages: openOrder, completedOrder, orderStatus, execDetails, commissionReport.

openOrder is the most intricate TWS message; its field order follows ib_insync 0.9.86's
``Decoder.openOrder`` (and ib_async 2.1's for v177+, which drops faProfile). Fields the
simulator does not model are sent empty, which the client parses as the field's default.
Order/contract/event arguments are the engine's records (duck-typed: ``SimOrder``,
``SimContract``, ``OrderStatusEvent``, ``ExecutionEvent``, ``CommissionEvent``).
"""

from __future__ import annotations

from bot.sim.protocol_out import contract_fields, tws_time
from bot.sim.wire import UNSET_DOUBLE

E = ""
"""An empty field: the client keeps its default for it."""


def _fa(version: int) -> list:
    """faGroup, faMethod, faPercentage [, faProfile before v177]."""
    return [E, E, E] if version >= 177 else [E, E, E, E]


def _tail_170(version: int) -> list:
    """minTradeQty, minCompeteSize, competeAgainstBestOffset, midOffsetAtWhole, midOffsetAtHalf."""
    return [E] * 5 if version >= 170 else []


def what_if_state(w) -> list:
    """The 14 order state fields after the status of a what-if answer (``matching.WhatIf``):
    init/maint margin and equity with loan before, change and after (strings, as TWS sends
    them), commission, min and max commission, its currency and no warning text."""
    b, a = w.before, w.after
    triples = [(b.initial_margin, a.initial_margin), (b.maintenance_margin, a.maintenance_margin),
               (b.equity_with_loan, a.equity_with_loan)]
    money = [f"{round(x, 2) + 0.0:.2f}" for x in (
        *(x for x, _ in triples), *(y - x for x, y in triples), *(y for _, y in triples))]
    return [*money, w.commission, w.commission, w.commission, "USD", E]


def open_order(version: int, o, c, status: str, what_if=None) -> list:
    """One openOrder message for order ``o`` on contract ``c`` in state ``status``; with
    ``what_if`` (``matching.WhatIf``) the answer to a what-if order, whatIf set and the order
    state carrying its margin and commission figures."""
    f = [5, o.order_id, *contract_fields(c)]
    f += [o.action, o.total_qty, o.order_type, o.lmt_price, o.aux_price, o.tif, o.oca_group]
    f += [o.account, "O", 0, o.order_ref, o.client_id, o.perm_id, o.outside_rth, False]
    f += [E, E, E, *_fa(version)]  # discretionaryAmt, goodAfterTime, sharesAllocation, FA
    f += [E] * 14  # modelCode, goodTillDate, rule80A ... stockRangeLower, stockRangeUpper
    f += [0, False, False, False, E, o.oca_type, False, False, E]  # displaySize .. nbboPriceCap
    f += [o.parent_id, o.trigger_method, E, E, E, E]  # parentId, triggerMethod, vol x2, dn x2
    f += [False, E, E, E, E, E, E]  # continuousUpdate .. basisPointsType, comboLegsDescrip
    f += [0, 0, 0]  # combo legs, order combo legs, smart combo routing params
    f += [E, E, E, E]  # scaleInitLevelSize, scaleSubsLevelSize, scalePriceIncrement, hedgeType
    f += [False, E, E, False, 0, E]  # optOutSmartRouting, clearing x2, notHeld, dnc, algo
    state = [E] * 14 if what_if is None else what_if_state(what_if)
    f += [False, what_if is not None, status, *state]  # solicited, whatIf, state .. warningText
    f += [False, False, 0]  # randomizeSize, randomizePrice, conditions
    f += [E] * 12  # adjustedOrderType .. softDollarTier (name, value, display), cashQty
    f += [False, False, False, False]  # dontUseAutoPriceForHedge .. usePriceMgmtAlgo
    f += [E] if version >= 159 else []  # duration
    f += [E] if version >= 160 else []  # postToAts
    f += [False] if version >= 162 else []  # autoCancelParent
    return f + _tail_170(version)


def completed_order(version: int, o, c, status: str, completed_time: str,
                    completed_status: str = "") -> list:
    """One completedOrder message (sent for reqCompletedOrders); completedStatus is TWS's text
    ("Filled", "Cancelled by Trader", ...), the status itself when not given."""
    f = [101, *contract_fields(c)]
    f += [o.action, o.total_qty, o.order_type, o.lmt_price, o.aux_price, o.tif, o.oca_group]
    f += [o.account, "O", 0, o.order_ref, o.perm_id, o.outside_rth, False, E, E, *_fa(version)]
    f += [E] * 13  # modelCode .. exemptCode, startingPrice .. stockRangeUpper
    f += [0, False, False, E, o.oca_type, o.trigger_method, E, E, E, E]  # displaySize .. dnAux
    f += [False, E, E, E, E]  # continuousUpdate .. comboLegsDescrip
    f += [0, 0, 0, E, E, E, E]  # legs x3, scale x3, hedgeType
    f += [E, E, False, 0, E]  # clearing x2, notHeld, dnc present, algoStrategy
    f += [False, status, False, False, 0]  # solicited, status, randomize x2, conditions
    f += [E, E, E, False, False, E, E, E, False, E, False, False, E]  # trailStop .. parentPermId
    return f + [completed_time, completed_status or status, *_tail_170(version)]


def order_status(ev) -> list:
    """orderStatus: no version field since server version 131."""
    return [
        3,
        ev.order_id,
        ev.status,
        ev.filled,
        ev.remaining,
        ev.avg_fill_price,
        ev.perm_id,
        ev.parent_id,
        ev.last_fill_price,
        ev.client_id,
        ev.why_held,
        E,
    ]


def exec_details(version: int, req_id: int, ev) -> list:
    """execDetails for request ``req_id`` (-1 for a live fill)."""
    fields = [
        11,
        req_id,
        ev.order_id,
        *contract_fields(ev.contract, ev.exchange),  # the venue, as TWS sends it, not SMART
        ev.exec_id,
        tws_time(ev.time),
        ev.account,
        ev.exchange,
        ev.side,
        ev.shares,
        ev.price,
        ev.perm_id,
        ev.client_id,
        ev.liquidation,
        ev.cum_qty,
        ev.avg_price,
        ev.order_ref,
        E,
        E,
        E,
        2,
    ]
    return fields + [False] if version >= 178 else fields


def commission_report(ev) -> list:
    """commissionReport as TWS sends it for a stock or option: the realized P&L unset
    (1.7976931348623157E308) on an opening execution, the yield unset, no redemption date."""
    return [59, 1, ev.exec_id, ev.commission, ev.currency, ev.realized_pnl, UNSET_DOUBLE, E]
