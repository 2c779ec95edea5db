"""The RiskActor's limits are hard: a burst of proposals for several symbols at one moment never
gets more approved than every limit allows, the reserved worst case of open and pending
entries counts against the daily loss cap until they close or expire, and no entry passes in
the flat-before-close window of the proposal's market time (never the host clock)."""

from __future__ import annotations

from datetime import date

import pytest
from actor_harness import Clock, make_settings, ny, start_bot

from bot import messages as m

DAY = date(2026, 11, 18)  # a Wednesday
EARLY_CLOSE_DAY = date(2026, 11, 27)  # the day after Thanksgiving: the close is 13:00
SYMBOLS = ("SPY", "QQQ", "IWM", "AAPL", "MSFT")
EQUITY = 10_000.0
PREMIUM, STOP = 1.60, 1.28  # stop_loss_pct 20: 1.28 on the tick grid


def worst_case(quantity: int) -> float:
    """(entry - stop) x quantity x 100 + two orders at max(0.65 per contract, 1.00)."""
    return (PREMIUM - STOP) * quantity * 100 + 2 * max(0.65 * quantity, 1.00)


def run_bot(tmp_path, clock, realized_pnl=0.0, losses=0, **risk):
    bot = start_bot(make_settings(tmp_path, risk=risk), clock)
    bot.publish(m.AccountUpdated("DU1234567", EQUITY, clock()))
    bot.publish(m.RiskRestored(DAY, True, EQUITY, realized_pnl, 0, losses, clock()))
    return bot


def proposal(symbol: str, ts, n: int = 0) -> m.EntryProposed:
    contract = m.OptionContract(symbol, "20261120", 100.0, m.Right.CALL)
    return m.EntryProposed(f"c-{symbol}-{n}", f"{symbol}-{n}", symbol, m.Direction.CALL, contract,
                           PREMIUM, PREMIUM - 0.05, PREMIUM, ts)


def is_answer(event) -> bool:
    return isinstance(event, (m.EntryApproved, m.EntryDenied))


def answers(bot, count: int) -> tuple[list[m.EntryApproved], list[m.EntryDenied]]:
    """The next ``count`` answers of risk, approvals and denials apart."""
    approved, denied = [], []
    for _ in range(count):
        answer = bot.probe.expect(object, is_answer)
        (approved if isinstance(answer, m.EntryApproved) else denied).append(answer)
    return approved, denied


@pytest.fixture
def clock():
    return Clock(ny(DAY, 11, 0))


@pytest.mark.parametrize(
    ("limits", "realized", "losses", "expected_approvals", "binding"),
    [
        # the loss budget: 150 lost + 99.90 reserved for the first leaves no room for a second
        ({"max_daily_loss_pct": 3.0, "max_open_positions": 5, "max_consecutive_losses": 10},
         -150.0, 0, 1, "daily loss cap: realized loss 150.00 + reserved 99.90"),
        # the streak: 1 lost, so at most 2 more may be in flight before a 3rd loss in a row
        ({"max_daily_loss_pct": 50.0, "max_open_positions": 5, "max_consecutive_losses": 3},
         -50.0, 1, 2, "consecutive losses: 3 of 3"),
        ({"max_daily_loss_pct": 50.0, "max_open_positions": 2, "max_consecutive_losses": 10},
         0.0, 0, 2, "open positions: 2 of 2"),
        ({"max_daily_loss_pct": 50.0, "max_open_positions": 5, "max_trades_per_day": 3,
          "max_consecutive_losses": 10}, 0.0, 0, 3, "trades per day: 3 of 3"),
    ],
)
def test_a_burst_of_proposals_never_gets_past_any_limit(tmp_path, clock, limits, realized, losses,
                                                        expected_approvals, binding):
    bot = run_bot(tmp_path, clock, realized_pnl=realized, losses=losses, **limits)
    cfg = bot.settings.risk
    cap = EQUITY * cfg.max_daily_loss_pct / 100

    for symbol in SYMBOLS:  # all at the same market instant, told back to back
        bot.publish(proposal(symbol, ny(DAY, 11, 0)))
    approved, denied = answers(bot, len(SYMBOLS))

    # every limit holds even if every approved entry fills and then loses at its stop
    assert len(approved) == expected_approvals
    assert len(approved) <= cfg.max_open_positions
    assert len(approved) <= cfg.max_trades_per_day
    assert losses + len(approved) <= cfg.max_consecutive_losses
    assert -realized + sum(worst_case(a.quantity) for a in approved) <= cap + 1e-9
    assert denied[0].reason.startswith(binding)
    bot.supervisor.stop()


