"""The pacing governor keeps within IB's limits with a margin and says how long to wait; the
client's own throttle lets orders go ahead of waiting data requests, never faster."""

from __future__ import annotations

import asyncio
import threading

import pytest

from bot.ib.pacing import (
    NOT_BEFORE_LINE_FREE,
    Governor,
    Limits,
    Request,
    is_order_message,
    limit_message_rate,
)

CONTRACT_DETAILS = Request("reqContractDetails")


def hist(symbol: str = "SPY", duration: str = "1 D", what: str = "TRADES") -> Request:
    return Request(
        "reqHistoricalData",
        query=(symbol, "", duration, "1 min", what, True),
        contract=f"{symbol}|SMART|{what}",
        bid_ask=what == "BID_ASK",
    )


def test_message_rate_caps_at_the_limit_then_waits_for_the_oldest_to_age() -> None:
    governor = Governor(Limits(msg_per_s=40))
    waits = [governor.admit(CONTRACT_DETAILS, 10.0 + i * 0.01) for i in range(41)]
    assert waits[:40] == [0.0] * 40
    assert waits[40] == pytest.approx(10.0 + 1.0 - 10.40)
    assert governor.admit(CONTRACT_DETAILS, 11.0) == 0.0


def test_identical_historical_request_waits_16_seconds() -> None:
    governor = Governor()
    assert governor.admit(hist(), 100.0) == 0.0
    governor.historical_done()
    assert governor.admit(hist(), 105.0) == pytest.approx(11.0)
    assert governor.admit(hist(duration="7200 S"), 105.0) == 0.0  # not identical
    assert governor.admit(hist(), 116.0) == 0.0


@pytest.mark.parametrize(
    ("whats", "next_what", "expected_wait"),
    [
        (("TRADES", "MIDPOINT"), "TRADES", 0.0),  # other tick types do not count
        (("TRADES",) * 3, "TRADES", 2.5),
        (("BID_ASK",), "TRADES", 0.0),
    ],
)
def test_same_contract_rule(whats: tuple[str, ...], next_what: str, expected_wait: float) -> None:
    governor = Governor()
    for i, what in enumerate(whats):
        assert governor.admit(hist(duration=f"{i + 1} D", what=what), 50.0) == 0.0
    assert governor.admit(hist(duration="9 D", what=next_what), 50.0) == pytest.approx(
        expected_wait
    )


def test_bid_ask_counts_twice_in_the_same_contract_rule() -> None:
    governor = Governor()
    assert governor.admit(hist(duration="1 D", what="BID_ASK"), 50.0) == 0.0
    assert governor.admit(hist(duration="2 D", what="BID_ASK"), 50.0) == pytest.approx(2.5)


def test_ten_minute_window_books_at_most_fifty_weighted_requests() -> None:
    governor = Governor(Limits(msg_per_s=1000, hist_open_max=1000))
    symbols = [f"S{i}" for i in range(50)]
    assert all(governor.admit(hist(symbol=s), 0.0) == 0.0 for s in symbols)
    assert governor.admit(hist(symbol="LAST"), 30.0) == pytest.approx(570.0)
    assert governor.snapshot(30.0)["hist_10min"] == 50
    assert governor.admit(hist(symbol="LAST"), 600.0) == 0.0


def test_open_historical_requests_are_capped_until_answered() -> None:
    governor = Governor(Limits(hist_open_max=2))
    governor.admit(hist(symbol="A"), 0.0)
    governor.admit(hist(symbol="B"), 0.0)
    assert governor.admit(hist(symbol="C"), 0.0) == NOT_BEFORE_LINE_FREE
    governor.historical_done()
    assert governor.admit(hist(symbol="C"), 0.0) == 0.0


def test_market_data_lines_are_held_until_released() -> None:
    governor = Governor(Limits(lines=2))
    assert governor.admit(Request("reqMktData", line="SPY"), 0.0) == 0.0
    assert governor.admit(Request("reqMktData", line="QQQ"), 0.0) == 0.0
    assert governor.admit(Request("reqMktData", line="IWM"), 0.0) == NOT_BEFORE_LINE_FREE
    assert governor.admit(Request("reqMktData", line="SPY"), 0.0) == 0.0  # already held
    governor.release_line("QQQ")
    assert governor.admit(Request("reqMktData", line="IWM"), 0.0) == 0.0
    assert governor.snapshot(0.0)["lines"] == 2


def test_a_lost_connection_frees_every_line_and_open_request() -> None:
    governor = Governor()
    governor.admit(Request("reqMktData", line="SPY"), 0.0)
    governor.admit(hist(), 0.0)
    governor.release_all_lines()
    snap = governor.snapshot(0.5)
    assert (snap["lines"], snap["hist_open"]) == (0, 0)


