"""Field-exact decoding of placeOrder (message 3) as ib_insync 0.9.86 / ib_async 2.1 send it.

Every field the client writes is consumed in order, including the variable-length sections
(combo legs, delta-neutral, scale, hedge, algo params, PEG BENCH, conditions, v158+ tails), so
a decoded order is only accepted when the whole message lines up. The simulator honours the
fields kept on ``PlacedOrder``; the rest are read and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.sim.protocol_in import UNSET_DOUBLE, Fields, MalformedRequest, ReqContract, read_contract

CONDITION_FIELDS = {1: 6, 3: 3, 4: 3, 5: 4, 6: 5, 7: 5}
"""Order condition type -> number of fields after the type (ib_insync order.py dataclasses)."""


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    """The order fields the simulator keeps (and echoes back on openOrder)."""

    order_id: int
    contract: ReqContract
    action: str
    total_qty: float
    order_type: str
    lmt_price: float
    aux_price: float
    tif: str
    oca_group: str
    account: str
    open_close: str
    origin: int
    order_ref: str
    transmit: bool
    parent_id: int
    outside_rth: bool
    hidden: bool
    display_size: int
    trigger_method: int
    good_after_time: str
    good_till_date: str
    oca_type: int
    what_if: bool


def _float(text: str) -> float:
    """Client floats: empty means unset."""
    return float(text) if text else UNSET_DOUBLE


def decode_place_order(f: Fields, version: int) -> PlacedOrder:
    """Decode a placeOrder message (``f`` positioned after the message id)."""
    order_id = f.int()
    contract = read_contract(f)
    f.skip(2)  # secIdType, secId
    head = dict(
        action=f.str(),
        total_qty=f.float(),
        order_type=f.str(),
        lmt_price=f.float(),
        aux_price=f.float(),
        tif=f.str(),
        oca_group=f.str(),
        account=f.str(),
        open_close=f.str(),
        origin=f.int(),
        order_ref=f.str(),
        transmit=f.bool(),
        parent_id=f.int(),
    )
    f.skip(2)  # blockOrder, sweepToFill
    display_size, trigger_method, outside_rth, hidden = f.int(), f.int(), f.bool(), f.bool()
    if contract.sec_type == "BAG":
        f.skip(f.int() * 8)  # combo legs
        f.skip(f.int())  # order combo leg prices
        f.skip(f.int() * 2)  # smart combo routing params
    f.skip(2)  # deprecated sharesAllocation, discretionaryAmt
    good_after_time, good_till_date = f.str(), f.str()
    f.skip(3 if version >= 177 else 4)  # faGroup, faMethod, faPercentage, [faProfile]
    f.skip(4)  # modelCode, shortSaleSlot, designatedLocation, exemptCode
    oca_type = f.int()
    f.skip(17)  # rule80A .. volatilityType (see client.py)
    dn_order_type = f.str()
    f.skip()  # deltaNeutralAuxPrice
    if dn_order_type:
        f.skip(8)
    f.skip(6)  # continuousUpdate .. scaleSubsLevelSize
    scale_increment = _float(f.str())
    if 0 < scale_increment < UNSET_DOUBLE:
        f.skip(7)
    f.skip(3)  # scaleTable, activeStartTime, activeStopTime
    if f.str():  # hedgeType
        f.skip()
    f.skip(4)  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld
    if f.bool():  # delta neutral contract
        f.skip(3)
    if f.str():  # algoStrategy
        f.skip(f.int() * 2)
    f.skip()  # algoId
    what_if = f.bool()
    f.skip(4)  # orderMiscOptions, solicited, randomizeSize, randomizePrice
    order_type = head["order_type"]
    if order_type in ("PEG BENCH", "PEGBENCH"):
        f.skip(5)
    _skip_conditions(f)
    f.skip(19)  # adjustedOrderType .. usePriceMgmtAlgo
    _skip_version_tail(f, version, contract, order_type)
    return PlacedOrder(
        order_id=order_id,
        contract=contract,
        outside_rth=outside_rth,
        hidden=hidden,
        display_size=display_size,
        trigger_method=trigger_method,
        good_after_time=good_after_time,
        good_till_date=good_till_date,
        oca_type=oca_type,
        what_if=what_if,
        **head,
    )


def _skip_conditions(f: Fields) -> None:
    count = f.int()
    for _ in range(count):
        cond_type = f.int()
        if cond_type not in CONDITION_FIELDS:
            raise MalformedRequest(f"unknown order condition type {cond_type}")
        f.skip(CONDITION_FIELDS[cond_type])
    if count:
        f.skip(2)  # conditionsIgnoreRth, conditionsCancelOrder


def _skip_version_tail(f: Fields, version: int, contract: ReqContract, order_type: str) -> None:
    for since in (158, 160, 162, 166, 169):  # duration, postToAts, autoCancelParent, ...
        if version >= since:
            f.skip()
    if version < 170:
        return
    if contract.exchange == "IBKRATS":
        f.skip()  # minTradeQty
    if order_type in ("PEG BEST", "PEGBEST"):
        f.skip()  # minCompeteSize
        if f.str() in ("Infinity", "Infinite", "inf"):
            f.skip(2)
    elif order_type in ("PEG MID", "PEGMID"):
        f.skip(2)
