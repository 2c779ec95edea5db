"""Incoming TWS requests: message ids and field-exact decoding into small records.

Field order follows the client side of ib_insync 0.9.86 / ib_async 2.1 (``client.py``). A
decoder raises ``MalformedRequest`` on missing or unparsable fields; the session turns that
into error 320 instead of crashing. placeOrder has its own module (``decode_order``).
"""

from __future__ import annotations

from dataclasses import dataclass

UNSET_DOUBLE = 1.7976931348623157e308
UNSET_INTEGER = 2**31 - 1

REQUEST_NAMES: dict[int, str] = {
    1: "reqMktData",
    2: "cancelMktData",
    3: "placeOrder",
    4: "cancelOrder",
    5: "reqOpenOrders",
    6: "reqAccountUpdates",
    7: "reqExecutions",
    8: "reqIds",
    9: "reqContractDetails",
    10: "reqMktDepth",
    11: "cancelMktDepth",
    12: "reqNewsBulletins",
    13: "cancelNewsBulletins",
    14: "setServerLogLevel",
    15: "reqAutoOpenOrders",
    16: "reqAllOpenOrders",
    17: "reqManagedAccts",
    18: "requestFA",
    19: "replaceFA",
    20: "reqHistoricalData",
    21: "exerciseOptions",
    22: "reqScannerSubscription",
    23: "cancelScannerSubscription",
    24: "reqScannerParameters",
    25: "cancelHistoricalData",
    49: "reqCurrentTime",
    50: "reqRealTimeBars",
    51: "cancelRealTimeBars",
    52: "reqFundamentalData",
    53: "cancelFundamentalData",
    54: "calculateImpliedVolatility",
    55: "calculateOptionPrice",
    56: "cancelCalculateImpliedVolatility",
    57: "cancelCalculateOptionPrice",
    58: "reqGlobalCancel",
    59: "reqMarketDataType",
    61: "reqPositions",
    62: "reqAccountSummary",
    63: "cancelAccountSummary",
    64: "cancelPositions",
    65: "verifyRequest",
    66: "verifyMessage",
    67: "queryDisplayGroups",
    68: "subscribeToGroupEvents",
    69: "updateDisplayGroup",
    70: "unsubscribeFromGroupEvents",
    71: "startApi",
    72: "verifyAndAuthRequest",
    73: "verifyAndAuthMessage",
    74: "reqPositionsMulti",
    75: "cancelPositionsMulti",
    76: "reqAccountUpdatesMulti",
    77: "cancelAccountUpdatesMulti",
    78: "reqSecDefOptParams",
    79: "reqSoftDollarTiers",
    80: "reqFamilyCodes",
    81: "reqMatchingSymbols",
    82: "reqMktDepthExchanges",
    83: "reqSmartComponents",
    84: "reqNewsArticle",
    85: "reqNewsProviders",
    86: "reqHistoricalNews",
    87: "reqHeadTimeStamp",
    88: "reqHistogramData",
    89: "cancelHistogramData",
    90: "cancelHeadTimeStamp",
    91: "reqMarketRule",
    92: "reqPnL",
    93: "cancelPnL",
    94: "reqPnLSingle",
    95: "cancelPnLSingle",
    96: "reqHistoricalTicks",
    97: "reqTickByTickData",
    98: "cancelTickByTickData",
    99: "reqCompletedOrders",
    100: "reqWshMetaData",
    101: "cancelWshMetaData",
    102: "reqWshEventData",
    103: "cancelWshEventData",
    104: "reqUserInfo",
}

_VERSIONED_ID = (1, 2, 4, 7, 9, 10, 11, 21, 23, 25, 50, 51, 52, 53, 54, 55, 56, 57, 62, 63, 67,
                 68, 69, 70, 74, 75, 76, 77)
_PLAIN_ID = (20, 22, 78, 79, 81, 83, 84, 86, 87, 88, 89, 90, 92, 93, 94, 95, 96, 97, 98, 100,
             101, 102, 103, 104)
