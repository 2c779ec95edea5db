"""The backtest report's figures (``bot.backtest.metrics``), checked against tables computed by
hand."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.backtest.metrics import (
    Fill,
    daily_pnl,
    drawdown_curve,
    equity_curve,
    fill_slippage,
    max_drawdown,
    pnl_by,
    sharpe,
    summary,
    trades_from,
)

D1, D2, D3 = date(2026, 11, 16), date(2026, 11, 17), date(2026, 11, 18)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def fill(intent: str, role: str, side: str, qty: float, price: float, t: datetime,
         mid: float, commission: float = 1.30, symbol: str = "SPY", source: str = "modelled") -> Fill:
    return Fill(time=t, intent_id=intent, role=role, symbol=symbol, contract=f"{symbol} C",
                side=side, quantity=qty, price=price, commission=commission, mid=mid,
                source=source)


# Three round trips, by hand (multiplier 100, commission 1.30 a fill):
#   A SPY: buy 2 @ 1.00 (mid 0.98), sell 2 @ 1.30 (mid 1.32): gross +60, fees 2.60, net +57.40
#   B QQQ: buy 1 @ 2.00 (mid 1.95), sell 1 @ 1.60 (mid 1.62): gross -40, fees 2.60, net -42.60
#   C SPY: buy 3 @ 0.50 (mid 0.50), sell 1 @ 0.70 + 2 @ 0.80: gross +80, fees 3.90, net +76.10
FILLS = [
    fill("A", "entry", "BOT", 2, 1.00, at(D1, 15), 0.98),
    fill("A", "tp", "SLD", 2, 1.30, at(D1, 16), 1.32),
    fill("B", "entry", "BOT", 1, 2.00, at(D2, 15), 1.95, symbol="QQQ"),
    fill("B", "sl", "SLD", 1, 1.60, at(D2, 16), 1.62, symbol="QQQ", source="recorded"),
    fill("C", "entry", "BOT", 3, 0.50, at(D3, 15), 0.50),
    fill("C", "tp", "SLD", 1, 0.70, at(D3, 16), 0.70),
    fill("C", "exit", "SLD", 2, 0.80, at(D3, 17), 0.81),
]
REASONS = {"A": "take profit", "B": "stop", "C": "max hold"}


def test_each_intent_is_one_trade_with_its_net_pnl_fees_and_slippage():
    trades = trades_from(FILLS, REASONS)

    assert [(t.symbol, t.quantity, t.gross_pnl, t.fees, round(t.pnl, 2), t.reason, t.sources)
            for t in trades] == [
        ("SPY", 2, 60.0, 2.6, 57.4, "take profit", "modelled"),
        ("QQQ", 1, -40.0, 2.6, -42.6, "stop", "mixed"),
        ("SPY", 3, 80.0, 3.9, 76.1, "max hold", "modelled"),
    ]
    # A: paid 0.02 over mid on 2 buys (+4), sold 0.02 under mid on 2 (+4) = 8
    # B: +0.05 x 100 = 5, sold 0.02 under = 2 -> 7;  C: 0 + 0 + 0.01 x 2 x 100 = 2
    assert [t.slippage for t in trades] == pytest.approx([8.0, 7.0, 2.0])
    assert trades[2].entry_price == 0.5 and trades[2].exit_price == pytest.approx(2.3 / 3)


def test_a_trade_not_flat_at_the_end_is_open_and_counts_no_pnl():
    trades = trades_from([fill("X", "entry", "BOT", 2, 1.0, at(D1, 15), 1.0),
                          fill("X", "tp", "SLD", 1, 1.2, at(D1, 16), 1.2)])

    assert [(t.closed, t.gross_pnl, t.reason) for t in trades] == [(False, 0.0, "open at end")]


def test_without_the_bots_reason_the_closing_role_names_the_exit():
    assert trades_from(FILLS[:2])[0].reason == "tp"


def test_equity_and_drawdown_follow_the_exits():
    trades = trades_from(FILLS, REASONS)

    curve = equity_curve(1_000.0, trades)

    assert [e for _, e in curve] == pytest.approx([1_057.4, 1_014.8, 1_090.9])
    assert [d for _, d in drawdown_curve(1_000.0, curve)] == pytest.approx([0.0, -42.6, 0.0])
    assert max_drawdown(1_000.0, curve) == pytest.approx((42.6, 42.6 / 1_057.4 * 100))


def test_pnl_by_day_symbol_and_reason():
    trades = trades_from(FILLS, REASONS)

    assert daily_pnl(trades, [D1, D2, D3, date(2026, 11, 19)]) == pytest.approx(
        {D1: 57.4, D2: -42.6, D3: 76.1, date(2026, 11, 19): 0.0})
    by_symbol = pnl_by(trades, lambda t: t.symbol)
    assert by_symbol["SPY"] == pytest.approx({"trades": 2, "wins": 2, "pnl": 133.5, "fees": 6.5})
    assert by_symbol["QQQ"] == pytest.approx({"trades": 1, "wins": 0, "pnl": -42.6, "fees": 2.6})
    assert list(pnl_by(trades, lambda t: t.reason)) == ["max hold", "stop", "take profit"]


def test_sharpe_of_daily_returns_by_hand():
    # equity 1000: returns +0.10, -0.10 x (1100) -> -110/1100 = -0.1, +0.05 on 990 = 49.5
    daily = {D1: 100.0, D2: -110.0, D3: 49.5}
    r = [0.1, -0.1, 0.05]
    mean = sum(r) / 3
    std = (sum((x - mean) ** 2 for x in r) / 2) ** 0.5

    assert sharpe(1_000.0, daily) == pytest.approx(mean / std * 252 ** 0.5, rel=1e-6)
    assert sharpe(1_000.0, {D1: 10.0}) is None  # one day: undefined
    assert sharpe(1_000.0, {D1: 0.0, D2: 0.0}) is None  # no variation


def test_summary_headline_figures():
    trades = trades_from(FILLS, REASONS)

    s = summary(1_000.0, trades, FILLS, [D1, D2, D3])

    assert s["net_pnl"] == pytest.approx(90.9)
    assert s["trades"] == 3 and s["win_rate_pct"] == pytest.approx(66.67)
    assert s["expectancy"] == pytest.approx(30.3)
    assert s["fees"] == pytest.approx(9.1)
    assert s["slippage_vs_mid"] == pytest.approx(17.0)
    assert (s["fills_recorded_prices"], s["fills_modelled_prices"]) == (1, 6)
    assert s["max_drawdown"] == pytest.approx(42.6)


@pytest.mark.parametrize(("side", "price", "mid", "expected"), [
    ("BOT", 1.05, 1.00, 5.0), ("BOT", 0.95, 1.00, -5.0), ("SLD", 0.95, 1.00, 5.0),
    ("SLD", 1.05, 1.00, -5.0)])
def test_slippage_is_a_cost_when_worse_than_the_mid(side, price, mid, expected):
    assert fill_slippage(fill("X", "entry", side, 1, price, at(D1, 15), mid)) == pytest.approx(expected)
