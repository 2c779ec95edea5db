"""Specification of the simulated account (bot.sim.account): IB's avg cost, realized P&L, cash,
account values, and the invariant that ties them together over any sequence of fills."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from bot.sim.account import Account
from bot.sim.contracts import SimContract
from bot.sim.matching import (
    UNSET_DOUBLE,
    CommissionEvent,
    ExecutionEvent,
    MatchingEngine,
    PositionEvent,
    SimOrder,
)

STK = SimContract(con_id=11, symbol="SPY", sec_type="STK")
OPT = SimContract(con_id=901, symbol="SPY", sec_type="OPT", multiplier="100",
                  expiry="20260320", strike=500.0, right="C")
MULT = {STK.con_id: 1.0, OPT.con_id: 100.0}


@pytest.mark.parametrize(
    "contract, fills, position, avg_cost, last_realized, realized, cash",
    [
        # open long: cost includes the commission
        (STK, [("BOT", 100, 10.00, 1.00)], 100, 10.01, 0.0, 0.0, 98_999.00),
        # add at a higher price: weighted avg cost
        (STK, [("BOT", 100, 10.00, 1.00), ("BOT", 100, 12.00, 1.00)],
         200, 11.01, 0.0, 0.0, 97_798.00),
        # partial close: 40 * ((11 - 1/40) - 10.01); avg cost unchanged
        (STK, [("BOT", 100, 10.00, 1.00), ("SLD", 40, 11.00, 1.00)],
         60, 10.01, 38.60, 38.60, 99_438.00),
        # full close at a loss
        (STK, [("BOT", 100, 10.00, 1.00), ("SLD", 100, 9.00, 1.00)],
         0, 0.0, -102.00, -102.00, 99_898.00),
        # flip: closes 100 (+98), opens 50 short at 11 - 1.50/150
        (STK, [("BOT", 100, 10.00, 1.00), ("SLD", 150, 11.00, 1.50)],
         -50, 10.99, 98.00, 98.00, 100_647.50),
        # short then cover: a short's avg cost is its proceeds net of commission
        (STK, [("SLD", 10, 50.00, 1.00), ("BOT", 10, 45.00, 1.00)],
         0, 0.0, 48.00, 48.00, 100_048.00),
        (STK, [("SLD", 10, 50.00, 1.00)], -10, 49.90, 0.0, 0.0, 100_499.00),
        # options: avg cost per contract (price * 100), realized includes both commissions
        (OPT, [("BOT", 3, 2.10, 1.95)], 3, 210.65, 0.0, 0.0, 99_368.05),
        (OPT, [("BOT", 3, 2.10, 1.95), ("SLD", 3, 2.50, 1.95)],
         0, 0.0, 116.10, 116.10, 100_116.10),
        (OPT, [("BOT", 2, 2.10, 1.30), ("BOT", 2, 1.80, 1.30), ("SLD", 3, 2.00, 1.95)],
         1, 195.65, 11.10, 11.10, 99_815.45),
    ],
)
def test_apply_fill_keeps_ib_avg_cost_realized_pnl_and_cash(
    contract, fills, position, avg_cost, last_realized, realized, cash
):
    account = Account()

    results = [account.apply_fill(contract, side, qty, price, fee, MULT[contract.con_id])
               for side, qty, price, fee in fills]

    event = account.position_event(contract)
    assert (event.position, event.avg_cost) == (position, pytest.approx(avg_cost))
    assert results[-1] == pytest.approx(last_realized)
    assert account.realized_pnl == pytest.approx(realized)
    assert account.cash == pytest.approx(cash)
    assert account.commissions == pytest.approx(sum(f[3] for f in fills))


def test_positions_list_only_open_positions_in_first_traded_order():
    account = Account("DU7654321")
    account.apply_fill(OPT, "BOT", 1, 2.00, 1.00, 100)
    account.apply_fill(STK, "SLD", 5, 20.00, 1.00, 1)
    account.apply_fill(OPT, "SLD", 1, 2.00, 1.00, 100)

    positions = account.positions()

    assert positions == [PositionEvent("DU7654321", STK, -5, pytest.approx(19.80))]


@pytest.mark.parametrize(
    "fills, marks, expected",
    [
        (
            [(STK, "BOT", 100, 10.00, 1.00), (OPT, "BOT", 2, 2.10, 1.30)],
            {STK.con_id: 10.50, OPT.con_id: 2.50},
            {"NetLiquidation": "100127.70", "TotalCashValue": "98577.70",
             "StockMarketValue": "1050.00", "OptionMarketValue": "500.00",
             "GrossPositionValue": "1550.00", "UnrealizedPnL": "127.70",
             "RealizedPnL": "0.00",
             # long options are no collateral: equity with loan = cash + stock only
             "EquityWithLoanValue": "99627.70",
             # Reg T: 50% of the stock initially, 25% maintenance
             "InitMarginReq": "525.00", "MaintMarginReq": "262.50",
             "AvailableFunds": "99102.70", "ExcessLiquidity": "99365.20",
             "BuyingPower": "396410.80"},
        ),
        (   # a short option (no underlying price given): its value is held as margin
            [(OPT, "SLD", 1, 2.00, 1.00)],
            {OPT.con_id: 2.20},
            {"NetLiquidation": "99979.00", "TotalCashValue": "100199.00",
             "OptionMarketValue": "-220.00", "GrossPositionValue": "220.00",
             "UnrealizedPnL": "-21.00", "EquityWithLoanValue": "100199.00",
             "InitMarginReq": "220.00", "AvailableFunds": "99979.00"},
        ),
        (   # no usable mark: valued at its own avg cost, so no fake loss
            [(OPT, "BOT", 1, 2.00, 1.00)],
            {OPT.con_id: 0.0},
            {"NetLiquidation": "100000.00", "UnrealizedPnL": "0.00",
             "OptionMarketValue": "201.00"},
        ),
    ],
)
def test_account_values_in_ib_keys(fills, marks, expected):
    account = Account()
    for contract, side, qty, price, fee in fills:
        account.apply_fill(contract, side, qty, price, fee, MULT[contract.con_id])

    values = account.values(lambda c: marks[c.con_id])

    assert {key: values[key] for key in expected} == expected


def test_portfolio_rows_carry_mark_value_and_pnl():
    account = Account()
    account.apply_fill(OPT, "BOT", 2, 2.00, 1.30, 100)
    account.apply_fill(OPT, "SLD", 1, 2.40, 1.00, 100)

    [row] = account.portfolio(lambda c: 2.30)

    assert (row.position, row.market_price, row.market_value) == (1, 2.30, pytest.approx(230))
    assert row.avg_cost == pytest.approx(200.65)
    assert row.unrealized_pnl == pytest.approx(29.35)
    assert row.realized_pnl == pytest.approx(239.00 - 200.65)


class Ledger:
    """What the events of a run say, summed independently of the account."""

    def __init__(self) -> None:
        self.flows = 0.0
        self.commissions = 0.0
        self.realized = 0.0
        self.positions: dict[int, float] = {}

    def record(self, events) -> None:
        for event in events:
            if isinstance(event, ExecutionEvent):
                sign = 1 if event.side == "BOT" else -1
                self.flows -= sign * event.shares * event.price * MULT[event.contract.con_id]
                con_id = event.contract.con_id
                self.positions[con_id] = self.positions.get(con_id, 0) + sign * event.shares
            elif isinstance(event, CommissionEvent):
                self.commissions += event.commission
                if event.realized_pnl != UNSET_DOUBLE:
                    self.realized += event.realized_pnl
            elif isinstance(event, PositionEvent):
                assert event.position == self.positions[event.contract.con_id]


def random_step(rng: random.Random, engine: MatchingEngine, quotes: dict, next_id: list[int]):
    """One seeded random action: move a quote, place an order, cancel one, or toggle faults."""
    contract = rng.choice([STK, OPT])
    roll = rng.random()
    if roll < 0.35:
        mid = max(quotes[contract.con_id][2] * (1 + rng.gauss(0, 0.03)), 0.05)
        spread = 0.01 if contract is STK else 0.05
        quotes[contract.con_id] = (round(mid - spread, 2), round(mid + spread, 2), round(mid, 2))
        return engine.on_market()
    if roll < 0.85:
        next_id[0] += 1
        order_type = rng.choice(["MKT", "LMT", "STP", "STP LMT"])
        last = quotes[contract.con_id][2]
        order = SimOrder(next_id[0], 1, 5000 + next_id[0], rng.choice(["BUY", "SELL"]),
                         rng.randint(1, 7), order_type,
                         lmt_price=round(last * rng.uniform(0.97, 1.03), 2),
                         aux_price=round(last * rng.uniform(0.97, 1.03), 2))
        return engine.place(order, contract)
    if roll < 0.95:
        return engine.cancel(rng.randint(1, max(next_id[0], 1)), 1)
    engine.set_partial_fills(rng.random() < 0.5, chunk=rng.randint(1, 3))
    return []


@pytest.mark.parametrize("seed", [1, 7, 2026])
def test_every_fill_keeps_cash_positions_and_pnl_consistent(seed):
    """IB's avg cost and realized P&L already include commissions (opening ones in avg cost,
    closing ones in realized), so cash_start + realized + unrealized == net liquidation; the
    commissions are checked separately against the cash ledger."""
    rng = random.Random(seed)
    quotes = {STK.con_id: (99.99, 100.01, 100.00), OPT.con_id: (1.95, 2.05, 2.00)}
    account = Account(cash=50_000.0)
    engine = MatchingEngine(account, lambda c: quotes[c.con_id],
                            lambda: datetime(2026, 3, 2, 15, tzinfo=UTC))
    ledger, next_id = Ledger(), [0]

    for _ in range(400):
        ledger.record(random_step(rng, engine, quotes, next_id))

        mark = {con_id: q[2] for con_id, q in quotes.items()}
        rows = account.portfolio(lambda c, mark=mark: mark[c.con_id])
        net_liq = account.cash + sum(r.market_value for r in rows)
        unrealized = sum(r.unrealized_pnl for r in rows)
        assert 50_000.0 + account.realized_pnl + unrealized == pytest.approx(net_liq, abs=1e-6)
        assert account.cash == pytest.approx(50_000.0 + ledger.flows - ledger.commissions,
                                             abs=1e-6)
        assert account.commissions == pytest.approx(ledger.commissions, abs=1e-9)
        assert account.realized_pnl == pytest.approx(ledger.realized, abs=1e-6)
        assert {c: account.position(c) for c in ledger.positions} == ledger.positions
        assert float(account.values(lambda c, mark=mark: mark[c.con_id])["NetLiquidation"]) == (
            pytest.approx(net_liq, abs=0.006))
    assert len(engine.executions()) > 50
