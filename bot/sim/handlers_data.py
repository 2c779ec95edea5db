"""Request handlers for reference and market data: contract details, option chains, quotes,
option computations (Black-Scholes of ``bot.sim.options``) and the current time. Historical
data is in ``handlers_history``.

Each handler is ``handler(session, fields)``; it runs on the gateway loop thread and answers
through ``session.send`` / ``session.error``. Unknown contracts get error 200.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from bot.sim import calendar, options, rules
from bot.sim import protocol_in as pin
from bot.sim import protocol_out as out
from bot.sim.handlers_reference import market_rule_ids
from bot.sim.streams import QuoteSub, quote_messages

if TYPE_CHECKING:
    from bot.sim.session import Session

ERR_NO_SECURITY = 200
TEXT_NO_SECURITY = "No security definition has been found for the request"


def resolve(s: Session, c: pin.ReqContract) -> list:
    """Contracts matching a request's contract (reqContractDetails semantics)."""
    return s.gw.contracts.match(
        con_id=c.con_id,
        symbol=c.symbol,
        sec_type=c.sec_type,
        expiry=c.expiry,
        strike=c.strike,
        right=c.right,
        exchange=c.exchange,
        currency=c.currency,
        local_symbol=c.local_symbol,
        trading_class=c.trading_class,
    )


def resolve_one(s: Session, req_id: int, c: pin.ReqContract):
    """The single matching contract, or None after sending error 200."""
    found = resolve(s, c)
    if len(found) != 1:
        s.error(req_id, ERR_NO_SECURITY, TEXT_NO_SECURITY)
        return None
    return found[0]


def details_extra(s: Session, c) -> dict:
    """contractDetails fields beyond the contract: hours, underlying, expiry."""
    today = calendar.exchange_date(s.gw.clock.now())
    liquid = calendar.liquid_hours(today)
    if c.sec_type == "IND":
        return {"liquidHours": liquid, "tradingHours": liquid, "industry": "Indices",
                "category": "Broad Range Equity Index" if c.symbol == "SPX" else "Volatility",
                "orderTypes": "", "validExchanges": "CBOE", "stockType": ""}
    if c.sec_type != "OPT":
        return {
            "liquidHours": liquid,
            "tradingHours": calendar.trading_hours(today),
            "industry": "Funds",
            "category": "Equity Fund",
        }
    under = s.gw.contracts.stock(c.symbol)
    return {
        "liquidHours": liquid,
        "tradingHours": liquid,
        "underConId": under.con_id if under else 0,
        "underSymbol": c.symbol,
        "underSecType": "STK",
        "contractMonth": c.expiry[:6],
        "realExpirationDate": c.expiry,
        "validExchanges": "SMART,CBOE",
    }


def req_contract_details(s: Session, f: pin.Fields) -> None:
    req_id, contract = pin.decode_contract_details(f)
    found = resolve(s, contract)
    if not found:
        s.error(req_id, ERR_NO_SECURITY, TEXT_NO_SECURITY)
        return
    for c in found:
        extra = {**details_extra(s, c), "marketRuleIds": market_rule_ids(c)}
        s.send(out.contract_details(s.version, req_id, c, extra))
    s.send(out.contract_details_end(req_id))


def req_sec_def_opt_params(s: Session, f: pin.Fields) -> None:
    req = pin.decode_sec_def(f)
    under = s.gw.contracts.stock(req.symbol)
    today = calendar.exchange_date(s.gw.clock.now())
    for exchange, trading_class, multiplier, expiries, strikes in s.gw.contracts.chain_params(
        req.symbol, today
    ):
        s.send(
            out.sec_def_opt_params(
                req.req_id,
                exchange,
                under.con_id if under else req.con_id,
                trading_class,
                multiplier,
                expiries,
                strikes,
            )
        )
    s.send(out.sec_def_opt_params_end(req.req_id))


ERR_NOT_SUBSCRIBED = 354
TEXT_NOT_SUBSCRIBED = "Requested market data is not subscribed. Delayed market data is available."
WARN_DELAYED = 10167
TEXT_DELAYED = "Requested market data is not subscribed. Displaying delayed market data."


def _served_type(s: Session, req_id: int) -> int | None:
    """The market data type IB serves this request with, or None after error 354: a gateway
    with live data serves live data (1, or 2 frozen) whatever was asked; one without
    (``market_data="delayed"``) refuses live requests and serves 3/4 as delayed, with IB's
    warning 10167."""
    frozen = s.data_type in (2, 4)
    if s.gw.options.market_data == "live":
        return 2 if frozen else 1
    if s.data_type in (1, 2):
        s.error(req_id, ERR_NOT_SUBSCRIBED, TEXT_NOT_SUBSCRIBED)
        return None
    s.error(req_id, WARN_DELAYED, TEXT_DELAYED)
    return 4 if frozen else 3