REQ_ID_FIELD: dict[int, int] = {**{m: 2 for m in _VERSIONED_ID}, **{m: 1 for m in _PLAIN_ID},
                                19: 4}
"""Where a request carries its request (or order/ticker) id: field index by message id, after
ib_insync's ``client.py`` (``[msgId, version, reqId, ...]`` -> 2, ``[msgId, reqId, ...]`` -> 1,
replaceFA's id comes last). Requests not listed carry none; IB answers those with id -1."""


def request_id_of(fields: list[str]) -> int:
    """The request id of a raw request, -1 when it carries none (or it cannot be read)."""
    try:
        index = REQ_ID_FIELD.get(int(fields[0]))
        return -1 if index is None else int(fields[index])
    except (ValueError, IndexError):
        return -1


class MalformedRequest(ValueError):
    """A request whose fields are missing or cannot be parsed."""


class Fields:
    """Sequential reader over one message's text fields with typed accessors."""

    def __init__(self, fields: list[str], start: int = 1) -> None:
        self._f = fields
        self._i = start

    def str(self) -> str:
        if self._i >= len(self._f):
            raise MalformedRequest(f"missing field #{self._i}")
        value = self._f[self._i]
        self._i += 1
        return value

    def int(self, default: int = 0) -> int:
        text = self.str()
        try:
            return int(text) if text else default
        except ValueError as exc:
            raise MalformedRequest(f"field #{self._i - 1} is not an int: {text!r}") from exc

    def float(self, default: float = 0.0) -> float:
        text = self.str()
        try:
            return float(text) if text else default
        except ValueError as exc:
            raise MalformedRequest(f"field #{self._i - 1} is not a number: {text!r}") from exc

    def bool(self) -> bool:
        return self.int() != 0

    def skip(self, n: int = 1) -> None:
        for _ in range(n):
            self.str()

    def remaining(self) -> int:
        return len(self._f) - self._i


@dataclass(frozen=True, slots=True)
class ReqContract:
    """The 12 contract fields a client sends inside requests."""

    con_id: int = 0
    symbol: str = ""
    sec_type: str = ""
    expiry: str = ""
    strike: float = 0.0
    right: str = ""
    multiplier: str = ""
    exchange: str = ""
    primary_exchange: str = ""
    currency: str = ""
    local_symbol: str = ""
    trading_class: str = ""


def read_contract(f: Fields) -> ReqContract:
    return ReqContract(
        f.int(),
        f.str(),
        f.str(),
        f.str(),
        f.float(),
        f.str(),
        f.str(),
        f.str(),
        f.str(),
        f.str(),
        f.str(),
        f.str(),
    )


def _skip_bag_legs(f: Fields, contract: ReqContract, per_leg: int) -> None:
    if contract.sec_type == "BAG":
        f.skip(f.int() * per_leg)


@dataclass(frozen=True, slots=True)
class MktDataReq:
    req_id: int
    contract: ReqContract
    generic_ticks: str
    snapshot: bool
    regulatory: bool


def decode_mkt_data(f: Fields) -> MktDataReq:
    f.skip()  # version
    req_id = f.int()
    contract = read_contract(f)
    _skip_bag_legs(f, contract, 4)
    if f.bool():  # delta neutral contract
        f.skip(3)
    return MktDataReq(req_id, contract, f.str(), f.bool(), f.bool())


@dataclass(frozen=True, slots=True)
class HistReq:
    req_id: int
    contract: ReqContract
    end: str
    bar_size: str
    duration: str
    use_rth: bool
    what: str
    format_date: int
    keep_up_to_date: bool


def decode_historical(f: Fields) -> HistReq:
    req_id = f.int()
    contract = read_contract(f)
    f.skip()  # includeExpired
    end, bar_size, duration, use_rth, what, fmt = (
        f.str(),
        f.str(),
        f.str(),
        f.bool(),
        f.str(),
        f.int(1),
    )
    _skip_bag_legs(f, contract, 4)
    keep = f.bool()
    return HistReq(req_id, contract, end, bar_size, duration, use_rth, what, fmt, keep)


