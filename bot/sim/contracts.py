"""Deterministic contracts of the simulated market: stocks, their option chains and conIds.

A conId is a pure function of the contract, so the same contract has the same conId in every
run and a conId remembered from an earlier run resolves again:

    option conId = symbol code << 25 | expiry day (since 2024-01-01) << 13 | 2*strike << 1 | put

Chains follow US listing habits: weekly Friday expiries for ~5 weeks (every weekday for SPY and
QQQ, Mon/Wed/Fri for IWM), monthly third Fridays for ~3 months, an expiry falling on a holiday
moves to the session before; strikes centre on the previous session's close with $1 steps
within +-10% and $5 steps out to +-25%.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING

from bot.sim.calendar import exchange_date, is_session_day, previous_session_day

if TYPE_CHECKING:
    from bot.sim.market import Market

EPOCH = date(2024, 1, 1)
WEEKLY_HORIZON_DAYS = 35
MONTHLY_COUNT = 3
OPTION_EXCHANGES = ("SMART", "CBOE")
RIGHTS = {"C": "C", "CALL": "C", "P": "P", "PUT": "P"}
STOCK_CON_ID_BASE = 10_000
MAX_CODE = 63

# symbol -> (code, primary exchange, long name)
PROFILES: dict[str, tuple[int, str, str]] = {
    "SPY": (1, "ARCA", "SPDR S&P 500 ETF TRUST"),
    "QQQ": (2, "NASDAQ", "INVESCO QQQ TRUST SERIES 1"),
    "IWM": (3, "ARCA", "ISHARES RUSSELL 2000 ETF"),
    "DIA": (4, "ARCA", "SPDR DJ INDUSTRIAL AVERAGE"),
    "AAPL": (5, "NASDAQ", "APPLE INC"),
    "MSFT": (6, "NASDAQ", "MICROSOFT CORP"),
    "NVDA": (7, "NASDAQ", "NVIDIA CORP"),
    "AMZN": (8, "NASDAQ", "AMAZON.COM INC"),
    "TSLA": (9, "NASDAQ", "TESLA INC"),
    "META": (10, "NASDAQ", "META PLATFORMS INC-CLASS A"),
    "GOOGL": (11, "NASDAQ", "ALPHABET INC-CL A"),
    "AMD": (12, "NASDAQ", "ADVANCED MICRO DEVICES"),
}
INDEXES: dict[str, tuple[int, str]] = {
    "SPX": (416904, "S&P 500 Stock Index"),
    "VIX": (13455763, "CBOE Volatility Index"),
}
"""Indexes every simulated gateway quotes (secType IND on CBOE): symbol -> (IB's conId, name).
They have quotes (last only, no bid/ask), bars and contract details, but no orders."""
INDEX_EXCHANGE = "CBOE"
EXPIRY_WEEKDAYS: dict[str, frozenset[int]] = {
    "SPY": frozenset(range(5)),
    "QQQ": frozenset(range(5)),
    "IWM": frozenset({0, 2, 4}),
}
FRIDAYS = frozenset({4})


def stable_hash(*parts: object) -> int:
    """A 64-bit hash that, unlike hash(), is the same in every process."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


@dataclass(frozen=True, slots=True)
class SimContract:
    """One tradable instrument as the simulated gateway describes it."""

    con_id: int
    symbol: str
    sec_type: str  # "STK" | "OPT" | "IND"
    exchange: str = "SMART"
    primary_exchange: str = "ARCA"
    currency: str = "USD"
    local_symbol: str = ""
    trading_class: str = ""
    multiplier: str = ""  # "100" for options
    expiry: str = ""  # lastTradeDateOrContractMonth, "YYYYMMDD"
    strike: float = 0.0
    right: str = ""  # "C" | "P" | ""
    min_tick: float = 0.01
    long_name: str = ""


def _assign_codes(symbols: Sequence[str]) -> dict[str, int]:
    """Fixed codes for known symbols; others hash into the free codes (probing in sorted order)."""
    codes = {s: PROFILES[s][0] for s in symbols if s in PROFILES}
    used = set(codes.values())
    first_free = len(PROFILES) + 1
    span = MAX_CODE - first_free + 1
    for symbol in sorted(set(symbols) - set(codes)):
        slot = stable_hash("code", symbol) % span
        for probe in range(span):
            code = first_free + (slot + probe) % span
            if code not in used:
                break
        else:
            raise ValueError(f"more than {MAX_CODE} symbols are not supported")
        codes[symbol] = code
        used.add(code)
    return codes


def option_con_id(code: int, expiry: date, strike: float, right: str) -> int | None:
    """The conId layout of the module docstring; None if the fields do not fit it."""
    day, strike2 = (expiry - EPOCH).days, round(strike * 2)
    if not (0 <= day < 4096 and 0 < strike2 < 4096 and math.isclose(strike2, strike * 2)):
        return None
    return code << 25 | day << 13 | strike2 << 1 | (right == "P")


def occ_symbol(symbol: str, expiry: date, strike: float, right: str) -> str:
    """OCC option symbol as IB's localSymbol, e.g. 'SPY   261120C00590000'."""
    return f"{symbol:<6}{expiry:%y%m%d}{right}{round(strike * 1000):08d}"


def expirations(symbol: str, today: date) -> list[date]:
    """Listed expiries on or after `today`, sorted."""
    weekdays = EXPIRY_WEEKDAYS.get(symbol, FRIDAYS)
    days = {today + timedelta(days=n) for n in range(WEEKLY_HORIZON_DAYS)}
    listed = {d for d in days if d.weekday() in weekdays}
    year, month = today.year, today.month
    for n in range(MONTHLY_COUNT + 1):
        y, m = year + (month - 1 + n) // 12, (month - 1 + n) % 12 + 1
        first = date(y, m, 1)
        listed.add(first + timedelta(days=(4 - first.weekday()) % 7 + 14))
    moved = {d if is_session_day(d) else previous_session_day(d) for d in listed}
    return sorted(d for d in moved if d >= today)


def strikes_around(reference: float) -> list[float]:
    """$1 strikes within +-10% of `reference`, $5 strikes out to +-25%."""
    fine = range(math.ceil(reference * 0.9), math.floor(reference * 1.1) + 1)
    coarse = range(math.ceil(reference * 0.75 / 5) * 5, math.floor(reference * 1.25 / 5) * 5 + 1, 5)
    return sorted({float(k) for k in (*fine, *coarse) if k > 0})


def _parse_expiry(text: str) -> date | None:
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8])) if len(text) == 8 else None
    except ValueError:
        return None