def _nearest_chain(s: Session, contract) -> tuple:
    """A stock's options of its nearest expiry (for generic ticks 100/101)."""
    today = calendar.exchange_date(s.gw.clock.now())
    params = s.gw.contracts.chain_params(contract.symbol, today)
    if not params:
        return ()
    _, _, _, expiries, strikes = params[0]
    expiry = min(expiries)
    found = (s.gw.contracts.option(contract.symbol, expiry, k, r)
             for k in sorted(strikes) for r in ("C", "P"))
    return tuple(c for c in found if c is not None)


def req_mkt_data(s: Session, f: pin.Fields) -> None:
    req = pin.decode_mkt_data(f)
    contract = resolve_one(s, req.req_id, req.contract)
    if contract is None:
        return
    served = _served_type(s, req.req_id)
    if served is None:
        return
    generic = frozenset(t.strip() for t in req.generic_ticks.split(",") if t.strip())
    chain = _nearest_chain(s, contract) if contract.sec_type != "OPT" and (
        generic & {"100", "101"}) else ()
    delayed = served in (3, 4)
    s.send(out.market_data_type(req.req_id, served))
    s.send(out.tick_req_params(req.req_id, contract.min_tick))
    if req.snapshot or req.regulatory:
        msgs = quote_messages(req.req_id, contract, s.gw.market, generic, chain, delayed)
        s.send_batch([*msgs.values(), out.tick_snapshot_end(req.req_id)])
        return
    if not s.gw.lines.acquire((s, "mkt", req.req_id)):
        s.gw.stats.inc("violation.mkt_data_lines")
        s.error(req.req_id, rules.ERR_MAX_TICKERS, rules.TEXT_MAX_TICKERS)
        return
    sub = QuoteSub(req.req_id, contract, generic, chain, delayed)
    if contract.sec_type == "OPT" and s.gw.latency.active:  # model greeks come later
        sub.greeks_after = time.monotonic() + s.gw.latency.draw_s("greeks")
    s.subs.quotes[req.req_id] = sub
    s.send_batch(sub.changes(s.gw.market, s.gw.market.now()))


def cancel_mkt_data(s: Session, f: pin.Fields) -> None:
    req_id = pin.read_versioned_id(f)
    s.subs.quotes.pop(req_id, None)
    s.gw.lines.release((s, "mkt", req_id))


def req_market_data_type(s: Session, f: pin.Fields) -> None:
    f.skip()
    s.data_type = f.int(1)


def _option_calc(s: Session, f: pin.Fields, given_vol: bool) -> None:
    """calculateOptionPrice (given_vol) or calculateImpliedVolatility: one tickOptionComputation
    (tick type 53) from the simulator's Black-Scholes at the given underlying price less the
    present value of its dividends until expiry (sent as pvDividend); an implied volatility no
    price can have is sent as IB's "not computed" (-1, greeks -2)."""
    req = pin.decode_option_calc(f)
    contract = resolve_one(s, req.req_id, req.contract)
    if contract is None:
        return
    if contract.sec_type != "OPT":
        s.error(req.req_id, 321, "Error validating request.-'calculate' : cause - "
                                 "option computations need an option contract")
        return
    t = options.years_to_expiry(contract.expiry, s.gw.market.now())
    t = max(t, options.MIN_T_YEARS) if t > 0 else 0.0
    spot, k, right = req.under_price, contract.strike, contract.right
    pv = options.dividend_pv(contract, s.gw.market.now()) if t > 0 else 0.0
    escrowed = max(spot - pv, options.TICK)
    if given_vol:
        vol: float | None = req.value
        price = options.bs_price(escrowed, k, t, options.RATE, req.value, right)
    else:
        vol = options.solve_vol(req.value, escrowed, k, t, options.RATE, right)
        price = req.value
    if vol is None or not vol > 0:
        s.send(out.tick_option_computation(req.req_id, out.CUST_OPTION_COMPUTATION, -1.0, -2.0,
                                           price, -2.0, -2.0, -2.0, spot, pv))
        return
    g = options.bs_greeks(escrowed, k, t, options.RATE, vol, right)
    s.send(out.tick_option_computation(req.req_id, out.CUST_OPTION_COMPUTATION, vol, g.delta,
                                       price, g.gamma, g.vega, g.theta, spot, pv))


def calculate_implied_volatility(s: Session, f: pin.Fields) -> None:
    _option_calc(s, f, given_vol=False)


def calculate_option_price(s: Session, f: pin.Fields) -> None:
    _option_calc(s, f, given_vol=True)


def _no_op(s: Session, f: pin.Fields) -> None:
    """A cancel of a one-shot request already answered: nothing to stop."""


def req_current_time(s: Session, f: pin.Fields) -> None:
    s.send(out.current_time(int(s.gw.clock.now().timestamp())))


DATA_HANDLERS = {
    "reqContractDetails": req_contract_details,
    "reqSecDefOptParams": req_sec_def_opt_params,
    "reqMktData": req_mkt_data,
    "cancelMktData": cancel_mkt_data,
    "reqMarketDataType": req_market_data_type,
    "reqCurrentTime": req_current_time,
    "calculateImpliedVolatility": calculate_implied_volatility,
    "cancelCalculateImpliedVolatility": _no_op,
    "calculateOptionPrice": calculate_option_price,
    "cancelCalculateOptionPrice": _no_op,
}
