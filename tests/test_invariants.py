"""The money-safety invariants (``bot/trading/invariants.py``) over hand-built broker records."""

from __future__ import annotations

import pytest

from bot.trading.invariants import (
    ALARMED,
    ENTRY_ONCE,
    NO_OVERSELL,
    PROTECTED,
    UNKNOWN_VIEW,
    VIEWS_AGREE,
    BotView,
    BrokerFill,
    BrokerOrder,
    InvariantChecker,
    Ref,
    Snapshot,
    coverage,
    duplicate_entries,
    oversold,
    parse_ref,
    short_positions,
    unprotected,
    view_differences,
)

INTENT = "SPY-202611201435-85f736"
CON = 101


def order(role: str, qty: float, kind: str = "STP", *, side: str = "SELL", oid: int = 0,
          oca: str = "", oca_type: int = 0, parent: int = 0, status: str = "Submitted",
          con: int = CON, ref: str | None = None) -> BrokerOrder:
    return BrokerOrder(oid or sum(map(ord, role)), ref if ref is not None else f"{INTENT}.{role}", con,
                       side, qty, kind, status, oca, oca_type, parent)


def bought(qty: float, con: int = CON, ref: str = f"{INTENT}.entry") -> BrokerFill:
    return BrokerFill(ref, con, "BOT", qty)


def snap(position: float, *orders: BrokerOrder, fills=None, bot: BotView | None = None,
         entries=None, alarmed: bool = False, market_open: bool = True) -> Snapshot:
    return Snapshot({CON: position} if position else {}, orders,
                    fills if fills is not None else [bought(10)], entries or {}, bot, alarmed,
                    market_open)


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [
        (f"{INTENT}.entry", Ref(INTENT, "entry", 0)),
        (f"{INTENT}.tp1", Ref(INTENT, "tp", 1)),
        (f"{INTENT}.exit12", Ref(INTENT, "exit", 12)),
        ("manual", None),
        ("", None),
    ],
)
def test_an_order_ref_names_the_intent_the_role_and_the_revision(ref, parsed):
    assert parse_ref(ref) == parsed


@pytest.mark.parametrize(
    ("orders", "covers"),
    [
        ([], 0),
        ([order("sl", 10)], 10),
        ([order("tp", 10, "LMT", oca="g", oca_type=1), order("sl", 10, oca="g", oca_type=1)], 10),
        ([order("tp", 4, "LMT", oca="g", oca_type=3), order("sl", 10, oca="g", oca_type=3)], 10),
        ([order("tp", 10, "LMT", oca="g", oca_type=2), order("sl", 10, oca="g", oca_type=2)], 10),
        ([order("tp1", 10, "LMT", oca="g", oca_type=0), order("sl1", 10, oca="g")], 20),
        ([order("tp", 10, "LMT", parent=7), order("sl", 10, parent=7)], 10),
        ([order("sl", 10, status="PreSubmitted")], 0),
        ([order("sl", 6), order("exit1", 4, "LMT")], 10),
    ],
    ids=["none", "one stop", "oca1 once", "oca3 max", "oca2 once", "oca0 both count",
         "bracket children once", "presubmitted cannot sell", "separate orders add"],
)
def test_coverage_counts_an_oca_group_once_and_type_0_as_separate_orders(orders, covers):
    assert coverage(orders) == covers


@pytest.mark.parametrize(
    ("position", "orders", "fills", "unprotected_cons"),
    [
        (10, [order("sl", 10)], None, []),
        (10, [order("tp", 10, "LMT")], None, [CON]),
        (10, [order("sl", 4)], None, [CON]),
        (10, [order("exit1", 10, "LMT")], None, []),
        (10, [order("sl", 10, status="PreSubmitted")], None, [CON]),
        (10, [order("sl", 10, ref="manual")], None, [CON]),
        (10, [], [bought(10, ref="manual")], []),  # not ours: not the bot's to protect
        (4, [order("sl", 4)], None, []),  # partly closed by hand, stop resized
        (0, [], None, []),
    ],
    ids=["stop covers", "take-profit only", "stop too small", "closing order", "stop held back",
         "someone else's stop", "someone else's position", "after a manual partial close", "flat"],
)
def test_a_long_position_of_ours_needs_stops_or_a_close_for_its_whole_quantity(
    position, orders, fills, unprotected_cons
):
    assert list(unprotected(snap(position, *orders, fills=fills))) == unprotected_cons


@pytest.mark.parametrize(
    ("position", "orders", "oversold_cons", "short_cons"),
    [
        (10, [order("tp", 10, "LMT", oca="g", oca_type=3), order("sl", 10, oca="g", oca_type=3)],
         [], []),
        (10, [order("tp1", 10, "LMT", oca="g"), order("sl1", 10, oca="g")], [CON], []),
        (0, [order("sl", 10)], [CON], []),  # the position was closed by hand, the stop still works
        (5, [order("sl", 10)], [CON], []),
        (-3, [], [], [CON]),
        (5, [order("sl", 10, ref="manual")], [], []),  # not our order
    ],
    ids=["one oca3 pair", "oca0 pair doubles", "exits without a position", "exits too big",
         "short", "someone else's sell"],
)
def test_our_exits_never_cover_more_than_held_and_never_leave_us_short(
    position, orders, oversold_cons, short_cons
):
    s = snap(position, *orders)
    assert (list(oversold(s)), list(short_positions(s))) == (oversold_cons, short_cons)


