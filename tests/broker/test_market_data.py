"""Connect and sync; bars and quotes for each symbol; chains; option quotes priced by the model."""

from __future__ import annotations

import pytest
from broker_harness import SYMBOLS, barrier, stats

from bot import messages as m


def test_connects_syncs_and_reports_the_account(gateway, broker) -> None:
    gw = gateway()
    ref, probe = broker(gw)
    connected = probe.expect(m.ConnectionChanged, lambda e: e.state == "connected")
    account = probe.expect(m.AccountUpdated)
    figures = stats(ref, probe)
    assert (connected.client_id, connected.reason) == (17, "first connection")
    assert (account.account, account.net_liquidation) == ("DU1234567", 100_000.0)
    assert {
        k: figures[k] for k in ("connection", "client_id", "reconnects", "mode", "circuit")
    } == {
        "connection": "connected",
        "client_id": 17,
        "reconnects": 0,
        "mode": "sim",
        "circuit": "closed",
    }
    assert figures["loop_lag_ms"] >= 0.0
    assert gw.counters()["sessions.opened"] == 1


def test_bars_backfill_then_close_live_for_each_symbol(gateway, broker) -> None:
    gw = gateway(speed=120.0)
    ref, probe = broker(gw)
    for symbol in SYMBOLS:
        live = probe.expect(
            m.BarClosed, lambda e, s=symbol: e.bar.symbol == s and not e.backfill, timeout=10
        )
        assert live.bar.start.second == 0 and live.bar.high >= max(live.bar.open, live.bar.close)
    probe.drain()
    for symbol in SYMBOLS:
        backfill = probe.of(m.BarClosed, lambda e, s=symbol: e.bar.symbol == s and e.backfill)
        starts = [e.bar.start for e in backfill]
        assert len(backfill) >= 300  # the last session, minute by minute
        assert starts == sorted(set(starts))
        live = probe.of(m.BarClosed, lambda e, s=symbol: e.bar.symbol == s and not e.backfill)
        assert live[0].bar.start > starts[-1]
    assert gw.counters()["req.reqHistoricalData"] == len(SYMBOLS)


def test_quotes_stream_per_underlying_with_growing_seq(gateway, broker) -> None:
    gw = gateway()
    ref, probe = broker(gw)
    for symbol in SYMBOLS:
        first = probe.expect(m.QuoteUpdated, lambda e, s=symbol: e.quote.instrument == m.Stock(s))
        later = probe.expect(
            m.QuoteUpdated,
            lambda e, s=symbol, q=first: e.quote.instrument == m.Stock(s) and e.seq > q.seq,
        )
        assert 0 < first.quote.bid < first.quote.ask
        assert later.quote.ts >= first.quote.ts
    assert gw.counters()["req.reqMktData"] == len(SYMBOLS)


def test_chain_is_requested_once_per_trading_day(gateway, broker) -> None:
    gw = gateway()
    ref, probe = broker(gw)
    probe.expect(m.ConnectionChanged, lambda e: e.state == "connected")
    ref.tell(m.RequestChain("c-1", "SPY"))
    first = probe.expect(m.ChainReceived, lambda e: e.correlation_id == "c-1")
    ref.tell(m.RequestChain("c-2", "SPY"))
    second = probe.expect(m.ChainReceived, lambda e: e.correlation_id == "c-2")
    expected = [
        p
        for p in gw.contracts.chain_params("SPY", gw.clock.now().date())
        if p[0] == "SMART" and p[1] == "SPY"
    ]
    assert second.chain == first.chain
    assert (first.chain.symbol, first.chain.trading_class, first.chain.exchange) == (
        "SPY",
        "SPY",
        "SMART",
    )
    assert first.chain.expirations == tuple(sorted(expected[0][3]))
    assert first.chain.strikes == tuple(sorted(expected[0][4]))
    assert gw.counters()["req.reqSecDefOptParams"] == 1


def test_option_quotes_match_the_model_and_streams_are_cancelled(gateway, broker) -> None:
    gw = gateway(speed=1.0)
    ref, probe = broker(gw)
    probe.expect(m.ConnectionChanged, lambda e: e.state == "connected")
    ref.tell(m.RequestChain("c-1", "SPY"))
    chain = probe.expect(m.ChainReceived).chain
    spot = gw.market.spot("SPY")
    strikes = sorted(chain.strikes, key=lambda k: abs(k - spot))[:3]
    expiry = chain.expirations[1]
    wanted = tuple(m.OptionContract("SPY", expiry, k, m.Right.PUT) for k in strikes)
    bogus = m.OptionContract("SPY", expiry, 1.5, m.Right.PUT)  # not listed: never qualifies
    ref.tell(m.QuoteOptions("c-2", "SPY", (*wanted, bogus)))
    answer = probe.expect(m.OptionsQuoted, lambda e: e.correlation_id == "c-2", timeout=10)
    assert answer.missing == (bogus,)
    assert [q.instrument.key for q in answer.quotes] == [c.key for c in wanted]
    for quote in answer.quotes:
        sim = gw.contracts.option("SPY", expiry, quote.instrument.strike, "P")
        model = gw.market.option_quote(sim)
        assert quote.instrument.con_id == sim.con_id
        assert quote.bid == pytest.approx(model.bid, abs=0.03)
        assert quote.ask == pytest.approx(model.ask, abs=0.03)
        assert quote.delta == pytest.approx(model.delta, abs=0.02)
        assert quote.delta < 0
    barrier(ref, probe, "QQQ")
    counters = gw.counters()
    # each underlying once (its quote stream, bars and chain share the answer), each candidate
    assert counters["req.reqContractDetails"] == len(SYMBOLS) + len(wanted) + 1
    assert counters["req.cancelMktData"] == len(wanted)
    assert stats(ref, probe)["streams"] == len(SYMBOLS)
