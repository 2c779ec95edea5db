"""A commission IB reports after the fill went out without one is applied, not dropped:
the broker publishes CommissionReported, the journal updates the fill, execution adds it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from ib_insync import CommissionReport, Execution, Fill, Order, OrderStatus, Trade
from loguru import logger
from pure_helpers import RECOVERED_CONTRACT, RECOVERED_INTENT

import actors.broker.orders as broker_orders
from actors.broker.memory import BrokerMemory
from actors.broker.orders import Orders
from actors.broker.requests import BrokerCore
from bot import messages as m
from bot.app.config import Settings
from bot.ib import translate as tr
from bot.journal.write import Journal
from bot.trading import execution, risk

TS = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
ENTRY = f"{RECOVERED_INTENT}.entry"


def ib_fill(exec_id: str = "0001.01") -> tuple[Trade, Fill]:
    contract = tr.option_contract(RECOVERED_CONTRACT)
    order = Order(orderId=5, orderRef=ENTRY, action="BUY", totalQuantity=2, clientId=1)
    trade = Trade(contract=contract, order=order,
                  orderStatus=OrderStatus(orderId=5, status="Filled", filled=2, remaining=0))
    execution_ = Execution(execId=exec_id, time=TS, side="BOT", shares=2.0, price=1.6,
                           orderId=5, orderRef=ENTRY)
    return trade, Fill(contract, execution_, CommissionReport(), TS)


def test_a_commission_report_after_the_wait_is_published_as_commission_reported(monkeypatch):
    # Arrange: a broker's order helper whose commission wait is over at once
    monkeypatch.setattr(broker_orders, "COMMISSION_WAIT_S", 0.0)
    loop = asyncio.new_event_loop()
    published: list[object] = []
    settings = Settings.model_validate({})
    core = BrokerCore(None, loop, settings, lambda: TS, published.append, logger)
    orders = Orders(core, market=None, memory=BrokerMemory())  # type: ignore[arg-type]
    trade, fill = ib_fill()
    orders.on_exec_details(trade, fill)
    loop.run_until_complete(asyncio.sleep(0))  # the wait ran out: the fill goes without
    loop.run_until_complete(asyncio.sleep(0))

    # Act: IB's report arrives late (ib_insync fills the Fill's report in place)
    report = CommissionReport(execId="0001.01", commission=1.3)
    fill.commissionReport.execId, fill.commissionReport.commission = "0001.01", 1.3
    orders.on_commission(trade, fill, report)
    orders.on_commission(trade, fill, report)  # a repeated report is applied once
    loop.close()

    # Assert
    assert [type(e).__name__ for e in published] == ["OrderFilled", "CommissionReported"]
    assert published[0].commission == 0.0
    assert published[1] == m.CommissionReported(ENTRY, ENTRY, "0001.01", 1.3, TS)


def test_the_journal_updates_the_fill_with_the_late_commission(tmp_path):
    journal = Journal(tmp_path / "journal-sim.sqlite3")
    fill = m.OrderFilled("c1", ENTRY, "0001.01", RECOVERED_CONTRACT, m.Side.BUY, 2.0, 1.6, TS)
    journal.record(fill, TS)

    journal.record(m.CommissionReported("c1", ENTRY, "0001.01", 1.3, TS), TS)

    assert [f["commission"] for f in journal.fills(RECOVERED_INTENT)] == [1.3]
    journal.close()


def test_execution_adds_a_late_commission_to_the_trade_once_its_fill_is_known():
    settings = Settings.model_validate({})
    approved = m.EntryApproved("c1", RECOVERED_INTENT, "SPY", RECOVERED_CONTRACT, 2, 1.6, TS)
    trade, _ = execution.open_trade(approved, settings, TS)
    fill = m.OrderFilled("c1", ENTRY, "0001.01", RECOVERED_CONTRACT, m.Side.BUY, 2.0, 1.6, TS)
    trade, _ = execution.on_fill(trade, fill, TS)

    late = m.CommissionReported("c1", ENTRY, "0001.01", 1.3, TS)
    stranger = m.CommissionReported("c1", ENTRY, "9999.01", 5.0, TS)
    after, effects = execution.on_commission(trade, late, TS)
    unchanged, _ = execution.on_commission(after, stranger, TS)

    assert (trade.commissions, after.commissions, unchanged.commissions, effects) == (
        0.0, 1.3, 1.3, [])


def test_a_late_commission_of_a_closed_trade_corrects_its_realized_pnl_for_risk_and_journal(tmp_path):
    # Arrange: a trade bought and sold in full, the sale's commission not yet reported
    settings = Settings.model_validate({})
    approved = m.EntryApproved("c1", RECOVERED_INTENT, "SPY", RECOVERED_CONTRACT, 2, 1.6, TS)
    trade, _ = execution.open_trade(approved, settings, TS)
    bought = m.OrderFilled("c1", ENTRY, "0001.01", RECOVERED_CONTRACT, m.Side.BUY, 2.0, 1.6, TS,
                           commission=1.3)
    trade, _ = execution.on_fill(trade, bought, TS)
    sold = m.OrderFilled("c1", f"{RECOVERED_INTENT}.tp", "0002.01", RECOVERED_CONTRACT,
                         m.Side.SELL, 2.0, 1.8, TS)
    trade, effects = execution.on_fill(trade, sold, TS)
    closed = next(e for e in effects if isinstance(e, m.PositionClosed))
    state = risk.on_closed(risk.initial_state(TS, 10_000.0), "SPY",
                           closed.realized_pnl)

    # Act: IB's report for the sale arrives after the close
    late = m.CommissionReported("c1", f"{RECOVERED_INTENT}.tp", "0002.01", 1.25, TS)
    trade, effects = execution.on_commission(trade, late, TS)
    [corrected] = effects
    state = risk.on_pnl_corrected(state, corrected.amount)
    journal = Journal(tmp_path / "journal-sim.sqlite3")
    journal.record(corrected, TS)

    # Assert: 2 x 100 x (1.8 - 1.6) = 40.00, less 1.30 and then 1.25 of commissions
    assert closed.realized_pnl == 38.70
    assert corrected == m.PnlCorrected("c1", RECOVERED_INTENT, "SPY", -1.25,
                                       "late commission exec_id=0002.01", TS)
    assert (round(state.realized_pnl, 2), round(state.equity, 2)) == (37.45, 10_037.45)
    rows = journal.conn.execute("SELECT event, realized FROM positions").fetchall()
    assert [tuple(r) for r in rows] == [("pnl_corrected", -1.25)]
    journal.close()