@dataclass(frozen=True, slots=True)
class RealTimeBarsReq:
    req_id: int
    contract: ReqContract
    bar_size: int
    what: str
    use_rth: bool


def decode_real_time_bars(f: Fields) -> RealTimeBarsReq:
    f.skip()  # version
    return RealTimeBarsReq(f.int(), read_contract(f), f.int(5), f.str(), f.bool())


@dataclass(frozen=True, slots=True)
class ExecFilterReq:
    req_id: int
    client_id: int
    account: str
    time: str
    symbol: str
    sec_type: str
    exchange: str
    side: str


def decode_executions(f: Fields) -> ExecFilterReq:
    f.skip()  # version
    return ExecFilterReq(f.int(), f.int(), f.str(), f.str(), f.str(), f.str(), f.str(), f.str())


@dataclass(frozen=True, slots=True)
class SecDefReq:
    req_id: int
    symbol: str
    fut_fop_exchange: str
    sec_type: str
    con_id: int


def decode_sec_def(f: Fields) -> SecDefReq:
    return SecDefReq(f.int(), f.str(), f.str(), f.str(), f.int())


def decode_contract_details(f: Fields) -> tuple[int, ReqContract]:
    f.skip()  # version
    return f.int(), read_contract(f)


def read_versioned_id(f: Fields) -> int:
    """``[msgId, version, reqId, ...]`` requests: the request id."""
    f.skip()
    return f.int()


def read_plain_id(f: Fields) -> int:
    """``[msgId, reqId, ...]`` requests (no version field): the request id."""
    return f.int()


@dataclass(frozen=True, slots=True)
class HeadTimeStampReq:
    req_id: int
    contract: ReqContract
    include_expired: bool
    use_rth: bool
    what: str
    format_date: int


def decode_head_time_stamp(f: Fields) -> HeadTimeStampReq:
    return HeadTimeStampReq(f.int(), read_contract(f), f.bool(), f.bool(), f.str(), f.int(1))


@dataclass(frozen=True, slots=True)
class OptionCalcReq:
    """calculateImpliedVolatility (value = option price) or calculateOptionPrice (value =
    volatility), each with the underlying's price."""

    req_id: int
    contract: ReqContract
    value: float
    under_price: float


def decode_option_calc(f: Fields) -> OptionCalcReq:
    f.skip()  # version
    return OptionCalcReq(f.int(), read_contract(f), f.float(), f.float())  # options: unused


@dataclass(frozen=True, slots=True)
class DepthReq:
    req_id: int
    contract: ReqContract
    rows: int
    smart: bool


def decode_mkt_depth(f: Fields) -> DepthReq:
    f.skip()  # version
    return DepthReq(f.int(), read_contract(f), f.int(), f.bool())  # options text: unused


@dataclass(frozen=True, slots=True)
class TickByTickReq:
    req_id: int
    contract: ReqContract
    tick_type: str
    number_of_ticks: int
    ignore_size: bool


def decode_tick_by_tick(f: Fields) -> TickByTickReq:
    return TickByTickReq(f.int(), read_contract(f), f.str(), f.int(), f.bool())


@dataclass(frozen=True, slots=True)
class HistTicksReq:
    """reqHistoricalTicks: exactly one of start and end anchors the request."""

    req_id: int
    contract: ReqContract
    start: str
    end: str
    number_of_ticks: int
    what: str
    use_rth: bool
    ignore_size: bool


def decode_historical_ticks(f: Fields) -> HistTicksReq:
    req_id, contract = f.int(), read_contract(f)
    f.skip()  # includeExpired
    start, end, n, what, use_rth, ignore_size = f.str(), f.str(), f.int(), f.str(), f.bool(), f.bool()
    f.skip()  # miscOptions
    return HistTicksReq(req_id, contract, start, end, n, what, use_rth, ignore_size)
