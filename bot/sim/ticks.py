"""Tick messages of reqMktData beyond the top of book: option computations solved per price,
generic ticks on request, and IB's delayed tick ids. Pure functions of their arguments.

- Option computations (tick types 10-13: bid, ask, last, model): each carries the implied
  volatility that prices the option at that price (``options.solve_vol``) and the greeks at
  that volatility, as IB computes them; a price no volatility reaches (a bid below the
  intrinsic value) gets IB's "not computed" values (-1 for the volatility, -2 greeks).
  The model computation carries the smile's volatility and the model price. Every
  computation carries pvDividend, the present value of the underlying's dividends going ex
  before expiry, and is solved on the spot less it (``bot.sim.dividends``).
- Generic ticks, sent only when the request's genericTickList names them: 100 option volume
  (29 calls, 30 puts), 101 option open interest (27 calls, 28 puts) — for an option its own,
  for a stock the sum over the nearest expiry's listed strikes; 104 historical volatility
  (tick 23, the symbol's realised volatility), 106 implied volatility (tick 24: an option's
  model volatility, a stock's 30-day at-the-money volatility); 456 dividends (tick 59, a
  stock's "past 12 months,next 12 months,next ex-date,next amount"; not for options or
  indexes, as at IB).
- Delayed data (reqMarketDataType 3 or 4 on a gateway run with ``market_data="delayed"``):
  the same ticks under IB's delayed ids (66-76 for prices and sizes, 80-83 for option
  computations, 88 for the last timestamp), with the prices of ``DELAY_S`` (15 minutes) ago.
  Generic ticks stay current.
"""

from __future__ import annotations

from bot.sim import dividends, options
from bot.sim import protocol_out as out

OPEN_INTEREST_TICK = {"C": 27, "P": 28}
"""Option open interest tick types by right (ib_insync: callOpenInterest / putOpenInterest)."""
VOLUME_TICK = {"C": 29, "P": 30}
"""Option volume tick types by right (ib_insync: callVolume / putVolume)."""
HIST_VOL_TICK, IMPLIED_VOL_TICK, DIVIDENDS_TICK = 23, 24, 59
DELAYED_IDS = {0: 69, 1: 66, 2: 67, 3: 70, 4: 68, 5: 71, 6: 72, 7: 73, 8: 74, 9: 75, 14: 76,
               10: 80, 11: 81, 12: 82, 13: 83, 45: 88}
"""Live tick type -> IB's delayed tick type."""
DELAY_S = 15 * 60
"""How far delayed market data lags the market."""
NOT_COMPUTED = (-1.0, -2.0, -2.0, -2.0, -2.0)
"""(implied vol, delta, gamma, vega, theta) when IB cannot compute them."""


def option_computations(req_id: int, contract, q, now) -> dict[int, list]:
    """tickOptionComputation for bid, ask, last and model of an option quote ``q``."""
    t = options.years_to_expiry(contract.expiry, now)
    t = max(t, options.MIN_T_YEARS) if t > 0 else 0.0
    spot, k, right = q.und_price, contract.strike, contract.right
    pv = q.pv_dividend
    s = max(spot - pv, options.TICK)  # the escrowed-dividend spot the model prices on
    msgs = {}
    for tick, price in ((out.BID_OPTION, q.bid), (out.ASK_OPTION, q.ask),
                        (out.LAST_OPTION, q.last)):
        vol = (options.solve_vol(price, s, k, t, options.RATE, right, guess=q.iv)
               if price > 0 else None)
        if vol is None:
            iv, delta, gamma, vega, theta = NOT_COMPUTED
        else:
            g = options.bs_greeks(s, k, t, options.RATE, vol, right)
            iv, delta, gamma, vega, theta = vol, g.delta, g.gamma, g.vega, g.theta
        msgs[tick] = out.tick_option_computation(req_id, tick, iv, delta, price, gamma, vega,
                                                 theta, spot, pv)
    msgs[out.MODEL_OPTION] = out.tick_option_computation(
        req_id, out.MODEL_OPTION, q.iv, q.delta, q.model_price, q.gamma, q.vega, q.theta, spot,
        pv)
    return msgs


def generic_ticks(req_id: int, contract, generic: frozenset[str], market,
                  chain: tuple = ()) -> dict[int, list]:
    """The generic ticks asked for (see the module docstring); ``chain`` holds a stock's
    nearest-expiry options for 100/101."""
    msgs: dict[int, list] = {}
    option = contract.sec_type == "OPT"
    if generic & {"100", "101"}:
        quotes = ([(contract.right, market.option_quote(contract))] if option
                  else [(c.right, market.option_quote(c)) for c in chain])
        for right in ("C", "P"):
            rows = [q for r, q in quotes if r == right]
            if "100" in generic and (rows or not option):
                tick = VOLUME_TICK[right]
                msgs[tick] = out.tick_size(req_id, tick, sum(q.volume for q in rows))
            if "101" in generic and (rows or not option):
                tick = OPEN_INTEREST_TICK[right]
                msgs[tick] = out.tick_size(req_id, tick, sum(q.open_interest for q in rows))
    if "104" in generic:
        msgs[HIST_VOL_TICK] = out.tick_generic(req_id, HIST_VOL_TICK,
                                               options.base_vol(contract.symbol))
    if "106" in generic:
        if option:
            iv = market.option_quote(contract).iv
        else:
            spot = market.spot(contract.symbol)
            iv = options.implied_vol(contract.symbol, spot, spot, 30 / 365)
        msgs[IMPLIED_VOL_TICK] = out.tick_generic(req_id, IMPLIED_VOL_TICK, round(iv, 6))
    if "456" in generic and contract.sec_type == "STK":
        msgs[DIVIDENDS_TICK] = out.tick_string(
            req_id, DIVIDENDS_TICK, dividends.dividends_tick(contract.symbol, market.now()))
    return msgs


def delayed(msg: list) -> list:
    """The same tick message under IB's delayed tick id (other messages unchanged)."""
    kind = msg[0]
    if kind in (1, 2, 45, 46) and msg[3] in DELAYED_IDS:  # tickPrice/Size/Generic/String
        return [*msg[:3], DELAYED_IDS[msg[3]], *msg[4:]]
    if kind == 21 and msg[2] in DELAYED_IDS:  # tickOptionComputation
        return [*msg[:2], DELAYED_IDS[msg[2]], *msg[3:]]
    return msg