def test_the_reservation_of_an_entry_is_released_when_it_expires_unfilled(tmp_path, clock):
    bot = run_bot(tmp_path, clock, realized_pnl=-150.0, max_daily_loss_pct=3.0)
    bot.publish(proposal("SPY", ny(DAY, 11, 0)))
    bot.probe.expect(m.EntryApproved)
    bot.publish(proposal("QQQ", ny(DAY, 11, 1)))
    assert bot.probe.expect(m.EntryDenied).reason.startswith("daily loss cap")

    entry = bot.commands(m.SubmitBracket)[-1].parent
    bot.broker.cancel(entry.client_order_id).get(timeout=5)
    bot.probe.expect(m.EntryExpired)
    bot.publish(proposal("QQQ", ny(DAY, 11, 2), n=1))

    assert bot.probe.expect(m.EntryApproved).symbol == "QQQ"
    bot.supervisor.stop()


def test_a_closed_position_replaces_its_reservation_with_the_realized_pnl(tmp_path, clock):
    bot = run_bot(tmp_path, clock, realized_pnl=-150.0, max_daily_loss_pct=3.0)
    bot.publish(proposal("SPY", ny(DAY, 11, 0)))
    assert bot.probe.expect(m.EntryApproved).quantity == 3
    b = bot.commands(m.SubmitBracket)[-1]
    bot.broker.fill(b.parent.client_order_id, 3, PREMIUM).get(timeout=5)
    bot.probe.expect(m.PositionOpened)
    bot.publish(proposal("QQQ", ny(DAY, 11, 1)))
    assert bot.probe.expect(m.EntryDenied).reason.startswith("daily loss cap")  # open: still reserved

    bot.broker.fill(b.take_profit.client_order_id, 3, 1.70).get(timeout=5)  # +30: day at -120
    bot.probe.expect(m.PositionClosed)
    bot.publish(proposal("QQQ", ny(DAY, 11, 2), n=1))

    assert bot.probe.expect(m.EntryApproved).symbol == "QQQ"  # 120 + 99.90 <= 300
    bot.supervisor.stop()


@pytest.mark.parametrize(
    ("host_time", "proposal_time", "approved"),
    [
        (ny(DAY, 11, 0), ny(DAY, 15, 55), False),   # the proposal's market time decides ...
        (ny(DAY, 15, 55), ny(DAY, 11, 0), True),    # ... never the host clock
        (ny(DAY, 11, 0), ny(DAY, 15, 49), True),
        (ny(EARLY_CLOSE_DAY, 9, 45), ny(EARLY_CLOSE_DAY, 12, 51), False),  # 13:00 close
        (ny(EARLY_CLOSE_DAY, 9, 45), ny(EARLY_CLOSE_DAY, 12, 49), True),
    ],
)
def test_no_entry_in_the_flat_before_close_window(tmp_path, host_time, proposal_time, approved):
    clock = Clock(host_time)
    bot = start_bot(make_settings(tmp_path), clock)
    bot.publish(m.AccountUpdated("DU1234567", EQUITY, clock()))

    bot.publish(proposal("SPY", proposal_time))

    answer = bot.probe.expect(object, is_answer)
    assert isinstance(answer, m.EntryApproved) is approved
    if not approved:
        assert answer.reason.startswith("flat before close")
    bot.supervisor.stop()


def test_a_position_recovered_after_a_restart_keeps_its_worst_case_reserved(tmp_path, clock):
    # 2 SPY held at 1.60 with exits working, from before the restart: 0.32 x 2 x 100 + 2 x 1.30
    contract = m.OptionContract("SPY", "20261120", 598.0, m.Right.CALL, con_id=42)
    iid, oca = "SPY-202611181045-abc123", "oca-SPY-202611181045-abc123"
    legs = ((m.OrderSpec(f"{iid}.entry", m.Side.BUY, 2, m.OrderType.LIMIT, limit_price=1.60),
             m.OrderStatus.FILLED, 2.0),
            (m.OrderSpec(f"{iid}.tp", m.Side.SELL, 2, m.OrderType.LIMIT, limit_price=2.08,
                         oca_group=oca), m.OrderStatus.ACKED, 0.0),
            (m.OrderSpec(f"{iid}.sl", m.Side.SELL, 2, m.OrderType.STOP, stop_price=1.28,
                         oca_group=oca), m.OrderStatus.ACKED, 0.0))
    fill = m.OrderFilled("c1", f"{iid}.entry", "e1", contract, m.Side.BUY, 2, 1.60, ny(DAY, 10, 45))
    bot = run_bot(tmp_path, clock, realized_pnl=-100.0, max_daily_loss_pct=2.0)  # cap 200
    bot.publish(m.TradeRecovered("c1", iid, "SPY", contract, 1.60, legs, (fill,), True, False,
                                 clock()))
    bot.probe.expect(m.PositionRecovered)

    bot.publish(proposal("QQQ", ny(DAY, 11, 0)))  # 100 + 66.60 + 99.90 > 200

    denied = bot.probe.expect(m.EntryDenied)
    assert denied.reason.startswith("daily loss cap: realized loss 100.00 + reserved 66.60 + "
                                    "this entry's worst case 99.90")
    bot.supervisor.stop()