def _parse_occ(local_symbol: str) -> tuple[str, str, float, str] | None:
    """(symbol, YYYYMMDD, strike, right) from an OCC symbol, None if it is not one."""
    if len(local_symbol) != 21 or local_symbol[12] not in "CP" or not local_symbol[13:].isdigit():
        return None
    expiry = _parse_expiry("20" + local_symbol[6:12])
    if expiry is None:
        return None
    strike = int(local_symbol[13:]) / 1000
    return local_symbol[:6].strip(), f"{expiry:%Y%m%d}", strike, local_symbol[12]


class ContractRegistry:
    """Deterministic contracts and conIds for the simulated symbols (same conId for the same
    contract every run). A contract handed out once stays resolvable by conId for the run.

    Thread rule: meant for the gateway's loop thread; calls from other threads are safe only
    for lookups of contracts already created.
    """

    def __init__(self, symbols: Sequence[str], market: Market) -> None:
        self._symbols = tuple(dict.fromkeys(symbols))
        self._market = market
        self._codes = _assign_codes(self._symbols)
        self._symbol_of_code = {code: s for s, code in self._codes.items()}
        self._chains: dict[tuple[str, date], tuple[tuple[date, ...], frozenset[float]]] = {}
        self._stocks = {s: self._make_stock(s) for s in self._symbols}
        self._indexes = {s: SimContract(con_id=con_id, symbol=s, sec_type="IND",
                                        exchange=INDEX_EXCHANGE, primary_exchange="",
                                        local_symbol=s, trading_class=s, long_name=name)
                         for s, (con_id, name) in INDEXES.items()}
        self._by_id: dict[int, SimContract] = {
            c.con_id: c for c in (*self._stocks.values(), *self._indexes.values())}

    def stock(self, symbol: str) -> SimContract | None:
        """The stock or ETF contract of `symbol`, None if it is not simulated."""
        return self._stocks.get(symbol)

    def option(self, symbol: str, expiry: str, strike: float, right: str) -> SimContract | None:
        """The listed option, or None if the expiry or strike is not in today's chain."""
        right, day = RIGHTS.get(right.upper()), _parse_expiry(expiry)
        if symbol not in self._codes or right is None or day is None:
            return None
        con_id = option_con_id(self._codes[symbol], day, strike, right)
        if con_id is None:
            return None
        if con_id in self._by_id:
            return self._by_id[con_id]
        expiries, strikes = self._chain(symbol, self._today())
        if day not in expiries or float(strike) not in strikes:
            return None
        contract = self._make_option(symbol, day, float(strike), right, con_id)
        self._by_id[con_id] = contract
        return contract

    def by_con_id(self, con_id: int) -> SimContract | None:
        """The contract with this conId (also options never asked for in this run)."""
        if con_id in self._by_id:
            return self._by_id[con_id]
        symbol = self._symbol_of_code.get(con_id >> 25)
        if symbol is None:
            return None
        expiry = EPOCH + timedelta(days=(con_id >> 13) & 0xFFF)
        strike, right = ((con_id >> 1) & 0xFFF) / 2, "P" if con_id & 1 else "C"
        return self.option(symbol, f"{expiry:%Y%m%d}", strike, right)

    def chain_params(
        self, symbol: str, today: date
    ) -> list[tuple[str, str, str, frozenset[str], frozenset[float]]]:
        """reqSecDefOptParams rows: (exchange, trading class, multiplier, expiries, strikes)."""
        if symbol not in self._codes:
            return []
        expiries, strikes = self._chain(symbol, today)
        names = frozenset(f"{d:%Y%m%d}" for d in expiries)
        return [(exchange, symbol, "100", names, strikes) for exchange in OPTION_EXCHANGES]

    def match(
        self,
        *,
        con_id: int = 0,
        symbol: str = "",
        sec_type: str = "",
        expiry: str = "",
        strike: float = 0.0,
        right: str = "",
        exchange: str = "",
        currency: str = "",
        local_symbol: str = "",
        trading_class: str = "",
    ) -> list[SimContract]:
        """reqContractDetails semantics: empty or zero fields are wildcards; unknown -> [].

        An expiry of six digits (YYYYMM) matches the whole month. Without sec_type, options are
        searched only when an option field (expiry, strike, right) is given.
        """
        if currency not in ("", "USD"):
            return []
        if con_id:
            found = self.by_con_id(con_id)
            candidates = [found] if found else []
        else:
            candidates = self._candidates(symbol, sec_type, expiry, strike, right, local_symbol)
        wanted = {
            "symbol": symbol,
            "sec_type": sec_type,
            "local_symbol": local_symbol,
            "trading_class": trading_class,
            "right": RIGHTS.get(right.upper(), right),
        }
        kept = (
            c
            for c in candidates
            if all(not v or getattr(c, k) == v for k, v in wanted.items())
            and (not strike or math.isclose(c.strike, strike))
            and c.expiry.startswith(expiry)
        )
        routed = (self._on_exchange(c, exchange) for c in kept)
        return [c for c in routed if c is not None]

    def _candidates(
        self, symbol: str, sec_type: str, expiry: str, strike: float, right: str, local: str
    ) -> list[SimContract]:
        occ = _parse_occ(local)
        if occ is not None:
            symbol = symbol or occ[0]
            expiry, strike, right = expiry or occ[1], strike or occ[2], right or occ[3]
        symbols = [symbol] if symbol else list(self._symbols)
        found: list[SimContract] = []
        if sec_type in ("", "IND") and not (expiry or strike or right):
            found += [self._indexes[s] for s in symbols if s in self._indexes]
        option_fields = bool(expiry or strike or right)
        for name in (s for s in symbols if s in self._codes):
            if sec_type in ("", "STK"):
                found.append(self._stocks[name])
            if sec_type == "OPT" or (not sec_type and option_fields):
                found.extend(self._options_of(name, expiry, strike, right))
        return found

    def _options_of(self, symbol: str, expiry: str, strike: float, right: str) -> list[SimContract]:
        expiries, strikes = self._chain(symbol, self._today())
        days = [d for d in expiries if f"{d:%Y%m%d}".startswith(expiry)]
        chosen = [k for k in sorted(strikes) if not strike or math.isclose(k, strike)]
        rights = [RIGHTS[right.upper()]] if right.upper() in RIGHTS else ["C", "P"]
        options = (
            self.option(symbol, f"{d:%Y%m%d}", k, r) for d in days for k in chosen for r in rights
        )
        return [c for c in options if c is not None]

    @staticmethod
    def _on_exchange(contract: SimContract, exchange: str) -> SimContract | None:
        if exchange in ("", contract.exchange):
            return contract
        allowed = OPTION_EXCHANGES if contract.sec_type == "OPT" else (contract.primary_exchange,)
        return replace(contract, exchange=exchange) if exchange in allowed else None

    def _today(self) -> date:
        return exchange_date(self._market.now())

    def _chain(self, symbol: str, today: date) -> tuple[tuple[date, ...], frozenset[float]]:
        key = (symbol, today)
        if key not in self._chains:
            if len(self._chains) > 4 * len(self._symbols):
                self._chains.clear()
            recorded = self._market.recorded_chain(symbol, today)
            if recorded:  # a replay's recorded chain: its listed expiries still open
                expiries = sorted({d for d in map(_parse_expiry, recorded[0]) if d and d >= today})
                self._chains[key] = (tuple(expiries), frozenset(recorded[1]))
            else:
                reference = self._market.prior_close(symbol, today)
                strikes = frozenset(strikes_around(reference))
                self._chains[key] = (tuple(expirations(symbol, today)), strikes)
        return self._chains[key]

    def _make_stock(self, symbol: str) -> SimContract:
        code, primary, name = PROFILES.get(symbol, (0, "ARCA", f"{symbol} SIMULATED INC"))
        return SimContract(
            con_id=STOCK_CON_ID_BASE + self._codes[symbol],
            symbol=symbol,
            sec_type="STK",
            primary_exchange=primary,
            local_symbol=symbol,
            trading_class=symbol,
            long_name=name,
        )

    def _make_option(
        self, symbol: str, expiry: date, strike: float, right: str, con_id: int
    ) -> SimContract:
        return SimContract(
            con_id=con_id,
            symbol=symbol,
            sec_type="OPT",
            primary_exchange="",
            local_symbol=occ_symbol(symbol, expiry, strike, right),
            trading_class=symbol,
            multiplier="100",
            expiry=f"{expiry:%Y%m%d}",
            strike=strike,
            right=right,
            long_name=self._stocks[symbol].long_name,
        )
