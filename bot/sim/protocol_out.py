"""Outgoing TWS messages (everything except orders): field lists per negotiated server version.

Each function returns the list of fields of one message; ``wire.encode`` frames it. Field
order and version gates follow ib_insync 0.9.86's ``decoder.py`` (and ib_async 2.1's for
v177/178). Contracts are ``bot.sim.contracts.SimContract``-like objects (duck-typed).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

NY = ZoneInfo("America/New_York")
TWS_TZ = "US/Eastern"
"""Time zone name TWS prints in timestamps and contract details."""

# tick types (https://interactivebrokers.github.io/tws-api/tick_types.html)
BID_SIZE, BID, ASK, ASK_SIZE, LAST, LAST_SIZE, HIGH, LOW, VOLUME, CLOSE = (
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
)
BID_OPTION, ASK_OPTION, LAST_OPTION, MODEL_OPTION = 10, 11, 12, 13
CUST_OPTION_COMPUTATION = 53
"""The tick type of calculateImpliedVolatility / calculateOptionPrice answers."""
OPEN, LAST_TIMESTAMP, OPTION_OPEN_INTEREST, HALTED = 14, 45, 27, 49

FARM_TEXTS: dict[int, str] = {
    2103: "Market data farm connection is broken:usfarm",
    2104: "Market data farm connection is OK:usfarm",
    2105: "HMDS data farm connection is broken:ushmds",
    2106: "HMDS data farm connection is OK:ushmds",
    2107: "HMDS data farm connection is inactive but should be available upon demand.ushmds",
    2108: "Market data farm connection is inactive but should be available upon demand.usfarm",
    2158: "Sec-def data farm connection is OK:secdefnj",
    1100: "Connectivity between IB and Trader Workstation has been lost.",
    1101: "Connectivity between IB and Trader Workstation has been restored - data lost.",
    1102: "Connectivity between IB and Trader Workstation has been restored - data maintained.",
    2110: (
        "Connectivity between Trader Workstation and server is broken."
        " It will be restored automatically."
    ),
}
"""IB's texts for connectivity and farm status codes (sent with reqId -1)."""


def tws_time(t: datetime) -> str:
    """``20261120 09:30:00 US/Eastern``: TWS's timestamp with zone (parsed by ib_insync)."""
    return t.astimezone(NY).strftime("%Y%m%d %H:%M:%S ") + TWS_TZ


def handshake_reply(version: int, now: datetime) -> list:
    return [version, t_conn(now)]


def t_conn(now: datetime) -> str:
    return now.astimezone(NY).strftime("%Y%m%d %H:%M:%S ") + (
        "EDT" if now.astimezone(NY).dst() else "EST"
    )


def error(version: int, req_id: int, code: int, text: str, advanced: str = "") -> list:
    fields = [4, 2, req_id, code, text]
    return fields + [advanced] if version >= 166 else fields


def next_valid_id(order_id: int) -> list:
    return [9, 1, order_id]


def managed_accounts(accounts: str) -> list:
    return [15, 1, accounts]


def current_time(epoch: int) -> list:
    return [49, 1, epoch]


def contract_fields(c, exchange: str | None = None) -> list:
    """conId..tradingClass, the 11 fields most messages carry for a contract.

    ``exchange`` defaults to the contract's; portfolio updates send the primary exchange."""
    return [
        c.con_id,
        c.symbol,
        c.sec_type,
        c.expiry,
        c.strike,
        c.right,
        c.multiplier,
        c.exchange if exchange is None else exchange,
        c.currency,
        c.local_symbol,
        c.trading_class,
    ]


def listing_exchange(c) -> str:
    """Where a contract is listed, which position messages carry instead of SMART: a stock's
    primary exchange, CBOE for options and indexes."""
    return c.primary_exchange or "CBOE"


def contract_details(version: int, req_id: int, c, d: dict) -> list:
    """One contractDetails message; ``d`` carries liquidHours, tradingHours, underConId..."""
    head = [10] if version >= 164 else [10, 8]
    fields = head + [
        req_id,
        c.symbol,
        c.sec_type,
        c.expiry,
        c.strike,
        c.right,
        c.exchange,
        c.currency,
        c.local_symbol,
        d.get("marketName", c.trading_class),
        c.trading_class,
        c.con_id,
        c.min_tick,
    ]
    if version < 164:
        fields.append("")  # mdSizeMultiplier
    fields += [
        c.multiplier,
        d.get("orderTypes", "LMT,MKT,STP,STP LMT"),
        d.get("validExchanges", "SMART"),
        1,
        d.get("underConId", 0),
        c.long_name,
        c.primary_exchange,
        d.get("contractMonth", ""),
        d.get("industry", ""),
        d.get("category", ""),
        d.get("subcategory", ""),
        TWS_TZ,
        d.get("tradingHours", ""),
        d.get("liquidHours", ""),
        "",
        "",
        0,  # evRule, evMultiplier, secIds
        1,
        d.get("underSymbol", ""),
        d.get("underSecType", ""),
        d.get("marketRuleIds", "26"),
        d.get("realExpirationDate", ""),
        d.get("stockType", "COMMON" if c.sec_type == "STK" else ""),
    ]
    if version == 163:
        fields.append(1)
    if version >= 164:
        fields += [1, 1, 1]  # minSize, sizeIncrement, suggestedSizeIncrement
    return fields


def contract_details_end(req_id: int) -> list:
    return [52, 1, req_id]


def sec_def_opt_params(
    req_id: int,
    exchange: str,
    under_con_id: int,
    trading_class: str,
    multiplier: str,
    expirations,
    strikes,
) -> list:
    exps = sorted(expirations)
    ks = sorted(strikes)
    return [
        75,
        req_id,
        exchange,
        under_con_id,
        trading_class,
        multiplier,
        len(exps),
        *exps,
        len(ks),
        *ks,
    ]


