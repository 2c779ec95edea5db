"""Command line of the simulated gateway: ``python -m bot gateway [options]``.

Runs until Ctrl-C or SIGTERM, logs a line per connection, prints the counters on shutdown
and returns 0. Binds to loopback unless ``--host`` says otherwise. ``--help`` lists what is
simulated (``SIMULATED``).
"""

from __future__ import annotations

import argparse
import inspect
import json
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.sim import latency
from bot.sim.faults import FaultInjector, load_faults
from bot.sim.replay_data import ReplayData, ReplayDataError
from bot.sim.server import GatewayOptions, SimGateway

NY = ZoneInfo("America/New_York")
FAULTS_HELP = (
    "YAML (.yaml/.yml) or JSON list of scheduled faults, each "
    "{at_sim_seconds: S | after_wall_seconds: S, action: NAME, args: {...}}; e.g. "
    "'- {after_wall_seconds: 5, action: farm_status, args: {code: 2103}}'. Quote YAML keys "
    "such as 'on' (YAML reads a bare on: as true). A bad file exits 2 naming the field.")

SIMULATED = """\
What is simulated (as strict as IB, so a client's money safety can be tested against it):
  market     seeded stocks (or a --bars CSV replay, or --replay DIR of recorded/imported
             1-minute bars, option quotes and chains) and their option chains, quotes with
             displayed sizes, bars; prices move in regular hours only; NYSE holidays and
             early closes
  fills      marketable orders at the touch (never better than the quote), resting limits at
             their own limit once the market trades through them, at most the displayed size
             per market step; stops by IB's trigger methods (default: double bid/ask for
             options, last for stocks); nothing fills outside the regular session (orders
             wait for the next open); DAY orders expire at the close
  brackets   transmit=False orders are held until their family is transmitted; children stay
             PreSubmitted until the parent fills and work its filled quantity; cancelling the
             parent cancels its unfilled children; cancelling one child cancels its siblings
  OCA        ocaType 1: any fill, even partial, cancels the others; 2 and 3: partial fills
             reduce them, a complete fill cancels them; 0 or no group name: no group;
             cancelling a member cancels the group
  errors     cancel of a finished order 10148 (it stays Filled), of an unknown one 10147;
             modify of a filled order 104; orders the account cannot afford 201 "Order
             rejected - reason:YOUR ORDER IS NOT ACCEPTED. ..."; prices off the tick grid
             110 (options: 0.01, or 0.05 from 3.00 outside SPY/QQQ/IWM); 103 for a new
             order id not above every id its client used or was shown (reqAllOpenOrders)
  order ids  per client id, as at IB: each client id has its own nextValidId sequence, the
             same id from two clients is two orders, a cancel reaches the sender's own only;
             permIds are global
  account    cash, positions, P&L, Reg T margin (long options are no collateral):
             AvailableFunds, ExcessLiquidity, BuyingPower; exec ids never repeat, not even
             after a restart; completed orders with TWS's completedStatus
  data       quotes with the day's open/high/low and the prior close; option computations
             solved per price (bid, ask, last, model), with pvDividend (SPY, QQQ, IWM, DIA,
             AAPL, MSFT, NVDA, META, GOOGL pay fixed quarterly dividends, DIA monthly; the
             option model prices on the spot less them; prices do not drop on ex-dates);
             generic ticks 100/101/104/106/456 (dividends) only when asked; live data whatever
             reqMarketDataType asked (--market-data delayed: 354 for live, delayed tick ids
             66-76 for types 3/4, 15 minutes old); VIX and SPX indexes on CBOE; depth
             (stocks, 3 requests at most: 309); tick-by-tick Last/BidAsk/MidPoint (live only)
  history    every legal bar size (1 secs .. 1 month); TRADES, MIDPOINT, BID, ASK, BID_ASK,
             ADJUSTED_LAST, HISTORICAL_VOLATILITY, OPTION_IMPLIED_VOLATILITY; useRTH=0 adds
             04:00-20:00 with thin volume (prices move in regular hours only); options:
             TRADES/MIDPOINT until expiry; reqHeadTimeStamp; reqHistoricalTicks of stocks
             (TRADES, BID_ASK, MIDPOINT; from a start or to an end, at most 1000, one session,
             useRTH, ignoreSize; one print per traded second); calculateImpliedVolatility,
             calculateOptionPrice (Black-Scholes, r 4.5%, escrowed dividends)
  requests   whatIfOrder (margin before/change/after, commission; not placed); reqPnL,
             reqPnLSingle (daily, unrealized, realized; at most once a second); reqExecutions
             with every filter field; positions and fills name the venue, not SMART
  rules      pacing of historical requests (hard for bars <= 30 s and historical ticks,
             delayed above; all hard with --pacing strict), market data lines, message rate,
             client ids
  reference  reqMarketRule (the increments contract details name), reqMktDepthExchanges;
             reqFamilyCodes, reqNewsProviders, reqSoftDollarTiers answered empty
  answered   every other known request gets error 321 with its own request id (not
             simulated: fundamentals, news, scanners, histograms, FA,
             display groups, WSH, matching symbols, smart components)
  simplified one trade print per second (no odd lots, one venue); no price moves outside
             regular hours and no drop on ex-dates; historical ticks of stocks only (options
             and indexes: 162 no data); order types MKT, LMT, STP, STP LMT only (others
             refused); no exercise, assignment or expiry settlement of options
"""