@pytest.mark.parametrize(
    ("position", "orders", "bot", "keys"),
    [
        (10, [order("sl", 10)], BotView({CON: 10}, frozenset({f"{INTENT}.sl"})), []),
        (0, [order("sl", 10)], BotView({CON: 10}, frozenset({f"{INTENT}.sl"})), [f"position:{CON}"]),
        (10, [order("sl", 10)], BotView({CON: 10}, frozenset()), [f"order:{INTENT}.sl"]),
        (10, [], BotView({CON: 10}, frozenset({f"{INTENT}.sl"})), [f"order:{INTENT}.sl"]),
        (10, [order("sl", 10, ref="manual")], BotView({CON: 10}, frozenset()), []),
        (0, [], None, []),
    ],
    ids=["agree", "closed by hand", "order unknown to the bot", "order the broker lacks",
         "someone else's order", "bot unreadable"],
)
def test_the_bots_positions_and_working_orders_equal_the_brokers(position, orders, bot, keys):
    assert sorted(view_differences(snap(position, *orders, bot=bot))) == keys


@pytest.mark.parametrize(
    ("entries", "intents"),
    [({INTENT: frozenset({5})}, []), ({INTENT: frozenset({5, 9})}, [INTENT]), ({}, [])],
    ids=["once", "twice", "none"],
)
def test_an_entry_is_placed_at_most_once_per_intent(entries, intents):
    assert list(duplicate_entries(entries)) == intents


def test_an_unprotected_position_is_a_violation_only_after_the_grace_period_and_only_once():
    checker = InvariantChecker(protect_within_s=5, settle_s=30)
    bare = snap(10, order("tp", 10, "LMT"), bot=BotView({CON: 10}, frozenset({f"{INTENT}.tp"})))

    seen = [checker.observe(bare, t) for t in (0.0, 4.9, 5.0, 9.0)]

    assert [[v.invariant for v in vs] for vs in seen] == [[], [], [PROTECTED], []]
    assert checker.by_invariant()[PROTECTED] == 1


def test_a_position_protected_within_the_grace_period_is_no_violation_and_the_clock_restarts():
    checker = InvariantChecker(protect_within_s=5, settle_s=30)
    view = BotView({CON: 10}, frozenset({f"{INTENT}.sl"}))
    bare, covered = snap(10, bot=BotView({CON: 10}, frozenset())), snap(10, order("sl", 10),
                                                                         bot=view)

    for t, s in ((0, bare), (4, bare), (4.5, covered), (6, bare), (10, bare)):
        assert checker.observe(s, t) == []

    assert [v.invariant for v in checker.observe(bare, 11)] == [PROTECTED]


def test_a_bot_that_raised_the_unprotected_alarm_is_counted_as_alarmed_not_silent():
    checker = InvariantChecker(protect_within_s=5, settle_s=30)
    alarmed = snap(10, bot=BotView({CON: 10}, frozenset()), alarmed=True)

    checker.observe(alarmed, 0)
    checker.observe(alarmed, 6)

    assert (checker.by_invariant()[ALARMED], checker.by_invariant()[PROTECTED]) == (1, 0)


def test_an_alarm_counts_while_the_bot_has_no_view_of_the_broker():
    """A bot whose requests the gateway holds (or that is reconnecting) has no view, but its
    heartbeat's alarm is still the stated state invariant 1 allows."""
    checker = InvariantChecker(protect_within_s=5, settle_s=30)
    alarmed_without_view = snap(10, bot=None, alarmed=True)

    checker.observe(alarmed_without_view, 0)
    checker.observe(alarmed_without_view, 6)

    assert (checker.by_invariant()[ALARMED], checker.by_invariant()[PROTECTED]) == (1, 0)


def test_a_second_entry_is_a_violation_at_once_and_a_short_that_stays_after_the_settle_time():
    checker = InvariantChecker(protect_within_s=5, settle_s=30)
    s = snap(-1, entries={INTENT: frozenset({1, 2})})

    first, later, settled = checker.observe(s, 0), checker.observe(s, 1), checker.observe(s, 30)

    assert [v.invariant for v in first] == [ENTRY_ONCE]
    assert (later, [v.invariant for v in settled]) == ([], [NO_OVERSELL])


def test_a_view_difference_that_settles_within_the_settle_time_is_no_violation():
    checker = InvariantChecker(protect_within_s=5, settle_s=30)
    stale = snap(10, order("sl", 10), bot=BotView({CON: 10}, frozenset()))
    agreed = snap(10, order("sl", 10), bot=BotView({CON: 10}, frozenset({f"{INTENT}.sl"})))

    assert checker.observe(stale, 0) == [] and checker.observe(agreed, 29) == []
    assert checker.observe(stale, 30) == []
    assert [v.invariant for v in checker.observe(stale, 60)] == [VIEWS_AGREE]


