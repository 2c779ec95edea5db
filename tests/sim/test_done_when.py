"""The gateway issue's "Done when", end to end: ``python -m bot gateway --port 0`` runs in a
subprocess and prints its port; a plain ib_insync session connects, qualifies SPY and one of
its weekly options, streams quotes and greeks, pulls 1-minute bars, places a bracket that
fills while its sibling is cancelled, and reads positions; SIGINT then stops the gateway,
which prints its counters and exits 0."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from ib_insync import IB, Option, Stock

REPO = Path(__file__).resolve().parents[2]
START = "2026-11-18T10:00"  # a Wednesday, half an hour into the session (New York)
OPEN_UTC = datetime(2026, 11, 18, 14, 30, tzinfo=UTC)
TODAY = "20261118"
BOOT_TIMEOUT_S = 20.0


def _line(proc: subprocess.Popen, timeout: float) -> str:
    """The process's next stdout line, or AssertionError after ``timeout`` seconds."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, f"no output from the gateway within {timeout} s"
    return proc.stdout.readline()


def _is_monthly(expiry: str) -> bool:
    """Third Friday of its month (the monthly expiry); every other expiry is a weekly."""
    day = date(int(expiry[:4]), int(expiry[4:6]), int(expiry[6:]))
    return day.weekday() == 4 and 15 <= day.day <= 21


@pytest.fixture
def gateway_process():
    """``python -m bot gateway`` on a free port; yields (process, port); killed if still up."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "gateway", "--port", "0", "--start", START]
        + ["--speed", "1", "--tick-interval", "0.05"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        banner = _line(proc, BOOT_TIMEOUT_S)
        assert banner.startswith("gateway listening on 127.0.0.1:"), banner
        yield proc, int(banner.split()[3].rsplit(":", 1)[1])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


def test_plain_ib_insync_session_against_python_m_bot_gateway(gateway_process, until):
    proc, port = gateway_process
    ib = IB()
    moves: list[tuple[int, float]] = []
    ib.positionEvent += lambda p: moves.append((p.contract.conId, p.position))
    ib.connect("127.0.0.1", port, clientId=1, timeout=10)
    try:
        # qualify SPY and a weekly option near the money
        spy = Stock("SPY", "SMART", "USD")
        assert ib.qualifyContracts(spy) == [spy] and spy.conId > 0
        spy_ticker = ib.reqMktData(spy)
        assert until(ib, lambda: 0 < spy_ticker.bid < spy_ticker.ask, 5)
        [chain] = [
            c for c in ib.reqSecDefOptParams("SPY", "", "STK", spy.conId) if c.exchange == "SMART"
        ]
        weekly = next(e for e in sorted(chain.expirations) if e > TODAY and not _is_monthly(e))
        strike = min(chain.strikes, key=lambda k: abs(k - spy_ticker.marketPrice()))
        call = Option("SPY", weekly, strike, "C", "SMART")
        assert ib.qualifyContracts(call) == [call] and call.multiplier == "100"

        # stream its quote and greeks
        quote = ib.reqMktData(call)
        assert until(ib, lambda: quote.modelGreeks is not None and 0 < quote.bid < quote.ask, 5)
        greeks = quote.modelGreeks
        assert 0.2 < greeks.delta < 0.8 and greeks.gamma > 0 and greeks.theta < 0
        assert greeks.impliedVol > 0 and abs(greeks.undPrice - spy_ticker.marketPrice()) < 2

        # 1-minute bars: "1 D" is today's session so far, from the 09:30 open
        bars = ib.reqHistoricalData(spy, "", "1 D", "1 min", "TRADES", True, formatDate=2)
        assert len(bars) >= 30
        assert [b.date for b in bars] == [
            OPEN_UTC + timedelta(minutes=i) for i in range(len(bars))
        ]

        # a bracket: marketable entry, marketable take-profit, far stop (cancelled as sibling)
        bid, ask = quote.bid, quote.ask
        bracket = ib.bracketOrder(
            "BUY",
            1,
            limitPrice=round(ask + 0.5, 2),
            takeProfitPrice=round(bid - 0.5, 2),
            stopLossPrice=round(bid / 4, 2),
        )
        entry, profit, stop = [ib.placeOrder(call, o) for o in bracket]
        assert until(
            ib, lambda: all(t.isDone() for t in (entry, profit, stop)) and len(moves) >= 2, 10
        )
        assert [t.orderStatus.status for t in (entry, profit, stop)] == [
            "Filled",
            "Filled",
            "Cancelled",
        ]
        # positions: long one call after the entry, flat after the take-profit
        assert moves == [(call.conId, 1.0), (call.conId, 0.0)]
        assert ib.positions() == []
    finally:
        ib.disconnect()

    # Ctrl-C stops the gateway cleanly
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0
    counters = json.loads(proc.stdout.read())["counters"]
    assert (counters["orders.filled"], counters["sessions.opened"]) == (2, 1)