def parse_start(text: str) -> datetime:
    """ISO date/time; a naive value is New York time (the exchange's zone)."""
    t = datetime.fromisoformat(text)
    return t if t.tzinfo else t.replace(tzinfo=NY)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bot gateway",
        description="Simulated IB Gateway (TWS API).",
        epilog=SIMULATED + latency.help_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default loopback)")
    p.add_argument(
        "--port", type=int, default=4002, help="TCP port, 0 picks a free one (default 4002)"
    )
    p.add_argument("--seed", type=int, default=7, help="market seed (default 7)")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall second")
    p.add_argument(
        "--start",
        type=parse_start,
        default=None,
        help="simulated start, ISO format (default: the latest regular session open)",
    )
    p.add_argument("--account", default="DU1234567", help="paper account id")
    p.add_argument("--symbols", default=None,
                   help="comma separated underlyings (default SPY,QQQ,IWM; with --replay the "
                   "symbols of its bars)")
    p.add_argument("--bars", type=Path, default=None, help="CSV of 1-minute bars to replay")
    p.add_argument(
        "--replay", type=Path, default=None, metavar="DIR",
        help="replay recorded or imported data instead of the random walk: DIR/bars/<SYMBOL>/"
        "<YYYY-MM-DD>.csv[.gz] (timestamp,open,high,low,close,volume; UTC bar starts), "
        "optional DIR/options/<SYMBOL>/<date>.jsonl[.gz] quotes and DIR/chains/<SYMBOL>/"
        "<date>.json; the clock starts at the first recorded session's open (or --start) "
        "and runs over the recorded sessions only")
    p.add_argument(
        "--iv-surface", type=Path, default=None, metavar="FILE",
        help="JSON/YAML implied volatility surface for options without recorded quotes, e.g. "
        '{"atm": {"SPY": 0.14, "*": 0.2}, "skew": 0.08, "smile": 0.015} (default: the '
        "replay's iv_surface.json, else the model's)")
    p.add_argument("--faults", type=Path, default=None, help=FAULTS_HELP)
    p.add_argument(
        "--tick-interval", type=float, default=0.25, help="wall seconds between market steps"
    )
    p.add_argument(
        "--market-data", choices=("live", "delayed"), default="live",
        help="the account's market data: 'live' (default) serves live data whatever "
        "reqMarketDataType asked; 'delayed' refuses live requests with 354 and serves types "
        "3/4 under IB's delayed tick ids",
    )
    p.add_argument(
        "--pacing", choices=("ib", "strict"), default="ib",
        help="historical data pacing: 'ib' (default) refuses with 162 only bars of 30 s or "
        "less and delays larger ones, as IB documents; 'strict' refuses every bar size",
    )
    p.add_argument(
        "--latency", choices=latency.MODES, default="none",
        help="answer delays: 'none' (default) answers at once; 'ib' delays each answer by a "
        "seeded draw per request kind, as a real gateway would (see 'Latency' below)",
    )
    return p


def options_from(args: argparse.Namespace) -> GatewayOptions:
    if args.symbols is None and args.replay is not None:
        symbols = ReplayData(args.replay).symbols()
    else:
        symbols = tuple(s.strip().upper() for s in (args.symbols or "SPY,QQQ,IWM").split(",")
                        if s.strip())
    return GatewayOptions(
        host=args.host,
        port=args.port,
        seed=args.seed,
        speed=args.speed,
        start=args.start,
        account=args.account,
        symbols=symbols,
        bars_csv=args.bars,
        faults_file=args.faults,
        tick_interval_s=args.tick_interval,
        pacing=args.pacing,
        market_data=args.market_data,
        replay_dir=args.replay,
        iv_surface=args.iv_surface,
        latency=args.latency,
    )


def faults_problems(path: Path) -> list[str]:
    """What is wrong with a ``--faults`` file, one line each (empty when it is usable).

    Beyond the file's own parsing, each entry is tried on an injector attached to nothing:
    its arguments must fit the action, YAML booleans must not stand in for keys, and the
    codes must be ones the action knows (the action raises on a bad one before it acts)."""
    try:
        faults = load_faults(path)
    except FileNotFoundError:
        return [f"faults file not found: {path}"]
    except (OSError, UnicodeDecodeError) as exc:
        return [f"faults file {path} cannot be read: {exc}"]
    except ValueError as exc:  # bad JSON, unknown action, a missing time, unknown keys
        return [f"faults file {path}: {exc}"]
    except Exception as exc:  # noqa: BLE001 - YAML's own errors: say which and where
        return [f"faults file {path}: not valid YAML: {exc}"]
    problems = []
    for i, fault in enumerate(faults):
        where = f"faults file {path}: fault #{i} ({fault.action})"
        odd = [k for k in fault.args if not isinstance(k, str)]
        if odd:
            problems.append(f"{where}: args key {odd[0]!r} is not a name (YAML reads a bare "
                            f"on/off/yes/no as a boolean: quote it)")
            continue
        try:
            inspect.signature(getattr(FaultInjector, fault.action)).bind(None, **fault.args)
            getattr(FaultInjector(), fault.action)(**fault.args)
        except TypeError as exc:
            problems.append(f"{where}: args: {exc}")
        except ValueError as exc:
            problems.append(f"{where}: args: {exc}")
        except RuntimeError:
            pass  # valid; it needs a running gateway to act
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Run the gateway until Ctrl-C/SIGTERM; print counters; return 0 (2 on a bad start)."""
    args = build_parser().parse_args(argv)
    problems = faults_problems(args.faults) if args.faults else []
    if problems:
        print("\n".join(f"error: {p}" for p in problems), file=sys.stderr)
        return 2
    try:
        gateway = SimGateway(options_from(args))
    except (ReplayDataError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        port = gateway.start()
    except OSError as exc:
        print(f"gateway: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    print(
        f"gateway listening on {args.host}:{port} account={args.account} "
        f"start={gateway.epoch.isoformat()} speed={args.speed}",
        flush=True,
    )
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        gateway.stop()
    print(json.dumps({"counters": gateway.counters()}, indent=1), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
