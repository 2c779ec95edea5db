"""Two simulated hours with 8 symbols at 600x: bars, quotes, chains and option quotes, and the
simulator counts zero pacing violations."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta

import pytest
from broker_harness import ready, stats

from bot import messages as m

SYMBOLS = ("SPY", "QQQ", "IWM", "DIA", "AAPL", "MSFT", "NVDA", "AMD")
SIM_HOURS = 2
WALL_LIMIT_S = 40.0


def candidates(chain: m.OptionChain, spot: float, n: int = 4) -> tuple[m.OptionContract, ...]:
    strikes = sorted(chain.strikes, key=lambda k: abs(k - spot))[:n]
    return tuple(
        m.OptionContract(chain.symbol, chain.expirations[1], k, m.Right.CALL)
        for k in sorted(strikes)
    )


@pytest.mark.slow
def test_two_simulated_hours_with_eight_symbols_and_no_pacing_violation(gateway, broker) -> None:
    # Arrange
    gw = gateway(symbols=SYMBOLS, speed=600.0, tick_interval_s=0.05)
    ref, probe = broker(gw)
    ready(probe, SYMBOLS)
    end = gw.clock.now() + timedelta(hours=SIM_HOURS)
    wall_deadline = time.monotonic() + WALL_LIMIT_S
    rotation = itertools.cycle(SYMBOLS)
    answered = 0
    # Act: keep asking for chains and option quotes while the bars stream
    for n in itertools.count():
        if gw.clock.now() >= end or time.monotonic() > wall_deadline:
            break
        symbol = next(rotation)
        ref.tell(m.RequestChain(f"chain-{n}", symbol))
        chain = probe.expect(
            m.ChainReceived, lambda e, c=f"chain-{n}": e.correlation_id == c, timeout=10
        ).chain
        ref.tell(m.QuoteOptions(f"quote-{n}", symbol, candidates(chain, gw.market.spot(symbol))))
        quoted = probe.expect(
            m.OptionsQuoted, lambda e, c=f"quote-{n}": e.correlation_id == c, timeout=10
        )
        answered += len(quoted.quotes) == 4
        probe.expect(
            m.BarClosed, lambda e: not e.backfill, timeout=5
        )  # pace: about one bar per round
    probe.drain()
    figures = stats(ref, probe)
    # Assert
    assert gw.clock.now() >= end, "the run did not reach two simulated hours in time"
    assert gw.pacing_violations() == 0, gw.counters()
    live = {
        s: len(probe.of(m.BarClosed, lambda e, s=s: e.bar.symbol == s and not e.backfill))
        for s in SYMBOLS
    }
    assert min(live.values()) >= 90, live  # 120 in two hours; a loaded box may skip a few
    assert all(
        len(probe.of(m.QuoteUpdated, lambda e, s=s: e.quote.instrument == m.Stock(s))) > 50
        for s in SYMBOLS
    )
    assert answered >= 8
    assert (figures["circuit"], figures["timeouts"], figures["reconnects"]) == ("closed", 0, 0)
    assert gw.counters()["req.reqSecDefOptParams"] == len(SYMBOLS)  # cached for the trading day
