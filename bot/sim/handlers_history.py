"""Request handlers for historical data: bars, historical ticks, real-time bars and the head
time stamp.

Each handler is ``handler(session, fields)`` on the gateway loop thread. The bars come from
``bot.sim.hist_bars``; IB's pacing (``bot.sim.rules.HistoricalPacing``) is hard for bars of 30
seconds or less and soft (the answer waits ``SOFT_DELAY_S``) above, unless the gateway runs
with ``pacing="strict"``, which makes it hard for every size.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.sim import calendar, hist_bars, hist_params, hist_ticks, options, rules
from bot.sim import protocol_in as pin
from bot.sim import protocol_out as out
from bot.sim.handlers_data import resolve_one
from bot.sim.streams import BarSub, RealTimeBarSub

if TYPE_CHECKING:
    from bot.sim.session import Session

HIST_PREFIX = "Historical Market Data Service error message:"
SOFT_DELAY_S = 1.0
"""Wall seconds a soft-paced historical request waits before it is answered."""


def _hist_error(s: Session, req_id: int, text: str) -> None:
    s.error(req_id, rules.ERR_HIST, HIST_PREFIX + text)


def _paced(s: Session, req_id: int, contract, what: str, query: tuple,
           bar_s: int | None = None) -> bool | None:
    """Apply IB's historical pacing on the simulated clock. True: answer now; None: answer
    after ``SOFT_DELAY_S`` (a bar above 30 seconds over the limits, under ``pacing="ib"``:
    IB throttles those rather than refusing them); False: error 162 sent (the hard rules, for
    bars of 30 seconds or less, and for every size under ``pacing="strict"``)."""
    key = (contract.con_id, contract.exchange)
    t = (s.gw.clock.now() - s.gw.epoch).total_seconds()
    violated = s.gw.hist_pacing.check(rules.HistRequest(key, what, query), t)
    if violated is None:
        return True
    soft = (s.gw.options.pacing == "ib" and bar_s is not None
            and bar_s > hist_params.SMALL_BAR_S)
    if soft:
        s.gw.stats.inc(f"pacing.soft.{violated}")
        return None
    s.gw.stats.inc(f"violation.{violated}")
    s.error(req_id, rules.ERR_HIST, rules.TEXT_HIST_PACING)
    return False


def req_historical_data(s: Session, f: pin.Fields) -> None:
    req = pin.decode_historical(f)
    contract = resolve_one(s, req.req_id, req.contract)
    if contract is None:
        return
    query = (req.end, req.bar_size, req.duration, req.use_rth, req.format_date, req.keep_up_to_date)
    bar_s = hist_params.bar_seconds(req.bar_size)
    paced = _paced(s, req.req_id, contract, req.what, query, bar_s)
    if paced is None:
        asyncio.get_running_loop().call_later(SOFT_DELAY_S, _answer_historical, s, req, contract)
    elif paced:
        _answer_historical(s, req, contract)


def _window(req: pin.HistReq, now: datetime) -> tuple[datetime | None, datetime | None]:
    """(start, end) of a request; useRTH=0 day counts begin at 04:00 of their first day."""
    end = now if req.keep_up_to_date else hist_params.end_time(req.end, now)
    end = None if end is None else min(end, now)
    start = None if end is None else hist_params.window_start(req.duration, end)
    if start is not None and not req.use_rth and req.duration.strip().endswith("D"):
        start = min(start, hist_bars.extended_open(calendar.exchange_date(start)))
    return start, end


def _answer_historical(s: Session, req: pin.HistReq, contract) -> None:
    bar_s = hist_params.bar_seconds(req.bar_size)
    start, end = _window(req, s.gw.market.now())
    option = contract.sec_type == "OPT"
    whats = hist_params.OPTION_WHAT_TO_SHOW if option else hist_params.WHAT_TO_SHOW
    problem = (
        "Invalid bar size"
        if bar_s is None
        else "Invalid end date/time"
        if end is None
        else "Invalid duration"
        if start is None
        else f"Invalid what to show: {req.what}"
        if req.what not in whats
        else None
    )
    if problem:
        _hist_error(s, req.req_id, problem)
        return
    duration_s = (end - start).total_seconds()
    bars = hist_bars.serve(s.gw.market, contract, end, duration_s, bar_s, req.what,
                           req.use_rth, s.gw.options.seed)
    if bars is None:  # an expired option
        _hist_error(s, req.req_id, f"HMDS query returned no data: {contract.local_symbol}"
                                   f"@{contract.exchange} {req.what}")
        return
    keep = req.keep_up_to_date and not option and bar_s < hist_params.WEEK_S
    if keep:
        bars += _forming_bar(s, contract.symbol, bar_s, start, bars)
    if not bars and not keep:
        _hist_error(
            s,
            req.req_id,
            f"HMDS query returned no data: {contract.symbol}@{contract.exchange} {req.what}",
        )
        return
    s.send(
        out.historical_data(
            req.req_id, out.tws_time(start), out.tws_time(end), bars, req.format_date
        )
    )
    if keep:
        s.subs.bars[req.req_id] = BarSub(
            req.req_id,
            contract.symbol,
            bar_s,
            req.format_date,
            req.what if req.what in hist_params.REAL_TIME_WHAT else "TRADES",
            last_time=bars[-1].time if bars else None,
        )


def _forming_bar(s: Session, symbol: str, bar_s: int, start: datetime, bars: list) -> list:
    """A keepUpToDate answer ends with the bar still forming, as IB's does (its updates then
    replace it); none when it lies before the window or is the last completed bar (closed
    market). ib_insync ignores updates of an empty bar list, so at the open this bar is what
    lets a "1 D" subscription stream at all."""
    bar = s.gw.market.partial_bar(symbol, bar_s)
    newer = not bars or bar.time > bars[-1].time
    return [bar] if bar.time >= start and newer else []


def cancel_historical_data(s: Session, f: pin.Fields) -> None:
    s.subs.bars.pop(pin.read_versioned_id(f), None)


def req_real_time_bars(s: Session, f: pin.Fields) -> None:
    req = pin.decode_real_time_bars(f)
    contract = resolve_one(s, req.req_id, req.contract)
    if contract is None:
        return
    if contract.sec_type == "OPT" or req.what not in hist_params.REAL_TIME_WHAT:
        s.error(req.req_id, 420, "Invalid Real-time Query:" + f"{req.what} bars are not available")
        return
    if not _paced(s, req.req_id, contract, req.what, ("rtb", req.bar_size, req.use_rth)):
        return
    if not s.gw.lines.acquire((s, "rtb", req.req_id)):
        s.gw.stats.inc("violation.mkt_data_lines")
        s.error(req.req_id, rules.ERR_MAX_TICKERS, rules.TEXT_MAX_TICKERS)
        return
    now = s.gw.market.now()
    last_done = (
        int(now.timestamp()) // RealTimeBarSub.BAR_S * RealTimeBarSub.BAR_S - RealTimeBarSub.BAR_S
    )
    s.subs.rt_bars[req.req_id] = RealTimeBarSub(
        req.req_id, contract.symbol, req.what, datetime.fromtimestamp(last_done, UTC)
    )


def cancel_real_time_bars(s: Session, f: pin.Fields) -> None:
    req_id = pin.read_versioned_id(f)
    s.subs.rt_bars.pop(req_id, None)
    s.gw.lines.release((s, "rtb", req_id))


def req_head_time_stamp(s: Session, f: pin.Fields) -> None:
    """reqHeadTimeStamp: the start of the earliest bar served for the contract (the oldest
    session the market keeps); an expired option has none."""
    req = pin.decode_head_time_stamp(f)
    contract = resolve_one(s, req.req_id, req.contract)
    if contract is None:
        return
    if req.what not in hist_params.WHAT_TO_SHOW:
        _hist_error(s, req.req_id, f"Invalid what to show: {req.what}")
        return
    head = s.gw.market.head_time(contract.symbol)
    if not req.use_rth:
        head = hist_bars.extended_open(calendar.exchange_date(head))
    if contract.sec_type == "OPT" and options.years_to_expiry(contract.expiry, s.gw.clock.now()) <= 0:
        _hist_error(s, req.req_id, "No head time stamp")
        return
    s.send(out.head_timestamp(req.req_id, out.bar_time(head, req.format_date)))



def req_historical_ticks(s: Session, f: pin.Fields) -> None:
    """reqHistoricalTicks of a stock or ETF (``bot.sim.hist_ticks``), under the historical
    pacing; exactly one of start and end, numberOfTicks 1..1000 (more is capped at 1000)."""
    req = pin.decode_historical_ticks(f)
    contract = resolve_one(s, req.req_id, req.contract)
    if contract is None:
        return
    now = s.gw.market.now()
    start = hist_params.end_time(req.start, now) if req.start.strip() else None
    end = hist_params.end_time(req.end, now) if req.end.strip() else None
    problem = (
        "Exactly one of start and end date/time must be specified"
        if bool(req.start.strip()) == bool(req.end.strip())
        else "Invalid start or end date/time" if start is None and end is None
        else "numberOfTicks must be positive" if req.number_of_ticks <= 0
        else None
    )
    if problem:
        s.error(req.req_id, 321, f"Error validating request.-'bX' : cause - {problem}")
        return
    if req.what not in hist_ticks.WHAT_TO_SHOW:
        _hist_error(s, req.req_id, f"Invalid what to show: {req.what}")
        return
    if contract.sec_type != "STK":
        _hist_error(s, req.req_id, f"HMDS query returned no data: {contract.local_symbol}"
                                   f"@{contract.exchange} {req.what}")
        return
    query = ("ticks", req.start, req.end, req.number_of_ticks, req.use_rth, req.ignore_size)
    if not _paced(s, req.req_id, contract, req.what, query):
        return
    ticks = hist_ticks.serve(s.gw.market, contract.symbol, contract.primary_exchange, req.what,
                             start, end, req.number_of_ticks, req.use_rth, req.ignore_size)
    s.send(out.historical_ticks(req.req_id, req.what, ticks))


def _no_op(s: Session, f: pin.Fields) -> None:
    """A cancel of a one-shot request already answered: nothing to stop."""


HISTORY_HANDLERS = {
    "reqHistoricalData": req_historical_data,
    "cancelHistoricalData": cancel_historical_data,
    "reqRealTimeBars": req_real_time_bars,
    "cancelRealTimeBars": cancel_real_time_bars,
    "reqHeadTimeStamp": req_head_time_stamp,
    "reqHistoricalTicks": req_historical_ticks,
    "cancelHeadTimeStamp": _no_op,
}
