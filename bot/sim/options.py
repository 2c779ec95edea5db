"""Option pricing for the simulator: Black-Scholes (r = 4.5%) on the spot less the present value
of the dividends going ex before expiry (escrowed dividends, ``bot.sim.dividends``), a
volatility smile, and a deterministic quote (spread, sizes, volume, open interest) around the
model price.

Pure functions of their arguments: no clock, no global random state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from bot.sim.calendar import NY, REGULAR_CLOSE, REGULAR_OPEN
from bot.sim.contracts import SimContract, stable_hash
from bot.sim.dividends import pv_dividends

RATE = 0.045
SECONDS_PER_YEAR = 365.0 * 24 * 3600
MIN_T_YEARS = 60.0 / SECONDS_PER_YEAR  # price anything closer to expiry as one minute out
TICK = 0.01
NICKEL = 0.05
NICKEL_FROM = 3.00
PENNY_CLASSES = frozenset({"SPY", "QQQ", "IWM"})
"""Option classes of the Penny Interval Program quoted in 0.01 at every price; the others
quote in 0.01 below 3.00 and in 0.05 from 3.00."""
SMILE_Z_LIMIT = 4.0
VOL_BOUNDS = (0.05, 3.0)
SESSION_S = 6.5 * 3600
SOLVE_BOUNDS = (0.001, 5.0)
NEWTON_STEPS = 8
"""The volatilities ``solve_vol`` searches between."""

# annualised volatility the market's random walk uses; implied vols sit on top of it
BASE_VOLS = {
    "SPY": 0.15, "QQQ": 0.20, "IWM": 0.22, "DIA": 0.14, "AAPL": 0.25, "MSFT": 0.23,
    "NVDA": 0.35, "AMZN": 0.28, "TSLA": 0.35, "META": 0.30, "GOOGL": 0.27, "AMD": 0.35,
    "SPX": 0.15, "VIX": 0.85,
}  # fmt: skip
IMPLIED_PREMIUM = 1.10  # implied vol trades above realised vol
# relative option liquidity (ATM contracts traded per day for a weekly = 40,000 x this)
LIQUIDITY = {"SPY": 1.0, "QQQ": 0.6, "IWM": 0.3, "TSLA": 0.3, "NVDA": 0.3, "AAPL": 0.2}
DEFAULT_LIQUIDITY = 0.05


@dataclass(frozen=True, slots=True)
class Greeks:
    """Sensitivities: vega per 1 volatility point (0.01), theta per calendar day."""

    delta: float
    gamma: float
    vega: float
    theta: float


@dataclass(frozen=True, slots=True)
class OptionQuote:
    """A simulated option quote with the model values IB sends as tickOptionComputation."""

    bid: float
    ask: float
    last: float
    bid_size: int
    ask_size: int
    volume: int
    open_interest: int
    iv: float
    delta: float
    gamma: float
    vega: float
    theta: float
    model_price: float
    und_price: float
    pv_dividend: float = 0.0
    """Present value of the dividends going ex before expiry (the model prices on
    und_price - pv_dividend)."""


def base_vol(symbol: str) -> float:
    """Annualised realised volatility of a symbol (15-35%; unknown symbols hash into 18-34%)."""
    return BASE_VOLS.get(symbol, 0.18 + (stable_hash("vol", symbol) % 17) / 100)


def _cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _d1_d2(spot: float, strike: float, t_years: float, rate: float, vol: float):
    root = vol * math.sqrt(t_years)
    d1 = (math.log(spot / strike) + (rate + 0.5 * vol * vol) * t_years) / root
    return d1, d1 - root


def _expired(spot: float, strike: float, t_years: float, vol: float) -> bool:
    return t_years <= 0 or vol <= 0 or spot <= 0 or strike <= 0


def bs_price(
    spot: float, strike: float, t_years: float, rate: float, vol: float, right: str
) -> float:
    """Black-Scholes value of a European call ("C") or put ("P"); intrinsic value at expiry."""
    if _expired(spot, strike, t_years, vol):
        return max(0.0, spot - strike) if right == "C" else max(0.0, strike - spot)
    d1, d2 = _d1_d2(spot, strike, t_years, rate, vol)
    discount = strike * math.exp(-rate * t_years)
    if right == "C":
        return spot * _cdf(d1) - discount * _cdf(d2)
    return discount * _cdf(-d2) - spot * _cdf(-d1)


def bs_greeks(
    spot: float, strike: float, t_years: float, rate: float, vol: float, right: str
) -> Greeks:
    """Black-Scholes delta, gamma, vega (per vol point) and theta (per calendar day)."""
    if _expired(spot, strike, t_years, vol):
        itm = spot > strike if right == "C" else spot < strike
        return Greeks(delta=(1.0 if right == "C" else -1.0) * itm, gamma=0.0, vega=0.0, theta=0.0)
    d1, d2 = _d1_d2(spot, strike, t_years, rate, vol)
    root_t = math.sqrt(t_years)
    discount = strike * math.exp(-rate * t_years)
    decay = -spot * _pdf(d1) * vol / (2.0 * root_t)
    if right == "C":
        delta, theta = _cdf(d1), decay - rate * discount * _cdf(d2)
    else:
        delta, theta = _cdf(d1) - 1.0, decay + rate * discount * _cdf(-d2)
    return Greeks(
        delta=delta,
        gamma=_pdf(d1) / (spot * vol * root_t),
        vega=spot * _pdf(d1) * root_t / 100.0,
        theta=theta / 365.0,
    )


def solve_vol(price: float, spot: float, strike: float, t_years: float, rate: float,
              right: str, guess: float | None = None) -> float | None:
    """The Black-Scholes volatility that prices the option at ``price``: Newton's method from
    ``guess`` when given (the quote's model volatility is close), else or when that fails
    bisection within ``SOLVE_BOUNDS``; None when no volatility does: the price is at or below
    the value at the lowest volatility or above the highest's, or it has expired."""
    if t_years <= 0 or price <= 0 or spot <= 0 or strike <= 0:
        return None
    lo, hi = SOLVE_BOUNDS
    if not bs_price(spot, strike, t_years, rate, lo, right) < price < bs_price(
            spot, strike, t_years, rate, hi, right):
        return None
    vol = guess or 0.0
    for _ in range(NEWTON_STEPS if guess else 0):  # from a near guess: 2-3 steps suffice
        diff = bs_price(spot, strike, t_years, rate, vol, right) - price
        if abs(diff) < 1e-7:
            return vol
        vega = bs_greeks(spot, strike, t_years, rate, vol, right).vega * 100.0
        if not vega > 1e-9:
            break
        vol -= diff / vega
        if not lo < vol < hi:
            break
    for _ in range(100):  # each halves the bracket: far below any price resolution
        mid = (lo + hi) / 2
        if bs_price(spot, strike, t_years, rate, mid, right) < price:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-7:
            break
    return (lo + hi) / 2


def _moneyness_z(symbol: str, spot: float, strike: float, t_years: float) -> float:
    """log(K/S) in standard deviations of the base vol to expiry, clipped to +-SMILE_Z_LIMIT."""
    root = base_vol(symbol) * math.sqrt(max(t_years, MIN_T_YEARS))
    z = math.log(strike / spot) / root
    return max(-SMILE_Z_LIMIT, min(SMILE_Z_LIMIT, z))


@dataclass(frozen=True, slots=True)
class IvSurface:
    """The implied volatility surface options are priced with: per symbol an at-the-money vol
    (``atm``; a symbol not named takes ``default_atm``, else its base vol x IMPLIED_PREMIUM),
    a put skew and a smile in standardised moneyness z: ``atm * (1 - skew z + smile z^2)``.
    A replay configures it (``surface_from``) where no option quote was recorded."""

    atm: tuple[tuple[str, float], ...] = ()
    default_atm: float | None = None
    skew: float = 0.08
    smile: float = 0.015

    def atm_vol(self, symbol: str) -> float:
        for name, vol in self.atm:
            if name == symbol:
                return vol
        return self.default_atm or base_vol(symbol) * IMPLIED_PREMIUM


MODEL_SURFACE = IvSurface()


def surface_from(obj: dict) -> IvSurface:
    """An ``IvSurface`` from JSON/YAML like ``{"atm": {"SPY": 0.14, "*": 0.2}, "skew": 0.08,
    "smile": 0.015}`` (every key optional); a bad value raises ValueError naming it."""
    unknown = set(obj) - {"atm", "skew", "smile"}
    if unknown:
        raise ValueError(f"iv surface: unknown keys {sorted(unknown)} (atm, skew, smile)")
    atm = {str(k): float(v) for k, v in (obj.get("atm") or {}).items()}
    for name, vol in atm.items():
        if not VOL_BOUNDS[0] <= vol <= VOL_BOUNDS[1]:
            raise ValueError(f"iv surface: atm {name}={vol} outside {VOL_BOUNDS}")
    return IvSurface(tuple(sorted((k, v) for k, v in atm.items() if k != "*")), atm.get("*"),
                     float(obj.get("skew", 0.08)), float(obj.get("smile", 0.015)))


def implied_vol(symbol: str, spot: float, strike: float, t_years: float,
                surface: IvSurface = MODEL_SURFACE) -> float:
    """A per-symbol at-the-money vol with a put skew and a smile in standardised moneyness."""
    z = _moneyness_z(symbol, spot, strike, t_years)
    vol = surface.atm_vol(symbol) * (1.0 - surface.skew * z + surface.smile * z * z)
    return max(VOL_BOUNDS[0], min(VOL_BOUNDS[1], vol))


def expiry_close(expiry: str) -> datetime:
    """16:00 New York on the expiry day, aware."""
    day = datetime.strptime(expiry, "%Y%m%d").date()
    return datetime.combine(day, REGULAR_CLOSE, tzinfo=NY)


def years_to_expiry(expiry: str, now: datetime) -> float:
    """Time from `now` until 16:00 New York on the expiry day, in years (negative once expired)."""
    return (expiry_close(expiry) - now).total_seconds() / SECONDS_PER_YEAR


def option_tick(symbol: str, price: float) -> float:
    """The minimum price variation of `symbol`'s options at `price` (0.01 or 0.05)."""
    return TICK if symbol in PENNY_CLASSES or price < NICKEL_FROM else NICKEL


def _round_tick(price: float, up: bool, symbol: str = "SPY") -> float:
    """price on its class's tick grid, rounded up or down."""
    for tick in (TICK, option_tick(symbol, price)):
        ticks = price / tick
        ticks = math.ceil(ticks - 1e-9) if up else math.floor(ticks + 1e-9)
        price = round(ticks * tick, 2)
    return price


def _spread(model: float, intrinsic: float, z: float, t_years: float) -> float:
    """Quoted width: a tick plus 0.6% of time value and 0.2% of intrinsic value, wider away from
    the money and in the last days before expiry."""
    near_expiry = 1.0 + math.exp(-t_years * 365.0)
    away = 1.0 + 0.3 * abs(z)
    return (TICK + 0.006 * (model - intrinsic) + 0.002 * intrinsic) * away * near_expiry


def _session_fraction(now: datetime) -> float:
    """Share of today's regular session already elapsed (0 before the open, 1 after the close)."""
    local = now.astimezone(NY)
    opened = datetime.combine(local.date(), REGULAR_OPEN, tzinfo=NY)
    return max(0.0, min(1.0, (local - opened).total_seconds() / SESSION_S))


def _activity(contract: SimContract, z: float, t_years: float, seed: int, now: datetime):
    """(bid_size, ask_size, last_size_pick, volume, open_interest), deterministic."""
    liquidity = LIQUIDITY.get(contract.symbol, DEFAULT_LIQUIDITY)
    weeks = max(t_years * 52.0, 0.2)
    nearness = math.exp(-0.5 * z * z / 2.0)  # decays with distance from the money
    h_day = stable_hash(seed, contract.con_id, now.astimezone(NY).date())
    h_tick = stable_hash(seed, contract.con_id, int(now.timestamp()) // 5)
    day_volume = 40_000 * liquidity * nearness / math.sqrt(weeks) * (0.7 + (h_day % 61) / 100)
    open_interest = int(60_000 * liquidity * nearness * (0.5 + (h_day >> 8) % 100 / 100))
    depth = max(1.0, 200 * liquidity * nearness)
    bid_size = 1 + int(depth * ((h_tick % 97) / 97 + 0.2))
    ask_size = 1 + int(depth * (((h_tick >> 8) % 89) / 89 + 0.2))
    volume = int(day_volume * _session_fraction(now))
    return bid_size, ask_size, h_tick >> 16, volume, open_interest


def dividend_pv(contract: SimContract, now: datetime) -> float:
    """Present value of the underlying's dividends going ex after ``now`` and by the option's
    expiry (0 once expired)."""
    return pv_dividends(contract.symbol, now, expiry_close(contract.expiry), RATE)


def option_quote(contract: SimContract, spot: float, now: datetime, seed: int,
                 surface: IvSurface = MODEL_SURFACE) -> OptionQuote:
    """Quote around the Black-Scholes mid with the smile's vol, on the spot less the
    dividends' present value; bid >= 0.01 and never crossed."""
    t_years = years_to_expiry(contract.expiry, now)
    t_model = max(t_years, MIN_T_YEARS) if t_years > 0 else 0.0
    pv = dividend_pv(contract, now) if t_years > 0 else 0.0
    s = max(spot - pv, TICK)  # the escrowed-dividend spot the model prices on
    iv = implied_vol(contract.symbol, s, contract.strike, t_model, surface)
    model = max(0.0, bs_price(s, contract.strike, t_model, RATE, iv, contract.right))
    greeks = bs_greeks(s, contract.strike, t_model, RATE, iv, contract.right)
    intrinsic = bs_price(s, contract.strike, 0.0, RATE, iv, contract.right)
    z = _moneyness_z(contract.symbol, s, contract.strike, t_model)
    half = _spread(model, intrinsic, z, t_model) / 2.0
    symbol = contract.symbol
    bid = max(TICK, _round_tick(model - half, up=False, symbol=symbol))
    ask = max(round(bid + option_tick(symbol, bid), 2),
              _round_tick(model + half, up=True, symbol=symbol))
    bid_size, ask_size, pick, volume, open_interest = _activity(contract, z, t_model, seed, now)
    return OptionQuote(
        bid=bid,
        ask=ask,
        last=(bid, ask, _round_tick(model, up=False, symbol=symbol) or TICK)[pick % 3],
        bid_size=bid_size,
        ask_size=ask_size,
        volume=volume,
        open_interest=open_interest,
        iv=iv,
        delta=greeks.delta,
        gamma=greeks.gamma,
        vega=greeks.vega,
        theta=greeks.theta,
        model_price=model,
        und_price=spot,
        pv_dividend=pv,
    )
