"""The latency model (``bot.sim.latency``): seeded delays per request kind, answers kept in
order per lane, nothing added with ``none``, the same delays for the same seed.

The gateway tests measure from the client's side: an answer never comes sooner than the
delay the model draws for it (a fresh model with the same seed draws the same values)."""

from __future__ import annotations

import time

import pytest
from ib_insync import LimitOrder, Option, Stock

from bot.sim.latency import IB_PROFILE, LatencyModel, Scheduler

SEED = 7


class FakeLoop:
    """``time``/``call_at`` of an asyncio loop, driven by hand."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[tuple[float, object]] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, fn) -> None:
        self.timers.append((when, fn))

    def advance(self, to: float) -> None:
        self.now = to
        due = sorted((t for t in self.timers if t[0] <= to), key=lambda t: t[0])
        self.timers = [t for t in self.timers if t[0] > to]
        for _, fn in due:
            fn()


# -- the model ------------------------------------------------------------------------------


def test_none_draws_no_delay_for_any_kind():
    model = LatencyModel("none", SEED)

    assert not model.active
    assert [model.draw_s(kind) for kind in IB_PROFILE] == [0.0] * len(IB_PROFILE)
    assert model.request_delay_s("reqContractDetails") == 0.0


def test_the_same_seed_draws_the_same_delays_whatever_runs_between():
    first, second = LatencyModel("ib", SEED), LatencyModel("ib", SEED)

    a = [first.draw_s("contract_details") for _ in range(5)]
    second.draw_s("first_tick")  # another kind in between does not shift this kind's draws
    b = [second.draw_s("contract_details") for _ in range(5)]

    assert a == b
    assert a != [LatencyModel("ib", SEED + 1).draw_s("contract_details") for _ in range(5)]


@pytest.mark.parametrize("kind", sorted(IB_PROFILE))
def test_each_kinds_draws_have_the_documented_median_and_p95(kind):
    model = LatencyModel("ib", SEED)

    draws = sorted(model.draw_s(kind) * 1000 for _ in range(4000))

    delay = IB_PROFILE[kind]
    assert draws[2000] == pytest.approx(delay.median_ms, rel=0.1)
    assert draws[3800] == pytest.approx(delay.p95_ms, rel=0.15)


def test_requests_not_modelled_wait_nothing():
    model = LatencyModel("ib", SEED)

    assert model.request_delay_s("reqPositions") == 0.0
    assert model.request_delay_s(None) == 0.0


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="latency must be one of"):
        LatencyModel("fast", SEED)


# -- the scheduler --------------------------------------------------------------------------


def test_a_lane_answers_in_arrival_order_even_when_a_later_request_is_quicker():
    loop, ran = FakeLoop(), []
    sched = Scheduler(loop.time, loop.call_at)

    sched.submit("orders", 0.30, lambda: ran.append("place"))
    sched.submit("orders", 0.05, lambda: ran.append("cancel"))  # quicker, but after the place
    loop.advance(0.1)
    assert ran == []
    loop.advance(0.3)

    assert ran == ["place", "cancel"]


def test_lanes_do_not_wait_for_each_other():
    loop, ran = FakeLoop(), []
    sched = Scheduler(loop.time, loop.call_at)

    sched.submit("contract_details", 0.5, lambda: ran.append("details"))
    sched.submit("orders", 0.02, lambda: ran.append("order"))
    loop.advance(0.02)

    assert ran == ["order"]
    loop.advance(0.5)
    assert ran == ["order", "details"]


def test_a_callback_due_now_on_an_idle_lane_runs_at_once():
    loop, ran = FakeLoop(), []
    sched = Scheduler(loop.time, loop.call_at)

    sched.submit("other", 0.0, lambda: ran.append("now"))

    assert ran == ["now"]
    assert loop.timers == []


def test_a_failing_callback_does_not_strand_the_ones_behind_it():
    loop, ran = FakeLoop(), []
    sched = Scheduler(loop.time, loop.call_at)

    def boom() -> None:
        raise RuntimeError("handler failed")

    sched.submit("orders", 0.1, boom)
    sched.submit("orders", 0.2, lambda: ran.append("next"))
    with pytest.raises(RuntimeError):
        loop.advance(0.1)
    loop.advance(0.2)

    assert ran == ["next"]


# -- the gateway ----------------------------------------------------------------------------


def _spy_call(gateway, ib):
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    [chain] = [c for c in ib.reqSecDefOptParams("SPY", "", "STK", spy.conId)
               if c.exchange == "SMART"]
    strike = min(chain.strikes, key=lambda k: abs(k - gateway.market.spot("SPY")))
    return spy, Option("SPY", sorted(chain.expirations)[1], strike, "C", "SMART")


def _timed(call) -> float:
    t0 = time.monotonic()
    call()
    return time.monotonic() - t0


def test_contract_details_secdef_and_history_wait_their_kinds_delay(make_gateway, make_ib):
    gateway = make_gateway(latency="ib")
    ib = make_ib(gateway)
    expected = LatencyModel("ib", SEED)
    spy = Stock("SPY", "SMART", "USD")

    details_s = _timed(lambda: ib.qualifyContracts(spy))
    secdef_s = _timed(lambda: ib.reqSecDefOptParams("SPY", "", "STK", spy.conId))
    history_s = _timed(lambda: ib.reqHistoricalData(spy, "", "1800 S", "1 min", "TRADES", True))

    assert details_s >= expected.draw_s("contract_details")
    assert secdef_s >= expected.draw_s("secdef")
    assert history_s >= expected.draw_s("historical")


def test_the_first_tick_then_the_greeks_of_an_option_wait_their_delays(make_gateway, make_ib,
                                                                         until):
    gateway = make_gateway(latency="ib")
    ib = make_ib(gateway)
    _, opt = _spy_call(gateway, ib)
    ib.qualifyContracts(opt)
    expected = LatencyModel("ib", SEED)
    first_tick, greeks = expected.draw_s("first_tick"), expected.draw_s("greeks")

    t0 = time.monotonic()
    ticker = ib.reqMktData(opt)
    assert until(ib, lambda: ticker.bid > 0, 5.0)
    ticked_s = time.monotonic() - t0
    assert ticker.modelGreeks is None  # the prices came first
    assert until(ib, lambda: ticker.modelGreeks is not None, 5.0)
    greeks_s = time.monotonic() - t0

    assert ticked_s >= first_tick
    assert greeks_s >= first_tick + greeks


def test_an_order_is_acknowledged_after_the_order_ack_delay(make_gateway, make_ib, until):
    gateway = make_gateway(latency="ib")
    ib = make_ib(gateway)
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    low = round(gateway.market.quote("SPY").bid - 5, 2)
    ack = LatencyModel("ib", SEED).draw_s("order_ack")

    t0 = time.monotonic()
    trade = ib.placeOrder(spy, LimitOrder("BUY", 1, low))
    assert until(ib, lambda: trade.orderStatus.status == "Submitted", 5.0)

    assert time.monotonic() - t0 >= ack


def test_a_cancel_never_overtakes_its_request(make_gateway, make_ib, until):
    gateway = make_gateway(latency="ib")
    ib = make_ib(gateway)
    _, opt = _spy_call(gateway, ib)
    ib.qualifyContracts(opt)
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    low = round(gateway.market.quote("SPY").bid - 5, 2)
    errors = []
    ib.errorEvent += lambda req_id, code, *_: errors.append(code)

    ib.reqMktData(opt)
    ib.cancelMktData(opt)  # sent before the stream's first tick is due
    trade = ib.placeOrder(spy, LimitOrder("BUY", 1, low))
    ib.cancelOrder(trade.order)  # sent before the order's acknowledgement is due
    assert until(ib, lambda: trade.orderStatus.status == "Cancelled", 5.0)
    session = next(iter(gateway.sessions))
    assert until(ib, lambda: session._scheduler.pending() == 0, 5.0)

    assert session.subs.quotes == {}  # the stream started, then its cancel stopped it
    assert gateway.lines.in_use == 0
    assert 10147 not in errors  # the cancel found its order


def test_none_serves_every_request_in_line_without_scheduling(make_gateway, make_ib, until):
    gateway = make_gateway()  # latency none, the default
    ib = make_ib(gateway)
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    quote = gateway.market.quote("SPY")

    trade = ib.placeOrder(spy, LimitOrder("BUY", 1, round(quote.ask + 1, 2)))
    assert until(ib, lambda: trade.orderStatus.status == "Filled", 5.0)

    assert not gateway.latency.active
    assert next(iter(gateway.sessions))._scheduler is None
    assert gateway._events is None


def test_a_fill_reaches_the_client_after_the_fill_delay(make_gateway, make_ib, until):
    gateway = make_gateway(latency="ib")
    ib = make_ib(gateway)
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    expected = LatencyModel("ib", SEED)
    ack, fill = expected.draw_s("order_ack"), expected.draw_s("fill")
    statuses = []

    t0 = time.monotonic()
    trade = ib.placeOrder(spy, LimitOrder("BUY", 1, round(gateway.market.quote("SPY").ask + 1, 2)))
    trade.statusEvent += lambda t: statuses.append(t.orderStatus.status)
    assert until(ib, lambda: trade.orderStatus.status == "Filled", 5.0)

    assert time.monotonic() - t0 >= ack + fill
    assert statuses.index("Filled") > 0  # the acknowledgement came first


# -- the command line -----------------------------------------------------------------------


def test_the_gateway_command_takes_latency_and_documents_its_figures():
    from bot.sim.cli import build_parser, options_from

    parser = build_parser()

    assert options_from(parser.parse_args(["--latency", "ib"])).latency == "ib"
    assert options_from(parser.parse_args([])).latency == "none"
    text = parser.format_help()
    assert "ESTIMATES" in text
    for kind, delay in IB_PROFILE.items():
        assert f"{kind:<17} median {delay.median_ms:>4g} ms" in text