def test_snapshot_reports_deferrals_and_recent_messages() -> None:
    governor = Governor(Limits(msg_per_s=2))
    governor.admit(CONTRACT_DETAILS, 1.0)
    governor.record_message(1.1)
    governor.admit(CONTRACT_DETAILS, 1.2)
    assert governor.snapshot(1.5) == {
        "msgs_1s": 2,
        "hist_10min": 0,
        "hist_open": 0,
        "lines": 0,
        "deferred": 1,
    }


def test_delay_books_nothing() -> None:
    governor = Governor(Limits(msg_per_s=1))
    assert governor.delay(CONTRACT_DETAILS, 0.0) == 0.0
    assert governor.delay(CONTRACT_DETAILS, 0.0) == 0.0
    assert governor.snapshot(0.0)["msgs_1s"] == 0


def test_delay_counts_a_wait_only_when_asked() -> None:
    governor = Governor(Limits(msg_per_s=1))
    governor.admit(CONTRACT_DETAILS, 0.0)
    assert governor.delay(CONTRACT_DETAILS, 0.5) == pytest.approx(0.5)
    assert governor.delay(CONTRACT_DETAILS, 0.5, count=True) == pytest.approx(0.5)
    assert governor.deferred == 1


# -- the client's own throttle: orders first ------------------------------------------------

REQ_MKT_DATA, PLACE_ORDER, CANCEL_ORDER = 1, 3, 4
BURST = 24  # bot.ib.pacing.MESSAGE_BURST


class _Socket:
    """Stands in for the client's connection: what left, when (loop time), in order."""

    def __init__(self, loop, expected: int) -> None:
        self.loop, self.expected = loop, expected
        self.sent: list[tuple[float, str]] = []
        self.done = asyncio.Event()

    def sendMsg(self, data: bytes) -> None:  # noqa: N802 - the client's name for it
        self.sent.append((self.loop.time(), data[4:].decode().split("\0")[0]))
        if len(self.sent) == self.expected:
            self.done.set()


def _run_in_own_thread(make_coroutine) -> None:
    """Run a coroutine on a new loop set as current in a thread of its own (ib_insync finds its
    loop through the thread's policy), so no other test inherits that setting."""
    errors: list[BaseException] = []

    def run() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(make_coroutine(loop))
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="throttle-test")
    thread.start()
    thread.join(10.0)
    assert not thread.is_alive()
    if errors:
        raise errors[0]


@pytest.mark.parametrize("library", ["ib_insync", "ib_async"])
def test_an_order_waiting_in_the_client_throttle_goes_ahead_of_data_requests_never_faster(
    library: str,
) -> None:
    # Arrange: the real client of each library, throttled as the broker sets it up
    client_class = pytest.importorskip(f"{library}.client").Client
    sent: list[tuple[float, str]] = []

    async def burst(loop: asyncio.AbstractEventLoop) -> None:
        client = client_class(None)
        client.connState = client_class.CONNECTED
        limit_message_rate(client)
        client.RequestsInterval = 0.2  # the same rule on a shorter window: a quicker test
        socket = client.conn = _Socket(loop, BURST + 5 + 3)
        for req_id in range(BURST + 5):  # a bar close's streams: 5 over the limit wait
            client.send(REQ_MKT_DATA, 11, req_id)
        for order_id in (101, 102):
            client.send(PLACE_ORDER, order_id)  # an entry and its exit...
        client.send(CANCEL_ORDER, 103)  # ...and a cancel, while the streams wait
        await asyncio.wait_for(socket.done.wait(), 5.0)
        sent.extend(socket.sent)

    # Act
    _run_in_own_thread(burst)

    # Assert: the orders leave first once the limit allows, in their own order
    kinds = [kind for _, kind in sent]
    assert kinds == ["1"] * BURST + ["3", "3", "4"] + ["1"] * 5
    times = [t for t, _ in sent]
    assert all(b - a > 0.2 for a, b in zip(times, times[BURST:], strict=False))  # <= 24 a window


@pytest.mark.parametrize(
    ("fields", "order"),
    [(("3", "101"), True), (("4", "103"), True), (("58",), True), (("1", "11"), False),
     (("2", "11"), False), (("9", "1"), False), (("30", "3"), False)],
)
def test_order_messages_are_told_by_their_message_id(fields: tuple[str, ...], order: bool) -> None:
    assert is_order_message("\0".join(fields) + "\0") is order
