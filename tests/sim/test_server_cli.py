"""The gateway command line: starts on a free loopback port, serves ib_insync, and on SIGTERM
stops cleanly printing its counters."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from ib_insync import IB, Stock

from bot.sim.cli import build_parser, options_from, parse_start
from bot.sim.session import HANDLERS

LAUNCH = "import sys; from bot.sim.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.mark.parametrize(
    ("argv", "field", "expected"),
    [
        ([], "port", 4002),
        ([], "host", "127.0.0.1"),
        (["--symbols", "spy, qqq"], "symbols", ("SPY", "QQQ")),
        (["--speed", "120", "--seed", "3"], "speed", 120.0),
        (["--start", "2026-11-18T09:30"], "start", parse_start("2026-11-18T09:30")),
    ],
)
def test_arguments_map_to_gateway_options(argv, field, expected):
    assert getattr(options_from(build_parser().parse_args(argv)), field) == expected


def test_naive_start_is_new_york_time():
    assert parse_start("2026-11-18T09:30").utcoffset().total_seconds() == -5 * 3600


def test_cli_serves_a_client_and_prints_counters_on_sigterm():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            LAUNCH,
            "--port",
            "0",
            "--speed",
            "60",
            "--start",
            "2026-11-18T09:30",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        banner = proc.stdout.readline()
        assert banner.startswith("gateway listening on 127.0.0.1:")
        port = int(banner.split()[3].rsplit(":", 1)[1])
        ib = IB()
        ib.connect("127.0.0.1", port, clientId=1, timeout=5)
        assert ib.qualifyContracts(Stock("SPY", "SMART", "USD"))[0].conId > 0
        ib.disconnect()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=10)
        counters = json.loads(proc.stdout.read())["counters"]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 0
    assert counters["req.reqContractDetails"] == 1
    assert counters["sessions.opened"] == 1


def test_help_says_which_order_semantics_are_simulated(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])

    text = capsys.readouterr().out
    for phrase in ("ocaType 1", "double bid/ask", "10148", "Order", "never repeat"):
        assert phrase in text


def test_help_names_the_requests_and_options_of_issue_13():
    from bot.sim.cli import build_parser

    text = build_parser().format_help()
    for needle in ("whatIfOrder", "reqPnL", "reqHeadTimeStamp", "calculateImpliedVolatility",
                   "BID_ASK", "useRTH=0", "--pacing", "--market-data", "VIX", "depth",
                   "tick-by-tick", "error 321 with its own request id"):
        assert needle in text, needle


def _readme_section(title: str) -> str:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = text.index(title)
    return text[start:text.index("\n## ", start)]


def test_the_readme_lists_exactly_the_requests_the_gateway_answers() -> None:
    """README's "What the simulated gateway answers" names every request with a handler (the
    cancels of a subscription aside) and none without one."""
    section = _readme_section("### What the simulated gateway answers")
    named = set(re.findall(r"\b(req[A-Z]\w+|calculate[A-Z]\w+|placeOrder|cancelOrder|startApi)\b",
                           section))
    answered = {name for name in HANDLERS if not name.startswith("cancel")}
    assert named == answered | {"cancelOrder", "startApi"}


@pytest.mark.parametrize("phrase", [
    "What is simulated", "simplified", "not\n             simulated", "reqHistoricalTicks",
    "pvDividend", "456", "per client id", "--pacing strict",
])
def test_the_help_says_what_is_simulated_and_what_is_not(phrase) -> None:
    assert phrase in build_parser().format_help()
