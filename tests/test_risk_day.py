"""The risk day is the exchange's date, also in a sim run whose simulated market trades on
another date than the wall clock: the daily limits and ``status``'s "today" follow the market."""

from __future__ import annotations

from datetime import date

from actor_harness import WAIT_S, Clock, make_settings, ny, start_bot

from bot import messages as m

SIM_DAY = date(2026, 11, 13)  # the simulated market
WALL_DAY = date(2026, 11, 20)  # the machine's clock, a week later
CONTRACT = m.OptionContract("SPY", "20261113", 598.0, m.Right.CALL, con_id=42)


def bar(day: date, backfill: bool = False) -> m.BarClosed:
    return m.BarClosed(m.Bar("SPY", ny(day, 10, 0), 600.0, 600.5, 599.5, 600.2, 1000), backfill)


def risk_stats(bot) -> dict:
    bot.sync()
    return bot.ref("risk").proxy().stats().get(timeout=WAIT_S)


def test_a_sim_run_counts_its_trades_on_the_simulated_exchange_day(tmp_path):
    clock = Clock(ny(WALL_DAY, 10, 0))
    bot = start_bot(make_settings(tmp_path), clock)
    bot.publish(m.AccountUpdated("DU1234567", 10_000.0, clock()))  # stamped with the wall clock
    bot.publish(bar(date(2026, 11, 12), backfill=True))  # history: not the market's today

    bot.publish(bar(SIM_DAY))
    on_the_bar = risk_stats(bot)["day"]
    bot.publish(m.PositionClosed("c1", "SPY-1", "SPY", CONTRACT, 2, 1.60, 1.08, -104.0, "stop",
                                 clock()))  # execution stamps it with the wall clock
    after_close = risk_stats(bot)
    bot.supervisor.stop()

    assert on_the_bar == SIM_DAY.isoformat()
    assert (after_close["day"], after_close["realized_pnl"]) == (SIM_DAY.isoformat(), -104.0)


def test_a_day_with_trades_on_it_is_never_moved_back(tmp_path):
    clock = Clock(ny(WALL_DAY, 10, 0))
    bot = start_bot(make_settings(tmp_path), clock)
    bot.publish(m.AccountUpdated("DU1234567", 10_000.0, clock()))
    bot.publish(m.PositionClosed("c1", "SPY-1", "SPY", CONTRACT, 2, 1.60, 1.08, -104.0, "stop",
                                 clock()))

    bot.publish(bar(SIM_DAY))
    stats = risk_stats(bot)
    bot.supervisor.stop()

    assert (stats["day"], stats["realized_pnl"]) == (WALL_DAY.isoformat(), -104.0)


def test_against_a_gateway_the_day_stays_the_one_restored_by_the_wall_clock(tmp_path):
    clock = Clock(ny(WALL_DAY, 10, 0))
    bot = start_bot(make_settings(tmp_path, broker={"kind": "ib"}), clock)
    bot.publish(m.AccountUpdated("DU1234567", 10_000.0, clock()))

    bot.publish(bar(SIM_DAY))  # a simulated gateway's older market: paper mode all the same
    stats = risk_stats(bot)
    bot.supervisor.stop()

    assert stats["day"] == WALL_DAY.isoformat()