def sec_def_opt_params_end(req_id: int) -> list:
    return [76, req_id]


def tick_price(req_id: int, tick_type: int, price: float, size: float, attrib: int = 0) -> list:
    return [1, 6, req_id, tick_type, price, size, attrib]


def tick_size(req_id: int, tick_type: int, size: float) -> list:
    return [2, 6, req_id, tick_type, size]


def tick_string(req_id: int, tick_type: int, value: str) -> list:
    return [46, 6, req_id, tick_type, value]


def tick_generic(req_id: int, tick_type: int, value: float) -> list:
    return [45, 6, req_id, tick_type, value]


def tick_option_computation(
    req_id: int,
    tick_type: int,
    iv: float,
    delta: float,
    price: float,
    gamma: float,
    vega: float,
    theta: float,
    und_price: float,
    pv_dividend: float = 0.0,
) -> list:
    """tickAttrib 1 = price based; pvDividend: the present value of the underlying's dividends
    until expiry (``bot.sim.dividends``), 0 for a non-payer."""
    return [21, req_id, tick_type, 1, iv, delta, price, pv_dividend, gamma, vega, theta,
            und_price]


def tick_req_params(req_id: int, min_tick: float) -> list:
    return [81, req_id, min_tick, "9c0001", 3]


def tick_snapshot_end(req_id: int) -> list:
    return [57, 1, req_id]


def market_data_type(req_id: int, data_type: int) -> list:
    return [58, 1, req_id, data_type]


def bar_time(t: datetime, format_date: int) -> str:
    """formatDate 2 -> epoch seconds; otherwise TWS's local time with zone."""
    return str(int(t.timestamp())) if format_date == 2 else tws_time(t)


def historical_data(req_id: int, start: str, end: str, bars, format_date: int) -> list:
    fields: list = [17, req_id, start, end, len(bars)]
    for b in bars:
        fields += [
            bar_time(b.time, format_date),
            b.open,
            b.high,
            b.low,
            b.close,
            b.volume,
            b.wap,
            b.count,
        ]
    return fields


def historical_ticks(req_id: int, what: str, ticks: list[tuple]) -> list:
    """historicalTicks (96, MIDPOINT), historicalTicksBidAsk (97) or historicalTicksLast (98),
    all ticks in one message ending with done = 1; tick masks 0 (no attributes)."""
    if what == "TRADES":
        fields: list = [98, req_id, len(ticks)]
        for t, price, size, exchange in ticks:
            fields += [t, 0, price, size, exchange, ""]
    elif what == "BID_ASK":
        fields = [97, req_id, len(ticks)]
        for t, bid, ask, bid_size, ask_size in ticks:
            fields += [t, 0, bid, ask, bid_size, ask_size]
    else:
        fields = [96, req_id, len(ticks)]
        for t, price in ticks:
            fields += [t, 0, price, 0]
    return fields + [True]


def historical_data_update(req_id: int, b, format_date: int) -> list:
    return [
        90,
        req_id,
        b.count,
        bar_time(b.time, format_date),
        b.open,
        b.close,
        b.high,
        b.low,
        b.wap,
        b.volume,
    ]


def real_time_bar(req_id: int, b) -> list:
    return [
        50,
        3,
        req_id,
        int(b.time.timestamp()),
        b.open,
        b.high,
        b.low,
        b.close,
        b.volume,
        b.wap,
        b.count,
    ]


def position(account: str, c, pos: float, avg_cost: float) -> list:
    return [61, 3, account, *contract_fields(c, listing_exchange(c)), pos, avg_cost]


def position_end() -> list:
    return [62, 1]


def position_multi(req_id: int, account: str, c, pos: float, avg_cost: float) -> list:
    return [71, 1, req_id, account, *contract_fields(c, listing_exchange(c)), pos, avg_cost, ""]


def position_multi_end(req_id: int) -> list:
    return [72, 1, req_id]


def account_value(key: str, value: str, currency: str, account: str) -> list:
    return [6, 2, key, value, currency, account]


def portfolio(
    c,
    pos: float,
    price: float,
    value: float,
    avg_cost: float,
    unreal: float,
    real: float,
    account: str,
) -> list:
    return [
        7,
        8,
        *contract_fields(c, exchange=c.primary_exchange),
        pos,
        price,
        value,
        avg_cost,
        unreal,
        real,
        account,
    ]


def account_time(t: datetime) -> list:
    return [8, 1, t.astimezone(NY).strftime("%H:%M")]


def account_download_end(account: str) -> list:
    return [54, 1, account]


def account_update_multi(req_id: int, account: str, key: str, value: str, currency: str) -> list:
    return [73, 1, req_id, account, "", key, value, currency]


def account_update_multi_end(req_id: int) -> list:
    return [74, 1, req_id]


def account_summary(req_id: int, account: str, tag: str, value: str, currency: str) -> list:
    return [63, 1, req_id, account, tag, value, currency]


def account_summary_end(req_id: int) -> list:
    return [64, 1, req_id]


def exec_details_end(req_id: int) -> list:
    return [55, 1, req_id]


def open_order_end() -> list:
    return [53, 1]


def completed_orders_end() -> list:
    return [102]


def pnl(req_id: int, daily: float, unrealized: float, realized: float) -> list:
    return [94, req_id, daily, unrealized, realized]


def pnl_single(req_id: int, pos: float, daily: float, unrealized: float, realized: float,
               value: float) -> list:
    return [95, req_id, pos, daily, unrealized, realized, value]


def head_timestamp(req_id: int, stamp: str) -> list:
    return [88, req_id, stamp]
