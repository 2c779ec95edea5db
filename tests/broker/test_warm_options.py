"""Options kept warm (``KeepOptionsWarm``) against the simulated gateway: qualified and streamed,
their quotes heard by the strategy only, a new set replacing the old one, and a set longer than
the budget cut to it before a single line is taken."""

from __future__ import annotations

from broker_harness import SYMBOLS, barrier, stats

from bot import messages as m


def _options(probe, ref, gw, count: int) -> tuple[m.OptionContract, ...]:
    """``count`` SPY options of the nearest expiry around spot (calls and puts alternating)."""
    ref.tell(m.RequestChain("c-chain", "SPY"))
    chain = probe.expect(m.ChainReceived, lambda e: e.correlation_id == "c-chain").chain
    spot = gw.market.spot("SPY")
    strikes = sorted(chain.strikes, key=lambda k: abs(k - spot))[: (count + 1) // 2]
    expiry = sorted(chain.expirations)[0]
    options = [m.OptionContract("SPY", expiry, k, r, trading_class=chain.trading_class)
               for k in sorted(strikes) for r in (m.Right.CALL, m.Right.PUT)]
    return tuple(options[:count])


def test_a_warm_set_streams_to_the_strategy_and_a_new_set_replaces_it(gateway, broker) -> None:
    # Arrange
    gw = gateway()
    ref, probe = broker(gw)
    probe.expect(m.ConnectionChanged, lambda e: e.state == "connected")
    first = _options(probe, ref, gw, 4)

    # Act: keep four warm, then move to a set sharing two of them
    ref.tell(m.KeepOptionsWarm("c-warm-1", "SPY", first))
    for option in first:
        probe.expect(m.WarmQuoteUpdated, lambda e, o=option: e.quote.instrument.key == o.key)
    third_strike = tuple(o for o in _options(probe, ref, gw, 6) if o not in first)
    moved = (*first[2:], *third_strike)
    ref.tell(m.KeepOptionsWarm("c-warm-2", "SPY", moved))
    for option in moved[2:]:
        probe.expect(m.WarmQuoteUpdated, lambda e, o=option: e.quote.instrument.key == o.key)
    barrier(ref, probe, "QQQ")

    # Assert: four lines held beside the underlyings; execution heard no warm quote
    figures = stats(ref, probe)
    assert (figures["warm_lines"], figures["lines"]) == (4, len(SYMBOLS) + 4)
    assert gw.counters()["req.cancelMktData"] == 2
    assert gw.lines.in_use == len(SYMBOLS) + 4
    assert probe.of(m.QuoteUpdated, lambda e: isinstance(e.quote.instrument, m.OptionContract)) == []


def test_a_set_longer_than_the_budget_is_cut_to_it(gateway, broker) -> None:
    gw = gateway()
    ref, probe = broker(gw)  # the default budget: 4 lines per symbol
    probe.expect(m.ConnectionChanged, lambda e: e.state == "connected")
    options = _options(probe, ref, gw, 10)

    ref.tell(m.KeepOptionsWarm("c-warm", "SPY", options))
    for option in options[:4]:
        probe.expect(m.WarmQuoteUpdated, lambda e, o=option: e.quote.instrument.key == o.key)
    barrier(ref, probe, "QQQ")

    figures = stats(ref, probe)
    assert figures["warm_lines"] == 4
    assert gw.counters()["req.reqMktData"] == len(SYMBOLS) + 4
    assert {e.quote.instrument.key for e in probe.of(m.WarmQuoteUpdated)} == {o.key for o in options[:4]}


def test_an_option_warm_again_is_not_qualified_twice(gateway, broker) -> None:
    gw = gateway()
    ref, probe = broker(gw)
    probe.expect(m.ConnectionChanged, lambda e: e.state == "connected")
    first = _options(probe, ref, gw, 2)
    other = tuple(o for o in _options(probe, ref, gw, 4) if o not in first)

    ref.tell(m.KeepOptionsWarm("c-1", "SPY", first))
    for option in first:
        probe.expect(m.WarmQuoteUpdated, lambda e, o=option: e.quote.instrument.key == o.key)
    ref.tell(m.KeepOptionsWarm("c-2", "SPY", other))
    for option in other:
        probe.expect(m.WarmQuoteUpdated, lambda e, o=option: e.quote.instrument.key == o.key)
    details_before = gw.counters()["req.reqContractDetails"]
    probe.drain()
    ref.tell(m.KeepOptionsWarm("c-3", "SPY", first))  # spot came back
    for option in first:
        probe.expect(m.WarmQuoteUpdated, lambda e, o=option: e.quote.instrument.key == o.key)
    barrier(ref, probe, "QQQ")

    assert gw.counters()["req.reqContractDetails"] == details_before
    assert gw.counters()["req.reqMktData"] == len(SYMBOLS) + 6  # 2, 2 others, the 2 again
