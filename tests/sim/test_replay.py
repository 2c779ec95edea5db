"""Replay of recorded or imported data (``gateway --replay DIR``): the bars in the files come
back bit for bit through ib_insync, the clock runs over the recorded sessions only, options are
the recorded quotes where they exist and the model's (with the configured IV surface) elsewhere."""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from ib_insync import Option, Stock

from bot.sim import calendar
from bot.sim.contracts import SimContract
from bot.sim.market import Market
from bot.sim.options import IvSurface, option_quote, surface_from
from bot.sim.replay_data import ReplayData, ReplayDataError, read_bars
from bot.sim.server import GatewayOptions, SimGateway

DAYS = (date(2026, 11, 18), date(2026, 11, 19))  # Wednesday, Thursday


def day_rows(day: date, base: Decimal, minutes: int = 390) -> list[list[str]]:
    """A session of deterministic 1-minute bars as strings, some with 4 decimals."""
    open_t = calendar.session_bounds(day)[0]
    rows, price = [], base
    for i in range(minutes):
        step = Decimal((i * 37) % 11 - 5) / 100
        o, c = price, price + step
        h, lo = max(o, c) + Decimal("0.03"), min(o, c) - Decimal("0.0125") * (i % 3)
        t = (open_t + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        rows.append([t, str(o), str(h), str(lo), str(c), str(1000 + 7 * i)])
        price = c
    return rows


def write_bars(root: Path, symbol: str, day: date, rows: list[list[str]], gz: bool = True) -> Path:
    folder = root / "bars" / symbol
    folder.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["timestamp", "open", "high", "low", "close", "volume"])
    writer.writerows(rows)
    path = folder / f"{day.isoformat()}.csv{'.gz' if gz else ''}"
    path.write_bytes(gzip.compress(text.getvalue().encode()) if gz else text.getvalue().encode())
    return path


@pytest.fixture
def replay_dir(tmp_path) -> Path:
    write_bars(tmp_path, "SPY", DAYS[0], day_rows(DAYS[0], Decimal("590.00")))
    write_bars(tmp_path, "SPY", DAYS[1], day_rows(DAYS[1], Decimal("592.50")), gz=False)
    return tmp_path


def test_reqhistoricaldata_returns_exactly_the_recorded_bars(replay_dir, start_gateway, make_ib):
    after_last_close = calendar.session_bounds(DAYS[1])[1] + timedelta(hours=1)
    gw = start_gateway(port=0, replay_dir=replay_dir, symbols=("SPY",), start=after_last_close,
                       tick_interval_s=0.05)
    ib = make_ib(gw)

    bars = ib.reqHistoricalData(Stock("SPY", "SMART", "USD"), "", "2 D", "1 min", "TRADES",
                                useRTH=True, formatDate=2)

    expected = [row for day in DAYS for row in day_rows(day, Decimal("590.00") if day == DAYS[0]
                                                        else Decimal("592.50"))]
    got = [[b.date.strftime("%Y-%m-%dT%H:%M:%SZ"), b.open, b.high, b.low, b.close, b.volume]
           for b in bars]
    assert got == [[t, float(o), float(h), float(lo), float(c), float(v)]
                   for t, o, h, lo, c, v in expected]


def test_the_clock_starts_at_the_first_recorded_open_and_skips_unrecorded_days(replay_dir):
    market = Market(("SPY",), 7, calendar.session_bounds(DAYS[0])[0],
                    replay=ReplayData(replay_dir))
    gw = SimGateway(GatewayOptions(port=0, replay_dir=replay_dir, symbols=("SPY",)))

    assert gw.epoch == calendar.session_bounds(DAYS[0])[0]
    assert market.replay_days() == list(DAYS)
    market.advance(calendar.session_bounds(DAYS[1])[0] + timedelta(minutes=1, seconds=59))
    assert market.spot("SPY") == float(day_rows(DAYS[1], Decimal("592.50"))[1][4])
    market.advance(calendar.session_bounds(DAYS[1])[1] + timedelta(days=3))
    assert market.replay_finished()


def test_a_stepped_gateway_moves_only_when_stepped(replay_dir, start_gateway):
    gw = start_gateway(port=0, replay_dir=replay_dir, symbols=("SPY",), stepped=True)
    before = gw.clock.now()

    after = gw.step(90)

    assert before == calendar.session_bounds(DAYS[0])[0]
    assert after - before == timedelta(seconds=90)
    assert gw.market.now() == after


def opt(strike: float, right: str = "C", expiry: str = "20261120") -> SimContract:
    return SimContract(con_id=1234, symbol="SPY", sec_type="OPT", expiry=expiry, strike=strike,
                       right=right, multiplier="100")