def test_a_restarted_bot_gets_its_full_grace_period_from_its_reconnect():
    checker = InvariantChecker(protect_within_s=5, settle_s=30)
    bare = snap(10, bot=BotView({CON: 10}, frozenset()))

    assert checker.observe(bare, 0, acting_since=0) == []
    assert checker.observe(bare, 8, acting_since=6) == []  # reconnected at 6: until 11
    assert [v.invariant for v in checker.observe(bare, 11, acting_since=6)] == [PROTECTED]


def test_a_bot_that_stays_down_is_judged_from_when_the_condition_appeared():
    checker = InvariantChecker(protect_within_s=5, settle_s=30)
    bare = snap(10)  # the bot's view unreadable: it is down

    checker.observe(bare, 100, acting_since=0)

    assert [v.invariant for v in checker.observe(bare, 105, acting_since=0)] == [PROTECTED]


def test_a_condition_that_goes_away_and_comes_back_is_counted_once():
    checker = InvariantChecker(protect_within_s=5, settle_s=30)
    bare, covered = snap(10), snap(10, order("sl", 10))

    checker.observe(bare, 0)
    checker.observe(bare, 5)
    checker.observe(covered, 6)
    again = [checker.observe(bare, t) for t in (7, 11, 12)]

    assert again == [[], [], []]
    assert checker.by_invariant()[PROTECTED] == 1


def test_a_view_not_yet_known_is_not_judged_as_different_but_must_become_known_in_time():
    checker = InvariantChecker(protect_within_s=5, settle_s=30, learn_within_s=100)
    asking = snap(0, bot=BotView({CON: 10}, frozenset({f"{INTENT}.sl"}), known=False))

    assert checker.observe(asking, 0) == [] and checker.observe(asking, 99) == []
    found = checker.observe(asking, 100)

    assert [(v.invariant, v.key) for v in found] == [(VIEWS_AGREE, UNKNOWN_VIEW)]


def test_a_difference_gets_its_settle_time_from_when_the_view_became_known():
    checker = InvariantChecker(protect_within_s=5, settle_s=30, learn_within_s=100)
    stale = snap(0, bot=BotView({CON: 10}, frozenset()))

    assert checker.observe(stale, 0, acting_since=0, knowing_since=50) == []
    assert checker.observe(stale, 79, acting_since=0, knowing_since=50) == []
    found = checker.observe(stale, 80, acting_since=0, knowing_since=50)

    assert [(v.invariant, v.key) for v in found] == [(VIEWS_AGREE, f"position:{CON}")]


def test_a_short_made_while_the_bot_is_down_gets_its_grace_from_when_the_bot_can_act():
    checker = InvariantChecker(protect_within_s=5, settle_s=30)
    short = snap(-5)

    down = [checker.observe(short, t, acting_since=0, acting=False) for t in (10, 100, 200)]
    back = checker.observe(short, 229, acting_since=200)
    late = checker.observe(short, 230, acting_since=200)

    assert down == [[], [], []] and back == []
    assert [v.key for v in late] == [f"short:{CON}"]


def test_a_short_is_judged_only_once_the_bot_knows_the_broker_after_its_reconnect():
    # Arrange: a short made while the bot was down; it reconnects at 200, and IB answers its
    # snapshot (positions, orders, executions) only at 250
    checker = InvariantChecker(protect_within_s=5, settle_s=30)
    short = snap(-5)

    # Act
    asking = [checker.observe(short, t, acting_since=200, knowing_since=0) for t in (230, 249)]
    known = checker.observe(short, 279, acting_since=200, knowing_since=250)
    late = checker.observe(short, 280, acting_since=200, knowing_since=250)

    # Assert: no judgement before it knows, then its full settle time
    assert asking == [[], []] and known == []
    assert [v.key for v in late] == [f"short:{CON}"]


@pytest.mark.parametrize(
    ("market_open", "buys", "short_cons"),
    [
        (True, [order("cover1", 5, "MKT", side="BUY")], [CON]),  # it would fill: it must
        (False, [order("cover1", 5, "MKT", side="BUY")], []),  # being bought back at the open
        (False, [order("cover1", 3, "MKT", side="BUY")], [CON]),  # not all of it
        (False, [order("cover1", 5, "MKT", side="BUY", ref="manual")], [CON]),  # not ours
        (False, [], [CON]),
    ],
    ids=["session: still short", "shut: covered by our buy", "shut: partly covered",
         "shut: someone else's buy", "shut: no buy"],
)
def test_outside_the_session_a_short_our_working_buys_cover_is_being_closed(
    market_open, buys, short_cons
):
    assert list(short_positions(snap(-5, *buys, market_open=market_open))) == short_cons