def test_recorded_option_quotes_are_served_and_the_model_fills_the_gaps(replay_dir):
    folder = replay_dir / "options" / "SPY"
    folder.mkdir(parents=True)
    seen = calendar.session_bounds(DAYS[0])[0] + timedelta(minutes=5)
    record = {"ts": seen.strftime("%Y-%m-%dT%H:%M:%SZ"), "expiry": "20261120", "strike": 590.0,
              "right": "C", "bid": 2.41, "ask": 2.47, "last": 2.44, "bid_size": 12,
              "ask_size": None, "iv": 0.16, "delta": None, "gamma": None, "theta": None,
              "vega": None, "und_price": None}
    (folder / f"{DAYS[0].isoformat()}.jsonl").write_text(json.dumps(record) + "\n")
    market = Market(("SPY",), 7, seen + timedelta(seconds=30), replay=ReplayData(replay_dir))

    recorded, other = market.option_quote(opt(590.0)), market.option_quote(opt(591.0))

    assert (recorded.bid, recorded.ask, recorded.last, recorded.bid_size, recorded.iv) == (
        2.41, 2.47, 2.44, 12, 0.16)
    assert market.option_source(opt(590.0)) == "recorded"
    assert other == option_quote(opt(591.0), market.spot("SPY"), market.now(), 7)
    assert market.option_source(opt(591.0)) == "modelled"
    market.advance(seen + timedelta(minutes=10))  # older than RECORDED_MAX_AGE_S: the model again
    assert market.option_source(opt(590.0)) == "modelled"


def test_the_iv_surface_prices_options_without_recorded_quotes(replay_dir):
    surface = surface_from({"atm": {"SPY": 0.40}, "skew": 0.0, "smile": 0.0})
    start = calendar.session_bounds(DAYS[0])[0] + timedelta(minutes=30)
    plain = Market(("SPY",), 7, start, replay=ReplayData(replay_dir))
    wide = Market(("SPY",), 7, start, replay=ReplayData(replay_dir), surface=surface)

    assert wide.option_quote(opt(590.0)).iv == pytest.approx(0.40, abs=1e-9)
    assert wide.option_quote(opt(590.0)).ask > plain.option_quote(opt(590.0)).ask


@pytest.mark.parametrize("bad", [{"atm": {"SPY": 9.0}}, {"atm": {"SPY": 0.2}, "wings": 1}])
def test_a_bad_iv_surface_is_refused_naming_the_field(bad):
    with pytest.raises(ValueError, match="iv surface"):
        surface_from(bad)


def test_a_recorded_chain_replaces_the_model_chain(replay_dir, start_gateway, make_ib):
    folder = replay_dir / "chains" / "SPY"
    folder.mkdir(parents=True)
    (folder / f"{DAYS[0].isoformat()}.json").write_text(
        json.dumps({"expiries": ["20261120", "20261127"], "strikes": [585.0, 590.0, 595.0]}))
    gw = start_gateway(port=0, replay_dir=replay_dir, symbols=("SPY",), tick_interval_s=0.05)
    ib = make_ib(gw)

    params = ib.reqSecDefOptParams("SPY", "", "STK", 0)
    details = ib.reqContractDetails(Option("SPY", "20261120", 587.0, "C", "SMART"))

    assert sorted(params[0].strikes) == [585.0, 590.0, 595.0]
    assert sorted(params[0].expirations) == ["20261120", "20261127"]
    assert details == []


@pytest.mark.parametrize("text, problem", [
    ("timestamp,open,high,low,close\n", "missing columns"),
    ("timestamp,open,high,low,close,volume\n2026-11-18T14:30:00,1,1,1,1,1\n", "no zone"),
    ("timestamp,open,high,low,close,volume\n2026-11-18T14:30:00Z,x,1,1,1,1\n", ":2:"),
])
def test_a_malformed_bars_file_is_refused_naming_file_and_row(tmp_path, text, problem):
    path = tmp_path / "2026-11-18.csv"
    path.write_text(text)

    with pytest.raises(ReplayDataError, match=problem):
        read_bars(path)


def test_the_gateway_command_refuses_a_directory_without_bars(tmp_path, capsys):
    from bot.sim.cli import main

    assert main(["--replay", str(tmp_path), "--port", "0"]) == 2
    assert "no bars/ directory" in capsys.readouterr().err


def test_model_surface_default_matches_the_models_implied_vol():
    assert IvSurface().atm_vol("SPY") == pytest.approx(0.15 * 1.10)


def test_five_second_bars_and_quotes_derive_from_the_recorded_minute(replay_dir):
    open_t = calendar.session_bounds(DAYS[0])[0]
    t, o, h, lo, c, v = day_rows(DAYS[0], Decimal("590.00"))[7]  # a bar with 4-decimal lows
    market = Market(("SPY",), 7, open_t, replay=ReplayData(replay_dir))
    market.advance(open_t + timedelta(minutes=9))

    fives = market.bars("SPY", open_t + timedelta(minutes=8), 60, 5)

    assert len(fives) == 12 and fives[0].time.strftime("%Y-%m-%dT%H:%M:%SZ") == t
    assert (fives[0].open, max(b.high for b in fives), min(b.low for b in fives),
            fives[-1].close, sum(b.volume for b in fives)) == (
        float(o), float(h), float(lo), float(c), int(v))
    quote = market.quote("SPY")
    assert quote.bid < quote.ask and quote.last in (quote.bid, quote.ask)


def test_without_symbols_the_gateway_command_replays_the_symbols_of_the_data(replay_dir):
    from bot.sim.cli import build_parser, options_from

    options = options_from(build_parser().parse_args(["--replay", str(replay_dir)]))

    assert options.symbols == ("SPY",) and options.replay_dir == replay_dir
